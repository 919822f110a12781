// TLS for the block tools, after QEMU's crypto/ and authz/: credential and
// authorization objects created with `--object` (QEMU 7.2's spelling and
// messages), and a transport-agnostic TLS session on GnuTLS.
//
// Objects (object.cc): `--object TYPE,id=ID,...` with TYPE one of
//   tls-creds-x509  dir=, endpoint=server|client, verify-peer=on|off,
//                   priority=, sanity-check=, passwordid= (unsupported)
//   tls-creds-psk   dir=, endpoint=, username= (client; default "qemu"),
//                   priority=, verify-peer=
//   authz-simple    identity=  (an x509 distinguished name or PSK username)
//   secret          data= | file=, format=raw|base64 (secret.cc; LUKS
//                   passphrases and qcow AES keys)
// Credentials are loaded from the directory when the object is created
// (ca-cert.pem, ca-crl.pem, server-cert.pem, server-key.pem,
// client-cert.pem, client-key.pem, dh-params.pem; keys.psk for PSK), so a
// bad directory fails at startup, as in QEMU.  Objects live until exit.
//
// Sessions (tls-session.cc) never touch a socket: the owner supplies pull
// and push callbacks (non-blocking: -EAGAIN when nothing can move) and
// drives the handshake and record I/O, waiting for the fd itself.  All
// calls on one session come from one thread; they never block.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

#include "util/error.h"

enum class TlsEndpoint { Client, Server };

struct TlsCreds;
struct Authz;
struct TlsSession;

// ---- --object ------------------------------------------------------------------
// Parses and creates one object from an `--object` argument.  "TYPE,help"
// prints the type's properties to stdout and sets *help (the tool exits 0).
bool user_creatable_add(const char *optarg, bool *help, Error **errp);
// What every tool does with `--object ARG`: creates it, or prints the
// error and exits 1 (prints the help and exits 0 for "TYPE,help").
void user_creatable_process_cmdline(const char *optarg);
// For tools whose option tables are per subcommand: processes every
// `--object ARG` / `--object=ARG` (and `-object ARG` when @single_dash) in
// argv up to a "--", and removes them, so the rest parses as before.
void user_creatable_extract_cmdline(int *argc, char **argv, bool single_dash);
// Tool option helpers: QEMU's "Failed to get TLS creds" family of checks.
// Returns the credentials named @id, or nullptr with errp set ("No TLS
// credentials with id '...'", "Object with id '...' is not TLS
// credentials", "Expected TLS credentials for a server endpoint").
TlsCreds *tls_creds_find(const char *id, TlsEndpoint endpoint, Error **errp);
bool tls_creds_is_psk(const TlsCreds *creds);

// ---- secrets (secret.cc) ------------------------------------------------------
// The bytes of the secret object @id ("No secret with id '...'" if none).
bool qcrypto_secret_lookup(const char *id, std::vector<uint8_t> *out, Error **errp);
// As above, checked to be UTF-8 (passphrases).
bool qcrypto_secret_lookup_as_utf8(const char *id, std::string *out, Error **errp);

// ---- authorization (authz.cc) --------------------------------------------------
// True when the authz object @id exists and allows @identity.  Errors say
// why not ("No authorization object with id '...'" etc.).
bool authz_is_allowed_by_id(const char *id, const std::string &identity, Error **errp);

// ---- sessions (tls-session.cc) ---------------------------------------------------
// Transport callbacks: return bytes moved, 0 for end of stream (pull only),
// or -errno (-EAGAIN: try again when the fd is ready).
struct TlsTransport {
    ssize_t (*pull)(void *opaque, void *buf, size_t len);
    ssize_t (*push)(void *opaque, const void *buf, size_t len);
    void *opaque;
};

// @hostname (client x509): name the server certificate must match, or
// nullptr to skip that check.  @authz_id (server): authz object that must
// allow the peer's DN / PSK username, or nullptr.
TlsSession *tls_session_new(TlsCreds *creds, const char *hostname, const char *authz_id,
                            TlsEndpoint endpoint, const TlsTransport &transport, Error **errp);
void tls_session_free(TlsSession *s);
// One handshake step: 1 done (and the peer checked: certificate, hostname,
// authorization), 0 would block (wait per tls_session_handshake_wants_write),
// -1 failed with errp set ("TLS handshake failed: ...", "The certificate
// hasn't got a known issuer", ...).
int tls_session_handshake(TlsSession *s, Error **errp);
bool tls_session_handshake_wants_write(TlsSession *s);
// Record I/O.  read: >0 bytes, 0 orderly end of stream, -EAGAIN, -ECONNRESET
// (peer vanished without close_notify), -EIO (anything else; the session is
// unusable).  write: bytes of @buf consumed (at most one record), -EAGAIN,
// -EIO.
ssize_t tls_session_read(TlsSession *s, void *buf, size_t len);
ssize_t tls_session_write(TlsSession *s, const void *buf, size_t len);
// Bytes decrypted and buffered in the session, readable without the fd.
size_t tls_session_pending(TlsSession *s);
// Sends close_notify (best effort, never waits).
void tls_session_bye(TlsSession *s);
// The peer's identity once the handshake is done: certificate DN or PSK
// username ("" when none).
std::string tls_session_peer_name(TlsSession *s);

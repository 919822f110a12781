// The `ssh` protocol driver's private interface: its configuration (the
// option tree of QEMU 7.2's BlockdevOptionsSsh plus the legacy flat keys and
// the ssh:// URI), and the blocking SFTP session it runs in worker threads.
//
// Threading: every SshSession call below blocks on the network and must run
// in a thread-pool worker (block/ssh/ssh.cc does that), never in the main
// loop.  One session is used by one worker at a time (the driver's CoMutex);
// libssh sessions are not safe for concurrent use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "util/error.h"
#include "util/keyval.h"

enum class SshHostKeyCheckMode { None, Hash, KnownHosts };

struct SshConfig {
    std::string host;
    std::string port;  // decimal, as given (QEMU's InetSocketAddress port is a string)
    std::string path;
    std::string user;  // empty: the local user name
    SshHostKeyCheckMode hkc_mode = SshHostKeyCheckMode::KnownHosts;
    std::string hkc_type;  // md5, sha1, sha256 (mode Hash)
    std::string hkc_hash;  // hex, ':' allowed (mode Hash)
    // The legacy host_key_check value as given ("no", "sha1:..."): QEMU
    // shows it in the node's filename.
    std::string legacy_host_key_check;
};

// ssh://[user@]host[:port]/path[?host_key_check=...] into the legacy keys
// user, host, port, path, host_key_check.  Refuses when @options already has
// one of them (QEMU's "cannot be used at the same time as a file option").
void ssh_parse_filename(const char *filename, QDict *options, Error **errp);
// Just the URI part (image creation takes its location from the name only).
bool ssh_parse_uri(const char *filename, QDict *options, Error **errp);
// Takes the driver's keys out of @o into @cfg, as QEMU 7.2's ssh_parse_opts:
// legacy host/port/host_key_check first, then server.*, path, user,
// host-key-check.*; anything left over is "Parameter 'X' is unexpected".
bool ssh_parse_options(QDict *o, SshConfig *cfg, Error **errp);
// The name QEMU gives the node: ssh://USER@HOST:PORT/PATH[?host_key_check=X].
std::string ssh_canonical_filename(const SshConfig &cfg);
// Whether a host key fingerprint matches the user's hex string: pairs of hex
// digits in any case, colons anywhere ignored, nothing more or less.
bool ssh_fingerprint_matches(const uint8_t *fp, size_t len, const char *hex);

// ---- the blocking session (block/ssh/ssh-session.cc) ---------------------
struct SshSession;
// Connects, checks the host key, authenticates (ssh-agent, then the user's
// key files, as libssh's publickey_auto) and opens @cfg.path with the POSIX
// @oflags/@mode over SFTP.  nullptr with errp set on failure.
SshSession *ssh_session_open(const SshConfig &cfg, int oflags, int mode, Error **errp);
void ssh_session_close(SshSession *s);
// Reads @len bytes at @offset into @buf; bytes past the end of the file read
// as zeroes.  0 or -EIO.
int ssh_session_read(SshSession *s, uint64_t offset, void *buf, size_t len);
// 0 or -EIO.
int ssh_session_write(SshSession *s, uint64_t offset, const void *buf, size_t len);
// fsync@openssh.com when the server offers it (1: it does not, nothing done).
int ssh_session_fsync(SshSession *s);
// The file's current size, or -EIO.
int64_t ssh_session_size(SshSession *s);
// Grows the file to @size by writing one zero byte at @size - 1.
int ssh_session_grow(SshSession *s, int64_t size, Error **errp);
// Whether the connection is still alive (false after an I/O error killed it).
bool ssh_session_alive(SshSession *s);

// A GnuTLS session over caller-supplied non-blocking transport callbacks,
// with QEMU 7.2's peer checks and messages (crypto/tlssession.c).
#include <gnutls/x509.h>

#include <cerrno>
#include <ctime>

#include "crypto/crypto-int.h"

struct TlsSession {
    gnutls_session_t s = nullptr;
    TlsCreds *creds = nullptr;
    TlsEndpoint endpoint = TlsEndpoint::Client;
    bool have_hostname = false, have_authz = false;
    std::string hostname, authz_id;
    TlsTransport t{};
    std::string peer_name;
    bool bye_sent = false;
};

namespace {

ssize_t pull_fn(gnutls_transport_ptr_t p, void *buf, size_t len)
{
    TlsSession *s = (TlsSession *)p;
    ssize_t r = s->t.pull(s->t.opaque, buf, len);
    if (r < 0) {
        gnutls_transport_set_errno(s->s, int(-r));
        return -1;
    }
    return r;
}

ssize_t push_fn(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
    TlsSession *s = (TlsSession *)p;
    ssize_t r = s->t.push(s->t.opaque, buf, len);
    if (r < 0) {
        gnutls_transport_set_errno(s->s, int(-r));
        return -1;
    }
    return r;
}

// The session never blocks: claim readiness and let pull say EAGAIN.
int pull_timeout_fn(gnutls_transport_ptr_t, unsigned int) { return 1; }

bool set_priority(TlsSession *s, Error **errp)
{
    std::string prio = s->creds->priority.empty() ? "NORMAL" : s->creds->priority;
    if (s->creds->psk) prio += ":+ECDHE-PSK:+DHE-PSK:+PSK";
    const char *err = nullptr;
    int r = gnutls_priority_set_direct(s->s, prio.c_str(), &err);
    if (r < 0) {
        error_setg(errp, "Unable to set TLS session priority %s: %s", prio.c_str(),
                   gnutls_strerror(r));
        return false;
    }
    return true;
}

bool set_credentials(TlsSession *s, Error **errp)
{
    TlsCreds *c = s->creds;
    int r;
    if (c->psk) {
        r = s->endpoint == TlsEndpoint::Server
                ? gnutls_credentials_set(s->s, GNUTLS_CRD_PSK, c->psk_server)
                : gnutls_credentials_set(s->s, GNUTLS_CRD_PSK, c->psk_client);
    } else {
        r = gnutls_credentials_set(s->s, GNUTLS_CRD_CERTIFICATE, c->x509);
        if (r >= 0 && s->endpoint == TlsEndpoint::Server && c->verify_peer) {
            gnutls_certificate_server_set_request(s->s, GNUTLS_CERT_REQUEST);
        }
    }
    if (r < 0) {
        error_setg(errp, "Cannot set session credentials: %s", gnutls_strerror(r));
        return false;
    }
    return true;
}

const char *verify_status_reason(unsigned status)
{
    const char *reason = "Invalid certificate";
    if (status & GNUTLS_CERT_INVALID) reason = "The certificate is not trusted";
    if (status & GNUTLS_CERT_SIGNER_NOT_FOUND) reason = "The certificate hasn't got a known issuer";
    if (status & GNUTLS_CERT_REVOKED) reason = "The certificate has been revoked";
    if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
        reason = "The certificate uses an insecure algorithm";
    return reason;
}

// The peer's own certificate (the first one): dates, hostname, DN.
bool check_leaf(TlsSession *s, const gnutls_datum_t *der, Error **errp)
{
    gnutls_x509_crt_t cert;
    gnutls_x509_crt_init(&cert);
    bool ok = false;
    time_t now = time(nullptr);
    char dn[1024];
    size_t dnlen = sizeof(dn);
    if (gnutls_x509_crt_import(cert, der, GNUTLS_X509_FMT_DER) < 0) {
        error_setg(errp, "The certificate could not be parsed");
    } else if (gnutls_x509_crt_get_expiration_time(cert) < now) {
        error_setg(errp, "The certificate has expired");
    } else if (gnutls_x509_crt_get_activation_time(cert) > now) {
        error_setg(errp, "The certificate is not yet activated");
    } else if (s->endpoint == TlsEndpoint::Client && s->have_hostname &&
               !gnutls_x509_crt_check_hostname(cert, s->hostname.c_str())) {
        error_setg(errp, "Certificate does not match the hostname %s", s->hostname.c_str());
    } else if (gnutls_x509_crt_get_dn(cert, dn, &dnlen) < 0) {
        error_setg(errp, "Cannot get client distinguished name");
    } else {
        s->peer_name = dn;
        ok = true;
    }
    gnutls_x509_crt_deinit(cert);
    return ok;
}

bool check_x509(TlsSession *s, Error **errp)
{
    if (s->creds->verify_peer) {
        unsigned status = 0;
        int r = gnutls_certificate_verify_peers2(s->s, &status);
        if (r < 0) {
            error_setg(errp, "Verify failed: %s", gnutls_strerror(r));
            return false;
        }
        if (status) {
            error_setg(errp, "%s", verify_status_reason(status));
            return false;
        }
        unsigned n = 0;
        const gnutls_datum_t *certs = gnutls_certificate_get_peers(s->s, &n);
        if (!certs || n == 0) {
            error_setg(errp, "No certificate peer");
            return false;
        }
        if (!check_leaf(s, &certs[0], errp)) return false;
    }
    if (s->endpoint == TlsEndpoint::Server && s->have_authz) {
        ErrorPtr why;
        if (!authz_is_allowed_by_id(s->authz_id.c_str(), s->peer_name, &why)) {
            if (why) {
                error_propagate(errp, why.release());
            } else {
                error_setg(errp, "TLS x509 authz check for %s is denied", s->peer_name.c_str());
            }
            return false;
        }
    }
    return true;
}

bool check_psk(TlsSession *s, Error **errp)
{
    if (s->endpoint != TlsEndpoint::Server) return true;
    const char *user = gnutls_psk_server_get_username(s->s);
    if (!user) {
        error_setg(errp, "No PSK username is available");
        return false;
    }
    s->peer_name = user;
    if (!s->have_authz) return true;
    ErrorPtr why;
    if (authz_is_allowed_by_id(s->authz_id.c_str(), s->peer_name, &why)) return true;
    if (why) {
        error_propagate(errp, why.release());
    } else {
        error_setg(errp, "TLS PSK authz check for %s is denied", user);
    }
    return false;
}

}  // namespace

TlsSession *tls_session_new(TlsCreds *creds, const char *hostname, const char *authz_id,
                            TlsEndpoint endpoint, const TlsTransport &transport, Error **errp)
{
    auto *s = new TlsSession;
    s->creds = creds;
    s->endpoint = endpoint;
    s->t = transport;
    if (hostname) {
        s->have_hostname = true;
        s->hostname = hostname;
    }
    if (authz_id) {
        s->have_authz = true;
        s->authz_id = authz_id;
    }
    unsigned flags =
        (endpoint == TlsEndpoint::Server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK;
    int r = gnutls_init(&s->s, flags);
    if (r < 0) {
        error_setg(errp, "Cannot initialize TLS session: %s", gnutls_strerror(r));
        delete s;
        return nullptr;
    }
    if (!set_priority(s, errp) || !set_credentials(s, errp)) {
        tls_session_free(s);
        return nullptr;
    }
    gnutls_transport_set_ptr(s->s, s);
    gnutls_transport_set_pull_function(s->s, pull_fn);
    gnutls_transport_set_push_function(s->s, push_fn);
    gnutls_transport_set_pull_timeout_function(s->s, pull_timeout_fn);
    gnutls_handshake_set_timeout(s->s, 0);
    return s;
}

void tls_session_free(TlsSession *s)
{
    if (!s) return;
    gnutls_deinit(s->s);
    delete s;
}

int tls_session_handshake(TlsSession *s, Error **errp)
{
    for (;;) {
        int r = gnutls_handshake(s->s);
        if (r == 0) break;
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) return 0;
        if (gnutls_error_is_fatal(r)) {
            error_setg(errp, "TLS handshake failed: %s", gnutls_strerror(r));
            return -1;
        }
    }
    bool ok = s->creds->psk ? check_psk(s, errp) : check_x509(s, errp);
    return ok ? 1 : -1;
}

bool tls_session_handshake_wants_write(TlsSession *s)
{
    return gnutls_record_get_direction(s->s) == 1;
}

ssize_t tls_session_read(TlsSession *s, void *buf, size_t len)
{
    ssize_t r = gnutls_record_recv(s->s, buf, len);
    if (r >= 0) return r;
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) return -EAGAIN;
    if (r == GNUTLS_E_PREMATURE_TERMINATION) return -ECONNRESET;
    return -EIO;
}

ssize_t tls_session_write(TlsSession *s, const void *buf, size_t len)
{
    ssize_t r = gnutls_record_send(s->s, buf, len);
    if (r >= 0) return r;
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) return -EAGAIN;
    return -EIO;
}

size_t tls_session_pending(TlsSession *s) { return gnutls_record_check_pending(s->s); }

void tls_session_bye(TlsSession *s)
{
    if (s->bye_sent) return;
    s->bye_sent = true;
    gnutls_bye(s->s, GNUTLS_SHUT_WR);
}

std::string tls_session_peer_name(TlsSession *s) { return s->peer_name; }

// Loading tls-creds-x509 / tls-creds-psk directories into GnuTLS
// credentials (QEMU's file names; its "Unable to access credentials"
// messages).
#include <gnutls/x509.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <fstream>

#include "crypto/crypto-int.h"

namespace {

// Checks that dir/name exists.  Optional files that are missing are not an
// error: *present says whether to load them.
bool creds_file(const TlsCreds *c, const char *name, bool required, std::string *path,
                bool *present, Error **errp)
{
    *path = c->dir + "/" + name;
    *present = access(path->c_str(), R_OK) == 0;
    if (!*present && required) {
        error_setg_errno(errp, errno, "Unable to access credentials %s", path->c_str());
        return false;
    }
    return true;
}

// Optional Diffie-Hellman parameters (servers only); GnuTLS >= 3.6 picks
// safe defaults without them.
bool load_dh(TlsCreds *c, Error **errp)
{
    std::string path;
    bool have;
    if (c->endpoint != TlsEndpoint::Server ||
        !creds_file(c, "dh-params.pem", false, &path, &have, errp) || !have) {
        return true;
    }
    gnutls_datum_t data;
    int r = gnutls_load_file(path.c_str(), &data);
    if (r >= 0) {
        gnutls_dh_params_init(&c->dh);
        r = gnutls_dh_params_import_pkcs3(c->dh, &data, GNUTLS_X509_FMT_PEM);
        gnutls_free(data.data);
    }
    if (r < 0) {
        error_setg(errp, "Unable to load DH parameters from %s: %s", path.c_str(),
                   gnutls_strerror(r));
        return false;
    }
    return true;
}

// sanity-check=on (QEMU's default): our own certificate and the CA must be
// valid now, or the object is refused before any peer sees them.
bool check_dates(const std::string &path, const char *what, Error **errp)
{
    gnutls_datum_t data;
    if (gnutls_load_file(path.c_str(), &data) < 0) return true;  // loading reports it
    gnutls_x509_crt_t cert;
    gnutls_x509_crt_init(&cert);
    bool ok = true;
    if (gnutls_x509_crt_import(cert, &data, GNUTLS_X509_FMT_PEM) >= 0) {
        time_t now = time(nullptr);
        if (gnutls_x509_crt_get_expiration_time(cert) < now) {
            error_setg(errp, "The %s certificate %s has expired", what, path.c_str());
            ok = false;
        } else if (gnutls_x509_crt_get_activation_time(cert) > now) {
            error_setg(errp, "The %s certificate %s is not yet active", what, path.c_str());
            ok = false;
        }
    }
    gnutls_x509_crt_deinit(cert);
    gnutls_free(data.data);
    return ok;
}

bool load_x509(TlsCreds *c, Error **errp)
{
    bool server = c->endpoint == TlsEndpoint::Server;
    std::string ca, crl, cert, key;
    bool have_ca, have_crl, have_cert, have_key;
    // As QEMU: the CA is needed to verify a peer; a server always needs its
    // certificate and key, a client only presents one if it has it.
    if (!creds_file(c, "ca-cert.pem", c->verify_peer, &ca, &have_ca, errp) ||
        !creds_file(c, "ca-crl.pem", false, &crl, &have_crl, errp) ||
        !creds_file(c, server ? "server-cert.pem" : "client-cert.pem", server, &cert, &have_cert,
                    errp) ||
        !creds_file(c, server ? "server-key.pem" : "client-key.pem", server, &key, &have_key,
                    errp)) {
        return false;
    }
    if (c->sanity_check && ((have_cert && !check_dates(cert, server ? "server" : "client", errp)) ||
                            (have_ca && !check_dates(ca, "CA", errp)))) {
        return false;
    }
    gnutls_certificate_allocate_credentials(&c->x509);
    int r;
    if (have_ca && (r = gnutls_certificate_set_x509_trust_file(c->x509, ca.c_str(),
                                                               GNUTLS_X509_FMT_PEM)) < 0) {
        error_setg(errp, "Cannot load CA certificate '%s': %s", ca.c_str(), gnutls_strerror(r));
        return false;
    }
    if (have_crl &&
        (r = gnutls_certificate_set_x509_crl_file(c->x509, crl.c_str(), GNUTLS_X509_FMT_PEM)) < 0) {
        error_setg(errp, "Cannot load CRL '%s': %s", crl.c_str(), gnutls_strerror(r));
        return false;
    }
    if (have_cert && have_key &&
        (r = gnutls_certificate_set_x509_key_file(c->x509, cert.c_str(), key.c_str(),
                                                  GNUTLS_X509_FMT_PEM)) < 0) {
        error_setg(errp, "Cannot load certificate '%s' & key '%s': %s", cert.c_str(), key.c_str(),
                   gnutls_strerror(r));
        return false;
    }
    if (!load_dh(c, errp)) return false;
    if (c->dh) gnutls_certificate_set_dh_params(c->x509, c->dh);
    return true;
}

// keys.psk lines are "username:hexkey" (psktool's format).
bool load_psk_client_key(TlsCreds *c, const std::string &path, std::string *hexkey, Error **errp)
{
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) {
        size_t colon = line.find(':');
        if (colon != std::string::npos && line.compare(0, colon, c->username) == 0 &&
            colon == c->username.size()) {
            *hexkey = line.substr(colon + 1);
            return true;
        }
    }
    error_setg(errp, "Username %s not found in PSK file %s", c->username.c_str(), path.c_str());
    return false;
}

bool load_psk(TlsCreds *c, Error **errp)
{
    std::string path;
    bool have;
    if (!creds_file(c, "keys.psk", true, &path, &have, errp)) return false;
    int r;
    if (c->endpoint == TlsEndpoint::Server) {
        gnutls_psk_allocate_server_credentials(&c->psk_server);
        r = gnutls_psk_set_server_credentials_file(c->psk_server, path.c_str());
        if (r < 0) {
            error_setg(errp, "Cannot set PSK server credentials: %s", gnutls_strerror(r));
            return false;
        }
        if (!load_dh(c, errp)) return false;
        if (c->dh) gnutls_psk_set_server_dh_params(c->psk_server, c->dh);
        return true;
    }
    std::string hexkey;
    if (!load_psk_client_key(c, path, &hexkey, errp)) return false;
    gnutls_psk_allocate_client_credentials(&c->psk_client);
    gnutls_datum_t key = {(unsigned char *)hexkey.data(), unsigned(hexkey.size())};
    r = gnutls_psk_set_client_credentials(c->psk_client, c->username.c_str(), &key,
                                          GNUTLS_PSK_KEY_HEX);
    if (r < 0) {
        error_setg(errp, "Cannot set PSK client credentials: %s", gnutls_strerror(r));
        return false;
    }
    return true;
}

}  // namespace

bool tls_creds_load(TlsCreds *c, Error **errp)
{
    if (c->dir.empty()) {
        error_setg(errp, "Missing 'dir' property value");
        return false;
    }
    return c->psk ? load_psk(c, errp) : load_x509(c, errp);
}

TlsCreds::~TlsCreds()
{
    if (x509) gnutls_certificate_free_credentials(x509);
    if (psk_server) gnutls_psk_free_server_credentials(psk_server);
    if (psk_client) gnutls_psk_free_client_credentials(psk_client);
    if (dh) gnutls_dh_params_deinit(dh);
}

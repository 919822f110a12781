// Internals shared by crypto/*.cc: the object registry and the objects.
#pragma once

#include <gnutls/gnutls.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "util/keyval.h"

// Every --object instance; the registry owns them until exit.
struct Object {
    std::string id;
    std::string type;  // "tls-creds-x509", ...
    virtual ~Object() = default;
};

struct TlsCreds : Object {
    bool psk = false;
    TlsEndpoint endpoint = TlsEndpoint::Client;
    std::string dir;
    std::string priority;  // "" means the default for the kind
    bool verify_peer = true;
    bool sanity_check = true;  // x509: refuse our own expired certificates
    std::string username;      // psk client
    gnutls_certificate_credentials_t x509 = nullptr;
    gnutls_psk_server_credentials_t psk_server = nullptr;
    gnutls_psk_client_credentials_t psk_client = nullptr;
    gnutls_dh_params_t dh = nullptr;
    ~TlsCreds() override;
};

struct Authz : Object {
    std::string identity;  // authz-simple
};

// `secret` (secret.cc): the decoded bytes.
struct Secret : Object {
    std::vector<uint8_t> value;
};
std::unique_ptr<Object> secret_object_new(QDict &o, Error **errp);

// Looks an object up by id (nullptr if none).
Object *object_find(const std::string &id);
// Loads the credential files of a freshly parsed object (tls-creds.cc).
bool tls_creds_load(TlsCreds *creds, Error **errp);

// `--object` parsing and the registry of created objects; the property
// names, defaults and error messages are QEMU 7.2's (qemu-nbd --object).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "crypto/crypto-int.h"
#include "util/keyval.h"

namespace {

struct TypeInfo {
    const char *name;
    std::vector<std::pair<const char *, const char *>> props;  // name, QAPI type for help
};

const TypeInfo types[] = {
    {"authz-simple", {{"identity", "string"}}},
    {"secret",
     {{"data", "string"},
      {"file", "string"},
      {"format", "QCryptoSecretFormat"},
      {"iv", "string"},
      {"keyid", "string"}}},
    {"tls-creds-psk",
     {{"dir", "string"},
      {"endpoint", "QCryptoTLSCredsEndpoint"},
      {"priority", "string"},
      {"username", "string"},
      {"verify-peer", "bool"}}},
    {"tls-creds-x509",
     {{"dir", "string"},
      {"endpoint", "QCryptoTLSCredsEndpoint"},
      {"passwordid", "string"},
      {"priority", "string"},
      {"sanity-check", "bool"},
      {"verify-peer", "bool"}}},
};

std::map<std::string, std::unique_ptr<Object>> &registry()
{
    static std::map<std::string, std::unique_ptr<Object>> objects;
    return objects;
}

const TypeInfo *find_type(const char *name)
{
    for (const TypeInfo &t : types) {
        if (!strcmp(t.name, name)) return &t;
    }
    return nullptr;
}

bool get_bool(QDict &o, const char *key, bool *out, Error **errp)
{
    const char *v = o.get(key);
    if (v && !keyval_parse_bool(v, out)) {
        error_setg(errp, "Parameter '%s' expects 'on' or 'off'", key);
        return false;
    }
    return true;
}

std::unique_ptr<Object> make_creds(const char *type, QDict &o, Error **errp)
{
    auto c = std::make_unique<TlsCreds>();
    c->psk = !strcmp(type, "tls-creds-psk");
    if (const char *ep = o.get("endpoint")) {
        if (strcmp(ep, "server") && strcmp(ep, "client")) {
            error_setg(errp, "Parameter 'endpoint' does not accept value '%s'", ep);
            return nullptr;
        }
        c->endpoint = !strcmp(ep, "server") ? TlsEndpoint::Server : TlsEndpoint::Client;
    }
    if (!get_bool(o, "verify-peer", &c->verify_peer, errp) ||
        !get_bool(o, "sanity-check", &c->sanity_check, errp)) {
        return nullptr;
    }
    if (o.get("passwordid")) {
        error_setg(errp, "Parameter 'passwordid' is not supported by qemu-lite");
        return nullptr;
    }
    if (const char *d = o.get("dir")) c->dir = d;
    if (const char *p = o.get("priority")) c->priority = p;
    c->username = o.get("username") ? o.get("username") : "qemu";
    if (!tls_creds_load(c.get(), errp)) return nullptr;
    return c;
}

void print_help(const TypeInfo &t)
{
    printf("%s options:\n", t.name);
    for (const auto &p : t.props)
        printf("  %s=<%s>\n", p.first, p.second);
}

bool is_help(const char *s) { return !strcmp(s, "help") || !strcmp(s, "?"); }

}  // namespace

Object *object_find(const std::string &id)
{
    auto it = registry().find(id);
    return it == registry().end() ? nullptr : it->second.get();
}

bool user_creatable_add(const char *optarg, bool *help, Error **errp)
{
    *help = false;
    std::string arg(optarg);
    if (is_help(optarg)) {
        printf("List of user creatable objects:\n");
        for (const TypeInfo &t : types)
            printf("  %s\n", t.name);
        *help = true;
        return true;
    }
    size_t comma = arg.find(',');
    if (comma != std::string::npos && is_help(arg.c_str() + comma + 1)) {
        const TypeInfo *t = find_type(arg.substr(0, comma).c_str());
        if (t) {
            print_help(*t);
            *help = true;
            return true;
        }
    }
    QDict o;
    if (!keyval_parse(optarg, "qom-type", &o, errp)) return false;
    const char *type = o.get("qom-type");
    const TypeInfo *t = type ? find_type(type) : nullptr;
    if (!t) {
        error_setg(errp, "Parameter 'qom-type' does not accept value '%s'", type ? type : "");
        return false;
    }
    const char *id = o.get("id");
    if (!id) {
        error_setg(errp, "Parameter 'id' is missing");
        return false;
    }
    for (const auto &kv : o.entries) {
        bool known = kv.first == "qom-type" || kv.first == "id";
        for (const auto &p : t->props)
            known |= kv.first == p.first;
        if (!known) {
            error_setg(errp, "Parameter '%s' is unexpected", kv.first.c_str());
            return false;
        }
    }
    if (object_find(id)) {
        error_setg(errp, "attempt to add duplicate property '%s' to object (type 'container')", id);
        return false;
    }
    std::unique_ptr<Object> obj;
    if (!strcmp(type, "authz-simple")) {
        auto a = std::make_unique<Authz>();
        const char *ident = o.get("identity");
        if (!ident) {
            error_setg(errp, "The 'identity' property must be set");
            return false;
        }
        a->identity = ident;
        obj = std::move(a);
    } else if (!strcmp(type, "secret")) {
        obj = secret_object_new(o, errp);
        if (!obj) return false;
    } else {
        obj = make_creds(type, o, errp);
        if (!obj) return false;
    }
    obj->id = id;
    obj->type = type;
    registry()[id] = std::move(obj);
    return true;
}

void user_creatable_process_cmdline(const char *optarg)
{
    ErrorPtr err;
    bool help = false;
    if (!user_creatable_add(optarg, &help, &err)) {
        error_report_err(err.release());
        exit(EXIT_FAILURE);
    }
    if (help) exit(EXIT_SUCCESS);
}

void user_creatable_extract_cmdline(int *argc, char **argv, bool single_dash)
{
    int out = 1;
    int i = 1;
    for (; i < *argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) break;
        bool bare = !strcmp(a, "--object") || (single_dash && !strcmp(a, "-object"));
        if (bare && i + 1 < *argc) {
            user_creatable_process_cmdline(argv[++i]);
        } else if (!strncmp(a, "--object=", 9)) {
            user_creatable_process_cmdline(a + 9);
        } else {
            argv[out++] = argv[i];
        }
    }
    for (; i < *argc; i++)
        argv[out++] = argv[i];
    argv[out] = nullptr;
    *argc = out;
}

TlsCreds *tls_creds_find(const char *id, TlsEndpoint endpoint, Error **errp)
{
    Object *obj = object_find(id);
    if (!obj) {
        error_setg(errp, "No TLS credentials with id '%s'", id);
        return nullptr;
    }
    TlsCreds *c = dynamic_cast<TlsCreds *>(obj);
    if (!c) {
        error_setg(errp, "Object with id '%s' is not TLS credentials", id);
        return nullptr;
    }
    if (c->endpoint != endpoint) {
        error_setg(errp, "Expected TLS credentials for a %s endpoint",
                   endpoint == TlsEndpoint::Server ? "server" : "client");
        return nullptr;
    }
    return c;
}

bool tls_creds_is_psk(const TlsCreds *creds) { return creds->psk; }

bool authz_is_allowed_by_id(const char *id, const std::string &identity, Error **errp)
{
    Object *obj = object_find(id);
    Authz *a = obj ? dynamic_cast<Authz *>(obj) : nullptr;
    if (!a) {
        error_setg(errp,
                   obj ? "Object '%s' is not an authorization object"
                       : "No authorization object with ID %s",
                   id);
        return false;
    }
    return a->identity == identity;
}

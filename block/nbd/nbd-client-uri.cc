// NBD client: filename and option parsing.
//   nbd://HOST[:PORT]/EXPORT   nbd+tcp://...   nbd+unix:///EXPORT?socket=PATH
//   nbd:HOST:PORT[:exportname=NAME]   nbd:unix:PATH[:exportname=NAME]
// All of them become server.* / export options, the same keys --image-opts
// and blockdev-style options use.
#include <cstring>
#include <string>

#include "block/nbd/nbd-client-driver-int.h"
#include "block/nbd/nbd-proto.h"
#include "util/cutils.h"

namespace {

bool parse_query(const std::string &query, bool is_unix, QDict *options, Error **errp)
{
    if (query.empty()) {
        if (is_unix) {
            error_setg(errp, "NBD URI requires a 'socket' query parameter for unix transport");
            return false;
        }
        return true;
    }
    if (!is_unix || query.compare(0, 7, "socket=") != 0 || query.find('&') != std::string::npos) {
        error_setg(errp, "unexpected query parameters in NBD URI");
        return false;
    }
    std::string path;
    if (!uri_percent_decode(query.substr(7), &path)) {
        error_setg(errp, "invalid URI");
        return false;
    }
    options->set("server.path", path);
    return true;
}

bool parse_uri(const char *filename, QDict *options, Error **errp)
{
    std::string s(filename);
    size_t sep = s.find("://");
    std::string scheme = s.substr(0, sep);
    bool is_unix = scheme == "nbd+unix";
    if (sep == std::string::npos || (scheme != "nbd" && scheme != "nbd+tcp" && !is_unix)) {
        error_setg(errp, "Invalid URI scheme, use nbd://, nbd+tcp:// or nbd+unix://");
        return false;
    }
    std::string rest = s.substr(sep + 3), query;
    size_t q = rest.find('?');
    if (q != std::string::npos) {
        query = rest.substr(q + 1);
        rest.resize(q);
    }
    size_t slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    std::string path = slash == std::string::npos ? "" : rest.substr(slash + 1), exp;
    if (!uri_percent_decode(path, &exp)) {
        error_setg(errp, "invalid URI");
        return false;
    }
    if (!parse_query(query, is_unix, options, errp)) return false;
    options->set("server.type", is_unix ? "unix" : "inet");
    options->set("export", exp);
    if (is_unix) {
        if (!authority.empty()) {
            error_setg(errp, "NBD URI with unix transport must not name a host");
            return false;
        }
        return true;
    }
    if (authority.empty()) {
        error_setg(errp, "NBD URI requires a host for TCP transport");
        return false;
    }
    std::string host = authority, port;
    if (authority[0] == '[') {  // [IPv6]:port
        size_t close = authority.find(']');
        if (close == std::string::npos) {
            error_setg(errp, "invalid URI");
            return false;
        }
        host = authority.substr(1, close - 1);
        if (close + 1 < authority.size() && authority[close + 1] == ':')
            port = authority.substr(close + 2);
    } else if (size_t colon = authority.rfind(':'); colon != std::string::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    options->set("server.host", host);
    options->set("server.port", port.empty() ? std::to_string(NBD_DEFAULT_PORT) : port);
    return true;
}

// The pre-URI syntax QEMU still accepts.
bool parse_legacy(const char *filename, QDict *options, Error **errp)
{
    std::string s(filename + 4);  // after "nbd:"
    std::string exp;
    size_t en = s.find(":exportname=");
    if (en != std::string::npos) {
        exp = s.substr(en + 12);
        s.resize(en);
    }
    options->set("export", exp);
    if (s.compare(0, 5, "unix:") == 0) {
        options->set("server.type", "unix");
        options->set("server.path", s.substr(5));
        return true;
    }
    size_t colon = s.rfind(':');
    options->set("server.type", "inet");
    options->set("server.host", s.substr(0, colon));
    std::string port = colon == std::string::npos ? "" : s.substr(colon + 1);
    if (s.empty()) {
        error_setg(errp, "No valid URL specified");
        return false;
    }
    options->set("server.port", port.empty() ? std::to_string(NBD_DEFAULT_PORT) : port);
    return true;
}

}  // namespace

void nbd_client_parse_filename(const char *filename, QDict *options, Error **errp)
{
    if (strstr(filename, "://")) {
        parse_uri(filename, options, errp);
    } else if (strncmp(filename, "nbd:", 4) == 0) {
        parse_legacy(filename, options, errp);
    } else {
        error_setg(errp, "No valid URL specified");
    }
}

// Also accepts QEMU's flat legacy keys host/port/path.
bool nbd_client_parse_options(QDict *o, NbdClientConfig *cfg, Error **errp)
{
    if (const char *fn = o->get("filename")) {
        std::string f(fn);
        o->del("filename");
        ErrorPtr local;
        nbd_client_parse_filename(f.c_str(), o, &local);
        if (local) {
            error_propagate(errp, local.release());
            return false;
        }
    }
    for (const char *k : {"host", "port", "path"}) {
        if (const char *v = o->get(k)) {
            o->set(std::string("server.") + k, v);
            if (!strcmp(k, "path")) o->set("server.type", "unix");
            o->del(k);
        }
    }
    const char *type = o->get("server.type");
    if (!type) type = o->has("server.path") ? "unix" : "inet";
    if (strcmp(type, "unix") && strcmp(type, "inet")) {
        error_setg(errp, "Parameter 'server.type' does not accept value '%s'", type);
        return false;
    }
    cfg->addr.is_unix = !strcmp(type, "unix");
    const char *host = o->get("server.host"), *port = o->get("server.port"),
               *path = o->get("server.path");
    if (cfg->addr.is_unix ? !path : !host) {
        error_setg(errp, "Parameter '%s' is missing",
                   cfg->addr.is_unix ? "server.path" : "server.host");
        return false;
    }
    if (cfg->addr.is_unix) {
        cfg->addr.path = path;
    } else {
        cfg->addr.host = host;
        cfg->addr.port = port ? port : std::to_string(NBD_DEFAULT_PORT);
    }
    cfg->export_name = o->get("export") ? o->get("export") : "";
    int64_t v;
    if (const char *rd = o->get("reconnect-delay")) {
        if (qemu_strtoi64(rd, &v) < 0 || v < 0 || v > 3600) {
            error_setg(errp, "Parameter 'reconnect-delay' expects a number of seconds");
            return false;
        }
        cfg->reconnect_delay_s = int(v);
    }
    if (const char *mc = o->get("multi-conn")) {
        if (qemu_strtoi64(mc, &v) < 0 || v < 1 || v > 16) {
            error_setg(errp, "Parameter 'multi-conn' expects a number between 1 and 16");
            return false;
        }
        cfg->multi_conn = int(v);
    }
    if (const char *t = o->get("tls-creds")) cfg->tls_creds = t;
    if (const char *h = o->get("tls-hostname")) cfg->tls_hostname = h;
    if (const char *x = o->get("x-dirty-bitmap")) cfg->x_dirty_bitmap = x;
    for (const char *k :
         {"server.type", "server.host", "server.port", "server.path", "export", "reconnect-delay",
          "multi-conn", "tls-creds", "tls-hostname", "x-dirty-bitmap"}) {
        o->del(k);
    }
    return true;
}

// QEMU's canonical spelling (what `qemu-img info` shows as "image:"); an
// empty export name leaves the path out.
std::string nbd_client_canonical_filename(const NbdClientConfig &cfg)
{
    const std::string &e = cfg.export_name;
    if (cfg.addr.is_unix) {
        return (e.empty() ? "nbd+unix://" : "nbd+unix:///" + e) + "?socket=" + cfg.addr.path;
    }
    std::string s = "nbd://" + cfg.addr.host + ":" + cfg.addr.port;
    return e.empty() ? s : s + "/" + e;
}

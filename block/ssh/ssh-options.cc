// The `ssh` driver's options, as QEMU 7.2 takes them:
//   ssh://[USER@]HOST[:PORT]/PATH[?host_key_check=no|yes|md5:..|sha1:..|sha256:..]
//   driver=ssh,server.host=H,server.port=P,path=/p,user=U,
//              host-key-check.mode=none|hash|known_hosts,
//              host-key-check.type=md5|sha1|sha256,host-key-check.hash=HEX
//   and the legacy flat keys host=, port= (a number), host_key_check=.
// The URI gives the legacy keys; legacy keys are translated into the tree
// first, then the tree is checked member by member, so that each mistake
// gets the message QEMU's QAPI visitor gives for it.
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "block/ssh/ssh-int.h"

#include "util/cutils.h"

namespace {

// QemuOpts' number parsing (qemu_strtou64, base 0): the whole string, a
// leading sign and blanks allowed.
bool legacy_number_ok(const char *v)
{
    char *end;
    errno = 0;
    (void)strtoull(v, &end, 0);
    return errno == 0 && end != v && *end == '\0';
}

// qemu_strtol(str, NULL, 10): the whole string in base 10.
bool decimal_ok(const char *v)
{
    char *end;
    errno = 0;
    (void)strtol(v, &end, 10);
    return errno == 0 && end != v && *end == '\0';
}

// Translates the legacy keys into the option tree (QEMU's
// ssh_process_legacy_options); a legacy key wins over the tree's.
bool process_legacy(QDict *o, SshConfig *cfg, Error **errp)
{
    std::string host = o->get("host") ? o->get("host") : "";
    bool has_host = o->has("host"), has_port = o->has("port");
    std::string port = has_port ? o->get("port") : "";
    std::string hkc = o->get("host_key_check") ? o->get("host_key_check") : "";
    bool has_hkc = o->has("host_key_check");
    if (has_port && !legacy_number_ok(port.c_str())) {
        error_setg(errp, "Parameter 'port' expects a number");
        return false;
    }
    o->del("host");
    o->del("port");
    o->del("host_key_check");
    if (!has_host && has_port) {
        error_setg(errp, "port may not be used without host");
        return false;
    }
    if (has_host) {
        o->set("server.host", host);
        o->set("server.port", has_port ? port : "22");
    }
    if (!has_hkc) return true;
    static const char *const hash_types[] = {"md5", "sha1", "sha256"};
    if (hkc == "no") {
        o->set("host-key-check.mode", "none");
    } else if (hkc == "yes") {
        o->set("host-key-check.mode", "known_hosts");
    } else {
        for (const char *t : hash_types) {
            size_t n = strlen(t);
            if (hkc.compare(0, n, t) == 0 && hkc.size() > n && hkc[n] == ':') {
                o->set("host-key-check.mode", "hash");
                o->set("host-key-check.type", t);
                o->set("host-key-check.hash", hkc.substr(n + 1));
                cfg->legacy_host_key_check = hkc;
                return true;
            }
        }
        error_setg(errp, "unknown host_key_check setting (%s)", hkc.c_str());
        return false;
    }
    cfg->legacy_host_key_check = hkc;
    return true;
}

bool has_prefix_key(const QDict *o, const std::string &prefix)
{
    for (const auto &kv : o->entries) {
        if (kv.first.compare(0, prefix.size(), prefix) == 0) return true;
    }
    return false;
}

// Removes @key from @o into @out; false (with QEMU's message) if missing.
bool take_required(QDict *o, const char *key, std::string *out, Error **errp)
{
    const char *v = o->get(key);
    if (!v) {
        error_setg(errp, "Parameter '%s' is missing", key);
        return false;
    }
    *out = v;
    o->del(key);
    return true;
}

bool parse_host_key_check(QDict *o, SshConfig *cfg, Error **errp)
{
    if (!has_prefix_key(o, "host-key-check.")) return true;
    std::string mode;
    if (!take_required(o, "host-key-check.mode", &mode, errp)) return false;
    if (mode == "none") {
        cfg->hkc_mode = SshHostKeyCheckMode::None;
    } else if (mode == "known_hosts") {
        cfg->hkc_mode = SshHostKeyCheckMode::KnownHosts;
    } else if (mode == "hash") {
        cfg->hkc_mode = SshHostKeyCheckMode::Hash;
        if (!take_required(o, "host-key-check.type", &cfg->hkc_type, errp)) return false;
        if (cfg->hkc_type != "md5" && cfg->hkc_type != "sha1" && cfg->hkc_type != "sha256") {
            error_setg(errp, "Parameter 'type' does not accept value '%s'", cfg->hkc_type.c_str());
            return false;
        }
        if (!take_required(o, "host-key-check.hash", &cfg->hkc_hash, errp)) return false;
    } else {
        error_setg(errp, "Parameter 'mode' does not accept value '%s'", mode.c_str());
        return false;
    }
    return true;
}

}  // namespace

bool ssh_parse_uri(const char *filename, QDict *options, Error **errp)
{
    std::string s(filename);
    size_t sep = s.find("://");
    if (sep == std::string::npos || s.compare(0, sep, "ssh") != 0) {
        error_setg(errp, "URI scheme must be 'ssh'");
        return false;
    }
    std::string rest = s.substr(sep + 3), query;
    if (size_t q = rest.find('?'); q != std::string::npos) {
        query = rest.substr(q + 1);
        rest.resize(q);
    }
    size_t slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    std::string path = slash == std::string::npos ? "" : rest.substr(slash), user;
    if (size_t at = authority.rfind('@'); at != std::string::npos) {
        user = authority.substr(0, at);
        authority.erase(0, at + 1);
    }
    std::string host = authority, port;
    if (!authority.empty() && authority[0] == '[') {  // [IPv6]:port
        size_t close = authority.find(']');
        if (close == std::string::npos) return false;
        host = authority.substr(1, close - 1);
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') return false;
            port = authority.substr(close + 2);
        }
    } else if (size_t colon = authority.rfind(':'); colon != std::string::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    // A port that is not a number makes QEMU's URI parser fail without a
    // message; the open then misses its server.
    if (port.find_first_not_of("0123456789") != std::string::npos) return false;
    if (host.empty()) {
        error_setg(errp, "missing hostname in URI");
        return false;
    }
    std::string dpath, duser;
    if (path.empty()) {
        error_setg(errp, "missing remote path in URI");
        return false;
    }
    if (!uri_percent_decode(path, &dpath) || !uri_percent_decode(user, &duser)) {
        error_setg(errp, "could not parse query parameters");
        return false;
    }
    if (!duser.empty()) options->set("user", duser);
    options->set("host", host);
    // As QEMU's URI parser, port 0 is no port.
    long portnum = port.empty() ? 0 : strtol(port.c_str(), nullptr, 10);
    if (portnum) options->set("port", std::to_string(portnum));
    options->set("path", dpath);
    // Only host_key_check is understood; other parameters are ignored.
    size_t pos = 0;
    while (pos <= query.size() && !query.empty()) {
        size_t amp = query.find('&', pos);
        std::string kv =
            query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
        size_t eq = kv.find('=');
        if (eq != std::string::npos && kv.compare(0, eq, "host_key_check") == 0) {
            std::string v;
            if (!uri_percent_decode(kv.substr(eq + 1), &v)) {
                error_setg(errp, "could not parse query parameters");
                return false;
            }
            options->set("host_key_check", v);
        }
        if (amp == std::string::npos) break;
        pos = amp + 1;
    }
    return true;
}

void ssh_parse_filename(const char *filename, QDict *options, Error **errp)
{
    for (const char *k : {"user", "host", "port", "path", "host_key_check"}) {
        if (options->has(k)) {
            error_setg(errp, "user, host, port, path, host_key_check cannot be used at the same "
                             "time as a file option");
            return;
        }
    }
    ssh_parse_uri(filename, options, errp);
}

bool ssh_parse_options(QDict *o, SshConfig *cfg, Error **errp)
{
    if (const char *fn = o->get("filename")) {
        std::string f(fn);
        o->del("filename");
        ErrorPtr local;
        ssh_parse_filename(f.c_str(), o, &local);
        if (local) {
            error_propagate(errp, local.release());
            return false;
        }
    }
    if (!process_legacy(o, cfg, errp)) return false;
    if (!has_prefix_key(o, "server.")) {
        error_setg(errp, "Parameter 'server' is missing");
        return false;
    }
    if (!take_required(o, "server.host", &cfg->host, errp) ||
        !take_required(o, "server.port", &cfg->port, errp) ||
        !take_required(o, "path", &cfg->path, errp)) {
        return false;
    }
    if (const char *u = o->get("user")) {
        cfg->user = u;  // an empty user= stays empty: libssh refuses it
        o->del("user");
    } else {
        struct passwd *pw = getpwuid(getuid());
        const char *env = getenv("USER");
        cfg->user = pw ? pw->pw_name : (env ? env : "");
    }
    if (!parse_host_key_check(o, cfg, errp)) return false;
    if (!o->entries.empty()) {
        error_setg(errp, "Parameter '%s' is unexpected", o->entries.begin()->first.c_str());
        return false;
    }
    if (!decimal_ok(cfg->port.c_str())) {
        error_setg(errp, "Use only numeric port value");
        return false;
    }
    return true;
}

std::string ssh_canonical_filename(const SshConfig &cfg)
{
    std::string s = "ssh://" + cfg.user + "@" + cfg.host + ":" + cfg.port + cfg.path;
    if (!cfg.legacy_host_key_check.empty()) s += "?host_key_check=" + cfg.legacy_host_key_check;
    return s;
}

bool ssh_fingerprint_matches(const uint8_t *fp, size_t len, const char *hex)
{
    for (size_t i = 0; i < len; i++) {
        while (*hex == ':')
            hex++;
        int hi = hex_digit_value(hex[0]), lo = hi < 0 ? -1 : hex_digit_value(hex[1]);
        if (hi < 0 || lo < 0 || (hi << 4 | lo) != fp[i]) return false;
        hex += 2;
    }
    return *hex == '\0';
}

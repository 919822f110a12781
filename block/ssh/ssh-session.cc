// The blocking side of the `ssh` driver: one libssh session with one SFTP
// file, set up and used as QEMU 7.2's block/ssh.c does (same checks, same
// messages), but in blocking mode: every function here runs in a
// thread-pool worker, one at a time per session (see ssh-int.h).
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "block/nbd/nbd-socket.h"
#include "block/ssh/ssh-int.h"

struct SshSession {
    ssh_session session = nullptr;
    sftp_session sftp = nullptr;
    sftp_file file = nullptr;
    int64_t size = 0;  // the file's size as far as we know (our writes included)
    bool has_fsync = false;
    bool dead = false;  // the connection broke: every call fails at once

    ~SshSession()
    {
        if (file) sftp_close(file);
        if (sftp) sftp_free(sftp);
        if (session) {
            if (!dead && ssh_is_connected(session)) ssh_disconnect(session);
            ssh_free(session);  // closes the socket libssh was given
        }
    }
};

namespace {

// READ_CHUNK: the SFTP data size every server must accept (32 KiB);
// READ_DEPTH of them are in flight at once.
constexpr uint32_t READ_CHUNK = 32768;
constexpr int READ_DEPTH = 16;
constexpr size_t WRITE_CHUNK = 32768;

std::string vformat(const char *fmt, va_list ap)
{
    char buf[1024];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    return buf;
}

// QEMU's session_error_setg: the message, libssh's last error and its code.
__attribute__((format(printf, 3, 4))) void session_error(Error **errp, SshSession *s,
                                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    std::string msg = vformat(fmt, ap);
    va_end(ap);
    error_setg(errp, "%s: %s (libssh error code: %d)", msg.c_str(), ssh_get_error(s->session),
               ssh_get_error_code(s->session));
}

// QEMU's sftp_error_setg: as above plus the SFTP status code.
__attribute__((format(printf, 3, 4))) void sftp_error(Error **errp, SshSession *s, const char *fmt,
                                                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    std::string msg = vformat(fmt, ap);
    va_end(ap);
    error_setg(errp, "%s: %s (libssh error code: %d, sftp error code: %d)", msg.c_str(),
               ssh_get_error(s->session), ssh_get_error_code(s->session),
               s->sftp ? sftp_get_error(s->sftp) : 0);
}

// A failed request: -EIO, and the session is marked dead when the
// connection is gone (so later requests fail at once instead of waiting).
int io_failed(SshSession *s)
{
    if (!ssh_is_connected(s->session)) s->dead = true;
    return -EIO;
}

const char *hash_name(ssh_publickey_hash_type t)
{
    switch (t) {
    case SSH_PUBLICKEY_HASH_MD5: return "md5";
    case SSH_PUBLICKEY_HASH_SHA1: return "sha1";
    default: return "sha256";
    }
}

int check_host_key_hash(SshSession *s, ssh_publickey_hash_type type, const std::string &want,
                        Error **errp)
{
    ssh_key pubkey;
    if (ssh_get_server_publickey(s->session, &pubkey) != SSH_OK) {
        session_error(errp, s, "failed to read remote host key");
        return -EINVAL;
    }
    unsigned char *hash = nullptr;
    size_t hash_len = 0;
    int r = ssh_get_publickey_hash(pubkey, type, &hash, &hash_len);
    const char *key_type = ssh_key_type_to_char(ssh_key_type(pubkey));
    ssh_key_free(pubkey);
    if (r != 0) {
        session_error(errp, s, "failed reading the hash of the server SSH key");
        return -EINVAL;
    }
    bool ok = ssh_fingerprint_matches(hash, hash_len, want.c_str());
    std::string hex;
    for (size_t i = 0; i < hash_len; i++) {
        char b[3];
        snprintf(b, sizeof(b), "%02x", hash[i]);
        hex += b;
    }
    ssh_clean_pubkey_hash(&hash);
    if (!ok) {
        error_setg(errp,
                   "remote host %s key fingerprint '%s:%s' does not match host_key_check '%s:%s'",
                   key_type ? key_type : "unknown", hash_name(type), hex.c_str(), hash_name(type),
                   want.c_str());
        return -EPERM;
    }
    return 0;
}

// The SHA256 fingerprint OpenSSH prints ("SHA256:base64"), for messages.
std::string server_fingerprint(SshSession *s, const char **key_type)
{
    ssh_key pubkey;
    *key_type = "unknown";
    if (ssh_get_server_publickey(s->session, &pubkey) != SSH_OK) return "";
    unsigned char *hash = nullptr;
    size_t len = 0;
    int r = ssh_get_publickey_hash(pubkey, SSH_PUBLICKEY_HASH_SHA256, &hash, &len);
    *key_type = ssh_key_type_to_char(ssh_key_type(pubkey));
    ssh_key_free(pubkey);
    if (r != 0) return "";
    char *fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
    ssh_clean_pubkey_hash(&hash);
    std::string out = fp ? fp : "";
    ssh_string_free_char(fp);
    return out;
}

int check_host_key_known_hosts(SshSession *s, Error **errp)
{
    enum ssh_known_hosts_e state = ssh_session_is_known_server(s->session);
    switch (state) {
    case SSH_KNOWN_HOSTS_OK: return 0;
    case SSH_KNOWN_HOSTS_CHANGED: {
        const char *key_type;
        std::string fp = server_fingerprint(s, &key_type);
        if (!fp.empty()) {
            error_setg(errp,
                       "host key (%s key with fingerprint %s) does not match the one in "
                       "known_hosts; this may be a possible attack",
                       key_type, fp.c_str());
        } else {
            error_setg(errp, "host key does not match the one in known_hosts; this may be a "
                             "possible attack");
        }
        return -EINVAL;
    }
    case SSH_KNOWN_HOSTS_OTHER:
        error_setg(errp, "host key for this server not found, another type exists");
        return -EINVAL;
    case SSH_KNOWN_HOSTS_UNKNOWN:
        error_setg(errp, "no host key was found in known_hosts");
        return -EINVAL;
    case SSH_KNOWN_HOSTS_NOT_FOUND: error_setg(errp, "known_hosts file not found"); return -ENOENT;
    case SSH_KNOWN_HOSTS_ERROR: error_setg(errp, "error while checking the host"); return -EINVAL;
    }
    error_setg(errp, "error while checking for known server (%d)", int(state));
    return -EINVAL;
}

int check_host_key(SshSession *s, const SshConfig &cfg, Error **errp)
{
    switch (cfg.hkc_mode) {
    case SshHostKeyCheckMode::None: return 0;
    case SshHostKeyCheckMode::KnownHosts: return check_host_key_known_hosts(s, errp);
    case SshHostKeyCheckMode::Hash: break;
    }
    ssh_publickey_hash_type t = cfg.hkc_type == "md5"    ? SSH_PUBLICKEY_HASH_MD5
                                : cfg.hkc_type == "sha1" ? SSH_PUBLICKEY_HASH_SHA1
                                                         : SSH_PUBLICKEY_HASH_SHA256;
    return check_host_key_hash(s, t, cfg.hkc_hash, errp);
}

// As QEMU: "none" first, then public keys (the agent's identities, then
// the user's key files) when the server offers publickey.
int authenticate(SshSession *s, Error **errp)
{
    int r = ssh_userauth_none(s->session, nullptr);
    if (r == SSH_AUTH_ERROR) {
        session_error(errp, s, "failed to authenticate using none authentication");
        return -EPERM;
    }
    if (r == SSH_AUTH_SUCCESS) return 0;
    int methods = ssh_userauth_list(s->session, nullptr);
    if (methods & SSH_AUTH_METHOD_PUBLICKEY) {
        r = ssh_userauth_publickey_auto(s->session, nullptr, nullptr);
        if (r == SSH_AUTH_ERROR) {
            session_error(errp, s, "failed to authenticate using publickey authentication");
            return -EINVAL;
        }
        if (r == SSH_AUTH_SUCCESS) return 0;
    }
    error_setg(errp, "failed to authenticate using publickey authentication and the identities "
                     "held by your ssh-agent");
    return -EPERM;
}

// Session options as QEMU sets them; libssh owns @fd once SSH_OPTIONS_FD is set.
bool configure_session(SshSession *s, const SshConfig &cfg, int *fd, Error **errp)
{
    ssh_set_blocking(s->session, 1);
    if (ssh_options_set(s->session, SSH_OPTIONS_USER, cfg.user.c_str()) < 0) {
        session_error(errp, s, "failed to set the user in the libssh session");
        return false;
    }
    if (ssh_options_set(s->session, SSH_OPTIONS_HOST, cfg.host.c_str()) < 0) {
        session_error(errp, s, "failed to set the host in the libssh session");
        return false;
    }
    int port = atoi(cfg.port.c_str());
    if (port > 0 && ssh_options_set(s->session, SSH_OPTIONS_PORT, &port) < 0) {
        session_error(errp, s, "failed to set the port in the libssh session");
        return false;
    }
    if (ssh_options_set(s->session, SSH_OPTIONS_COMPRESSION, "no") < 0) {
        session_error(errp, s, "failed to disable the compression in the libssh session");
        return false;
    }
    if (ssh_options_parse_config(s->session, nullptr) < 0) {
        session_error(errp, s, "failed to parse ~/.ssh/config");
        return false;
    }
    if (ssh_options_set(s->session, SSH_OPTIONS_FD, fd) < 0) {
        session_error(errp, s, "failed to set the socket in the libssh session");
        return false;
    }
    *fd = -1;
    return true;
}

bool start_sftp(SshSession *s, const SshConfig &cfg, int oflags, int mode, Error **errp)
{
    s->sftp = sftp_new(s->session);
    if (!s->sftp) {
        session_error(errp, s, "failed to create sftp handle");
        return false;
    }
    if (sftp_init(s->sftp) < 0) {
        sftp_error(errp, s, "failed to initialize sftp handle");
        return false;
    }
    s->file = sftp_open(s->sftp, cfg.path.c_str(), oflags, mode_t(mode));
    if (!s->file) {
        sftp_error(errp, s, "failed to open remote file '%s'", cfg.path.c_str());
        return false;
    }
    sftp_file_set_blocking(s->file);
    sftp_attributes attrs = sftp_fstat(s->file);
    if (!attrs) {
        sftp_error(errp, s, "failed to read file attributes");
        return false;
    }
    s->size = int64_t(attrs->size);
    sftp_attributes_free(attrs);
    s->has_fsync = sftp_extension_supported(s->sftp, "fsync@openssh.com", "1");
    return true;
}

// Reads [pos, pos + len) of the file at @offset synchronously; zeroes past EOF.
int read_sync(SshSession *s, uint64_t offset, uint8_t *p, size_t len)
{
    if (sftp_seek64(s->file, offset) < 0) return io_failed(s);
    size_t done = 0;
    while (done < len) {
        ssize_t n = sftp_read(s->file, p + done, std::min<size_t>(len - done, READ_CHUNK));
        if (n == 0 || n == SSH_EOF) {
            memset(p + done, 0, len - done);
            break;
        }
        if (n < 0) return io_failed(s);
        done += size_t(n);
    }
    return 0;
}

}  // namespace

SshSession *ssh_session_open(const SshConfig &cfg, int oflags, int mode, Error **errp)
{
    NbdAddress addr;
    addr.host = cfg.host;
    addr.port = cfg.port;
    int fd = nbd_socket_connect(addr, errp);  // "Failed to connect to 'h:p': ..."
    if (fd < 0) return nullptr;
    auto *s = new SshSession;
    s->session = ssh_new();
    bool ok = s->session && configure_session(s, cfg, &fd, errp);
    if (!s->session) error_setg(errp, "failed to initialize libssh session");
    if (fd >= 0) close(fd);
    if (ok && ssh_connect(s->session) != SSH_OK) {
        session_error(errp, s, "failed to establish SSH session");
        ok = false;
    }
    ok = ok && check_host_key(s, cfg, errp) == 0 && authenticate(s, errp) == 0 &&
         start_sftp(s, cfg, oflags, mode, errp);
    if (!ok) {
        delete s;
        return nullptr;
    }
    return s;
}

void ssh_session_close(SshSession *s) { delete s; }

bool ssh_session_alive(SshSession *s) { return !s->dead; }

int ssh_session_read(SshSession *s, uint64_t offset, void *buf, size_t len)
{
    if (s->dead) return -EIO;
    uint8_t *p = static_cast<uint8_t *>(buf);
    // Past the end of the file there is nothing to ask for.
    size_t in_file = offset >= uint64_t(s->size) ? 0 : std::min<uint64_t>(len, s->size - offset);
    memset(p + in_file, 0, len - in_file);
    if (in_file == 0) return 0;
    if (sftp_seek64(s->file, offset) < 0) return io_failed(s);
    struct Pending {
        uint32_t id;
        size_t pos;
        uint32_t len;
    };
    std::deque<Pending> inflight;
    std::vector<Pending> rest;  // parts a short read left out
    size_t issued = 0;
    int ret = 0;
    while (issued < in_file || !inflight.empty()) {
        while (ret == 0 && issued < in_file && inflight.size() < READ_DEPTH) {
            uint32_t n = uint32_t(std::min<size_t>(READ_CHUNK, in_file - issued));
            int id = sftp_async_read_begin(s->file, n);
            if (id < 0) {
                ret = io_failed(s);
                break;
            }
            inflight.push_back({uint32_t(id), issued, n});
            issued += n;
        }
        if (inflight.empty()) break;
        Pending r = inflight.front();
        inflight.pop_front();
        if (ret < 0) continue;  // answers to requests already sent are dropped by libssh
        int n = sftp_async_read(s->file, p + r.pos, r.len, r.id);
        if (n == SSH_ERROR || n == SSH_AGAIN) {
            ret = io_failed(s);
        } else if (n == SSH_EOF || uint32_t(std::max(n, 0)) < r.len) {
            n = std::max(n, 0);
            rest.push_back({0, r.pos + n, r.len - uint32_t(n)});
        }
    }
    if (ret < 0) return ret;
    for (const Pending &r : rest) {
        ret = read_sync(s, offset + r.pos, p + r.pos, r.len);
        if (ret < 0) return ret;
    }
    return 0;
}

int ssh_session_write(SshSession *s, uint64_t offset, const void *buf, size_t len)
{
    if (s->dead) return -EIO;
    if (sftp_seek64(s->file, offset) < 0) return io_failed(s);
    const uint8_t *p = static_cast<const uint8_t *>(buf);
    size_t done = 0;
    while (done < len) {
        ssize_t n = sftp_write(s->file, p + done, std::min(len - done, WRITE_CHUNK));
        if (n <= 0) return io_failed(s);
        done += size_t(n);
    }
    s->size = std::max<int64_t>(s->size, int64_t(offset + len));
    return 0;
}

int ssh_session_fsync(SshSession *s)
{
    if (s->dead) return -EIO;
    if (!s->has_fsync) return 1;
    return sftp_fsync(s->file) < 0 ? io_failed(s) : 0;
}

int64_t ssh_session_size(SshSession *s)
{
    if (s->dead) return -EIO;
    sftp_attributes attrs = sftp_fstat(s->file);
    if (!attrs) return io_failed(s);
    s->size = int64_t(attrs->size);
    sftp_attributes_free(attrs);
    return s->size;
}

int ssh_session_grow(SshSession *s, int64_t size, Error **errp)
{
    static const char zero = 0;
    int ret = s->dead ? -EIO : ssh_session_write(s, uint64_t(size - 1), &zero, 1);
    if (ret < 0) {
        sftp_error(errp, s, "Failed to grow file");
        return -EIO;
    }
    return 0;
}

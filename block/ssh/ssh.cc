// The `ssh` protocol driver: an image file on a remote host, reached over
// SFTP with libssh (QEMU 7.2's block/ssh.c is the behavioural model).
//
// libssh is used in blocking mode, and every libssh call runs in a
// thread-pool worker while the request's coroutine yields: the main loop is
// never blocked.  One session per node, one request on it at a time (the
// CoMutex `lock`): libssh sessions are not safe for concurrent use, and SFTP
// requests on one file handle share its offset.  A connection that breaks
// fails the request in flight and every later one with -EIO at once.
#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "block/block-int.h"
#include "block/ssh/ssh-int.h"
#include "util/thread-pool.h"

namespace {

struct SshDriverState {
    SshConfig cfg;
    SshSession *sess = nullptr;
    CoMutex lock;  // one libssh call sequence at a time
    bool flush_warned = false;
};

SshDriverState *state(BlockDriverState *bs) { return static_cast<SshDriverState *>(bs->opaque); }

// Runs @fn (blocking libssh work returning int) in a worker and yields until
// it is done.  @s->lock, when given, is held around it.
template <typename F>
int coroutine_fn run_blocking(SshDriverState *s, F &&fn)
{
    using Fn = std::remove_reference_t<F>;
    auto trampoline = [](void *opaque) -> int { return (*static_cast<Fn *>(opaque))(); };
    if (!s) return thread_pool_submit_co(trampoline, &fn);
    CoMutexGuard guard(&s->lock);
    return thread_pool_submit_co(trampoline, &fn);
}

// Opens a session in a worker (connect, host key, auth, sftp_open).
int coroutine_fn open_session(const SshConfig &cfg, int oflags, SshSession **out, Error **errp)
{
    int ret = run_blocking(nullptr, [&]() -> int {
        *out = ssh_session_open(cfg, oflags, 0644, errp);
        return *out ? 0 : -EINVAL;
    });
    return ret;
}

int coroutine_fn ssh_co_open(BlockDriverState *bs, QDict *options, int flags, Error **errp)
{
    auto s = std::make_unique<SshDriverState>();
    qemu_co_mutex_init(&s->lock);
    if (!ssh_parse_options(options, &s->cfg, errp)) return -EINVAL;
    int oflags = (flags & BDRV_O_RDWR) ? O_RDWR : O_RDONLY;
    int ret = open_session(s->cfg, oflags, &s->sess, errp);
    if (ret < 0) return ret;
    bs->filename = ssh_canonical_filename(s->cfg);
    bs->opaque = s.release();
    return 0;
}

void coroutine_fn ssh_co_close(BlockDriverState *bs)
{
    SshDriverState *s = state(bs);
    if (!s) return;
    // sftp_close and the disconnect message go over the network too.
    run_blocking(s, [&]() -> int {
        ssh_session_close(s->sess);
        return 0;
    });
    delete s;
    bs->opaque = nullptr;
}

void ssh_refresh_limits(BlockDriverState *bs, Error **)
{
    // As QEMU 7.2's ssh driver (a sector-based one there): unaligned
    // writes are read-modify-write, and a file grows in whole sectors.
    bs->bl.request_alignment = 512;
    bs->bl.max_transfer = 16 * 1024 * 1024;  // bounds the bounce buffer
}

// The request's data as one buffer: the iovec itself when a single element
// holds it, else @bounce.
uint8_t *linear_buffer(QEMUIOVector *qiov, size_t qiov_offset, size_t bytes,
                       std::vector<uint8_t> *bounce)
{
    size_t pos = 0;
    for (const struct iovec &v : qiov->iov) {
        if (qiov_offset < pos + v.iov_len) {
            size_t in = qiov_offset - pos;
            if (v.iov_len - in >= bytes) return static_cast<uint8_t *>(v.iov_base) + in;
            break;
        }
        pos += v.iov_len;
    }
    bounce->resize(bytes);
    return bounce->data();
}

int coroutine_fn ssh_co_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
                               QEMUIOVector *qiov, size_t qiov_offset, int)
{
    SshDriverState *s = state(bs);
    std::vector<uint8_t> bounce;
    uint8_t *buf = linear_buffer(qiov, qiov_offset, size_t(bytes), &bounce);
    int ret = run_blocking(s, [&]() -> int {
        return ssh_session_read(s->sess, uint64_t(offset), buf, size_t(bytes));
    });
    if (ret == 0 && !bounce.empty()) qemu_iovec_from_buf(qiov, qiov_offset, buf, size_t(bytes));
    return ret;
}

int coroutine_fn ssh_co_pwritev(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                QEMUIOVector *qiov, size_t qiov_offset, int)
{
    SshDriverState *s = state(bs);
    std::vector<uint8_t> bounce;
    uint8_t *buf = linear_buffer(qiov, qiov_offset, size_t(bytes), &bounce);
    if (!bounce.empty()) qemu_iovec_to_buf(qiov, qiov_offset, buf, size_t(bytes));
    int ret = run_blocking(s, [&]() -> int {
        return ssh_session_write(s->sess, uint64_t(offset), buf, size_t(bytes));
    });
    if (ret == 0 && offset + bytes > bs->total_bytes) bs->total_bytes = offset + bytes;
    return ret;
}

// fsync@openssh.com when the server has it; otherwise warn once, as QEMU.
int coroutine_fn ssh_co_flush(BlockDriverState *bs)
{
    SshDriverState *s = state(bs);
    int ret = run_blocking(s, [&]() -> int { return ssh_session_fsync(s->sess); });
    if (ret == 1) {
        if (!s->flush_warned) {
            warn_report("ssh server %s does not support fsync", s->cfg.host.c_str());
            error_report("to support fsync, you need %s", "OpenSSH >= 6.3");
            s->flush_warned = true;
        }
        ret = 0;
    }
    return ret;
}

int64_t coroutine_fn ssh_co_getlength(BlockDriverState *bs)
{
    SshDriverState *s = state(bs);
    int64_t len = 0;
    int ret = run_blocking(s, [&]() -> int {
        len = ssh_session_size(s->sess);
        return len < 0 ? int(len) : 0;
    });
    return ret < 0 ? ret : len;
}

// Only growing, by writing a zero byte at the new end (QEMU 7.2 likewise).
int coroutine_fn ssh_co_truncate(BlockDriverState *bs, int64_t offset, bool, PreallocMode prealloc,
                                 Error **errp)
{
    if (prealloc != PreallocMode::Off) {
        error_setg(errp, "Unsupported preallocation mode '%s'", prealloc_mode_name(prealloc));
        return -ENOTSUP;
    }
    int64_t size = ssh_co_getlength(bs);
    if (size < 0) {
        error_setg_errno(errp, int(-size), "Failed to get the file size");
        return int(size);
    }
    if (offset < size) {
        error_setg(errp, "ssh driver does not support shrinking files");
        return -ENOTSUP;
    }
    if (offset == size) return 0;
    SshDriverState *s = state(bs);
    int ret = run_blocking(s, [&]() -> int { return ssh_session_grow(s->sess, offset, errp); });
    if (ret == 0) bs->total_bytes = offset;
    return ret;
}

const CreateOptDesc ssh_create_opts[] = {
    {"size", CreateOptType::Size, "Virtual disk size", nullptr},
    {nullptr, CreateOptType::String, nullptr, nullptr},
};

// Creates (or truncates) the remote file named by an ssh:// URI.
int coroutine_fn ssh_co_create_opts(const char *filename, QDict *opts, Error **errp)
{
    uint64_t size = 0;
    if (const char *v = opts->get("size")) {
        if (qemu_strtosz(v, &size) < 0 || size > uint64_t(INT64_MAX) - 511) {
            error_setg(errp, "Parameter 'size' expects a non-negative number below 2^64");
            return -EINVAL;
        }
    }
    size = (size + 511) & ~uint64_t(511);
    QDict loc;
    SshConfig cfg;
    ErrorPtr local;
    if (!ssh_parse_uri(filename, &loc, &local)) {
        if (local) error_propagate(errp, local.release());
        return -EINVAL;
    }
    if (!ssh_parse_options(&loc, &cfg, errp)) return -EINVAL;
    SshSession *sess = nullptr;
    int ret = open_session(cfg, O_RDWR | O_CREAT | O_TRUNC, &sess, errp);
    if (ret < 0) return ret;
    return run_blocking(nullptr, [&]() -> int {
        int r = size > 0 ? ssh_session_grow(sess, int64_t(size), errp) : 0;
        ssh_session_close(sess);
        return r;
    });
}

void ssh_parse_filename_cb(const char *filename, QDict *options, Error **errp)
{
    ssh_parse_filename(filename, options, errp);
}

BlockDriver make_driver()
{
    BlockDriver d = {};
    d.format_name = "ssh";
    d.protocol_name = "ssh";
    d.bdrv_parse_filename = ssh_parse_filename_cb;
    d.bdrv_co_open = ssh_co_open;
    d.bdrv_co_close = ssh_co_close;
    d.bdrv_co_create_opts = ssh_co_create_opts;
    d.create_opts = ssh_create_opts;
    d.bdrv_refresh_limits = ssh_refresh_limits;
    d.bdrv_co_preadv = ssh_co_preadv;
    d.bdrv_co_pwritev = ssh_co_pwritev;
    d.bdrv_co_flush_to_disk = ssh_co_flush;
    d.bdrv_co_truncate = ssh_co_truncate;
    d.bdrv_co_getlength = ssh_co_getlength;
    // runtime_opts stays nullptr: ssh_parse_options checks its keys with
    // QEMU's "Parameter 'X' is unexpected".
    return d;
}

}  // namespace

BlockDriver bdrv_ssh = make_driver();

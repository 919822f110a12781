// QEMUIOVector helpers and aligned buffers (see iov.h).
#include "util/iov.h"

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <cstring>

void qemu_iovec_init(QEMUIOVector *qiov)
{
    qiov->iov.clear();
    qiov->size = 0;
}

void qemu_iovec_init_buf(QEMUIOVector *qiov, void *buf, size_t len)
{
    qemu_iovec_init(qiov);
    qemu_iovec_add(qiov, buf, len);
}

void qemu_iovec_add(QEMUIOVector *qiov, void *base, size_t len)
{
    if (len == 0) {
        return;
    }
    qiov->iov.push_back(iovec{base, len});
    qiov->size += len;
}

void qemu_iovec_reset(QEMUIOVector *qiov) { qemu_iovec_init(qiov); }

void qemu_iovec_concat(QEMUIOVector *dst, const QEMUIOVector *src, size_t offset, size_t bytes)
{
    assert(offset + bytes <= src->size);
    for (const iovec &v : src->iov) {
        if (bytes == 0) {
            break;
        }
        if (offset >= v.iov_len) {
            offset -= v.iov_len;
            continue;
        }
        size_t len = std::min(v.iov_len - offset, bytes);
        qemu_iovec_add(dst, static_cast<char *>(v.iov_base) + offset, len);
        bytes -= len;
        offset = 0;
    }
}

// Walks the [offset, offset+bytes) part of @qiov, calling fn(ptr, len) per
// contiguous piece; returns the bytes visited (short if qiov is shorter).
template <typename Fn>
static size_t iov_walk(const QEMUIOVector *qiov, size_t offset, size_t bytes, Fn fn)
{
    size_t done = 0;
    for (const iovec &v : qiov->iov) {
        if (done == bytes) {
            break;
        }
        if (offset >= v.iov_len) {
            offset -= v.iov_len;
            continue;
        }
        size_t len = std::min(v.iov_len - offset, bytes - done);
        if (!fn(static_cast<char *>(v.iov_base) + offset, done, len)) {
            return done;
        }
        done += len;
        offset = 0;
    }
    return done;
}

size_t qemu_iovec_to_buf(const QEMUIOVector *qiov, size_t offset, void *buf, size_t bytes)
{
    char *out = static_cast<char *>(buf);
    return iov_walk(qiov, offset, bytes, [out](char *p, size_t at, size_t len) {
        memcpy(out + at, p, len);
        return true;
    });
}

size_t qemu_iovec_from_buf(QEMUIOVector *qiov, size_t offset, const void *buf, size_t bytes)
{
    const char *in = static_cast<const char *>(buf);
    return iov_walk(qiov, offset, bytes, [in](char *p, size_t at, size_t len) {
        memcpy(p, in + at, len);
        return true;
    });
}

size_t qemu_iovec_memset(QEMUIOVector *qiov, size_t offset, int c, size_t bytes)
{
    return iov_walk(qiov, offset, bytes, [c](char *p, size_t, size_t len) {
        memset(p, c, len);
        return true;
    });
}

bool qemu_iovec_is_zero(const QEMUIOVector *qiov, size_t offset, size_t bytes)
{
    size_t n = iov_walk(qiov, offset, bytes,
                        [](char *p, size_t, size_t len) { return buffer_is_zero(p, len); });
    return n == bytes;
}

bool buffer_is_zero(const void *buf, size_t len)
{
    const unsigned char *p = static_cast<const unsigned char *>(buf);
    // Check the head byte-wise, then compare the buffer against itself
    // shifted by one: memcmp is vectorised, so this runs at memory speed.
    if (len == 0) {
        return true;
    }
    if (p[0] != 0) {
        return false;
    }
    return memcmp(p, p + 1, len - 1) == 0;
}

void *qemu_memalign(size_t alignment, size_t size)
{
    void *p = nullptr;
    if (alignment < sizeof(void *)) {
        alignment = sizeof(void *);
    }
    if (posix_memalign(&p, alignment, size ? size : 1) != 0) {
        abort();  // out of memory: as QEMU's qemu_memalign, not recoverable
    }
    return p;
}

void qemu_vfree(void *ptr) { free(ptr); }

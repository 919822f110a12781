// Scatter/gather I/O vectors (QEMU's QEMUIOVector).
#pragma once

#include <sys/uio.h>
#include <cstddef>
#include <cstdint>
#include <vector>

struct QEMUIOVector {
    std::vector<struct iovec> iov;
    size_t size = 0;  // sum of iov_len
    int niov() const { return (int)iov.size(); }
};

void qemu_iovec_init(QEMUIOVector *qiov);
void qemu_iovec_init_buf(QEMUIOVector *qiov, void *buf, size_t len);
void qemu_iovec_add(QEMUIOVector *qiov, void *base, size_t len);
void qemu_iovec_reset(QEMUIOVector *qiov);
// Appends the part [offset, offset+bytes) of @src to @dst.
void qemu_iovec_concat(QEMUIOVector *dst, const QEMUIOVector *src, size_t offset, size_t bytes);
size_t qemu_iovec_to_buf(const QEMUIOVector *qiov, size_t offset, void *buf, size_t bytes);
size_t qemu_iovec_from_buf(QEMUIOVector *qiov, size_t offset, const void *buf, size_t bytes);
size_t qemu_iovec_memset(QEMUIOVector *qiov, size_t offset, int c, size_t bytes);
bool qemu_iovec_is_zero(const QEMUIOVector *qiov, size_t offset, size_t bytes);
bool buffer_is_zero(const void *buf, size_t len);

// Page-aligned heap buffers for O_DIRECT (freed with qemu_vfree).
void *qemu_memalign(size_t alignment, size_t size);
void qemu_vfree(void *ptr);

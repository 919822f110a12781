// Public interface of the block layer for its users: tools, devices and the
// NBD server.  A BlockBackend is a user's handle on the root of a node graph.
// blk_co_* must run in a coroutine in the backend's AioContext thread; the
// blk_* synchronous forms run the same request in a coroutine and poll the
// context until it completes (for tools and tests, not for devices).
#pragma once

#include <cstdint>
#include <string>

#include "util/util.h"

struct BlockBackend;
struct BlockDriverState;

// Open flags.
enum {
    BDRV_O_RDWR = 0x0002,
    BDRV_O_NOCACHE = 0x0020,      // O_DIRECT on the file
    BDRV_O_NO_FLUSH = 0x0200,     // cache=unsafe: flushes are no-ops
    BDRV_O_NATIVE_AIO = 0x0080,   // aio=native
    BDRV_O_IO_URING = 0x40000,    // aio=io_uring
    BDRV_O_NO_BACKING = 0x0100,
    BDRV_O_UNMAP = 0x4000,        // discard=unmap
    BDRV_O_SHARE_RW = 0x10000,    // share-rw=on: allow other writers
    BDRV_O_FORCE_SHARE = 0x20000, // -U: open without taking locks
    BDRV_O_NO_IO = 0x80000,       // metadata only (qemu-img info)
    BDRV_O_CHECK = 0x1000,        // opened for qemu-img check (no repair on open)
    BDRV_O_ALLOW_RDWR = 0x2000,
    BDRV_O_PROTOCOL = 0x8000,     // filename names a protocol node only
};
// Without BDRV_O_SHARE_RW a writable backend does not let other users write
// or resize the image (QEMU's device default, share-rw=off).  QEMU's tools
// (qemu-io, qemu-img) share everything: tools that want the same locking
// behaviour pass BDRV_O_SHARE_RW.

// Request flags.
enum {
    BDRV_REQ_FUA = 0x1,
    BDRV_REQ_MAY_UNMAP = 0x2,
    BDRV_REQ_NO_FALLBACK = 0x4,    // fail with -ENOTSUP rather than write zeroes slowly
    BDRV_REQ_ZERO_WRITE = 0x8,
    BDRV_REQ_WRITE_COMPRESSED = 0x10,
    BDRV_REQ_SERIALISING = 0x20,
    BDRV_REQ_PREFETCH = 0x40,
};

// Block status flags (as QEMU).
enum {
    BDRV_BLOCK_DATA = 0x01,
    BDRV_BLOCK_ZERO = 0x02,
    BDRV_BLOCK_OFFSET_VALID = 0x04,
    BDRV_BLOCK_RAW = 0x08,        // driver passes through to *file: ask it
    BDRV_BLOCK_ALLOCATED = 0x10,
    BDRV_BLOCK_EOF = 0x20,
    BDRV_BLOCK_RECURSE = 0x40,
    BDRV_BLOCK_COMPRESSED = 0x80,
};

enum BlockdevDetectZeroes { DETECT_ZEROES_OFF = 0, DETECT_ZEROES_ON, DETECT_ZEROES_UNMAP };

struct BlockDriverInfo {
    int cluster_size = 0;
    bool is_dirty = false;
    int64_t vm_state_offset = 0;
};

// Parses cache=none|writeback|writethrough|directsync|unsafe into BDRV_O_*
// flags and whether the guest-visible write cache is off (writethrough).
bool bdrv_parse_cache_mode(const char *mode, int *flags, bool *writethrough);
// Parses aio=threads|native|io_uring into BDRV_O_* flags.
bool bdrv_parse_aio(const char *mode, int *flags);
bool bdrv_parse_detect_zeroes(const char *mode, BlockdevDetectZeroes *out);

// Registers the built-in drivers; idempotent.  Tools call it at start.
void bdrv_init(void);

// Opens a graph.  @filename may be null when @options name everything
// (--image-opts).  @options keys: "driver" (format or protocol), "file.*",
// "backing.*", driver options.  Without "driver", the format is probed; a
// probed raw image opened for writing gets QEMU's warning and write
// restrictions on sector 0.  Takes ownership of nothing; @options may be null.
BlockBackend *blk_new_open(const char *filename, QDict *options, int flags, Error **errp);
void blk_unref(BlockBackend *blk);  // drains, flushes (unless unsafe) and closes

BlockDriverState *blk_bs(BlockBackend *blk);
AioContext *blk_get_aio_context(BlockBackend *blk);
bool blk_is_read_only(BlockBackend *blk);
// Writethrough: every write is followed by a flush (or sent with FUA).
void blk_set_enable_write_cache(BlockBackend *blk, bool wce);
bool blk_enable_write_cache(BlockBackend *blk);
void blk_set_detect_zeroes(BlockBackend *blk, BlockdevDetectZeroes mode);
void blk_set_copy_on_read(BlockBackend *blk, bool on);
// Allow requests past the end of the image (qemu-io does not; NBD does not).
void blk_set_allow_write_beyond_eof(BlockBackend *blk, bool allow);
// Waits for this backend's requests; blk_drained_begin also holds new ones
// back (they wait in the backend) until blk_drained_end.
void blk_drain(BlockBackend *blk);
void blk_drained_begin(BlockBackend *blk);
void blk_drained_end(BlockBackend *blk);
// Changes the open options of the image (qemu-io reopen): @opts holds the
// node options every node understands ("read-only", "cache.direct",
// "cache.no-flush", "discard", "detect-zeroes"...); anything else fails with
// QEMU's "Cannot change the option 'X'".  Drains first; the backend gains or
// loses the WRITE permission with read-only.  All or nothing.
int blk_reopen(BlockBackend *blk, QDict *opts, Error **errp);
// Whether the backend can write (opened BDRV_O_RDWR).
bool blk_is_writable(BlockBackend *blk);
// Narrows what the backend lets other users of the image do (QEMU's
// blk_set_perm with the current permissions): e.g. qemu-img convert stops
// sharing WRITE on its sources so that nobody changes them mid-copy.  Fails,
// leaving the backend as it was, when another user (another process, through
// the image locks) already holds what is unshared.
int blk_set_shared_perm(BlockBackend *blk, uint64_t shared, Error **errp);
uint64_t blk_get_shared_perm(BlockBackend *blk);
// Number of requests currently inside the backend (for tests and drain).
unsigned blk_in_flight(BlockBackend *blk);

int coroutine_fn blk_co_preadv(BlockBackend *blk, int64_t offset, int64_t bytes,
                               QEMUIOVector *qiov, int flags);
int coroutine_fn blk_co_pwritev(BlockBackend *blk, int64_t offset, int64_t bytes,
                                QEMUIOVector *qiov, int flags);
int coroutine_fn blk_co_pread(BlockBackend *blk, int64_t offset, int64_t bytes, void *buf,
                              int flags);
int coroutine_fn blk_co_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes,
                               const void *buf, int flags);
int coroutine_fn blk_co_pwrite_compressed(BlockBackend *blk, int64_t offset, int64_t bytes,
                                          const void *buf);
int coroutine_fn blk_co_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes,
                                      int flags);
int coroutine_fn blk_co_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes);
int coroutine_fn blk_co_flush(BlockBackend *blk);
int coroutine_fn blk_co_truncate(BlockBackend *blk, int64_t offset, bool exact,
                                 int prealloc /* PreallocMode */, Error **errp);
int64_t coroutine_fn blk_co_getlength(BlockBackend *blk);
// Status of the root node over its backing chain (what `qemu-img map` shows).
int coroutine_fn blk_co_block_status_above(BlockBackend *blk, int64_t offset, int64_t bytes,
                                           int64_t *pnum, int64_t *map,
                                           BlockDriverState **file);

// Synchronous forms (plain code only).
int blk_pread(BlockBackend *blk, int64_t offset, int64_t bytes, void *buf, int flags);
int blk_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes, const void *buf, int flags);
int blk_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes, int flags);
int blk_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes);
int blk_flush(BlockBackend *blk);
int blk_truncate(BlockBackend *blk, int64_t offset, bool exact, int prealloc, Error **errp);
int64_t blk_getlength(BlockBackend *blk);

// Creates an image file of format @fmt (options as qemu-img create -o).
int bdrv_create(const char *fmt, const char *filename, QDict *opts, Error **errp);

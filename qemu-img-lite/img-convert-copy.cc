// qemu-img-lite convert's copy engine.  A status cursor walks the
// concatenated sources with block status (above the source's backing file
// when the target has one) and hands out runs of "data", "zero" or "leave to
// the backing file"; up to -m worker coroutines take runs from the cursor,
// read, drop all-zero stretches of at least -S bytes, and write.  Without -W
// writes reach the target in order: a worker that read ahead waits until the
// runs before its own are written.
#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <memory>

#include "block/block.h"
#include "qemu-img-lite/img-convert.h"
#include "qemu-img-lite/img-output.h"

namespace {

// Block status and reads are asked for at most this much at once (QEMU's
// BDRV_REQUEST_MAX_SECTORS).
const int64_t kMaxRequestSectors = (INT32_MAX >> kConvertSectorBits);

// The source holding @sector_num and the sector at which that source starts.
void select_part(const ConvertState *s, int64_t sector_num, size_t *idx, int64_t *start)
{
    *idx = 0;
    *start = 0;
    while (sector_num - *start >= s->src_sectors[*idx]) {
        *start += s->src_sectors[*idx];
        ++*idx;
        assert(*idx < s->src.size());
    }
}

// Block status of source @idx from @sector (relative to that source) for at
// most *n sectors; *n becomes the length of the answer.  A source whose
// size is not a multiple of 512 ends in a zero-padded sector.
int coroutine_fn query_status(ConvertState *s, size_t idx, int64_t sector, int64_t *n)
{
    int64_t offset = sector << kConvertSectorBits;
    int64_t avail = s->src_bytes[idx] - offset;
    if (avail <= 0) {
        *n = std::min(*n, s->src_sectors[idx] - sector);
        return BDRV_BLOCK_ZERO;
    }
    BlockDriverState *bs = blk_bs(s->src[idx]);
    // With a target backing file, only what the source's top layer holds
    // is copied: the rest is assumed to come from the new backing file.
    BlockDriverState *base = s->target_has_backing ? bdrv_backing_bs(bs) : nullptr;
    int64_t count = 0;
    int ret;
    for (;;) {
        count = std::min(*n << kConvertSectorBits, avail);
        ret = bdrv_co_block_status_above(bs, base, offset, count, &count, nullptr, nullptr);
        if (ret >= 0) {
            break;
        }
        if (!s->salvage) {
            error_report("error while reading block status at offset %" PRId64 ": %s", offset,
                         strerror(-ret));
            return ret;
        }
        if (*n == 1) {
            if (!s->quiet) {
                warn_report("error while reading block status at offset %" PRId64 ": %s", offset,
                            strerror(-ret));
            }
            ret = BDRV_BLOCK_DATA;  // just try to read it
            count = kConvertSectorSize;
            break;
        }
        *n = div_round_up(*n, 4);
    }
    *n = div_round_up(count, kConvertSectorSize);
    return ret;
}

// Length of the next run starting at @sector_num (updating the cached status
// run when it is used up).  Called with s->lock held by the workers.
int64_t coroutine_fn iteration_sectors(ConvertState *s, int64_t sector_num)
{
    size_t idx;
    int64_t start;
    select_part(s, sector_num, &idx, &start);
    assert(s->total_sectors > sector_num);
    int64_t n = std::min(s->total_sectors - sector_num, kMaxRequestSectors);

    // Past the end of the target's backing file zeroes must be explicit
    // zeroes, not "whatever the backing file says": split runs there.
    bool post_backing_zero = false;
    if (s->target_backing_sectors >= 0) {
        if (sector_num >= s->target_backing_sectors) {
            post_backing_zero = true;
        } else if (sector_num + n > s->target_backing_sectors) {
            n = s->target_backing_sectors - sector_num;
        }
    }

    if (s->sector_next_status <= sector_num) {
        int ret = query_status(s, idx, sector_num - start, &n);
        if (ret < 0) {
            return ret;
        }
        // Keep run ends on the source's alignment (cluster) so no cluster is
        // read twice.
        int64_t tail = (sector_num - start + n) % s->src_alignment[idx];
        if (n > tail) {
            n -= tail;
        }
        if (ret & BDRV_BLOCK_ZERO) {
            s->status = post_backing_zero ? ConvertRun::BackingFile : ConvertRun::Zero;
        } else if (ret & BDRV_BLOCK_DATA) {
            s->status = ConvertRun::Data;
        } else {
            s->status = s->target_has_backing ? ConvertRun::BackingFile : ConvertRun::Data;
        }
        s->sector_next_status = sector_num + n;
    }

    n = std::min(n, s->sector_next_status - sector_num);
    if (s->status == ConvertRun::Data) {
        n = std::min<int64_t>(n, s->buf_sectors);
    }
    // Compressed clusters are written whole: a short run becomes a data
    // cluster, a long one stops at a cluster boundary.
    if (s->compressed) {
        if (n < s->cluster_sectors) {
            n = std::min<int64_t>(s->cluster_sectors, s->total_sectors - sector_num);
            s->status = ConvertRun::Data;
        } else {
            n -= n % s->cluster_sectors;
        }
    }
    return n;
}

// Whether the first sector of @buf is non-zero; *pnum: how many sectors
// from the start share that state, with the run end pulled onto an
// @alignment boundary so the next write starts aligned.
bool sectors_allocated(const uint8_t *buf, int n, int *pnum, int64_t sector_num, int alignment)
{
    if (n <= 0) {
        *pnum = 0;
        return false;
    }
    bool is_zero = buffer_is_zero(buf, kConvertSectorSize);
    int i = 1;
    while (i < n &&
           buffer_is_zero(buf + (size_t)i * kConvertSectorSize, kConvertSectorSize) == is_zero) {
        i++;
    }
    if (i == n) {
        *pnum = i;
        return !is_zero;
    }
    int tail = (int)((sector_num + i) & (alignment - 1));
    if (tail) {
        // A zero stretch shorter than the distance to the boundary would be
        // rewritten by the data after it anyway (read-modify-write).
        if (is_zero && i <= tail) {
            is_zero = false;
        }
        if (!is_zero) {
            i = std::min(i + alignment - tail, n);
        } else {
            i -= tail;
        }
    }
    *pnum = i;
    return !is_zero;
}

// Like sectors_allocated, but once data starts, zero stretches shorter than
// @min sectors stay inside the data run (small holes are not worth a split).
bool sectors_allocated_min(const uint8_t *buf, int n, int *pnum, int min, int64_t sector_num,
                           int alignment)
{
    min = std::min(min, n);
    if (!sectors_allocated(buf, n, pnum, sector_num, alignment)) {
        return false;
    }
    int used = *pnum, checked = *pnum;
    while (n - checked > 0) {
        int step;
        bool data = sectors_allocated(buf + (size_t)checked * kConvertSectorSize, n - checked,
                                      &step, sector_num + checked, alignment);
        checked += step;
        if (data) {
            used = checked;
        } else if (step >= min) {
            break;
        }
    }
    *pnum = used;
    return true;
}

// The part of [sector_num, sector_num + nb) inside one source: which
// source, the byte offset in it and the sectors it covers.
struct SourcePart {
    size_t idx;
    int64_t offset;
    int n;
};

SourcePart source_part(const ConvertState *s, int64_t sector_num, int nb)
{
    size_t idx;
    int64_t start;
    select_part(s, sector_num, &idx, &start);
    int64_t in_src = sector_num - start;
    return {idx, in_src << kConvertSectorBits,
            (int)std::min<int64_t>(nb, s->src_sectors[idx] - in_src)};
}

int coroutine_fn co_read(ConvertState *s, int64_t sector_num, int nb, uint8_t *buf)
{
    int64_t single_until = -1;  // salvage: read sector by sector up to here
    while (nb > 0) {
        auto [idx, offset, n] = source_part(s, sector_num, nb);
        if (sector_num < single_until) {
            n = 1;
        }
        int64_t bytes = (int64_t)n << kConvertSectorBits;
        int64_t rd = std::clamp<int64_t>(s->src_bytes[idx] - offset, 0, bytes);
        memset(buf + rd, 0, (size_t)(bytes - rd));
        int ret = rd ? blk_co_pread(s->src[idx], offset, rd, buf, 0) : 0;
        if (ret < 0) {
            if (!s->salvage) {
                return ret;
            }
            if (n > 1) {
                single_until = sector_num + n;
                continue;
            }
            if (!s->quiet) {
                warn_report("error while reading offset %" PRId64 ": %s", offset, strerror(-ret));
            }
            memset(buf, 0, kConvertSectorSize);
        }
        sector_num += n;
        nb -= n;
        buf += bytes;
    }
    return 0;
}

// Compressed target: whether the first cluster of @buf holds data; *n
// becomes the run of whole clusters that share that state (an all-zero
// cluster is skipped, never compressed).
bool clusters_allocated(const ConvertState *s, const uint8_t *buf, int *n)
{
    int cl = s->cluster_sectors;
    auto zero_at = [&](int sec) {
        int len = std::min(cl, *n - sec);
        return buffer_is_zero(buf + ((size_t)sec << kConvertSectorBits),
                              (size_t)len << kConvertSectorBits);
    };
    bool zero = zero_at(0);
    int run = std::min(cl, *n);
    while (run < *n && zero_at(run) == zero) {
        run += std::min(cl, *n - run);
    }
    *n = run;
    return !zero;
}

// Copy offloading of a data run, source by source (QEMU's
// convert_co_copy_range).  A source whose size is not a multiple of 512
// ends in a zero-padded sector that only the read path produces: -ENOTSUP.
int coroutine_fn co_copy_range(ConvertState *s, int64_t sector_num, int nb)
{
    while (nb > 0) {
        auto [idx, offset, n] = source_part(s, sector_num, nb);
        int64_t bytes = (int64_t)n << kConvertSectorBits;
        if (offset + bytes > s->src_bytes[idx]) {
            return -ENOTSUP;
        }
        int ret = blk_co_copy_range(s->src[idx], offset, s->target,
                                    sector_num << kConvertSectorBits, bytes, 0, 0);
        if (ret < 0) {
            return ret;
        }
        sector_num += n;
        nb -= n;
    }
    return 0;
}

int coroutine_fn write_data(ConvertState *s, int64_t offset, int64_t bytes, const uint8_t *buf)
{
    if (s->compressed) {
        return blk_co_pwrite_compressed(s->target, offset, bytes, buf);
    }
    // The data was read to find its zeroes; what is not zero is copied
    // from the source in the kernel rather than from @buf (same bytes: the
    // source is not shared for writing).  See img-convert.cc for when.
    // Any failure: write @buf, and stop trying after anything but
    // -ENOTSUP.
    if (s->copy_from_source) {
        int ret =
            co_copy_range(s, offset >> kConvertSectorBits, (int)(bytes >> kConvertSectorBits));
        if (ret == 0) {
            return 0;
        }
        s->copy_from_source = s->copy_from_source && ret == -ENOTSUP;
    }
    return blk_co_pwrite(s->target, offset, bytes, buf, 0);
}

int coroutine_fn co_write(ConvertState *s, int64_t sector_num, int nb, const uint8_t *buf,
                          ConvertRun status)
{
    while (nb > 0) {
        int n = nb;
        int ret = 0;
        int64_t offset = sector_num << kConvertSectorBits;
        switch (status) {
        case ConvertRun::BackingFile: break;  // stays unallocated: the backing file shows through
        case ConvertRun::Data:
            // -S 0 writes everything; compressed clusters are skipped only
            // when entirely zero; otherwise zero stretches become holes.
            if (!s->min_sparse ||
                (!s->compressed &&
                 sectors_allocated_min(buf, n, &n, s->min_sparse, sector_num, s->alignment)) ||
                (s->compressed && clusters_allocated(s, buf, &n))) {
                ret = write_data(s, offset, (int64_t)n << kConvertSectorBits, buf);
                break;
            }
            [[fallthrough]];
        case ConvertRun::Zero:
            if (s->has_zero_init) {
                break;
            }
            ret = blk_co_pwrite_zeroes(s->target, offset, (int64_t)n << kConvertSectorBits,
                                       BDRV_REQ_MAY_UNMAP);
            break;
        }
        if (ret < 0) {
            return ret;
        }
        sector_num += n;
        nb -= n;
        buf += (size_t)n << kConvertSectorBits;
    }
    return 0;
}

int worker_index(ConvertState *s)
{
    Coroutine *self = qemu_coroutine_self();
    for (int i = 0; i < s->num_coroutines; i++) {
        if (s->co[i] == self) {
            return i;
        }
    }
    abort();
}

// In-order mode: after the run ending at s->wr_offs is written, let the
// worker holding the next run go on.  After an error every waiter is let go
// so it can see the error and stop.
//
// aio_co_enter from a coroutine only schedules the waiter; it runs later.
// The waker therefore takes the waiter off the wait list itself
// (wait_sector_num = -1) before scheduling it: otherwise a second wake
// before the waiter ran (the erroring worker wakes everyone, then every
// other worker leaving does the same) scheduled it twice, and the second
// entry hit a coroutine that had meanwhile finished ("entering a terminated
// coroutine") or was parked in an I/O request.
void coroutine_fn wake_writers(ConvertState *s)
{
    AioContext *ctx = qemu_get_aio_context();
    for (int i = 0; i < s->num_coroutines; i++) {
        if (s->co[i] && s->wait_sector_num[i] >= 0 &&
            (s->ret != -EINPROGRESS || s->wait_sector_num[i] == s->wr_offs)) {
            s->wait_sector_num[i] = -1;
            aio_co_enter(ctx, s->co[i]);
            if (s->ret == -EINPROGRESS) {
                break;
            }
        }
    }
}

// Sleeps as long as needed to keep the average rate under -r.
void coroutine_fn rate_limit(ConvertState *s, int64_t bytes)
{
    if (!s->rate_limit) {
        return;
    }
    s->rate_bytes += bytes;
    int64_t due_ns = s->rate_start_ns + s->rate_bytes * 1000000000 / s->rate_limit;
    int64_t now = qemu_clock_get_ns();
    if (due_ns > now) {
        qemu_co_sleep_ns(due_ns - now);
    }
}

// Takes the next run from the cursor: false when there is none (or on
// error).  Sets *sector_num, *n and *status.
bool coroutine_fn next_run(ConvertState *s, int64_t *sector_num, int *n, ConvertRun *status)
{
    CoMutexGuard g(&s->lock);
    if (s->ret != -EINPROGRESS || s->sector_num >= s->total_sectors) {
        return false;
    }
    int64_t len = iteration_sectors(s, s->sector_num);
    if (len < 0) {
        s->ret = (int)len;
        return false;
    }
    *sector_num = s->sector_num;
    *status = s->status;
    if (!s->min_sparse && s->status == ConvertRun::Zero) {
        len = std::min<int64_t>(len, s->buf_sectors);  // written from the buffer
    }
    *n = (int)len;
    // Others may look at the status of what follows while we copy this.
    s->sector_num += len;
    return true;
}

void coroutine_fn copy_run(ConvertState *s, int index, int64_t sector_num, int n, ConvertRun status,
                           uint8_t *buf)
{
    // Offloaded data runs are not read; when the offload fails (below)
    // the run is read and written after all.
    bool offload = s->copy_range && status == ConvertRun::Data;
retry:
    if (status == ConvertRun::Data && !offload) {
        int ret = co_read(s, sector_num, n, buf);
        if (ret < 0) {
            error_report("error while reading at byte %" PRId64 ": %s",
                         sector_num << kConvertSectorBits, strerror(-ret));
            s->ret = ret;
        }
    } else if (!s->min_sparse && status == ConvertRun::Zero) {
        status = ConvertRun::Data;
        memset(buf, 0, (size_t)n << kConvertSectorBits);
    }
    if (s->wr_in_order) {
        // Only wake_writers enters us here, and it clears our slot first.
        while (s->wr_offs != sector_num && s->ret == -EINPROGRESS) {
            s->wait_sector_num[index] = sector_num;
            qemu_coroutine_yield();
            assert(s->wait_sector_num[index] == -1);
        }
    }
    if (s->ret == -EINPROGRESS) {
        int ret;
        if (offload) {
            ret = co_copy_range(s, sector_num, n);
            if (ret < 0) {
                // -ENOTSUP: this run cannot be offloaded (compressed or
                // shared clusters, other file systems...).  Anything else:
                // stop offloading, like qemu-img; the read reports it.
                s->copy_range = s->copy_range && ret == -ENOTSUP;
                offload = false;
                goto retry;
            }
        } else {
            ret = co_write(s, sector_num, n, buf, status);
        }
        if (ret < 0) {
            error_report("error while writing at byte %" PRId64 ": %s",
                         sector_num << kConvertSectorBits, strerror(-ret));
            s->ret = ret;
        }
    }
    if (s->wr_in_order) {
        s->wr_offs = sector_num + n;
        wake_writers(s);
    }
}

void coroutine_fn convert_worker(void *opaque)
{
    ConvertState *s = static_cast<ConvertState *>(opaque);
    int index = worker_index(s);
    s->running_coroutines++;
    std::unique_ptr<uint8_t, void (*)(void *)> buf(
        (uint8_t *)qemu_memalign(4096, (size_t)s->buf_sectors << kConvertSectorBits), qemu_vfree);
    int64_t sector_num;
    int n;
    ConvertRun status;
    while (next_run(s, &sector_num, &n, &status)) {
        if (status == ConvertRun::Data || (!s->min_sparse && status == ConvertRun::Zero)) {
            s->allocated_done += n;
            img_progress_print(100.0f * (float)s->allocated_done / (float)s->allocated_sectors, 0);
        }
        copy_run(s, index, sector_num, n, status, buf.get());
        if (status == ConvertRun::Data) {
            rate_limit(s, (int64_t)n << kConvertSectorBits);
        }
    }
    s->co[index] = nullptr;
    s->running_coroutines--;
    if (!s->running_coroutines && s->ret == -EINPROGRESS) {
        s->ret = 0;
    }
    if (s->ret != -EINPROGRESS && s->wr_in_order) {
        wake_writers(s);
    }
}

// First pass: how many sectors will be read or written (the progress
// denominator).
int coroutine_fn count_work(ConvertState *s)
{
    for (int64_t sector_num = 0; sector_num < s->total_sectors;) {
        int64_t n = iteration_sectors(s, sector_num);
        if (n < 0) {
            return (int)n;
        }
        if (s->status == ConvertRun::Data || (!s->min_sparse && s->status == ConvertRun::Zero)) {
            s->allocated_sectors += n;
        }
        sector_num += n;
    }
    return 0;
}

}  // namespace

int img_convert_do_copy(ConvertState *s)
{
    if (s->compressed) {
        // Whole clusters per compressed write; several per request so the
        // format compresses them in parallel.
        if (s->cluster_sectors <= 0 || s->cluster_sectors > s->buf_sectors) {
            error_report("invalid cluster size");
            return -EINVAL;
        }
        s->buf_sectors =
            s->cluster_sectors * std::max(1, std::min(kConvertCompressClusters,
                                                      kConvertMaxBufSectors / s->cluster_sectors));
    }
    int ret = 0;
    img_co_run([&]() coroutine_fn { ret = count_work(s); });
    if (ret < 0) {
        return ret;
    }

    s->sector_num = 0;
    s->sector_next_status = 0;
    s->ret = -EINPROGRESS;
    s->rate_start_ns = qemu_clock_get_ns();
    AioContext *ctx = qemu_get_aio_context();
    for (int i = 0; i < s->num_coroutines; i++) {
        s->co[i] = qemu_coroutine_create(convert_worker, s);
        s->wait_sector_num[i] = -1;
        aio_co_enter(ctx, s->co[i]);
    }
    AIO_WAIT_WHILE(ctx, s->running_coroutines > 0);

    if (s->ret == 0 && s->compressed) {
        // A zero-length compressed write lets the format finish the image.
        img_co_run(
            [&]() coroutine_fn { s->ret = blk_co_pwrite_compressed(s->target, 0, 0, nullptr); });
    }
    return s->ret;
}

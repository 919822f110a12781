// qemu-img-lite convert: state shared by the command-line half
// (img-convert.cc: options, opening, target creation) and the copy engine
// (img-convert-copy.cc: block-status walk, coroutine workers, writes).
//
// Units are 512-byte sectors, as in qemu-img: progress figures, alignment
// of sparse detection and the -S granularity all follow from that.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "coroutine/coroutine.h"
#include "qemu-img-lite/img.h"
#include "qemu-img-lite/img-snapshot-param.h"

constexpr int kConvertSectorBits = 9;
constexpr int kConvertSectorSize = 512;
// -m upper bound and the largest copy buffer (16 MiB), as qemu-img.
constexpr int kConvertMaxCoroutines = 16;
constexpr int kConvertMaxBufSectors = 32768;
// Clusters per compressed write (compressed in parallel by the format).
constexpr int kConvertCompressClusters = 8;

// What the target gets for the current run of sectors.
enum class ConvertRun {
    Data,         // read the source, write what is not zero
    Zero,         // reads as zeroes: nothing or write-zeroes
    BackingFile,  // leave unallocated: the target's backing supplies it
};

struct ConvertState {
    // Sources, concatenated in order.
    std::vector<BlockBackend *> src;
    std::vector<int64_t> src_sectors;  // each rounded up to whole sectors
    std::vector<int64_t> src_bytes;    // exact lengths (the tail is zero-padded)
    std::vector<int> src_alignment;    // request alignment in sectors
    int64_t total_sectors = 0;

    BlockBackend *target = nullptr;
    bool target_has_backing = false;
    bool target_is_new = false;
    int64_t target_backing_sectors = -1;  // < 0: no backing or unknown
    bool has_zero_init = false;           // target reads as zeroes already
    bool compressed = false;
    bool wr_in_order = true;  // false with -W
    bool salvage = false;
    bool copy_range = false;        // offload data runs (copy_file_range)
    bool copy_from_source = false;  // data runs: read to find zeroes, offload the rest
    bool quiet = false;
    int min_sparse = 8;      // sectors; 0 = fully allocate (-S 0)
    int alignment = 1;       // sectors; sparse runs end aligned
    int buf_sectors = 4096;  // 2 MiB copy buffers
    int cluster_sectors = 0;
    int num_coroutines = 8;
    int64_t rate_limit = 0;  // bytes/s, 0 = unlimited (-r)

    // Block-status cursor (protected by lock).
    CoMutex lock;
    int64_t sector_num = 0;          // next sector to hand out
    int64_t sector_next_status = 0;  // end of the cached status run
    ConvertRun status = ConvertRun::Data;

    // Progress: sectors that take a read or a write.
    int64_t allocated_sectors = 0;
    int64_t allocated_done = 0;

    // Workers.
    Coroutine *co[kConvertMaxCoroutines] = {};
    int64_t wait_sector_num[kConvertMaxCoroutines] = {};
    int64_t wr_offs = 0;  // in-order mode: next sector to write
    int running_coroutines = 0;
    int ret = 0;  // -EINPROGRESS while copying
    int64_t rate_start_ns = 0;
    int64_t rate_bytes = 0;
};

// Runs the copy: counts the work, starts the workers and polls the main
// AioContext until they finish.  Returns 0 or a negative errno (already
// reported with qemu-img's message).
int img_convert_do_copy(ConvertState *s);

// img-convert-snapshot.cc; each returns false after reporting.
// After the sources are open: the first source reads the snapshot.
bool img_convert_load_snapshot(const ImgSnapshotParam &sn, ConvertState *s);
// --bitmaps, before the target is created: one source whose format has
// bitmaps, none of them inconsistent unless @skip_broken.
bool img_convert_check_source_bitmaps(const ConvertState *s, bool skip_broken);
// --bitmaps, after the copy: each persistent bitmap of @src (newest first,
// as QEMU) added to @dst with its granularity and state, and merged.
bool img_convert_copy_bitmaps(BlockDriverState *src, BlockDriverState *dst, bool skip_broken);
// --bitmaps, once the target is open: its format must have bitmaps.
bool img_convert_check_target_bitmaps(BlockBackend *target);

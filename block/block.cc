// Driver registry, option-value parsers and blkdebug event names.
#include <cstring>

#include "block/block-core-int.h"

static std::vector<BlockDriver *> &drivers()
{
    static std::vector<BlockDriver *> list;
    return list;
}

void bdrv_register(BlockDriver *drv)
{
    for (BlockDriver *d : drivers()) {
        if (d == drv) {
            return;
        }
    }
    drivers().push_back(drv);
}

int bdrv_driver_count(void) { return (int)drivers().size(); }
const BlockDriver *bdrv_driver_at(int i) { return drivers()[i]; }

const BlockDriver *bdrv_find_format(const char *name)
{
    for (BlockDriver *d : drivers()) {
        if (!strcmp(d->format_name, name) || (d->format_alias && !strcmp(d->format_alias, name))) {
            return d;
        }
    }
    return nullptr;
}

const BlockDriver *bdrv_find_protocol_name(const char *name)
{
    for (BlockDriver *d : drivers()) {
        if (d->protocol_name && !strcmp(d->protocol_name, name)) {
            return d;
        }
    }
    return nullptr;
}

// A local name: the driver claiming it as a device (host_device for
// /dev/sdX), else "file".
static const BlockDriver *probe_device(const char *filename)
{
    const BlockDriver *best = bdrv_find_protocol_name("file");
    int best_score = 0;
    for (BlockDriver *d : drivers()) {
        int score = d->bdrv_probe_device ? d->bdrv_probe_device(filename) : 0;
        if (score > best_score) {
            best_score = score;
            best = d;
        }
    }
    return best;
}

// "nbd://h/e" and "nbd+unix:///e?socket=s" name a protocol; anything without
// "<proto>:" (or with a slash before the colon) is a local file.
const BlockDriver *bdrv_find_protocol(const char *filename, Error **errp)
{
    const char *colon = strchr(filename, ':');
    const char *slash = strchr(filename, '/');
    if (!colon || (slash && slash < colon)) {
        return probe_device(filename);
    }
    std::string proto(filename, colon - filename);
    size_t plus = proto.find('+');
    if (plus != std::string::npos) {
        proto.resize(plus);
    }
    const BlockDriver *drv = bdrv_find_protocol_name(proto.c_str());
    if (!drv) {
        // QEMU treats an unknown prefix as part of a file name.
        drv = bdrv_find_protocol_name("file");
        if (!drv) {
            error_setg(errp, "Unknown protocol '%s'", proto.c_str());
        }
    }
    return drv;
}

const BlockDriver *bdrv_probe_all(const uint8_t *buf, int buf_size, const char *filename)
{
    const BlockDriver *best = nullptr;
    int best_score = 0;
    for (BlockDriver *d : drivers()) {
        if (!d->bdrv_probe) {
            continue;
        }
        int score = d->bdrv_probe(buf, buf_size, filename);
        if (score > best_score) {
            best_score = score;
            best = d;
        }
    }
    return best ? best : bdrv_find_format("raw");
}

bool bdrv_parse_cache_mode(const char *mode, int *flags, bool *writethrough)
{
    *flags &= ~(BDRV_O_NOCACHE | BDRV_O_NO_FLUSH);
    if (!strcmp(mode, "off") || !strcmp(mode, "none")) {
        *writethrough = false;
        *flags |= BDRV_O_NOCACHE;
    } else if (!strcmp(mode, "directsync")) {
        *writethrough = true;
        *flags |= BDRV_O_NOCACHE;
    } else if (!strcmp(mode, "writeback")) {
        *writethrough = false;
    } else if (!strcmp(mode, "unsafe")) {
        *writethrough = false;
        *flags |= BDRV_O_NO_FLUSH;
    } else if (!strcmp(mode, "writethrough")) {
        *writethrough = true;
    } else {
        return false;
    }
    return true;
}

bool bdrv_parse_aio(const char *mode, int *flags)
{
    if (!strcmp(mode, "threads")) {
        *flags &= ~(BDRV_O_NATIVE_AIO | BDRV_O_IO_URING);
    } else if (!strcmp(mode, "native")) {
        *flags = (*flags & ~BDRV_O_IO_URING) | BDRV_O_NATIVE_AIO;
    } else if (!strcmp(mode, "io_uring")) {
        *flags = (*flags & ~BDRV_O_NATIVE_AIO) | BDRV_O_IO_URING;
    } else {
        return false;
    }
    return true;
}

bool bdrv_parse_detect_zeroes(const char *mode, BlockdevDetectZeroes *out)
{
    if (!strcmp(mode, "off")) {
        *out = DETECT_ZEROES_OFF;
    } else if (!strcmp(mode, "on")) {
        *out = DETECT_ZEROES_ON;
    } else if (!strcmp(mode, "unmap")) {
        *out = DETECT_ZEROES_UNMAP;
    } else {
        return false;
    }
    return true;
}

static const char *const prealloc_names[] = {"off", "metadata", "falloc", "full"};

bool prealloc_mode_parse(const char *s, PreallocMode *out)
{
    for (int i = 0; i < 4; i++) {
        if (!strcmp(s, prealloc_names[i])) {
            *out = (PreallocMode)i;
            return true;
        }
    }
    return false;
}

const char *prealloc_mode_name(PreallocMode m) { return prealloc_names[(int)m]; }

const char *bdrv_perm_name(uint64_t perm_bit)
{
    switch (perm_bit) {
    case BLK_PERM_CONSISTENT_READ: return "consistent read";
    case BLK_PERM_WRITE: return "write";
    case BLK_PERM_WRITE_UNCHANGED: return "write unchanged";
    case BLK_PERM_RESIZE: return "resize";
    default: return "unknown";
    }
}

// As QEMU 7.2 spells them (qapi BlkdebugEvent).
const char *const blkdebug_event_names[BLKDBG__MAX] = {
    "l1_update",
    "l1_grow_alloc_table",
    "l1_grow_write_table",
    "l1_grow_activate_table",
    "l2_load",
    "l2_update",
    "l2_update_compressed",
    "l2_alloc_cow_read",
    "l2_alloc_write",
    "read_aio",
    "read_backing_aio",
    "read_compressed",
    "write_aio",
    "write_compressed",
    "vmstate_load",
    "vmstate_save",
    "cow_read",
    "cow_write",
    "reftable_load",
    "reftable_grow",
    "reftable_update",
    "refblock_load",
    "refblock_update",
    "refblock_update_part",
    "refblock_alloc",
    "refblock_alloc_hookup",
    "refblock_alloc_write",
    "refblock_alloc_write_blocks",
    "refblock_alloc_write_table",
    "refblock_alloc_switch_table",
    "cluster_alloc",
    "cluster_alloc_bytes",
    "cluster_free",
    "flush_to_os",
    "flush_to_disk",
    "pwritev_rmw_head",
    "pwritev_rmw_after_head",
    "pwritev_rmw_tail",
    "pwritev_rmw_after_tail",
    "pwritev",
    "pwritev_zero",
    "pwritev_done",
    "empty_image_prepare",
    "l1_shrink_write_table",
    "l1_shrink_free_l2_clusters",
    "cor_write",
    "cluster_alloc_space",
    "none",
};

bool blkdebug_event_from_name(const char *name, BlkdebugEvent *out)
{
    // Exact QAPI names, as QEMU 7.2 (the old dotted "l2_alloc.write" is
    // "invalid parameter value" there).
    for (int i = 0; i < BLKDBG__MAX; i++) {
        if (!strcmp(name, blkdebug_event_names[i])) {
            *out = (BlkdebugEvent)i;
            return true;
        }
    }
    return false;
}

void coroutine_fn bdrv_debug_event(BlockDriverState *bs, BlkdebugEvent event)
{
    // As QEMU: only the node the event is addressed to acts on it.  Walking
    // down would deliver a format's own request events (read_aio on the
    // root) to a blkdebug below it a second time.
    if (bs && bs->drv && bs->drv->bdrv_debug_event) {
        bs->drv->bdrv_debug_event(bs, event);
    }
}

// The child a breakpoint call is forwarded to: the file of a format or
// protocol-over-file node, else a filter's only child (QEMU's
// bdrv_primary_bs).
static BlockDriverState *debug_primary_bs(BlockDriverState *bs)
{
    if (bs->file) {
        return bs->file->bs;
    }
    if (bs->children.size() == 1) {
        return bs->children[0]->bs;
    }
    return nullptr;
}

// The first node from @bs down whose driver has breakpoint operations.
static BlockDriverState *debug_node(BlockDriverState *bs)
{
    while (bs && bs->drv && !bs->drv->bdrv_debug_breakpoint) {
        bs = debug_primary_bs(bs);
    }
    return bs && bs->drv ? bs : nullptr;
}

bool bdrv_debug_has_breakpoints(BlockDriverState *bs) { return debug_node(bs) != nullptr; }

int bdrv_debug_breakpoint(BlockDriverState *bs, const char *event, const char *tag)
{
    bs = debug_node(bs);
    return bs ? bs->drv->bdrv_debug_breakpoint(bs, event, tag) : -ENOTSUP;
}

int bdrv_debug_remove_breakpoint(BlockDriverState *bs, const char *tag)
{
    bs = debug_node(bs);
    return bs ? bs->drv->bdrv_debug_remove_breakpoint(bs, tag) : -ENOTSUP;
}

int bdrv_debug_resume(BlockDriverState *bs, const char *tag)
{
    bs = debug_node(bs);
    return bs ? bs->drv->bdrv_debug_resume(bs, tag) : -ENOTSUP;
}

bool bdrv_debug_is_suspended(BlockDriverState *bs, const char *tag)
{
    bs = debug_node(bs);
    return bs && bs->drv->bdrv_debug_is_suspended(bs, tag);
}

// blkdebug: a filter that injects errors into the requests passing through
// it when drivers above report events (BLKDBG_EVENT) matching its rules.
//
//   blkdebug:RULES.conf:IMAGE      (RULES may be empty: blkdebug::IMAGE)
//   driver=blkdebug,config=RULES.conf,image.filename=IMAGE[,align=N]
//   driver=blkdebug,...  IMAGE     (no prefix: the filename is the image)
// Limits: align, max-transfer, opt-/max-write-zero, opt-/max-discard.
//
// A format opened on "blkdebug:..." sits on top of this node, so the
// format's metadata events (l2_update, refblock_alloc, ...) arrive here and
// arm the rules; the next matching request through here then fails with the
// rule's errno, exactly where a real disk error would hit the driver.
#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "block/blkdebug/blkdebug-rules-int.h"
#include "block/block-int.h"
#include "util/aio.h"
#include "util/cutils.h"

namespace {

// A breakpoint set by bdrv_debug_breakpoint; it fires once.
struct BlkdebugBreakpoint {
    BlkdebugEvent event;
    std::string tag;
};

// A request parked at a breakpoint: its coroutine waits in
// blkdebug_debug_event until bdrv_debug_resume re-enters it.
struct BlkdebugSuspendedReq {
    Coroutine *co;
    std::string tag;
};

struct BDRVBlkdebugState {
    BlkdebugRules rules;
    std::vector<BlkdebugBreakpoint> breakpoints;  // newest last
    std::vector<BlkdebugSuspendedReq> suspended;  // newest last
    BdrvChild *image = nullptr;
    uint32_t align = 0;
    uint64_t max_transfer = 0;
    uint64_t opt_write_zero = 0, max_write_zero = 0;  // 0: the image's
    uint64_t opt_discard = 0, max_discard = 0;
};

BDRVBlkdebugState *state(BlockDriverState *bs) { return (BDRVBlkdebugState *)bs->opaque; }

// The errno a request must fail with (negative), or 0 to let it through.
int coroutine_fn rule_check(BlockDriverState *bs, BlkdebugIOType type, int64_t offset,
                            int64_t bytes)
{
    bool immediately = false;
    int err = state(bs)->rules.check(type, offset, bytes, &immediately);
    if (err && !immediately) {
        // A real failing disk answers later, from the event loop: give the
        // other requests the same chance to run first.
        aio_co_schedule(qemu_get_current_aio_context(), qemu_coroutine_self());
        qemu_coroutine_yield();
    }
    return -err;
}

bool take_size(QDict *o, const char *key, uint64_t *out, Error **errp)
{
    const char *v = o->get(key);
    if (!v) {
        return true;
    }
    if (qemu_strtosz(v, out) < 0) {
        error_setg(errp, "Parameter '%s' expects a size", key);
        return false;
    }
    o->del(key);
    return true;
}

// The size options, parsed before the image is opened (QEMU's runtime opts).
bool take_limits(BDRVBlkdebugState *s, QDict *o, Error **errp)
{
    uint64_t align = 0;
    if (!take_size(o, "align", &align, errp) ||
        !take_size(o, "max-transfer", &s->max_transfer, errp) ||
        !take_size(o, "opt-write-zero", &s->opt_write_zero, errp) ||
        !take_size(o, "max-write-zero", &s->max_write_zero, errp) ||
        !take_size(o, "opt-discard", &s->opt_discard, errp) ||
        !take_size(o, "max-discard", &s->max_discard, errp)) {
        return false;
    }
    if (align && (align >= INT32_MAX || (align & (align - 1)))) {
        error_setg(errp, "Cannot meet constraints with align %llu", (unsigned long long)align);
        return false;
    }
    s->align = (uint32_t)align;
    return true;
}

// As QEMU 7.2's blkdebug_open: each limit must be a multiple of the
// request alignment (ours or the image's, whichever is larger), a maximum
// also of its optimum, and below INT_MAX.
bool check_limits(BDRVBlkdebugState *s, uint32_t image_align, Error **errp)
{
    uint64_t align = std::max<uint64_t>(s->align, image_align);
    struct {
        const char *name;
        uint64_t value, multiple_of;
    } limits[] = {
        {"max-transfer", s->max_transfer, align},
        {"opt-write-zero", s->opt_write_zero, align},
        {"max-write-zero", s->max_write_zero, std::max(s->opt_write_zero, align)},
        {"opt-discard", s->opt_discard, align},
        {"max-discard", s->max_discard, std::max(s->opt_discard, align)},
    };
    for (const auto &l : limits) {
        if (l.value && (l.value >= INT32_MAX || l.value % l.multiple_of)) {
            error_setg(errp, "Cannot meet constraints with %s %llu", l.name,
                       (unsigned long long)l.value);
            return false;
        }
    }
    return true;
}

}  // namespace

static void blkdebug_parse_filename(const char *filename, QDict *o, Error **errp)
{
    if (strncmp(filename, "blkdebug:", 9)) {
        // As QEMU: without the prefix the rules come from the options and
        // the filename is the image.
        o->set("x-image", filename);
        return;
    }
    filename += 9;
    const char *colon = strchr(filename, ':');
    if (!colon) {
        error_setg(errp, "blkdebug requires both config file and image path");
        return;
    }
    if (colon != filename) {
        o->set("config", std::string(filename, colon - filename));
    }
    o->set("x-image", colon + 1);
}

// Rules given as options ("inject-error.0.event=...", what a json: tree's
// "inject-error": [{...}] flattens to), after the config file's, as QEMU.
static bool blkdebug_take_rule_options(QDict *o, BlkdebugRules *rules, Error **errp)
{
    for (const char *group : {"inject-error", "set-state"}) {
        for (int i = 0;; i++) {
            QDict sub = o->extract_subdict(std::string(group) + "." + std::to_string(i));
            if (sub.entries.empty()) {
                break;
            }
            std::vector<std::pair<std::string, std::string>> kv(sub.entries.begin(),
                                                                sub.entries.end());
            if (!blkdebug_add_rule(group, kv, "", rules, errp)) {
                return false;
            }
        }
    }
    return true;
}

static int coroutine_fn blkdebug_co_open(BlockDriverState *bs, QDict *o, int flags, Error **errp)
{
    auto *s = new BDRVBlkdebugState;
    bs->opaque = s;
    int ret = -EINVAL;
    std::string config = o->get("config") ? o->get("config") : "";
    // As QEMU's blkdebug_refresh_filename: only config and the image can
    // be said as "blkdebug:CONFIG:IMAGE".
    bool plain_name = true;
    for (const auto &kv : o->entries) {
        const std::string &k = kv.first;
        plain_name &= k == "config" || k == "x-image" || k == "image" || k.rfind("image.", 0) == 0;
    }
    if (const char *conf = o->get("config")) {
        if (!blkdebug_read_config(conf, &s->rules, errp)) {
            goto fail;
        }
        o->del("config");
    }
    if (!blkdebug_take_rule_options(o, &s->rules, errp) || !take_limits(s, o, errp)) {
        goto fail;
    }
    {
        std::string image = o->get("x-image") ? o->get("x-image") : "";
        o->del("x-image");
        s->image = bdrv_co_open_child(image.empty() ? nullptr : image.c_str(), o, "image", bs,
                                      false, flags, errp);
        if (!s->image) {
            goto fail;
        }
    }
    if (!check_limits(s, s->image->bs->bl.request_alignment, errp)) {
        goto fail;
    }
    // As QEMU, the "none" event fires once when the node opens: its
    // inject-error rules are armed from the start, its set-state rules
    // change the initial state.
    s->rules.event(BLKDBG_NONE);
    bs->supported_write_flags = BDRV_REQ_FUA & s->image->bs->supported_write_flags;
    bs->supported_zero_flags =
        (BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK) & s->image->bs->supported_zero_flags;
    bs->total_bytes = s->image->bs->total_bytes;
    if (bs->filename.empty() && plain_name && !s->image->bs->filename.empty()) {
        bs->filename = "blkdebug:" + config + ":" + s->image->bs->filename;
    }
    if (!o->entries.empty()) {
        error_setg(errp, "Block protocol 'blkdebug' doesn't support the option '%s'",
                   o->entries.begin()->first.c_str());
        goto fail;
    }
    return 0;
fail:
    if (s->image) {
        bdrv_co_unref_child(bs, s->image);
    }
    delete s;
    bs->opaque = nullptr;
    return ret;
}

static void coroutine_fn blkdebug_co_close(BlockDriverState *bs)
{
    delete state(bs);
    bs->opaque = nullptr;
}

static void blkdebug_refresh_limits(BlockDriverState *bs, Error **errp)
{
    (void)errp;
    BDRVBlkdebugState *s = state(bs);
    bs->bl = s->image->bs->bl;
    if (s->align) {
        bs->bl.request_alignment = std::max(bs->bl.request_alignment, s->align);
    }
    if (s->max_transfer) {
        bs->bl.max_transfer = s->max_transfer;
    }
    if (s->opt_write_zero) {
        bs->bl.pwrite_zeroes_alignment = (uint32_t)s->opt_write_zero;
    }
    if (s->max_write_zero) {
        bs->bl.max_pwrite_zeroes = s->max_write_zero;
    }
    if (s->opt_discard) {
        bs->bl.pdiscard_alignment = (uint32_t)s->opt_discard;
    }
    if (s->max_discard) {
        bs->bl.max_pdiscard = s->max_discard;
    }
}

static int coroutine_fn blkdebug_co_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                           QEMUIOVector *qiov, size_t qoff, int flags)
{
    int ret = rule_check(bs, BLKDEBUG_IO_READ, offset, bytes);
    return ret ? ret : bdrv_co_preadv_part(state(bs)->image, offset, bytes, qiov, qoff, flags);
}

static int coroutine_fn blkdebug_co_pwritev(BlockDriverState *bs, int64_t offset, int64_t bytes,
                                            QEMUIOVector *qiov, size_t qoff, int flags)
{
    int ret = rule_check(bs, BLKDEBUG_IO_WRITE, offset, bytes);
    return ret ? ret : bdrv_co_pwritev_part(state(bs)->image, offset, bytes, qiov, qoff, flags);
}

// As QEMU: zero writes shorter than the zeroes alignment (discards shorter
// than a request alignment) are refused, so the block layer's fallback for
// unaligned parts gets tested.
static int coroutine_fn blkdebug_co_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                                                  int64_t bytes, int flags)
{
    if (bytes < std::max<int64_t>(bs->bl.request_alignment, bs->bl.pwrite_zeroes_alignment)) {
        return -ENOTSUP;
    }
    int ret = rule_check(bs, BLKDEBUG_IO_WRITE_ZEROES, offset, bytes);
    return ret ? ret : bdrv_co_pwrite_zeroes(state(bs)->image, offset, bytes, flags);
}

static int coroutine_fn blkdebug_co_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    if (bytes < (int64_t)bs->bl.request_alignment) {
        return -ENOTSUP;
    }
    int ret = rule_check(bs, BLKDEBUG_IO_DISCARD, offset, bytes);
    return ret ? ret : bdrv_co_pdiscard(state(bs)->image, offset, bytes);
}

// The generic flush then flushes the image child: only the failure is ours.
static int coroutine_fn blkdebug_co_flush_to_disk(BlockDriverState *bs)
{
    return rule_check(bs, BLKDEBUG_IO_FLUSH, 0, 0);
}

static int coroutine_fn blkdebug_co_block_status(BlockDriverState *bs, bool want_zero,
                                                 int64_t offset, int64_t bytes, int64_t *pnum,
                                                 int64_t *map, BlockDriverState **file)
{
    (void)want_zero;
    int ret = rule_check(bs, BLKDEBUG_IO_BLOCK_STATUS, offset, bytes);
    if (ret) {
        return ret;
    }
    *pnum = bytes;
    *map = offset;
    *file = state(bs)->image->bs;
    return BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
}

static BlockDriverState *blkdebug_filtered_bs(BlockDriverState *bs)
{
    return state(bs)->image ? state(bs)->image->bs : nullptr;
}

static int64_t coroutine_fn blkdebug_co_getlength(BlockDriverState *bs)
{
    return bdrv_co_getlength(state(bs)->image->bs);
}

static int64_t coroutine_fn blkdebug_co_get_allocated_file_size(BlockDriverState *bs)
{
    return bdrv_co_get_allocated_file_size(state(bs)->image->bs);
}

static int coroutine_fn blkdebug_co_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                                             PreallocMode prealloc, Error **errp)
{
    return bdrv_co_truncate(state(bs)->image, offset, exact, prealloc, errp);
}

// As QEMU: the newest breakpoint on @event fires first; each one that fires
// is removed and suspends the request once more, so a request stopped by two
// breakpoints needs two resumes.
static void coroutine_fn blkdebug_debug_event(BlockDriverState *bs, BlkdebugEvent event)
{
    BDRVBlkdebugState *s = state(bs);
    s->rules.event(event);
    int suspends = 0;
    for (size_t i = s->breakpoints.size(); i-- > 0;) {
        if (s->breakpoints[i].event != event) {
            continue;
        }
        assert(qemu_in_coroutine());
        s->suspended.push_back({qemu_coroutine_self(), s->breakpoints[i].tag});
        printf("blkdebug: Suspended request '%s'\n", s->breakpoints[i].tag.c_str());
        s->breakpoints.erase(s->breakpoints.begin() + (ptrdiff_t)i);
        suspends++;
    }
    for (; suspends > 0; suspends--) {
        qemu_coroutine_yield();
    }
}

static int blkdebug_debug_breakpoint(BlockDriverState *bs, const char *event, const char *tag)
{
    // Exact QAPI names only (no old dotted spelling), as QEMU's lookup.
    for (int i = 0; i < BLKDBG__MAX; i++) {
        if (!strcmp(event, blkdebug_event_names[i])) {
            state(bs)->breakpoints.push_back({(BlkdebugEvent)i, tag});
            return 0;
        }
    }
    return -ENOENT;
}

// Re-enters the newest request suspended under @tag (every one with @all).
static int resume_by_tag(BDRVBlkdebugState *s, const char *tag, bool all)
{
    int ret = -ENOENT;
    for (size_t i = s->suspended.size(); i-- > 0;) {
        if (s->suspended[i].tag != tag) {
            continue;
        }
        Coroutine *co = s->suspended[i].co;
        printf("blkdebug: Resuming request '%s'\n", tag);
        s->suspended.erase(s->suspended.begin() + (ptrdiff_t)i);
        qemu_coroutine_enter(co);
        ret = 0;
        if (!all) {
            break;
        }
        i = s->suspended.size();  // the request ran: the list may have changed
    }
    return ret;
}

static int blkdebug_debug_resume(BlockDriverState *bs, const char *tag)
{
    return resume_by_tag(state(bs), tag, false);
}

// Removes the breakpoints tagged @tag and lets the requests they stopped go
// on.  As QEMU 7.2, only a breakpoint still armed counts as found.
static int blkdebug_debug_remove_breakpoint(BlockDriverState *bs, const char *tag)
{
    BDRVBlkdebugState *s = state(bs);
    auto &bps = s->breakpoints;
    size_t before = bps.size();
    std::erase_if(bps, [tag](const BlkdebugBreakpoint &b) { return b.tag == tag; });
    int ret = bps.size() < before ? 0 : -ENOENT;
    resume_by_tag(s, tag, true);
    return ret;
}

static bool blkdebug_debug_is_suspended(BlockDriverState *bs, const char *tag)
{
    for (const BlkdebugSuspendedReq &r : state(bs)->suspended) {
        if (r.tag == tag) {
            return true;
        }
    }
    return false;
}

static int blkdebug_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    (void)bs;
    *bdi = BlockDriverInfo{};
    return 0;
}

// A filter: the image sees exactly what our parents do and share.
static void blkdebug_child_perm(BlockDriverState *bs, BdrvChild *child, uint64_t perm,
                                uint64_t shared, uint64_t *nperm, uint64_t *nshared)
{
    (void)child;
    *nperm = perm;
    *nshared = bs->force_share ? BLK_PERM_ALL : shared;
}

BlockDriver bdrv_blkdebug = [] {
    BlockDriver d{};
    d.format_name = "blkdebug";
    d.protocol_name = "blkdebug";
    d.bdrv_parse_filename = blkdebug_parse_filename;
    d.bdrv_co_open = blkdebug_co_open;
    d.bdrv_co_close = blkdebug_co_close;
    d.bdrv_refresh_limits = blkdebug_refresh_limits;
    d.bdrv_co_preadv = blkdebug_co_preadv;
    d.bdrv_co_pwritev = blkdebug_co_pwritev;
    d.bdrv_co_pwrite_zeroes = blkdebug_co_pwrite_zeroes;
    d.bdrv_co_pdiscard = blkdebug_co_pdiscard;
    d.bdrv_co_flush_to_disk = blkdebug_co_flush_to_disk;
    d.bdrv_co_block_status = blkdebug_co_block_status;
    d.bdrv_co_getlength = blkdebug_co_getlength;
    d.bdrv_filtered_bs = blkdebug_filtered_bs;
    d.bdrv_co_get_allocated_file_size = blkdebug_co_get_allocated_file_size;
    d.bdrv_co_truncate = blkdebug_co_truncate;
    d.bdrv_debug_event = blkdebug_debug_event;
    d.bdrv_debug_breakpoint = blkdebug_debug_breakpoint;
    d.bdrv_debug_remove_breakpoint = blkdebug_debug_remove_breakpoint;
    d.bdrv_debug_resume = blkdebug_debug_resume;
    d.bdrv_debug_is_suspended = blkdebug_debug_is_suspended;
    d.bdrv_get_info = blkdebug_get_info;
    d.bdrv_child_perm = blkdebug_child_perm;
    return d;
}();

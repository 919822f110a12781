// qcow2's runtime options (QEMU 7.2's qcow2_update_options_prepare): cache
// sizes, lazy refcounts, discard passthrough, overlap checks, the cache
// clean interval.  Parsed and validated as a whole, with QEMU's messages and
// in QEMU's order, at open and at reopen; nothing changes unless all are
// valid.  Options that have no effect here (overlap-check details,
// l2-cache-entry-size: every L2 cache entry is a whole table,
// cache-clean-interval) are validated and kept.
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "block/qcow2/qcow2-int.h"

namespace {

const char *const kOverlapBits[] = {
    "main-header",    "active-l1",   "active-l2",   "refcount-table",   "refcount-block",
    "snapshot-table", "inactive-l1", "inactive-l2", "bitmap-directory",
};
const char *const kBoolOpts[] = {
    "lazy-refcounts",
    "pass-discard-request",
    "pass-discard-snapshot",
    "pass-discard-other",
};
const char *const kSizeOpts[] = {
    "cache-size",
    "l2-cache-size",
    "l2-cache-entry-size",
    "refcount-cache-size",
};

bool is_runtime_key(const std::string &k)
{
    for (const char *n : kBoolOpts)
        if (k == n) return true;
    for (const char *n : kSizeOpts)
        if (k == n) return true;
    return k == "cache-clean-interval" || k == "overlap-check" || k.rfind("overlap-check.", 0) == 0;
}

bool get_bool(const QDict &o, const char *k, bool def, bool *out, Error **errp)
{
    const char *v = o.get(k);
    *out = def;
    if (v && !keyval_parse_bool(v, out)) {
        error_setg(errp, "Parameter '%s' expects 'on' or 'off'", k);
        return false;
    }
    return true;
}

bool get_size(const QDict &o, const char *k, uint64_t def, uint64_t *out, Error **errp)
{
    const char *v = o.get(k);
    *out = def;
    if (v && qemu_strtosz(v, out) < 0) {
        error_setg(errp, "Parameter '%s' expects a non-negative number below 2^64", k);
        return false;
    }
    return true;
}

// Every value parses as its type (QEMU's qemu_opts_absorb_qdict).
bool check_types(const QDict &o, Error **errp)
{
    bool b;
    uint64_t n;
    for (const char *k : kBoolOpts)
        if (!get_bool(o, k, false, &b, errp)) return false;
    for (const char *k : kSizeOpts)
        if (!get_size(o, k, 0, &n, errp)) return false;
    for (const char *k : kOverlapBits) {
        std::string key = std::string("overlap-check.") + k;
        if (!get_bool(o, key.c_str(), false, &b, errp)) return false;
    }
    if (const char *v = o.get("cache-clean-interval")) {
        int64_t i;
        if (qemu_strtoi64(v, &i) < 0) {
            error_setg(errp, "Parameter 'cache-clean-interval' expects a number");
            return false;
        }
    }
    return true;
}

// QEMU's read_cache_sizes, in bytes.
bool cache_sizes(BlockDriverState *bs, const QDict &o, uint64_t *l2, uint64_t *entry, uint64_t *rb,
                 Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t cs = s->cluster_size, combined, l2_max;
    uint64_t min_rb = 4 * cs;
    uint64_t max_l2 = (s->g.size_to_clusters(s->hdr.size) * 8 + cs - 1) / cs * cs;
    bool combined_set = o.has("cache-size"), l2_set = o.has("l2-cache-size");
    bool rb_set = o.has("refcount-cache-size"), entry_set = o.has("l2-cache-entry-size");
    get_size(o, "cache-size", 0, &combined, nullptr);
    get_size(o, "l2-cache-size", 32 * 1024 * 1024, &l2_max, nullptr);
    get_size(o, "refcount-cache-size", 0, rb, nullptr);
    get_size(o, "l2-cache-entry-size", cs, entry, nullptr);
    *l2 = max_l2 < l2_max ? max_l2 : l2_max;
    if (combined_set) {
        if (l2_set && rb_set) {
            error_setg(errp, "cache-size, l2-cache-size and refcount-cache-size may not be "
                             "set at the same time");
            return false;
        } else if (l2_set && l2_max > combined) {
            error_setg(errp, "l2-cache-size may not exceed cache-size");
            return false;
        } else if (*rb > combined) {
            error_setg(errp, "refcount-cache-size may not exceed cache-size");
            return false;
        }
        if (l2_set) {
            *rb = combined - *l2;
        } else if (rb_set) {
            *l2 = combined - *rb;
        } else if (combined >= max_l2 + min_rb) {
            *l2 = max_l2;
            *rb = combined - *l2;
        } else {
            *rb = combined < min_rb ? combined : min_rb;
            *l2 = combined - *rb;
        }
    }
    // Our default refcount cache: max(256 KiB, 4 clusters).
    if (!combined_set && !rb_set) *rb = min_rb > 256 * 1024 ? min_rb : 256 * 1024;
    if (*l2 < max_l2 && !entry_set) *entry = cs < 4096 ? cs : 4096;
    if (*entry < 512 || *entry > cs || (*entry & (*entry - 1))) {
        error_setg(errp,
                   "L2 cache entry size must be a power of two between 512 and the "
                   "cluster size (%" PRIu64 ")",
                   cs);
        return false;
    }
    return true;
}

bool check_overlap(const QDict &o, Error **errp)
{
    const char *ol = o.get("overlap-check"), *tmpl = o.get("overlap-check.template");
    if (ol && tmpl && strcmp(ol, tmpl)) {
        error_setg(errp,
                   "Conflicting values for qcow2 options 'overlap-check' ('%s') and "
                   "'overlap-check.template' ('%s')",
                   ol, tmpl);
        return false;
    }
    if (!ol) ol = tmpl ? tmpl : "cached";
    for (const char *v : {"none", "constant", "cached", "all"}) {
        if (!strcmp(ol, v)) return true;
    }
    error_setg(errp,
               "Unsupported value '%s' for qcow2 option 'overlap-check'. Allowed are "
               "any of the following: none, constant, cached, all",
               ol);
    return false;
}

}  // namespace

QDict qcow2_take_runtime_opts(QDict *options)
{
    QDict out;
    for (auto it = options->entries.begin(); it != options->entries.end();) {
        if (is_runtime_key(it->first)) {
            out.set(it->first, it->second);
            it = options->entries.erase(it);
        } else {
            ++it;
        }
    }
    return out;
}

void qcow2_join_runtime_opts(QDict *opts, const QDict &old)
{
    QDict o = old;
    bool new_overlap = opts->has("overlap-check") || opts->has("overlap-check.template");
    bool new_total = opts->has("cache-size");
    // A new overlap template replaces every old overlap option.
    if (new_overlap) {
        for (auto it = o.entries.begin(); it != o.entries.end();) {
            if (it->first == "overlap-check" || it->first.rfind("overlap-check.", 0) == 0) {
                it = o.entries.erase(it);
            } else {
                ++it;
            }
        }
    }
    // A new total cache size replaces the old partial sizes.
    if (new_total) {
        o.del("l2-cache-size");
        o.del("refcount-cache-size");
    }
    for (const auto &[k, v] : o.entries) {
        if (!opts->has(k)) opts->set(k, v);
    }
    // An old total size gives way to new partial sizes (all three new: the
    // error is wanted).
    bool any =
        opts->has("cache-size") || opts->has("l2-cache-size") || opts->has("refcount-cache-size");
    if (any && !new_total) opts->del("cache-size");
}

int qcow2_parse_runtime_opts(BlockDriverState *bs, const QDict &o, int flags, Qcow2RuntimeOpts *r,
                             Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (!check_types(o, errp)) return -EINVAL;
    uint64_t l2, entry, rb;
    if (!cache_sizes(bs, o, &l2, &entry, &rb, errp)) return -EINVAL;
    // Our cache holds whole tables: the entry size only counts the entries.
    uint64_t l2_entries = l2 / entry;
    if (l2_entries < 2) l2_entries = 2;
    if (l2_entries > INT32_MAX) {
        error_setg(errp, "L2 cache size too big");
        return -EINVAL;
    }
    uint64_t l2_tables = l2 / s->cluster_size;
    r->l2_tables = (int)(l2_tables < 2 ? 2 : l2_tables);
    rb /= s->cluster_size;
    if (rb < 4) rb = 4;
    if (rb > INT32_MAX) {
        error_setg(errp, "Refcount cache size too big");
        return -EINVAL;
    }
    r->rb_tables = (int)rb;
    int64_t interval = 600;
    if (const char *v = o.get("cache-clean-interval")) qemu_strtoi64(v, &interval);
    if ((uint64_t)interval > UINT32_MAX) {
        error_setg(errp, "Cache clean interval too big");
        return -EINVAL;
    }
    get_bool(o, "lazy-refcounts", s->hdr.compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS,
             &r->lazy_refcounts, nullptr);
    if (r->lazy_refcounts && s->hdr.version < 3) {
        error_setg(errp, "Lazy refcounts require a qcow2 image with at least qemu 1.1 "
                         "compatibility level");
        return -EINVAL;
    }
    if (!check_overlap(o, errp)) return -EINVAL;
    get_bool(o, "pass-discard-request", flags & BDRV_O_UNMAP, &r->discard_request, nullptr);
    get_bool(o, "pass-discard-snapshot", true, &r->discard_snapshot, nullptr);
    get_bool(o, "pass-discard-other", false, &r->discard_other, nullptr);
    return 0;
}

void qcow2_apply_discard_opts(BDRVQcow2State *s, const Qcow2RuntimeOpts &r)
{
    s->discard_passthrough[(int)Qcow2DiscardType::Never] = false;
    s->discard_passthrough[(int)Qcow2DiscardType::Always] = true;
    s->discard_passthrough[(int)Qcow2DiscardType::Request] = r.discard_request;
    s->discard_passthrough[(int)Qcow2DiscardType::Snapshot] = r.discard_snapshot;
    s->discard_passthrough[(int)Qcow2DiscardType::Other] = r.discard_other;
}

int coroutine_fn qcow2_co_reopen_opts(BlockDriverState *bs, QDict *opts, bool apply, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    QDict o = qcow2_take_runtime_opts(opts);
    if (o.entries.empty()) return 0;
    qcow2_join_runtime_opts(&o, s->runtime_opts);
    Qcow2RuntimeOpts r;
    int ret = qcow2_parse_runtime_opts(bs, o, bs->open_flags, &r, errp);
    if (ret < 0 || !apply) return ret;
    CoMutexGuard guard(&s->lock);
    if (s->lazy_refcounts && !r.lazy_refcounts && !bs->read_only) {
        ret = qcow2_mark_clean(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to disable lazy refcounts");
            return ret;
        }
    }
    if (r.l2_tables != qcow2_cache_size(s->l2_cache) ||
        r.rb_tables != qcow2_cache_size(s->refblock_cache)) {
        ret = qcow2_cache_flush(bs, s->l2_cache);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to flush the L2 table cache");
            return ret;
        }
        // Pending lazy refcounts go to the new cache's disk copy first.
        ret = qcow2_cache_flush(bs, s->refblock_cache);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to flush the refcount block cache");
            return ret;
        }
        qcow2_cache_destroy(s->l2_cache);
        qcow2_cache_destroy(s->refblock_cache);
        s->l2_cache = qcow2_cache_create(bs, r.l2_tables, true);
        s->refblock_cache = qcow2_cache_create(bs, r.rb_tables, false);
        qcow2_cache_set_dependency(s->l2_cache, s->refblock_cache);
    }
    s->lazy_refcounts = r.lazy_refcounts;
    qcow2_apply_discard_opts(s, r);
    s->runtime_opts = o;
    return 0;
}

// qemu-img amend for qcow2 (QEMU 7.2's qcow2_amend_options): compat
// upgrade (0.10 -> 1.1) and downgrade (zero clusters expanded into data or
// unallocated clusters, in the active tree and in every snapshot's),
// lazy_refcounts on/off, size, and QEMU's refusals and messages for what
// cannot change (backing file, data file); the refcount width is rewritten
// in qcow2-refcount-order.cc.
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "block/qcow2/qcow2-int.h"

namespace {

// The options qemu-img amend accepts for qcow2, in QEMU's order
// (qcow2_amend_opts: the LUKS ones first, then QCOW_COMMON_OPTIONS).
const CreateOptDesc kAmendOpts[] = {
    {"encrypt.state", CreateOptType::String,
     "Select new state of affected keyslots (active/inactive)", nullptr},
    {"encrypt.keyslot", CreateOptType::Number, "Select a single keyslot to modify explicitly",
     nullptr},
    {"encrypt.old-secret", CreateOptType::String, "Select all keyslots that match this password",
     nullptr},
    {"encrypt.new-secret", CreateOptType::String,
     "New secret to set in the matching keyslots. "
     "Empty string to erase",
     nullptr},
    {"encrypt.iter-time", CreateOptType::Number, "Time to spend in PBKDF in milliseconds", nullptr},
    {"size", CreateOptType::Size, "Virtual disk size", nullptr},
    {"compat", CreateOptType::String, "Compatibility level (v2 [0.10] or v3 [1.1])", nullptr},
    {"backing_file", CreateOptType::String, "File name of a base image", nullptr},
    {"backing_fmt", CreateOptType::String, "Image format of the base image", nullptr},
    {"data_file", CreateOptType::String, "File name of an external data file", nullptr},
    {"data_file_raw", CreateOptType::Bool, "The external data file must stay valid as a raw image",
     nullptr},
    {"lazy_refcounts", CreateOptType::Bool, "Postpone refcount updates", "off"},
    {"refcount_bits", CreateOptType::Number, "Width of a reference count entry in bits", "16"},
    {nullptr, CreateOptType::String, nullptr, nullptr},
};

struct ExpandProgress {
    BdrvAmendStatusCB *cb;
    void *opaque;
    int64_t visited = 0, total = 0;
};

// QEMU's expand_zero_clusters_in_l1: every zero cluster reached from @l1
// becomes unallocated (plain zero, no backing file) or a data cluster of
// zeroes (a new one for plain zero; the preallocated one otherwise).  Active
// tables go through the cache, a snapshot's are read and written directly.
int coroutine_fn expand_l1(BlockDriverState *bs, const std::vector<uint64_t> &l1, bool active,
                           ExpandProgress *pr)
{
    BDRVQcow2State *s = qcow2_state(bs);
    uint64_t cs = s->cluster_size, n = cs / 8;
    std::vector<uint8_t> buf(active ? 0 : cs);
    for (size_t i = 0; i < l1.size(); i++) {
        uint64_t l2_off = l1[i] & L1E_OFFSET_MASK;
        if (l2_off) {
            if (l2_off & (cs - 1)) {
                return qcow2_signal_corruption(
                    bs, "L2 table offset %#" PRIx64 " unaligned (L1 index: %#zx)", l2_off, i);
            }
            uint64_t l2_rc;
            int ret = qcow2_get_refcount(bs, l2_off >> s->g.cluster_bits, &l2_rc);
            if (ret < 0) return ret;
            void *table = nullptr;
            if (active) {
                ret = qcow2_cache_get(bs, s->l2_cache, l2_off, &table);
            } else {
                table = buf.data();
                ret = bdrv_co_pread(bs->file, l2_off, cs, table, 0);
            }
            if (ret < 0) return ret;
            uint64_t *t = (uint64_t *)table;
            bool dirty = false;
            for (uint64_t j = 0; j < n && ret == 0; j++) {
                uint64_t e = be64_load(&t[j]);
                Qcow2ClusterType type = qcow2_l2_entry_type(e, 3);
                if (type != Qcow2ClusterType::ZeroPlain && type != Qcow2ClusterType::ZeroAlloc) {
                    continue;
                }
                uint64_t off = e & L2E_OFFSET_MASK;
                if (type == Qcow2ClusterType::ZeroPlain) {
                    if (!bs->backing) {
                        be64_store(&t[j], 0);
                        dirty = true;
                        continue;
                    }
                    int64_t a = qcow2_alloc_clusters(bs, 1);
                    if (a < 0) {
                        ret = (int)a;
                        break;
                    }
                    off = (uint64_t)a;
                    if (l2_rc > 1) {
                        // A shared table: the new cluster is shared as much.
                        ret = qcow2_update_refcount(bs, off, cs, (int64_t)l2_rc - 1,
                                                    Qcow2DiscardType::Other);
                        if (ret < 0) {
                            qcow2_update_refcount(bs, off, cs, -1, Qcow2DiscardType::Other);
                            break;
                        }
                    }
                }
                if (off & (cs - 1)) {
                    ret = qcow2_signal_corruption(bs,
                                                  "Cluster allocation offset %#" PRIx64
                                                  " unaligned (L2 offset: %#" PRIx64
                                                  ", L2 index: %#" PRIx64 ")",
                                                  off, l2_off, j);
                    break;
                }
                const char *what = qcow2_metadata_overlap(s, off, cs, true);
                if (what) {
                    ret = qcow2_signal_corruption(bs,
                                                  "Preventing invalid write on metadata "
                                                  "(overlaps with %s)",
                                                  what);
                    break;
                }
                ret = bdrv_co_pwrite_zeroes(bs->file, off, cs, 0);
                if (ret < 0) {
                    if (type == Qcow2ClusterType::ZeroPlain) {
                        qcow2_update_refcount(bs, off, cs, -1, Qcow2DiscardType::Always);
                    }
                    break;
                }
                be64_store(&t[j], l2_rc == 1 ? off | QCOW_OFLAG_COPIED : off);
                dirty = true;
            }
            if (active) {
                if (dirty) qcow2_cache_mark_dirty(s->l2_cache, table);
                qcow2_cache_put(s->l2_cache, &table);
            } else if (ret == 0 && dirty) {
                const char *what = qcow2_metadata_overlap(s, l2_off, cs, false);
                if (what) {
                    return qcow2_signal_corruption(bs,
                                                   "Preventing invalid write on metadata "
                                                   "(overlaps with %s)",
                                                   what);
                }
                ret = bdrv_co_pwrite(bs->file, l2_off, cs, table, 0);
            }
            if (ret < 0) return ret;
        }
        pr->visited++;
        if (pr->cb) pr->cb(bs, pr->visited, pr->total, pr->opaque);
    }
    return 0;
}

// QEMU's qcow2_expand_zero_clusters: the active tree, then (after the L2
// cache is written back and emptied: snapshot tables may be active ones)
// every snapshot's.
int coroutine_fn expand_zero_clusters(BlockDriverState *bs, BdrvAmendStatusCB *cb, void *opaque)
{
    BDRVQcow2State *s = qcow2_state(bs);
    ExpandProgress pr{cb, opaque};
    pr.total = (int64_t)s->l1_table.size();
    for (const auto &sn : s->snapshots)
        pr.total += sn.l1_size;
    int ret = expand_l1(bs, s->l1_table, true, &pr);
    if (ret == 0) ret = qcow2_cache_flush(bs, s->l2_cache);
    if (ret < 0) return ret;
    qcow2_cache_empty(s->l2_cache);
    for (const auto &sn : s->snapshots) {
        if ((uint64_t)sn.l1_size * 8 > QCOW2_MAX_L1_BYTES) {
            fprintf(stderr, "Snapshot L1 table too large\n");
            return -EFBIG;
        }
        std::vector<uint64_t> l1;
        ret = qcow2_read_table(bs, sn.l1_table_offset, sn.l1_size, &l1);
        if (ret == 0) ret = expand_l1(bs, l1, false, &pr);
        if (ret < 0) return ret;
    }
    return 0;
}

int coroutine_fn upgrade(BlockDriverState *bs, BdrvAmendStatusCB *cb, void *opaque, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (cb) cb(bs, 0, 2, opaque);
    // v3 wants every snapshot's 64-bit VM state size and disk size.
    bool rewrite = false;
    for (const auto &sn : s->snapshots)
        rewrite |= sn.extra_size < 16;
    if (rewrite) {
        int ret = qcow2_rewrite_snapshot_table(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to update the snapshot table");
            return ret;
        }
    }
    if (cb) cb(bs, 1, 2, opaque);
    Qcow2Header old = s->hdr;
    s->hdr.version = 3;
    s->hdr.refcount_order = 4;
    int ret = qcow2_update_header(bs);
    if (ret < 0) {
        s->hdr = old;
        error_setg_errno(errp, -ret, "Failed to update the image header");
        return ret;
    }
    if (cb) cb(bs, 2, 2, opaque);
    return 0;
}

int coroutine_fn downgrade(BlockDriverState *bs, BdrvAmendStatusCB *cb, void *opaque, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    if (s->hdr.refcount_order != 4) {
        error_setg(errp, "compat=0.10 requires refcount_bits=16");
        return -ENOTSUP;
    }
    if (qcow2_has_data_file(s)) {
        error_setg(errp, "Cannot downgrade an image with a data file");
        return -ENOTSUP;
    }
    for (const auto &sn : s->snapshots) {
        if (sn.vm_state_size > UINT32_MAX || sn.disk_size != (uint64_t)bs->total_bytes) {
            error_setg(errp, "Internal snapshots prevent downgrade of image");
            return -ENOTSUP;
        }
    }
    if (s->hdr.incompatible_features & QCOW2_INCOMPAT_DIRTY) {
        int ret = qcow2_mark_clean(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to make the image clean");
            return ret;
        }
    }
    uint64_t incompat = s->hdr.incompatible_features & ~QCOW2_INCOMPAT_COMPRESSION;
    if (incompat) {
        error_setg(errp, "Cannot downgrade an image with incompatible features 0x%" PRIx64 " set",
                   incompat);
        return -ENOTSUP;
    }
    s->hdr.compatible_features = 0;
    s->hdr.autoclear_features = 0;
    s->lazy_refcounts = false;
    int ret = expand_zero_clusters(bs, cb, opaque);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to turn zero into data clusters");
        return ret;
    }
    if (s->hdr.incompatible_features & QCOW2_INCOMPAT_COMPRESSION) {
        bool compressed = false;
        ret = qcow2_has_compressed_clusters(bs, &compressed);
        if (ret < 0) {
            error_setg(errp, "Failed to check block status");
            return -EINVAL;
        }
        if (compressed) {
            error_setg(errp, "Cannot downgrade an image with zstd compression type and existing "
                             "compressed clusters");
            return -ENOTSUP;
        }
        s->hdr.incompatible_features &= ~QCOW2_INCOMPAT_COMPRESSION;
        s->hdr.compression_type = Qcow2CompressionType::Zlib;
    }
    Qcow2Header old = s->hdr;
    s->hdr.version = 2;
    // A v2 header has no room for feature names or other v3 extensions
    // QEMU would drop; unknown ones stay as they are.
    ret = qcow2_update_header(bs);
    if (ret < 0) {
        s->hdr = old;
        error_setg_errno(errp, -ret, "Failed to update the image header");
        return ret;
    }
    return 0;
}

}  // namespace

const CreateOptDesc *qcow2_amend_opts = kAmendOpts;

namespace {

int coroutine_fn amend_locked(BlockDriverState *bs, const QDict *opts, BdrvAmendStatusCB *status_cb,
                              void *cb_opaque, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    int old_version = (int)s->hdr.version, new_version = old_version;
    uint64_t new_size = 0;
    const char *backing_file = nullptr, *backing_fmt = nullptr;
    bool lazy = s->lazy_refcounts;
    int refcount_bits = 1 << s->hdr.refcount_order;
    bool encryption_update = false;
    const char *data_file = nullptr;  // "" removes the name from the header
    bool data_file_raw = qcow2_data_file_is_raw(s);
    for (const CreateOptDesc *d = kAmendOpts; d->name; d++) {
        const char *v = opts->get(d->name);
        if (!v) continue;
        if (!strcmp(d->name, "compat")) {
            if (!strcmp(v, "0.10") || !strcmp(v, "v2")) {
                new_version = 2;
            } else if (!strcmp(v, "1.1") || !strcmp(v, "v3")) {
                new_version = 3;
            } else {
                error_setg(errp, "Unknown compatibility level %s", v);
                return -EINVAL;
            }
        } else if (!strcmp(d->name, "size")) {
            new_size = strtoull(v, nullptr, 10);
        } else if (!strcmp(d->name, "backing_file")) {
            backing_file = v;
        } else if (!strcmp(d->name, "backing_fmt")) {
            backing_fmt = v;
        } else if (!strncmp(d->name, "encrypt.", 8)) {
            if (!s->crypto) {
                error_setg(errp, "Can't amend encryption options - encryption not present");
                return -EINVAL;
            }
            if (s->hdr.crypt_method != QCOW2_CRYPT_LUKS) {
                error_setg(errp, "Only LUKS encryption options can be amended");
                return -ENOTSUP;
            }
            encryption_update = true;
        } else if (!strcmp(d->name, "lazy_refcounts")) {
            keyval_parse_bool(v, &lazy);
        } else if (!strcmp(d->name, "refcount_bits")) {
            int64_t b = strtoll(v, nullptr, 10);
            if (b <= 0 || b > 64 || (b & (b - 1))) {
                error_setg(errp,
                           "Refcount width must be a power of two and may not exceed 64 bits");
                return -EINVAL;
            }
            refcount_bits = (int)b;
        } else if (!strcmp(d->name, "data_file")) {
            if (!qcow2_has_data_file(s)) {
                error_setg(errp,
                           "data-file can only be set for images that use an external data file");
                return -EINVAL;
            }
            data_file = v;
        } else if (!strcmp(d->name, "data_file_raw")) {
            keyval_parse_bool(v, &data_file_raw);
            // Only clearing: the data file's contents may not match the guest.
            if (data_file_raw && !qcow2_data_file_is_raw(s)) {
                error_setg(errp, "data-file-raw cannot be set on existing images");
                return -EINVAL;
            }
        }
    }

    if (new_version > old_version) {
        int ret = upgrade(bs, status_cb, cb_opaque, errp);
        if (ret < 0) return ret;
    }
    if (encryption_update) {
        error_setg(errp, "Changing LUKS keyslots is not supported by qcow-lite");
        return -ENOTSUP;
    }
    if ((1 << s->hdr.refcount_order) != refcount_bits) {
        if (new_version < 3 && refcount_bits != 16) {
            error_setg(errp, "Refcount widths other than 16 bits require compatibility level 1.1 "
                             "or above (use compat=1.1 or greater)");
            return -EINVAL;
        }
        int ret = qcow2_change_refcount_order(bs, __builtin_ctz((unsigned)refcount_bits), status_cb,
                                              cb_opaque, errp);
        if (ret < 0) return ret;
    }
    if (data_file_raw) {
        s->hdr.autoclear_features |= QCOW2_AUTOCLEAR_DATA_FILE_RAW;
    } else {
        s->hdr.autoclear_features &= ~QCOW2_AUTOCLEAR_DATA_FILE_RAW;
    }
    if (data_file) qcow2_set_data_file_name(&s->hdr, data_file);
    int ret = qcow2_update_header(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update the image header");
        return ret;
    }
    if (backing_file || backing_fmt) {
        // g_strcmp0 against the recorded name (none: NULL).
        auto differs = [](const char *a, const std::string &b) {
            return a ? (b.empty() || b != a) : !b.empty();
        };
        if (differs(backing_file, s->hdr.backing_file) ||
            differs(backing_fmt, s->hdr.backing_format)) {
            error_setg(errp, "Cannot amend the backing file\n"
                             "You can use 'qemu-img rebase' instead.");
            return -EINVAL;
        }
    }
    if (s->lazy_refcounts != lazy) {
        if (lazy) {
            if (new_version < 3) {
                error_setg(errp, "Lazy refcounts only supported with compatibility level 1.1 "
                                 "and above (use compat=1.1 or greater)");
                return -EINVAL;
            }
            s->hdr.compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;
            ret = qcow2_update_header(bs);
            if (ret < 0) {
                s->hdr.compatible_features &= ~QCOW2_COMPAT_LAZY_REFCOUNTS;
                error_setg_errno(errp, -ret, "Failed to update the image header");
                return ret;
            }
            s->lazy_refcounts = true;
        } else {
            ret = qcow2_mark_clean(bs);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to make the image clean");
                return ret;
            }
            s->hdr.compatible_features &= ~QCOW2_COMPAT_LAZY_REFCOUNTS;
            ret = qcow2_update_header(bs);
            if (ret < 0) {
                s->hdr.compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;
                error_setg_errno(errp, -ret, "Failed to update the image header");
                return ret;
            }
            s->lazy_refcounts = false;
        }
    }
    if (new_size) {
        qemu_co_mutex_unlock(&s->lock);
        ret = qcow2_co_truncate(bs, (int64_t)new_size, true, PreallocMode::Off, errp);
        qemu_co_mutex_lock(&s->lock);
        if (ret < 0) return ret;
        bs->total_bytes = (int64_t)new_size;
    }
    if (new_version < old_version) {
        ret = downgrade(bs, status_cb, cb_opaque, errp);
        if (ret < 0) return ret;
    }
    return 0;
}

}  // namespace

int coroutine_fn qcow2_co_amend(BlockDriverState *bs, const QDict *opts,
                                BdrvAmendStatusCB *status_cb, void *cb_opaque, bool, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    qemu_co_mutex_lock(&s->lock);
    int ret = amend_locked(bs, opts, status_cb, cb_opaque, errp);
    if (ret == 0) {
        ret = qcow2_flush_caches(bs);
        if (ret < 0) error_setg_errno(errp, -ret, "Failed to flush the image");
    }
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

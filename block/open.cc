// Opening nodes: driver selection, probing, generic node options, the
// "file" and "backing" children.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <libgen.h>

#include "block/block-core-int.h"
#include "block/json-filename-int.h"

void bdrv_perms_for_flags(int flags, uint64_t *perm, uint64_t *shared)
{
    *perm = (flags & BDRV_O_NO_IO) ? 0 : (uint64_t)BLK_PERM_CONSISTENT_READ;
    if (flags & BDRV_O_RDWR) {
        *perm |= BLK_PERM_WRITE;
    }
    *shared = BLK_PERM_ALL;
}

static bool take_bool(QDict *o, const char *key, bool *val, Error **errp)
{
    const char *v = o->get(key);
    if (!v) {
        return true;
    }
    if (!keyval_parse_bool(v, val)) {
        error_setg(errp, "Parameter '%s' expects 'on' or 'off'", key);
        return false;
    }
    o->del(key);
    return true;
}

// Options every node understands; applied to @flags and the node.
bool bdrv_take_generic_options(QDict *o, int *flags, BlockDriverState *bs, Error **errp)
{
    bool b;
    if (const char *n = o->get("node-name")) {
        bs->node_name = n;
        o->del("node-name");
    }
    b = !(*flags & BDRV_O_RDWR);
    if (!take_bool(o, "read-only", &b, errp)) return false;
    *flags = b ? (*flags & ~BDRV_O_RDWR) : *flags;
    b = *flags & BDRV_O_NOCACHE;
    if (!take_bool(o, "cache.direct", &b, errp)) return false;
    *flags = b ? (*flags | BDRV_O_NOCACHE) : (*flags & ~BDRV_O_NOCACHE);
    b = *flags & BDRV_O_NO_FLUSH;
    if (!take_bool(o, "cache.no-flush", &b, errp)) return false;
    *flags = b ? (*flags | BDRV_O_NO_FLUSH) : (*flags & ~BDRV_O_NO_FLUSH);
    b = *flags & BDRV_O_FORCE_SHARE;
    if (!take_bool(o, "force-share", &b, errp)) return false;
    *flags = b ? (*flags | BDRV_O_FORCE_SHARE) : (*flags & ~BDRV_O_FORCE_SHARE);
    b = false;
    if (!take_bool(o, "auto-read-only", &b, errp)) return false;
    if (const char *backing = o->get("backing"); backing && !*backing) {
        *flags |= BDRV_O_NO_BACKING;  // "backing": null (or "")
        o->del("backing");
    }
    if (const char *d = o->get("discard")) {
        if (!strcmp(d, "unmap") || !strcmp(d, "on")) {
            *flags |= BDRV_O_UNMAP;
        } else if (!strcmp(d, "ignore") || !strcmp(d, "off")) {
            *flags &= ~BDRV_O_UNMAP;
        } else {
            error_setg(errp, "Invalid discard option");
            return false;
        }
        o->del("discard");
    }
    if (const char *d = o->get("detect-zeroes")) {
        BlockdevDetectZeroes dz;
        if (!bdrv_parse_detect_zeroes(d, &dz)) {
            error_setg(errp, "invalid parameter value: %s", d);  // QEMU's wording
            return false;
        }
        if (dz == DETECT_ZEROES_UNMAP && !(*flags & BDRV_O_UNMAP)) {
            error_setg(errp, "setting detect-zeroes to unmap is not allowed "
                             "without setting discard operation to unmap");
            return false;
        }
        bs->detect_zeroes = dz;
        o->del("detect-zeroes");
    }
    if ((*flags & BDRV_O_FORCE_SHARE) && (*flags & BDRV_O_RDWR)) {
        error_setg(errp, "force-share=on can only be used with read-only images");
        return false;
    }
    return true;
}

static bool check_runtime_opts(const BlockDriver *drv, QDict *o, Error **errp)
{
    if (!drv->runtime_opts) {
        return true;
    }
    for (auto &kv : o->entries) {
        const std::string &k = kv.first;
        bool known = false;
        for (const char *const *p = drv->runtime_opts; *p; p++) {
            known |= k == *p;
        }
        if (!known) {
            error_setg(errp,
                       drv->is_format ? "Block format '%s' does not support the option '%s'"
                                      : "Block protocol '%s' doesn't support the option '%s'",
                       drv->format_name, k.c_str());
            return false;
        }
    }
    return true;
}

static bool is_protocol_driver(const BlockDriver *drv)
{
    return !drv->is_format && !drv->is_filter;
}

// Picks the format of an opened "file" child from its first bytes.
static const BlockDriver *coroutine_fn probe_format(BdrvChild *file, Error **errp)
{
    int64_t len = bdrv_co_getlength(file->bs);
    if (len < 0) {
        error_setg_errno(errp, (int)-len, "Could not determine image size");
        return nullptr;
    }
    uint8_t buf[BLOCK_PROBE_BUF_SIZE] = {};
    int n = (int)std::min<int64_t>(len, BLOCK_PROBE_BUF_SIZE);
    int ret = n ? bdrv_co_pread(file, 0, n, buf, 0) : 0;
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read image for determining its format");
        return nullptr;
    }
    return bdrv_probe_all(buf, n, file->bs->filename.c_str());
}

static void inherit_limits(BlockDriverState *bs)
{
    if (bs->file && !is_protocol_driver(bs->drv)) {
        const BlockLimits &c = bs->file->bs->bl;
        if (c.max_transfer && (!bs->bl.max_transfer || c.max_transfer < bs->bl.max_transfer)) {
            bs->bl.max_transfer = c.max_transfer;
        }
        bs->bl.min_mem_alignment = std::max(bs->bl.min_mem_alignment, c.min_mem_alignment);
        bs->bl.opt_transfer = std::max(bs->bl.opt_transfer, c.opt_transfer);
    }
}

int bdrv_refresh_limits(BlockDriverState *bs, Error **errp)
{
    inherit_limits(bs);
    if (bs->drv->bdrv_refresh_limits) {
        ErrorPtr local;
        bs->drv->bdrv_refresh_limits(bs, &local);
        if (local) {
            error_propagate(errp, local.release());
            return -EINVAL;
        }
    }
    return 0;
}

// Runs the driver's open on a node that already has its "file" child when
// the driver is a format or filter.
static int coroutine_fn open_with_driver(BlockDriverState *bs, QDict *o, int flags, Error **errp)
{
    const BlockDriver *drv = bs->drv;
    if (!check_runtime_opts(drv, o, errp)) {
        return -EINVAL;
    }
    int ret = drv->bdrv_co_open ? drv->bdrv_co_open(bs, o, flags, errp) : 0;
    if (ret < 0) {
        return ret;
    }
    // The driver read the backing file name from its image header; the
    // chain is the generic layer's job, as in QEMU's bdrv_open_inherit.
    if (drv->supports_backing && !(flags & BDRV_O_NO_BACKING)) {
        ret = bdrv_co_open_backing(bs, o, errp);
        if (ret < 0) {
            if (drv->bdrv_co_close) {
                drv->bdrv_co_close(bs);
            }
            return ret;
        }
    }
    if (!drv->runtime_opts && drv->is_format) {
        o->entries.clear();  // the driver validated what it knows
    }
    if (bdrv_refresh_limits(bs, errp) < 0) {
        return -EINVAL;
    }
    if (drv->bdrv_co_getlength) {
        int64_t len = drv->bdrv_co_getlength(bs);
        if (len >= 0) {
            bs->total_bytes = len;
        }
    }
    return 0;
}

static BlockDriverState *coroutine_fn open_protocol(const BlockDriver *drv, const char *filename,
                                                    QDict *o, int flags, Error **errp)
{
    if (filename && drv->bdrv_parse_filename && !o->has("filename")) {
        ErrorPtr local;
        drv->bdrv_parse_filename(filename, o, &local);
        if (local) {
            error_propagate(errp, local.release());
            return nullptr;
        }
    } else if (filename && !o->has("filename")) {
        o->set("filename", filename);
    }
    BlockDriverState *bs = bdrv_new_node(drv, flags);
    if (!bdrv_take_generic_options(o, &flags, bs, errp)) {
        bdrv_co_unref(bs);
        return nullptr;
    }
    bs->open_flags = flags;
    bs->read_only = !(flags & BDRV_O_RDWR);
    bdrv_perms_for_flags(flags, &bs->cum_perm, &bs->cum_shared);
    const char *fn = o->get("filename");
    bs->filename = fn ? fn : (filename ? filename : "");
    if (open_with_driver(bs, o, flags, errp) < 0) {
        bs->drv = nullptr;  // the driver cleaned up after its failed open
        bdrv_co_unref(bs);
        return nullptr;
    }
    return bs;
}

static BlockDriverState *coroutine_fn open_format(const BlockDriver *drv, const char *filename,
                                                  QDict *o, int flags, Error **errp)
{
    // A placeholder driver until probing decides; the file child is opened
    // first because probing and every format need it.
    BlockDriverState *bs = bdrv_new_node(drv ? drv : bdrv_find_format("raw"), flags);
    if (!bdrv_take_generic_options(o, &flags, bs, errp)) {
        bdrv_co_unref(bs);
        return nullptr;
    }
    bs->open_flags = flags;
    bs->read_only = !(flags & BDRV_O_RDWR);
    bs->force_share = flags & BDRV_O_FORCE_SHARE;
    bdrv_perms_for_flags(flags, &bs->cum_perm, &bs->cum_shared);
    bs->filename = filename ? filename : "";
    BdrvChild *file = bdrv_co_open_child(filename, o, "file", bs, false, flags, errp);
    if (!file) {
        bs->drv = nullptr;
        bdrv_co_unref(bs);
        return nullptr;
    }
    // The node is known by its file's name, as after QEMU's
    // bdrv_refresh_filename: "file:x.img" and json: trees name x.img.
    bs->filename = file->bs->filename;
    if (!drv) {
        drv = probe_format(file, errp);
        if (!drv) {
            bs->drv = nullptr;
            bdrv_co_unref(bs);
            return nullptr;
        }
        bs->drv = drv;
        bs->probed = true;
        // Recompute the file edge for the driver that was chosen.
        if (bdrv_refresh_perms(bs, errp) < 0) {
            bs->drv = nullptr;
            bdrv_co_unref(bs);
            return nullptr;
        }
    }
    // A file known only by its options (json:{...}, e.g. rbd) makes this
    // node json:{"driver": FMT, "file": {...}}, as QEMU's
    // bdrv_refresh_filename.
    const std::string &fn = file->bs->filename;
    if (fn.rfind("json:{", 0) == 0) {
        bs->filename = std::string("json:{\"driver\": \"") + drv->format_name +
                       "\", \"file\": " + fn.substr(5) + "}";
    }
    if (open_with_driver(bs, o, flags, errp) < 0) {
        bs->drv = nullptr;
        bdrv_co_unref(bs);
        return nullptr;
    }
    return bs;
}

// Whether @o says where a format's "file" child comes from.
static bool has_file_child_options(const QDict *o)
{
    for (const auto &kv : o->entries) {
        if (kv.first == "file" || kv.first.rfind("file.", 0) == 0) {
            return true;
        }
    }
    return false;
}

BlockDriverState *coroutine_fn bdrv_co_open_node(const char *filename, QDict *options, int flags,
                                                 Error **errp)
{
    QDict empty;
    QDict *o = options ? options : &empty;
    if (bdrv_is_json_filename(filename)) {
        // The filename is an option tree; it names no file itself.
        if (!bdrv_parse_json_filename(filename, o, errp)) {
            return nullptr;
        }
        filename = nullptr;
    }
    const BlockDriver *drv = nullptr;
    if (const char *name = o->get("driver")) {
        drv = bdrv_find_format(name);
        if (!drv) {
            error_setg(errp, "Unknown driver '%s'", name);
            return nullptr;
        }
        o->del("driver");
    } else if (flags & BDRV_O_PROTOCOL) {
        const char *fn = filename ? filename : o->get("filename");
        if (!fn || !*fn) {
            error_setg(errp, "The 'file' block driver requires a file name");
            return nullptr;
        }
        drv = bdrv_find_protocol(fn, errp);
        if (!drv) {
            return nullptr;
        }
    }
    if (!filename && (!drv || drv->is_format) && !has_file_child_options(o)) {
        if (drv) {
            error_setg(errp, "A block device must be specified for \"file\"");
        } else {
            error_setg(errp, "Must specify either driver or file");
        }
        return nullptr;
    }
    flags &= ~BDRV_O_PROTOCOL;
    if (drv && is_protocol_driver(drv)) {
        return open_protocol(drv, filename, o, flags, errp);
    }
    return open_format(drv, filename, o, flags, errp);
}

BdrvChild *coroutine_fn bdrv_co_open_child(const char *filename, QDict *options,
                                           const char *child_name, BlockDriverState *parent,
                                           bool is_format_child, int flags, Error **errp)
{
    if (!strcmp(child_name, "file") && parent->file) {
        return parent->file;  // the generic layer opened it before the driver
    }
    QDict sub = options ? options->extract_subdict(child_name) : QDict();
    if (options && options->get(child_name)) {
        // "file=name.img": a plain file name for the child.
        sub.set("filename", options->get(child_name));
        options->del(child_name);
    }
    const char *fn = filename;
    std::string sub_fn;
    if (sub.get("filename")) {
        sub_fn = sub.get("filename");
        sub.del("filename");
        fn = sub_fn.c_str();
    }
    int child_flags = flags & ~(BDRV_O_PROTOCOL | BDRV_O_NO_BACKING);
    if (!is_format_child) {
        child_flags |= BDRV_O_PROTOCOL;
    }
    if (strcmp(child_name, "backing")) {
        // As QEMU: below a format, discards are the format's decision
        // (qcow2 frees clusters with QCOW2_DISCARD_ALWAYS in check repair).
        child_flags |= BDRV_O_UNMAP;
    }
    BlockDriverState *bs = bdrv_co_open_node(fn, &sub, child_flags, errp);
    if (!bs) {
        return nullptr;
    }
    if (!sub.entries.empty()) {
        error_setg(errp, "Block protocol '%s' doesn't support the option '%s'",
                   bs->drv->format_name, sub.entries.begin()->first.c_str());
        bdrv_co_unref(bs);
        return nullptr;
    }
    return bdrv_co_attach_child(parent, bs, child_name, 0, 0, errp);
}

// Resolves a backing file name relative to the image that names it.  A
// json: image name has no directory to resolve against: the name as is.
std::string bdrv_backing_path(const BlockDriverState *bs)
{
    const std::string &b = bs->backing_file;
    if (b.empty() || b[0] == '/' || b.find("://") != std::string::npos ||
        bdrv_is_json_filename(b.c_str()) || b.rfind("nbd", 0) == 0 || bs->filename.empty() ||
        bdrv_is_json_filename(bs->filename.c_str())) {
        return b;
    }
    std::string dir = bs->filename;
    size_t slash = dir.rfind('/');
    return slash == std::string::npos ? b : dir.substr(0, slash + 1) + b;
}

int coroutine_fn bdrv_co_open_backing(BlockDriverState *bs, QDict *options, Error **errp)
{
    if ((bs->open_flags & BDRV_O_NO_BACKING) || bs->backing || bs->backing_file.empty()) {
        return 0;
    }
    bs->full_backing_filename = bdrv_backing_path(bs);
    QDict sub = options ? options->extract_subdict("backing") : QDict();
    if (!bs->backing_format.empty() && !sub.has("driver")) {
        sub.set("driver", bs->backing_format);
    }
    // Backing files are opened read-only; our edge shares nothing that would
    // change what we read.
    int flags = bs->open_flags & ~(BDRV_O_RDWR | BDRV_O_PROTOCOL);
    QDict wrap;
    for (auto &kv : sub.entries) {
        wrap.set("backing." + kv.first, kv.second);
    }
    ErrorPtr local;
    BdrvChild *c = bdrv_co_open_child(bs->full_backing_filename.c_str(), &wrap, "backing", bs, true,
                                      flags, &local);
    if (!c) {
        error_setg(errp, "Could not open backing file: %s", error_get_pretty(local.err));
        return -EINVAL;
    }
    return 0;
}

// QEMU's BDRV_O_SNAPSHOT (qemu-io -s): the image is opened read-only as the
// backing node of a temporary qcow2 overlay of the same size, created in
// $TMPDIR (or /var/tmp) as vl.XXXXXX; all writes land in the overlay, whose
// file is unlinked once open so that nothing outlives the process.
BlockDriverState *coroutine_fn bdrv_co_open_temp_snapshot(const char *filename, QDict *options,
                                                          int flags, Error **errp)
{
    flags &= ~BDRV_O_SNAPSHOT;
    BlockDriverState *bs = bdrv_co_open_node(filename, options, flags & ~BDRV_O_RDWR, errp);
    if (!bs) {
        return nullptr;
    }
    int64_t len = bdrv_co_getlength(bs);
    if (len < 0) {
        error_setg_errno(errp, (int)-len, "Could not get image size");
        bdrv_co_unref(bs);
        return nullptr;
    }
    const char *tmpdir = getenv("TMPDIR");
    std::string tmp = std::string(tmpdir ? tmpdir : "/var/tmp") + "/vl.XXXXXX";
    int fd = mkstemp(tmp.data());
    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not get temporary filename");
        bdrv_co_unref(bs);
        return nullptr;
    }
    close(fd);
    const BlockDriver *qcow2 = bdrv_find_format("qcow2");
    QDict copts;
    copts.set("size", std::to_string(len));
    ErrorPtr local;
    if (qcow2->bdrv_co_create_opts(tmp.c_str(), &copts, &local) < 0) {
        error_setg(errp, "Could not create temporary overlay '%s': %s", tmp.c_str(),
                   error_get_pretty(local.get()));
        unlink(tmp.c_str());
        bdrv_co_unref(bs);
        return nullptr;
    }
    QDict oopts;
    oopts.set("driver", "qcow2");
    BlockDriverState *overlay =
        bdrv_co_open_node(tmp.c_str(), &oopts, flags | BDRV_O_RDWR | BDRV_O_NO_BACKING, errp);
    unlink(tmp.c_str());
    if (!overlay) {
        bdrv_co_unref(bs);
        return nullptr;
    }
    if (!bdrv_co_attach_child(overlay, bs, "backing", 0, 0, errp)) {
        bdrv_co_unref(overlay);
        return nullptr;
    }
    return overlay;
}

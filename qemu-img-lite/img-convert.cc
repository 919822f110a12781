// qemu-img-lite convert: options, checks and messages in qemu-img 7.2's
// order; opening the sources, creating and opening the target, then the
// copy engine (img-convert-copy.cc).
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>

#include "block/block.h"
#include "qemu-img-lite/img-convert.h"
#include "qemu-img-lite/img-create-opts.h"
#include "qemu-img-lite/img-output.h"

namespace {

enum {
    OPT_IMAGE_OPTS = 256,
    OPT_TARGET_IMAGE_OPTS,
    OPT_SALVAGE,
    OPT_TARGET_IS_ZERO,
    OPT_BITMAPS,
    OPT_SKIP_BROKEN,
};

struct ConvertArgs {
    const char *fmt = nullptr;
    const char *out_fmt = nullptr;
    const char *out_baseimg = nullptr;
    const char *backing_fmt = nullptr;
    const char *cache = "unsafe";  // qemu-img convert's default
    const char *src_cache = "writeback";
    std::string options;
    bool has_options = false;
    bool progress = false;
    bool skip_create = false;
    bool image_opts = false;
    bool tgt_image_opts = false;
    bool force_share = false;
    bool copy_range = false;
    bool explicit_min_sparse = false;
    bool bitmaps = false;
    bool skip_broken = false;
    ImgSnapshotParam snapshot;
    char **files = nullptr;  // sources then the target
    int nfiles = 0;
};

int parse_sparse(const char *arg, ConvertState *s)
{
    int64_t sval = img_cvtnum_full("buffer size for sparse output", arg, 0, INT32_MAX);
    if (sval < 0) {
        return -1;
    }
    if (sval % kConvertSectorSize || sval / kConvertSectorSize > kConvertMaxBufSectors) {
        error_report("Invalid buffer size for sparse output specified. Valid sizes are "
                     "multiples of %d up to %d. Select 0 to disable sparse detection "
                     "(fully allocates output).",
                     kConvertSectorSize, kConvertMaxBufSectors * kConvertSectorSize);
        return -1;
    }
    s->min_sparse = (int)(sval / kConvertSectorSize);
    return 0;
}

int parse_coroutines(const char *arg, ConvertState *s)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (*end || v < 1 || v > kConvertMaxCoroutines) {
        error_report("Invalid number of coroutines. Allowed number of coroutines is between "
                     "1 and %d",
                     kConvertMaxCoroutines);
        return -1;
    }
    s->num_coroutines = (int)v;
    return 0;
}

// One option; returns -1 when qemu-img would stop with exit code 1.
int handle_option(int c, ConvertArgs *a, ConvertState *s)
{
    switch (c) {
    case 'f': a->fmt = optarg; break;
    case 'O': a->out_fmt = optarg; break;
    case 'B': a->out_baseimg = optarg; break;
    case 'F': a->backing_fmt = optarg; break;
    case 'C': a->copy_range = true; break;
    case 'c': s->compressed = true; break;
    case 'o':
        if (CreateOpts tmp; !*optarg || !img_parse_option_list(optarg, &tmp)) {
            error_report("Invalid option list: %s", optarg);
            return -1;
        }
        a->options += a->has_options ? "," : "";
        a->options += optarg;
        a->has_options = true;
        break;
    case 'l': return img_parse_snapshot_param(optarg, &a->snapshot) ? 0 : -1;
    case 'S': a->explicit_min_sparse = true; return parse_sparse(optarg, s);
    case 'p': a->progress = true; break;
    case 't': a->cache = optarg; break;
    case 'T': a->src_cache = optarg; break;
    case 'q': s->quiet = true; break;
    case 'n': a->skip_create = true; break;
    case 'm': return parse_coroutines(optarg, s);
    case 'W': s->wr_in_order = false; break;
    case 'U': a->force_share = true; break;
    case 'r': s->rate_limit = img_cvtnum("rate limit", optarg); return s->rate_limit < 0 ? -1 : 0;
    case OPT_IMAGE_OPTS: a->image_opts = true; break;
    case OPT_TARGET_IMAGE_OPTS: a->tgt_image_opts = true; break;
    case OPT_SALVAGE: s->salvage = true; break;
    case OPT_TARGET_IS_ZERO: s->has_zero_init = true; break;
    case OPT_BITMAPS: a->bitmaps = true; break;
    case OPT_SKIP_BROKEN: a->skip_broken = true; break;
    }
    return 0;
}

// Command-line checks made before anything is opened.  Returns 0 to go
// on, or the exit code.
int parse_args(int argc, char **argv, ConvertArgs *a, ConvertState *s)
{
    static const struct option long_options[] = {
        {"help", no_argument, nullptr, 'h'},
        {"image-opts", no_argument, nullptr, OPT_IMAGE_OPTS},
        {"force-share", no_argument, nullptr, 'U'},
        {"target-image-opts", no_argument, nullptr, OPT_TARGET_IMAGE_OPTS},
        {"salvage", no_argument, nullptr, OPT_SALVAGE},
        {"target-is-zero", no_argument, nullptr, OPT_TARGET_IS_ZERO},
        {"bitmaps", no_argument, nullptr, OPT_BITMAPS},
        {"skip-broken-bitmaps", no_argument, nullptr, OPT_SKIP_BROKEN},
        {nullptr, 0, nullptr, 0},
    };
    int c;
    while ((c = img_getopt(argc, argv, ":hf:O:B:CcF:o:l:S:pt:T:qnm:WUr:", long_options)) != -1) {
        if (handle_option(c, a, s) < 0) {
            return 1;
        }
    }
    if (!a->out_fmt && !a->tgt_image_opts) {
        a->out_fmt = "raw";
    }
    const char *msg = nullptr;
    if (a->skip_broken && !a->bitmaps) {
        msg = "Use of --skip-broken-bitmaps requires --bitmaps";
    } else if (s->compressed && a->copy_range) {
        msg = "Cannot enable copy offloading when -c is used";
    } else if (a->explicit_min_sparse && a->copy_range) {
        msg = "Cannot enable copy offloading when -S is used";
    } else if (a->copy_range && s->salvage) {
        msg = "Cannot use copy offloading in salvaging mode";
    } else if (a->tgt_image_opts && !a->skip_create) {
        msg = "--target-image-opts requires use of -n flag";
    } else if (a->skip_create && a->has_options) {
        msg = "-o has no effect when skipping image creation";
    } else if (s->has_zero_init && !a->skip_create) {
        msg = "--target-is-zero requires use of -n flag";
    }
    if (msg) {
        error_report("%s", msg);
        return 1;
    }
    a->files = argv + optind;
    a->nfiles = argc - optind;
    if (a->has_options) {
        CreateOpts o;
        img_parse_option_list(a->options.c_str(), &o);
        if (o.get("help") || o.get("?")) {
            if (!a->out_fmt) {
                error_report("Option help requires a format be specified");
                return 1;
            }
            const BlockDriver *drv = bdrv_find_format(a->out_fmt);
            if (!drv) {
                error_report("Unknown file format '%s'", a->out_fmt);
                return 1;
            }
            img_print_create_help(drv, a->nfiles >= 2 ? a->files[a->nfiles - 1] : nullptr);
            return 0;
        }
    }
    if (a->nfiles < 2) {
        error_report("Must specify image file name");
        return 1;
    }
    int flags = 0;
    bool wt;
    if (!bdrv_parse_cache_mode(a->src_cache, &flags, &wt)) {
        error_report("Invalid source cache option: %s", a->src_cache);
        return 1;
    }
    return -1;  // go on
}

// The copy must see one consistent source: like qemu-img, refuse to share
// WRITE with other users, so a process writing the image (raw included: the
// raw format alone would share it) makes convert fail instead of copying a
// torn image.
bool unshare_source_writes(BlockBackend *blk, const char *filename)
{
    ErrorPtr err;
    if (blk_set_shared_perm(blk, blk_get_shared_perm(blk) & ~BLK_PERM_WRITE, &err) < 0) {
        error_report("Could not open '%s': %s", filename, error_get_pretty(err.get()));
        return false;
    }
    return true;
}

int open_sources(const ConvertArgs &a, ConvertState *s, std::vector<BlkRef> *refs)
{
    int nsrc = a.nfiles - 1;
    refs->resize((size_t)nsrc);
    for (int i = 0; i < nsrc; i++) {
        ImgOpenArgs oa;
        oa.fmt = a.fmt;
        oa.cache = a.src_cache;
        oa.force_share = a.force_share;
        oa.quiet = s->quiet;
        oa.image_opts = a.image_opts;
        (*refs)[(size_t)i].reset(img_open(a.files[i], oa));
        BlockBackend *blk = (*refs)[(size_t)i].get();
        if (!blk || (!a.force_share && !unshare_source_writes(blk, a.files[i]))) {
            return -1;
        }
        int64_t len = blk_getlength(blk);
        if (len < 0) {
            error_report("Could not get size of %s: %s", a.files[i], strerror((int)-len));
            return -1;
        }
        BlockDriverState *bs = blk_bs(blk);
        uint32_t req_align = bdrv_get_limits(bs).request_alignment;
        int align = (int)((req_align + kConvertSectorSize - 1) / kConvertSectorSize);
        align = std::max(align, img_cluster_size(bs) / kConvertSectorSize);
        s->src.push_back(blk);
        s->src_bytes.push_back(len);
        s->src_sectors.push_back((len + kConvertSectorSize - 1) / kConvertSectorSize);
        s->src_alignment.push_back(std::max(align, 1));
        s->total_sectors += s->src_sectors.back();
    }
    return 0;
}

// The -o list for the new target plus -B/-F and the size, checked like
// qemu-img (messages included).  False after reporting.
bool build_create_opts(const ConvertArgs &a, const BlockDriver *drv, const ConvertState *s,
                       CreateOpts *opts)
{
    if (!bdrv_driver_can_create(drv)) {
        error_report("Format driver '%s' does not support image creation",
                     bdrv_driver_format_name(drv));
        return false;
    }
    ErrorPtr err;
    if (a.has_options) {
        img_parse_option_list(a.options.c_str(), opts);
        if (!img_check_create_opts(drv, opts, &err, img_protocol_for(a.files[a.nfiles - 1]))) {
            error_report_err(err.release());
            return false;
        }
    }
    opts->set("size", std::to_string(s->total_sectors * kConvertSectorSize));
    if (a.out_baseimg) {
        if (!bdrv_driver_supports_backing(drv)) {
            error_report("Backing file not supported for file format '%s'", a.out_fmt);
            return false;
        }
        opts->set("backing_file", a.out_baseimg);
    }
    if (a.backing_fmt) {
        if (!bdrv_driver_supports_backing(drv)) {
            error_report("Backing file format not supported for file format '%s'", a.out_fmt);
            return false;
        }
        opts->set("backing_fmt", a.backing_fmt);
    }
    return true;
}

// Target-side checks between option parsing and creation.
bool check_target_opts(const ConvertArgs &a, const BlockDriver *drv, const ConvertState *s,
                       const CreateOpts &opts)
{
    const char *msg = nullptr;
    bool has_backing = a.out_baseimg || opts.get("backing_file");
    if (s->has_zero_init && has_backing) {
        msg = "Cannot use --target-is-zero when the destination image has a backing file";
    } else if (s->src.size() > 1 && has_backing) {
        msg = "Having a backing file for the target makes no sense when concatenating "
              "multiple input images";
    } else if (opts.get("backing_file") && !opts.get("backing_fmt")) {
        msg = "Use of backing file requires explicit backing format";
    } else if (s->compressed && drv && !bdrv_driver_supports_compressed(drv)) {
        // No driver yet with --target-image-opts: the opened target is
        // checked instead (open_target).
        msg = "Compression not supported for this file format";
    } else if (s->compressed && opts.get("preallocation") &&
               strcmp(opts.get("preallocation"), "off")) {
        msg = "Compression and preallocation not supported at the same time";
    }
    if (msg) {
        error_report("%s", msg);
        return false;
    }
    return true;
}

// Whether a freshly created target already reads as zeroes everywhere: true
// for images on regular files (new files are sparse zeroes; a preallocated
// qcow2 has zeroed data too), not for block devices or NBD exports.
bool target_has_zero_init(BlockBackend *target, const char *filename, bool preallocated)
{
    // Encrypted data: zeroes in the file do not read as zeroes (luks, a
    // preallocated encrypted qcow2), so zeroes are written as such.
    BlockDriverState *bs = blk_bs(target);
    if (bdrv_is_encrypted(bs) && (strcmp(bdrv_get_format_name(bs), "qcow2") || preallocated)) {
        return false;
    }
    const char *proto = bdrv_get_format_name(bdrv_protocol_bs(blk_bs(target)));
    struct stat st;
    return proto && !strcmp(proto, "file") && stat(filename, &st) == 0 && S_ISREG(st.st_mode);
}

int64_t backing_sectors(BlockBackend *target)
{
    BlockDriverState *backing = bdrv_backing_bs(blk_bs(target));
    if (!backing) {
        return -1;
    }
    int64_t len = -1;
    img_co_run([&]() coroutine_fn { len = bdrv_co_getlength(backing); });
    return len < 0 ? -1 : (len + kConvertSectorSize - 1) / kConvertSectorSize;
}

// Opens the target and derives buffer size, alignment and cluster size from
// it.  Returns false after reporting.
bool open_target(const ConvertArgs &a, const char *out_filename, ConvertState *s, BlkRef *ref,
                 const CreateOpts &create_opts)
{
    int flags = s->min_sparse ? (BDRV_O_RDWR | BDRV_O_UNMAP) : BDRV_O_RDWR;
    ImgOpenArgs oa;
    oa.fmt = a.out_fmt;
    oa.flags = flags;
    oa.cache = a.cache;
    oa.quiet = s->quiet;
    oa.image_opts = a.skip_create && a.tgt_image_opts;
    // As qemu-img (img_add_key_secrets): the secrets the new image was
    // encrypted with open it.
    for (const auto &kv : create_opts.items) {
        const std::string &k = kv.first;
        if (k.size() >= 10 && k.compare(k.size() - 10, 10, "key-secret") == 0) {
            oa.extra_opts.push_back(kv);
        }
    }
    ref->reset(img_open(out_filename, oa));
    if (!*ref) {
        return false;
    }
    s->target = ref->get();
    BlockDriverState *out_bs = blk_bs(s->target);
    if (a.bitmaps && !img_convert_check_target_bitmaps(s->target)) {
        return false;
    }
    if (s->compressed && !bdrv_supports_compressed_writes(out_bs)) {
        error_report("Compression not supported for this file format");
        return false;
    }
    BlockLimits bl = bdrv_get_limits(out_bs);
    int64_t opt = std::max<int64_t>(bl.opt_transfer, bl.pdiscard_alignment);
    s->buf_sectors =
        (int)std::min<int64_t>(kConvertMaxBufSectors, std::max<int64_t>(s->buf_sectors, opt >> 9));
    int pow2 = 0;
    for (int v = 1; v > 0 && v <= s->min_sparse; v <<= 1) {
        pow2 = v;  // largest power of two <= min_sparse
    }
    int req = (int)((bl.request_alignment + kConvertSectorSize - 1) / kConvertSectorSize);
    s->alignment = std::max(pow2, std::max(req, 1));
    if (a.skip_create) {
        int64_t len = blk_getlength(s->target);
        if (len < 0) {
            error_report("unable to get output image length: %s", strerror((int)-len));
            return false;
        }
        if ((len + kConvertSectorSize - 1) / kConvertSectorSize < s->total_sectors) {
            error_report("output file is smaller than input file");
            return false;
        }
    }
    s->target_backing_sectors =
        s->target_has_backing && s->target_is_new ? backing_sectors(s->target) : -1;
    int cluster = img_cluster_size(out_bs);
    if (cluster <= 0 && s->compressed) {
        error_report("could not get block driver info");
        return false;
    }
    s->cluster_sectors = cluster / kConvertSectorSize;
    if (!s->has_zero_init && s->target_is_new && s->min_sparse && !s->target_has_backing) {
        const char *pa = create_opts.get("preallocation");
        s->has_zero_init = target_has_zero_init(s->target, out_filename, pa && strcmp(pa, "off"));
    }
    return true;
}

// Everything after option parsing; returns 0 or -1 (reported).
int run_convert(const ConvertArgs &a, ConvertState *s)
{
    std::vector<BlkRef> srcs;
    if (open_sources(a, s, &srcs) < 0 || !img_convert_load_snapshot(a.snapshot, s)) {
        return -1;
    }
    const char *out_filename = a.files[a.nfiles - 1];
    const BlockDriver *drv = a.out_fmt ? bdrv_find_format(a.out_fmt) : nullptr;
    if (a.out_fmt && !drv) {
        error_report("Unknown file format '%s'", a.out_fmt);
        return -1;
    }
    ErrorPtr err;
    if (!a.tgt_image_opts && !bdrv_find_protocol(out_filename, &err)) {
        error_report_err(err.release());
        return -1;
    }
    CreateOpts opts;
    if (!a.skip_create && !build_create_opts(a, drv, s, &opts)) {
        return -1;
    }
    s->target_has_backing = a.out_baseimg || opts.get("backing_file");
    if (!check_target_opts(a, drv, s, opts) ||
        (a.bitmaps && !img_convert_check_source_bitmaps(s, a.skip_broken))) {
        return -1;
    }
    if (!a.skip_create) {
        QDict q = img_create_opts_to_qdict(opts);
        if (bdrv_create(bdrv_driver_format_name(drv), out_filename, &q, &err) < 0) {
            error_report("%s: error while converting %s: %s", out_filename, a.out_fmt,
                         error_get_pretty(err.get()));
            return -1;
        }
    }
    s->target_is_new = !a.skip_create;
    s->copy_range = a.copy_range;
    BlkRef target;
    if (!open_target(a, out_filename, s, &target, opts)) {
        return -1;
    }
    // Without -C, data is still read (sparse detection needs it), but into
    // a raw target the non-zero part is written by copy offloading: writing
    // a buffer into a sparse raw file cost 2-3x the CPU of copy_file_range
    // on our ext4 (docs/performance.md); into qcow2 (appending) it did not
    // pay.  Not with -S 0 (zero runs become data written from the buffer),
    // -c, --salvage (unreadable sectors become zeroes in the buffer) or -U
    // (the source may change between the read and the copy).
    s->copy_from_source = !a.copy_range && s->min_sparse && !s->compressed && !s->salvage &&
                          !a.force_share && !strcmp(bdrv_get_format_name(blk_bs(s->target)), "raw");
    int ret = img_convert_do_copy(s);
    if (ret >= 0 && a.bitmaps &&
        !img_convert_copy_bitmaps(blk_bs(s->src[0]), blk_bs(s->target), a.skip_broken)) {
        ret = -1;
    }
    s->target = nullptr;
    return ret < 0 ? -1 : 0;
}

}  // namespace

int img_convert(int argc, char **argv)
{
    ConvertArgs a;
    ConvertState s;
    int early = parse_args(argc, argv, &a, &s);
    if (early >= 0) {
        return early;
    }
    img_progress_init(a.progress && !s.quiet, 1.0f);
    img_progress_print(0, 100);
    int ret = run_convert(a, &s);
    if (!ret) {
        img_progress_print(100, 0);
    }
    img_progress_end();
    return ret ? 1 : 0;
}

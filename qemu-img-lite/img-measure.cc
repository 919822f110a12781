// qemu-img-lite measure: how large a new image of format -O would be, for
// a virtual size (--size) or for converting an existing image.  The qcow2
// figures follow QEMU 7.2's formula (header, L1/L2 tables, the refcount
// structures' fixed point, data clusters), so both tools print the same
// numbers; "required" counts only the data clusters the source allocates.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "block/block.h"
#include "qemu-img-lite/img-create-opts.h"
#include "qemu-img-lite/img-output.h"
#include "qemu-img-lite/img-snapshot-param.h"
#include "qemu-img-lite/img.h"
#include "util/cutils.h"

namespace {

struct MeasureInfo {
    uint64_t required = 0;
    uint64_t fully_allocated = 0;
    bool has_bitmaps = false;
    uint64_t bitmaps = 0;
};

struct Qcow2Params {
    int64_t cluster_size = 65536;
    int version = 3;
    int refcount_order = 4;
    bool extended_l2 = false;
    bool prealloc_data = false;  // falloc/full: every data cluster counts
    bool has_backing = false;
};

// Clusters of refcount table and blocks needed to count @clusters clusters
// plus themselves.
int64_t refcount_metadata_size(int64_t clusters, int64_t cluster_size, int refcount_order)
{
    int64_t per_table = cluster_size / 8;
    int64_t per_block = cluster_size * 8 / (1 << refcount_order);
    int64_t table = 0, blocks = 0, n = 0, last;
    do {
        last = n;
        blocks = div_round_up(clusters + table + blocks, per_block);
        table = div_round_up(blocks, per_table);
        n = clusters + blocks + table;
    } while (n != last);
    return (blocks + table) * cluster_size;
}

int64_t qcow2_full_size(int64_t total, const Qcow2Params &p)
{
    int64_t cs = p.cluster_size;
    int64_t l2e = p.extended_l2 ? 16 : 8;
    int64_t aligned = round_up(total, cs);
    int64_t meta = cs;  // header
    int64_t nl2e = round_up(aligned / cs, cs / l2e);
    meta += nl2e * l2e;
    int64_t nl1e = round_up(nl2e * l2e / cs, cs / 8);
    meta += nl1e * 8;
    meta += refcount_metadata_size((meta + aligned) / cs, cs, p.refcount_order);
    return meta + aligned;
}

bool is_pow2(int64_t v) { return v > 0 && !(v & (v - 1)); }

bool parse_qcow2_params(const CreateOpts &o, Qcow2Params *p, Error **errp)
{
    if (const char *v = o.get("extended_l2")) p->extended_l2 = !strcmp(v, "on");
    if (const char *v = o.get("cluster_size")) p->cluster_size = strtoll(v, nullptr, 10);
    int64_t min_cs = p->extended_l2 ? 16384 : 512;
    if (!is_pow2(p->cluster_size) || p->cluster_size < min_cs || p->cluster_size > 2097152) {
        error_setg(errp, "Cluster size must be a power of two between %" PRId64 " and 2048k",
                   min_cs);
        return false;
    }
    if (const char *v = o.get("compat")) {
        if (!strcmp(v, "0.10") || !strcmp(v, "v2")) {
            p->version = 2;
        } else if (!strcmp(v, "1.1") || !strcmp(v, "v3")) {
            p->version = 3;
        } else {
            error_setg(errp, "Invalid compatibility level: '%s'", v);
            return false;
        }
    }
    int64_t bits = 16;
    if (const char *v = o.get("refcount_bits")) bits = strtoll(v, nullptr, 10);
    if (!is_pow2(bits) || bits > 64) {
        error_setg(errp, "Refcount width must be a power of two and may be at most 64 bits");
        return false;
    }
    if (p->version < 3 && bits != 16) {
        error_setg(errp, "Different refcount widths than 16 bits require compatibility level "
                         "1.1 or above (use compat=1.1 or greater)");
        return false;
    }
    p->refcount_order = __builtin_ctzll((unsigned long long)bits);
    const char *pre = o.get("preallocation");
    p->prealloc_data = pre && (!strcmp(pre, "full") || !strcmp(pre, "falloc"));
    p->has_backing = o.get("backing_file") != nullptr;
    return true;
}

// Bytes of data clusters a copy of @in would allocate (zero areas skipped).
int coroutine_fn allocated_data(BlockDriverState *in, int64_t size, int64_t cs, int64_t *out)
{
    *out = 0;
    for (int64_t offset = 0, pnum = 0; offset < size; offset += pnum) {
        int ret =
            bdrv_co_block_status_above(in, nullptr, offset, size - offset, &pnum, nullptr, nullptr);
        if (ret < 0) {
            return ret;
        }
        if (!(ret & BDRV_BLOCK_ZERO) && (ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED)) ==
                                            (BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED)) {
            pnum = round_up(offset + pnum, cs) - offset;  // whole clusters
            *out += offset % cs + pnum;
        }
    }
    return 0;
}

bool measure_qcow2(const CreateOpts &o, BlockBackend *in, MeasureInfo *info, Error **errp)
{
    Qcow2Params p;
    if (!parse_qcow2_params(o, &p, errp)) {
        return false;
    }
    int64_t vsize =
        round_up(o.get("size") ? strtoll(o.get("size"), nullptr, 10) : 0, p.cluster_size);
    int64_t l2e = p.extended_l2 ? 16 : 8;
    if (div_round_up(vsize / p.cluster_size, p.cluster_size / l2e) * 8 > 32 * 1024 * 1024) {
        error_setg(errp, "The image size is too large (try using a larger cluster size)");
        return false;
    }
    int64_t required = 0;
    if (in) {
        int64_t ssize = blk_getlength(in);
        if (ssize < 0) {
            error_setg_errno(errp, (int)-ssize, "Unable to get image virtual_size");
            return false;
        }
        vsize = round_up(ssize, p.cluster_size);
        if (p.has_backing) {
            required = vsize;  // unknown overlap with the backing file: assume none
        } else {
            int ret = 0;
            img_co_run([&]() coroutine_fn {
                ret = allocated_data(blk_bs(in), ssize, p.cluster_size, &required);
            });
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Unable to get block status");
                return false;
            }
        }
    }
    if (p.prealloc_data) {
        required = vsize;
    }
    // encrypt.format=luks: the LUKS header area in whole clusters.
    QDict q = img_create_opts_to_qdict(o);
    int64_t luks = bdrv_measure_luks_header(q, "encrypt.", errp);
    if (luks < 0) {
        return false;
    }
    info->fully_allocated =
        (uint64_t)qcow2_full_size(vsize, p) + (uint64_t)round_up(luks, p.cluster_size);
    info->required = info->fully_allocated - (uint64_t)vsize + (uint64_t)required;
    // Persistent bitmaps (QEMU's qcow2_get_persistent_dirty_bitmap_size):
    // the target must be v3 and the source able to hold bitmaps; each one is
    // counted fully allocated, with its table, plus the directory.
    BlockDriverState *ibs = in ? blk_bs(in) : nullptr;
    info->has_bitmaps = p.version >= 3 && ibs && bdrv_supports_persistent_dirty_bitmap(ibs);
    if (info->has_bitmaps) {
        uint64_t cs = p.cluster_size, dir = 0;
        for (BdrvDirtyBitmap *bm : bdrv_dirty_bitmaps(ibs)) {
            if (!bdrv_dirty_bitmap_get_persistence(bm)) {
                continue;
            }
            uint64_t gran = bdrv_dirty_bitmap_granularity(bm);
            uint64_t bits = div_round_up((uint64_t)bdrv_dirty_bitmap_size(bm), gran);
            uint64_t clusters = div_round_up(div_round_up(bits, (uint64_t)8), cs);
            info->bitmaps += clusters * cs + round_up(clusters * 8, cs);
            dir += (24 + strlen(bdrv_dirty_bitmap_name(bm)) + 7) & ~(uint64_t)7;
        }
        info->bitmaps += round_up(dir, cs);
    }
    return true;
}

bool measure_raw(const CreateOpts &o, BlockBackend *in, MeasureInfo *info, Error **errp)
{
    int64_t req;
    if (in) {
        req = blk_getlength(in);
        if (req < 0) {
            error_setg_errno(errp, (int)-req, "Unable to get image size");
            return false;
        }
    } else {
        req = round_up(o.get("size") ? strtoll(o.get("size"), nullptr, 10) : 0, 512);
    }
    info->required = info->fully_allocated = (uint64_t)req;
    return true;
}

// luks: the payload offset plus the data (QEMU's block_crypto_measure).
bool measure_luks(const CreateOpts &o, BlockBackend *in, MeasureInfo *info, Error **errp)
{
    QDict q = img_create_opts_to_qdict(o);
    int64_t hdr = bdrv_measure_luks_header(q, "", errp);
    if (hdr < 0) {
        return false;
    }
    int64_t size;
    if (in) {
        size = blk_getlength(in);
        if (size < 0) {
            error_setg_errno(errp, (int)-size, "Unable to get image size");
            return false;
        }
    } else {
        size = o.get("size") ? strtoll(o.get("size"), nullptr, 10) : 0;
    }
    info->required = info->fully_allocated = (uint64_t)(hdr + size);
    return true;
}

void print_info(const MeasureInfo &info, OutputFormat ofmt)
{
    if (ofmt == OFORMAT_HUMAN) {
        printf("required size: %" PRIu64 "\n", info.required);
        printf("fully allocated size: %" PRIu64 "\n", info.fully_allocated);
        if (info.has_bitmaps) {
            printf("bitmaps size: %" PRIu64 "\n", info.bitmaps);
        }
        return;
    }
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    jb_int(b, "required", (int64_t)info.required);
    jb_int(b, "fully-allocated", (int64_t)info.fully_allocated);
    if (info.has_bitmaps) {
        jb_int(b, "bitmaps", (int64_t)info.bitmaps);
    }
    json_builder_end_object(b);
    JsonNodeRef root(json_builder_get_root(b));
    g_object_unref(b);
    printf("%s\n", img_json_pretty(root.node).c_str());
}

struct MeasureArgs {
    OutputFormat ofmt = OFORMAT_HUMAN;
    const char *fmt = nullptr;
    const char *out_fmt = "raw";
    std::string options;
    bool force_share = false;
    bool image_opts = false;
    ImgSnapshotParam snapshot;
    int64_t size = -1;
    const char *filename = nullptr;
};

// Returns false when qemu-img would stop with exit code 1 (reported).
bool parse_args(int argc, char **argv, MeasureArgs *a)
{
    enum { OPT_IMAGE_OPTS = 256, OPT_OUTPUT, OPT_SIZE };
    static const struct option long_options[] = {
        {"help", no_argument, nullptr, 'h'},
        {"image-opts", no_argument, nullptr, OPT_IMAGE_OPTS},
        {"output", required_argument, nullptr, OPT_OUTPUT},
        {"size", required_argument, nullptr, OPT_SIZE},
        {"force-share", no_argument, nullptr, 'U'},
        {nullptr, 0, nullptr, 0},
    };
    int c;
    while ((c = img_getopt(argc, argv, ":hf:O:o:l:U", long_options)) != -1) {
        switch (c) {
        case 'f': a->fmt = optarg; break;
        case 'O': a->out_fmt = optarg; break;
        case 'o':
            a->options += a->options.empty() ? "" : ",";
            a->options += optarg;
            break;
        case 'l':
            if (!img_parse_snapshot_param(optarg, &a->snapshot)) return false;
            break;
        case 'U': a->force_share = true; break;
        case OPT_IMAGE_OPTS: a->image_opts = true; break;
        case OPT_OUTPUT: a->ofmt = img_parse_output_format(optarg); break;
        case OPT_SIZE:
            a->size = img_cvtnum("image size", optarg);
            if (a->size < 0) return false;
            break;
        }
    }
    const char *msg = nullptr;
    if (argc - optind > 1) {
        msg = "At most one filename argument is allowed.";
    } else if (argc - optind == 1) {
        a->filename = argv[optind];
    }
    if (msg) {
    } else if (!a->filename && (a->image_opts || a->fmt || img_snapshot_param_given(a->snapshot))) {
        msg = "--image-opts, -f, and -l require a filename argument.";
    } else if (a->filename && a->size >= 0) {
        msg = "--size N cannot be used together with a filename.";
    } else if (!a->filename && a->size < 0) {
        msg = "Either --size N or one filename must be specified.";
    }
    if (msg) {
        error_report("%s", msg);
        return false;
    }
    return true;
}

}  // namespace

int img_measure(int argc, char **argv)
{
    MeasureArgs a;
    if (!parse_args(argc, argv, &a)) {
        return 1;
    }
    BlkRef in;
    if (a.filename) {
        ImgOpenArgs oa;
        oa.fmt = a.fmt;
        oa.force_share = a.force_share;
        oa.image_opts = a.image_opts;
        in.reset(img_open(a.filename, oa));
        if (!in) return 1;
        if (img_snapshot_param_given(a.snapshot) &&
            !img_load_snapshot_param(a.snapshot, blk_bs(in.get()))) {
            return 1;
        }
    }
    const BlockDriver *drv = bdrv_find_format(a.out_fmt);
    if (!drv) {
        error_report("Unknown file format '%s'", a.out_fmt);
        return 1;
    }
    if (!bdrv_driver_can_create(drv)) {
        error_report("Format driver '%s' does not support image creation",
                     bdrv_driver_format_name(drv));
        return 1;
    }
    CreateOpts opts;
    ErrorPtr err;
    if (!a.options.empty() &&
        (!img_parse_option_list(a.options.c_str(), &opts) ||
         !img_check_create_opts(drv, &opts, &err, bdrv_find_format("file")))) {
        if (err) error_report_err(err.release());
        error_report("Invalid options for file format '%s'", a.out_fmt);
        return 1;
    }
    if (a.size >= 0) {
        opts.set("size", std::to_string(a.size));
    }
    MeasureInfo info;
    const char *fmt = bdrv_driver_format_name(drv);
    bool ok = !strcmp(fmt, "qcow2")  ? measure_qcow2(opts, in.get(), &info, &err)
              : !strcmp(fmt, "luks") ? measure_luks(opts, in.get(), &info, &err)
                                     : measure_raw(opts, in.get(), &info, &err);
    if (!ok) {
        error_report_err(err.release());
        return 1;
    }
    print_info(info, a.ofmt);
    return 0;
}

// qemu-img-lite commit: copies everything allocated above the base image
// (the top image and any images between) into the base, grows the base if
// the top is larger, then empties the top image unless -d or -b.
//
// The top chain is opened read-only without locks (what we read lies above
// the base); the base is opened a second time, writable, so its own locks
// keep other writers away while we write into it.  Emptying the top reopens
// it writable without its backing chain.
#include <cerrno>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "block/block.h"
#include "qemu-img-lite/img-output.h"
#include "qemu-img-lite/img.h"

namespace {

const int64_t kCommitChunk = 2 * 1024 * 1024;

struct CommitArgs {
    const char *fmt = nullptr;
    const char *cache = "writeback";
    const char *base = nullptr;
    bool drop = false;
    bool progress = false;
    bool quiet = false;
    bool image_opts = false;
    int64_t rate_limit = 0;
    const char *filename = nullptr;
};

void parse_args(int argc, char **argv, CommitArgs *a)
{
    enum { OPT_IMAGE_OPTS = 256 };
    static const struct option long_options[] = {
        {"help", no_argument, nullptr, 'h'},
        {"image-opts", no_argument, nullptr, OPT_IMAGE_OPTS},
        {nullptr, 0, nullptr, 0},
    };
    int c;
    while ((c = img_getopt(argc, argv, ":f:ht:b:dpqr:", long_options)) != -1) {
        switch (c) {
        case 'f': a->fmt = optarg; break;
        case 't': a->cache = optarg; break;
        case 'b':
            a->base = optarg;
            a->drop = true;
            break;  // -b implies -d
        case 'd': a->drop = true; break;
        case 'p': a->progress = true; break;
        case 'q': a->quiet = true; break;
        case 'r':
            a->rate_limit = img_cvtnum("rate limit", optarg);
            if (a->rate_limit < 0) exit(EXIT_FAILURE);
            break;
        case OPT_IMAGE_OPTS: a->image_opts = true; break;
        }
    }
    if (a->quiet) {
        a->progress = false;
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    a->filename = argv[optind];
}

std::string real_path(const std::string &p)
{
    char buf[PATH_MAX];
    return realpath(p.c_str(), buf) ? std::string(buf) : p;
}

// The node named @name in @bs's backing chain: by the name the overlay
// records, or by resolving to the same file.
BlockDriverState *find_backing_image(BlockDriverState *bs, const char *name)
{
    std::string want = real_path(name);
    for (BlockDriverState *p = bs; bdrv_backing_bs(p); p = bdrv_backing_bs(p)) {
        BlockDriverState *b = bdrv_backing_bs(p);
        if (!strcmp(bdrv_get_backing_filename(p), name) ||
            real_path(bdrv_get_filename(b)) == want ||
            real_path(bdrv_get_full_backing_filename(p)) == want) {
            return b;
        }
    }
    return nullptr;
}

// Copies [0, len) allocated above @base in @top into @base_blk.
int coroutine_fn commit_data(BlockDriverState *top, BlockDriverState *base, BlockBackend *top_blk,
                             BlockBackend *base_blk, int64_t len, uint8_t *buf, Error **errp)
{
    for (int64_t offset = 0; offset < len;) {
        int64_t n = 0;
        int ret = bdrv_co_block_status_above(
            top, base, offset, std::min(len - offset, kCommitChunk), &n, nullptr, nullptr);
        if (ret >= 0 && (ret & BDRV_BLOCK_ALLOCATED)) {
            if (ret & BDRV_BLOCK_ZERO) {
                ret = blk_co_pwrite_zeroes(base_blk, offset, n, BDRV_REQ_MAY_UNMAP);
            } else {
                ret = blk_co_pread(top_blk, offset, n, buf, 0);
                if (ret >= 0) {
                    ret = blk_co_pwrite(base_blk, offset, n, buf, 0);
                }
            }
        }
        if (ret < 0) {
            // QEMU's commit job reports any failure this way.
            error_setg_errno(errp, -ret, "Block job failed");
            return ret;
        }
        offset += n;
        img_progress_print((float)offset * 100 / (float)len, 0);
    }
    // The data is committed only once it is flushed: a failing flush fails
    // the commit (it used to end in "Image committed.").
    int ret = blk_co_flush(base_blk);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Block job failed");
    }
    return ret;
}

// Opens the base writable, grows it to the top's size and copies.
bool commit_into_base(const CommitArgs &a, BlockBackend *top_blk, BlockDriverState *base,
                      Error **errp)
{
    BlockDriverState *top = blk_bs(top_blk);
    ImgOpenArgs oa;
    oa.fmt = bdrv_get_format_name(base);
    oa.flags = BDRV_O_RDWR | BDRV_O_UNMAP;
    oa.cache = a.cache;
    oa.quiet = true;
    oa.extra_opts = bdrv_get_secret_opts(base);
    BlkRef base_blk(img_open(bdrv_get_filename(base), oa));
    if (!base_blk) {
        error_setg(errp, "Could not reopen the base image '%s' read-write",
                   bdrv_get_filename(base));
        return false;
    }
    int64_t len = blk_getlength(top_blk);
    int64_t base_len = blk_getlength(base_blk.get());
    if (len < 0 || base_len < 0) {
        error_setg_errno(errp, (int)-(len < 0 ? len : base_len), "Could not get image size");
        return false;
    }
    if (base_len < len &&
        blk_truncate(base_blk.get(), len, false, (int)PreallocMode::Off, errp) < 0) {
        return false;
    }
    std::unique_ptr<uint8_t, void (*)(void *)> buf(
        (uint8_t *)qemu_memalign(4096, (size_t)kCommitChunk), qemu_vfree);
    int ret = 0;
    img_co_run([&]() coroutine_fn {
        ret = commit_data(top, base, top_blk, base_blk.get(), len, buf.get(), errp);
    });
    return ret >= 0;
}

bool empty_top(const CommitArgs &a, Error **errp)
{
    ImgOpenArgs oa;
    oa.fmt = a.fmt;
    oa.flags = BDRV_O_RDWR | BDRV_O_UNMAP | BDRV_O_NO_BACKING;
    oa.cache = a.cache;
    oa.quiet = true;
    oa.image_opts = a.image_opts;
    BlkRef blk(img_open(a.filename, oa));
    if (!blk) {
        error_setg(errp, "Could not reopen '%s' read-write", a.filename);
        return false;
    }
    BlockDriverState *top = blk_bs(blk.get());
    int ret = 0;
    img_co_run([&]() coroutine_fn { ret = bdrv_co_make_empty(top); });
    // As QEMU: formats that cannot empty themselves (-ENOTSUP) keep their data.
    if (ret < 0 && ret != -ENOTSUP) {
        error_setg_errno(errp, -ret, "Failed to empty %s", bdrv_get_filename(top));
        return false;
    }
    return true;
}

}  // namespace

int img_commit(int argc, char **argv)
{
    CommitArgs a;
    parse_args(argc, argv, &a);
    int flags = BDRV_O_RDWR | BDRV_O_UNMAP;
    bool wt;
    if (!bdrv_parse_cache_mode(a.cache, &flags, &wt)) {
        error_report("Invalid cache option: %s", a.cache);
        return 1;
    }
    ImgOpenArgs oa;
    oa.fmt = a.fmt;
    oa.cache = a.cache;
    oa.quiet = a.quiet;
    oa.image_opts = a.image_opts;
    oa.force_share = true;  // see the file comment
    BlkRef blk(img_open(a.filename, oa));
    if (!blk) {
        return 1;
    }
    BlockDriverState *bs = blk_bs(blk.get());
    img_progress_init(a.progress, 1.0f);
    img_progress_print(0, 100);

    ErrorPtr err;
    BlockDriverState *base = nullptr;
    if (a.base) {
        base = find_backing_image(bs, a.base);
        if (!base) {
            error_setg(&err, "Did not find '%s' in the backing chain of '%s'", a.base, a.filename);
        }
    } else {
        base = bdrv_backing_bs(bs);
        if (!base) {
            error_setg(&err, "Image does not have a backing file");
        }
    }
    if (!err && commit_into_base(a, blk.get(), base, &err) && !a.drop) {
        blk.reset();
        empty_top(a, &err);
    }
    img_progress_end();
    if (err) {
        error_report_err(err.release());
        return 1;
    }
    if (!a.quiet) {
        printf("Image committed.\n");
    }
    return 0;
}

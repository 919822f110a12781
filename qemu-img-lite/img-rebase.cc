// qemu-img-lite rebase: points an image at a new backing file.  Safe mode
// first copies into the image every stretch it does not allocate itself
// where the old and new backing files differ, so what the guest sees never
// changes; -u only rewrites the header (for renamed or moved backing files).
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

const int64_t kIoBufSize = 2 * 1024 * 1024;
const int64_t kSector = 512;

struct RebaseArgs {
    const char *fmt = nullptr;
    const char *cache = "writeback";
    const char *src_cache = "writeback";
    const char *out_baseimg = nullptr;
    const char *out_basefmt = nullptr;
    bool unsafe = false;
    bool progress = false;
    bool quiet = false;
    bool force_share = false;
    bool image_opts = false;
    const char *filename = nullptr;
};

void parse_args(int argc, char **argv, RebaseArgs *a)
{
    enum { OPT_IMAGE_OPTS = 256 };
    static const struct option long_options[] = {
        {"help", no_argument, nullptr, 'h'},
        {"image-opts", no_argument, nullptr, OPT_IMAGE_OPTS},
        {"force-share", no_argument, nullptr, 'U'},
        {nullptr, 0, nullptr, 0},
    };
    int c;
    while ((c = img_getopt(argc, argv, ":hf:F:b:upt:T:qU", long_options)) != -1) {
        switch (c) {
        case 'f': a->fmt = optarg; break;
        case 'F': a->out_basefmt = optarg; break;
        case 'b': a->out_baseimg = optarg; break;
        case 'u': a->unsafe = true; break;
        case 'p': a->progress = true; break;
        case 't': a->cache = optarg; break;
        case 'T': a->src_cache = optarg; break;
        case 'q': a->quiet = true; break;
        case 'U': a->force_share = true; break;
        case OPT_IMAGE_OPTS: a->image_opts = true; break;
        }
    }
    if (a->quiet) {
        a->progress = false;
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    if (!a->unsafe && !a->out_baseimg) {
        error_exit("Must specify backing file (-b) or use unsafe mode (-u)");
    }
    a->filename = argv[optind];
}

std::string real_path(const std::string &p)
{
    char buf[PATH_MAX];
    return realpath(p.c_str(), buf) ? std::string(buf) : p;
}

// A backing file name is relative to the image that names it.
std::string resolve_backing(const std::string &overlay, const char *backing)
{
    size_t slash = overlay.rfind('/');
    if (backing[0] == '/' || strstr(backing, "://") || slash == std::string::npos) {
        return backing;
    }
    return overlay.substr(0, slash + 1) + backing;
}

// Where reads of "the other backing file" come from: a node of the image's
// own chain (rebasing onto an image below the current backing file) or a
// separately opened image.
struct BackingReader {
    BlockDriverState *overlay = nullptr;  // reads go through its backing edge
    BlockDriverState *node = nullptr;
    BlkRef blk;
    int64_t size = 0;
};

int coroutine_fn read_backing(BackingReader *r, int64_t offset, int64_t n, uint8_t *buf)
{
    if (r->blk) {
        return blk_co_pread(r->blk.get(), offset, n, buf, 0);
    }
    return bdrv_co_pread_backing(r->overlay, offset, n, buf);
}

// Length of the leading run of 512-byte sectors that all differ (true) or
// all match (false).
bool differs(const uint8_t *a, const uint8_t *b, int64_t bytes, int64_t *pnum)
{
    int64_t i = std::min(bytes, kSector);
    bool res = memcmp(a, b, (size_t)i) != 0;
    while (i < bytes) {
        int64_t len = std::min(bytes - i, kSector);
        if ((memcmp(a + i, b + i, (size_t)len) != 0) != res) {
            break;
        }
        i += len;
    }
    *pnum = i;
    return res;
}

struct CopyCtx {
    BlockBackend *blk;
    BlockDriverState *bs;
    BlockDriverState *prefix;  // new backing inside the chain, or null
    BackingReader *old_b;
    BackingReader *new_b;  // null: no new backing (reads as zeroes)
    uint8_t *buf_old, *buf_new;
};

// Makes [offset, offset+*n) independent of the backing switch; *n may shrink.
int coroutine_fn rebase_chunk(CopyCtx *c, int64_t offset, int64_t *n)
{
    bool old_zero = offset >= c->old_b->size;
    if (old_zero) {
        memset(c->buf_old, 0, (size_t)*n);
    } else {
        *n = std::min(*n, c->old_b->size - offset);
        if (read_backing(c->old_b, offset, *n, c->buf_old) < 0) {
            error_report("error while reading from old backing file");
            return -EIO;
        }
    }
    if (!c->new_b || offset >= c->new_b->size) {
        memset(c->buf_new, 0, (size_t)*n);
    } else {
        *n = std::min(*n, c->new_b->size - offset);
        if (read_backing(c->new_b, offset, *n, c->buf_new) < 0) {
            error_report("error while reading from new backing file");
            return -EIO;
        }
    }
    for (int64_t done = 0; done < *n;) {
        int64_t pnum;
        if (differs(c->buf_old + done, c->buf_new + done, *n - done, &pnum)) {
            int ret = old_zero ? blk_co_pwrite_zeroes(c->blk, offset + done, pnum, 0)
                               : blk_co_pwrite(c->blk, offset + done, pnum, c->buf_old + done, 0);
            if (ret < 0) {
                error_report("Error while writing to COW image: %s", strerror(-ret));
                return ret;
            }
        }
        done += pnum;
    }
    return 0;
}

int coroutine_fn allocated_here(CopyCtx *c, int64_t offset, int64_t *n)
{
    int ret = bdrv_co_block_status(c->bs, offset, *n, n, nullptr, nullptr);
    BlockDriverState *backing = bdrv_backing_bs(c->bs);
    if (ret >= 0 && !(ret & BDRV_BLOCK_ALLOCATED) && c->prefix && backing) {
        // Unchanged since the new backing file: nothing to do.
        int64_t bytes = *n;
        ret = bdrv_co_block_status_above(backing, c->prefix, offset, *n, n, nullptr, nullptr);
        if (ret >= 0 && *n == 0) {
            // Past the old backing file's end: these bytes read as zeroes
            // and must be zeroed explicitly to stay so (as QEMU).
            *n = bytes;
            ret = 0;
        } else if (ret >= 0) {
            ret = (ret & BDRV_BLOCK_ALLOCATED) ? 0 : BDRV_BLOCK_ALLOCATED;
        }
    }
    if (ret < 0) {
        error_report("error while reading image metadata: %s", strerror(-ret));
        return ret;
    }
    return ret & BDRV_BLOCK_ALLOCATED;
}

int coroutine_fn copy_differences(CopyCtx *c, int64_t size)
{
    float step = size ? 100.0f / (float)(size / std::min(size, kIoBufSize)) : 0;
    for (int64_t offset = 0, n = 0; offset < size; offset += n) {
        n = std::min(kIoBufSize, size - offset);
        int ret = allocated_here(c, offset, &n);
        if (ret < 0) {
            return ret;
        }
        if (ret) {
            continue;
        }
        ret = rebase_chunk(c, offset, &n);
        if (ret < 0) {
            return ret;
        }
        img_progress_print(step, 100);
    }
    return 0;
}

// Opens the new backing file for the comparison.  False after reporting.
bool open_new_backing(const RebaseArgs &a, BlockDriverState *bs, BackingReader *nb,
                      BlockDriverState **prefix)
{
    std::string path = resolve_backing(bdrv_get_filename(bs), a.out_baseimg);
    std::string want = real_path(path);
    for (BlockDriverState *p = bs; bdrv_backing_bs(p); p = bdrv_backing_bs(p)) {
        if (real_path(bdrv_get_filename(bdrv_backing_bs(p))) == want) {
            *prefix = bdrv_backing_bs(p);
            nb->overlay = p;
            break;
        }
    }
    if (!*prefix) {
        QDict o;
        if (a.out_basefmt) o.set("driver", a.out_basefmt);
        int flags = a.force_share ? BDRV_O_FORCE_SHARE : 0;
        bool wt;
        bdrv_parse_cache_mode(a.src_cache, &flags, &wt);
        ErrorPtr err;
        nb->blk.reset(blk_new_open(path.c_str(), &o, flags, &err));
        if (!nb->blk) {
            error_report("Could not open new backing file '%s': %s", a.out_baseimg,
                         error_get_pretty(err.get()));
            return false;
        }
        nb->size = blk_getlength(nb->blk.get());
    } else {
        img_co_run([&]() coroutine_fn { nb->size = bdrv_co_getlength(*prefix); });
    }
    if (nb->size < 0) {
        error_report("Could not get size of '%s': %s", a.out_baseimg, strerror((int)-nb->size));
        return false;
    }
    return true;
}

bool safe_rebase(const RebaseArgs &a, BlockBackend *blk)
{
    BlockDriverState *bs = blk_bs(blk);
    BackingReader old_b, new_b;
    if (BlockDriverState *backing = bdrv_backing_bs(bs)) {
        old_b.overlay = bs;
        img_co_run([&]() coroutine_fn { old_b.size = bdrv_co_getlength(backing); });
    }
    BlockDriverState *prefix = nullptr;
    bool have_new = a.out_baseimg[0] != '\0';
    if (have_new && !open_new_backing(a, bs, &new_b, &prefix)) {
        return false;
    }
    int64_t size = blk_getlength(blk);
    if (size < 0) {
        error_report("Could not get size of '%s': %s", a.filename, strerror((int)-size));
        return false;
    }
    std::unique_ptr<uint8_t, void (*)(void *)> b1((uint8_t *)qemu_memalign(4096, kIoBufSize),
                                                  qemu_vfree);
    std::unique_ptr<uint8_t, void (*)(void *)> b2((uint8_t *)qemu_memalign(4096, kIoBufSize),
                                                  qemu_vfree);
    CopyCtx c{blk, bs, prefix, &old_b, have_new ? &new_b : nullptr, b1.get(), b2.get()};
    int ret = 0;
    img_co_run([&]() coroutine_fn { ret = copy_differences(&c, size); });
    return ret >= 0;
}

bool change_backing(const RebaseArgs &a, BlockDriverState *bs)
{
    const char *file = a.out_baseimg && *a.out_baseimg ? a.out_baseimg : nullptr;
    const char *fmt = file ? a.out_basefmt : nullptr;
    int ret;
    if (file && !fmt) {
        ret = -EINVAL;  // QEMU 7.2 requires the format of a new backing file
    } else {
        img_co_run([&]() coroutine_fn { ret = bdrv_co_change_backing_file(bs, file, fmt); });
    }
    if (ret == -ENOSPC) {
        error_report("Could not change the backing file to '%s': No space left in the file "
                     "header",
                     a.out_baseimg);
    } else if (ret == -EINVAL && file && !fmt) {
        error_report("Could not change the backing file to '%s': backing format must be "
                     "specified",
                     a.out_baseimg);
    } else if (ret < 0) {
        error_report("Could not change the backing file to '%s': %s", a.out_baseimg,
                     strerror(-ret));
    }
    return ret >= 0;
}

}  // namespace

int img_rebase(int argc, char **argv)
{
    RebaseArgs a;
    parse_args(argc, argv, &a);
    img_progress_init(a.progress, 2.0f);
    img_progress_print(0, 100);
    bool ok = false;
    int flags = 0;
    bool wt;
    if (!bdrv_parse_cache_mode(a.cache, &flags, &wt)) {
        error_report("Invalid cache option: %s", a.cache);
    } else if (!bdrv_parse_cache_mode(a.src_cache, &flags, &wt)) {
        error_report("Invalid source cache option: %s", a.src_cache);
    } else {
        ImgOpenArgs oa;
        oa.fmt = a.fmt;
        oa.flags = BDRV_O_RDWR | (a.unsafe ? BDRV_O_NO_BACKING : 0);
        oa.cache = a.cache;
        oa.image_opts = a.image_opts;
        BlkRef blk(img_open(a.filename, oa));
        if (blk && a.out_basefmt && !bdrv_find_format(a.out_basefmt)) {
            error_report("Invalid format name: '%s'", a.out_basefmt);
        } else if (blk) {
            ok = (a.unsafe || safe_rebase(a, blk.get())) && change_backing(a, blk_bs(blk.get()));
            if (ok) {
                img_progress_print(100, 0);
            }
        }
    }
    img_progress_end();
    return ok ? 0 : 1;
}

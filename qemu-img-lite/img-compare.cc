// qemu-img-lite compare: guest-visible content of two images (block status
// lets us skip regions both report as zero).  Exit 0 identical, 1 different,
// 2 error; offsets of mismatches are reported at 512-byte granularity.
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>

#include "block/block.h"
#include "qemu-img-lite/img-output.h"
#include "qemu-img-lite/img.h"

namespace {

const int64_t kChunk = 2 * 1024 * 1024;
const int64_t kSector = 512;

struct CompareCtx {
    BlockBackend *blk[2];
    const char *name[2];
    bool quiet = false;
    bool strict = false;
    uint8_t *buf[2];
};

#define qprintf(quiet, ...)                \
    do {                                   \
        if (!(quiet)) printf(__VA_ARGS__); \
    } while (0)

// Byte index of the first 512-byte sector that differs (or is non-zero when
// @b is null), or -1.
int64_t first_mismatch(const uint8_t *a, const uint8_t *b, int64_t bytes)
{
    for (int64_t i = 0; i < bytes; i += kSector) {
        int64_t n = std::min(kSector, bytes - i);
        if (b ? memcmp(a + i, b + i, (size_t)n) != 0 : !buffer_is_zero(a + i, (size_t)n)) {
            return i;
        }
    }
    return -1;
}

// Returns 0 when equal, 1 on mismatch (printed), 2 on I/O error (printed).
int read_chunk(CompareCtx *c, int which, int64_t offset, int64_t bytes)
{
    int ret = blk_pread(c->blk[which], offset, bytes, c->buf[which], 0);
    if (ret < 0) {
        error_report("Error while reading offset %" PRId64 " of %s: %s", offset, c->name[which],
                     strerror(-ret));
        return 4;  // qemu-img compare's "error on reading data"
    }
    return 0;
}

int check_empty(CompareCtx *c, int which, int64_t offset, int64_t bytes)
{
    for (int64_t done = 0; done < bytes;) {
        int64_t n = std::min(kChunk, bytes - done);
        int ret = read_chunk(c, which, offset + done, n);
        if (ret) return ret;
        int64_t idx = first_mismatch(c->buf[which], nullptr, n);
        if (idx >= 0) {
            qprintf(c->quiet, "Content mismatch at offset %" PRId64 "!\n", offset + done + idx);
            return 1;
        }
        done += n;
    }
    return 0;
}

int status_at(CompareCtx *c, int which, int64_t offset, int64_t bytes, int64_t *pnum)
{
    int ret = img_block_status_above(blk_bs(c->blk[which]), nullptr, offset, bytes, pnum, nullptr,
                                     nullptr);
    if (ret < 0) {
        error_report("Sector allocation test failed for %s", c->name[which]);
        return ret;
    }
    // EOF is part of the answer qemu-img -s compares: a run that ends the
    // image differs from one that does not, even when both read as zeroes.
    return ret & (BDRV_BLOCK_ALLOCATED | BDRV_BLOCK_ZERO | BDRV_BLOCK_DATA | BDRV_BLOCK_EOF);
}

// Compares [offset, offset+chunk) given both sides' status.
int compare_range(CompareCtx *c, int64_t offset, int64_t chunk, int s0, int s1)
{
    bool a0 = s0 & BDRV_BLOCK_ALLOCATED, a1 = s1 & BDRV_BLOCK_ALLOCATED;
    if ((s0 & BDRV_BLOCK_ZERO) && (s1 & BDRV_BLOCK_ZERO)) {
        return 0;
    }
    if (a0 && a1) {
        chunk = std::min(chunk, kChunk);
        int ret = read_chunk(c, 0, offset, chunk);
        if (!ret) ret = read_chunk(c, 1, offset, chunk);
        if (ret) return ret;
        int64_t idx = first_mismatch(c->buf[0], c->buf[1], chunk);
        if (idx >= 0) {
            qprintf(c->quiet, "Content mismatch at offset %" PRId64 "!\n", offset + idx);
            return 1;
        }
        return 0;
    }
    if (a0 == a1) {
        return 0;  // both unallocated down the chain: both read as zero
    }
    return check_empty(c, a0 ? 0 : 1, offset, chunk);
}

int compare_images(CompareCtx *c, int64_t size0, int64_t size1)
{
    int64_t common = std::min(size0, size1);
    if (c->strict && size0 != size1) {
        qprintf(c->quiet, "Strict mode: Image size mismatch!\n");
        return 1;
    }
    img_progress_print(0, 100);
    for (int64_t offset = 0; offset < common;) {
        int64_t p0, p1;
        int s0 = status_at(c, 0, offset, common - offset, &p0);
        int s1 = s0 < 0 ? 0 : status_at(c, 1, offset, common - offset, &p1);
        if (s0 < 0 || s1 < 0) return 3;  // "error on checking a sector allocation"
        if (c->strict && s0 != s1) {
            qprintf(c->quiet, "Strict mode: Offset %" PRId64 " block status mismatch!\n", offset);
            return 1;
        }
        int64_t chunk = std::min(p0, p1);
        if ((s0 & BDRV_BLOCK_ALLOCATED) && (s1 & BDRV_BLOCK_ALLOCATED) &&
            !((s0 & BDRV_BLOCK_ZERO) && (s1 & BDRV_BLOCK_ZERO))) {
            chunk = std::min(chunk, kChunk);
        }
        int ret = compare_range(c, offset, chunk, s0, s1);
        if (ret) return ret;
        offset += chunk;
        img_progress_print((float)chunk * 100 / (float)common, 100);
    }
    if (size0 != size1) {
        int longer = size0 > size1 ? 0 : 1;
        int64_t total = std::max(size0, size1);
        qprintf(c->quiet, "Warning: Image size mismatch!\n");
        for (int64_t offset = common; offset < total;) {
            int64_t pnum;
            int s = status_at(c, longer, offset, total - offset, &pnum);
            if (s < 0) return 3;
            if ((s & BDRV_BLOCK_ALLOCATED) && !(s & BDRV_BLOCK_ZERO)) {
                int ret = check_empty(c, longer, offset, pnum);
                if (ret) return ret;
            }
            offset += pnum;
        }
    }
    qprintf(c->quiet, "Images are identical.\n");
    return 0;
}

}  // namespace

int img_compare(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"help", no_argument, nullptr, 'h'},
        {"force-share", no_argument, nullptr, 'U'},
        {"image-opts", no_argument, nullptr, 256},
        {nullptr, 0, nullptr, 0},
    };
    const char *fmt[2] = {nullptr, nullptr};
    const char *cache = nullptr;
    bool progress = false, force_share = false, image_opts = false;
    CompareCtx c;
    int ch;
    while ((ch = img_getopt(argc, argv, ":hf:F:T:pqsU", long_options)) != -1) {
        switch (ch) {
        case 'f': fmt[0] = optarg; break;
        case 'F': fmt[1] = optarg; break;
        case 'T': cache = optarg; break;
        case 'p': progress = true; break;
        case 'q': c.quiet = true; break;
        case 's': c.strict = true; break;
        case 'U': force_share = true; break;
        case 256: image_opts = true; break;  // --image-opts: both names are option strings
        }
    }
    if (c.quiet) progress = false;
    if (optind != argc - 2) {
        error_exit("Expecting two image file names");
    }
    BlkRef blk[2];
    int64_t size[2];
    for (int i = 0; i < 2; i++) {
        c.name[i] = argv[optind + i];
        ImgOpenArgs oa;
        oa.fmt = fmt[i];
        oa.cache = cache;
        oa.force_share = force_share;
        oa.image_opts = image_opts;
        oa.quiet = c.quiet;
        blk[i].reset(img_open(c.name[i], oa));
        if (!blk[i]) return 2;
        c.blk[i] = blk[i].get();
        size[i] = blk_getlength(c.blk[i]);
        if (size[i] < 0) {
            error_report("Can't get size of %s: %s", c.name[i], strerror((int)-size[i]));
            return 4;
        }
    }
    std::unique_ptr<uint8_t, void (*)(void *)> b0((uint8_t *)qemu_memalign(4096, kChunk),
                                                  qemu_vfree);
    std::unique_ptr<uint8_t, void (*)(void *)> b1((uint8_t *)qemu_memalign(4096, kChunk),
                                                  qemu_vfree);
    c.buf[0] = b0.get();
    c.buf[1] = b1.get();
    img_progress_init(progress, 2.0);
    int ret = compare_images(&c, size[0], size[1]);
    img_progress_end();
    return ret;
}

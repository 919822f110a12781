// qemu-img-lite map: where each range of the guest view comes from (which
// layer of the backing chain, data/zero, host offset), merged into maximal
// runs, printed as qemu-img's human table or JSON lines.
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

#include "block/block.h"
#include "qemu-img-lite/img.h"

namespace {

struct MapEntry {
    int64_t start = 0, length = 0, depth = 0;
    bool present = false, zero = false, data = false;
    bool has_offset = false;
    int64_t offset = 0;
    std::string filename;  // empty: none
};

// Status of [offset, offset+bytes) walking down the chain until a layer has
// data or zeroes (qemu-img's get_block_status).
int get_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes, MapEntry *e)
{
    int depth = 0, ret = 0;
    int64_t map = 0;
    BlockDriverState *file = nullptr;
    for (;;) {
        int64_t pnum = 0;
        img_co_run([&]() coroutine_fn {
            ret = bdrv_co_block_status(bs, offset, bytes, &pnum, &map, &file);
        });
        if (ret < 0) return ret;
        bytes = pnum;
        if (ret & (BDRV_BLOCK_ZERO | BDRV_BLOCK_DATA)) break;
        // As qemu-img: below filters (blkdebug), then down the backing chain.
        BlockDriverState *cow = bdrv_backing_bs(bdrv_skip_filters(bs));
        if (!cow) {
            ret = 0;
            break;
        }
        bs = cow;
        depth++;
    }
    *e = MapEntry{};
    e->start = offset;
    e->length = bytes;
    e->depth = depth;
    e->data = ret & BDRV_BLOCK_DATA;
    e->zero = ret & BDRV_BLOCK_ZERO;
    e->present = ret & BDRV_BLOCK_ALLOCATED;
    e->has_offset = ret & BDRV_BLOCK_OFFSET_VALID;
    e->offset = map;
    if (file && e->has_offset) e->filename = bdrv_get_filename(file);
    return 0;
}

bool mergeable(const MapEntry &cur, const MapEntry &next)
{
    if (cur.depth != next.depth || cur.present != next.present || cur.zero != next.zero ||
        cur.data != next.data || cur.has_offset != next.has_offset ||
        cur.filename != next.filename) {
        return false;
    }
    return !cur.has_offset || cur.offset + cur.length == next.offset;
}

int dump_entry(OutputFormat ofmt, const MapEntry &e, const MapEntry *next)
{
    if (ofmt == OFORMAT_HUMAN) {
        if (e.data && !e.has_offset) {
            error_report("File contains external, encrypted or compressed clusters.");
            return -1;
        }
        if (e.data && !e.zero) {
            printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n", (uint64_t)e.start,
                   (uint64_t)e.length, (uint64_t)(e.has_offset ? e.offset : 0), e.filename.c_str());
        }
        return 0;
    }
    printf("{ \"start\": %" PRId64 ", \"length\": %" PRId64 ", \"depth\": %" PRId64
           ", \"present\": %s, \"zero\": %s, \"data\": %s",
           e.start, e.length, e.depth, e.present ? "true" : "false", e.zero ? "true" : "false",
           e.data ? "true" : "false");
    if (e.has_offset) printf(", \"offset\": %" PRId64, e.offset);
    putchar('}');
    if (next) puts(",");
    return 0;
}

}  // namespace

int img_map(int argc, char **argv)
{
    enum { OPTION_OUTPUT = 256, OPTION_START_OFFSET, OPTION_MAX_LENGTH, OPTION_IMAGE_OPTS };
    static const struct option long_options[] = {
        {"help", no_argument, nullptr, 'h'},
        {"format", required_argument, nullptr, 'f'},
        {"output", required_argument, nullptr, OPTION_OUTPUT},
        {"force-share", no_argument, nullptr, 'U'},
        {"start-offset", required_argument, nullptr, OPTION_START_OFFSET},
        {"max-length", required_argument, nullptr, OPTION_MAX_LENGTH},
        {"image-opts", no_argument, nullptr, OPTION_IMAGE_OPTS},
        {nullptr, 0, nullptr, 0},
    };
    ImgOpenArgs oa;
    const char *output = nullptr;
    int64_t start_offset = 0, max_length = -1;  // -1: to the end
    int c;
    while ((c = img_getopt(argc, argv, ":f:hU", long_options)) != -1) {
        switch (c) {
        case 'f': oa.fmt = optarg; break;
        case 'U': oa.force_share = true; break;
        case OPTION_OUTPUT: output = optarg; break;
        case OPTION_IMAGE_OPTS: oa.image_opts = true; break;
        case OPTION_START_OFFSET:
            start_offset = img_cvtnum("start offset", optarg);
            if (start_offset < 0) return 1;
            break;
        case OPTION_MAX_LENGTH:
            max_length = img_cvtnum("max length", optarg);
            if (max_length < 0) return 1;
            break;
        }
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    const char *filename = argv[optind];
    OutputFormat ofmt = output ? img_parse_output_format(output) : OFORMAT_HUMAN;

    BlkRef blk(img_open(filename, oa));
    if (!blk) return 1;
    BlockDriverState *bs = blk_bs(blk.get());
    int64_t length = blk_getlength(blk.get());
    if (length < 0) {
        error_report("Failed to get size for '%s'", filename);
        return 1;
    }
    if (max_length >= 0) length = std::min(start_offset + max_length, length);

    if (ofmt == OFORMAT_HUMAN) {
        printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
    } else {
        printf("[");
    }
    // Like qemu-img, the last entry is printed even when empty (a 0-byte
    // image, or a start offset at or past the end): JSON shows one entry.
    MapEntry curr;
    curr.start = start_offset;
    for (int64_t offset = start_offset; offset < length;) {
        MapEntry next;
        int64_t n = std::min<int64_t>(1LL << 30, length - offset);
        int err = get_block_status(bs, offset, n, &next);
        if (err < 0) {
            error_report("Could not read file metadata: %s", strerror(-err));
            return 1;
        }
        if (curr.length > 0 && mergeable(curr, next)) {
            curr.length += next.length;
        } else {
            if (curr.length > 0 && dump_entry(ofmt, curr, &next) < 0) return 1;
            curr = next;
        }
        offset += next.length;
    }
    if (dump_entry(ofmt, curr, nullptr) < 0) return 1;
    if (ofmt == OFORMAT_JSON) printf("]\n");
    return 0;
}

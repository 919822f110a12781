// Commands about the image as a whole: discard, flush, truncate, length,
// info, map and alloc.
#include <getopt.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "block/block.h"
#include "util/json-output.h"
#include "qemu-io-lite/qemu-io.h"
#include "util/util.h"

extern const IoCmd io_image_cmds[];
static const IoCmd &discard_cmd = io_image_cmds[0];
static const IoCmd &truncate_cmd = io_image_cmds[2];

static int discard_f(BlockBackend *blk, int argc, char **argv)
{
    bool cflag = false, qflag = false;
    int c;
    while ((c = getopt(argc, argv, "Cq")) != -1) {
        switch (c) {
        case 'C': cflag = true; break;
        case 'q': qflag = true; break;
        default: io_command_usage(&discard_cmd); return -EINVAL;
        }
    }
    if (optind != argc - 2) {
        io_command_usage(&discard_cmd);
        return -EINVAL;
    }
    int64_t offset = io_cvtnum(argv[optind]);
    if (offset < 0) {
        io_print_cvtnum_err(offset, argv[optind]);
        return (int)offset;
    }
    int64_t bytes = io_cvtnum(argv[optind + 1]);
    if (bytes < 0) {
        io_print_cvtnum_err(bytes, argv[optind + 1]);
        return (int)bytes;
    } else if (bytes > kRequestMaxBytes) {
        printf("length cannot exceed %" PRIu64 ", given %s\n", (uint64_t)kRequestMaxBytes,
               argv[optind + 1]);
        return -EINVAL;
    }
    struct timespec t1 = io_now();
    int ret = blk_pdiscard(blk, offset, bytes);
    struct timespec t2 = io_now();
    if (ret < 0) {
        printf("discard failed: %s\n", strerror(-ret));
        return ret;
    }
    if (!qflag) {
        t2 = io_tsub(t2, t1);
        io_print_report("discard", &t2, offset, bytes, bytes, 1, cflag);
    }
    return 0;
}

static int flush_f(BlockBackend *blk, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return blk_flush(blk);
}

static int truncate_f(BlockBackend *blk, int argc, char **argv)
{
    PreallocMode prealloc = PreallocMode::Off;
    int c;
    while ((c = getopt(argc, argv, "m:")) != -1) {
        switch (c) {
        case 'm':
            if (!prealloc_mode_parse(optarg, &prealloc)) {
                error_report("Invalid preallocation mode '%s'", optarg);
                return -EINVAL;
            }
            break;
        default: io_command_usage(&truncate_cmd); return -EINVAL;
        }
    }
    if (optind != argc - 1) {
        io_command_usage(&truncate_cmd);
        return -EINVAL;
    }
    int64_t offset = io_cvtnum(argv[optind]);
    if (offset < 0) {
        io_print_cvtnum_err(offset, argv[1]);  // qemu-io quotes argv[1] here
        return (int)offset;
    }
    ErrorPtr err;
    int ret = blk_truncate(blk, offset, false, (int)prealloc, &err);
    if (ret < 0) {
        error_report_err(err.release());
        return ret;
    }
    return 0;
}

static int length_f(BlockBackend *blk, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char s1[64];
    int64_t size = blk_getlength(blk);
    if (size < 0) {
        printf("getlength: %s\n", strerror((int)-size));
        return (int)size;
    }
    io_cvtstr((double)size, s1, sizeof(s1));
    printf("%s\n", s1);
    return 0;
}

static int info_f(BlockBackend *blk, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    BlockDriverState *bs = blk_bs(blk);
    char s1[64], s2[64];
    if (const char *fmt = bdrv_get_format_name(bs)) {
        printf("format name: %s\n", fmt);
    }
    BlockDriverInfo bdi;
    int ret = bdrv_get_info(bs, &bdi);
    if (ret) {
        return ret;
    }
    io_cvtstr(bdi.cluster_size, s1, sizeof(s1));
    io_cvtstr((double)bdi.vm_state_offset, s2, sizeof(s2));
    printf("cluster size: %s\n", s1);
    printf("vm state offset: %s\n", s2);
    ErrorPtr err;
    JsonNodeRef spec(bdrv_get_specific_info(bs, &err));
    if (err) {
        error_report_err(err.release());
        return -EIO;
    }
    if (spec.node && JSON_NODE_HOLDS_OBJECT(spec.node)) {
        JsonObject *o = json_node_get_object(spec.node);
        if (json_object_has_member(o, "data")) {
            printf("Format specific information:\n");
            img_dump_human(json_object_get_object_member(o, "data"), 1);
        }
    }
    return 0;
}

// Allocation in the top node only (QEMU's bdrv_is_allocated): 1, 0 or -errno.
static int is_allocated(BlockBackend *blk, int64_t offset, int64_t bytes, int64_t *pnum)
{
    BlockDriverState *bs = blk_bs(blk);
    return (int)blk_run_co(blk, [&]() coroutine_fn -> int {
        int ret = bdrv_co_block_status(bs, offset, bytes, pnum, nullptr, nullptr);
        return ret < 0 ? ret : !!(ret & BDRV_BLOCK_ALLOCATED);
    });
}

// Merges consecutive extents with the same allocation state.
static int map_is_allocated(BlockBackend *blk, int64_t offset, int64_t bytes, int64_t *pnum)
{
    int64_t num;
    int ret = is_allocated(blk, offset, bytes, &num);
    if (ret < 0) {
        return ret;
    }
    int first = ret;
    *pnum = num;
    while (bytes > 0 && ret == first) {
        offset += num;
        bytes -= num;
        ret = is_allocated(blk, offset, bytes, &num);
        if (ret == first && num) {
            *pnum += num;
        } else {
            break;
        }
    }
    return first;
}

static int map_f(BlockBackend *blk, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char s1[64], s2[64];
    int64_t offset = 0, num;
    int64_t bytes = blk_getlength(blk);
    if (bytes < 0) {
        error_report("Failed to query image length: %s", strerror((int)-bytes));
        return (int)bytes;
    }
    while (bytes) {
        int ret = map_is_allocated(blk, offset, bytes, &num);
        if (ret < 0) {
            error_report("Failed to get allocation status: %s", strerror(-ret));
            return ret;
        } else if (!num) {
            error_report("Unexpected end of image");
            return -EIO;
        }
        io_cvtstr((double)num, s1, sizeof(s1));
        io_cvtstr((double)offset, s2, sizeof(s2));
        printf("%s (0x%" PRIx64 ") bytes %s at offset %s (0x%" PRIx64 ")\n", s1, num,
               ret ? "    allocated" : "not allocated", s2, offset);
        offset += num;
        bytes -= num;
    }
    return 0;
}

static int alloc_f(BlockBackend *blk, int argc, char **argv)
{
    char s1[64];
    int64_t start, offset, count = 512, num, sum_alloc = 0;
    start = offset = io_cvtnum(argv[1]);
    if (offset < 0) {
        io_print_cvtnum_err(offset, argv[1]);
        return (int)offset;
    }
    if (argc == 3) {
        count = io_cvtnum(argv[2]);
        if (count < 0) {
            io_print_cvtnum_err(count, argv[2]);
            return (int)count;
        }
    }
    int64_t remaining = count;
    while (remaining) {
        int ret = is_allocated(blk, offset, remaining, &num);
        if (ret < 0) {
            printf("is_allocated failed: %s\n", strerror(-ret));
            return ret;
        }
        offset += num;
        remaining -= num;
        if (ret) {
            sum_alloc += num;
        }
        if (num == 0) {
            count -= remaining;
            remaining = 0;
        }
    }
    io_cvtstr((double)start, s1, sizeof(s1));
    printf("%" PRId64 "/%" PRId64 " bytes allocated at offset %s\n", sum_alloc, count, s1);
    return 0;
}

static void discard_help(void)
{
    printf("\n"
           " discards a range of bytes from the given offset\n"
           "\n"
           " Example:\n"
           " 'discard 512 1k' - discards 1 kilobyte from 512 bytes into the file\n"
           "\n"
           " Discards a segment of the currently open file.\n"
           " -C, -- report statistics in a machine parsable format\n"
           " -q, -- quiet mode, do not show I/O statistics\n"
           "\n");
}

const IoCmd io_image_cmds[] = {
    {"discard", "d", discard_f, 2, -1, 0, true, "[-Cq] off len",
     "discards a number of bytes at a specified offset", discard_help},
    {"flush", "f", flush_f, 0, 0, 0, false, nullptr, "flush all in-core file state to disk",
     nullptr},
    {"truncate", "t", truncate_f, 1, 3, 0, true, "[-m prealloc_mode] off",
     "truncates the current file at the given offset", nullptr},
    {"length", "l", length_f, 0, 0, 0, false, nullptr, "gets the length of the current file",
     nullptr},
    {"info", "i", info_f, 0, 0, 0, false, nullptr, "prints information about the current file",
     nullptr},
    {"map", nullptr, map_f, 0, 0, 0, false, "", "prints the allocated areas of a file", nullptr},
    {"alloc", "a", alloc_f, 1, 2, 0, false, "offset [count]",
     "checks if offset is allocated in the file", nullptr},
    {},
};

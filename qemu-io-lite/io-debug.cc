// Breakpoint commands: break, remove_break, resume, wait_break.  They drive
// blkdebug breakpoints (a request that emits an event is suspended in its
// coroutine until resumed), so a test can hold one aio request at a chosen
// point while others run: the way to exercise concurrent requests with a
// deterministic order.
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "block/block.h"
#include "qemu-io-lite/qemu-io.h"
#include "util/util.h"

static int break_f(BlockBackend *blk, int argc, char **argv)
{
    (void)argc;
    int ret = bdrv_debug_breakpoint(blk_bs(blk), argv[1], argv[2]);
    if (ret < 0) {
        printf("Could not set breakpoint: %s\n", strerror(-ret));
    }
    return ret;
}

static int remove_break_f(BlockBackend *blk, int argc, char **argv)
{
    (void)argc;
    int ret = bdrv_debug_remove_breakpoint(blk_bs(blk), argv[1]);
    if (ret < 0) {
        printf("Could not remove breakpoint %s: %s\n", argv[1], strerror(-ret));
    }
    return ret;
}

static int resume_f(BlockBackend *blk, int argc, char **argv)
{
    (void)argc;
    int ret = bdrv_debug_resume(blk_bs(blk), argv[1]);
    if (ret < 0) {
        printf("Could not resume request: %s\n", strerror(-ret));
    }
    return ret;
}

// Polls until a request is suspended at @tag.  qemu-io waits forever when
// that cannot happen; we say so instead: no node can suspend requests, or
// no request is left that could reach the breakpoint.
static int wait_break_f(BlockBackend *blk, int argc, char **argv)
{
    (void)argc;
    BlockDriverState *bs = blk_bs(blk);
    if (!bdrv_debug_has_breakpoints(bs)) {
        printf("Could not wait for breakpoint: %s\n", strerror(ENOTSUP));
        return -ENOTSUP;
    }
    AioContext *ctx = blk_get_aio_context(blk);
    while (!bdrv_debug_is_suspended(bs, argv[1])) {
        if (!io_aio_pending() && !blk_in_flight(blk)) {
            printf("Could not wait for breakpoint: no request in flight\n");
            return -ENOENT;
        }
        aio_poll(ctx, true);
    }
    return 0;
}

const IoCmd io_debug_cmds[] = {
    {"break", nullptr, break_f, 2, 2, 0, false, "event tag",
     "sets a breakpoint on event and tags the stopped request as tag", nullptr},
    {"remove_break", nullptr, remove_break_f, 1, 1, 0, false, "tag", "remove a breakpoint by tag",
     nullptr},
    {"resume", nullptr, resume_f, 1, 1, 0, false, "tag", "resumes the request tagged as tag",
     nullptr},
    {"wait_break", nullptr, wait_break_f, 1, 1, 0, false, "tag",
     "waits for the suspension of a request", nullptr},
    {},
};

// How qemu-system-lite creates the disk frontends: a -drive option becomes a
// BlockBackend plus a DriveConfig, handed to the frontend's create hook.
//
// Contract for the hooks (implemented by hw/virtio-blk.cc and hw/ide.cc):
// called once at machine setup, in the main thread, with the BQL held,
// before the vCPU starts.  The device registers its PIO/MMIO regions and IRQ
// line on @m, takes a reference-free pointer to @blk (the caller keeps the
// BlockBackend alive until after machine_free) and copies what it needs from
// @conf.  Returns 0, or a negative errno after printing nothing: the caller
// reports "qemu-system-lite: -drive ...: could not create device".
#pragma once

#include <string>

struct Machine;
struct BlockBackend;

enum DriveInterface {
    IF_NONE = 0,
    IF_IDE,
    IF_VIRTIO,
};

// QEMU's BlockdevOnError for werror=/rerror=.
enum BlockdevOnError {
    BLOCKDEV_ON_ERROR_REPORT = 0,  // complete the request with an error (rerror default)
    BLOCKDEV_ON_ERROR_IGNORE,      // complete the request as if it succeeded
    BLOCKDEV_ON_ERROR_ENOSPC,      // stop on ENOSPC, report others (werror default)
    BLOCKDEV_ON_ERROR_STOP,        // machine_request_stop(), keep the request
};

struct DriveConfig {
    BlockBackend *blk = nullptr;
    DriveInterface interface = IF_NONE;
    bool read_only = false;
    bool write_cache = true;  // guest-visible write cache (false: cache=writethrough/directsync)
    BlockdevOnError werror = BLOCKDEV_ON_ERROR_ENOSPC;
    BlockdevOnError rerror = BLOCKDEV_ON_ERROR_REPORT;
    std::string serial;  // IDENTIFY serial / virtio GET_ID ("" = device default)
    std::string model;   // IDENTIFY model ("" = "QEMU-LITE HARDDISK")
};

// Parses werror=/rerror= values ("report", "ignore", "enospc", "stop").
// enospc is accepted only when @is_write.  Returns false on a bad value.
bool blockdev_parse_on_error(const char *value, bool is_write, BlockdevOnError *out);

// What the frontend should do with a failed request (@error is -errno).
// REPORT/IGNORE/STOP as in QEMU's blk_get_error_action.
enum BlockErrorAction {
    BLOCK_ERROR_ACTION_REPORT,
    BLOCK_ERROR_ACTION_IGNORE,
    BLOCK_ERROR_ACTION_STOP
};
BlockErrorAction drive_get_error_action(const DriveConfig *conf, bool is_read, int error);

// Frontend create hooks (see the contract above).
int virtio_blk_mmio_create(Machine *m, BlockBackend *blk, const DriveConfig *conf);
int ide_create(Machine *m, BlockBackend *blk, const DriveConfig *conf);

// Frees every frontend created on @m (device state, bottom halves).  Call
// in the main thread with the BQL held, after the vCPU stopped and
// aio_drain() let in-flight requests complete, before machine_free(m) and
// before the BlockBackends are closed.  Implemented by hw/frontends.cc.
void frontends_free(Machine *m);
// For the frontends: @fn(@opaque) runs at frontends_free(@m), newest first.
void frontend_register(Machine *m, void (*fn)(void *opaque), void *opaque);

// -qtest: runs the qtest-lite line protocol on @chardev ("unix:PATH" or
// "stdio") instead of starting the vCPU.  Called in the main thread with the
// BQL held after the devices exist; returns when the client disconnects,
// with the process exit status.  Implemented by hw/qtest.cc.
int qtest_run(Machine *m, const char *chardev);

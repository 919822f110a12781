// werror=/rerror= policy for the disk frontends (see drive-io-int.h).
#include "hw/drive-io-int.h"

#include <cassert>
#include <cerrno>
#include <cstring>

#include "hw/devices.h"
#include "hw/machine.h"
#include "util/aio.h"

int coroutine_fn drive_co_io(Machine *m, const DriveConfig *conf, bool is_read, DriveIOFunc *io,
                             void *opaque)
{
    assert(qemu_in_coroutine());
    for (;;) {
        int ret = io(opaque);
        if (ret >= 0) {
            return ret;
        }
        BlockErrorAction action = drive_get_error_action(conf, is_read, ret);
        TRACE("drive_error", "drive: %s error %d, action %s\n", is_read ? "read" : "write", ret,
              action == BLOCK_ERROR_ACTION_STOP     ? "stop"
              : action == BLOCK_ERROR_ACTION_IGNORE ? "ignore"
                                                    : "report");
        if (action == BLOCK_ERROR_ACTION_IGNORE) {
            return 0;
        }
        if (action == BLOCK_ERROR_ACTION_REPORT) {
            return ret;
        }
        // Stop: the stop request is asynchronous, so wait at least one
        // tick, then until someone (monitor, qtest "vm_resume") resumes.
        machine_request_stop(m, is_read ? "read error" : "write error");
        do {
            qemu_co_sleep_ns(1000 * 1000);
        } while (machine_is_stopped(m) && !machine_exit_requested(m, nullptr));
        if (machine_exit_requested(m, nullptr)) {
            return ret;  // the VM is going away while stopped: fail the request
        }
    }
}

bool blockdev_parse_on_error(const char *value, bool is_write, BlockdevOnError *out)
{
    if (!strcmp(value, "report")) {
        *out = BLOCKDEV_ON_ERROR_REPORT;
    } else if (!strcmp(value, "ignore")) {
        *out = BLOCKDEV_ON_ERROR_IGNORE;
    } else if (!strcmp(value, "stop")) {
        *out = BLOCKDEV_ON_ERROR_STOP;
    } else if (!strcmp(value, "enospc") && is_write) {
        *out = BLOCKDEV_ON_ERROR_ENOSPC;  // QEMU: rerror=enospc is refused
    } else {
        return false;
    }
    return true;
}

BlockErrorAction drive_get_error_action(const DriveConfig *conf, bool is_read, int error)
{
    switch (is_read ? conf->rerror : conf->werror) {
    case BLOCKDEV_ON_ERROR_ENOSPC:
        return (error == -ENOSPC || error == ENOSPC) ? BLOCK_ERROR_ACTION_STOP
                                                     : BLOCK_ERROR_ACTION_REPORT;
    case BLOCKDEV_ON_ERROR_STOP: return BLOCK_ERROR_ACTION_STOP;
    case BLOCKDEV_ON_ERROR_IGNORE: return BLOCK_ERROR_ACTION_IGNORE;
    default: return BLOCK_ERROR_ACTION_REPORT;
    }
}

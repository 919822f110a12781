// Shared by the disk frontends: run one block request in a coroutine under
// the drive's werror=/rerror= policy.
#pragma once

#include "coroutine/coroutine.h"

struct Machine;
struct DriveConfig;

typedef int coroutine_fn DriveIOFunc(void *opaque);

// Runs @io(@opaque) until it succeeds or the error policy ends it.
// Returns >= 0 on success or when the error is ignored (werror=ignore), the
// -errno to report otherwise.  With the stop action the VM is paused
// (machine_request_stop) and the request is retried once it resumes; the
// coroutine waits in the main loop meanwhile.  Must run in a coroutine in
// the main AioContext.
int coroutine_fn drive_co_io(Machine *m, const DriveConfig *conf, bool is_read, DriveIOFunc *io,
                             void *opaque);

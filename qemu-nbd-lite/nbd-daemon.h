// Process plumbing for qemu-nbd-lite: --fork, --pid-file and SIGTERM.
#pragma once

#include "util/error.h"

// Forks; the parent waits until the child calls daemon_ready() (exit 0) or
// dies first (exit 1) and never returns.  The child returns.
void daemon_fork(void);
// Tells a waiting parent the server is listening and detaches from the
// terminal (stderr stays with @keep_stderr, i.e. -v).  No-op without --fork.
void daemon_ready(bool keep_stderr);

bool daemon_write_pidfile(const char *path, Error **errp);

// Installs SIGTERM/SIGINT/SIGHUP handlers that make daemon_signal_fd()
// readable; the main loop polls it and shuts down cleanly.
int daemon_signal_setup(void);

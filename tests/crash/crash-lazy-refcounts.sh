#!/usr/bin/env bash
# Crash consistency with lazy_refcounts=on (issue 15): the crash-consistency
# run on images whose refcount updates are deferred, so that a kill leaves a
# dirty image; after the repair on a read/write open, real qemu-img check
# must find no corruption and every flushed write must read back.
#
#   crash-lazy-refcounts.sh BUILD_DIR [ITERATIONS]
CRASH_LAZY=1 exec "$(dirname "$0")/crash-consistency.sh" "$@"

#!/usr/bin/env bash
# Coroutine switch cost: our asm and ucontext switches, the public API,
# Boost.Context fcontext and swapcontext, measured in one process.
set -euo pipefail
bin=${QEMU_LITE_BUILD:-build}/bench/coroutine-bench
if [ ! -x "$bin" ]; then
    echo "coroutine-bench not built (libboost-context-dev missing?)"
    exit 1
fi
"$bin" "$@"

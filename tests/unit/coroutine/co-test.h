// Helpers shared by the coroutine unit tests.
#pragma once

#include <csetjmp>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <string>

extern "C" {
#include <cmocka.h>
}

#include "config-host.h"
#include "coroutine/coroutine.h"

// The thread backend hands control between OS threads, so a switch costs
// microseconds instead of nanoseconds; switch-heavy tests divide their
// iteration counts so the suite stays within a few seconds there too.  The
// logic exercised is the same, only the repetition is shorter.  Likewise
// for ucontext under ASan: ASan's _longjmp interceptor unpoisons the whole
// stack being left on every switch (microseconds each).
static inline long co_test_iterations(long n)
{
#if defined(CONFIG_COROUTINE_THREAD) || (CONFIG_ASAN && defined(CONFIG_COROUTINE_UCONTEXT))
    return n / 20 > 1 ? n / 20 : 1;
#else
    return n;
#endif
}

static inline bool co_test_asan(void) { return CONFIG_ASAN; }

// How a forked child ended, with everything it wrote to stderr.
struct ChildResult {
    bool exited = false;
    int exit_code = -1;
    int signal = 0;
    std::string err;
};

// Runs @fn(@arg) in a child process with default signal dispositions (the
// test runner's handlers removed) and no core dumps; the child exits 0 if
// @fn returns.
ChildResult co_test_run_child(void (*fn)(void *), void *arg);

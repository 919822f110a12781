// Misuse that must abort with a clear message, and stack overflow hitting
// the guard page.  Each case runs in a forked child; the parent checks how
// it died and survives to run the next case.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include "co-test.h"
#include "coroutine/coroutine-int.h"  // the guard page's address

static void nothing(void *) {}

static void enter_terminated(void *)
{
    Coroutine *co = qemu_coroutine_create(nothing, nullptr);
    qemu_coroutine_enter(co);
    qemu_coroutine_enter(co);
}

static void assert_aborted_with(const ChildResult &r, const char *message)
{
    if (r.signal != SIGABRT) {
        fail_msg("child did not abort (exited=%d code=%d signal=%d), stderr: %s", r.exited,
                 r.exit_code, r.signal, r.err.c_str());
    }
    if (r.err.find(message) == std::string::npos) {
        fail_msg("stderr lacks \"%s\": %s", message, r.err.c_str());
    }
}

static void test_enter_terminated_aborts(void **)
{
    ChildResult r = co_test_run_child(enter_terminated, nullptr);
    assert_aborted_with(r, "qemu_coroutine_enter: entering a terminated coroutine");
}

static void enter_self(void *) { qemu_coroutine_enter(qemu_coroutine_self()); }

static void enter_running(void *)
{
    qemu_coroutine_enter(qemu_coroutine_create(enter_self, nullptr));
}

static void test_enter_running_aborts(void **)
{
    ChildResult r = co_test_run_child(enter_running, nullptr);
    assert_aborted_with(r, "Co-routine re-entered recursively");
}

static void yield_in_plain_code(void *) { qemu_coroutine_yield(); }

static void test_yield_outside_coroutine_aborts(void **)
{
    ChildResult r = co_test_run_child(yield_in_plain_code, nullptr);
    assert_aborted_with(r, "qemu_coroutine_yield: called outside a coroutine");
}

static void yield_to_loop_entry(void *) { qemu_coroutine_yield_to_loop(); }

static void yield_to_loop_without_hook(void *)
{
    qemu_coroutine_enter(qemu_coroutine_create(yield_to_loop_entry, nullptr));
}

static void test_yield_to_loop_without_hook_aborts(void **)
{
    ChildResult r = co_test_run_child(yield_to_loop_without_hook, nullptr);
    assert_aborted_with(r, "no main loop installed a reschedule hook");
}

// --- stack overflow --------------------------------------------------------

static const char *guard_lo;
static const char *guard_hi;

// Runs on an alternate stack: reports whether the fault address is in the
// guard page, then dies of the SIGSEGV as it would without a handler.
static void on_segv(int sig, siginfo_t *info, void *)
{
    const char *addr = static_cast<const char *>(info->si_addr);
    const char *msg = addr >= guard_lo && addr < guard_hi ? "fault in guard page\n"
                                                          : "fault outside guard page\n";
    ssize_t ignored = write(STDERR_FILENO, msg, strlen(msg));
    (void)ignored;
    signal(sig, SIG_DFL);
    raise(sig);
}

[[gnu::noinline]] static int recurse(int depth)
{
    if (depth > (1 << 30)) {  // never: keeps the recursion finite for the compiler
        return 0;
    }
    volatile char frame[1024];
    frame[0] = static_cast<char>(depth);
    frame[sizeof(frame) - 1] = static_cast<char>(depth);
    return recurse(depth + 1) + frame[0] + frame[sizeof(frame) - 1];
}

static void overflow_entry(void *)
{
    // The handler needs its own stack (per OS thread, hence set up here,
    // on the coroutine's thread for the thread backend).
    static char altstack[64 * 1024];
    stack_t ss = {};
    ss.ss_sp = altstack;
    ss.ss_size = sizeof(altstack);
    sigaltstack(&ss, nullptr);
    struct sigaction sa = {};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, nullptr);
    fprintf(stderr, "%d\n", recurse(0));
}

static void overflow_child(void *)
{
    Coroutine *co = qemu_coroutine_create_sized(overflow_entry, nullptr, 64 * 1024);
    guard_lo = static_cast<const char *>(co->stack.mapping);
    guard_hi = static_cast<const char *>(co->stack.bottom);
    qemu_coroutine_enter(co);
}

static void test_guard_page_overflow(void **)
{
    ChildResult r = co_test_run_child(overflow_child, nullptr);
    if (co_test_asan()) {
        // ASan catches the overflow itself (its own SEGV handling and
        // report); any abnormal end of the child is the expected outcome.
        assert_false(r.exited && r.exit_code == 0);
        return;
    }
    if (r.signal != SIGSEGV) {
        fail_msg("child did not die of SIGSEGV (exited=%d code=%d signal=%d): %s", r.exited,
                 r.exit_code, r.signal, r.err.c_str());
    }
    assert_true(r.err.find("fault in guard page") != std::string::npos);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enter_terminated_aborts),
        cmocka_unit_test(test_enter_running_aborts),
        cmocka_unit_test(test_yield_outside_coroutine_aborts),
        cmocka_unit_test(test_yield_to_loop_without_hook_aborts),
        cmocka_unit_test(test_guard_page_overflow),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}

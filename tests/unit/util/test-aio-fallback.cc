// Runtime detection: in a child whose seccomp filter makes io_setup and
// io_uring_setup fail with EPERM (as container runtimes do), both kernel
// backends report themselves unavailable with QEMU's wording, selection
// falls back to aio=threads with a warning, and a request submitted through
// them anyway still completes (through the thread pool).
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cstddef>

#include "tests/unit/util/test-aio-io.h"
#include "util/iov.h"

static bool deny_kernel_aio(void)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_setup, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof(filter) / sizeof(filter[0])), filter};
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

// Child body: returns the number of the first failed check, 0 if all pass.
static int child_checks(const char *log_path)
{
    if (!freopen(log_path, "w", stderr)) {
        return 1;
    }
    if (!deny_kernel_aio()) {
        return 2;
    }
    ErrorPtr err;
    if (aio_backend_available(AioBackend::IoUring, &err) ||
        strcmp(error_get_pretty(err.get()),
               "Unable to use io_uring: failed to init linux io_uring ring: "
               "Operation not permitted")) {
        return 3;
    }
    err.reset();
    if (aio_backend_available(AioBackend::Native, &err) ||
        strcmp(error_get_pretty(err.get()),
               "Unable to use native AIO: failed to create linux AIO context: "
               "Operation not permitted")) {
        return 4;
    }
    err.reset();
    if (aio_backend_select(AioBackend::IoUring) != AioBackend::Threads) {
        return 5;
    }
    TempFile f;
    char buf[512];
    memset(buf, 'x', sizeof(buf));
    AioContext *ctx = qemu_get_aio_context();
    for (AioBackend b : {AioBackend::Native, AioBackend::IoUring}) {
        if (run_one(ctx, b, f.fd, 0, buf, sizeof(buf), AioOp::Write) != (int)sizeof(buf)) {
            return 6;
        }
    }
    return 0;
}

static void test_fallback_when_kernel_refuses(void **)
{
    TempFile log;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fflush(stdout);
        int failed = child_checks(log.path.c_str());
        fflush(stderr);
        _exit(failed);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    char text[2048] = {};
    assert_true(pread(log.fd, text, sizeof(text) - 1, 0) > 0);
    // One warning per cause: the selection, then each engine's first use.
    assert_non_null(strstr(text, "warning: Unable to use io_uring: failed to init linux io_uring "
                                 "ring: Operation not permitted; falling back to aio=threads\n"));
    assert_non_null(strstr(text, "warning: aio=native: failed to create linux AIO context: "
                                 "Operation not permitted; using the thread pool\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fallback_when_kernel_refuses),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}

// --fork, --pid-file and termination signals for qemu-nbd-lite.
#include "qemu-nbd-lite/nbd-daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

static int g_ready_fd = -1;
static int g_signal_pipe[2] = {-1, -1};

void daemon_fork(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        error_report("Failed to create pipe: %s", strerror(errno));
        exit(EXIT_FAILURE);
    }
    pid_t pid = fork();
    if (pid < 0) {
        error_report("Failed to fork: %s", strerror(errno));
        exit(EXIT_FAILURE);
    }
    if (pid == 0) {
        close(p[0]);
        g_ready_fd = p[1];
        setsid();
        return;
    }
    close(p[1]);
    char c;
    ssize_t n;
    do {
        n = read(p[0], &c, 1);
    } while (n < 0 && errno == EINTR);
    if (n == 1) exit(EXIT_SUCCESS);
    // The child failed before listening and already said why on stderr.
    int status = 0;
    waitpid(pid, &status, 0);
    exit(EXIT_FAILURE);
}

void daemon_ready(bool keep_stderr)
{
    if (g_ready_fd < 0) return;
    char c = 1;
    if (write(g_ready_fd, &c, 1) != 1) {
        // Parent gone: nothing to tell.
    }
    close(g_ready_fd);
    g_ready_fd = -1;
    // Like qemu-nbd, drop the terminal once the parent has returned.
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        // Without -v, stderr goes too: a caller reading the parent's output
        // through a pipe must see EOF once the parent exits.
        if (!keep_stderr) dup2(devnull, STDERR_FILENO);
        close(devnull);
    }
}

bool daemon_write_pidfile(const char *path, Error **errp)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        error_setg_errno(errp, errno, "Cannot open pid file");
        return false;
    }
    fprintf(f, "%d\n", getpid());
    fclose(f);
    // Rename so a script polling for the file never reads it half-written.
    if (rename(tmp, path) < 0) {
        error_setg_errno(errp, errno, "Cannot write pid file");
        unlink(tmp);
        return false;
    }
    return true;
}

static void on_signal(int sig)
{
    char c = char(sig);
    int saved = errno;
    if (write(g_signal_pipe[1], &c, 1) < 0) {
        // Pipe full: a shutdown is already pending.
    }
    errno = saved;
}

int daemon_signal_setup(void)
{
    if (pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0) return -errno;
    struct sigaction sa = {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    return g_signal_pipe[0];
}

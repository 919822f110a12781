// Termination signals (SIGINT, SIGTERM, SIGHUP), handled as QEMU does: the
// first one is a shutdown request (exit status 0), every later one is
// ignored.  The handlers are installed once, before any image is opened, and
// stay installed until the process exits.  They used to be GLib unix-signal
// sources removed when the main loop returned, which put the default
// disposition back while the drives were still to be drained and closed: the
// second SIGTERM that GNU timeout, systemd or a double Ctrl-C delivers then
// killed the process with the guest's acknowledged qcow2 writes still in
// the metadata caches (issue 23).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "hw/machine.h"
#include "qemu-system-lite/system.h"
#include "util/aio.h"
#include "util/error.h"

namespace {

struct SignalRecord {
    int sig;
    pid_t pid;  // the sender (0 for a terminal's ^C)
};

int g_pipe[2] = {-1, -1};
bool g_reported;

// Async-signal-safe: one record per signal, atomic since it is far below
// PIPE_BUF.  A full pipe drops the record, which is fine: only the first
// signal matters and it is already queued.
void on_term_signal(int sig, siginfo_t *info, void *)
{
    int saved = errno;
    SignalRecord r{sig, info && info->si_code <= 0 ? info->si_pid : 0};
    ssize_t n = write(g_pipe[1], &r, sizeof(r));
    (void)n;
    errno = saved;
}

// The sender's program name as QEMU's qemu_get_pid_name gives it: the first
// word of /proc/PID/cmdline.
std::string pid_name(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return "<unknown process>";
    std::string name;
    for (int c; (c = fgetc(f)) != EOF && c != '\0';)
        name += (char)c;
    fclose(f);
    return name.empty() ? "<unknown process>" : name;
}

// Main loop (BQL held).  Drains the pipe; the first signal ends the VM.
void on_signal_readable(void *opaque)
{
    Machine *m = (Machine *)opaque;
    SignalRecord r;
    while (read(g_pipe[0], &r, sizeof(r)) == (ssize_t)sizeof(r)) {
        if (g_reported) continue;  // a repeated signal: shutdown is under way
        g_reported = true;
        if (r.pid == 0) {
            error_report("terminating on signal %d", r.sig);
        } else {
            error_report("terminating on signal %d from pid %d (%s)", r.sig, (int)r.pid,
                         pid_name(r.pid).c_str());
        }
        machine_request_exit(m, 0);
    }
}

}  // namespace

void system_signals_init(void)
{
    if (pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        error_report("signal pipe: %s", strerror(errno));
        exit(1);
    }
    struct sigaction sa = {};
    sa.sa_sigaction = on_term_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    // One handler at a time: signals pending together are then recorded in
    // the order the kernel delivers them (lowest number first).
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP})
        sigaddset(&sa.sa_mask, sig);
    for (int sig : {SIGINT, SIGTERM, SIGHUP})
        sigaction(sig, &sa, nullptr);
}

void system_signals_watch(Machine *m)
{
    aio_set_fd_handler(qemu_get_aio_context(), g_pipe[0], on_signal_readable, nullptr, m);
}

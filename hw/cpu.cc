// The vCPU thread: the generic run loop around a CpuBackend.  It holds the
// BQL while it looks at the machine (interrupts, stop, exit, reset) and
// releases it while guest code runs or while it sleeps in hlt.
#include "hw/cpu.h"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "hw/machine-int.h"
#include "util/bql.h"
#include "util/error.h"

struct VCpu {
    Machine *m;
    CpuBackend *backend;
    std::thread thread;
    std::mutex mu;
    std::condition_variable cv;
    bool woken = false;
};

// Called with the BQL held by whoever changed the machine state.
static void vcpu_kick(void *opaque)
{
    VCpu *v = static_cast<VCpu *>(opaque);
    {
        std::lock_guard<std::mutex> g(v->mu);
        v->woken = true;
    }
    v->cv.notify_one();
    v->backend->kick();
}

// Sleeps until kicked; called with the BQL held, returns with it held.
static void vcpu_wait(VCpu *v)
{
    std::unique_lock<std::mutex> l(v->mu);
    bql_unlock();
    v->cv.wait(l, [v] { return v->woken; });
    l.unlock();
    bql_lock();
}

static void vcpu_fail(VCpu *v, const char *what)
{
    error_report("vCPU: %s", what);
    v->backend->dump_state(stderr);
    machine_request_exit(v->m, 1);
}

static void vcpu_loop(VCpu *v)
{
    Machine *m = v->m;
    bool halted = false;
    std::vector<MachineRange> dma;
    BqlGuard bql;
    for (;;) {
        {
            std::lock_guard<std::mutex> g(v->mu);
            v->woken = false;
        }
        v->backend->clear_kick();
        machine_take_dma_ranges(m, &dma);
        for (const MachineRange &r : dma)
            v->backend->invalidate_code(r.start, r.end);
        if (machine_exit_requested(m, nullptr)) return;
        if (machine_take_reset_request(m)) {
            ErrorPtr err;
            if (!v->backend->reset(&err)) return vcpu_fail(v, error_get_pretty(err.err));
            halted = false;
        }
        if (machine_is_stopped(m)) {
            vcpu_wait(v);
            continue;
        }
        if (pic_has_interrupt(machine_pic(m)) && v->backend->interrupts_enabled()) {
            int vector = pic_acknowledge(machine_pic(m));
            qemu_log_mask(LOG_INT, "external interrupt vector 0x%02x\n", vector);
            if (!v->backend->inject_interrupt(vector))
                return vcpu_fail(v, "interrupt delivery failed");
            halted = false;
        }
        if (halted) {
            vcpu_wait(v);
            continue;
        }
        bql_unlock();
        CpuBackend::Exit e = v->backend->run();
        bql_lock();
        if (e == CpuBackend::Exit::Error) return vcpu_fail(v, "guest execution failed");
        if (e == CpuBackend::Exit::Halted) halted = true;
    }
}

VCpu *vcpu_start(Machine *m, CpuBackend *backend)
{
    VCpu *v = new VCpu;
    v->m = m;
    v->backend = backend;
    machine_set_cpu_kick(m, vcpu_kick, v);
    v->thread = std::thread([v] {
        {
            BqlGuard bql;
            ErrorPtr err;
            if (!v->backend->reset(&err)) {
                vcpu_fail(v, error_get_pretty(err.err));
                return;
            }
        }
        vcpu_loop(v);
        if (qemu_loglevel_mask(LOG_CPU_RESET)) {
            BqlGuard bql;
            qemu_log("vCPU final state:\n");
            v->backend->dump_state(stderr);
        }
    });
    return v;
}

void vcpu_join(VCpu *v)
{
    v->thread.join();
    {
        BqlGuard bql;
        machine_set_cpu_kick(v->m, nullptr, nullptr);
    }
    delete v;
}

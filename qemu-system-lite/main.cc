// qemu-system-lite: a PC-like machine (hw/) with a Unicorn vCPU thread and a
// GLib main loop, booting a disk image on virtio-blk or IDE with our BIOS.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "block/block.h"
#include "hw/cpu.h"
#include "hw/machine-int.h"
#include "hw/pc.h"
#include "qemu-system-lite/system.h"
#include "util/util.h"

namespace {

// The machine and its devices live until the process exits (the devices
// have no teardown); a global keeps them reachable for leak checkers.
Machine *g_machine;

bool load_bios(Machine *m, const std::string &path)
{
    ErrorPtr err;
    if (path.empty()) {
        if (pc_load_bios(m, pc_bios_image, pc_bios_image_size, &err)) return true;
        error_report_err(err.release());
        return false;
    }
    gchar *data = nullptr;
    gsize len = 0;
    if (!g_file_get_contents(path.c_str(), &data, &len, nullptr)) {
        error_report("could not load PC BIOS '%s'", path.c_str());
        return false;
    }
    bool ok = pc_load_bios(m, data, len, &err);
    g_free(data);
    if (!ok) {
        error_prepend(&err, "-bios %s: ", path.c_str());
        error_report_err(err.release());
    }
    return ok;
}

bool open_drives(const SystemOptions &o, std::vector<Drive> *drives)
{
    for (const std::string &spec : o.drives) {
        Drive d;
        ErrorPtr err;
        if (!drive_open(spec, &d, &err)) {
            error_prepend(&err, "-drive %s: ", spec.c_str());
            error_report_err(err.release());
            return false;
        }
        drives->push_back(d);
    }
    return true;
}

// Board setup with the BQL held.  Returns false after reporting an error.
bool build_machine(const SystemOptions &o, std::vector<Drive> *drives)
{
    ErrorPtr err;
    g_machine = machine_new(o.ram_size, &err);
    if (!g_machine) {
        error_prepend(&err, "-m: ");
        error_report_err(err.release());
        return false;
    }
    machine_set_no_reboot(g_machine, o.no_reboot);
    if (!serial_create(g_machine, o.serial.c_str(), &err)) {
        error_prepend(&err, "-serial %s: ", o.serial.c_str());
        error_report_err(err.release());
        return false;
    }
    debug_exit_create(g_machine);
    return load_bios(g_machine, o.bios) && open_drives(o, drives) &&
           drives_attach(g_machine, *drives);
}

// Runs the vCPU thread against the main loop; called and returns with the BQL.
int run_vm(Machine *m)
{
    ErrorPtr err;
    CpuBackend *cpu = cpu_unicorn_new(m, &err);
    if (!cpu) {
        error_report_err(err.release());
        return 1;
    }
    VCpu *vcpu = vcpu_start(m, cpu);
    int status = main_loop_run(m);
    bql_unlock();  // the vCPU may be waiting for it in an I/O exit
    vcpu_join(vcpu);
    bql_lock();
    delete cpu;
    return status;
}

}  // namespace

// LeakSanitizer (ASan builds): Unicorn 2.0.1 keeps a code-page bitmap that
// uc_close does not free when the engine is closed after translated code
// was invalidated (a guest that wrote to pages it had run).  Not ours to fix.
extern "C" const char *__lsan_default_suppressions() { return "leak:libunicorn.so\n"; }

extern "C" const char *__lsan_default_options()
{
    return "print_suppressions=0";  // keep the VM's stderr as the tests expect it
}

int main(int argc, char **argv)
{
    error_set_progname("qemu-system-lite");
    // --object is valid in every subcommand / position (TLS credentials).
    user_creatable_extract_cmdline(&argc, argv, true);
    SystemOptions o;
    system_parse_args(argc, argv, &o);
    system_signals_init();  // before any image is open; never removed
    bdrv_init();
    bql_lock();
    std::vector<Drive> drives;
    int status = 1;
    if (build_machine(o, &drives)) {
        system_signals_watch(g_machine);
        status = o.qtest.empty() ? run_vm(g_machine) : qtest_run(g_machine, o.qtest.c_str());
    }
    // Every way the machine ends (exit device, -no-reboot reset, signal,
    // vCPU failure, qtest client gone) comes here: the guest's last requests
    // complete, then each image is flushed and closed.  Signals stay handled
    // (signals.cc), so a repeated one cannot cut this short.
    aio_drain(qemu_get_aio_context());
    drives_close(drives);
    bql_unlock();
    fflush(stdout);
    return status;
}

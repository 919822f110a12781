// Command-line parsing for qemu-system-lite: QEMU's single-dash options and
// its error messages ("qemu-system-lite: -m: requires an argument").
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "hw/machine.h"
#include "qemu-system-lite/system.h"
#include "util/cutils.h"
#include "util/error.h"

namespace {

[[noreturn]] void die_opt(const char *opt, const char *arg, const char *msg)
{
    if (arg) {
        error_report("-%s %s: %s", opt, arg, msg);
    } else {
        error_report("-%s: %s", opt, msg);
    }
    exit(1);
}

void usage()
{
    printf("usage: qemu-system-lite [options]\n"
           "\n"
           "Boots a disk image on an emulated PC (Unicorn vCPU, our BIOS).\n"
           "\n"
           "-m SIZE            guest RAM (default 128M; a bare number is MiB)\n"
           "-drive file=FILE[,format=raw|qcow2][,if=virtio|ide][,cache=MODE][,aio=MODE]\n"
           "       [,readonly=on][,werror=ACTION][,rerror=ACTION][,serial=S][,discard=MODE]\n"
           "       [,detect-zeroes=MODE][,driver=nbd,...]\n"
           "                   a disk; the first -drive is the boot disk\n"
           "-serial stdio|file:PATH|null\n"
           "                   the 16550 UART at 0x3F8 (default stdio)\n"
           "-bios FILE         firmware image (default: the built-in qemu-lite BIOS)\n"
           "-display none, -nographic\n"
           "                   accepted (there is no display)\n"
           "-no-reboot         exit instead of rebooting when the guest resets\n"
           "-qtest unix:PATH[,server]|stdio\n"
           "                   run the qtest-lite protocol instead of the vCPU\n"
           "-trace [enable=]PATTERN\n"
           "                   log device events matching PATTERN (repeatable)\n"
           "-d ITEM,...        debug log to stderr (-d help lists the items)\n"
           "-version           print the version\n"
           "\n"
           "The exit device at port 0x501 ends the VM with status (value << 1) | 1.\n");
}

void parse_ram_size(const char *arg, SystemOptions *o)
{
    std::string s = arg;
    if (s.compare(0, 5, "size=") == 0) s = s.substr(5);
    uint64_t size;
    if (qemu_strtosz_unit(s.c_str(), 1ull << 20, &size) < 0 || size == 0) {
        die_opt("m", arg, "Parameter 'size' expects a non-negative number below 2^64");
    }
    // QEMU rounds the RAM size up to the page size.
    o->ram_size = (size + 4095) & ~4095ull;
}

void parse_trace(const char *arg)
{
    const char *p = arg;
    if (!strncmp(p, "enable=", 7)) p += 7;
    if (!*p || strchr(p, '=')) die_opt("trace", arg, "expected [enable=]PATTERN");
    trace_enable_pattern(p);
}

void parse_debug(const char *arg)
{
    if (!strcmp(arg, "help")) {
        unsigned ignored;
        qemu_log_parse("help", &ignored);
        exit(0);
    }
    if (!qemu_log_parse(arg, &qemu_loglevel)) {
        die_opt("d", arg, "unknown log item (-d help lists them)");
    }
}

// Options that take an argument.  Returns false for an unknown name.
bool apply_arg_option(const char *name, const char *arg, SystemOptions *o)
{
    if (!strcmp(name, "m")) {
        parse_ram_size(arg, o);
    } else if (!strcmp(name, "drive")) {
        o->drives.push_back(arg);
    } else if (!strcmp(name, "hda")) {
        o->drives.push_back(std::string("file=") + arg + ",if=ide");
    } else if (!strcmp(name, "serial")) {
        o->serial = arg;
    } else if (!strcmp(name, "bios")) {
        o->bios = arg;
    } else if (!strcmp(name, "display")) {
        if (strcmp(arg, "none")) die_opt("display", arg, "only 'none' is supported");
    } else if (!strcmp(name, "qtest")) {
        o->qtest = arg;
    } else if (!strcmp(name, "trace")) {
        parse_trace(arg);
    } else if (!strcmp(name, "d")) {
        parse_debug(arg);
    } else if (!strcmp(name, "machine") || !strcmp(name, "M") || !strcmp(name, "accel") ||
               !strcmp(name, "cpu") || !strcmp(name, "smp") || !strcmp(name, "name")) {
        // One machine, one vCPU: accepted for command-line compatibility.
    } else {
        return false;
    }
    return true;
}

bool takes_arg(const char *name)
{
    static const char *const with_arg[] = {"m",       "drive", "hda",   "serial", "bios",
                                           "display", "qtest", "trace", "d",      "machine",
                                           "M",       "accel", "cpu",   "smp",    "name"};
    for (const char *w : with_arg) {
        if (!strcmp(name, w)) return true;
    }
    return false;
}

}  // namespace

void system_parse_args(int argc, char **argv, SystemOptions *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1]) {
            // QEMU treats a bare argument as -hda.
            o->drives.push_back(std::string("file=") + a + ",if=ide");
            continue;
        }
        const char *name = a + 1 + (a[1] == '-');
        if (!strcmp(name, "h") || !strcmp(name, "help")) {
            usage();
            exit(0);
        } else if (!strcmp(name, "version")) {
            printf("qemu-system-lite version 0.1.0\n");
            exit(0);
        } else if (!strcmp(name, "nographic")) {
            continue;
        } else if (!strcmp(name, "no-reboot")) {
            o->no_reboot = true;
            continue;
        } else if (!takes_arg(name)) {
            die_opt(name, nullptr, "invalid option");
        }
        if (i + 1 >= argc) die_opt(name, nullptr, "requires an argument");
        apply_arg_option(name, argv[++i], o);
    }
}

// qemu-system-lite internals: command-line options, -drive handling and the
// main loop.  main.cc wires them together.
#pragma once

#include <string>
#include <vector>

#include "hw/devices.h"

struct Machine;
struct Error;

struct SystemOptions {
    uint64_t ram_size = 128ull << 20;  // -m (QEMU's default 128 MiB)
    std::vector<std::string> drives;   // -drive, in command-line order
    std::string serial = "stdio";      // -serial (we have no display: stdio by default)
    std::string bios;                  // -bios ("" = ours)
    std::string qtest;                 // -qtest
    bool no_reboot = false;            // -no-reboot
};

// Parses argv like QEMU (single-dash options, "--opt" accepted too).  Exits
// with QEMU's messages on errors, -h and -version.
void system_parse_args(int argc, char **argv, SystemOptions *o);

// One -drive after it was opened.
struct Drive {
    std::string spec;
    DriveConfig conf;
};

// Parses and opens one -drive value (BlockBackend + DriveConfig).  Returns
// false with errp set ("-drive ...: " is added by the caller).
bool drive_open(const std::string &spec, Drive *out, Error **errp);
// Creates the frontend for each drive on @m; the first drive is the boot
// disk.  Returns false after reporting an error.
bool drives_attach(Machine *m, std::vector<Drive> &drives);
void drives_close(std::vector<Drive> &drives);

// SIGINT/SIGTERM/SIGHUP: installed first thing in main() and never removed,
// so a signal repeated during shutdown cannot kill the process before its
// drives are closed.  _watch makes the first signal end the VM (exit status
// 0, "terminating on signal N" as QEMU); later ones are ignored.
void system_signals_init(void);
void system_signals_watch(Machine *m);

// Runs the GLib main loop (driving the main AioContext, BQL released while
// it sleeps) until the machine requests exit or a signal ends the VM.
// Called with the BQL held.  Returns the exit status.
int main_loop_run(Machine *m);

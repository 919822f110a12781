// A machine without a CPU for the device fuzz targets: guest RAM, one disk
// frontend on a raw scratch image, and a way to run the main loop until the
// device has finished what the last register access started.  Devices are
// created once per process (they live as long as the machine, as in
// qemu-system-lite); each input starts from a device reset.
#pragma once

#include <ctime>
#include <vector>

#include "block/block.h"
#include "hw/devices.h"
#include "hw/machine.h"
#include "tests/fuzz/fuzz-common.h"
#include "util/aio.h"
#include "util/bql.h"
#include "util/util.h"

// The smallest machine there is (1 MiB); inputs address its first 64 KiB.
enum : uint64_t { FUZZ_RAM_SIZE = 1 << 20, FUZZ_DISK_SIZE = 256 << 10 };

struct FuzzMachine {
    Machine *m = nullptr;
    BlockBackend *blk = nullptr;
};

// @create: virtio_blk_mmio_create or ide_create.
inline FuzzMachine *fuzz_machine(int (*create)(Machine *, BlockBackend *, const DriveConfig *),
                                 DriveInterface iface, const char *tag)
{
    static FuzzMachine fm;
    if (fm.m) {
        return &fm;
    }
    bdrv_init();
    bql_lock();  // held for the whole process: the fuzzer is the only thread
    const std::string &path = fuzz_scratch_path(tag);
    std::vector<uint8_t> img(FUZZ_DISK_SIZE, 0x5a);
    fuzz_write_file(path, img.data(), img.size());
    QDict opts;
    opts.set("driver", "raw");
    ErrorPtr err;
    fm.blk = blk_new_open(path.c_str(), &opts, BDRV_O_RDWR, &err);
    fm.m = machine_new(FUZZ_RAM_SIZE, &err);
    if (!fm.blk || !fm.m) abort();
    DriveConfig conf;
    conf.blk = fm.blk;
    conf.interface = iface;
    // Errors complete the request: a stopped VM would only park it.
    conf.werror = BLOCKDEV_ON_ERROR_REPORT;
    conf.rerror = BLOCKDEV_ON_ERROR_REPORT;
    if (create(fm.m, fm.blk, &conf) < 0) abort();
    return &fm;
}

// Runs the main loop until nothing is pending and no request is in flight.
// A device that keeps the loop busy for 10 s is hung: that is a bug.
inline void fuzz_settle(FuzzMachine *fm)
{
    AioContext *ctx = qemu_get_aio_context();
    time_t deadline = time(nullptr) + 10;
    for (;;) {
        bool progress = aio_poll(ctx, false);
        if (!progress) {
            if (blk_in_flight(fm->blk) == 0) {
                return;
            }
            aio_poll(ctx, true);
        }
        if (time(nullptr) > deadline) abort();
    }
}

// Zeroes guest RAM, then copies @n bytes of @in to @gpa.
inline void fuzz_load_ram(FuzzMachine *fm, uint64_t gpa, FuzzInput *in, size_t n)
{
    // Allocated once: a fresh 1 MiB vector per input (ASan maps and page-
    // faults it every time) took 60% of the device targets' time.
    static const std::vector<uint8_t> zero(FUZZ_RAM_SIZE, 0);
    machine_dma_write(fm->m, 0, zero.data(), zero.size());
    std::vector<uint8_t> buf(std::min<uint64_t>(n, FUZZ_RAM_SIZE - gpa));
    buf.resize(in->take(buf.data(), buf.size()));
    if (!buf.empty()) {
        machine_dma_write(fm->m, gpa, buf.data(), buf.size());
    }
}

// qtest-machine: the device side of qemu-system-lite without a CPU, for the
// qtest-lite tests when the full binary is not built (and for fuzzing the
// protocol).  Accepts the qemu-system-lite options the tests use:
//   -qtest CHARDEV -m SIZE -display none -nographic
//   -drive file=F,format=raw|qcow2,if=ide|virtio[,readonly=on][,cache=M]
//          [,aio=M][,werror=A][,rerror=A][,serial=S][,model=M]
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "block/block.h"
#include "hw/devices.h"
#include "hw/machine.h"
#include "util/util.h"

namespace {

bool open_drive(Machine *m, const QDict &d, std::vector<BlockBackend *> *blks)
{
    const char *file = d.get("file");
    const char *fmt = d.get("format");
    const char *iface = d.get("if") ? d.get("if") : "ide";
    DriveConfig conf;
    int flags = BDRV_O_RDWR;
    bool writethrough = false;
    if (d.get("readonly")) {
        bool ro = false;
        keyval_parse_bool(d.get("readonly"), &ro);
        conf.read_only = ro;
        if (ro) flags &= ~BDRV_O_RDWR;
    }
    if (d.get("cache") && !bdrv_parse_cache_mode(d.get("cache"), &flags, &writethrough))
        return false;
    if (d.get("aio") && !bdrv_parse_aio(d.get("aio"), &flags)) return false;
    if (d.get("werror") && !blockdev_parse_on_error(d.get("werror"), true, &conf.werror))
        return false;
    if (d.get("rerror") && !blockdev_parse_on_error(d.get("rerror"), false, &conf.rerror))
        return false;
    conf.write_cache = !writethrough;
    conf.serial = d.get("serial") ? d.get("serial") : "";
    conf.model = d.get("model") ? d.get("model") : "";
    QDict opts;
    if (fmt) opts.set("driver", fmt);
    ErrorPtr err;
    BlockBackend *blk = blk_new_open(file, &opts, flags, &err);
    if (!blk) {
        error_report("-drive %s: %s", file ? file : "",
                     err ? error_get_pretty(err.get()) : "open failed");
        return false;
    }
    blks->push_back(blk);
    conf.blk = blk;
    if (!strcmp(iface, "virtio")) {
        conf.interface = IF_VIRTIO;
        return virtio_blk_mmio_create(m, blk, &conf) == 0;
    }
    conf.interface = IF_IDE;
    return ide_create(m, blk, &conf) == 0;
}

}  // namespace

int main(int argc, char **argv)
{
    error_set_progname("qtest-machine");
    const char *qtest = nullptr;
    uint64_t ram = 64 << 20;
    std::vector<QDict> drives;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        bool has_arg = i + 1 < argc;
        if (a == "-qtest" && has_arg) {
            qtest = argv[++i];
        } else if (a == "-m" && has_arg) {
            if (qemu_strtosz_unit(argv[++i], 1 << 20, &ram) < 0) {
                error_report("invalid RAM size");
                return 1;
            }
        } else if (a == "-drive" && has_arg) {
            QDict d;
            ErrorPtr err;
            if (!keyval_parse(argv[++i], "file", &d, &err)) {
                error_report_err(err.release());
                return 1;
            }
            drives.push_back(d);
        } else if (a == "-display" && has_arg) {
            i++;
        } else if (a != "-nographic") {
            error_report("unsupported option '%s'", a.c_str());
            return 1;
        }
    }
    if (!qtest) {
        error_report("-qtest is required");
        return 1;
    }
    bdrv_init();
    bql_lock();
    ErrorPtr err;
    Machine *m = machine_new(ram, &err);
    if (!m) {
        error_report_err(err.release());
        return 1;
    }
    std::vector<BlockBackend *> blks;
    for (const QDict &d : drives) {
        if (!open_drive(m, d, &blks)) {
            error_report("-drive: could not create device");
            return 1;
        }
    }
    int status = qtest_run(m, qtest);
    frontends_free(m);
    machine_free(m);
    for (BlockBackend *blk : blks)
        blk_unref(blk);
    bql_unlock();
    return status;
}

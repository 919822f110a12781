// -drive: QEMU's drive options become a BlockBackend (opened through the
// block layer, so any format or protocol it knows) plus a DriveConfig for
// the frontend.  Keys the frontend does not consume go to blk_new_open as
// driver options ("file.locking=off", "server.path=..." for nbd).
#include <cstring>
#include <string>

#include "block/block.h"
#include "hw/machine.h"
#include "hw/pc.h"
#include "qemu-system-lite/system.h"
#include "util/error.h"
#include "util/keyval.h"

namespace {

struct DriveKeys {
    int flags = BDRV_O_RDWR;
    bool writethrough = false;
    BlockdevDetectZeroes detect_zeroes = DETECT_ZEROES_OFF;
};

// Takes key @k out of @d; nullptr if absent.
bool take(QDict *d, const char *k, std::string *out)
{
    const char *v = d->get(k);
    if (!v) return false;
    *out = v;
    d->del(k);
    return true;
}

bool parse_interface(QDict *d, Drive *out, Error **errp)
{
    std::string v;
    out->conf.interface = IF_IDE;  // QEMU's PC default bus
    if (!take(d, "if", &v)) return true;
    if (v == "ide") {
        out->conf.interface = IF_IDE;
    } else if (v == "virtio") {
        out->conf.interface = IF_VIRTIO;
    } else {
        error_setg(errp, "unsupported bus type '%s'", v.c_str());
        return false;
    }
    return true;
}

bool parse_error_actions(QDict *d, DriveConfig *conf, Error **errp)
{
    std::string v;
    if (take(d, "werror", &v) && !blockdev_parse_on_error(v.c_str(), true, &conf->werror)) {
        error_setg(errp, "'%s' invalid write error action", v.c_str());
        return false;
    }
    if (take(d, "rerror", &v) && !blockdev_parse_on_error(v.c_str(), false, &conf->rerror)) {
        error_setg(errp, "'%s' invalid read error action", v.c_str());
        return false;
    }
    return true;
}

bool parse_block_keys(QDict *d, DriveKeys *k, DriveConfig *conf, Error **errp)
{
    std::string v;
    if (take(d, "readonly", &v)) {
        bool ro;
        if (!keyval_parse_bool(v.c_str(), &ro)) {
            error_setg(errp, "Parameter 'readonly' expects 'on' or 'off'");
            return false;
        }
        if (ro) k->flags &= ~BDRV_O_RDWR;
        conf->read_only = ro;
    }
    if (take(d, "cache", &v) && !bdrv_parse_cache_mode(v.c_str(), &k->flags, &k->writethrough)) {
        error_setg(errp, "invalid cache option");
        return false;
    }
    if (take(d, "aio", &v) && !bdrv_parse_aio(v.c_str(), &k->flags)) {
        error_setg(errp, "invalid aio option");
        return false;
    }
    if (take(d, "discard", &v)) {
        if (v == "unmap" || v == "on") {
            k->flags |= BDRV_O_UNMAP;
        } else if (v != "ignore" && v != "off") {
            error_setg(errp, "Invalid discard option");
            return false;
        }
    }
    if (take(d, "detect-zeroes", &v) && !bdrv_parse_detect_zeroes(v.c_str(), &k->detect_zeroes)) {
        error_setg(errp, "Parameter 'detect-zeroes' does not accept value '%s'", v.c_str());
        return false;
    }
    conf->write_cache = !k->writethrough;
    return true;
}

bool parse_ignored_keys(QDict *d, Error **errp)
{
    std::string v;
    take(d, "id", &v);
    take(d, "index", &v);
    if (take(d, "media", &v) && v != "disk") {
        error_setg(errp, "media=%s is not supported (hard disks only)", v.c_str());
        return false;
    }
    return true;
}

}  // namespace

bool drive_open(const std::string &spec, Drive *out, Error **errp)
{
    QDict d;
    if (!keyval_parse(spec.c_str(), "file", &d, errp)) return false;
    out->spec = spec;
    DriveKeys k;
    std::string file, fmt;
    take(&d, "file", &file);
    if (take(&d, "format", &fmt)) d.set("driver", fmt);
    take(&d, "serial", &out->conf.serial);
    take(&d, "model", &out->conf.model);
    if (!parse_interface(&d, out, errp) || !parse_error_actions(&d, &out->conf, errp) ||
        !parse_block_keys(&d, &k, &out->conf, errp) || !parse_ignored_keys(&d, errp)) {
        return false;
    }
    if (file.empty() && !d.has("driver")) {
        error_setg(errp, "Must specify either driver or file");
        return false;
    }
    BlockBackend *blk = blk_new_open(file.empty() ? nullptr : file.c_str(), &d, k.flags, errp);
    if (!blk) return false;
    blk_set_enable_write_cache(blk, !k.writethrough);
    blk_set_detect_zeroes(blk, k.detect_zeroes);
    out->conf.blk = blk;
    return true;
}

bool drives_attach(Machine *m, std::vector<Drive> &drives)
{
    bool have[3] = {};
    for (Drive &dr : drives) {
        int iface = dr.conf.interface;
        if (have[iface]) {
            // One IDE disk (primary master) and one virtio-mmio slot.
            error_report("-drive %s: only one %s disk is supported", dr.spec.c_str(),
                         iface == IF_IDE ? "IDE" : "virtio-blk");
            return false;
        }
        have[iface] = true;
        int ret = iface == IF_IDE ? ide_create(m, dr.conf.blk, &dr.conf)
                                  : virtio_blk_mmio_create(m, dr.conf.blk, &dr.conf);
        if (ret < 0) {
            error_report("-drive %s: could not create device: %s", dr.spec.c_str(), strerror(-ret));
            return false;
        }
    }
    int boot_if = 0;
    uint64_t boot_sectors = 0;
    if (!drives.empty()) {
        boot_if = drives[0].conf.interface == IF_IDE ? 1 : 2;
        int64_t len = blk_getlength(drives[0].conf.blk);
        boot_sectors = len > 0 ? (uint64_t)len / 512 : 0;
    }
    pc_misc_create(m, boot_if, boot_sectors);
    return true;
}

void drives_close(std::vector<Drive> &drives)
{
    for (Drive &dr : drives) {
        if (dr.conf.blk) blk_unref(dr.conf.blk);
        dr.conf.blk = nullptr;
    }
}

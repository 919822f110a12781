// host_device and host_cdrom: the POSIX file driver for block and character
// devices.  They share file-posix.cc's I/O; what differs is what they accept
// (devices, not regular files) and that a device path without a driver
// picks host_device, as QEMU's protocol probing does.
#include <cstring>
#include <sys/stat.h>

#include "block/block-int.h"
#include "block/file-posix-int.h"

static int hdev_probe_device(const char *filename)
{
    struct stat st;
    if (strncmp(filename, "/dev/cdrom", 10) == 0) {
        return 50;
    }
    if (stat(filename, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) {
        return 100;
    }
    return 0;
}

static BlockDriver host_driver(const char *name)
{
    BlockDriver d = file_posix_driver(name);
    // A device is not created: creating opens it (QEMU's generic fallback).
    d.bdrv_co_create_opts = nullptr;
    d.create_opens_existing = true;
    d.create_opts = bdrv_create_opts_simple;
    return d;
}

BlockDriver bdrv_host_device = [] {
    BlockDriver d = host_driver("host_device");
    d.bdrv_probe_device = hdev_probe_device;
    return d;
}();

BlockDriver bdrv_host_cdrom = host_driver("host_cdrom");

// Private to the file protocol driver (file-posix*.cc).
#pragma once

#include <cstdint>
#include <string>

#include "util/error.h"

// QEMU-compatible image locking on an fd with OFD locks: byte 100+bit is
// read-locked while we use permission bit, byte 200+bit while we do not share
// it.  Other processes (ours or QEMU's) test those bytes before taking a
// permission, so both see each other.
struct FileLockState {
    uint64_t perm_locked = 0;      // bits whose 100+bit byte we hold
    uint64_t unshared_locked = 0;  // bits whose 200+bit byte we hold
};

// Takes the lock bytes for (@perm, @shared), then checks nobody else
// conflicts; on conflict restores the previous bytes and fails with QEMU's
// message ("Failed to get \"write\" lock" + hint naming @filename).
int file_lock_set_perm(int fd, FileLockState *st, uint64_t perm, uint64_t shared,
                       const std::string &filename, Error **errp);

struct QDict;
struct BlockDriver;
enum class PreallocMode;
// The POSIX file driver's table under another name: "file" for regular
// files, "host_device"/"host_cdrom" for devices (file-posix-host.cc).
BlockDriver file_posix_driver(const char *name);
extern BlockDriver bdrv_file;
// Parses the "size" and "preallocation" creation options (file and raw).
bool file_parse_create_opts(QDict *opts, int64_t *size, PreallocMode *prealloc, Error **errp);

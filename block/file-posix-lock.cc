// Image locking, byte-compatible with QEMU's file-posix: see file-posix-int.h.
#include "block/file-posix-int.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>

#include "block/block-int.h"

enum { LOCK_PERM_BASE = 100, LOCK_SHARED_BASE = 200, PERM_BITS = 4 };

static int lock_byte(int fd, int64_t byte, short type)
{
    struct flock fl = {};
    fl.l_whence = SEEK_SET;
    fl.l_start = byte;
    fl.l_len = 1;
    fl.l_type = type;
    return fcntl(fd, F_OFD_SETLK, &fl) == -1 ? -errno : 0;
}

// True if another open file description holds a lock on @byte.
static int byte_taken(int fd, int64_t byte)
{
    struct flock fl = {};
    fl.l_whence = SEEK_SET;
    fl.l_start = byte;
    fl.l_len = 1;
    fl.l_type = F_WRLCK;
    if (fcntl(fd, F_OFD_GETLK, &fl) == -1) {
        return -errno;
    }
    return fl.l_type != F_UNLCK ? -EAGAIN : 0;
}

static int apply_bytes(int fd, FileLockState *st, uint64_t perm, uint64_t unshared)
{
    for (int i = 0; i < PERM_BITS; i++) {
        uint64_t bit = 1ull << i;
        if ((perm & bit) != (st->perm_locked & bit)) {
            int ret = lock_byte(fd, LOCK_PERM_BASE + i, (perm & bit) ? F_RDLCK : F_UNLCK);
            if (ret < 0) {
                return ret;
            }
            st->perm_locked ^= bit;
        }
        if ((unshared & bit) != (st->unshared_locked & bit)) {
            int ret = lock_byte(fd, LOCK_SHARED_BASE + i, (unshared & bit) ? F_RDLCK : F_UNLCK);
            if (ret < 0) {
                return ret;
            }
            st->unshared_locked ^= bit;
        }
    }
    return 0;
}

static int check_bytes(int fd, uint64_t perm, uint64_t shared, Error **errp)
{
    for (int i = 0; i < PERM_BITS; i++) {
        uint64_t bit = 1ull << i;
        int ret = (perm & bit) ? byte_taken(fd, LOCK_SHARED_BASE + i) : 0;
        if (ret == -EAGAIN) {
            error_setg(errp, "Failed to get \"%s\" lock", bdrv_perm_name(bit));
        } else if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to get \"%s\" lock", bdrv_perm_name(bit));
        }
        if (ret < 0) {
            return ret;
        }
    }
    for (int i = 0; i < PERM_BITS; i++) {
        uint64_t bit = 1ull << i;
        int ret = !(shared & bit) ? byte_taken(fd, LOCK_PERM_BASE + i) : 0;
        if (ret == -EAGAIN) {
            error_setg(errp, "Failed to get shared \"%s\" lock", bdrv_perm_name(bit));
        } else if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to get shared \"%s\" lock", bdrv_perm_name(bit));
        }
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

int file_lock_set_perm(int fd, FileLockState *st, uint64_t perm, uint64_t shared,
                       const std::string &filename, Error **errp)
{
    FileLockState old = *st;
    uint64_t unshared = ~shared & BLK_PERM_ALL;
    int ret = apply_bytes(fd, st, perm, unshared);
    if (ret >= 0) {
        ret = check_bytes(fd, perm, shared, errp);
        if (ret < 0 && errp && *errp) {
            (*errp)->msg += "\nIs another process using the image [" + filename + "]?";
        }
    } else {
        error_setg_errno(errp, -ret, "Failed to lock byte %d", LOCK_PERM_BASE);
    }
    if (ret < 0) {
        apply_bytes(fd, st, old.perm_locked, old.unshared_locked);
    }
    return ret;
}

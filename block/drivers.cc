// The built-in drivers.  Explicit on purpose: static libraries drop objects
// nobody references, so registration by static constructors would silently
// lose drivers.  Adding a driver = one extern and one line below.
#include "block/block-int.h"
#include "config-host.h"

extern BlockDriver bdrv_file;
extern BlockDriver bdrv_host_device;
extern BlockDriver bdrv_host_cdrom;
extern BlockDriver bdrv_null_co;
extern BlockDriver bdrv_null_aio;
extern BlockDriver bdrv_copy_on_read;
extern BlockDriver bdrv_compress;
extern BlockDriver bdrv_bochs;
extern BlockDriver bdrv_raw;
extern BlockDriver bdrv_qcow2;
extern BlockDriver bdrv_nbd;
extern BlockDriver bdrv_blkdebug;
extern BlockDriver bdrv_luks;
#if CONFIG_RBD
extern BlockDriver bdrv_rbd;
#endif
extern BlockDriver bdrv_ssh;

void bdrv_init(void)
{
    static bool done;
    if (done) {
        return;
    }
    done = true;
    bdrv_register(&bdrv_file);
    bdrv_register(&bdrv_host_device);
    bdrv_register(&bdrv_host_cdrom);
    bdrv_register(&bdrv_null_co);
    bdrv_register(&bdrv_null_aio);
    bdrv_register(&bdrv_copy_on_read);
    bdrv_register(&bdrv_compress);
    bdrv_register(&bdrv_bochs);
    bdrv_register(&bdrv_raw);
    bdrv_register(&bdrv_qcow2);
    bdrv_register(&bdrv_nbd);
    bdrv_register(&bdrv_blkdebug);
    bdrv_register(&bdrv_luks);
#if CONFIG_RBD
    bdrv_register(&bdrv_rbd);
#endif
    bdrv_register(&bdrv_ssh);
}

// qemu-img-lite snapshot: list, create, delete and apply internal snapshots
// through the format driver's snapshot entry points.
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "block/block.h"
#include "qemu-img-lite/img.h"

void img_print_snapshot_table(const std::vector<QEMUSnapshotInfo> &sns)
{
    printf("%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
    for (const QEMUSnapshotInfo &sn : sns) {
        time_t ti = sn.date_sec;
        struct tm tm;
        localtime_r(&ti, &tm);
        char date[128];
        strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
        uint64_t secs = sn.vm_clock_nsec / 1000000000;
        char clock[128];
        snprintf(clock, sizeof(clock), "%02d:%02d:%02d.%03d", (int)(secs / 3600),
                 (int)((secs / 60) % 60), (int)(secs % 60),
                 (int)((sn.vm_clock_nsec / 1000000) % 1000));
        char icount[32] = "";
        if (sn.icount != UINT64_MAX) {
            snprintf(icount, sizeof(icount), "%" PRIu64, sn.icount);
        }
        printf("%-9s %-16s %8s%20s%13s%11s\n", sn.id_str.c_str(), sn.name.c_str(),
               size_to_str(sn.vm_state_size).c_str(), date, clock, icount);
    }
}

namespace {

enum SnapshotAction {
    SNAPSHOT_NONE,
    SNAPSHOT_LIST,
    SNAPSHOT_CREATE,
    SNAPSHOT_APPLY,
    SNAPSHOT_DELETE
};

int snapshot_list(BlockDriverState *bs)
{
    std::vector<QEMUSnapshotInfo> sns;
    if (bdrv_snapshot_list(bs, &sns) < 0 || sns.empty()) {
        return 0;
    }
    printf("Snapshot list:\n");
    img_print_snapshot_table(sns);
    return 0;
}

int snapshot_create(BlockDriverState *bs, const char *name)
{
    // As qemu-img: a fresh entry with only name and date (icount 0).
    QEMUSnapshotInfo sn;
    sn.name = std::string(name).substr(0, 255);  // qemu-img's name field holds 255 bytes
    sn.icount = 0;
    gint64 now = g_get_real_time();
    sn.date_sec = (uint32_t)(now / G_USEC_PER_SEC);
    sn.date_nsec = (uint32_t)(now % G_USEC_PER_SEC * 1000);
    int ret;
    img_co_run([&]() coroutine_fn { ret = bdrv_co_snapshot_create(bs, &sn); });
    if (ret < 0) {
        error_report("Could not create snapshot '%s': %d (%s)", name, ret, strerror(-ret));
        return 1;
    }
    return 0;
}

// qemu-img 7.2 looks the snapshot to delete up in the list by name only
// (-a takes an id or a name, -d a name), then deletes that entry by id.
bool snapshot_find(BlockDriverState *bs, const char *name, QEMUSnapshotInfo *out)
{
    std::vector<QEMUSnapshotInfo> sns;
    if (bdrv_snapshot_list(bs, &sns) < 0) {
        return false;
    }
    for (const QEMUSnapshotInfo &sn : sns) {
        if (sn.name == name) {
            *out = sn;
            return true;
        }
    }
    return false;
}

int snapshot_delete(BlockDriverState *bs, const char *name)
{
    QEMUSnapshotInfo sn;
    if (!snapshot_find(bs, name, &sn)) {
        error_report("Could not delete snapshot '%s': snapshot not found", name);
        return 1;
    }
    ErrorPtr err;
    int ret;
    img_co_run([&]() coroutine_fn { ret = bdrv_co_snapshot_delete(bs, sn.id_str.c_str(), &err); });
    if (ret < 0) {
        error_report("Could not delete snapshot '%s': %s", name, error_get_pretty(err.get()));
        return 1;
    }
    return 0;
}

int snapshot_apply(BlockDriverState *bs, const char *name)
{
    ErrorPtr err;
    int ret;
    img_co_run([&]() coroutine_fn { ret = bdrv_co_snapshot_goto(bs, name, &err); });
    if (ret < 0) {
        error_report("Could not apply snapshot '%s': %s", name, error_get_pretty(err.get()));
        return 1;
    }
    return 0;
}

void set_action(SnapshotAction *action, SnapshotAction a, const char **name, const char *arg)
{
    if (*action != SNAPSHOT_NONE) {
        error_exit("Cannot mix '-l', '-a', '-c', '-d'");
    }
    *action = a;
    *name = arg;
}

}  // namespace

int img_snapshot(int argc, char **argv)
{
    enum { OPT_IMAGE_OPTS = 256 };
    static const struct option long_options[] = {
        {"help", no_argument, nullptr, 'h'},
        {"force-share", no_argument, nullptr, 'U'},
        {"image-opts", no_argument, nullptr, OPT_IMAGE_OPTS},
        {nullptr, 0, nullptr, 0},
    };
    SnapshotAction action = SNAPSHOT_NONE;
    const char *name = nullptr;
    bool quiet = false, force_share = false, image_opts = false;
    int c;
    while ((c = img_getopt(argc, argv, ":la:c:d:hqU", long_options)) != -1) {
        switch (c) {
        case 'l': set_action(&action, SNAPSHOT_LIST, &name, nullptr); break;
        case 'a': set_action(&action, SNAPSHOT_APPLY, &name, optarg); break;
        case 'c': set_action(&action, SNAPSHOT_CREATE, &name, optarg); break;
        case 'd': set_action(&action, SNAPSHOT_DELETE, &name, optarg); break;
        case 'q': quiet = true; break;
        case 'U': force_share = true; break;
        case OPT_IMAGE_OPTS: image_opts = true; break;
        }
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    const char *filename = argv[optind];
    if (action == SNAPSHOT_NONE) {
        return 0;
    }
    ImgOpenArgs oa;
    oa.quiet = quiet;
    oa.force_share = force_share;
    oa.image_opts = image_opts;
    oa.flags = action == SNAPSHOT_LIST ? BDRV_O_NO_BACKING : BDRV_O_RDWR;
    BlkRef blk(img_open(filename, oa));
    if (!blk) {
        return 1;
    }
    BlockDriverState *bs = blk_bs(blk.get());
    switch (action) {
    case SNAPSHOT_LIST: return snapshot_list(bs);
    case SNAPSHOT_CREATE: return snapshot_create(bs, name);
    case SNAPSHOT_APPLY: return snapshot_apply(bs, name);
    case SNAPSHOT_DELETE: return snapshot_delete(bs, name);
    default: return 0;
    }
}

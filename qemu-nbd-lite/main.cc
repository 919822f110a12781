// qemu-nbd-lite: serves a disk image over NBD (options and messages after
// qemu-nbd 7.2).  Command parsing and process lifetime only; the protocol
// lives in block/nbd/.
#include <getopt.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <string>

#include "block/block.h"
#include "block/nbd/nbd-proto.h"
#include "block/nbd/nbd-server.h"
#include "block/nbd/nbd-socket.h"
#include "crypto/crypto.h"
#include "qemu-nbd-lite/nbd-daemon.h"
#include "qemu-nbd-lite/nbd-list.h"
#include "util/aio-backend.h"
#include "util/util.h"

namespace {

struct Options {
    NbdExportConfig exp;
    NbdAddress addr;
    bool persistent = false;
    bool fork = false;
    bool image_opts = false;
    const char *fmt = nullptr;
    const char *pid_file = nullptr;
    int flags = BDRV_O_RDWR;
    bool writethrough = false;
    BlockdevDetectZeroes detect_zeroes = DETECT_ZEROES_OFF;
    const char *image = nullptr;
    const char *tls_creds = nullptr;  // --tls-creds / --tls-authz ids
    const char *tls_authz = nullptr;
    // -l: the internal snapshot to export (read-only), as QEMU's
    // "snapshot.id=ID,snapshot.name=NAME" or one ID_OR_NAME.
    const char *sn_id_or_name = nullptr;
    bool sn_by_opts = false;
    std::string sn_id, sn_name;
    bool sn_has_id = false, sn_has_name = false;
    std::vector<const char *> bitmaps;  // -B, in order
    // -L: list another server's exports instead of serving.  QEMU refuses
    // the options that describe the served device with it.
    bool list = false;
    bool per_device = false;  // -x -D -f -l -A -B --aio --discard --cache -n given
    const char *tls_hostname = nullptr;
    std::string list_hostname;  // -L with TLS: the name the certificate must have
};

void usage(const char *name)
{
    printf("Usage: %s [OPTIONS] FILE\n"
           "  or:  %s -L [OPTIONS]\n"
           "QEMU Disk Network Block Device Utility\n"
           "\n"
           "  -h, --help                display this help and exit\n"
           "  -V, --version             output version information and exit\n"
           "\n"
           "Connection properties:\n"
           "  -p, --port=PORT           port to listen on (default `10809')\n"
           "  -b, --bind=IFACE          interface to bind to (default `0.0.0.0')\n"
           "  -k, --socket=PATH         path to the unix socket\n"
           "  -e, --shared=NUM          device can be shared by NUM clients (default '1')\n"
           "  -t, --persistent          don't exit on the last connection\n"
           "  -v, --verbose             display extra debugging information\n"
           "  -x, --export-name=NAME    expose export by name (default is empty string)\n"
           "  -D, --description=TEXT    export a human-readable description\n"
           "\n"
           "Exposing part of the image:\n"
           "  -A, --allocation-depth    expose the allocation depth\n"
           "  -B, --bitmap=NAME         expose a persistent dirty bitmap\n"
           "\n"
           "General purpose options:\n"
           "  -L, --list                list exports available from another NBD server\n"
           "  --object type,id=ID,...   define an object such as 'tls-creds-x509' for\n"
           "                            providing TLS credentials\n"
           "  --tls-creds=ID            use id of an earlier --object to provide TLS\n"
           "  --tls-authz=ID            use id of an earlier --object to provide\n"
           "                            authorization\n"
           "  --fork                    fork off the server process and exit the parent\n"
           "                            once the server is running\n"
           "  --pid-file=PATH           store the server's process ID in the given file\n"
           "\n"
           "Block device options:\n"
           "  -f, --format=FORMAT       set image format (raw, qcow2, ...)\n"
           "  -r, --read-only           export read-only\n"
           "  -s, --snapshot            use FILE as an external snapshot, create a temporary\n"
           "                            file with backing_file=FILE, redirect the write to\n"
           "                            the temporary one\n"
           "  -l, --load-snapshot=SNAPSHOT_PARAM\n"
           "                            load an internal snapshot inside FILE and export it\n"
           "                            as an read-only device, SNAPSHOT_PARAM format is\n"
           "                            'snapshot.id=[ID],snapshot.name=[NAME]', or\n"
           "                            '[ID_OR_NAME]'\n"
           "  -n, --nocache             disable host cache\n"
           "      --cache=MODE          set cache mode used to access the disk image, the\n"
           "                            valid options are: 'none', 'writeback' (default),\n"
           "                            'writethrough', 'directsync' and 'unsafe'\n"
           "      --aio=MODE            set AIO mode (native, io_uring or threads)\n"
           "      --discard=MODE        set discard mode (ignore, unmap)\n"
           "      --detect-zeroes=MODE  set detect-zeroes mode (off, on, unmap)\n"
           "      --image-opts          treat FILE as a full set of image options\n",
           name, name);
}

[[noreturn]] void die(const char *fmt, const char *arg)
{
    error_report(fmt, arg);
    exit(EXIT_FAILURE);
}

enum {
    OPT_CACHE = 256,
    OPT_AIO,
    OPT_DISCARD,
    OPT_DETECT_ZEROES,
    OPT_IMAGE_OPTS,
    OPT_FORK,
    OPT_PID_FILE,
    OPT_OBJECT,
    OPT_TLS_CREDS,
    OPT_TLS_AUTHZ,
    OPT_TLS_HOSTNAME
};

const struct option long_opts[] = {
    {"help", no_argument, nullptr, 'h'},
    {"version", no_argument, nullptr, 'V'},
    {"port", required_argument, nullptr, 'p'},
    {"bind", required_argument, nullptr, 'b'},
    {"socket", required_argument, nullptr, 'k'},
    {"shared", required_argument, nullptr, 'e'},
    {"persistent", no_argument, nullptr, 't'},
    {"verbose", no_argument, nullptr, 'v'},
    {"export-name", required_argument, nullptr, 'x'},
    {"description", required_argument, nullptr, 'D'},
    {"bitmap", required_argument, nullptr, 'B'},
    {"allocation-depth", no_argument, nullptr, 'A'},
    {"list", no_argument, nullptr, 'L'},
    {"tls-hostname", required_argument, nullptr, OPT_TLS_HOSTNAME},
    {"format", required_argument, nullptr, 'f'},
    {"read-only", no_argument, nullptr, 'r'},
    {"nocache", no_argument, nullptr, 'n'},
    {"cache", required_argument, nullptr, OPT_CACHE},
    {"aio", required_argument, nullptr, OPT_AIO},
    {"discard", required_argument, nullptr, OPT_DISCARD},
    {"detect-zeroes", required_argument, nullptr, OPT_DETECT_ZEROES},
    {"image-opts", no_argument, nullptr, OPT_IMAGE_OPTS},
    {"fork", no_argument, nullptr, OPT_FORK},
    {"pid-file", required_argument, nullptr, OPT_PID_FILE},
    {"object", required_argument, nullptr, OPT_OBJECT},
    {"tls-creds", required_argument, nullptr, OPT_TLS_CREDS},
    {"tls-authz", required_argument, nullptr, OPT_TLS_AUTHZ},
    {"load-snapshot", required_argument, nullptr, 'l'},
    {"snapshot", no_argument, nullptr, 's'},
    {nullptr, 0, nullptr, 0},
};

void parse_block_opt(Options *o, int c, const char *arg)
{
    if (c != OPT_DETECT_ZEROES) o->per_device = true;  // cache, aio, discard
    switch (c) {
    case 'n': arg = "none"; [[fallthrough]];
    case OPT_CACHE:
        if (!bdrv_parse_cache_mode(arg, &o->flags, &o->writethrough))
            die("Invalid cache mode `%s'", arg);
        break;
    case OPT_AIO:
        if (!bdrv_parse_aio(arg, &o->flags)) die("Invalid aio mode '%s'", arg);
        break;
    case OPT_DISCARD:
        if (!strcmp(arg, "unmap") || !strcmp(arg, "on")) {
            o->flags |= BDRV_O_UNMAP;
        } else if (!strcmp(arg, "ignore") || !strcmp(arg, "off")) {
            o->flags &= ~BDRV_O_UNMAP;
        } else {
            die("Invalid discard mode `%s'", arg);
        }
        break;
    case OPT_DETECT_ZEROES:
        if (!bdrv_parse_detect_zeroes(arg, &o->detect_zeroes)) {
            die("Failed to parse detect_zeroes mode: invalid parameter value: %s", arg);
        }
        break;
    }
}

// As qemu-nbd: the credentials must exist and be a server's (a client's
// for -L); the authz object is looked up per client.
void parse_tls(Options *o)
{
    if (!o->tls_creds) {
        if (o->tls_authz) die("%s", "--tls-authz is not permitted without --tls-creds");
        if (o->tls_hostname) die("%s", "--tls-hostname is not permitted without --tls-creds");
        return;
    }
    if (o->tls_authz && o->list) die("%s", "TLS authorization is incompatible with export list");
    if (o->tls_hostname && !o->list) {
        die("%s", "TLS hostname is only supported with export list");
    }
    ErrorPtr err;
    o->exp.tls_creds =
        tls_creds_find(o->tls_creds, o->list ? TlsEndpoint::Client : TlsEndpoint::Server, &err);
    if (!o->exp.tls_creds) {
        error_prepend(&err, "Failed to get TLS creds: ");
        error_report_err(err.release());
        exit(EXIT_FAILURE);
    }
    if (o->tls_authz) o->exp.tls_authz = o->tls_authz;
}

// -L checks, in qemu-nbd's order.
void check_list_mode(const Options *o, int nargs)
{
    if (nargs != 0) die("%s", "List mode is incompatible with a file name");
    if (o->per_device) die("%s", "List mode is incompatible with per-device settings");
    if (o->fork) die("%s", "List mode is incompatible with forking");
}

// "snapshot.id=ID,snapshot.name=NAME" as QemuOpts parses qemu-nbd's
// internal snapshot options (",," is a comma in a value).
void parse_snapshot_opts(const char *arg, Options *o)
{
    o->sn_by_opts = true;
    for (const char *p = arg; *p;) {
        size_t klen = strcspn(p, "=,");
        std::string key(p, klen), value;
        p += klen;
        if (*p == '=') {
            for (p++; *p; p++) {
                if (*p == ',' && p[1] != ',') break;
                if (*p == ',') p++;
                value.push_back(*p);
            }
        } else {
            warn_report("short-form boolean option '%s' deprecated", key.c_str());
            fprintf(stderr, "Please use %s=on instead\n", key.c_str());
            value = "on";
        }
        if (*p == ',') p++;
        if (key == "snapshot.id") {
            o->sn_id = value;
            o->sn_has_id = true;
        } else if (key == "snapshot.name") {
            o->sn_name = value;
            o->sn_has_name = true;
        } else {
            error_report("Invalid parameter '%s'", key.c_str());
            die("Failed in parsing snapshot param `%s'", arg);
        }
    }
}

void parse_args(int argc, char **argv, Options *o)
{
    int c;
    std::string port = std::to_string(NBD_DEFAULT_PORT);
    std::string bind_addr = "0.0.0.0";
    while ((c = getopt_long(argc, argv, "hVp:b:k:e:tvx:D:AB:Lf:rnl:s", long_opts, nullptr)) != -1) {
        switch (c) {
        case 'h': usage(argv[0]); exit(EXIT_SUCCESS);
        case 'V': printf("%s 7.2.0 (qemu-lite 0.1.0)\n", argv[0]); exit(EXIT_SUCCESS);
        case 'p': port = optarg; break;
        case 'b':
            bind_addr = optarg;
            o->list_hostname = optarg;
            break;
        case 'k':
            o->addr.is_unix = true;
            o->addr.path = optarg;
            break;
        case 'e': {
            int64_t n;
            if (qemu_strtoi64(optarg, &n) < 0 || n < 0 || n > 65535) {
                die("Invalid shared device number '%s'", optarg);
            }
            o->exp.max_clients = int(n);
            break;
        }
        case 't': o->persistent = true; break;
        case 'v': o->exp.verbose = true; break;
        case 'x':
            o->per_device = true;
            if (strlen(optarg) > NBD_MAX_STRING) die("Export name '%s' is too long", optarg);
            o->exp.name = optarg;
            break;
        case 'D':
            o->per_device = true;
            if (strlen(optarg) > NBD_MAX_STRING) die("Export description '%s' is too long", optarg);
            o->exp.description = optarg;
            break;
        case 'A':
            o->per_device = true;
            o->exp.allocation_depth = true;
            break;
        case 'B':
            o->per_device = true;
            o->bitmaps.push_back(optarg);
            break;
        case 'L': o->list = true; break;
        case 'f':
            o->per_device = true;
            o->fmt = optarg;
            break;
        case 's': o->flags |= BDRV_O_SNAPSHOT; break;
        case 'l':
            o->per_device = true;
            if (!strncmp(optarg, "snapshot.", 9)) {
                parse_snapshot_opts(optarg, o);
            } else {
                o->sn_id_or_name = optarg;
            }
            [[fallthrough]];
        case 'r':
            o->exp.read_only = true;
            o->flags &= ~BDRV_O_RDWR;
            break;
        case OPT_IMAGE_OPTS: o->image_opts = true; break;
        case OPT_FORK: o->fork = true; break;
        case OPT_PID_FILE: o->pid_file = optarg; break;
        case OPT_OBJECT: user_creatable_process_cmdline(optarg); break;
        case OPT_TLS_CREDS: o->tls_creds = optarg; break;
        case OPT_TLS_AUTHZ: o->tls_authz = optarg; break;
        case OPT_TLS_HOSTNAME: o->tls_hostname = optarg; break;
        case '?':
            error_report("Try `%s --help' for more information.", argv[0]);
            exit(EXIT_FAILURE);
        default: parse_block_opt(o, c, optarg); break;
        }
    }
    if (o->list) {
        check_list_mode(o, argc - optind);
    } else if (argc - optind != 1) {
        error_report("Invalid number of arguments");
        fprintf(stderr, "Try `%s --help' for more information.\n", argv[0]);
        exit(EXIT_FAILURE);
    } else {
        o->image = argv[optind];
    }
    if (o->tls_hostname) o->list_hostname = o->tls_hostname;
    if (!o->addr.is_unix) {
        o->addr.host = bind_addr;
        o->addr.port = port;
    }
    parse_tls(o);
    if (o->detect_zeroes == DETECT_ZEROES_UNMAP && !(o->flags & BDRV_O_UNMAP)) {
        error_report("setting detect-zeroes to unmap is not allowed without setting discard "
                     "operation to unmap");
        exit(EXIT_FAILURE);
    }
}

// -l: the snapshot's L1 table replaces the image's for this (read-only)
// process, as QEMU's bdrv_snapshot_load_tmp.
void load_snapshot(const Options *o, BlockBackend *blk)
{
    struct Call {
        const Options *o;
        BlockDriverState *bs;
        ErrorPtr err;
    } c{o, blk_bs(blk), {}};
    aio_run_coroutine_sync(
        qemu_get_aio_context(),
        [](void *p) coroutine_fn {
            auto *c = (Call *)p;
            if (c->o->sn_by_opts) {
                bdrv_co_snapshot_load_tmp(c->bs, c->o->sn_has_id ? c->o->sn_id.c_str() : nullptr,
                                          c->o->sn_has_name ? c->o->sn_name.c_str() : nullptr,
                                          &c->err);
            } else {
                bdrv_co_snapshot_load_tmp_by_id_or_name(c->bs, c->o->sn_id_or_name, &c->err);
            }
        },
        &c);
    if (c.err) {
        error_report("Failed to load snapshot: %s", error_get_pretty(c.err.get()));
        exit(EXIT_FAILURE);
    }
}

BlockBackend *open_image(Options *o)
{
    QDict opts;
    ErrorPtr err;
    const char *filename = o->image;
    if (o->image_opts) {
        if (!keyval_parse(o->image, nullptr, &opts, &err)) {
            error_report_err(err.release());
            exit(EXIT_FAILURE);
        }
        filename = nullptr;
    }
    if (o->fmt) opts.set("driver", o->fmt);
    BlockBackend *blk = blk_new_open(filename, &opts, o->flags, &err);
    if (!blk) {
        error_prepend(&err, "Failed to blk_new_open '%s': ", o->image);
        error_report_err(err.release());
        exit(EXIT_FAILURE);
    }
    if (o->sn_by_opts || o->sn_id_or_name) load_snapshot(o, blk);
    blk_set_enable_write_cache(blk, !o->writethrough);
    blk_set_detect_zeroes(blk, o->detect_zeroes);
    return blk;
}

struct RunState {
    bool persistent;
    bool terminate = false;
};

void on_client_gone(void *opaque, int remaining)
{
    RunState *rs = (RunState *)opaque;
    if (!rs->persistent && remaining == 0) rs->terminate = true;
}

void on_signal_fd(void *opaque)
{
    RunState *rs = (RunState *)opaque;
    rs->terminate = true;
}

// qemu-nbd binds before it opens the image: a bad address fails fast and
// the image is never opened (or locked) for nothing.
int listen_or_die(const Options &o)
{
    ErrorPtr err;
    int lfd = nbd_socket_listen(o.addr, 16, &err);
    if (lfd < 0) {
        error_report_err(err.release());
        exit(EXIT_FAILURE);
    }
    return lfd;
}

// -B: each bitmap is looked up on the exported node, then down its backing
// chain, and checked as QEMU's NBD export does; it stays busy while exported.
bool resolve_bitmaps(Options *o, BlockBackend *blk, Error **errp)
{
    // qemu-nbd keeps -B in a list it prepends to: the export (and its meta
    // context listing) has them last given first.
    for (auto it = o->bitmaps.rbegin(); it != o->bitmaps.rend(); ++it) {
        const char *name = *it;
        BdrvDirtyBitmap *bm = nullptr;
        for (BlockDriverState *bs = blk_bs(blk); bs && !bm; bs = bdrv_backing_bs(bs)) {
            bm = bdrv_find_dirty_bitmap(bs, name);
        }
        if (!bm) {
            error_setg(errp, "Bitmap '%s' is not found", name);
            return false;
        }
        if (bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_ALLOW_RO, errp)) {
            return false;
        }
        if (o->exp.read_only && !bdrv_dirty_bitmap_readonly(bm) && bdrv_dirty_bitmap_enabled(bm) &&
            blk_is_writable(blk)) {
            error_setg(errp, "Enabled bitmap '%s' incompatible with readonly export", name);
            return false;
        }
        bdrv_dirty_bitmap_set_busy(bm, true);
        o->exp.bitmaps.push_back({name, bm});
    }
    return true;
}

int serve(Options *o, BlockBackend *blk, int lfd, int sfd)
{
    ErrorPtr err;
    AioContext *ctx = qemu_get_aio_context();
    o->exp.blk = blk;
    o->exp.can_trim = true;
    o->exp.multi_conn = o->exp.max_clients != 1;
    if (!resolve_bitmaps(o, blk, &err)) {
        error_report_err(err.release());
        return EXIT_FAILURE;
    }
    NbdServer *srv = nbd_server_new(ctx, o->exp);
    RunState rs{o->persistent};
    nbd_server_set_client_gone_cb(srv, on_client_gone, &rs);
    nbd_server_listen(srv, lfd);
    aio_set_fd_handler(ctx, sfd, on_signal_fd, nullptr, &rs);
    // Written only now: a script waiting for the file can connect at once.
    if (o->pid_file && !daemon_write_pidfile(o->pid_file, &err)) {
        error_report_err(err.release());
        return EXIT_FAILURE;
    }
    daemon_ready(o->exp.verbose);
    while (!rs.terminate) {
        aio_poll(ctx, true);
    }
    aio_set_fd_handler(ctx, sfd, nullptr, nullptr, nullptr);
    nbd_server_free(srv);  // disconnects clients after their requests finish
    if (o->addr.is_unix) unlink(o->addr.path.c_str());
    return EXIT_SUCCESS;
}

}  // namespace

int main(int argc, char **argv)
{
    error_set_progname(argv[0]);  // basename, as qemu-nbd's message prefix
    // First, as qemu-nbd: a SIGTERM that arrives while the image opens (the
    // socket already exists) is a shutdown request like any later one, not
    // a kill.  The handlers stay until exit, so a repeated signal cannot cut
    // the final drain and flush short.
    int sfd = daemon_signal_setup();
    if (sfd < 0) {
        error_report("Failed to create signal pipe: %s", strerror(-sfd));
        exit(EXIT_FAILURE);
    }
    Options o;
    parse_args(argc, argv, &o);
    if (o.list) {
        const char *host = o.list_hostname.empty() ? nullptr : o.list_hostname.c_str();
        return nbd_list_exports(o.addr, o.exp.tls_creds, host);
    }
    if (o.fork) daemon_fork();
    int lfd = listen_or_die(o);
    bdrv_init();
    // Page-cache I/O without a pool hand-off (4 KiB QD32: reads 1.5x, writes
    // 2.3x the requests per second).  Reads never wait for the disk; writes
    // go back to the pool for a while once one stalls (dirty throttling),
    // so one client's stall does not keep holding up the others.
    aio_threads_set_inline(AioThreadsInline::FastWrites);
    BlockBackend *blk = open_image(&o);
    int ret = serve(&o, blk, lfd, sfd);
    blk_unref(blk);  // drains and flushes: SIGTERM loses no acknowledged write
    return ret;
}

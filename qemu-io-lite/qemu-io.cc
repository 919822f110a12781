// qemu-io-lite: main(), option parsing, the image the session works on and
// the command loop (-c commands, or an interactive prompt on stdin).
#include <getopt.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "qemu-io-lite/qemu-io.h"
#include "util/util.h"

IoSession &io_session()
{
    static IoSession session;
    return session;
}

int io_openfile(const char *name, int flags, bool writethrough, bool force_share, bool copy_on_read,
                QDict *opts)
{
    IoSession &s = io_session();
    if (s.blk) {
        error_report("file open already, try 'help close'");
        return 1;
    }
    QDict local;
    if (opts) {
        local = *opts;
    }
    if (force_share) {
        const char *fs = local.get("force-share");
        if (fs && strcmp(fs, "on")) {
            error_report("-U conflicts with image options");
            return 1;
        }
        local.del("force-share");
        flags |= BDRV_O_FORCE_SHARE;
    }
    if (const char *fs = local.get("force-share")) {
        bool on = false;
        if (keyval_parse_bool(fs, &on) && on) {
            flags |= BDRV_O_FORCE_SHARE;
        }
        local.del("force-share");
    }
    if (!name && local.entries.empty()) {
        error_report("can't open: Must specify either driver or file");
        return 1;
    }
    if (copy_on_read && !(flags & BDRV_O_RDWR)) {
        // QEMU's block layer refuses the combination at open.
        error_report("can't open device %s: Can't use copy-on-read on read-only device",
                     name ? name : "");
        return 1;
    }
    // qemu-io shares every permission, like QEMU's tools: concurrent writers
    // are refused only where a format node (qcow2) takes its file exclusively.
    ErrorPtr err;
    s.blk = blk_new_open(name, &local, flags | BDRV_O_SHARE_RW, &err);
    if (!s.blk) {
        if (name) {
            error_report("can't open device %s: %s", name, error_get_pretty(err.get()));
        } else {
            error_report("can't open: %s", error_get_pretty(err.get()));
        }
        return 1;
    }
    blk_set_enable_write_cache(s.blk, !writethrough);
    blk_set_copy_on_read(s.blk, copy_on_read);
    return 0;
}

void io_closefile()
{
    IoSession &s = io_session();
    io_aio_wait_all();
    blk_unref(s.blk);
    s.blk = nullptr;
}

static void usage(const char *name)
{
    printf("Usage: %s [OPTIONS]... [-c STRING]... [file]\n"
           "QEMU Disk exerciser\n"
           "\n"
           "  --object OBJECTDEF   define an object such as 'secret' for\n"
           "                       passwords and/or encryption keys\n"
           "  --image-opts         treat file as option string\n"
           "  -c, --cmd STRING     execute command with its arguments\n"
           "                       from the given string\n"
           "  -f, --format FMT     specifies the block driver to use\n"
           "  -r, --read-only      export read-only\n"
           "  -s, --snapshot       use snapshot file\n"
           "  -n, --nocache        disable host cache, short for -t none\n"
           "  -C, --copy-on-read   enable copy-on-read\n"
           "  -m, --misalign       misalign allocations for O_DIRECT\n"
           "  -k, --native-aio     use kernel AIO implementation\n"
           "                       (Linux only, prefer use of -i)\n"
           "  -i, --aio=MODE       use AIO mode (threads, native or io_uring)\n"
           "  -t, --cache=MODE     use the given cache mode for the image\n"
           "  -d, --discard=MODE   use the given discard mode for the image\n"
           "  -T, --trace [[enable=]<pattern>][,events=<file>][,file=<file>]\n"
           "                       specify tracing options\n"
           "                       see qemu-img(1) man page for full description\n"
           "  -U, --force-share    force shared permissions\n"
           "  -h, --help           display this help and exit\n"
           "  -V, --version        output version information and exit\n"
           "\n"
           "See '%s -c help' for information on available commands.\n",
           name, name);
}

struct MainArgs {
    std::vector<const char *> cmds;
    const char *format = nullptr;
    int flags = BDRV_O_UNMAP;
    bool readonly = false, writethrough = true, force_share = false, cor = false;
};

enum { OPTION_OBJECT = 256, OPTION_IMAGE_OPTS = 257 };

// Parses one option; exits on the errors qemu-io exits on.
static void parse_main_option(int c, MainArgs *a, const char *progname)
{
    switch (c) {
    case 'c': a->cmds.push_back(optarg); break;
    case 'f': a->format = optarg; break;
    case 'r': a->readonly = true; break;
    case 's': a->flags |= BDRV_O_SNAPSHOT; break;
    case 'n':
        a->flags |= BDRV_O_NOCACHE;
        a->writethrough = false;
        break;
    case 'C': a->cor = true; break;
    case 'm': io_session().misalign = true; break;
    case 'k': a->flags |= BDRV_O_NATIVE_AIO; break;
    case 'i':
        if (!bdrv_parse_aio(optarg, &a->flags)) {
            error_report("Invalid aio option: %s", optarg);
            exit(1);
        }
        break;
    case 'd':
        if (!io_parse_discard(optarg, &a->flags)) {
            error_report("Invalid discard option: %s", optarg);
            exit(1);
        }
        break;
    case 't': {
        int f = 0;
        if (!bdrv_parse_cache_mode(optarg, &f, &a->writethrough)) {
            error_report("Invalid cache option: %s", optarg);
            exit(1);
        }
        a->flags = (a->flags & ~(BDRV_O_NOCACHE | BDRV_O_NO_FLUSH)) | f;
        break;
    }
    case 'T': break;  // tracing: accepted and ignored
    case 'U': a->force_share = true; break;
    case OPTION_OBJECT: user_creatable_process_cmdline(optarg); break;
    case OPTION_IMAGE_OPTS: io_session().image_opts = true; break;
    case 'V': printf("%s version 7.2.0 (qemu-lite 0.1.0)\n", progname); exit(0);
    case 'h': usage(progname); exit(0);
    default: usage(progname); exit(1);
    }
}

static int open_from_command_line(const MainArgs &a, const char *target)
{
    int flags = a.flags | (a.readonly ? 0 : BDRV_O_RDWR);
    QDict opts;
    if (io_session().image_opts) {
        ErrorPtr err;
        if (!keyval_parse(target, nullptr, &opts, &err)) {
            error_report_err(err.release());
            return 1;
        }
        return io_openfile(nullptr, flags, a.writethrough, a.force_share, a.cor, &opts);
    }
    if (a.format) {
        opts.set("driver", a.format);
    }
    return io_openfile(target, flags, a.writethrough, a.force_share, a.cor,
                       a.format ? &opts : nullptr);
}

// Reads commands from stdin after a "qemu-io> " prompt until EOF or quit.
static int interactive_loop(const char *progname)
{
    int last_error = 0;
    std::string line;
    char buf[4096];
    while (!io_session().quit) {
        printf("%s> ", progname);
        fflush(stdout);
        if (!fgets(buf, sizeof(buf), stdin)) {
            break;
        }
        line = buf;
        if (!line.empty() && line.back() == '\n') {
            line.pop_back();
        }
        int ret = io_command(line.c_str());
        if (ret < 0) {
            last_error = ret;
        }
    }
    return last_error;
}

int main(int argc, char **argv)
{
    static const struct option lopt[] = {
        {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, 'V'},
        {"cmd", required_argument, nullptr, 'c'},
        {"format", required_argument, nullptr, 'f'},
        {"read-only", no_argument, nullptr, 'r'},
        {"snapshot", no_argument, nullptr, 's'},
        {"nocache", no_argument, nullptr, 'n'},
        {"copy-on-read", no_argument, nullptr, 'C'},
        {"misalign", no_argument, nullptr, 'm'},
        {"native-aio", no_argument, nullptr, 'k'},
        {"aio", required_argument, nullptr, 'i'},
        {"discard", required_argument, nullptr, 'd'},
        {"cache", required_argument, nullptr, 't'},
        {"trace", required_argument, nullptr, 'T'},
        {"object", required_argument, nullptr, OPTION_OBJECT},
        {"image-opts", no_argument, nullptr, OPTION_IMAGE_OPTS},
        {"force-share", no_argument, nullptr, 'U'},
        {nullptr, 0, nullptr, 0},
    };
    // As qemu-io: messages, usage and the prompt carry the name we were
    // started under, so a link named qemu-io speaks as qemu-io.
    error_set_progname(argv[0]);
    const char *progname = error_get_progname();
    bdrv_init();
    MainArgs a;
    int c;
    while ((c = getopt_long(argc, argv, "hVc:d:f:rsnCmki:t:T:U", lopt, nullptr)) != -1) {
        parse_main_option(c, &a, progname);
    }
    if (argc - optind > 1) {
        usage(progname);
        exit(1);
    }
    if (a.format && io_session().image_opts) {
        error_report("--image-opts and -f are mutually exclusive");
        exit(1);
    }
    if (argc - optind == 1 && open_from_command_line(a, argv[optind])) {
        exit(1);
    }
    int last_error = 0;
    if (!a.cmds.empty()) {
        for (size_t i = 0; i < a.cmds.size() && !io_session().quit; i++) {
            int ret = io_command(a.cmds[i]);
            if (ret < 0) {
                last_error = ret;
            }
        }
    } else {
        last_error = interactive_loop(progname);
    }
    if (io_session().blk) {
        io_closefile();
    }
    return last_error < 0 ? 1 : 0;
}

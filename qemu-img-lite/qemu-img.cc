// qemu-img-lite: entry point, global options and the subcommand table.
// Behaviour, messages and exit codes follow qemu-img 7.2.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "block/block.h"
#include "crypto/crypto.h"
#include "qemu-img-lite/img.h"
#include "util/aio-backend.h"

namespace {

const char kVersion[] = "version 7.2.0 (qemu-lite "
                        "0.1.0"
                        ")\n"
                        "Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n";

struct ImgCmd {
    const char *name;
    int (*handler)(int argc, char **argv);
};

const ImgCmd kCommands[] = {
    {"amend", img_amend},       {"bench", img_bench},   {"bitmap", img_bitmap},
    {"check", img_check},       {"commit", img_commit}, {"compare", img_compare},
    {"convert", img_convert},   {"create", img_create}, {"dd", img_dd},
    {"info", img_info},         {"map", img_map},       {"measure", img_measure},
    {"snapshot", img_snapshot}, {"rebase", img_rebase}, {"resize", img_resize},
};

// Every subcommand but bench is a batch job: its loop serves nothing but
// this one copy or scan, so page-cache reads and writes run in it (a pool
// hand-off per request costs more than the copy; docs/performance.md).
// bench measures the block layer's request path as qemu-img's does.
AioThreadsInline inline_io_for(const char *cmdname)
{
    return strcmp(cmdname, "bench") ? AioThreadsInline::All : AioThreadsInline::Off;
}

const char kSyntax[] =
    "  amend [--object objectdef] [--image-opts] [-p] [-q] [-f fmt] [-t cache] [--force] -o "
    "options filename\n"
    "  bench [-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] [-i aio] [-n] "
    "[--no-drain] [-o offset] [--pattern=pattern] [-q] [-s buffer_size] [-S step_size] "
    "[-t cache] [-w] [-U] filename\n"
    "  bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)... "
    "[-b source_file [-F source_fmt]] [-g granularity] [--image-opts | -f fmt] filename "
    "bitmap\n"
    "  check [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-T src_cache] [-U] filename\n"
    "  commit [-q] [-f fmt] [-t cache] [-b base] [-d] [-p] filename\n"
    "  compare [-f fmt] [-F fmt] [-T src_cache] [-p] [-q] [-s] [-U] filename1 filename2\n"
    "  convert [--image-opts] [--target-image-opts] [--target-is-zero] [--bitmaps] [-U] [-C] "
    "[-c] [-p] [-q] [-n] [-f fmt] [-t cache] [-T src_cache] [-O output_fmt] "
    "[-B backing_file [-F backing_fmt]] [-o options] [-l snapshot_param] [-S sparse_size] "
    "[-r rate_limit] [-m num_coroutines] [-W] [--salvage] filename [filename2 [...]] "
    "output_filename\n"
    "  create [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename "
    "[size]\n"
    "  dd [--image-opts] [-U] [-f fmt] [-O output_fmt] [bs=block_size] [count=blocks] "
    "[skip=blocks] if=input of=output\n"
    "  info [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename\n"
    "  map [-f fmt] [--start-offset=offset] [--max-length=len] [--output=ofmt] [-U] filename\n"
    "  measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | [--image-opts] [-f fmt] "
    "[-l snapshot_param] filename]\n"
    "  snapshot [-U] [-q] [-l | -a snapshot | -c snapshot | -d snapshot] filename\n"
    "  rebase [-U] [-q] [-f fmt] [-t cache] [-T src_cache] [-p] [-u] -b backing_file "
    "[-F backing_fmt] filename\n"
    "  resize [-f fmt] [--preallocation=prealloc] [-q] [--shrink] filename [+ | -]size\n";

const char kParams[] =
    "Command parameters:\n"
    "  'filename' is a disk image filename\n"
    "  'fmt' is the disk image format. It is guessed automatically in most cases\n"
    "  'cache' is the cache mode used to write the output disk image, the valid\n"
    "    options are: 'none', 'writeback' (default, except for convert), 'writethrough',\n"
    "    'directsync' and 'unsafe' (default for convert)\n"
    "  'src_cache' is the cache mode used to read input disk images, the valid\n"
    "    options are the same as for the 'cache' option\n"
    "  'size' is the disk image size in bytes. Optional suffixes\n"
    "    'k' or 'K' (kilobyte, 1024), 'M' (megabyte, 1024k), 'G' (gigabyte, 1024M),\n"
    "    'T' (terabyte, 1024G), 'P' (petabyte, 1024T) and 'E' (exabyte, 1024P)  are\n"
    "    supported. 'b' is ignored.\n"
    "  'output_filename' is the destination disk image filename\n"
    "  'output_fmt' is the destination format\n"
    "  'options' is a comma separated list of format specific options in a\n"
    "    name=value format. Use -o help for an overview of the options supported by\n"
    "    the used format\n"
    "  'snapshot_param' is param used for internal snapshot, format\n"
    "    is 'snapshot.id=[ID],snapshot.name=[NAME]', or\n"
    "    '[ID_OR_NAME]'\n"
    "  '-c' indicates that target image must be compressed (qcow format only)\n"
    "  '-u' allows unsafe backing chains. For rebasing, it is assumed that old and\n"
    "       new backing file match exactly. The image doesn't need a working\n"
    "       backing file before rebasing in this case (useful for renaming the\n"
    "       backing file). For image creation, allow creating without attempting\n"
    "       to open the backing file.\n"
    "  '-h' with or without a command shows this help and lists the supported formats\n"
    "  '-p' show progress of command (only certain commands)\n"
    "  '-q' use Quiet mode - do not print any output (except errors)\n"
    "  '-S' indicates the consecutive number of bytes (defaults to 4k) that must\n"
    "       contain only zeros for qemu-img to create a sparse image during\n"
    "       conversion. If the number of bytes is 0, the source will not be scanned for\n"
    "       unallocated or zero sectors, and the destination image will always be\n"
    "       fully allocated\n"
    "  '--output' takes the format in which the output must be done (human or json)\n"
    "  '-n' skips the target volume creation (useful if the volume is created\n"
    "       prior to running qemu-img)\n"
    "\n"
    "Parameters to bitmap subcommand:\n"
    "  'bitmap' is the name of the bitmap to manipulate, through one or more\n"
    "       actions from '--add', '--remove', '--clear', '--enable', '--disable',\n"
    "       or '--merge source'\n"
    "  '-g granularity' sets the granularity for '--add' actions\n"
    "  '-b source' and '-F src_fmt' tell '--merge' actions to find the source\n"
    "       bitmaps from an alternative file\n"
    "\n"
    "Parameters to check subcommand:\n"
    "  '-r' tries to repair any inconsistencies that are found during the check.\n"
    "       '-r leaks' repairs only cluster leaks, whereas '-r all' fixes all\n"
    "       kinds of errors, with a higher risk of choosing the wrong fix or\n"
    "       hiding corruption that has already occurred.\n"
    "\n"
    "Parameters to convert subcommand:\n"
    "  '-m' specifies how many coroutines work in parallel during the convert\n"
    "       process (defaults to 8)\n"
    "  '-W' allow to write to the target out of order rather than sequential\n"
    "\n"
    "Parameters to snapshot subcommand:\n"
    "  'snapshot' is the name of the snapshot to create, apply or delete\n"
    "  '-a' applies a snapshot (revert disk to saved state)\n"
    "  '-c' creates a snapshot\n"
    "  '-d' deletes a snapshot\n"
    "  '-l' lists all snapshots in the given image\n"
    "\n"
    "Parameters to compare subcommand:\n"
    "  '-f' first image format\n"
    "  '-F' second image format\n"
    "  '-s' run in Strict mode - fail on different image size or sector allocation\n";

void print_version(void) { printf("%s %s", error_get_progname(), kVersion); }

}  // namespace

void img_help(void)
{
    print_version();
    printf("usage: %s [standard options] command [command options]\n"
           "QEMU disk image utility\n\n"
           "    '-h', '--help'       display this help and exit\n"
           "    '-V', '--version'    output version information and exit\n\n"
           "Command syntax:\n%s\n%s\nSupported formats:",
           error_get_progname(), kSyntax, kParams);
    for (const char *fmt : {"blkdebug", "file", "nbd", "qcow-lite", "qcow2", "raw"}) {
        if (bdrv_find_format(fmt)) {
            printf(" %s", fmt);
        }
    }
    printf("\n\nSee <https://qemu.org/contribute/report-a-bug> for how to report bugs.\n"
           "More information on the QEMU project at <https://qemu.org>.\n");
    exit(EXIT_SUCCESS);
}

int main(int argc, char **argv)
{
    error_set_progname(argv[0]);  // basename, as qemu-img's message prefix
    // --object is valid in every subcommand / position (TLS credentials).
    user_creatable_extract_cmdline(&argc, argv, false);
    bdrv_init();

    static const struct option long_options[] = {
        {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, 'V'},
        {nullptr, 0, nullptr, 0},
    };
    // '+': stop at the subcommand name; its own options are parsed later.
    int c;
    while ((c = img_getopt(argc, argv, "+:hV", long_options)) != -1) {
        if (c == 'V') {
            print_version();
            return 0;
        }
    }
    if (optind >= argc) {
        error_exit("Not enough arguments");
    }
    const char *cmdname = argv[optind];
    argc -= optind;
    argv += optind;
    optind = 0;  // glibc: reinitialise for the subcommand's argv
    for (const ImgCmd &cmd : kCommands) {
        if (!strcmp(cmdname, cmd.name)) {
            aio_threads_set_inline(inline_io_for(cmdname));
            return cmd.handler(argc, argv);
        }
    }
    error_exit("Command not found: %s", cmdname);
}

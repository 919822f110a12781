// Shared plumbing of qemu-img-lite's subcommands: argument errors, image
// opening, running coroutines from plain code, output formats.  Each
// subcommand lives in its own img-<name>.cc and is declared here.
#pragma once

#include <getopt.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "block/block.h"
#include "util/util.h"

struct BlockDriverState;
struct QEMUSnapshotInfo;

// Subcommand entry points: argv[0] is the subcommand name; return the exit code.
int img_create(int argc, char **argv);
int img_info(int argc, char **argv);
int img_amend(int argc, char **argv);
int img_check(int argc, char **argv);
int img_convert(int argc, char **argv);
int img_compare(int argc, char **argv);
int img_map(int argc, char **argv);
int img_resize(int argc, char **argv);
int img_commit(int argc, char **argv);
int img_rebase(int argc, char **argv);
int img_measure(int argc, char **argv);
int img_snapshot(int argc, char **argv);
int img_bench(int argc, char **argv);
int img_dd(int argc, char **argv);
int img_bitmap(int argc, char **argv);

// Prints the global help (qemu-img's `help` / `--help` / `<cmd> --help`)
// and exits 0.
[[noreturn]] void img_help(void);

// "<prog>: <msg>\nTry '<prog> --help' for more information" and exit(1):
// qemu-img's answer to every command-line mistake.
[[noreturn]] void error_exit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] void img_unrecognized_option(const char *option);
[[noreturn]] void img_missing_argument(const char *option);

// getopt_long with qemu-img's conventions: a leading ':' in @shortopts so
// missing arguments are reported by us; '?' and ':' results exit with the
// matching message; 'h' prints help.  Returns -1 at the end of options.
int img_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);

enum OutputFormat { OFORMAT_HUMAN, OFORMAT_JSON };
// Parses --output's argument; exits with qemu-img's message when invalid.
OutputFormat img_parse_output_format(const char *arg);

// qemu-img's cvtnum: a size with suffixes, in [min, max]; prints qemu-img's
// message naming @what and returns a negative errno when invalid.
int64_t img_cvtnum_full(const char *what, const char *value, int64_t min, int64_t max);
int64_t img_cvtnum(const char *what, const char *value);

// Opening.  @fmt may be null (probe).  @cache: a cache= mode or null for the
// tool default (writeback).  Prints "Could not open '<f>': <why>" and returns
// null on failure.  @quiet suppresses the probed-raw warning.
struct ImgOpenArgs {
    const char *fmt = nullptr;
    int flags = 0;  // BDRV_O_RDWR, BDRV_O_NO_BACKING, ...
    const char *cache = nullptr;
    const char *aio = nullptr;
    bool force_share = false;
    bool quiet = false;
    bool image_opts = false;  // @filename is a key=value option string
    // Further options for the node (convert: the target's key secrets).
    std::vector<std::pair<std::string, std::string>> extra_opts;
};
BlockBackend *img_open(const char *filename, const ImgOpenArgs &args);
// Applies a cache mode to @flags; false (after printing "Invalid cache
// option: <mode>" or the aio error) when unknown.
bool img_parse_cache(const char *mode, int *flags, bool *writethrough);

// Runs @fn() in a coroutine on the main AioContext and polls until done.
template <typename F>
void img_co_run(F &&fn)
{
    aio_run_coroutine_sync(
        qemu_get_aio_context(), [](void *p) { (*static_cast<std::remove_reference_t<F> *>(p))(); },
        &fn);
}

// Image facts the reporting commands share (sync wrappers over coroutine_fn
// driver entry points).
int64_t img_allocated_file_size(BlockDriverState *bs);
int img_block_status_above(BlockDriverState *bs, BlockDriverState *base, int64_t offset,
                           int64_t bytes, int64_t *pnum, int64_t *map, BlockDriverState **file);

// "ID        TAG ..." header and one row per snapshot (qemu-img snapshot -l).
void img_print_snapshot_table(const std::vector<QEMUSnapshotInfo> &sns);

// The driver's cluster size, or 0 when it has none.
int img_cluster_size(BlockDriverState *bs);

// RAII owner of a BlockBackend.
struct BlkRef {
    BlockBackend *blk = nullptr;
    BlkRef() = default;
    explicit BlkRef(BlockBackend *b) : blk(b) {}
    ~BlkRef() { reset(); }
    BlkRef(const BlkRef &) = delete;
    BlkRef &operator=(const BlkRef &) = delete;
    BlkRef(BlkRef &&o) noexcept : blk(o.blk) { o.blk = nullptr; }
    void reset(BlockBackend *b = nullptr)
    {
        if (blk) blk_unref(blk);
        blk = b;
    }
    BlockBackend *get() const { return blk; }
    explicit operator bool() const { return blk != nullptr; }
};

// qemu-io-lite: the disk exerciser.  A command table modelled on qemu-io's
// (name, alias, argument counts, flags, one-line help), the shared output
// helpers whose formats match qemu-io 7.2 byte for byte, and the state of
// the one open image.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>

#include "block/block.h"

// Largest request qemu-io accepts (QEMU's BDRV_REQUEST_MAX_BYTES).
constexpr int64_t kRequestMaxBytes = (INT32_MAX >> 9) << 9;

enum IoCmdFlags {
    CMD_FLAG_GLOBAL = 1,  // runs with or without an open image (help, quit)
    CMD_NOFILE_OK = 2,    // needs no image (open, sleep)
};

struct IoCmd {
    const char *name;
    const char *altname;  // one-letter alias, or nullptr
    int (*cfunc)(BlockBackend *blk, int argc, char **argv);
    int argmin, argmax;  // argmax -1: unbounded
    int flags;           // IoCmdFlags
    bool needs_write;    // BLK_PERM_WRITE: refused on read-only images
    const char *args;    // shown in help; nullptr prints nothing
    const char *oneline;
    void (*help)(void);
};

// ---- state of the session (qemu-io.cc) -----------------------------------
struct IoSession {
    BlockBackend *blk = nullptr;
    bool image_opts = false;  // --image-opts: open takes key=value strings
    bool misalign = false;    // -m: buffers start 512 bytes past alignment
    bool quit = false;
};
IoSession &io_session();
// Opens @name (or only @opts when @name is null) as the session's image.
// Returns 0, or 1 after printing qemu-io's error.
int io_openfile(const char *name, int flags, bool writethrough, bool force_share, bool copy_on_read,
                QDict *opts);
// discard=on|unmap|off|ignore -> BDRV_O_UNMAP.
bool io_parse_discard(const char *mode, int *flags);
void io_closefile();

// ---- command table (io-cmds.cc) ------------------------------------------
// Runs one command line; returns its result (< 0 on failure).
int io_command(const char *line);
const IoCmd *io_find_command(const char *name);
void io_command_usage(const IoCmd *ct);

// ---- command groups, each registering into the table ---------------------
extern const IoCmd io_rw_cmds[];   // read, readv, write, writev (io-rw.cc)
extern const IoCmd io_aio_cmds[];  // aio_read, aio_write, aio_flush (io-aio.cc)
extern const IoCmd
    io_image_cmds[];  // discard, flush, truncate, length, info, map, alloc (io-image.cc)
extern const IoCmd
    io_session_cmds[];               // open, close, reopen, sleep, sigraise, abort (io-session.cc)
extern const IoCmd io_debug_cmds[];  // break, remove_break, resume, wait_break (io-debug.cc)

// ---- output helpers (io-report.cc) ---------------------------------------
// qemu-io's size formats: "4 KiB", "2.930 KiB", "85.754181 bytes".
void io_cvtstr(double value, char *str, size_t size);
// qemu-io's number parser: sizes with suffixes; negative or junk -> -errno.
int64_t io_cvtnum(const char *s);
void io_print_cvtnum_err(int64_t rc, const char *arg);
// Pattern byte (0..255) or -1 after printing qemu-io's message.
int io_parse_pattern(const char *arg);
// "read 4096/4096 bytes at offset 0" + the timing line (or the -C line).
void io_print_report(const char *op, const struct timespec *t, int64_t offset, int64_t count,
                     int64_t total, int cnt, bool cflag);
struct timespec io_tsub(struct timespec t1, struct timespec t2);
struct timespec io_now();
void io_dump_buffer(const void *buffer, int64_t offset, int64_t len);

// Buffers for requests: aligned for O_DIRECT, optionally misaligned (-m).
struct IoBuffer {
    explicit IoBuffer(int64_t len, int pattern);
    ~IoBuffer();
    IoBuffer(const IoBuffer &) = delete;
    IoBuffer &operator=(const IoBuffer &) = delete;
    uint8_t *data() const { return data_; }
    int64_t size() const { return len_; }

  private:
    void *base_;
    uint8_t *data_;
    int64_t len_;
};

// Splits "off len [len...]" sizes into one buffer with an iovec per length
// (qemu-io's create_iovec); nullptr after printing the reason.
std::unique_ptr<IoBuffer> io_create_iovec(QEMUIOVector *qiov, char **argv, int nr_iov, int pattern);

// Runs @fn (returning an integer) in a coroutine of @blk's context and
// polls until it finishes: the synchronous form of any blk_co_* call.
template <typename F>
int64_t blk_run_co(BlockBackend *blk, F fn)
{
    struct Call {
        F *fn;
        int64_t ret;
    } c{&fn, 0};
    aio_run_coroutine_sync(
        blk_get_aio_context(blk),
        [](void *o) {
            auto *call = (Call *)o;
            call->ret = (*call->fn)();
        },
        &c);
    return c.ret;
}

// Asynchronous requests still running (io-aio.cc); waited for by
// aio_flush, close and exit.
unsigned io_aio_pending();
void io_aio_wait_all();

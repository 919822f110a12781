// The command table: lookup by name or alias, argument-count checks,
// permission checks, help and quit.  Commands are listed in name order, as
// qemu-io sorts its table.
#include <getopt.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "qemu-io-lite/qemu-io.h"
#include "util/util.h"

static int help_f(BlockBackend *blk, int argc, char **argv);
static int quit_f(BlockBackend *blk, int argc, char **argv);

static const IoCmd global_cmds[] = {
    {"help", "?", help_f, 0, 1, CMD_FLAG_GLOBAL, false, "[command]", "help for one or all commands",
     nullptr},
    {"quit", "q", quit_f, 0, 0, CMD_FLAG_GLOBAL, false, nullptr, "exit the program", nullptr},
    {},
};

static const std::vector<const IoCmd *> &command_table()
{
    static std::vector<const IoCmd *> table = [] {
        std::vector<const IoCmd *> t;
        for (const IoCmd *group : {io_rw_cmds, io_aio_cmds, io_image_cmds, io_session_cmds,
                                   io_debug_cmds, global_cmds}) {
            for (const IoCmd *c = group; c->name; c++) {
                t.push_back(c);
            }
        }
        std::sort(t.begin(), t.end(),
                  [](const IoCmd *a, const IoCmd *b) { return strcmp(a->name, b->name) < 0; });
        return t;
    }();
    return table;
}

const IoCmd *io_find_command(const char *name)
{
    for (const IoCmd *c : command_table()) {
        if (!strcmp(c->name, name) || (c->altname && !strcmp(c->altname, name))) {
            return c;
        }
    }
    return nullptr;
}

void io_command_usage(const IoCmd *ct)
{
    printf("%s %s -- %s\n", ct->name, ct->args ? ct->args : "", ct->oneline);
}

static void help_oneline(const char *cmd, const IoCmd *ct)
{
    printf("%s ", cmd ? cmd : ct->name);
    if (ct->args) {
        printf("%s ", ct->args);
    }
    printf("-- %s\n", ct->oneline);
}

static int help_f(BlockBackend *blk, int argc, char **argv)
{
    (void)blk;
    if (argc == 1) {
        for (const IoCmd *c : command_table()) {
            help_oneline(c->name, c);
        }
        printf("\nUse 'help commandname' for extended help.\n");
        return 0;
    }
    const IoCmd *ct = io_find_command(argv[1]);
    if (!ct) {
        printf("command %s not found\n", argv[1]);
        return -EINVAL;
    }
    help_oneline(argv[1], ct);
    if (ct->help) {
        ct->help();
    }
    return 0;
}

static int quit_f(BlockBackend *blk, int argc, char **argv)
{
    (void)blk;
    (void)argc;
    (void)argv;
    io_session().quit = true;
    return 0;
}

static bool check_arg_count(const IoCmd *ct, int nargs, const char *cmd)
{
    if (nargs >= ct->argmin && (ct->argmax == -1 || nargs <= ct->argmax)) {
        return true;
    }
    if (ct->argmax == -1) {
        fprintf(stderr, "bad argument count %d to %s, expected at least %d arguments\n", nargs, cmd,
                ct->argmin);
    } else if (ct->argmin == ct->argmax) {
        fprintf(stderr, "bad argument count %d to %s, expected %d arguments\n", nargs, cmd,
                ct->argmin);
    } else {
        fprintf(stderr, "bad argument count %d to %s, expected between %d and %d arguments\n",
                nargs, cmd, ct->argmin, ct->argmax);
    }
    return false;
}

static int run_command(const IoCmd *ct, int argc, char **argv)
{
    BlockBackend *blk = io_session().blk;
    if (!(ct->flags & CMD_FLAG_GLOBAL) && !(ct->flags & CMD_NOFILE_OK) && !blk) {
        fprintf(stderr, "no file open, try 'help open'\n");
        return -EINVAL;
    }
    if (!check_arg_count(ct, argc - 1, argv[0])) {
        return -EINVAL;
    }
    // qemu-io asks for the WRITE permission before a writing command; on a
    // read-only image that fails with the block layer's message.
    if (ct->needs_write && blk && !blk_is_writable(blk)) {
        error_report("Block node is read-only");
        return -EPERM;
    }
    optind = 0;  // glibc: full getopt reinitialisation for this argv
    return ct->cfunc(blk, argc, argv);
}

// Splits on single spaces, dropping empty words (qemu-io's breakline).
static std::vector<std::string> breakline(const char *line)
{
    std::vector<std::string> words;
    std::string cur;
    for (const char *p = line;; p++) {
        if (*p == ' ' || *p == '\0') {
            if (!cur.empty()) {
                words.push_back(cur);
                cur.clear();
            }
            if (!*p) {
                break;
            }
        } else {
            cur += *p;
        }
    }
    return words;
}

int io_command(const char *line)
{
    std::vector<std::string> words = breakline(line);
    if (words.empty()) {
        return 0;
    }
    std::vector<char *> argv;
    for (auto &w : words) {
        argv.push_back(w.data());
    }
    argv.push_back(nullptr);
    const IoCmd *ct = io_find_command(argv[0]);
    if (!ct) {
        fprintf(stderr, "command \"%s\" not found\n", argv[0]);
        return -EINVAL;
    }
    // No fflush here: like qemu-io, stdout stays fully buffered when it is
    // not a terminal, and golden outputs record the resulting order.
    return run_command(ct, (int)words.size(), argv.data());
}

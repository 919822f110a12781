// blkdebug rules: what the [inject-error] and [set-state] sections of a
// blkdebug config file say, and the state machine that turns driver events
// into injected errors.  Pure data, no I/O: the driver (blkdebug.cc) feeds
// events in and asks before each request whether it must fail.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "block/block-int.h"

enum BlkdebugIOType {
    BLKDEBUG_IO_READ,
    BLKDEBUG_IO_WRITE,
    BLKDEBUG_IO_WRITE_ZEROES,
    BLKDEBUG_IO_DISCARD,
    BLKDEBUG_IO_FLUSH,
    BLKDEBUG_IO_BLOCK_STATUS,
    BLKDEBUG_IO__MAX
};

struct BlkdebugRule {
    enum Action { INJECT_ERROR, SET_STATE } action = INJECT_ERROR;
    BlkdebugEvent event = BLKDBG_NONE;
    int state = 0;  // 0: in any state
    // inject-error
    int error = 5;  // positive errno
    bool once = false;
    bool immediately = false;
    int64_t offset = -1;  // byte offset the request must cover, -1: any
    uint32_t iotype_mask = 0;
    // set-state
    int new_state = 0;
    bool removed = false;  // a fired once-rule never comes back
};

struct BlkdebugRules {
    std::vector<BlkdebugRule> rules;
    std::vector<size_t> active;  // inject-error rules armed by the last event
    int state = 1;

    // Runs @event through the rules: arms matching inject-error rules and
    // applies matching set-state rules (all against the state on entry).
    void event(BlkdebugEvent event);
    // The errno (> 0) a request of @type covering [offset, offset + bytes)
    // must fail with, or 0.  Consumes a once-rule.  *immediately tells
    // whether the rule wants the error without a trip through the loop.
    int check(BlkdebugIOType type, int64_t offset, int64_t bytes, bool *immediately);
};

// Parses a QEMU-style blkdebug config file ("[inject-error]" / "[set-state]"
// sections of `key = "value"` lines, '#' comments) into @out.
bool blkdebug_read_config(const char *path, BlkdebugRules *out, Error **errp);
// Parses one section given as key/value pairs (used by the file parser and
// for tests); @where prefixes error messages ("file.conf:3").
bool blkdebug_add_rule(const char *group,
                       const std::vector<std::pair<std::string, std::string>> &kv,
                       const std::string &where, BlkdebugRules *out, Error **errp);

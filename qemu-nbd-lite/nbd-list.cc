// qemu-nbd -L: the listing format of qemu-nbd 7.2 (one block per export;
// size and flags only when the server answered NBD_OPT_INFO, block sizes
// only when it sent them, meta contexts only when there are any).
#include "qemu-nbd-lite/nbd-list.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "block/nbd/nbd-client-list.h"
#include "block/nbd/nbd-proto.h"
#include "util/util.h"

namespace {

// Transmission flag names by bit; bit 0 (HAS_FLAGS) is not printed.
const char *const kFlagNames[] = {
    nullptr,  "readonly", "flush", "fua",    "rotational", "trim",
    "zeroes", "df",       "multi", "resize", "cache",      "fast-zero",
};

void print_export(const NbdExportListing &e)
{
    printf(" export: '%s'\n", e.name.c_str());
    if (!e.description.empty()) printf("  description: %s\n", e.description.c_str());
    if (e.flags & NBD_FLAG_HAS_FLAGS) {
        printf("  size:  %" PRIu64 "\n", e.size);
        printf("  flags: 0x%x (", e.flags);
        for (size_t bit = 0; bit < sizeof(kFlagNames) / sizeof(kFlagNames[0]); bit++) {
            if (kFlagNames[bit] && (e.flags & (1u << bit))) printf(" %s", kFlagNames[bit]);
        }
        printf(" )\n");
    }
    if (e.min_block) {
        printf("  min block: %u\n", e.min_block);
        printf("  opt block: %u\n", e.opt_block);
        printf("  max block: %u\n", e.max_block);
    }
    if (!e.contexts.empty()) {
        printf("  available meta contexts: %zu\n", e.contexts.size());
        for (const std::string &c : e.contexts)
            printf("   %s\n", c.c_str());
    }
}

}  // namespace

int nbd_list_exports(const NbdAddress &addr, TlsCreds *creds, const char *hostname)
{
    std::vector<NbdExportListing> list;
    ErrorPtr err;
    if (nbd_client_list_exports(addr, creds, hostname, &list, &err) < 0) {
        if (err) error_report_err(err.release());
        return EXIT_FAILURE;
    }
    printf("exports available: %zu\n", list.size());
    for (const NbdExportListing &e : list)
        print_export(e);
    return EXIT_SUCCESS;
}

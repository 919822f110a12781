// Listing a server's exports (qemu-nbd -L), as QEMU's nbd_receive_export_list:
// NBD_OPT_LIST for the names, then NBD_OPT_INFO and NBD_OPT_LIST_META_CONTEXT
// for each; an oldstyle server has one export named "".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "block/nbd/nbd-socket.h"

struct TlsCreds;

struct NbdExportListing {
    std::string name;
    std::string description;
    uint64_t size = 0;
    uint16_t flags = 0;      // transmission flags; 0 when the server gave none
    uint32_t min_block = 0;  // 0 when the server sent no block sizes
    uint32_t opt_block = 0;
    uint32_t max_block = 0;
    std::vector<std::string> contexts;  // meta contexts, in the server's order
};

// Connects to @addr (STARTTLS first when @creds, checking the certificate
// against @hostname) and fills @out.  Plain code only (runs its own
// coroutine).  Returns 0 or -errno with @errp set in QEMU's words.
int nbd_client_list_exports(const NbdAddress &addr, TlsCreds *creds, const char *hostname,
                            std::vector<NbdExportListing> *out, Error **errp);

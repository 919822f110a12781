// The `nbd` protocol driver: configuration and its registration hook.
#pragma once

#include <string>

#include "block/nbd/nbd-socket.h"
#include "util/keyval.h"

struct BlockDriver;

struct NbdClientConfig {
    NbdAddress addr;
    std::string export_name;
    int reconnect_delay_s = 0;  // 0: a lost connection fails requests at once
    int multi_conn = 1;         // connections to open when the server allows
    std::string tls_creds;      // tls-creds: object id, "" for plaintext
    std::string tls_hostname;   // tls-hostname: overrides server.host for the x509 check
    // x-dirty-bitmap: the meta context block status asks for instead of
    // base:allocation ("qemu:dirty-bitmap:NAME"); a dirty area then reads as
    // a hole, as QEMU's client reports it.
    std::string x_dirty_bitmap;
};

// Filename ("nbd://...", "nbd+unix://...", "nbd:host:port") -> server.* options.
void nbd_client_parse_filename(const char *filename, QDict *options, Error **errp);
// Consumes the driver's keys from @o into @cfg.
bool nbd_client_parse_options(QDict *o, NbdClientConfig *cfg, Error **errp);

std::string nbd_client_canonical_filename(const NbdClientConfig &cfg);

extern BlockDriver bdrv_nbd;

// qemu-nbd -L: prints another server's exports as qemu-nbd 7.2 does.
#pragma once

struct NbdAddress;
struct TlsCreds;

// Returns the process exit status; errors are reported on stderr.
int nbd_list_exports(const NbdAddress &addr, TlsCreds *creds, const char *hostname);

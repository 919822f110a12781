// Private interfaces between the block core's files (graph, open, io,
// BlockBackend).  Drivers use block-int.h; users use block.h.
#pragma once

#include "block/block-int.h"

// ---- graph.cc: nodes, children, reference counts, permissions ----------
BlockDriverState *bdrv_new_node(const BlockDriver *drv, int flags);
void bdrv_ref(BlockDriverState *bs);
// Drops a reference; the last one closes the node (driver close, children
// unref) in coroutine context.
void coroutine_fn bdrv_co_unref(BlockDriverState *bs);

// Attaches @child_bs under @parent (nullptr: a BlockBackend root) with the
// given permissions; takes over the caller's reference on @child_bs.  Fails
// (and drops that reference) if the permissions conflict with the child's
// other parents or with another process's locks.
BdrvChild *coroutine_fn bdrv_co_attach_child(BlockDriverState *parent, BlockDriverState *child_bs,
                                             const char *name, uint64_t perm, uint64_t shared,
                                             Error **errp);
// Detaches and unrefs the child node; frees @c.
void coroutine_fn bdrv_co_detach_child(BdrvChild *c);
// Changes one edge's permissions and propagates them down; on failure the
// old permissions are restored.
int bdrv_child_set_perm(BdrvChild *c, uint64_t perm, uint64_t shared, Error **errp);
// Recomputes @bs's cumulative permissions from its parents and pushes them to
// its children and, for protocol nodes, to the driver (locks).
int bdrv_refresh_perms(BlockDriverState *bs, Error **errp);

// ---- open.cc ---------------------------------------------------------
// Opens a node (format over protocol unless @flags has BDRV_O_PROTOCOL or
// the driver named in @options is a protocol).  Consumes the entries of
// @options it uses; reports unknown ones.
BlockDriverState *coroutine_fn bdrv_co_open_node(const char *filename, QDict *options, int flags,
                                                 Error **errp);
// BDRV_O_SNAPSHOT: the image read-only under a temporary qcow2 overlay.
BlockDriverState *coroutine_fn bdrv_co_open_temp_snapshot(const char *filename, QDict *options,
                                                          int flags, Error **errp);
// Applies the options every node understands (read-only, cache.direct,
// cache.no-flush, force-share, discard, detect-zeroes, node-name...) to
// @flags and @bs, removing them from @o.
bool bdrv_take_generic_options(QDict *o, int *flags, BlockDriverState *bs, Error **errp);
// Derives @bs's limits from its file child and its driver (open, reopen).
int bdrv_refresh_limits(BlockDriverState *bs, Error **errp);
// Permissions the first parent of a freshly opened node will ask for.
void bdrv_perms_for_flags(int flags, uint64_t *perm, uint64_t *shared);

// ---- io.cc -------------------------------------------------------------
void bdrv_inc_in_flight(BlockDriverState *bs);
void bdrv_dec_in_flight(BlockDriverState *bs);
bool bdrv_has_in_flight(BlockDriverState *bs);  // this node or any child

// ---- length.cc -----------------------------------------------------------
// A length as users see it: rounded up to whole 512-byte sectors (QEMU).
int64_t bdrv_sector_rounded_length(int64_t len);

// ---- block.cc ------------------------------------------------------------
const BlockDriver *bdrv_find_protocol_name(const char *name);
int bdrv_driver_count(void);
const BlockDriver *bdrv_driver_at(int i);

// Reopening a graph with new flags (qemu-io reopen, QEMU's bdrv_reopen):
// read-only <-> read-write and the cache flags of a node and of the nodes
// below it that inherit them.  Backing files stay read-only.
#include <algorithm>
#include <cassert>
#include <vector>

#include "block/block-core-int.h"

namespace {

// Flags a file or filter child takes over from its parent on reopen.
constexpr int kInheritedFlags = BDRV_O_RDWR | BDRV_O_NOCACHE | BDRV_O_NO_FLUSH;

struct ReopenNode {
    BlockDriverState *bs;
    int old_flags;
    int new_flags;
};

// @bs first, then its non-backing children, depth first.
void collect(BlockDriverState *bs, int flags, std::vector<ReopenNode> *out)
{
    out->push_back({bs, bs->open_flags, flags});
    for (BdrvChild *c : bs->children) {
        if (c == bs->backing) {
            continue;
        }
        int inherited = (c->bs->open_flags & ~kInheritedFlags) | (flags & kInheritedFlags);
        collect(c->bs, inherited, out);
    }
}

int coroutine_fn switch_node(BlockDriverState *bs, int flags, Error **errp)
{
    if (bs->drv->bdrv_co_reopen) {
        int ret = bs->drv->bdrv_co_reopen(bs, flags, errp);
        if (ret < 0) {
            return ret;
        }
    }
    bs->open_flags = flags;
    bs->read_only = !(flags & BDRV_O_RDWR);
    bs->bl = BlockLimits{};
    return bdrv_refresh_limits(bs, errp);
}

}  // namespace

int coroutine_fn bdrv_co_reopen(BlockDriverState *bs, int flags, Error **errp)
{
    assert(qemu_in_coroutine());
    std::vector<ReopenNode> nodes;
    collect(bs, flags, &nodes);
    bool to_read_only = !(flags & BDRV_O_RDWR) && !bs->read_only;
    if (to_read_only) {
        // Nothing may stay cached that could no longer be written back.
        int ret = bdrv_co_flush(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not flush the image");
            return ret;
        }
    }
    // A node going read-only still writes (its metadata) through its
    // children: parents first.  A node going read-write needs writable
    // children first.
    std::vector<ReopenNode> order = nodes;
    if (!to_read_only) {
        std::reverse(order.begin(), order.end());
    }
    for (size_t i = 0; i < order.size(); i++) {
        ReopenNode &n = order[i];
        if (n.old_flags == n.new_flags) {
            continue;
        }
        int ret = switch_node(n.bs, n.new_flags, errp);
        if (ret < 0) {
            // Undo in reverse: each node goes back to what it was.
            while (i-- > 0) {
                if (order[i].old_flags != order[i].new_flags) {
                    switch_node(order[i].bs, order[i].old_flags, nullptr);
                }
            }
            return ret;
        }
    }
    return 0;
}

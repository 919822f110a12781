// The node graph: node lifetime, parent/child edges and permissions.
//
// Permission model (QEMU's): every edge says what its parent does (perm) and
// what it lets other parents do (shared).  A node's cumulative permissions
// are the union of its parents' perm and the intersection of their shared;
// a parent whose perm is not shared by every other parent is refused.  Each
// node derives its children's edges from its cumulative permissions
// (BlockDriver::bdrv_child_perm), and protocol nodes publish theirs to other
// processes through bdrv_set_perm (file-posix: OFD lock bytes).
#include <algorithm>
#include <cassert>

#include "block/block-core-int.h"

BlockDriverState *bdrv_new_node(const BlockDriver *drv, int flags)
{
    auto *bs = new BlockDriverState;
    bs->drv = drv;
    bs->refcnt = 1;
    bs->open_flags = flags;
    bs->read_only = !(flags & BDRV_O_RDWR);
    bs->force_share = flags & BDRV_O_FORCE_SHARE;
    bs->ctx = qemu_get_current_aio_context();
    // Until a parent attaches, children are derived from what the open flags
    // promise the first parent will use.
    bdrv_perms_for_flags(flags, &bs->cum_perm, &bs->cum_shared);
    qemu_co_queue_init(&bs->drain_queue);
    return bs;
}

void bdrv_ref(BlockDriverState *bs) { bs->refcnt++; }

static void coroutine_fn bdrv_co_close(BlockDriverState *bs)
{
    bdrv_drain(bs);
    if (bs->drv && bs->drv->bdrv_co_close) {
        bs->drv->bdrv_co_close(bs);
    }
    bdrv_release_all_dirty_bitmaps(bs);  // the format stored its persistent ones
    // Children in reverse order of attachment: backing before file.
    while (!bs->children.empty()) {
        bdrv_co_detach_child(bs->children.back());
    }
    bs->drv = nullptr;
}

void coroutine_fn bdrv_co_unref(BlockDriverState *bs)
{
    if (!bs) {
        return;
    }
    assert(bs->refcnt > 0);
    if (--bs->refcnt == 0) {
        assert(bs->parents.empty());
        bdrv_co_close(bs);
        delete bs;
    }
}

void bdrv_default_child_perm(BlockDriverState *bs, BdrvChild *child, uint64_t perm, uint64_t shared,
                             uint64_t *nperm, uint64_t *nshared)
{
    if (child->name == "backing") {
        // Read-only to us; writes by others would change what we read.
        *nperm = perm & BLK_PERM_CONSISTENT_READ;
        *nshared = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED;
    } else if (bs->drv && !bs->drv->is_format) {
        // Filters and protocols pass their parents' view through.
        *nperm = perm;
        *nshared = shared;
    } else {
        // A format's metadata child: it may write metadata whenever it is
        // writable, and nobody else may write or resize under it.
        *nperm = BLK_PERM_CONSISTENT_READ;
        if (!bs->read_only) {
            *nperm |= BLK_PERM_WRITE | BLK_PERM_RESIZE;
        }
        *nshared = shared & ~(BLK_PERM_WRITE | BLK_PERM_RESIZE);
    }
    if (bs->force_share) {
        *nshared = BLK_PERM_ALL;
    }
}

static void child_perm_of(BlockDriverState *bs, BdrvChild *c, uint64_t *np, uint64_t *ns)
{
    if (bs->drv && bs->drv->bdrv_child_perm) {
        bs->drv->bdrv_child_perm(bs, c, bs->cum_perm, bs->cum_shared, np, ns);
    } else {
        bdrv_default_child_perm(bs, c, bs->cum_perm, bs->cum_shared, np, ns);
    }
}

// Fails if one parent uses a permission another parent does not share.
static int check_parent_conflicts(BlockDriverState *bs, Error **errp)
{
    for (BdrvChild *a : bs->parents) {
        for (BdrvChild *b : bs->parents) {
            if (a == b) {
                continue;
            }
            uint64_t conflict = a->perm & ~b->shared_perm;
            if (conflict) {
                uint64_t bit = conflict & -conflict;
                error_setg(errp,
                           "Conflicts with use by %s as '%s', which does not allow '%s' on %s",
                           b->parent ? b->parent->node_name.c_str() : "a block device",
                           b->name.c_str(), bdrv_perm_name(bit),
                           bs->node_name.empty() ? bs->filename.c_str() : bs->node_name.c_str());
                return -EPERM;
            }
        }
    }
    return 0;
}

int bdrv_refresh_perms(BlockDriverState *bs, Error **errp)
{
    int ret = check_parent_conflicts(bs, errp);
    if (ret < 0) {
        return ret;
    }
    uint64_t perm = 0, shared = BLK_PERM_ALL;
    if (bs->parents.empty()) {
        bdrv_perms_for_flags(bs->open_flags, &perm, &shared);  // still opening
    }
    for (BdrvChild *p : bs->parents) {
        perm |= p->perm;
        shared &= p->shared_perm;
    }
    if (bs->force_share) {
        shared = BLK_PERM_ALL;
    }
    if (bs->drv && bs->drv->bdrv_set_perm) {
        ret = bs->drv->bdrv_set_perm(bs, perm, shared, errp);
        if (ret < 0) {
            return ret;
        }
    }
    uint64_t old_perm = bs->cum_perm, old_shared = bs->cum_shared;
    bs->cum_perm = perm;
    bs->cum_shared = shared;
    for (BdrvChild *c : bs->children) {
        uint64_t np, ns;
        child_perm_of(bs, c, &np, &ns);
        if (np == c->perm && ns == c->shared_perm) {
            continue;
        }
        ret = bdrv_child_set_perm(c, np, ns, errp);
        if (ret < 0) {
            bs->cum_perm = old_perm;
            bs->cum_shared = old_shared;
            if (bs->drv && bs->drv->bdrv_set_perm) {
                bs->drv->bdrv_set_perm(bs, old_perm, old_shared, nullptr);
            }
            return ret;
        }
    }
    return 0;
}

int bdrv_child_set_perm(BdrvChild *c, uint64_t perm, uint64_t shared, Error **errp)
{
    uint64_t old_perm = c->perm, old_shared = c->shared_perm;
    c->perm = perm;
    c->shared_perm = shared;
    int ret = bdrv_refresh_perms(c->bs, errp);
    if (ret < 0) {
        c->perm = old_perm;
        c->shared_perm = old_shared;
        bdrv_refresh_perms(c->bs, nullptr);
    }
    return ret;
}

BdrvChild *coroutine_fn bdrv_co_attach_child(BlockDriverState *parent, BlockDriverState *child_bs,
                                             const char *name, uint64_t perm, uint64_t shared,
                                             Error **errp)
{
    auto *c = new BdrvChild;
    c->bs = child_bs;
    c->parent = parent;
    c->name = name;
    c->perm = perm;
    c->shared_perm = shared;
    if (parent) {
        parent->children.push_back(c);
        if (c->name == "file") {
            parent->file = c;
        } else if (c->name == "backing") {
            parent->backing = c;
        }
        child_perm_of(parent, c, &c->perm, &c->shared_perm);
    }
    child_bs->parents.push_back(c);
    int ret = bdrv_refresh_perms(child_bs, errp);
    if (ret < 0) {
        // The close path of the child may do I/O: hence coroutine_fn.
        bdrv_co_detach_child(c);
        return nullptr;
    }
    return c;
}

void coroutine_fn bdrv_co_detach_child(BdrvChild *c)
{
    BlockDriverState *child_bs = c->bs;
    auto &ps = child_bs->parents;
    ps.erase(std::remove(ps.begin(), ps.end(), c), ps.end());
    if (BlockDriverState *parent = c->parent) {
        auto &cs = parent->children;
        cs.erase(std::remove(cs.begin(), cs.end(), c), cs.end());
        if (parent->file == c) {
            parent->file = nullptr;
        }
        if (parent->backing == c) {
            parent->backing = nullptr;
        }
    }
    delete c;
    if (child_bs->refcnt > 1) {
        bdrv_refresh_perms(child_bs, nullptr);  // only loosens: cannot fail
    }
    bdrv_co_unref(child_bs);
}

void coroutine_fn bdrv_co_unref_child(BlockDriverState *parent, BdrvChild *child)
{
    assert(child->parent == parent);
    (void)parent;
    bdrv_co_detach_child(child);
}

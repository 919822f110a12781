// Write-back cache of cluster-sized metadata tables (L2 tables, refcount
// blocks).  Lookups are a hash probe; a miss evicts the least recently used
// unpinned table (writing it first if dirty, after its dependency).
//
// Called only with s->lock held, so entries never change under a caller
// between get and put, except by that caller.
#include <cassert>
#include <cerrno>
#include <cstring>

#include "block/qcow2/qcow2-int.h"

struct Qcow2CacheEntry {
    uint64_t offset = 0;  // 0: slot unused
    void *table = nullptr;
    bool dirty = false;
    int ref = 0;
    uint64_t lru = 0;
};

struct Qcow2Cache {
    std::vector<Qcow2CacheEntry> entries;
    std::unordered_map<uint64_t, int> index;  // offset -> slot
    Qcow2Cache *depends = nullptr;
    bool is_l2 = false;
    uint64_t lru_counter = 0;
    size_t table_size = 0;
};

Qcow2Cache *qcow2_cache_create(BlockDriverState *bs, int nb_tables, bool is_l2)
{
    BDRVQcow2State *s = qcow2_state(bs);
    Qcow2Cache *c = new Qcow2Cache;
    c->is_l2 = is_l2;
    c->table_size = s->cluster_size;
    c->entries.resize(nb_tables < 2 ? 2 : nb_tables);
    for (auto &e : c->entries) {
        e.table = qemu_memalign(4096, c->table_size);
    }
    return c;
}

void qcow2_cache_destroy(Qcow2Cache *c)
{
    if (!c) return;
    for (auto &e : c->entries) {
        assert(e.ref == 0);
        qemu_vfree(e.table);
    }
    delete c;
}

void qcow2_cache_set_dependency(Qcow2Cache *c, Qcow2Cache *dep) { c->depends = dep; }

int qcow2_cache_size(Qcow2Cache *c) { return (int)c->entries.size(); }

namespace {

int slot_of(Qcow2Cache *c, void *table)
{
    for (size_t i = 0; i < c->entries.size(); i++) {
        if (c->entries[i].table == table) return (int)i;
    }
    abort();
}

// Writes one dirty entry.  L2 tables may only reach the disk after the
// refcounts and data they point to: flush the refblock cache and the file.
int coroutine_fn write_entry(BlockDriverState *bs, Qcow2Cache *c, int i, bool barrier_done)
{
    BDRVQcow2State *s = qcow2_state(bs);
    Qcow2CacheEntry &e = c->entries[i];
    if (!e.dirty) return 0;
    if (c->is_l2 && !barrier_done) {
        // With lazy refcounts the refcounts may lag (the dirty bit covers
        // them); the data must still be on disk first.
        if (c->depends && qcow2_need_accurate_refcounts(s)) {
            int ret = qcow2_cache_write(bs, c->depends);
            if (ret < 0) return ret;
        }
        int ret = bdrv_co_flush(bs->file->bs);
        if (ret < 0) return ret;
    }
    // QEMU 7.2 names a refcount block write-back refblock_update_part.
    BLKDBG_EVENT(bs->file, c->is_l2 ? BLKDBG_L2_UPDATE : BLKDBG_REFBLOCK_UPDATE_PART);
    int ret = bdrv_co_pwrite(bs->file, e.offset, c->table_size, e.table, 0);
    if (ret < 0) return ret;
    e.dirty = false;
    return 0;
}

int coroutine_fn find_slot(BlockDriverState *bs, Qcow2Cache *c, int *slot)
{
    int victim = -1;
    for (size_t i = 0; i < c->entries.size(); i++) {
        Qcow2CacheEntry &e = c->entries[i];
        if (e.ref) continue;
        if (!e.offset) {
            victim = (int)i;
            break;
        }
        if (victim < 0 || e.lru < c->entries[victim].lru) victim = (int)i;
    }
    if (victim < 0) return -ENOSPC;  // every table pinned: a caller bug
    Qcow2CacheEntry &e = c->entries[victim];
    if (e.offset) {
        e.ref++;  // keep it while writing: another get must not reuse it
        int ret = write_entry(bs, c, victim, false);
        e.ref--;
        if (ret < 0) return ret;
        if (e.ref) return find_slot(bs, c, slot);
        c->index.erase(e.offset);
        e.offset = 0;
    }
    *slot = victim;
    return 0;
}

int coroutine_fn do_get(BlockDriverState *bs, Qcow2Cache *c, uint64_t offset, void **table,
                        bool read)
{
    auto it = c->index.find(offset);
    if (it != c->index.end()) {
        Qcow2CacheEntry &e = c->entries[it->second];
        e.ref++;
        e.lru = ++c->lru_counter;
        *table = e.table;
        return 0;
    }
    int slot;
    int ret = find_slot(bs, c, &slot);
    if (ret < 0) return ret;
    // find_slot may have yielded: someone else may have loaded it.
    it = c->index.find(offset);
    if (it != c->index.end()) return do_get(bs, c, offset, table, read);
    Qcow2CacheEntry &e = c->entries[slot];
    if (read) {
        // As QEMU 7.2's cache: l2_load is announced only when an L2 table
        // is read from the file (a cache miss), never on a cached lookup.
        if (c->is_l2) BLKDBG_EVENT(bs->file, BLKDBG_L2_LOAD);
        e.ref++;  // reserve the slot across the read
        ret = bdrv_co_pread(bs->file, offset, c->table_size, e.table, 0);
        e.ref--;
        if (ret < 0) return ret;
        it = c->index.find(offset);
        if (it != c->index.end()) return do_get(bs, c, offset, table, read);
    }
    e.offset = offset;
    e.dirty = false;
    e.ref = 1;
    e.lru = ++c->lru_counter;
    c->index[offset] = slot;
    *table = e.table;
    return 0;
}

}  // namespace

int coroutine_fn qcow2_cache_get(BlockDriverState *bs, Qcow2Cache *c, uint64_t offset, void **table)
{
    return do_get(bs, c, offset, table, true);
}

int coroutine_fn qcow2_cache_get_empty(BlockDriverState *bs, Qcow2Cache *c, uint64_t offset,
                                       void **table)
{
    return do_get(bs, c, offset, table, false);
}

void qcow2_cache_put(Qcow2Cache *c, void **table)
{
    int i = slot_of(c, *table);
    assert(c->entries[i].ref > 0);
    c->entries[i].ref--;
    *table = nullptr;
}

void qcow2_cache_mark_dirty(Qcow2Cache *c, void *table)
{
    c->entries[slot_of(c, table)].dirty = true;
}

int coroutine_fn qcow2_cache_write(BlockDriverState *bs, Qcow2Cache *c)
{
    int result = 0;
    // Callers hold s->lock, so nothing is dirtied while this runs: one
    // barrier (dependency written, file flushed) covers every L2 table.
    bool barrier_done = false;
    for (size_t i = 0; i < c->entries.size(); i++) {
        if (!c->entries[i].offset || !c->entries[i].dirty) continue;
        if (c->is_l2 && !barrier_done) {
            BDRVQcow2State *s = qcow2_state(bs);
            int ret = (c->depends && qcow2_need_accurate_refcounts(s))
                          ? qcow2_cache_write(bs, c->depends)
                          : 0;
            if (ret == 0) ret = bdrv_co_flush(bs->file->bs);
            if (ret < 0) return ret;
            barrier_done = true;
        }
        c->entries[i].ref++;
        int ret = write_entry(bs, c, (int)i, barrier_done);
        c->entries[i].ref--;
        if (ret < 0 && result == 0) result = ret;
    }
    return result;
}

int coroutine_fn qcow2_cache_flush(BlockDriverState *bs, Qcow2Cache *c)
{
    int ret = qcow2_cache_write(bs, c);
    int ret2 = bdrv_co_flush(bs->file->bs);
    return ret < 0 ? ret : ret2;
}

void qcow2_cache_discard(Qcow2Cache *c, uint64_t offset)
{
    auto it = c->index.find(offset);
    if (it == c->index.end()) return;
    Qcow2CacheEntry &e = c->entries[it->second];
    assert(e.ref == 0);
    e.offset = 0;
    e.dirty = false;
    c->index.erase(it);
}

void qcow2_cache_empty(Qcow2Cache *c)
{
    for (auto &e : c->entries) {
        if (e.offset && !e.dirty && !e.ref) {
            c->index.erase(e.offset);
            e.offset = 0;
        }
    }
}

void qcow2_cache_clear(Qcow2Cache *c)
{
    for (auto &e : c->entries) {
        if (e.offset && !e.ref) {
            c->index.erase(e.offset);
            e.offset = 0;
            e.dirty = false;
        }
    }
}

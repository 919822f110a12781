// Lifetime of the disk frontends: which devices exist on which machine,
// so that the machine's owner can free them in one call (see devices.h).
#include <algorithm>
#include <vector>

#include "hw/devices.h"
#include "util/bql.h"

namespace {

struct Frontend {
    Machine *m;
    void (*fn)(void *);
    void *opaque;
};

// Touched only at machine setup and teardown, under the BQL.
std::vector<Frontend> g_frontends;

}  // namespace

void frontend_register(Machine *m, void (*fn)(void *opaque), void *opaque)
{
    BQL_ASSERT_LOCKED();
    g_frontends.push_back({m, fn, opaque});
}

void frontends_free(Machine *m)
{
    BQL_ASSERT_LOCKED();
    std::vector<Frontend> mine;
    for (auto it = g_frontends.rbegin(); it != g_frontends.rend(); ++it) {
        if (it->m == m) mine.push_back(*it);
    }
    std::erase_if(g_frontends, [m](const Frontend &f) { return f.m == m; });
    for (const Frontend &f : mine) {
        f.fn(f.opaque);
    }
}

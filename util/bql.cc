// The global mutex.  A plain std::mutex plus a thread-local "held" flag, so
// bql_locked() is a cheap query that never races with other threads.
#include "util/bql.h"

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "util/error.h"

namespace {
std::mutex g_bql;
thread_local bool t_bql_held;
}  // namespace

void bql_lock(void)
{
    assert(!t_bql_held && "BQL is not recursive");
    g_bql.lock();
    t_bql_held = true;
}

void bql_unlock(void)
{
    assert(t_bql_held && "bql_unlock without holding the BQL");
    t_bql_held = false;
    g_bql.unlock();
}

bool bql_locked(void) { return t_bql_held; }

void bql_assert_locked(const char *file, int line)
{
    if (!t_bql_held) {
        fprintf(stderr, "%s: %s:%d: BQL not held\n", error_get_progname(), file, line);
        abort();
    }
}

// The global mutex ("big QEMU lock").  Device state is touched only with it
// held.  The main loop holds it except while blocked in epoll_wait; vCPU
// threads take it on every I/O exit.
#pragma once

void bql_lock(void);
void bql_unlock(void);
// True if the calling thread holds the BQL.
bool bql_locked(void);

// Aborts with a message when the BQL is not held (debug builds and tests).
#define BQL_ASSERT_LOCKED() bql_assert_locked(__FILE__, __LINE__)
void bql_assert_locked(const char *file, int line);

struct BqlGuard {
    BqlGuard() { bql_lock(); }
    ~BqlGuard() { bql_unlock(); }
    BqlGuard(const BqlGuard &) = delete;
    BqlGuard &operator=(const BqlGuard &) = delete;
};

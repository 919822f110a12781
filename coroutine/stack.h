// Coroutine stacks: mmap'd, with a PROT_NONE guard page below the usable
// area so that an overflow faults instead of corrupting the neighbouring
// mapping.  Internal to coroutine/.
#pragma once

#include <cstddef>

struct CoStack {
    void *mapping = nullptr;  // start of the mapping (the guard page)
    size_t mapping_size = 0;
    void *bottom = nullptr;  // lowest usable address (just above the guard)
    size_t size = 0;         // usable bytes
    unsigned valgrind_id = 0;
};

// Smallest stack we hand out: enough for libc calls and signal frames.
constexpr size_t CO_STACK_MIN = 16 * 1024;
constexpr size_t CO_STACK_DEFAULT = 1024 * 1024;

// Maps a stack of at least @size usable bytes (rounded up to pages, at least
// CO_STACK_MIN).  Aborts with a message if the kernel refuses.
void co_stack_alloc(CoStack *stack, size_t size);
void co_stack_free(CoStack *stack);

// Default size: QEMU_LITE_COROUTINE_STACK_SIZE if set and valid (read once
// per process), else CO_STACK_DEFAULT.
size_t co_stack_default_size(void);

// Usable size co_stack_alloc() gives for a request of @size.
size_t co_stack_round_size(size_t size);

// Parses "<digits>[K|M|G]" (binary units, optional trailing 'B'/'iB').
// Returns false on junk, zero or overflow.
bool co_stack_parse_size(const char *text, size_t *out);

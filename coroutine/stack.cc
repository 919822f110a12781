// Coroutine stack mappings; see stack.h.
#include "coroutine/stack.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

#include "config-host.h"
#if CONFIG_VALGRIND_H
#include <valgrind/valgrind.h>
#endif
#if CONFIG_ASAN
#include <sanitizer/asan_interface.h>
#endif

static size_t page_size(void)
{
    static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return size;
}

size_t co_stack_round_size(size_t size)
{
    size_t page = page_size();
    if (size < CO_STACK_MIN) {
        size = CO_STACK_MIN;
    }
    return (size + page - 1) & ~(page - 1);
}

void co_stack_alloc(CoStack *stack, size_t size)
{
    size_t page = page_size();
    size = co_stack_round_size(size);
    size_t mapping_size = size + page;
    // MAP_NORESERVE: a 1 MiB stack usually touches a few pages; do not make
    // the kernel's overcommit accounting charge all of it.
    void *mapping = mmap(nullptr, mapping_size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (mapping == MAP_FAILED) {
        fprintf(stderr, "qemu_coroutine_create: cannot map a %zu-byte coroutine stack: %s\n", size,
                strerror(errno));
        abort();
    }
    if (mprotect(mapping, page, PROT_NONE) != 0) {
        fprintf(stderr, "qemu_coroutine_create: cannot protect the stack guard page: %s\n",
                strerror(errno));
        abort();
    }
    stack->mapping = mapping;
    stack->mapping_size = mapping_size;
    stack->bottom = static_cast<char *>(mapping) + page;
    stack->size = size;
#if CONFIG_ASAN
    // The address range may have held an earlier stack whose frames left
    // poisoned shadow behind.
    ASAN_UNPOISON_MEMORY_REGION(stack->bottom, size);
#endif
#if CONFIG_VALGRIND_H
    stack->valgrind_id =
        VALGRIND_STACK_REGISTER(stack->bottom, static_cast<char *>(stack->bottom) + size);
#endif
}

void co_stack_free(CoStack *stack)
{
    if (!stack->mapping) {
        return;
    }
#if CONFIG_VALGRIND_H
    VALGRIND_STACK_DEREGISTER(stack->valgrind_id);
#endif
#if CONFIG_ASAN
    // The kernel may hand this range to the next mmap (an AIO completion
    // ring, an io_uring SQ): leave no stale stack poison behind.
    ASAN_UNPOISON_MEMORY_REGION(stack->bottom, stack->size);
#endif
    munmap(stack->mapping, stack->mapping_size);
    *stack = CoStack{};
}

bool co_stack_parse_size(const char *text, size_t *out)
{
    if (!text || *text < '0' || *text > '9') {
        return false;
    }
    errno = 0;
    char *end;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || value == 0) {
        return false;
    }
    unsigned shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default: break;
    }
    if (shift && *end == 'i') {
        end++;
    }
    if (*end == 'b' || *end == 'B') {
        end++;
    }
    if (*end != '\0' || value > (SIZE_MAX >> shift) / 2) {
        return false;
    }
    *out = static_cast<size_t>(value << shift);
    return true;
}

static size_t read_default_size(void)
{
    const char *text = getenv("QEMU_LITE_COROUTINE_STACK_SIZE");
    size_t size;
    if (!text || !*text) {
        return CO_STACK_DEFAULT;
    }
    if (!co_stack_parse_size(text, &size)) {
        fprintf(stderr,
                "qemu-lite: ignoring invalid QEMU_LITE_COROUTINE_STACK_SIZE '%s' "
                "(expected bytes with optional K/M/G suffix)\n",
                text);
        return CO_STACK_DEFAULT;
    }
    return co_stack_round_size(size);
}

size_t co_stack_default_size(void)
{
    static const size_t size = read_default_size();
    return size;
}

// coroutine-bench: cost of a coroutine switch and of a coroutine's life,
// for qemu-lite's asm and ucontext switches, the public API (configured
// backend), Boost.Context's fcontext and plain swapcontext, in one run.
//
// Columns (ns per operation, best of several runs):
//   enter+yield   one round trip: switch into a suspended context and back.
//   create+enter+terminate   a new coroutine on a recycled stack, run to its
//                 end.  Each implementation creates the way it is meant to:
//                 ours re-run a pooled context's trampoline loop (what
//                 qemu_coroutine_create does), Boost calls make_fcontext,
//                 swapcontext needs getcontext + makecontext.
// Stacks are allocated once up front so no row pays for mmap.
#include <boost/context/detail/fcontext.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ucontext.h>

#include "coroutine/coroutine.h"
#include "coroutine/stack.h"
#include "coroutine/switch-ucontext.h"
#if defined(__x86_64__) || defined(__aarch64__)
#define HAVE_ASM_SWITCH 1
#include "coroutine/switch-asm.h"
#endif

namespace fc = boost::context::detail;

namespace {

constexpr size_t STACK_SIZE = 64 * 1024;
constexpr int RUNS = 7;
long fast_ops = 2000000;  // scaled by --quick
long slow_ops = 100000;   // for rows that make system calls

struct Row {
    const char *name;
    double round_trip = 0;
    double create = 0;
};

// Best (lowest) ns/op over RUNS runs of @fn(@ops).
template <typename Fn>
double best_of(long ops, Fn fn)
{
    double best = 1e30;
    for (int run = 0; run < RUNS; run++) {
        auto start = std::chrono::steady_clock::now();
        fn(ops);
        std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
        best = std::min(best, took.count() / static_cast<double>(ops));
    }
    return best;
}

CoStack bench_stack;

void *stack_bottom(void) { return bench_stack.bottom; }
void *stack_top(void) { return static_cast<char *>(bench_stack.bottom) + bench_stack.size; }

volatile long sink;

// ----- qemu-lite asm switch -------------------------------------------------
#ifdef HAVE_ASM_SWITCH
CoAsmContext asm_main, asm_co;

[[noreturn]] void asm_yield_loop(void *)
{
    for (;;) {
        co_asm_switch(&asm_co, &asm_main, 0);
    }
}

// Pooled context: each entry gets a "job" (the value passed in), runs it
// and switches back as a terminating coroutine does.
[[noreturn]] void asm_job_loop(void *)
{
    uintptr_t job = co_asm_switch(&asm_co, &asm_main, 0);
    for (;;) {
        sink = static_cast<long>(job);
        job = co_asm_switch(&asm_co, &asm_main, 1);
    }
}

Row bench_asm(void)
{
    Row row{"qemu-lite asm switch"};
    co_asm_context_init(&asm_co, stack_bottom(), STACK_SIZE, asm_yield_loop, nullptr);
    row.round_trip = best_of(fast_ops, [](long n) {
        for (long i = 0; i < n; i++) {
            co_asm_switch(&asm_main, &asm_co, 0);
        }
    });
    co_asm_context_init(&asm_co, stack_bottom(), STACK_SIZE, asm_job_loop, nullptr);
    co_asm_switch(&asm_main, &asm_co, 0);  // parked in the pool
    row.create = best_of(fast_ops, [](long n) {
        for (long i = 0; i < n; i++) {
            co_asm_switch(&asm_main, &asm_co, static_cast<uintptr_t>(i));
        }
    });
    return row;
}
#endif

// ----- qemu-lite ucontext switch --------------------------------------------
CoUcontext uc_main, uc_co;

[[noreturn]] void uc_yield_loop(void *)
{
    for (;;) {
        co_uc_switch(&uc_co, &uc_main, 0);
    }
}

[[noreturn]] void uc_job_loop(void *)
{
    uintptr_t job = co_uc_switch(&uc_co, &uc_main, 0);
    for (;;) {
        sink = static_cast<long>(job);
        job = co_uc_switch(&uc_co, &uc_main, 1);
    }
}

Row bench_ucontext(void)
{
    Row row{"qemu-lite ucontext switch"};
    co_uc_context_init(&uc_co, stack_bottom(), STACK_SIZE, uc_yield_loop, nullptr);
    row.round_trip = best_of(fast_ops, [](long n) {
        for (long i = 0; i < n; i++) {
            co_uc_switch(&uc_main, &uc_co, 0);
        }
    });
    co_uc_context_init(&uc_co, stack_bottom(), STACK_SIZE, uc_job_loop, nullptr);
    co_uc_switch(&uc_main, &uc_co, 0);
    row.create = best_of(fast_ops, [](long n) {
        for (long i = 0; i < n; i++) {
            co_uc_switch(&uc_main, &uc_co, static_cast<uintptr_t>(i));
        }
    });
    return row;
}

// ----- qemu-lite public API (configured backend) ----------------------------
void api_yield_loop(void *)
{
    for (;;) {
        qemu_coroutine_yield();
    }
}

void api_job(void *opaque) { sink = reinterpret_cast<long>(opaque); }

Row bench_api(const char *name)
{
    Row row{name};
    // The yielding coroutine never terminates; it is abandoned at exit.
    static Coroutine *co = qemu_coroutine_create_sized(api_yield_loop, nullptr, STACK_SIZE);
    long ops = !strcmp(qemu_coroutine_backend_name(), "thread") ? slow_ops / 10 : fast_ops;
    row.round_trip = best_of(ops, [](long n) {
        for (long i = 0; i < n; i++) {
            qemu_coroutine_enter(co);
        }
    });
    row.create = best_of(ops, [](long n) {
        for (long i = 0; i < n; i++) {
            qemu_coroutine_enter(qemu_coroutine_create(api_job, reinterpret_cast<void *>(i)));
        }
    });
    return row;
}

// ----- Boost.Context fcontext -----------------------------------------------
fc::fcontext_t boost_co;

void boost_yield_loop(fc::transfer_t t)
{
    for (;;) {
        t = fc::jump_fcontext(t.fctx, nullptr);
    }
}

void boost_job(fc::transfer_t t)
{
    sink = reinterpret_cast<long>(t.data);
    fc::jump_fcontext(t.fctx, nullptr);  // terminate: never resumed
    abort();
}

Row bench_boost(void)
{
    Row row{"Boost.Context fcontext"};
    boost_co = fc::make_fcontext(stack_top(), STACK_SIZE, boost_yield_loop);
    boost_co = fc::jump_fcontext(boost_co, nullptr).fctx;
    row.round_trip = best_of(fast_ops, [](long n) {
        for (long i = 0; i < n; i++) {
            boost_co = fc::jump_fcontext(boost_co, nullptr).fctx;
        }
    });
    row.create = best_of(fast_ops, [](long n) {
        for (long i = 0; i < n; i++) {
            fc::fcontext_t ctx = fc::make_fcontext(stack_top(), STACK_SIZE, boost_job);
            fc::jump_fcontext(ctx, reinterpret_cast<void *>(i));
        }
    });
    return row;
}

// ----- swapcontext ------------------------------------------------------------
ucontext_t swap_main, swap_co;

void swap_yield_loop(void)
{
    for (;;) {
        swapcontext(&swap_co, &swap_main);
    }
}

void swap_job(void)
{
    sink = 1;  // returning resumes uc_link (swap_main)
}

void swap_make(void (*fn)(void))
{
    getcontext(&swap_co);
    swap_co.uc_stack.ss_sp = stack_bottom();
    swap_co.uc_stack.ss_size = STACK_SIZE;
    swap_co.uc_link = &swap_main;
    makecontext(&swap_co, fn, 0);
}

Row bench_swapcontext(void)
{
    Row row{"swapcontext"};
    swap_make(swap_yield_loop);
    row.round_trip = best_of(slow_ops, [](long n) {
        for (long i = 0; i < n; i++) {
            swapcontext(&swap_main, &swap_co);
        }
    });
    row.create = best_of(slow_ops, [](long n) {
        for (long i = 0; i < n; i++) {
            swap_make(swap_job);
            swapcontext(&swap_main, &swap_co);
        }
    });
    return row;
}

void print_ratio(const char *what, double ratio, const char *target, bool met)
{
    printf("  %-46s %7.2f   (target %s: %s)\n", what, ratio, target, met ? "met" : "MISSED");
}

}  // namespace

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--quick")) {
        fast_ops /= 20;
        slow_ops /= 20;
    } else if (argc > 1) {
        fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
        return 2;
    }
    co_stack_alloc(&bench_stack, STACK_SIZE);
    char api_name[64];
    snprintf(api_name, sizeof(api_name), "qemu-lite API (%s backend)",
             qemu_coroutine_backend_name());

    Row rows[5];
    int nrows = 0;
#ifdef HAVE_ASM_SWITCH
    rows[nrows++] = bench_asm();
#endif
    rows[nrows++] = bench_ucontext();
    rows[nrows++] = bench_api(api_name);
    rows[nrows++] = bench_boost();
    rows[nrows++] = bench_swapcontext();

    printf("coroutine-bench: ns per operation, best of %d runs\n", RUNS);
    printf("%-32s %14s %26s\n", "implementation", "enter+yield", "create+enter+terminate");
    for (int i = 0; i < nrows; i++) {
        printf("%-32s %14.1f %26.1f\n", rows[i].name, rows[i].round_trip, rows[i].create);
    }
    const Row &boost = rows[nrows - 2];
    const Row &swap = rows[nrows - 1];
    printf("ratios (round trip unless noted):\n");
    for (int i = 0; i < nrows - 2; i++) {
        // Targets: the asm switch against Boost's switch, and the public API
        // (issue 21) against Boost's switch and create.  The API rows include
        // all the enter/yield bookkeeping, so meeting 1.0 means that
        // bookkeeping costs less than what fcontext saves over Boost.
        bool switch_row = strstr(rows[i].name, "asm switch") != nullptr;
        bool api_row = strstr(rows[i].name, "API (asm") != nullptr;
        char what[96];
        double vs_boost = rows[i].round_trip / boost.round_trip;
        double vs_swap = swap.round_trip / rows[i].round_trip;
        double create_vs_boost = rows[i].create / boost.create;
        snprintf(what, sizeof(what), "%s / Boost", rows[i].name);
        if (switch_row) {
            print_ratio(what, vs_boost, "<= 0.70", vs_boost <= 0.70);
        } else if (api_row) {
            print_ratio(what, vs_boost, "<= 1.00", vs_boost <= 1.00);
        } else {
            printf("  %-46s %7.2f\n", what, vs_boost);
        }
        snprintf(what, sizeof(what), "swapcontext / %s", rows[i].name);
        if (switch_row) {
            print_ratio(what, vs_swap, ">= 10", vs_swap >= 10);
        } else {
            printf("  %-46s %7.2f\n", what, vs_swap);
        }
        snprintf(what, sizeof(what), "%s / Boost (create)", rows[i].name);
        if (api_row) {
            print_ratio(what, create_vs_boost, "<= 1.00", create_vs_boost <= 1.00);
        } else {
            printf("  %-46s %7.2f\n", what, create_vs_boost);
        }
    }
    return 0;
}

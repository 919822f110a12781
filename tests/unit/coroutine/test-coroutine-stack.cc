// Stack sizing: QEMU_LITE_COROUTINE_STACK_SIZE (meson runs this test with
// it set to 192K) and the size parser behind it.
#include <cstdlib>
#include <cstring>

#include "co-test.h"
#include "coroutine/stack.h"

static void touch_stack(void *opaque)
{
    // 160 KiB of a 192 KiB stack: fails (SIGSEGV) if the size was ignored
    // and a smaller stack were used; a 1 MiB default would pass too, which
    // the size check below rules out.
    volatile char buf[160 * 1024];
    memset(const_cast<char *>(buf), 1, sizeof(buf));
    *static_cast<int *>(opaque) = buf[0] + buf[sizeof(buf) - 1];
}

static void test_env_default_size(void **)
{
    const char *env = getenv("QEMU_LITE_COROUTINE_STACK_SIZE");
    size_t want = env && !strcmp(env, "192K") ? 192 * 1024 : CO_STACK_DEFAULT;
    assert_int_equal(qemu_coroutine_default_stack_size(), want);
    int sum = 0;
    Coroutine *co = qemu_coroutine_create(touch_stack, &sum);
    assert_int_equal(qemu_coroutine_stack_size(co), want);
    qemu_coroutine_enter(co);
    assert_int_equal(sum, 2);
}

static void test_parse_size(void **)
{
    struct {
        const char *text;
        bool ok;
        size_t value;
    } cases[] = {
        {"65536", true, 65536},
        {"64K", true, 64 * 1024},
        {"64k", true, 64 * 1024},
        {"2M", true, 2 * 1024 * 1024},
        {"2MiB", true, 2 * 1024 * 1024},
        {"1G", true, 1024UL * 1024 * 1024},
        {"8KB", true, 8 * 1024},
        {"", false, 0},
        {"0", false, 0},
        {"-1", false, 0},
        {"12Q", false, 0},
        {"1M2", false, 0},
        {"K", false, 0},
        {"99999999999999999999", false, 0},
        {"9999999999999G", false, 0},
    };
    for (auto &c : cases) {
        size_t value = 0;
        bool ok = co_stack_parse_size(c.text, &value);
        if (ok != c.ok || (ok && value != c.value)) {
            fail_msg("parse '%s': ok=%d value=%zu, expected ok=%d value=%zu", c.text, ok, value,
                     c.ok, c.value);
        }
    }
}

static void test_round_size(void **)
{
    assert_int_equal(co_stack_round_size(1), CO_STACK_MIN);
    assert_int_equal(co_stack_round_size(CO_STACK_MIN + 1) % 4096, 0);
    assert_true(co_stack_round_size(CO_STACK_MIN + 1) > CO_STACK_MIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_default_size),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_round_size),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}

// werror=/rerror= parsing and the action taken for an error (QEMU's
// blockdev semantics).
#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <csetjmp>

extern "C" {
#include <cmocka.h>
}

#include "hw/devices.h"

namespace {

void test_parse(void **)
{
    BlockdevOnError a;
    assert_true(blockdev_parse_on_error("report", false, &a));
    assert_int_equal(a, BLOCKDEV_ON_ERROR_REPORT);
    assert_true(blockdev_parse_on_error("ignore", true, &a));
    assert_int_equal(a, BLOCKDEV_ON_ERROR_IGNORE);
    assert_true(blockdev_parse_on_error("stop", false, &a));
    assert_int_equal(a, BLOCKDEV_ON_ERROR_STOP);
    assert_true(blockdev_parse_on_error("enospc", true, &a));
    assert_int_equal(a, BLOCKDEV_ON_ERROR_ENOSPC);
    // enospc is a write-only policy; unknown words and case are refused.
    assert_false(blockdev_parse_on_error("enospc", false, &a));
    assert_false(blockdev_parse_on_error("Stop", true, &a));
    assert_false(blockdev_parse_on_error("", true, &a));
}

void test_defaults(void **)
{
    DriveConfig conf;
    assert_int_equal(conf.werror, BLOCKDEV_ON_ERROR_ENOSPC);
    assert_int_equal(conf.rerror, BLOCKDEV_ON_ERROR_REPORT);
    assert_int_equal(drive_get_error_action(&conf, false, -ENOSPC), BLOCK_ERROR_ACTION_STOP);
    assert_int_equal(drive_get_error_action(&conf, false, -EIO), BLOCK_ERROR_ACTION_REPORT);
    assert_int_equal(drive_get_error_action(&conf, true, -ENOSPC), BLOCK_ERROR_ACTION_REPORT);
}

void test_actions(void **)
{
    DriveConfig conf;
    conf.rerror = BLOCKDEV_ON_ERROR_STOP;
    conf.werror = BLOCKDEV_ON_ERROR_IGNORE;
    assert_int_equal(drive_get_error_action(&conf, true, -EIO), BLOCK_ERROR_ACTION_STOP);
    assert_int_equal(drive_get_error_action(&conf, false, -EIO), BLOCK_ERROR_ACTION_IGNORE);
    conf.werror = BLOCKDEV_ON_ERROR_REPORT;
    assert_int_equal(drive_get_error_action(&conf, false, -ENOSPC), BLOCK_ERROR_ACTION_REPORT);
}

}  // namespace

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_actions),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}

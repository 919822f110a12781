// The board's power-off and reset sources (hw/acpi-pm.cc, hw/i8042.cc,
// hw/pc-misc.cc) driven through the port bus as a guest would, no vCPU:
// ACPI PM1a_CNT SLP_TYP(S5)|SLP_EN ends the VM with status 0, other sleep
// types do not; the PM timer runs at 3.58 MHz in 24 bits; the keyboard
// controller resets through 0xFE and through its output port, keeps A20
// on and answers its self-tests; 0xCF9 and port 0x92 reset; -no-reboot
// turns every reset into an exit with status 0; the CMOS RTC follows the
// host clock.
#include <chrono>
#include <ctime>
#include <thread>

#include "hw/machine-int.h"
#include "hw/pc.h"
#include "tests/unit/util/cmocka-wrap.h"
#include "util/bql.h"
#include "util/error.h"

namespace {

Machine *new_board(bool no_reboot = false)
{
    ErrorPtr err;
    Machine *m = machine_new(4 << 20, &err);
    assert_non_null(m);
    bql_lock();
    machine_set_no_reboot(m, no_reboot);
    pc_misc_create(m, 0, 0);
    return m;
}

void free_board(Machine *m)
{
    bql_unlock();
    machine_free(m);
}

void test_acpi_s5_powers_off(void **)
{
    Machine *m = new_board();
    assert_int_equal(machine_pio_read(m, ACPI_PM1A_CNT_PORT, 2) & ACPI_PM1_CNT_SCI_EN, 1);
    // SLP_TYP alone, without SLP_EN, does nothing.
    machine_pio_write(m, ACPI_PM1A_CNT_PORT, ACPI_SLP_TYP_S5 << ACPI_PM1_CNT_SLP_TYP_SHIFT, 2);
    assert_false(machine_exit_requested(m, nullptr));
    machine_pio_write(m, ACPI_PM1A_CNT_PORT,
                      ACPI_SLP_TYP_S5 << ACPI_PM1_CNT_SLP_TYP_SHIFT | ACPI_PM1_CNT_SLP_EN, 2);
    int status = -1;
    assert_true(machine_exit_requested(m, &status));
    assert_int_equal(status, 0);
    free_board(m);
}

void test_acpi_other_sleep_types_ignored(void **)
{
    Machine *m = new_board();
    // S1 (type 1) | SLP_EN: not offered by the DSDT, ignored; SLP_EN never reads back.
    machine_pio_write(m, ACPI_PM1A_CNT_PORT, 1u << ACPI_PM1_CNT_SLP_TYP_SHIFT | ACPI_PM1_CNT_SLP_EN,
                      2);
    assert_false(machine_exit_requested(m, nullptr));
    assert_int_equal(machine_pio_read(m, ACPI_PM1A_CNT_PORT, 2),
                     1u << ACPI_PM1_CNT_SLP_TYP_SHIFT | ACPI_PM1_CNT_SCI_EN);
    // Byte-wise access to the high byte (SLP_EN is bit 5 of it) powers off too.
    machine_pio_write(m, ACPI_PM1A_CNT_PORT + 1, ACPI_PM1_CNT_SLP_EN >> 8, 1);
    assert_true(machine_exit_requested(m, nullptr));
    free_board(m);
}

void test_acpi_pm_timer(void **)
{
    Machine *m = new_board();
    uint32_t t0 = machine_pio_read(m, ACPI_PM_TMR_PORT, 4);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    uint32_t t1 = machine_pio_read(m, ACPI_PM_TMR_PORT, 4);
    assert_true(t0 <= 0xFFFFFF && t1 <= 0xFFFFFF);
    uint32_t ticks = (t1 - t0) & 0xFFFFFF;
    // 20 ms at 3.579545 MHz: 71590 ticks; the sleep may oversleep.
    assert_true(ticks >= 71000 && ticks < 3579545);
    // PM1_EN is read/write, PM1_STS reads 0.
    machine_pio_write(m, ACPI_PM1A_EVT_PORT + 2, 0x0121, 2);
    assert_int_equal(machine_pio_read(m, ACPI_PM1A_EVT_PORT, 4), 0x01210000);
    free_board(m);
}

void test_kbc_reset_and_a20(void **)
{
    Machine *m = new_board();
    // Self-test: 0x55 in the output buffer, OBF set until read.
    machine_pio_write(m, PC_KBD_CMD_PORT, 0xAA, 1);
    assert_int_equal(machine_pio_read(m, PC_KBD_CMD_PORT, 1) & 0x01, 1);
    assert_int_equal(machine_pio_read(m, PC_KBD_DATA_PORT, 1), 0x55);
    assert_int_equal(machine_pio_read(m, PC_KBD_CMD_PORT, 1) & 0x01, 0);
    // Output port: A20 (bit 1) and reset (bit 0) high; closing A20 is ignored.
    machine_pio_write(m, PC_KBD_CMD_PORT, 0xDD, 1);
    machine_pio_write(m, PC_KBD_CMD_PORT, 0xD0, 1);
    assert_int_equal(machine_pio_read(m, PC_KBD_DATA_PORT, 1) & 0x03, 0x03);
    machine_pio_write(m, PC_KBD_CMD_PORT, 0xD1, 1);
    machine_pio_write(m, PC_KBD_DATA_PORT, 0xDD, 1);  // A20 off: ignored, no reset
    assert_false(machine_take_reset_request(m));
    machine_pio_write(m, PC_KBD_CMD_PORT, 0xD0, 1);
    assert_int_equal(machine_pio_read(m, PC_KBD_DATA_PORT, 1) & 0x03, 0x03);
    // Output port bit 0 low: reset.
    machine_pio_write(m, PC_KBD_CMD_PORT, 0xD1, 1);
    machine_pio_write(m, PC_KBD_DATA_PORT, 0xDE, 1);
    assert_true(machine_take_reset_request(m));
    // Pulse command 0xFE: reset; 0xFF pulses nothing.
    machine_pio_write(m, PC_KBD_CMD_PORT, 0xFF, 1);
    assert_false(machine_take_reset_request(m));
    machine_pio_write(m, PC_KBD_CMD_PORT, 0xFE, 1);
    assert_true(machine_take_reset_request(m));
    // The command byte round-trips through 0x60/0x20.
    machine_pio_write(m, PC_KBD_CMD_PORT, 0x60, 1);
    machine_pio_write(m, PC_KBD_DATA_PORT, 0x61, 1);
    machine_pio_write(m, PC_KBD_CMD_PORT, 0x20, 1);
    assert_int_equal(machine_pio_read(m, PC_KBD_DATA_PORT, 1), 0x61);
    assert_false(machine_exit_requested(m, nullptr));
    free_board(m);
}

void test_cf9_and_port92(void **)
{
    Machine *m = new_board();
    machine_pio_write(m, PC_RESET_PORT, 0x02, 1);  // reset type only
    assert_false(machine_take_reset_request(m));
    assert_int_equal(machine_pio_read(m, PC_RESET_PORT, 1), 0x02);
    machine_pio_write(m, PC_RESET_PORT, 0x06, 1);
    assert_true(machine_take_reset_request(m));
    assert_int_equal(machine_pio_read(m, 0x92, 1) & 0x02, 0x02);  // A20 on
    machine_pio_write(m, 0x92, 0x01, 1);
    assert_true(machine_take_reset_request(m));
    assert_false(machine_exit_requested(m, nullptr));
    free_board(m);
}

void test_no_reboot_exits(void **)
{
    const struct {
        uint16_t port, val;
    } resets[] = {{PC_RESET_PORT, 0x0E}, {PC_KBD_CMD_PORT, 0xFE}, {0x92, 0x01}};
    for (const auto &r : resets) {
        Machine *m = new_board(true);
        machine_pio_write(m, r.port, r.val, 1);
        int status = -1;
        assert_true(machine_exit_requested(m, &status));
        assert_int_equal(status, 0);
        assert_false(machine_take_reset_request(m));
        free_board(m);
    }
}

uint8_t cmos(Machine *m, uint8_t reg)
{
    machine_pio_write(m, PC_RTC_INDEX_PORT, reg, 1);
    return machine_pio_read(m, PC_RTC_INDEX_PORT + 1, 1);
}

void cmos_set(Machine *m, uint8_t reg, uint8_t v)
{
    machine_pio_write(m, PC_RTC_INDEX_PORT, reg, 1);
    machine_pio_write(m, PC_RTC_INDEX_PORT + 1, v, 1);
}

int bcd(uint8_t v) { return (v >> 4) * 10 + (v & 0x0F); }

// The CMOS clock is the host's UTC clock in BCD; a guest write moves it
// (offset), binary mode reads the same time in binary; memory sizes as QEMU.
void test_rtc(void **)
{
    Machine *m = new_board();
    assert_int_equal(cmos(m, 0x0B), 0x02);  // BCD, 24-hour
    assert_int_equal(cmos(m, 0x0D), 0x80);
    time_t now = time(nullptr);
    struct tm tm;
    gmtime_r(&now, &tm);
    assert_int_equal(bcd(cmos(m, 0x32)) * 100 + bcd(cmos(m, 0x09)), tm.tm_year + 1900);
    assert_int_equal(bcd(cmos(m, 0x08)), tm.tm_mon + 1);
    assert_true(bcd(cmos(m, 0x00)) < 60 && bcd(cmos(m, 0x04)) < 24);
    cmos_set(m, 0x09, 0x31);  // year 2031 (BCD)
    assert_int_equal(cmos(m, 0x09), 0x31);
    cmos_set(m, 0x0B, 0x06);  // binary
    assert_int_equal(cmos(m, 0x09), 31);
    assert_int_equal(cmos(m, 0x32), 20);
    // 4 MiB of RAM: 640 KiB base, 3 MiB extended, nothing above 16 MiB.
    assert_int_equal(cmos(m, 0x15) | cmos(m, 0x16) << 8, 640);
    assert_int_equal(cmos(m, 0x17) | cmos(m, 0x18) << 8, 3072);
    assert_int_equal(cmos(m, 0x34) | cmos(m, 0x35) << 8, 0);
    cmos_set(m, 0x40, 0x5A);  // CMOS RAM keeps what is written
    assert_int_equal(cmos(m, 0x40), 0x5A);
    free_board(m);
}

}  // namespace

int main(void)
{
    error_set_progname("test-pc-power");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acpi_s5_powers_off),
        cmocka_unit_test(test_acpi_other_sleep_types_ignored),
        cmocka_unit_test(test_acpi_pm_timer),
        cmocka_unit_test(test_kbc_reset_and_a20),
        cmocka_unit_test(test_cf9_and_port92),
        cmocka_unit_test(test_no_reboot_exits),
        cmocka_unit_test(test_rtc),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}

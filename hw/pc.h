// The PC board: what qemu-system-lite puts on a Machine besides the disk
// frontends (hw/devices.h).  Addresses in docs/machine.md.
#pragma once

#include <cstddef>
#include <cstdint>

struct Machine;
struct Error;

enum : uint16_t {
    PC_FW_INFO_PORT = 0x510,   // firmware info: out16 key, then in32 value
    PC_RESET_PORT = 0xCF9,     // write 0x06/0x0E: reset
    PC_RTC_INDEX_PORT = 0x70,  // CMOS RTC index (0x71: data)
    PC_KBD_DATA_PORT = 0x60,   // i8042 output buffer / data for a controller command
    PC_KBD_CMD_PORT = 0x64,    // i8042 status / command (0xFE: reset pulse, 0xD1: output port)
    PC_POST_PORT = 0x80,       // POST codes (traced as pc_post_code)
};
// Keys of the firmware info port.
enum : uint16_t {
    FW_INFO_SIGNATURE = 0,        // 'QLIT'
    FW_INFO_RAM_KIB = 1,          // guest RAM size in KiB
    FW_INFO_BOOT_IF = 2,          // 0 none, 1 IDE, 2 virtio-blk (the boot disk's frontend)
    FW_INFO_TICKS = 3,            // 18.2 Hz ticks since midnight (host clock)
    FW_INFO_BOOT_SECTORS_LO = 4,  // boot disk size in 512-byte sectors, low 32 bits
    FW_INFO_BOOT_SECTORS_HI = 5,
};
enum : uint32_t { FW_INFO_SIGNATURE_VALUE = 0x54494C51 };  // "QLIT"

// ACPI fixed hardware (hw/acpi-pm.cc), at the ports of QEMU's PIIX4 PM
// base 0x600; the FADT in hw/firmware/bios-acpi.asm must agree.
enum : uint16_t {
    ACPI_PM1A_EVT_PORT = 0x600,  // PM1_STS (2 bytes), PM1_EN (2 bytes)
    ACPI_PM1_EVT_LEN = 4,
    ACPI_PM1A_CNT_PORT = 0x604,  // PM1_CNT
    ACPI_PM1_CNT_LEN = 2,
    ACPI_PM_TMR_PORT = 0x608,  // 24-bit PM timer
    ACPI_PM_TMR_LEN = 4,
    ACPI_PM1_CNT_SCI_EN = 1u << 0,
    ACPI_PM1_CNT_SLP_TYP_SHIFT = 10,
    ACPI_PM1_CNT_SLP_EN = 1u << 13,
    ACPI_SLP_TYP_S5 = 0,  // the DSDT's \_S5 package (as QEMU's PIIX4: soft off is type 0)
};
enum : uint32_t { ACPI_PM_TIMER_HZ = 3579545 };

// 16550 UART at 0x3F8/IRQ4.  @chardev: "stdio", "file:PATH", "none"/"null".
// Returns false with errp set if the backend cannot be opened.
bool serial_create(Machine *m, const char *chardev, Error **errp);
// isa-debug-exit at 0x501: a write of V ends the VM with status (V << 1) | 1.
void debug_exit_create(Machine *m);
// Firmware info port, reset ports, POST port, and the two below.
void pc_misc_create(Machine *m, int boot_if, uint64_t boot_sectors);
// i8042 keyboard controller at 0x60/0x64 (reset, output port, A20 gate).
void i8042_create(Machine *m);
// CMOS RTC at 0x70/0x71: the host clock in UTC, CMOS memory sizes.
void rtc_create(Machine *m);
// ACPI PM1a event/control blocks and PM timer (SLP_EN with S5: power off,
// the VM exits with status 0).
void acpi_pm_create(Machine *m);

// Copies a BIOS image so that it ends at 1 MiB (reset vector F000:FFF0).
// The image must be a multiple of 512 bytes, at most 128 KiB.
bool pc_load_bios(Machine *m, const void *image, size_t size, Error **errp);
// Our firmware, built from hw/firmware/bios.asm and linked into the binary.
extern const unsigned char pc_bios_image[];
extern const size_t pc_bios_image_size;

// libFuzzer target: IDE task-file and bus-master DMA register sequences.
//
// Input: [RAM length u16][RAM image at 0x1000 (PRD tables, buffers)][ops...]
// Each op is a byte selecting an access and its operands:
//   0 task-file write (reg, value)     1 device-control write
//   2 bus-master write (reg, value)    3 data-port reads (count)
//   4 data-port writes (count, value)  5 register reads (status, error...)
//   6 run the main loop                7 a command from the ATA set we emulate
// The device is reset (SRST) before each input.  Whatever the guest does,
// the emulator must not crash, hang, or touch memory outside guest RAM.
#include "hw/ide-int.h"
#include "tests/fuzz/fuzz-device.h"

namespace {

const uint8_t commands[] = {
    ATA_CMD_READ_SECTORS,       ATA_CMD_READ_SECTORS_EXT,
    ATA_CMD_READ_DMA_EXT,       ATA_CMD_READ_NATIVE_MAX_EXT,
    ATA_CMD_READ_MULTIPLE_EXT,  ATA_CMD_WRITE_SECTORS,
    ATA_CMD_WRITE_SECTORS_EXT,  ATA_CMD_WRITE_DMA_EXT,
    ATA_CMD_WRITE_MULTIPLE_EXT, ATA_CMD_READ_VERIFY,
    ATA_CMD_READ_VERIFY_EXT,    ATA_CMD_EXEC_DIAGNOSTIC,
    ATA_CMD_INIT_DEV_PARAMS,    ATA_CMD_READ_MULTIPLE,
    ATA_CMD_WRITE_MULTIPLE,     ATA_CMD_SET_MULTIPLE,
    ATA_CMD_READ_DMA,           ATA_CMD_WRITE_DMA,
    ATA_CMD_CHECK_POWER,        ATA_CMD_FLUSH,
    ATA_CMD_IDENTIFY,           ATA_CMD_FLUSH_EXT,
    ATA_CMD_SET_FEATURES,       ATA_CMD_READ_NATIVE_MAX,
};

void pio_w(FuzzMachine *fm, uint16_t port, uint32_t v, unsigned size)
{
    machine_pio_write(fm->m, port, v, size);
}

uint32_t pio_r(FuzzMachine *fm, uint16_t port, unsigned size)
{
    return (uint32_t)machine_pio_read(fm->m, port, size);
}

void reset(FuzzMachine *fm)
{
    pio_w(fm, MACHINE_BMDMA_PORT + (unsigned)BM_CMD, 0, 1);
    fuzz_settle(fm);
    pio_w(fm, MACHINE_IDE_CTL_PORT, ATA_CTL_SRST, 1);
    pio_w(fm, MACHINE_IDE_CTL_PORT, 0, 1);
    fuzz_settle(fm);
}

void run_op(FuzzMachine *fm, FuzzInput *in)
{
    uint8_t op = in->u8();
    switch (op & 7) {
    case 0: pio_w(fm, MACHINE_IDE_CMD_PORT + 1 + in->u8() % 7, in->u8(), 1); break;
    case 1: pio_w(fm, MACHINE_IDE_CTL_PORT, in->u8(), 1); break;
    case 2: {
        uint8_t reg = in->u8() & 7;
        unsigned size = reg == BM_PRDT ? 4 : 1;
        pio_w(fm, MACHINE_BMDMA_PORT + reg, size == 4 ? in->u32() : in->u8(), size);
        break;
    }
    case 3:
        for (int n = in->u8() * 4; n > 0; n--)
            pio_r(fm, MACHINE_IDE_CMD_PORT, (op & 8) ? 4 : 2);
        break;
    case 4: {
        int n = in->u8() * 4;
        uint16_t v = in->u16();
        while (n-- > 0)
            pio_w(fm, MACHINE_IDE_CMD_PORT, v, (op & 8) ? 4 : 2);
        break;
    }
    case 5:
        for (uint16_t r = 1; r < 8; r++)
            pio_r(fm, MACHINE_IDE_CMD_PORT + r, 1);
        pio_r(fm, MACHINE_IDE_CTL_PORT, 1);
        pio_r(fm, MACHINE_BMDMA_PORT + (unsigned)BM_STATUS, 1);
        break;
    case 6: fuzz_settle(fm); break;
    default: pio_w(fm, MACHINE_IDE_CMD_PORT + 7, commands[in->u8() % sizeof(commands)], 1); break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzMachine *fm = fuzz_machine(ide_create, IF_IDE, "ide");
    reset(fm);
    FuzzInput in(data, size);
    fuzz_load_ram(fm, 0x1000, &in, in.u16() % 0x4000);
    for (int ops = 0; ops < 512 && in.left; ops++) {
        run_op(fm, &in);
    }
    fuzz_settle(fm);
    return 0;
}

// The i8042 keyboard controller as far as firmware and boot loaders use it:
// status (0x64), the output buffer (0x60), the controller command byte,
// self-tests, the output port (bit 0: system reset, bit 1: A20 gate) with
// 0xD0/0xD1, 0xDD/0xDF (A20) and the pulse commands 0xF0-0xFF (0xFE: reset).
// No keyboard or mouse is attached: bytes written for the devices are
// dropped and nothing ever arrives from them.  A20 reads back as enabled
// whatever is written (RAM is linear, see docs/machine.md).
#include "hw/machine-int.h"
#include "hw/pc.h"

namespace {

enum : uint8_t {
    ST_OBF = 0x01,       // output buffer full
    ST_SYS = 0x04,       // system flag: self-test passed
    ST_CMD = 0x08,       // last write was to the command port
    ST_UNLOCKED = 0x10,  // keyboard not inhibited
    OUT_RESET = 0x01,    // output port bit 0: 0 holds the CPU in reset
    OUT_A20 = 0x02,
    OUT_DEFAULT = 0xCF,  // reset and A20 high, the unused lines high (as QEMU)
};

struct I8042 {
    Machine *m;
    uint8_t status = ST_SYS | ST_CMD | ST_UNLOCKED;
    uint8_t cmd_byte = 0x45;  // kbd interrupt, system flag, translation (what a BIOS sets)
    uint8_t outport = OUT_DEFAULT;
    uint8_t obuf = 0;
    uint8_t pending = 0;  // controller command waiting for its data byte (0x60, 0xD1...)
};

void put_output(I8042 *k, uint8_t v)
{
    k->obuf = v;
    k->status |= ST_OBF;
}

void write_outport(I8042 *k, uint8_t v)
{
    k->outport = v | OUT_A20;  // the A20 gate cannot be closed
    TRACE("i8042_outport", "0x%02x", v);
    if (!(v & OUT_RESET)) machine_request_reset(k->m);
}

uint64_t data_read(void *opaque, uint64_t, unsigned)
{
    I8042 *k = static_cast<I8042 *>(opaque);
    k->status &= ~ST_OBF;
    return k->obuf;
}

void data_write(void *opaque, uint64_t, uint64_t val, unsigned)
{
    I8042 *k = static_cast<I8042 *>(opaque);
    k->status &= ~ST_CMD;
    uint8_t cmd = k->pending;
    k->pending = 0;
    switch (cmd) {
    case 0x60: k->cmd_byte = val; break;
    case 0xD1: write_outport(k, val); break;
    case 0xD2: put_output(k, val); break;  // "write keyboard output buffer": echoed
    case 0xD3:                             // aux output buffer, write to aux: no mouse
    case 0xD4: break;
    default:
        qemu_log_mask(LOG_UNIMP, "i8042: byte 0x%02x for the keyboard dropped (none attached)\n",
                      (unsigned)(val & 0xFF));
    }
}

uint64_t status_read(void *opaque, uint64_t, unsigned)
{
    return static_cast<I8042 *>(opaque)->status;
}

void cmd_write(void *opaque, uint64_t, uint64_t val, unsigned)
{
    I8042 *k = static_cast<I8042 *>(opaque);
    uint8_t cmd = val;
    k->status |= ST_CMD;
    TRACE("i8042_command", "0x%02x", cmd);
    switch (cmd) {
    case 0x20: put_output(k, k->cmd_byte); break;
    case 0x60:
    case 0xD1:
    case 0xD2:
    case 0xD3:
    case 0xD4: k->pending = cmd; break;
    case 0xA7: k->cmd_byte |= 0x20; break;  // disable aux
    case 0xA8: k->cmd_byte &= ~0x20; break;
    case 0xA9: put_output(k, 0x00); break;  // aux interface test: OK
    case 0xAA:                              // self-test
        k->status |= ST_SYS;
        put_output(k, 0x55);
        break;
    case 0xAB: put_output(k, 0x00); break;  // keyboard interface test: OK
    case 0xAD: k->cmd_byte |= 0x10; break;  // disable keyboard
    case 0xAE: k->cmd_byte &= ~0x10; break;
    case 0xC0: put_output(k, 0x80); break;  // input port: keyboard not locked
    case 0xD0: put_output(k, k->outport); break;
    case 0xDD: write_outport(k, k->outport & ~OUT_A20); break;
    case 0xDF: write_outport(k, k->outport | OUT_A20); break;
    default:
        if ((cmd & 0xF0) == 0xF0) {
            // Pulse the output lines whose bit is clear (0xFE: reset).
            if (!(cmd & 0x01)) machine_request_reset(k->m);
        } else {
            qemu_log_mask(LOG_UNIMP, "i8042: unsupported command 0x%02x\n", cmd);
        }
    }
}

const MemoryRegionOps kDataOps = {data_read, data_write};
const MemoryRegionOps kStatusOps = {status_read, cmd_write};

}  // namespace

void i8042_create(Machine *m)
{
    I8042 *k = new I8042{m};
    machine_own(m, [k] { delete k; });
    machine_register_pio(m, PC_KBD_DATA_PORT, 1, &kDataOps, k, "i8042-data");
    machine_register_pio(m, PC_KBD_CMD_PORT, 1, &kStatusOps, k, "i8042");
}

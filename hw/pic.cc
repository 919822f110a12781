// Two cascaded 8259A PICs (master 0x20/0x21, slave 0xA0/0xA1 on IRQ2) with
// what PC firmware and boot loaders use: ICW1-4 initialisation, IMR, EOI
// (specific and non-specific), auto-EOI, IRR/ISR reads, fixed priority,
// edge triggering (level per ELCR 0x4D0/0x4D1).  All calls with the BQL held.
#include <cstdint>
#include <cstdio>

#include "hw/machine-int.h"

struct Pic;

namespace {

struct PicChip {
    Pic *owner = nullptr;
    uint8_t irr = 0;     // requests latched
    uint8_t isr = 0;     // in service
    uint8_t imr = 0xFF;  // masked until the firmware programs it
    uint8_t lines = 0;   // current input levels (for edge detection)
    uint8_t elcr = 0;    // level-triggered inputs
    uint8_t vector_base = 0;
    uint8_t init_step = 0;  // 0: ready; 2..4: expecting ICW2..ICW4
    bool icw4_needed = false;
    bool auto_eoi = false;
    bool read_isr = false;
};

// Index (0-7) of the highest-priority bit in @bits, or 8 if none.
int highest(uint8_t bits)
{
    for (int i = 0; i < 8; i++) {
        if (bits & (1u << i)) return i;
    }
    return 8;
}

// The IRQ this chip would signal now, or -1.
int chip_pending(const PicChip &c)
{
    int req = highest(c.irr & ~c.imr);
    if (req == 8) return -1;
    return req < highest(c.isr) ? req : -1;
}

void chip_set_line(PicChip &c, int n, int level)
{
    uint8_t bit = 1u << n;
    if (c.elcr & bit) {
        c.irr = level ? (c.irr | bit) : (c.irr & ~bit);
    } else if (level && !(c.lines & bit)) {
        c.irr |= bit;  // rising edge
    }
    c.lines = level ? (c.lines | bit) : (c.lines & ~bit);
}

// Acknowledge on one chip: move the request to in-service.
void chip_ack(PicChip &c, int n)
{
    uint8_t bit = 1u << n;
    if (!(c.elcr & bit)) c.irr &= ~bit;
    if (!c.auto_eoi) c.isr |= bit;
}

}  // namespace

struct Pic {
    Machine *m;
    PicChip chip[2];
};

static void pic_update(Pic *pic)
{
    // The slave's INT output drives the master's IRQ2.
    chip_set_line(pic->chip[0], 2, chip_pending(pic->chip[1]) >= 0);
    machine_pic_output_changed(pic->m);
}

void pic_set_irq(Pic *pic, int irq, int level)
{
    chip_set_line(pic->chip[irq >> 3], irq & 7, level);
    pic_update(pic);
}

bool pic_has_interrupt(const Pic *pic) { return chip_pending(pic->chip[0]) >= 0; }

int pic_acknowledge(Pic *pic)
{
    PicChip &master = pic->chip[0];
    int irq = chip_pending(master);
    if (irq < 0) return master.vector_base + 7;  // spurious
    chip_ack(master, irq);
    int vector;
    if (irq == 2) {
        PicChip &slave = pic->chip[1];
        int sirq = chip_pending(slave);
        if (sirq < 0) {
            vector = slave.vector_base + 7;
        } else {
            chip_ack(slave, sirq);
            vector = slave.vector_base + sirq;
        }
    } else {
        vector = master.vector_base + irq;
    }
    pic_update(pic);
    return vector;
}

static void pic_cmd_write(PicChip &c, uint8_t val)
{
    if (val & 0x10) {  // ICW1
        c.init_step = 2;
        c.icw4_needed = val & 1;
        c.imr = 0;
        c.isr = 0;
        c.irr = 0;
        c.auto_eoi = false;
        c.read_isr = false;
        return;
    }
    if (val & 0x08) {  // OCW3
        if (val & 0x02) c.read_isr = val & 0x01;
        return;
    }
    switch (val >> 5) {  // OCW2
    case 1:              // non-specific EOI
    case 5: {
        int n = highest(c.isr);
        if (n < 8) c.isr &= ~(1u << n);
        break;
    }
    case 3:  // specific EOI
    case 7: c.isr &= ~(1u << (val & 7)); break;
    default: qemu_log_mask(LOG_UNIMP, "pic: unsupported OCW2 0x%02x\n", val);
    }
}

static void pic_data_write(PicChip &c, uint8_t val)
{
    switch (c.init_step) {
    case 2:
        c.vector_base = val & 0xF8;
        c.init_step = 3;
        break;
    case 3: c.init_step = c.icw4_needed ? 4 : 0; break;
    case 4:
        c.auto_eoi = val & 0x02;
        c.init_step = 0;
        break;
    default: c.imr = val;
    }
}

static uint64_t pic_read(void *opaque, uint64_t addr, unsigned)
{
    const PicChip &c = *static_cast<PicChip *>(opaque);
    if (addr == 1) return c.imr;
    return c.read_isr ? c.isr : c.irr;
}

static void pic_write(void *opaque, uint64_t addr, uint64_t val, unsigned)
{
    PicChip *c = static_cast<PicChip *>(opaque);
    if (addr == 0) {
        pic_cmd_write(*c, val);
    } else {
        pic_data_write(*c, val);
    }
    pic_update(c->owner);
}

static uint64_t elcr_read(void *opaque, uint64_t addr, unsigned)
{
    return static_cast<Pic *>(opaque)->chip[addr & 1].elcr;
}

static void elcr_write(void *opaque, uint64_t addr, uint64_t val, unsigned)
{
    Pic *pic = static_cast<Pic *>(opaque);
    // IRQ0-2, 8 and 13 are always edge-triggered on a PC.
    pic->chip[addr & 1].elcr = val & ((addr & 1) ? 0xDE : 0xF8);
    pic_update(pic);
}

static const MemoryRegionOps kPicOps = {pic_read, pic_write};
static const MemoryRegionOps kElcrOps = {elcr_read, elcr_write};

Pic *pic_new(Machine *m)
{
    Pic *pic = new Pic;
    pic->m = m;
    for (PicChip &c : pic->chip)
        c.owner = pic;
    machine_register_pio(m, MACHINE_PIC_MASTER, 2, &kPicOps, &pic->chip[0], "pic-master");
    machine_register_pio(m, MACHINE_PIC_SLAVE, 2, &kPicOps, &pic->chip[1], "pic-slave");
    machine_register_pio(m, 0x4D0, 2, &kElcrOps, pic, "pic-elcr");
    return pic;
}

void pic_free(Pic *pic) { delete pic; }

// 16550A UART at 0x3F8, IRQ 4: the serial console.  Transmit only (the
// guest sees an empty receiver); THR-empty interrupts for drivers that use
// them.  Output goes to stdout or a file, unbuffered so a test reading the
// file sees every byte the guest wrote before the VM exits.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "hw/machine.h"
#include "hw/pc.h"
#include "util/error.h"

namespace {

enum : uint8_t {
    IER_THRI = 0x02,
    IIR_NO_INT = 0x01,
    IIR_THRI = 0x02,
    LCR_DLAB = 0x80,
    LSR_THRE = 0x20,
    LSR_TEMT = 0x40,
    MCR_LOOP = 0x10,
};

struct Serial {
    Machine *m = nullptr;
    int fd = -1;
    bool owns_fd = false;
    uint16_t divisor = 12;  // 9600 baud
    uint8_t ier = 0, lcr = 0x03, mcr = 0, scr = 0;
    bool thr_irq_pending = false;
};

void serial_update_irq(Serial *s)
{
    bool level = (s->ier & IER_THRI) && s->thr_irq_pending;
    machine_set_irq(s->m, MACHINE_IRQ_SERIAL, level);
}

void serial_transmit(Serial *s, uint8_t ch)
{
    if (s->fd >= 0 && !(s->mcr & MCR_LOOP)) {
        ssize_t r;
        do {
            r = write(s->fd, &ch, 1);
        } while (r < 0 && errno == EINTR);
    }
    // The byte leaves at once: the holding register is empty again.
    s->thr_irq_pending = true;
    serial_update_irq(s);
}

uint64_t serial_read(void *opaque, uint64_t addr, unsigned)
{
    Serial *s = static_cast<Serial *>(opaque);
    switch (addr) {
    case 0: return (s->lcr & LCR_DLAB) ? (s->divisor & 0xFF) : 0;  // RBR: nothing received
    case 1: return (s->lcr & LCR_DLAB) ? (s->divisor >> 8) : s->ier;
    case 2: {
        uint8_t iir = (s->ier & IER_THRI) && s->thr_irq_pending ? IIR_THRI : IIR_NO_INT;
        if (iir == IIR_THRI) {  // reading IIR acknowledges a THRE interrupt
            s->thr_irq_pending = false;
            serial_update_irq(s);
        }
        return iir | 0xC0;  // FIFOs enabled
    }
    case 3: return s->lcr;
    case 4: return s->mcr;
    case 5: return LSR_THRE | LSR_TEMT;
    case 6: return 0xB0;  // CTS, DSR, DCD asserted
    default: return s->scr;
    }
}

void serial_write(void *opaque, uint64_t addr, uint64_t val, unsigned)
{
    Serial *s = static_cast<Serial *>(opaque);
    uint8_t v = val;
    switch (addr) {
    case 0:
        if (s->lcr & LCR_DLAB) {
            s->divisor = (s->divisor & 0xFF00) | v;
        } else {
            serial_transmit(s, v);
        }
        break;
    case 1:
        if (s->lcr & LCR_DLAB) {
            s->divisor = (s->divisor & 0xFF) | (v << 8);
        } else {
            // Enabling THRE interrupts with an empty THR raises one at once.
            if ((v & IER_THRI) && !(s->ier & IER_THRI)) s->thr_irq_pending = true;
            s->ier = v & 0x0F;
            serial_update_irq(s);
        }
        break;
    case 2: break;  // FCR: FIFOs are always on and always empty
    case 3: s->lcr = v; break;
    case 4: s->mcr = v & 0x1F; break;
    case 7: s->scr = v; break;
    default: break;
    }
}

const MemoryRegionOps kSerialOps = {serial_read, serial_write};

}  // namespace

bool serial_create(Machine *m, const char *chardev, Error **errp)
{
    Serial *s = new Serial;  // lives as long as the process (like the machine)
    s->m = m;
    if (strcmp(chardev, "stdio") == 0) {
        s->fd = STDOUT_FILENO;
    } else if (strncmp(chardev, "file:", 5) == 0) {
        s->fd = open(chardev + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (s->fd < 0) {
            error_setg_errno(errp, errno, "could not open serial file '%s'", chardev + 5);
            delete s;
            return false;
        }
        s->owns_fd = true;
    } else if (strcmp(chardev, "none") != 0 && strcmp(chardev, "null") != 0) {
        error_setg(errp, "'%s' is not a valid char driver name (use stdio, file:PATH or none)",
                   chardev);
        delete s;
        return false;
    }
    machine_register_pio(m, MACHINE_SERIAL_PORT, 8, &kSerialOps, s, "serial");
    return true;
}

// IDENTIFY DEVICE data (ATA8-ACS, 7.16): 256 little-endian words.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "hw/ide-int.h"

namespace {

constexpr unsigned kHeads = 16, kSectorsPerTrack = 63;

// ATA strings: space padded, two characters per word, first in the high byte.
void put_string(uint16_t *words, unsigned first, unsigned nwords, const std::string &str)
{
    for (unsigned i = 0; i < nwords * 2; i++) {
        uint8_t c = i < str.size() ? (uint8_t)str[i] : ' ';
        uint16_t &w = words[first + i / 2];
        w = (i % 2 == 0) ? (uint16_t)((w & 0x00FF) | (c << 8)) : (uint16_t)((w & 0xFF00) | c);
    }
}

void put_u32(uint16_t *words, unsigned first, uint32_t v)
{
    words[first] = (uint16_t)v;
    words[first + 1] = (uint16_t)(v >> 16);
}

}  // namespace

void ide_identify(const IDEState *s, uint8_t *out)
{
    uint16_t w[256] = {};
    uint64_t cyls = std::min<uint64_t>(s->nb_sectors / (kHeads * kSectorsPerTrack), 16383);
    uint32_t chs_capacity = (uint32_t)(cyls * kHeads * kSectorsPerTrack);
    uint32_t lba28 = (uint32_t)std::min<uint64_t>(s->nb_sectors, 0x0FFFFFFF);
    std::string serial = s->conf.serial.empty() ? "QM00001" : s->conf.serial;
    std::string model = s->conf.model.empty() ? "QEMU-LITE HARDDISK" : s->conf.model;

    w[0] = 0x0040;  // fixed, not removable
    w[1] = (uint16_t)cyls;
    w[3] = kHeads;
    w[6] = kSectorsPerTrack;
    put_string(w, 10, 10, serial);
    put_string(w, 23, 4, "0.1.0");
    put_string(w, 27, 20, model);
    w[47] = 0x8000 | IDE_MAX_MULT;
    w[49] = (1 << 9) | (1 << 8);  // LBA, DMA
    w[51] = 0x200;
    w[53] = 0x7;  // words 54-58, 64-70 and 88 valid
    w[54] = (uint16_t)cyls;
    w[55] = kHeads;
    w[56] = kSectorsPerTrack;
    put_u32(w, 57, chs_capacity);
    w[59] = s->mult_sectors ? (uint16_t)(0x100 | s->mult_sectors) : 0;
    put_u32(w, 60, lba28);
    w[63] = 0x07;  // multiword DMA 0-2 supported
    w[64] = 0x03;  // PIO 3 and 4
    w[65] = w[66] = w[67] = w[68] = 120;
    w[80] = 0x01F0;                                         // ATA/ATAPI-4 .. ATA8-ACS
    w[82] = (1 << 14) | (1 << 5);                           // NOP, write cache
    w[83] = (1 << 14) | (1 << 13) | (1 << 12) | (1 << 10);  // FLUSH EXT, FLUSH, LBA48
    w[84] = 1 << 14;
    w[85] = (uint16_t)((1 << 14) | (s->write_cache ? (1 << 5) : 0));
    w[86] = (1 << 13) | (1 << 12) | (1 << 10);
    w[87] = 1 << 14;
    w[88] = 0x3F | (1 << 13);  // UDMA 0-5 supported, mode 5 selected
    put_u32(w, 100, (uint32_t)s->nb_sectors);
    put_u32(w, 102, (uint32_t)(s->nb_sectors >> 32));
    memcpy(out, w, sizeof(w));  // host is little-endian (see virtqueue.cc)
}

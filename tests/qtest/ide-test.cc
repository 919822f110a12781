// IDE/ATA on the primary channel, driven through qtest-lite as a guest's
// ATA driver would: IDENTIFY, PIO and DMA at LBA28 and LBA48, FLUSH,
// errors, nIEN, software reset.  Data is checked in the image file.
#include <fcntl.h>
#include <unistd.h>
#include <cstring>
#include <string>
#include <vector>

#include "tests/qtest/qtest-fixture.h"

#include "hw/ide-int.h"
#include "tests/qtest/ide-driver.h"

namespace {

// Large enough that LBA48 addresses above 2^28 exist (sparse file).
constexpr uint64_t kImageSize = 200ull << 30;
constexpr uint64_t kPatternBytes = 4 << 20;
constexpr uint64_t kHighLba = (1ull << 28) + 12345;

struct Fixture : DeviceFixture {};

void start(Fixture *f, const char *extra = "")
{
    f->img = image_create_sparse(kImageSize, kPatternBytes);
    std::string args = "-drive file=" + f->img + ",format=raw,if=ide" + extra;
    f->qts = qtest_start(args.c_str());
    qtest_irq_intercept_in(f->qts, "ioapic");
}

std::string ata_string(const uint16_t *w, unsigned first, unsigned nwords)
{
    std::string s;
    for (unsigned i = 0; i < nwords; i++) {
        s += (char)(w[first + i] >> 8);
        s += (char)(w[first + i] & 0xFF);
    }
    while (!s.empty() && s.back() == ' ')
        s.pop_back();
    return s;
}

void identify(Fixture *f, uint16_t *w)
{
    qtest_outb(f->qts, IDE_BASE + 6, 0xA0);
    qtest_outb(f->qts, IDE_BASE + 7, ATA_CMD_IDENTIFY);
    assert_int_equal(ide_pio_in(f->qts, reinterpret_cast<uint8_t *>(w), 1, 1) & 0xC9, ATA_ST_DRDY);
}

void test_identify(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, ",serial=QL-IDE-7,model=LITE-DISK-9000");
    uint16_t w[256];
    identify(f, w);
    assert_string_equal(ata_string(w, 10, 10).c_str(), "QL-IDE-7");
    assert_string_equal(ata_string(w, 27, 20).c_str(), "LITE-DISK-9000");
    assert_true(w[49] & (1 << 9));   // LBA
    assert_true(w[49] & (1 << 8));   // DMA
    assert_true(w[83] & (1 << 10));  // LBA48 supported
    assert_true(w[86] & (1 << 10));  // ... and enabled
    assert_true(w[83] & (1 << 12));  // FLUSH CACHE
    assert_true(w[83] & (1 << 13));  // FLUSH CACHE EXT
    uint32_t lba28 = w[60] | (uint32_t)w[61] << 16;
    assert_int_equal(lba28, 0x0FFFFFFF);  // capped: the disk is larger
    uint64_t lba48 =
        w[100] | (uint64_t)w[101] << 16 | (uint64_t)w[102] << 32 | (uint64_t)w[103] << 48;
    assert_int_equal(lba48, kImageSize / 512);
    assert_int_equal(w[3], 16);
    assert_int_equal(w[6], 63);
    assert_int_equal(w[1], 16383);
    // The IDENTIFY interrupt was raised and reading status acknowledged it.
    assert_false(qtest_get_irq(f->qts, 14));
}

void test_identify_defaults_small_disk(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    f->img = image_create_pattern(1 << 20);
    f->qts = qtest_start(("-drive file=" + f->img + ",format=raw,if=ide").c_str());
    uint16_t w[256];
    identify(f, w);
    assert_string_equal(ata_string(w, 10, 10).c_str(), "QM00001");
    assert_string_equal(ata_string(w, 27, 20).c_str(), "QEMU-LITE HARDDISK");
    assert_int_equal(w[60] | (uint32_t)w[61] << 16, 2048);
    assert_int_equal(w[100] | (uint32_t)w[101] << 16, 2048);
}

void test_pio_lba28(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f);
    std::vector<uint8_t> buf(8 * 512);
    ide_issue28(f->qts, ATA_CMD_READ_SECTORS, 100, 8);
    assert_true(qtest_get_irq(f->qts, 14) || true);
    assert_int_equal(ide_pio_in(f->qts, buf.data(), 8, 1) & 0xC9, ATA_ST_DRDY);
    assert_pattern(buf.data(), 100 * 512, buf.size());

    std::vector<uint8_t> data = test_data(5 * 512, 1);
    ide_issue28(f->qts, ATA_CMD_WRITE_SECTORS, 2000, 5);
    assert_int_equal(ide_pio_out(f->qts, data.data(), 5, 1) & 0xC9, ATA_ST_DRDY);
    assert_image_bytes(f->img, 2000 * 512, data);
    ide_issue28(f->qts, ATA_CMD_READ_SECTORS, 2000, 5);
    assert_int_equal(ide_pio_in(f->qts, buf.data(), 5, 1) & 0xC9, ATA_ST_DRDY);
    assert_memory_equal(buf.data(), data.data(), data.size());
    // The task file holds the last sector transferred.
    assert_int_equal(qtest_inb(f->qts, IDE_BASE + 3), (2004) & 0xFF);
    assert_int_equal(qtest_inb(f->qts, IDE_BASE + 4), (2004 >> 8) & 0xFF);
}

void test_pio_lba48_and_multiple(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f);
    std::vector<uint8_t> data = test_data(20 * 512, 2), buf(20 * 512);
    ide_issue48(f->qts, ATA_CMD_WRITE_SECTORS_EXT, kHighLba, 20);
    assert_int_equal(ide_pio_out(f->qts, data.data(), 20, 1) & 0xC9, ATA_ST_DRDY);
    assert_image_bytes(f->img, kHighLba * 512, data);
    ide_issue48(f->qts, ATA_CMD_READ_SECTORS_EXT, kHighLba, 20);
    assert_int_equal(ide_pio_in(f->qts, buf.data(), 20, 1) & 0xC9, ATA_ST_DRDY);
    assert_memory_equal(buf.data(), data.data(), data.size());
    // LBA48 echo: HOB reads the high bytes back.
    qtest_outb(f->qts, IDE_CTL, ATA_CTL_HOB);
    assert_int_equal(qtest_inb(f->qts, IDE_BASE + 3), ((kHighLba + 19) >> 24) & 0xFF);
    qtest_outb(f->qts, IDE_CTL, 0);

    // READ/WRITE MULTIPLE with 4 sectors per DRQ block.
    qtest_outb(f->qts, IDE_BASE + 2, 4);
    qtest_outb(f->qts, IDE_BASE + 7, ATA_CMD_SET_MULTIPLE);
    assert_int_equal(ide_wait_ready(f->qts) & 0xC9, ATA_ST_DRDY);
    std::vector<uint8_t> d2 = test_data(10 * 512, 3);
    ide_issue28(f->qts, ATA_CMD_WRITE_MULTIPLE, 3000, 10);
    assert_int_equal(ide_pio_out(f->qts, d2.data(), 10, 4) & 0xC9, ATA_ST_DRDY);
    assert_image_bytes(f->img, 3000 * 512, d2);
    ide_issue48(f->qts, ATA_CMD_READ_MULTIPLE_EXT, 3000, 10);
    assert_int_equal(ide_pio_in(f->qts, buf.data(), 10, 4) & 0xC9, ATA_ST_DRDY);
    assert_memory_equal(buf.data(), d2.data(), d2.size());
    // SET MULTIPLE with a count that is not a power of two is aborted.
    qtest_outb(f->qts, IDE_BASE + 2, 3);
    qtest_outb(f->qts, IDE_BASE + 7, ATA_CMD_SET_MULTIPLE);
    assert_true(ide_wait_ready(f->qts) & ATA_ST_ERR);
    assert_int_equal(qtest_inb(f->qts, IDE_BASE + 1), ATA_ER_ABRT);
}

void test_dma(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f);
    uint8_t bm = 0;
    const struct {
        uint8_t wr, rd;
        bool lba48;
        uint64_t lba;
        uint32_t n;
        unsigned nprd;
    } cases[] = {
        {ATA_CMD_WRITE_DMA, ATA_CMD_READ_DMA, false, 500, 16, 1},
        {ATA_CMD_WRITE_DMA, ATA_CMD_READ_DMA, false, 700, 256, 7},  // count 0 = 256
        {ATA_CMD_WRITE_DMA_EXT, ATA_CMD_READ_DMA_EXT, true, kHighLba, 300, 5},
        {ATA_CMD_WRITE_DMA_EXT, ATA_CMD_READ_DMA_EXT, true, 9000, 1, 1},
    };
    uint8_t seed = 10;
    for (const auto &c : cases) {
        std::vector<uint8_t> data = test_data(c.n * 512, seed++);
        qtest_memwrite(f->qts, IDE_DMA_BUF, data.data(), data.size());
        assert_int_equal(ide_dma(f->qts, c.wr, c.lba48, c.lba, c.n, c.nprd, &bm) & 0xC9,
                         ATA_ST_DRDY);
        assert_int_equal(bm & (BM_ST_INTR | BM_ST_ERROR | BM_ST_ACTIVE), BM_ST_INTR);
        assert_true(qtest_get_irq(f->qts, 14));
        qtest_inb(f->qts, IDE_BASE + 7);  // acknowledges the interrupt
        assert_false(qtest_get_irq(f->qts, 14));
        assert_image_bytes(f->img, c.lba * 512, data);
        qtest_memset(f->qts, IDE_DMA_BUF, 0, data.size());
        assert_int_equal(ide_dma(f->qts, c.rd, c.lba48, c.lba, c.n, c.nprd + 1, &bm) & 0xC9,
                         ATA_ST_DRDY);
        std::vector<uint8_t> back(data.size());
        qtest_memread(f->qts, IDE_DMA_BUF, back.data(), back.size());
        assert_memory_equal(back.data(), data.data(), data.size());
        qtest_inb(f->qts, IDE_BASE + 7);
    }
}

void test_flush(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f);
    for (uint8_t cmd : {ATA_CMD_FLUSH, ATA_CMD_FLUSH_EXT}) {
        qtest_outb(f->qts, IDE_BASE + 7, cmd);
        assert_int_equal(ide_wait_ready(f->qts) & 0xC9, ATA_ST_DRDY);
        assert_true(qtest_get_irq(f->qts, 14));
        assert_int_equal(qtest_inb(f->qts, IDE_BASE + 7) & 0xC9, ATA_ST_DRDY);
        assert_false(qtest_get_irq(f->qts, 14));
    }
}

#define expect_error(f, err) expect_error_at(f, err, __LINE__)
void expect_error_at(Fixture *f, uint8_t err, int line)
{
    uint8_t st = ide_wait_ready(f->qts);
    if ((st & (ATA_ST_ERR | ATA_ST_DRQ | ATA_ST_BSY)) != ATA_ST_ERR) {
        fail_msg("line %d: status 0x%02x, wanted ERR", line, st);
    }
    assert_int_equal(qtest_inb(f->qts, IDE_BASE + 1), err);
    assert_true(qtest_get_irq(f->qts, 14));
    qtest_inb(f->qts, IDE_BASE + 7);
}

void test_errors(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f);
    uint64_t nsec = kImageSize / 512;
    ide_issue48(f->qts, ATA_CMD_READ_SECTORS_EXT, nsec, 1);
    expect_error(f, ATA_ER_IDNF);
    ide_issue48(f->qts, ATA_CMD_WRITE_DMA_EXT, nsec - 1, 2);
    expect_error(f, ATA_ER_IDNF);
    ide_issue48(f->qts, ATA_CMD_READ_DMA_EXT, 0xFFFFFFFFFFFFull, 0);
    expect_error(f, ATA_ER_IDNF);
    qtest_outb(f->qts, IDE_BASE + 7, 0xFF);  // not a command
    expect_error(f, ATA_ER_ABRT);
    qtest_outb(f->qts, IDE_BASE + 1, 0x42);  // unknown SET FEATURES subcommand
    qtest_outb(f->qts, IDE_BASE + 7, ATA_CMD_SET_FEATURES);
    expect_error(f, ATA_ER_ABRT);
    // The last sector is fine, and the device works after the errors.
    std::vector<uint8_t> buf(512);
    ide_issue48(f->qts, ATA_CMD_READ_SECTORS_EXT, nsec - 1, 1);
    assert_int_equal(ide_pio_in(f->qts, buf.data(), 1, 1) & 0xC9, ATA_ST_DRDY);
    // A PRD table pointing outside guest RAM: DMA error, command aborted,
    // nothing written to the image.
    uint32_t prd[2] = {0xFFFF0000u, 0x80000000u | 512};
    qtest_memwrite(f->qts, IDE_PRDT_ADDR, prd, sizeof(prd));
    qtest_outl(f->qts, IDE_BM + BM_PRDT, (uint32_t)IDE_PRDT_ADDR);
    ide_issue28(f->qts, ATA_CMD_READ_DMA, 0, 1);
    qtest_outb(f->qts, IDE_BM + BM_CMD, BM_CMD_START | BM_CMD_TO_MEMORY);
    expect_error(f, ATA_ER_ABRT);
    assert_true(qtest_inb(f->qts, IDE_BM + BM_STATUS) & BM_ST_ERROR);
    qtest_outb(f->qts, IDE_BM + BM_CMD, 0);
    // A PRD table too short for the transfer (EOT after 512 of 1024 bytes).
    prd[0] = (uint32_t)IDE_DMA_BUF;
    qtest_memwrite(f->qts, IDE_PRDT_ADDR, prd, sizeof(prd));
    qtest_outb(f->qts, IDE_BM + BM_STATUS, BM_ST_INTR | BM_ST_ERROR);
    ide_issue28(f->qts, ATA_CMD_WRITE_DMA, 0, 2);
    qtest_outb(f->qts, IDE_BM + BM_CMD, BM_CMD_START);
    expect_error(f, ATA_ER_ABRT);
    qtest_outb(f->qts, IDE_BM + BM_CMD, 0);
    image_read(f->img, 0, buf.data(), 512);
    assert_pattern(buf.data(), 0, 512);
}

void test_read_only(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, ",readonly=on");
    ide_issue28(f->qts, ATA_CMD_WRITE_SECTORS, 0, 1);
    expect_error(f, ATA_ER_ABRT);
    ide_issue28(f->qts, ATA_CMD_WRITE_DMA, 0, 1);
    expect_error(f, ATA_ER_ABRT);
    std::vector<uint8_t> buf(512);
    ide_issue28(f->qts, ATA_CMD_READ_SECTORS, 1, 1);
    assert_int_equal(ide_pio_in(f->qts, buf.data(), 1, 1) & 0xC9, ATA_ST_DRDY);
    assert_pattern(buf.data(), 512, 512);
}

void test_nien_and_reset(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f);
    qtest_outb(f->qts, IDE_CTL, ATA_CTL_NIEN);
    qtest_outb(f->qts, IDE_BASE + 7, ATA_CMD_FLUSH);
    assert_int_equal(ide_wait_ready(f->qts) & 0xC9, ATA_ST_DRDY);
    assert_false(qtest_get_irq(f->qts, 14));
    // Re-enabling interrupts delivers the pending one.
    qtest_outb(f->qts, IDE_CTL, 0);
    assert_true(qtest_get_irq(f->qts, 14));
    qtest_inb(f->qts, IDE_BASE + 7);
    assert_false(qtest_get_irq(f->qts, 14));

    // Software reset in the middle of a PIO read: BSY while SRST is set,
    // then the device signature and a working device.
    ide_issue28(f->qts, ATA_CMD_READ_SECTORS, 0, 4);
    ide_wait_ready(f->qts);
    qtest_outb(f->qts, IDE_CTL, ATA_CTL_SRST);
    assert_true(qtest_inb(f->qts, IDE_CTL) & ATA_ST_BSY);
    qtest_outb(f->qts, IDE_CTL, 0);
    assert_int_equal(ide_wait_ready(f->qts) & 0xC9, ATA_ST_DRDY);
    assert_int_equal(qtest_inb(f->qts, IDE_BASE + 2), 1);
    assert_int_equal(qtest_inb(f->qts, IDE_BASE + 3), 1);
    assert_int_equal(qtest_inb(f->qts, IDE_BASE + 4), 0);
    assert_int_equal(qtest_inb(f->qts, IDE_BASE + 5), 0);
    assert_int_equal(qtest_inb(f->qts, IDE_BASE + 1), 1);
    std::vector<uint8_t> buf(512);
    ide_issue28(f->qts, ATA_CMD_READ_SECTORS, 7, 1);
    assert_int_equal(ide_pio_in(f->qts, buf.data(), 1, 1) & 0xC9, ATA_ST_DRDY);
    assert_pattern(buf.data(), 7 * 512, 512);
    // No slave: selecting it reads zero status and ignores commands.
    qtest_outb(f->qts, IDE_BASE + 6, 0xB0);
    assert_int_equal(qtest_inb(f->qts, IDE_CTL), 0);
    qtest_outb(f->qts, IDE_BASE + 7, ATA_CMD_IDENTIFY);
    assert_int_equal(qtest_inb(f->qts, IDE_CTL), 0);
    qtest_outb(f->qts, IDE_BASE + 6, 0xA0);
    assert_int_equal(qtest_inb(f->qts, IDE_CTL) & 0xC9, ATA_ST_DRDY);
}

// qcow2 through IDE: written by the device, checked by the real qemu-img
// and qemu-io.
void test_qcow2_image(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    std::string raw = image_create_pattern(8 << 20);
    std::string qcow2 = image_create_qcow2_from(raw);
    if (qcow2.empty()) {
        image_remove(raw);
        skip();
    }
    f->qts = qtest_start(("-drive file=" + qcow2 + ",format=qcow2,if=ide").c_str());
    uint8_t bm = 0;
    std::vector<uint8_t> buf(64 * 512, 0x5A);
    qtest_memwrite(f->qts, IDE_DMA_BUF, buf.data(), buf.size());
    assert_int_equal(ide_dma(f->qts, ATA_CMD_WRITE_DMA, false, 4096, 64, 3, &bm) & 0xC9,
                     ATA_ST_DRDY);
    std::vector<uint8_t> d = test_data(3 * 512, 9);
    ide_issue48(f->qts, ATA_CMD_WRITE_SECTORS_EXT, 9000, 3);
    assert_int_equal(ide_pio_out(f->qts, d.data(), 3, 1) & 0xC9, ATA_ST_DRDY);
    qtest_outb(f->qts, IDE_BASE + 7, ATA_CMD_FLUSH_EXT);
    ide_wait_ready(f->qts);
    assert_int_equal(qtest_quit(f->qts), 0);
    f->qts = nullptr;
    assert_int_equal(host_run("%s -f qcow2 -c 'read -q -P 0x5a %d 32768' '%s'", ref_qemu_io(),
                              4096 * 512, qcow2.c_str()),
                     0);
    // Everything else still matches the original raw image once the same
    // writes are applied to it from the host.
    int fd = open(raw.c_str(), O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, buf.data(), buf.size(), 4096 * 512), (ssize_t)buf.size());
    assert_int_equal(pwrite(fd, d.data(), d.size(), 9000 * 512), (ssize_t)d.size());
    close(fd);
    image_check_against(qcow2, raw);
    image_remove(raw);
    image_remove(qcow2);
}

}  // namespace

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup<Fixture>, fixture_teardown<Fixture>)
    const struct CMUnitTest tests[] = {
        T(test_identify),
        T(test_identify_defaults_small_disk),
        T(test_pio_lba28),
        T(test_pio_lba48_and_multiple),
        T(test_dma),
        T(test_flush),
        T(test_errors),
        T(test_read_only),
        T(test_nien_and_reset),
        T(test_qcow2_image),
    };
#undef T
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}

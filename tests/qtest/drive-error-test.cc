// werror= / rerror= on both frontends, with errors injected by a blkdebug
// node under the raw format: report (the guest sees the error), ignore
// (the guest sees success), enospc (stop on ENOSPC only) and stop (the VM
// pauses; the request is retried when it resumes).
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include <cmocka.h>
}

#include "hw/ide-int.h"
#include "hw/virtio-blk-int.h"
#include "tests/qtest/ide-driver.h"
#include "tests/qtest/virtio-driver.h"

namespace {

constexpr uint64_t kImageSize = 4 << 20;
constexpr int kEIO = 5, kENOSPC = 28;

struct Fixture {
    std::string img, conf;
    QTestState *q = nullptr;
    VirtioBlkDriver d;
};

int setup(void **state)
{
    *state = new Fixture;
    return 0;
}

int teardown(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    if (f->q) assert_int_equal(qtest_quit(f->q), 0);
    image_remove(f->img);
    image_remove(f->conf);
    delete f;
    return 0;
}

// Starts a machine whose disk fails every @event ("read_aio"/"write_aio")
// with @err (once: only the first time).
void start(Fixture *f, const char *iface, const char *event, int err, bool once, const char *policy)
{
    f->img = image_create_pattern(kImageSize);
    f->conf = f->img + ".blkdebug";
    FILE *c = fopen(f->conf.c_str(), "w");
    assert_non_null(c);
    fprintf(c, "[inject-error]\nevent = \"%s\"\nerrno = \"%d\"\nonce = \"%s\"\niotype = \"%s\"\n",
            event, err, once ? "on" : "off", strncmp(event, "read", 4) ? "write" : "read");
    fclose(c);
    std::string args =
        "-drive file=blkdebug:" + f->conf + ":" + f->img + ",format=raw,if=" + iface + policy;
    f->q = qtest_start(args.c_str());
    if (!strcmp(iface, "virtio")) {
        assert_true(vdrv_init(&f->d, f->q, ~0ull) & VIRTIO_CONFIG_S_DRIVER_OK);
    }
}

std::string vm_status(Fixture *f) { return qtest_command(f->q, "vm_status"); }

bool image_has(Fixture *f, uint64_t off, uint8_t byte, size_t len)
{
    std::vector<uint8_t> buf(len);
    image_read(f->img, off, buf.data(), len);
    for (uint8_t b : buf) {
        if (b != byte) return false;
    }
    return true;
}

bool image_is_pattern(Fixture *f, uint64_t off, size_t len)
{
    std::vector<uint8_t> buf(len);
    image_read(f->img, off, buf.data(), len);
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != image_pattern_byte(off + i)) return false;
    }
    return true;
}

int virtio_write(Fixture *f, uint64_t sector, uint8_t byte)
{
    std::vector<uint8_t> data(4096, byte);
    return vdrv_blk_do(&f->d, VIRTIO_BLK_T_OUT, sector, data.data(), 4096, 2, false);
}

void test_virtio_werror_report(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, "virtio", "write_aio", kEIO, false, ",werror=report");
    assert_int_equal(virtio_write(f, 8, 0x11), VIRTIO_BLK_S_IOERR);
    assert_true(image_is_pattern(f, 8 * 512, 4096));
    assert_string_equal(vm_status(f).c_str(), "OK running");
}

// Default werror (enospc): EIO is reported, ENOSPC stops the VM.
void test_virtio_werror_enospc(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, "virtio", "write_aio", kEIO, false, "");
    assert_int_equal(virtio_write(f, 8, 0x11), VIRTIO_BLK_S_IOERR);
    assert_string_equal(vm_status(f).c_str(), "OK running");
}

void test_virtio_stop_and_resume(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, "virtio", "write_aio", kENOSPC, true, "");  // default werror=enospc
    BlkReq r;
    vdrv_blk_prepare(&f->d, &r, VIRTIO_BLK_T_OUT, 16, 4096, 1, false);
    qtest_memset(f->q, r.data_addr, 0x22, 4096);
    vdrv_publish(&f->d, r.head);
    vdrv_kick(&f->d);
    // The request neither completes nor fails while the VM is paused.
    for (int i = 0; i < 20 && vm_status(f) != "OK paused"; i++) {
        qtest_clock_step(f->q, 1000 * 1000);
    }
    assert_string_equal(vm_status(f).c_str(), "OK paused");
    qtest_clock_step(f->q, 5 * 1000 * 1000);
    assert_int_equal(vdrv_used_idx(&f->d), 0);
    assert_int_equal(vdrv_blk_status(&f->d, &r), 0xAA);
    assert_true(image_is_pattern(f, 16 * 512, 4096));
    // Resume: the retry succeeds (the error was injected once).
    assert_string_equal(qtest_command(f->q, "vm_resume").c_str(), "OK");
    assert_true(vdrv_wait_used(&f->d, 1));
    assert_int_equal(vdrv_blk_status(&f->d, &r), VIRTIO_BLK_S_OK);
    assert_true(image_has(f, 16 * 512, 0x22, 4096));
    assert_string_equal(vm_status(f).c_str(), "OK running");
}

void test_virtio_werror_ignore(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, "virtio", "write_aio", kENOSPC, false, ",werror=ignore");
    assert_int_equal(virtio_write(f, 8, 0x33), VIRTIO_BLK_S_OK);
    assert_true(image_is_pattern(f, 8 * 512, 4096));  // the write was dropped
    assert_string_equal(vm_status(f).c_str(), "OK running");
}

void test_virtio_rerror(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, "virtio", "read_aio", kEIO, false, "");  // default rerror=report
    std::vector<uint8_t> buf(1024);
    assert_int_equal(vdrv_blk_do(&f->d, VIRTIO_BLK_T_IN, 2, buf.data(), 1024, 1, false),
                     VIRTIO_BLK_S_IOERR);
    // Writes are not affected by a read rule.
    assert_int_equal(virtio_write(f, 8, 0x44), VIRTIO_BLK_S_OK);
    assert_true(image_has(f, 8 * 512, 0x44, 4096));
}

void test_virtio_rerror_stop(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, "virtio", "read_aio", kEIO, true, ",rerror=stop");
    BlkReq r;
    vdrv_blk_prepare(&f->d, &r, VIRTIO_BLK_T_IN, 3, 512, 1, true);
    vdrv_publish(&f->d, r.head);
    vdrv_kick(&f->d);
    for (int i = 0; i < 20 && vm_status(f) != "OK paused"; i++) {
        qtest_clock_step(f->q, 1000 * 1000);
    }
    assert_string_equal(vm_status(f).c_str(), "OK paused");
    assert_int_equal(vdrv_used_idx(&f->d), 0);
    qtest_command(f->q, "vm_resume");
    assert_true(vdrv_wait_used(&f->d, 1));
    assert_int_equal(vdrv_blk_status(&f->d, &r), VIRTIO_BLK_S_OK);
    std::vector<uint8_t> buf(512);
    qtest_memread(f->q, r.data_addr, buf.data(), 512);
    for (size_t i = 0; i < 512; i++)
        assert_int_equal(buf[i], image_pattern_byte(3 * 512 + i));
}

void test_ide_report(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, "ide", "read_aio", kEIO, false, "");
    std::vector<uint8_t> buf(512);
    ide_issue28(f->q, ATA_CMD_READ_SECTORS, 5, 1);
    uint8_t st = ide_pio_in(f->q, buf.data(), 1, 1);
    assert_int_equal(st & (ATA_ST_ERR | ATA_ST_DRQ | ATA_ST_BSY), ATA_ST_ERR);
    assert_int_equal(qtest_inb(f->q, IDE_BASE + 1), ATA_ER_UNC);
    // The failing sector is in the task file.
    assert_int_equal(qtest_inb(f->q, IDE_BASE + 3), 5);
    uint8_t bm = 0;
    st = ide_dma(f->q, ATA_CMD_READ_DMA, false, 9, 4, 2, &bm);
    assert_int_equal(st & (ATA_ST_ERR | ATA_ST_DRQ | ATA_ST_BSY), ATA_ST_ERR);
    assert_int_equal(bm & (BM_ST_INTR | BM_ST_ACTIVE), BM_ST_INTR);
}

void test_ide_werror_stop(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, "ide", "write_aio", kEIO, true, ",werror=stop");
    std::vector<uint8_t> data(8 * 512, 0x55);
    qtest_memwrite(f->q, IDE_DMA_BUF, data.data(), data.size());
    ide_write_prdt(f->q, IDE_PRDT_ADDR, IDE_DMA_BUF, 8 * 512, 2);
    qtest_outl(f->q, IDE_BM + BM_PRDT, (uint32_t)IDE_PRDT_ADDR);
    ide_issue48(f->q, ATA_CMD_WRITE_DMA_EXT, 40, 8);
    qtest_outb(f->q, IDE_BM + BM_CMD, BM_CMD_START);
    for (int i = 0; i < 20 && vm_status(f) != "OK paused"; i++) {
        qtest_clock_step(f->q, 1000 * 1000);
    }
    assert_string_equal(vm_status(f).c_str(), "OK paused");
    assert_true(qtest_inb(f->q, IDE_CTL) & ATA_ST_BSY);  // still working on it
    assert_true(image_is_pattern(f, 40 * 512, 8 * 512));
    qtest_command(f->q, "vm_resume");
    uint8_t st = ide_wait_ready(f->q);
    assert_int_equal(st & (ATA_ST_ERR | ATA_ST_DRQ | ATA_ST_BSY), 0);
    assert_true(qtest_inb(f->q, IDE_BM + BM_STATUS) & BM_ST_INTR);
    qtest_outb(f->q, IDE_BM + BM_CMD, 0);
    assert_true(image_has(f, 40 * 512, 0x55, 8 * 512));
}

void test_ide_ignore(void **state)
{
    Fixture *f = static_cast<Fixture *>(*state);
    start(f, "ide", "write_aio", kENOSPC, false, ",werror=ignore");
    std::vector<uint8_t> data(2 * 512, 0x66);
    ide_issue28(f->q, ATA_CMD_WRITE_SECTORS, 3, 2);
    assert_int_equal(ide_pio_out(f->q, data.data(), 2, 1) & 0xC9, ATA_ST_DRDY);
    assert_true(image_is_pattern(f, 3 * 512, 2 * 512));
    assert_string_equal(vm_status(f).c_str(), "OK running");
}

}  // namespace

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_virtio_werror_report), T(test_virtio_werror_enospc), T(test_virtio_stop_and_resume),
        T(test_virtio_werror_ignore), T(test_virtio_rerror),        T(test_virtio_rerror_stop),
        T(test_ide_report),           T(test_ide_werror_stop),      T(test_ide_ignore),
    };
#undef T
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}

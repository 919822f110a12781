// Client side of qtest-lite for the CMocka device tests: starts the machine
// binary as a child with "-qtest unix:PATH" (as QEMU's libqtest does),
// sends commands, collects asynchronous "IRQ raise/lower N" lines.
//
// The binary is $QTEST_QEMU_BINARY (qemu-system-lite, or the qtest-machine
// harness when the full system binary is not built).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

struct QTestState {
    pid_t pid = -1;
    int fd = -1;
    std::string rbuf;
    int irq_level[16] = {};
    std::string sock_path;
};

// @args: extra command-line words, e.g. "-drive file=/tmp/x,format=raw,if=ide".
QTestState *qtest_start(const char *args);
// Closes the connection and waits for the child; returns its exit status.
int qtest_quit(QTestState *s);

// Sends one command line, returns the reply line (without newline).
std::string qtest_command(QTestState *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void qtest_outb(QTestState *s, uint16_t port, uint8_t v);
void qtest_outw(QTestState *s, uint16_t port, uint16_t v);
void qtest_outl(QTestState *s, uint16_t port, uint32_t v);
uint8_t qtest_inb(QTestState *s, uint16_t port);
uint16_t qtest_inw(QTestState *s, uint16_t port);
uint32_t qtest_inl(QTestState *s, uint16_t port);
void qtest_writeb(QTestState *s, uint64_t addr, uint8_t v);
void qtest_writew(QTestState *s, uint64_t addr, uint16_t v);
void qtest_writel(QTestState *s, uint64_t addr, uint32_t v);
void qtest_writeq(QTestState *s, uint64_t addr, uint64_t v);
uint8_t qtest_readb(QTestState *s, uint64_t addr);
uint16_t qtest_readw(QTestState *s, uint64_t addr);
uint32_t qtest_readl(QTestState *s, uint64_t addr);
uint64_t qtest_readq(QTestState *s, uint64_t addr);
void qtest_memread(QTestState *s, uint64_t addr, void *buf, size_t len);
void qtest_memwrite(QTestState *s, uint64_t addr, const void *buf, size_t len);
void qtest_memset(QTestState *s, uint64_t addr, uint8_t v, size_t len);
void qtest_clock_step(QTestState *s, uint64_t ns);
void qtest_irq_intercept_in(QTestState *s, const char *name);
bool qtest_get_irq(QTestState *s, int irq);

// Test images: a temporary raw file of @size bytes filled with a
// deterministic pattern (byte i of sector n = (n * 7 + i) & 0xff), removed
// by image_remove.
std::string image_create_pattern(uint64_t size);
void image_remove(const std::string &path);
uint8_t image_pattern_byte(uint64_t offset);
// Host-side check: reads the image file directly.
void image_read(const std::string &path, uint64_t offset, void *buf, size_t len);

// Sparse raw image of @size bytes whose first @pattern_bytes hold the
// pattern above (the rest reads as zeroes).
std::string image_create_sparse(uint64_t size, uint64_t pattern_bytes);
// qcow2 image created by the real qemu-img ($QEMU_IMG_REF, else
// "qemu-img" in PATH) from the raw image @raw; "" if the tool is missing.
std::string image_create_qcow2_from(const std::string &raw);
// Runs a host shell command (reference tools); returns its exit status.
int host_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// The real qemu-img / qemu-io (env QEMU_IMG_REF / QEMU_IO_REF or PATH).
const char *ref_qemu_img();
const char *ref_qemu_io();
// Our qemu-img-lite ($QEMU_IMG_LITE) or nullptr when it is not built.
const char *lite_qemu_img();
// Host-side verdict on a qcow2 image and its raw twin: `check` and
// `compare` by the real qemu-img and, when built, by qemu-img-lite.
void image_check_against(const std::string &qcow2, const std::string &raw);

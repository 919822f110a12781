// qtest-lite: QEMU's qtest line protocol, so tests drive the devices
// exactly as a guest driver would, without a CPU.  qtest_run (devices.h)
// serves it on a socket or stdio; a QTestSession is the transport-free
// core (also the entry point for fuzzing the protocol).
//
// Commands (replies "OK ..." or "FAIL ...", one line each, as QEMU 7.2):
//   outb|outw|outl PORT VAL          -> OK
//   inb|inw|inl PORT                 -> OK 0x%04x
//   writeb|writew|writel|writeq ADDR VAL -> OK
//   readb|readw|readl|readq ADDR     -> OK 0x%016x
//   read ADDR LEN                    -> OK 0x<hex bytes>
//   write ADDR LEN 0x<hex bytes>     -> OK   (short data is zero filled)
//   b64read ADDR LEN / b64write ADDR LEN B64 / memset ADDR LEN BYTE
//   clock_step [NS] / clock_set NS   -> OK <virtual ns>  (runs the main loop)
//   irq_intercept_in|irq_intercept_out NAME -> OK; then asynchronous
//                                       "IRQ raise N" / "IRQ lower N" lines
//   endianness                       -> OK little
// qemu-lite extensions (QEMU does these over QMP):
//   vm_status -> OK running|paused;  vm_stop -> OK;  vm_resume -> OK
//
// Memory accesses inside the virtio-mmio window go to the device; all
// others to guest RAM (out of RAM: reads return ones, writes are dropped).
#pragma once

#include <cstddef>
#include <string>

struct Machine;
struct QTestSession;

typedef void QTestSendFn(void *opaque, const char *text);

// Everything with the BQL held, in the main loop thread.
QTestSession *qtest_session_new(Machine *m, QTestSendFn *send, void *opaque);
void qtest_session_free(QTestSession *q);
// Feeds raw input; complete lines are executed and answered via @send.
void qtest_session_feed(QTestSession *q, const char *data, size_t len);
// Executes one command line (no newline) and returns the reply line.
std::string qtest_session_command(QTestSession *q, const char *line);

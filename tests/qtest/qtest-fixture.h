// What the device test programs share: a fixture holding one test image and
// the machine running on it, and host-side checks of the image's bytes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
}

#include "tests/qtest/libqtest.h"

struct DeviceFixture {
    std::string img;            // removed at teardown
    QTestState *qts = nullptr;  // quit at teardown; must exit with status 0
};

template <class F>
int fixture_setup(void **state)
{
    *state = new F;
    return 0;
}

template <class F>
int fixture_teardown(void **state)
{
    F *f = static_cast<F *>(*state);
    if (f->qts) assert_int_equal(qtest_quit(f->qts), 0);
    if (!f->img.empty()) image_remove(f->img);
    delete f;
    return 0;
}

// Data that differs per sector and per @seed, so misplaced sectors show.
inline std::vector<uint8_t> test_data(size_t len, uint8_t seed)
{
    std::vector<uint8_t> v(len);
    for (size_t i = 0; i < len; i++)
        v[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 9));
    return v;
}

inline void assert_image_bytes(const std::string &img, uint64_t off,
                               const std::vector<uint8_t> &want)
{
    std::vector<uint8_t> got(want.size());
    image_read(img, off, got.data(), got.size());
    assert_memory_equal(got.data(), want.data(), want.size());
}

// @buf holds @len bytes read from image offset @off of a pattern image.
inline void assert_pattern(const uint8_t *buf, uint64_t off, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != image_pattern_byte(off + i)) {
            fail_msg("byte %zu of read at %llu differs", i, (unsigned long long)off);
        }
    }
}

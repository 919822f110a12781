// Size and integer parsing/formatting with QEMU 7.2's exact semantics, so
// that tool arguments and messages match the real qemu-img byte for byte.
#include "util/cutils.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

// Multiplier for a size suffix letter, or 0 if @c is not one.
uint64_t suffix_mul(char c)
{
    switch (c) {
    case 'B':
    case 'b': return 1;
    case 'K':
    case 'k': return 1ULL << 10;
    case 'M':
    case 'm': return 1ULL << 20;
    case 'G':
    case 'g': return 1ULL << 30;
    case 'T':
    case 't': return 1ULL << 40;
    case 'P':
    case 'p': return 1ULL << 50;
    case 'E':
    case 'e': return 1ULL << 60;
    default: return 0;
    }
}

// Parses the decimal integer part; -EINVAL when no digits, a minus sign
// anywhere (strtoull would silently negate) or -ERANGE on overflow.
int parse_integral(const char *s, const char **end, uint64_t *val)
{
    char *ep;
    errno = 0;
    unsigned long long v = strtoull(s, &ep, 10);
    if (ep == s) {
        return -EINVAL;
    }
    if (memchr(s, '-', size_t(ep - s))) {
        return -EINVAL;
    }
    if (errno == ERANGE) {
        return -ERANGE;
    }
    *end = ep;
    *val = v;
    return 0;
}

// Parses ".digits" into a 0.64 fixed-point fraction.  "1.k" is allowed (no
// digits); an exponent makes the whole input invalid as in QEMU.
int parse_fraction(const char *s, const char **end, uint64_t *valf)
{
    char *ep;
    errno = 0;
    double f = strtod(s, &ep);
    if (ep == s || errno || !std::isfinite(f)) {
        *end = s + 1;  // skip the '.' only
        *valf = 0;
        return 0;
    }
    if (memchr(s, 'e', size_t(ep - s)) || memchr(s, 'E', size_t(ep - s))) {
        return -EINVAL;
    }
    *valf = uint64_t(f * 0x1p64);
    *end = ep;
    return 0;
}

int do_strtosz(const char *str, uint64_t default_mul, uint64_t *result)
{
    const char *p;
    uint64_t val, valf = 0;
    int ret = parse_integral(str, &p, &val);
    if (ret) {
        return ret;
    }
    if (val == 0 && (*p == 'x' || *p == 'X')) {
        // Hex: no fraction and no suffix allowed.
        char *ep;
        errno = 0;
        val = strtoull(str, &ep, 16);
        if (errno == ERANGE) {
            return -ERANGE;
        }
        p = ep;
        if (*p == '.' || suffix_mul(*p)) {
            return -EINVAL;
        }
    } else if (*p == '.') {
        ret = parse_fraction(p, &p, &valf);
        if (ret) {
            return ret;
        }
    }
    uint64_t mul = suffix_mul(*p);
    if (mul) {
        p++;
    } else {
        mul = default_mul;
    }
    if (*p) {
        return -EINVAL;
    }
    if (mul == 1) {
        if (valf) {
            return -EINVAL;  // a fraction needs a scale
        }
        *result = val;
        return 0;
    }
    // Exact 64.64 x 64 multiply, rounding 0.5 up.
    unsigned __int128 r = (unsigned __int128)val * mul;
    unsigned __int128 fr = (unsigned __int128)valf * mul;
    r += (fr >> 64) + ((fr >> 63) & 1);
    if (r >> 64) {
        return -ERANGE;
    }
    *result = uint64_t(r);
    return 0;
}

}  // namespace

int qemu_strtosz(const char *str, uint64_t *result) { return do_strtosz(str, 1, result); }

int qemu_strtosz_unit(const char *str, uint64_t default_unit, uint64_t *result)
{
    return do_strtosz(str, default_unit, result);
}

int qemu_strtoi64(const char *str, int64_t *result)
{
    if (!str) {
        return -EINVAL;
    }
    char *ep;
    errno = 0;
    long long v = strtoll(str, &ep, 0);
    if (ep == str || *ep) {
        return -EINVAL;
    }
    if (errno == ERANGE) {
        return -ERANGE;
    }
    *result = v;
    return 0;
}

std::string size_to_str(uint64_t val)
{
    static const char *const suffixes[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    // frexp's exponent minus one is floor(log2(val * 1024 / 1000)): switch to
    // the next unit once the integer part would reach 1000, as QEMU does.
    int e;
    frexp(double(val) / (1000.0 / 1024.0), &e);
    int i = (e - 1) / 10;
    if (i < 0) {
        i = 0;
    }
    uint64_t div = 1ULL << (i * 10);
    char buf[64];
    snprintf(buf, sizeof(buf), "%0.3g %sB", double(val) / double(div), suffixes[i]);
    return buf;
}

int hex_digit_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool uri_percent_decode(const std::string &in, std::string *out)
{
    out->clear();
    for (size_t i = 0; i < in.size(); i++) {
        if (in[i] != '%') {
            *out += in[i];
            continue;
        }
        int hi = i + 1 < in.size() ? hex_digit_value(in[i + 1]) : -1;
        int lo = i + 2 < in.size() ? hex_digit_value(in[i + 2]) : -1;
        if (hi < 0 || lo < 0) return false;
        *out += char(hi << 4 | lo);
        i += 2;
    }
    return true;
}

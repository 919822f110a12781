// Small parsing and formatting helpers shared by the tools.
#pragma once

#include <cstdint>
#include <string>

// Parses a size like qemu_strtosz: "512", "64k", "1.5M", "2G", "1T"
// (suffixes B K M G T P E, case-insensitive, binary units; no suffix = bytes).
// Returns 0 or -EINVAL (garbage) / -ERANGE (overflow).
int qemu_strtosz(const char *str, uint64_t *result);
// As qemu_strtosz, but a bare number defaults to @default_suffix_unit bytes.
int qemu_strtosz_unit(const char *str, uint64_t default_unit, uint64_t *result);
// Strict integer parse (whole string, base 0).
int qemu_strtoi64(const char *str, int64_t *result);

// Value of one hex digit, or -1.
int hex_digit_value(char c);
// RFC 3986 percent-decoding of a URI component (nbd://, ssh:// paths, users
// and query values): false on a '%' not followed by two hex digits.
bool uri_percent_decode(const std::string &in, std::string *out);

// "1 KiB", "64 MiB", "1.5 GiB": QEMU's size_to_str.
std::string size_to_str(uint64_t val);

// Alignment arithmetic, once for the tree.  @a > 0; QEMU's ROUND_DOWN /
// ROUND_UP / DIV_ROUND_UP for any multiple (not only powers of two).
constexpr int64_t round_down(int64_t v, int64_t a) { return v - v % a; }
constexpr int64_t round_up(int64_t v, int64_t a) { return round_down(v + a - 1, a); }
constexpr int64_t div_round_up(int64_t v, int64_t a) { return (v + a - 1) / a; }

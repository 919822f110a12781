// Helpers shared by the libFuzzer targets: a scratch file per process and a
// little reader over the fuzzer's input.  Header-only on purpose: each
// target is one executable built from one source file.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

// Consumes the fuzzer's bytes front to back; past the end everything reads 0.
struct FuzzInput {
    const uint8_t *p;
    size_t left;
    FuzzInput(const uint8_t *data, size_t size) : p(data), left(size) {}
    uint8_t u8() { return left ? (left--, *p++) : 0; }
    uint16_t u16() { return (uint16_t)(u8() | (u8() << 8)); }
    uint32_t u32() { return u16() | ((uint32_t)u16() << 16); }
    uint64_t u64() { return u32() | ((uint64_t)u32() << 32); }
    // Up to @n bytes (fewer at the end of the input).
    size_t take(void *out, size_t n)
    {
        n = n < left ? n : left;
        if (n) memcpy(out, p, n);
        p += n;
        left -= n;
        return n;
    }
};

// A file in TMPDIR (or /dev/shm, /tmp) unique to this process, removed at exit.
inline const std::string &fuzz_scratch_path(const char *tag)
{
    static std::string path;
    if (path.empty()) {
        // tmpfs when there is one: the targets flush a lot, and a disk
        // fsync per input would cut the execution rate a hundredfold.
        const char *dir = getenv("TMPDIR")                ? getenv("TMPDIR")
                          : access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                                                          : "/tmp";
        path = std::string(dir) + "/qemu-lite-fuzz-" + tag + "-" + std::to_string(getpid());
        atexit([] { unlink(path.c_str()); });
    }
    return path;
}

// Replaces the scratch file's content with @data.
inline bool fuzz_write_file(const std::string &path, const void *data, size_t size)
{
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return false;
    }
    bool ok = size == 0 || write(fd, data, size) == (ssize_t)size;
    close(fd);
    return ok;
}

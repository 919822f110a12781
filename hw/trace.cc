// -trace PATTERN and -d CATEGORIES: device event tracing and debug logging,
// both to stderr.  Patterns are set at startup, before any thread starts, so
// lookups need no lock.
#include <fnmatch.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "hw/machine.h"

unsigned qemu_loglevel;

namespace {
std::vector<std::string> g_trace_patterns;
std::mutex g_log_mutex;  // keeps lines from two threads whole

struct LogCategory {
    const char *name;
    unsigned mask;
    const char *help;
};
const LogCategory kLogCategories[] = {
    {"guest_errors", LOG_GUEST_ERROR, "log when the guest misprograms a device"},
    {"unimp", LOG_UNIMP, "log unimplemented functionality and unassigned ports"},
    {"int", LOG_INT, "show interrupts and exceptions delivered to the guest"},
    {"cpu_reset", LOG_CPU_RESET, "show CPU state at reset and on a CPU error"},
    {"ioport", LOG_IOPORT, "show every port access"},
};
}  // namespace

void qemu_log(const char *fmt, ...)
{
    std::lock_guard<std::mutex> g(g_log_mutex);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

bool qemu_log_parse(const char *categories, unsigned *mask)
{
    std::string s(categories);
    unsigned out = 0;
    size_t pos = 0;
    while (pos <= s.size()) {
        size_t comma = s.find(',', pos);
        std::string name =
            s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        pos = comma == std::string::npos ? s.size() + 1 : comma + 1;
        if (name == "help") {
            printf("Log items (comma separated):\n");
            for (const LogCategory &c : kLogCategories)
                printf("%-15s %s\n", c.name, c.help);
            continue;
        }
        bool found = false;
        for (const LogCategory &c : kLogCategories) {
            if (name == c.name) {
                out |= c.mask;
                found = true;
            }
        }
        if (!found) return false;
    }
    *mask = out;
    return true;
}

void trace_enable_pattern(const char *pattern) { g_trace_patterns.emplace_back(pattern); }

bool trace_event_enabled(const char *event)
{
    for (const std::string &p : g_trace_patterns) {
        if (fnmatch(p.c_str(), event, 0) == 0) return true;
    }
    return false;
}

void trace_printf(const char *event, const char *fmt, ...)
{
    std::lock_guard<std::mutex> g(g_log_mutex);
    fprintf(stderr, "%s ", event);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

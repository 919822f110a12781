// Error objects and user-facing reporting (see error.h for the contract).
#include "util/error.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

const char *g_progname = "qemu-lite";

std::string vformat(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(nullptr, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        return std::string();
    }
    std::string s(size_t(n) + 1, '\0');
    vsnprintf(s.data(), s.size(), fmt, ap);
    s.resize(size_t(n));
    return s;
}

// Stores @msg in *errp; an error already set there is a caller bug (QEMU
// asserts the same), because the first, more precise message would be lost.
void set_error(Error **errp, std::string msg)
{
    if (!errp) {
        return;
    }
    if (*errp) {
        fprintf(stderr, "%s: error set twice: '%s' then '%s'\n", g_progname, (*errp)->msg.c_str(),
                msg.c_str());
        abort();
    }
    *errp = new Error{std::move(msg)};
}

}  // namespace

void error_setg(Error **errp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    std::string msg = vformat(fmt, ap);
    va_end(ap);
    set_error(errp, std::move(msg));
}

void error_setg_errno(Error **errp, int os_errno, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    std::string msg = vformat(fmt, ap);
    va_end(ap);
    msg += ": ";
    msg += strerror(os_errno);
    set_error(errp, std::move(msg));
}

void error_prepend(Error **errp, const char *fmt, ...)
{
    if (!errp || !*errp) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    std::string prefix = vformat(fmt, ap);
    va_end(ap);
    (*errp)->msg = prefix + (*errp)->msg;
}

void error_propagate(Error **dst, Error *local)
{
    if (!local) {
        return;
    }
    if (!dst || *dst) {
        delete local;
        return;
    }
    *dst = local;
}

void error_free(Error *err) { delete err; }

const char *error_get_pretty(const Error *err) { return err->msg.c_str(); }

void error_set_progname(const char *name)
{
    const char *slash = strrchr(name, '/');
    g_progname = slash ? slash + 1 : name;
}

const char *error_get_progname(void) { return g_progname; }

static void vreport(const char *kind, const char *fmt, va_list ap)
{
    std::string msg = vformat(fmt, ap);
    fprintf(stderr, "%s: %s%s\n", g_progname, kind, msg.c_str());
}

void error_report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("", fmt, ap);
    va_end(ap);
}

void warn_report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("warning: ", fmt, ap);
    va_end(ap);
}

void error_report_err(Error *err)
{
    error_report("%s", err->msg.c_str());
    error_free(err);
}

// Error reporting for open/create/parse paths (the hot path returns -errno).
// Convention as in QEMU: functions take `Error **errp` last; on failure they
// set *errp (if errp is non-null) and return a negative errno or false.
#pragma once

#include <string>

struct Error {
    std::string msg;
};

// Sets *errp to a new Error with a printf-style message (no trailing newline).
void error_setg(Error **errp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// As error_setg, with ": strerror(os_errno)" appended.
void error_setg_errno(Error **errp, int os_errno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
// Prefixes an existing error's message: "<prefix>: <old message>".
void error_prepend(Error **errp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Moves @local into *dst (frees it if dst is null or already set).
void error_propagate(Error **dst, Error *local);
void error_free(Error *err);
const char *error_get_pretty(const Error *err);

// The program name used as message prefix ("qemu-img-lite").
void error_set_progname(const char *name);
const char *error_get_progname(void);
// Prints "<progname>: <message>\n" to stderr.
void error_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void error_report_err(Error *err);  // prints and frees
void warn_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Owning holder for scopes that may early-return.
struct ErrorPtr {
    Error *err = nullptr;
    ~ErrorPtr() { error_free(err); }
    Error **operator&() { return &err; }
    explicit operator bool() const { return err != nullptr; }
    Error *release()
    {
        Error *e = err;
        err = nullptr;
        return e;
    }
};

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

// Owning holder for an Error a caller receives and must free (the tree's one
// convention, docs/architecture.md "Errors"): `ErrorPtr err; f(..., &err);`
// frees it on every return path.  Hand it on with release() (to
// error_propagate or error_report_err, which take ownership); read it with
// get().  Move-only, so an Error never has two owners.
struct ErrorPtr {
    Error *err = nullptr;  // public for older readers of .err; new code uses get()

    ErrorPtr() = default;
    ErrorPtr(const ErrorPtr &) = delete;
    ErrorPtr &operator=(const ErrorPtr &) = delete;
    ErrorPtr(ErrorPtr &&o) noexcept : err(o.release()) {}
    ErrorPtr &operator=(ErrorPtr &&o) noexcept
    {
        reset(o.release());
        return *this;
    }
    ~ErrorPtr() { error_free(err); }

    // The Error** out-parameter: `f(&err)`.
    Error **operator&() { return &err; }
    explicit operator bool() const { return err != nullptr; }
    Error *get() const { return err; }
    // Gives up ownership: the caller frees (or passes on) the result.
    Error *release()
    {
        Error *e = err;
        err = nullptr;
        return e;
    }
    // Frees the held Error (if any) and holds @e instead.
    void reset(Error *e = nullptr)
    {
        if (e != err) {
            error_free(err);
        }
        err = e;
    }
};

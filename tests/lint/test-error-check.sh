#!/usr/bin/env bash
# Tests scripts/error-check.sh on a scratch tree: ErrorPtr locals and
# util/error.* itself pass; a planted raw `Error *err = nullptr;` local with
# its error_free() must fail with both locations.
# Prints "N passed, N failed" like the iotests runner.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/util" "$tmp/block" "$tmp/build"
cp "$repo/util/error.h" "$repo/util/error.cc" "$tmp/util/"
passed=0 failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }
run() { "$repo/scripts/error-check.sh" "$tmp" 2>&1; }

cat >"$tmp/block/t.cc" <<'CC'
#include "util/error.h"
int open_thing(Error **errp);
int fine(void)
{
    ErrorPtr err;
    GError *gerr = nullptr;  // glib's, not ours
    if (open_thing(&err) < 0) {
        error_report_err(err.release());
        return 1;
    }
    return gerr ? 1 : 0;
}
CC
# Build output is not source: ignored.
printf 'void f(void) { Error *err = nullptr; error_free(err); }\n' >"$tmp/build/gen.cc"
out=$(run); rc=$?
[ $rc -eq 0 ] && ok "clean tree passes" || bad "clean tree passes (rc=$rc: $out)"

cat >>"$tmp/block/t.cc" <<'CC'
int planted(void)
{
    Error *local_err = nullptr;
    if (open_thing(&local_err) < 0) {
        error_report("%s", error_get_pretty(local_err));
        error_free(local_err);
        return 1;
    }
    return 0;
}
CC
out=$(run); rc=$?
if [ $rc -ne 0 ] && grep -q "^block/t.cc:15: raw 'Error \*'" <<<"$out" &&
    grep -q '^block/t.cc:18: error_free() by hand' <<<"$out"; then
    ok "planted raw Error local and error_free fail"
else
    bad "planted raw Error local and error_free fail (rc=$rc: $out)"
fi

cat >"$tmp/block/t.cc" <<'CC'
#include "util/error.h"
void g(void) { Error *e{}; (void)e; }
CC
out=$(run); rc=$?
[ $rc -ne 0 ] && grep -q "^block/t.cc:2: raw 'Error \*'" <<<"$out" && ok "brace-initialised raw local fails" ||
    bad "brace-initialised raw local fails (rc=$rc: $out)"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

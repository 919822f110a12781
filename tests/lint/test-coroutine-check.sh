#!/usr/bin/env bash
# Tests scripts/coroutine-check.py on a scratch copy: a planted violation (a
# plain function calling a coroutine_fn one) must fail with its location;
# coroutine_fn and coroutine_mixed_fn callers and a marked lambda must pass.
# Prints "N passed, N failed" like the iotests runner.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/coroutine"
cp "$repo/coroutine/coroutine.h" "$tmp/coroutine/"
passed=0 failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }

write_db() {  # the compile_commands.json of one file
    cat >"$tmp/compile_commands.json" <<JSON
[{"directory": "$tmp", "file": "$tmp/t.cc",
  "command": "c++ -I$tmp -std=c++20 -c $tmp/t.cc -o t.o"}]
JSON
}
run() { /usr/bin/python3 "$repo/scripts/coroutine-check.py" --root "$tmp" -j 1 "$tmp" 2>&1; }

write_db
cat >"$tmp/t.cc" <<'CC'
#include "coroutine/coroutine.h"
void coroutine_fn fine(void) { qemu_coroutine_yield(); }
void coroutine_mixed_fn mixed(void) { if (qemu_in_coroutine()) fine(); }
template <typename F> void run_in_co(F f) { f(); }
void plain_ok(void) { run_in_co([]() coroutine_fn { fine(); }); }
CC
out=$(run); rc=$?
[ $rc -eq 0 ] && ok "clean tree passes" || bad "clean tree passes (rc=$rc: $out)"

cat >>"$tmp/t.cc" <<'CC'
void planted(void) { fine(); }
CC
out=$(run); rc=$?
if [ $rc -ne 0 ] && grep -q 't.cc:6: planted (not coroutine_fn) calls coroutine_fn fine' <<<"$out"; then
    ok "planted violation fails"
else
    bad "planted violation fails (rc=$rc: $out)"
fi

cat >"$tmp/t.cc" <<'CC'
#include "coroutine/coroutine.h"
template <typename F> void run_in_co(F f) { f(); }
void plain(void) { run_in_co([] { qemu_coroutine_yield(); }); }
CC
out=$(run); rc=$?
[ $rc -ne 0 ] && grep -q 'lambda at line 3 in plain' <<<"$out" && ok "unmarked lambda fails" ||
    bad "unmarked lambda fails (rc=$rc: $out)"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

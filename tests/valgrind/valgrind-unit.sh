#!/usr/bin/env bash
# Runs one unit-test binary under valgrind memcheck: any memory error or
# definite leak fails the test.  Skips (77) when valgrind or the binary is
# missing.   valgrind-unit.sh BINARY
set -u
bin=$1
command -v valgrind >/dev/null || { echo "SKIP: valgrind not installed"; exit 77; }
[ -x "$bin" ] || { echo "SKIP: $bin not built"; exit 77; }
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --track-origins=yes "$bin"

#!/usr/bin/env bash
# The Error ownership convention (docs/architecture.md "Errors"), checked:
# a local that receives an Error is an ErrorPtr, never a raw
# `Error *err = nullptr;` that some path must remember to error_free().
# Fails (exit 1) on either form anywhere outside util/error.{h,cc}, which
# implement them, printing file:line and what to write instead.
# Usage: scripts/error-check.sh [ROOT]   (default: the repository)
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 2

# Every C++ source under ROOT except build directories and util/error.*.
files() {
    find . \( -name 'build*' -o -name '.git' -o -name subprojects \) -prune -o \
        -type f \( -name '*.cc' -o -name '*.h' -o -name '*.cpp' \) -print |
        sed 's|^\./||' | grep -Ev '^util/error\.(h|cc)$' | sort
}

bad=0
while IFS= read -r f; do
    # A raw Error pointer initialised to null: a local (or member) that owns.
    while IFS=: read -r line _; do
        echo "$f:$line: raw 'Error *' initialised to null: hold it in ErrorPtr (util/error.h)"
        bad=$((bad + 1))
    done < <(grep -nE '(^|[^[:alnum:]_])Error[[:space:]]*\*[[:space:]]*[[:alnum:]_]+[[:space:]]*(=[[:space:]]*(nullptr|NULL|0)[[:space:]]*|\{[[:space:]]*(nullptr|NULL|0)?[[:space:]]*\})[;,)]' "$f")
    # A manual free: ErrorPtr's destructor or reset() does it.
    while IFS=: read -r line _; do
        echo "$f:$line: error_free() by hand: let an ErrorPtr own the Error (reset() to drop it early)"
        bad=$((bad + 1))
    done < <(grep -nE '(^|[^[:alnum:]_])error_free[[:space:]]*\(' "$f")
done < <(files)

if [ "$bad" -gt 0 ]; then
    echo "error-check: $bad violation(s) of the Error ownership convention (docs/architecture.md \"Errors\")"
    exit 1
fi
echo "error-check: ok"

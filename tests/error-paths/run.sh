#!/usr/bin/env bash
# Error-path sweep (issue 17): every qemu-img-lite subcommand, qemu-io-lite
# and qemu-nbd-lite with EIO (5) and ENOSPC (28) injected through blkdebug
# at each event the path passes, once and always, on source, target and
# backing file.  Each case must end without a crash or a hang, with QEMU
# 7.2's exit code and messages (the same command run with the installed
# qemu-img/qemu-io/qemu-nbd), and leave the written image no worse under
# real `qemu-img check` than QEMU leaves it.  Without the reference tools
# only the first holds.
#
#   run.sh BUILD_DIR [discover] [ID_REGEX]
#
# Prints one line per failing case and ends with "N passed, N failed".
# discover: prints the events that change the outcome of each command
# (the source of events.txt).  EP_JOBS (default 2) cases run at once;
# EP_SAMPLE=N runs every Nth case only.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR [discover] [ID_REGEX]}" && pwd)
mode=check
[ "${2:-}" = discover ] && { mode=discover; shift; }
filter=${2:-.}

for t in qemu-img-lite/qemu-img-lite qemu-io-lite/qemu-io-lite qemu-nbd-lite/qemu-nbd-lite; do
    [ -x "$build/$t" ] || { echo "error-paths: $build/$t not built"; echo "0 passed, 1 failed"; exit 1; }
done
ref=0
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null && command -v qemu-nbd >/dev/null && ref=1
work=$(mktemp -d "${TMPDIR:-/tmp}/error-paths.XXXXXX")
[ -d /dev/shm ] && [ -w /dev/shm ] && { rm -rf "$work"; work=$(mktemp -d /dev/shm/error-paths.XXXXXX); }
trap 'rm -rf "$work"' EXIT
tpl=$work/tpl
mkdir -p "$tpl"

# Templates, made with QEMU's tools when installed (so the images are
# QEMU's), else ours.
img=qemu-img io=qemu-io
[ $ref = 1 ] || { img=$build/qemu-img-lite/qemu-img-lite; io=$build/qemu-io-lite/qemu-io-lite; }
(
    cd "$tpl" || exit 1
    set -e
    $img create -q -f qcow2 src.qcow2 2M
    $io -f qcow2 -c 'write -P 0xa 0 192k' -c 'write -P 0xb 1M 64k' src.qcow2 >/dev/null
    cp src.qcow2 src2.qcow2
    $img convert -c -O qcow2 src.qcow2 srcc.qcow2
    $img snapshot -c s1 src.qcow2
    $img create -q -f qcow2 base.qcow2 2M
    $io -f qcow2 -c 'write -P 0xc 0 2M' base.qcow2 >/dev/null
    $img create -q -f qcow2 -b base.qcow2 -F qcow2 ovl.qcow2
    $io -f qcow2 -c 'write -P 0xd 512k 64k' -c 'write -P 0xd 1536k 128k' ovl.qcow2 >/dev/null
    cp ovl.qcow2 ovlb.qcow2
    $img rebase -u -f qcow2 -b blkdebug:e.cfg:base.qcow2 -F qcow2 ovlb.qcow2
    $img create -q -f qcow2 nbase.qcow2 2M
    $io -f qcow2 -c 'write -P 0xe 0 1M' nbase.qcow2 >/dev/null
    $img create -q -f qcow2 dst.qcow2 2M
    truncate -s 2M dst.raw
    # A leaked cluster: one more cluster at the end with refcount 1.
    cp src2.qcow2 leaky.qcow2
    python3 "$here/make-leak.py" leaky.qcow2
    : >e.cfg
) || { echo "error-paths: cannot make the template images"; echo "0 passed, 1 failed"; exit 1; }

export EP_TPL=$tpl EP_WORK=$work EP_BUILD=$build EP_REF=$ref EP_MODE=$mode
args=()
[ $mode = discover ] && args=(--all-events)
start=$(date +%s)
# EP_SAMPLE=N runs every Nth case (the sanitizer build, whose tools are
# several times slower, takes a third in make check).
python3 "$here/gen-cases.py" "${args[@]}" | grep -E -- "$filter" |
    awk -v n="${EP_SAMPLE:-1}" '(NR - 1) % n == 0' >"$work/cases"
total=$(wc -l <"$work/cases")
tr '\n' '\0' <"$work/cases" |
    xargs -0 -P "${EP_JOBS:-2}" -n 1 "$here/run-case.sh" >"$work/results"
end=$(date +%s)
if [ $mode = discover ]; then
    # "command event..." lines, for events.txt.
    sed -n 's/^AFFECTED //p' "$work/results" | sed -E 's#^([^/]*)/(.*)-5-off$#\1 \2#' |
        awk '{e[$1] = e[$1] " " $2} END {for (c in e) print c e[c]}' | sort
    exit 0
fi
# Differences from QEMU that are not crashes, hangs or a worse image and
# whose cause is known and owned elsewhere are listed (with the reason) in
# known-differences.txt; they are printed and counted apart, not failed.
known_re=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/known-differences.txt" | awk '{print $1}' |
    paste -sd'|' -)
: >"$work/known"
: >"$work/failed"
while IFS= read -r line; do
    id=${line#FAIL }; id=${id%%: *}
    if [ -n "$known_re" ] && [[ $line != *"crash or hang"* ]] && [[ $line != *"target worse"* ]] &&
        grep -q -E "^($known_re)\$" <<<"$id"; then
        echo "$line" >>"$work/known"
    else
        echo "$line" >>"$work/failed"
    fi
done < <(grep '^FAIL' "$work/results" | sort)
sort "$work/failed"
known=$(wc -l <"$work/known")
[ "$known" -gt 0 ] && [ -n "${EP_VERBOSE:-}" ] && sed 's/^FAIL/KNOWN/' "$work/known"
passed=$(grep -c '^PASS' "$work/results")
failed=$(wc -l <"$work/failed")
leaks=$(grep -c '^LEAK' "$work/results")
[ $((passed + known + failed)) -eq "$total" ] || failed=$((total - passed - known))
[ $ref = 1 ] || echo "error-paths: no QEMU reference tools: crash and hang checks only"
echo "error-paths: $total cases in $((end - start)) s; $known known differences from QEMU," \
    "$leaks images with leaks where QEMU leaves none (listed with EP_VERBOSE=1)"
[ -n "${EP_VERBOSE:-}" ] && grep '^LEAK' "$work/results" | sort
passed=$((passed + known))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

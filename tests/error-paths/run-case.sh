#!/usr/bin/env bash
# One case of the error-path sweep (see run.sh): runs the command with our
# tool and, when installed, with QEMU 7.2's, each in a fresh copy of the
# template images with the same blkdebug rule, and prints one line:
#   PASS id | FAIL id: why | AFFECTED id (discover mode: the rule changed
#   the outcome of either tool, compared with no rule)
# Environment: EP_TPL (templates), EP_WORK (scratch), EP_BUILD (build dir),
# EP_REF (1 when the reference tools are installed), EP_MODE (check|discover),
# EP_KEEP (keep the scratch directory of failing cases).
set -u
IFS=';' read -r id tool judge event errno once cmd <<<"$1"
case_dir=$EP_WORK/${id//\//_}
mkdir -p "$case_dir"
timeout_s=${EP_TIMEOUT:-30}

lite_bin() {
    case $1 in
        img) echo "$EP_BUILD/qemu-img-lite/qemu-img-lite" ;;
        io) echo "$EP_BUILD/qemu-io-lite/qemu-io-lite" ;;
        nbd) echo "$EP_BUILD/qemu-nbd-lite/qemu-nbd-lite" ;;
    esac
}
ref_bin() {
    case $1 in img) echo qemu-img ;; io) echo qemu-io ;; nbd) echo qemu-nbd ;; esac
}
# The NBD client is QEMU's qemu-io when installed (it is the judge of what
# the server sends), else ours.
nbd_client=qemu-io
[ "$EP_REF" = 1 ] || nbd_client=$(lite_bin io)

# run SIDE BIN RULE: runs the case in $case_dir/SIDE; leaves rc, out, err.
run() {
    local side=$1 bin=$2 rule=$3 d=$case_dir/$1
    rm -rf "$d"
    cp -r "$EP_TPL" "$d"
    if [ "$rule" = 1 ]; then
        printf '[inject-error]\nevent = "%s"\nerrno = "%s"\nonce = "%s"\n' \
            "$event" "$errno" "$once" >"$d/e.cfg"
    else
        : >"$d/e.cfg"
    fi
    local rc
    if [ "$tool" = nbd ]; then
        local img=${cmd%% *} io=${cmd#* } srv
        (cd "$d" && exec timeout -s KILL "$timeout_s" "$bin" -f qcow2 -k "$d/sock" "$img" \
            >"$d/srv.out" 2>"$d/srv.err") &
        srv=$!
        for _ in $(seq 100); do [ -S "$d/sock" ] && break; sleep 0.05; done
        (cd "$d" && eval "timeout -s KILL $timeout_s $nbd_client -f raw $io" \
            "'nbd+unix:///?socket=$d/sock'" >"$d/out" 2>"$d/err")
        rc=$?
        wait "$srv"
        local src=$?
        # The server's own end counts too: a crash there is a crash.
        [ $src -ge 124 ] && rc=$src
        cat "$d/srv.err" >>"$d/err"
    else
        (cd "$d" && eval "timeout -s KILL $timeout_s \"$bin\" $cmd" >"$d/out" 2>"$d/err")
        rc=$?
    fi
    echo "$rc" >"$d/rc"
    messages "$side" >"$d/msg"
}

# Messages as compared: tool names and numbers normalized, each distinct
# line once (parallel workers report in any order and number); qemu-io's
# errors are on stdout.
messages() {
    local d=$case_dir/$1
    { cat "$d/err"; [ "$tool" = img ] || grep -E -i 'fail|error|denied|No space' "$d/out"; } |
        sed -E 's/qemu-(img|io|nbd)-lite/qemu-\1/g; s#'"$d"'#DIR#g; s/[0-9]+/N/g' | sort -u
}

crashed() {  # side
    local d=$case_dir/$1 rc
    rc=$(cat "$d/rc")
    if [ "$rc" -ge 124 ] || grep -q -E 'Sanitizer|runtime error|qemu_coroutine|Aborted|terminate called' "$d/err"; then
        return 0
    fi
    return 1
}

# Real qemu-img check's verdict on the judged image: 0 clean, 1 leaks,
# 2 corruption, 3 unreadable.
severity() {
    local d=$case_dir/$1 rc
    qemu-img check -f qcow2 "$d/$judge" >/dev/null 2>&1
    rc=$?
    case $rc in 0) echo 0 ;; 3) echo 1 ;; 2) echo 2 ;; *) echo 3 ;; esac
}
# Leaked clusters (wasted space, no harm to data: `check -r leaks` frees
# them) are no worse than a clean image for the verdict; a case where ours
# leaks and QEMU does not is counted apart (LEAK line).
leak_note=
verdict() {  # severity -> class
    [ "$1" -le 1 ] && echo 0 || echo "$1"
}

fail() {
    echo "FAIL $id: $*"
    [ -n "${EP_KEEP:-}" ] || rm -rf "$case_dir"
    exit 0
}

if [ "$EP_MODE" = discover ]; then
    changed=0
    for t in lite ref; do
        [ $t = ref ] && [ "$EP_REF" != 1 ] && continue
        if [ $t = lite ]; then bin=$(lite_bin "$tool"); else bin=$(ref_bin "$tool"); fi
        run $t "$bin" 1
        a="$(cat "$case_dir/$t/rc" "$case_dir/$t/msg")"
        run $t "$bin" 0
        b="$(cat "$case_dir/$t/rc" "$case_dir/$t/msg")"
        [ "$a" != "$b" ] && changed=1
    done
    rm -rf "$case_dir"
    [ $changed = 1 ] && echo "AFFECTED $id"
    exit 0
fi

run lite "$(lite_bin "$tool")" 1
crashed lite && fail "crash or hang (exit $(cat "$case_dir/lite/rc")): $(grep -m2 . "$case_dir/lite/err" | tr '\n' ' ')"
if [ "$EP_REF" = 1 ]; then
    run ref "$(ref_bin "$tool")" 1
    lrc=$(cat "$case_dir/lite/rc") rrc=$(cat "$case_dir/ref/rc")
    [ "$lrc" = "$rrc" ] || fail "exit $lrc, QEMU $rrc: $(head -3 "$case_dir/lite/msg" | tr '\n' ' ')| QEMU: $(head -3 "$case_dir/ref/msg" | tr '\n' ' ')"
    cmp -s "$case_dir/lite/msg" "$case_dir/ref/msg" ||
        fail "messages differ: $(diff "$case_dir/ref/msg" "$case_dir/lite/msg" | grep '^[<>]' | head -4 | tr '\n' ' ')"
    if [ "$judge" != - ]; then
        ls=$(severity lite) rs=$(severity ref)
        [ "$(verdict "$ls")" -le "$(verdict "$rs")" ] ||
            fail "target worse under qemu-img check: $ls, QEMU $rs (0 clean, 1 leaks, 2 corrupt, 3 unreadable)"
        [ "$ls" = 1 ] && [ "$rs" = 0 ] && leak_note=1
    fi
fi
rm -rf "$case_dir"
echo "PASS $id"
[ -n "$leak_note" ] && echo "LEAK $id"
exit 0

#!/usr/bin/env bash
# A throwaway single-node Ceph cluster for the rbd tests and bench:
# one ceph-mon and one memstore ceph-osd, no mgr, no auth, pool "rbd" of
# size 1, everything (conf, keyring, data, logs, sockets, pid files) in DIR,
# daemons bound to 127.0.0.1 on ports chosen per run.
#
#   tests/rbd/cluster.sh start DIR   # prints nothing on success; DIR/ceph.conf
#   tests/rbd/cluster.sh stop DIR    # TERMs the daemons by their pid files
#
# stop only signals a pid whose command line names DIR/ceph.conf, so a stale
# pid file never hits another process.  Times measured on 2 cores: start
# ~8 s, stop ~4 s.  See docs/remote-storage.md.
set -uo pipefail

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

missing_bins() {
    local b
    for b in ceph-mon ceph-osd ceph rbd ceph-authtool monmaptool uuidgen; do
        command -v "$b" >/dev/null || echo "$b"
    done
}

stop_pid() {  # pidfile
    local f=$1 pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f" 2>/dev/null)
    [ -n "$pid" ] || return 0
    if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$dir/ceph.conf"; then
        kill -TERM "$pid" 2>/dev/null
        for i in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$f"
}

do_stop() {
    [ -d "$dir" ] || return 0
    dir=$(cd "$dir" && pwd)
    stop_pid "$dir/osd.pid"
    stop_pid "$dir/mon.pid"
}

port_free() {  # port
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

do_start() {
    local m
    m=$(missing_bins)
    if [ -n "$m" ]; then
        echo "missing:" $m >&2
        return 3
    fi
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd)
    local pb tries=0
    while :; do
        pb=$((21000 + (RANDOM % 400) * 100))
        port_free "$pb" && port_free $((pb + 1)) && break
        tries=$((tries + 1))
        [ $tries -lt 20 ] || { echo "no free port" >&2; return 1; }
    done
    local fsid; fsid=$(uuidgen)
    mkdir -p "$dir/mon" "$dir/osd" "$dir/run" "$dir/log"
    cat >"$dir/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$pb,v1:127.0.0.1:$((pb + 1))]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind port min = $((pb + 10))
ms bind port max = $((pb + 99))
auth cluster required = none
auth service required = none
auth client required = none
keyring = $dir/keyring
run dir = $dir/run
log file = $dir/log/\$name.log
admin socket = $dir/run/\$name.asok
pid file = $dir/\$type.pid
chdir = $dir
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 2
mon data avail crit = 1
osd objectstore = memstore
memstore device bytes = 2147483648
osd memory target = 939524096
mon memory target = 134217728
rocksdb cache size = 33554432
osd op num shards = 2
osd op num threads per shard = 1
[mon]
mon data = $dir/mon/\$cluster-\$id
[osd]
osd data = $dir/osd/\$cluster-\$id
CONF
    local c="$dir/ceph.conf"
    ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null || return 1
    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$pb,v1:127.0.0.1:$((pb + 1))]" \
        "$dir/monmap" >/dev/null || return 1
    ceph-mon -c "$c" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" >/dev/null 2>&1 ||
        { echo "ceph-mon --mkfs failed" >&2; return 1; }
    ceph-mon -c "$c" -i a || { echo "ceph-mon failed to start" >&2; return 1; }
    local uuid id i
    uuid=$(uuidgen)
    id=$(timeout 30 ceph -c "$c" osd new "$uuid" 2>/dev/null) || { echo "ceph osd new failed" >&2; return 1; }
    mkdir -p "$dir/osd/ceph-$id"
    ceph-osd -c "$c" -i "$id" --mkfs --osd-uuid "$uuid" >/dev/null 2>&1 ||
        { echo "ceph-osd --mkfs failed" >&2; return 1; }
    ceph-osd -c "$c" -i "$id" 2>>"$dir/log/osd-start.log" || { echo "ceph-osd failed to start" >&2; return 1; }
    for i in $(seq 1 300); do
        timeout 10 ceph -c "$c" osd dump 2>/dev/null | grep -q "^osd\.$id up *in" && break
        sleep 0.2
    done
    timeout 10 ceph -c "$c" osd dump 2>/dev/null | grep -q "^osd\.$id up *in" ||
        { echo "osd.$id did not come up" >&2; return 1; }
    timeout 60 ceph -c "$c" osd pool create rbd 8 >/dev/null 2>&1 ||
        { echo "pool create failed" >&2; return 1; }
    timeout 60 rbd -c "$c" pool init rbd || { echo "rbd pool init failed" >&2; return 1; }
}

case $cmd in
    start)
        do_start
        rc=$?
        if [ $rc -ne 0 ] && [ $rc -ne 3 ]; then do_stop; fi
        exit $rc ;;
    stop) do_stop ;;
    *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac

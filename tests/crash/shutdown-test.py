#!/usr/bin/env python3
"""Durability across shutdown (issue 23).

    shutdown-test.py BUILD_DIR MODE [ITERATIONS]

MODE
  signals   a guest (shutdown-guest.asm) writes N sectors at random LBAs
            through INT 13h and halts; once it printed DONE, the VM gets 1, 2
            or 3 termination signals (SIGTERM/SIGINT/SIGHUP) at random
            moments.  qemu-system-lite must exit 0 with QEMU's "terminating
            on signal" line, the image must be clean for the real
            `qemu-img check`, and every acknowledged sector must read back
            (real qemu-io, read -P).  Iterations cycle over IDE/virtio-blk x
            raw/qcow2 (4 KiB and 64 KiB clusters).  One iteration in 10 the
            guest ends the VM itself through the exit device (status 1), one
            in 10 through a reset under -no-reboot (status 0).
  flush     the same guest flushes (ATA FLUSH CACHE / VIRTIO_BLK_T_FLUSH)
            after its writes and is killed with SIGKILL after DONE: every
            flushed sector must read back; leaks are allowed if
            qemu-img-lite check -r leaks repairs them.  One iteration in 4
            runs with cache=writethrough and no flush: every acknowledged
            sector must read back.
  nbd       qemu-nbd-lite serves a raw or qcow2 image to the real qemu-io,
            which writes 4 KiB blocks (and flushes now and then); the server
            gets 1 or 2 SIGTERMs mid-workload and must exit 0 with every
            acknowledged write in the image.
  convert   qemu-img-lite convert -O qcow2 is killed (SIGTERM, SIGINT or
            SIGKILL: the tools keep the default disposition, as QEMU's) at a
            random moment; the real qemu-img check may find leaks only, which
            qemu-img-lite check -r leaks must repair.

Two iterations run side by side (SHUTDOWN_JOBS).  SHUTDOWN_SEED fixes the
plans (not the timing).  QEMU_SYSTEM, QEMU_NBD, QEMU_IMG_LITE override the
binaries (to watch an old build fail).  SHUTDOWN_NO_FLUSH=1 makes the flush
guest skip its flush and SHUTDOWN_NBD_KILL=1 sends qemu-nbd-lite SIGKILL
instead of SIGTERM (negative controls: qcow2 writes are then lost).
SHUTDOWN_HANG_CORE=1 saves gdb backtraces of a guest that never prints DONE
(BUILD_DIR/shutdown-hang-N.txt).  Exit 0, 1 on any violation, 77 when a tool
is missing.
"""
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

SECTOR = 512
DISK_SIZE = 4 << 30          # sparse; random LBAs spread over many L2 tables
PLAN_OFFSET = 4 * SECTOR     # LBA 4 (shutdown-guest.asm)
TERM_SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


class Ctx:
    def __init__(self, build, mode, iters):
        self.build, self.mode, self.iters = build, mode, iters
        src = os.path.dirname(os.path.abspath(__file__))
        self.src = src
        self.qsys = os.environ.get("QEMU_SYSTEM", f"{build}/qemu-system-lite/qemu-system-lite")
        self.qnbd = os.environ.get("QEMU_NBD", f"{build}/qemu-nbd-lite/qemu-nbd-lite")
        self.qimg_lite = os.environ.get("QEMU_IMG_LITE", f"{build}/qemu-img-lite/qemu-img-lite")
        need = {"signals": [self.qsys, self.qimg_lite], "flush": [self.qsys, self.qimg_lite],
                "nbd": [self.qnbd, self.qimg_lite], "convert": [self.qimg_lite]}[mode]
        for t in need:
            if not os.access(t, os.X_OK):
                skip(f"{t} not built")
        for t in ["qemu-img", "qemu-io"] + (["nasm"] if mode in ("signals", "flush") else []):
            if not shutil.which(t):
                skip(f"{t} not installed")
        tmp = os.environ.get("TMPDIR") or ("/dev/shm" if os.access("/dev/shm", os.W_OK) else "/tmp")
        self.dir = tempfile.mkdtemp(prefix="shutdown-", dir=tmp)
        seed = int(os.environ.get("SHUTDOWN_SEED", "0")) or random.randrange(1, 1 << 31)
        self.seed = seed
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.failures = []
        self.stats = {}

    def count(self, key, n=1):
        with self.lock:
            self.stats[key] = self.stats.get(key, 0) + n

    def fail(self, i, what, keep=None):
        with self.lock:
            self.failures.append(f"iteration {i}: {what}")
            print(f"FAIL iteration {i}: {what}", flush=True)
            # Kept for a post-mortem unless it is a 4 GiB raw disk.
            if keep and os.path.exists(keep) and not keep.endswith(".raw"):
                shutil.copy(keep, f"{self.build}/shutdown-fail-{self.mode}-{i}{os.path.splitext(keep)[1]}")


def run(args, **kw):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def check_image(ctx, i, img, fmt, allow_leaks):
    """Real qemu-img check; leaks repaired by qemu-img-lite when allowed."""
    if fmt != "qcow2":
        return True
    r = run(["qemu-img", "check", "-q", img])
    if r.returncode == 3 and allow_leaks:
        ctx.count("leaky images")
        rr = run([ctx.qimg_lite, "check", "-q", "-r", "leaks", img])
        r = run(["qemu-img", "check", "-q", img])
        if r.returncode != 0:
            ctx.fail(i, f"leaks not repaired by qemu-img-lite check -r leaks ({rr.stdout.strip()})", img)
            return False
    if r.returncode != 0:
        ctx.fail(i, f"qemu-img check exit {r.returncode}: {r.stdout.strip()}", img)
        return False
    return True


def verify(ctx, i, img, fmt, writes):
    """writes: [(offset, length, pattern)].  Returns the number lost."""
    if not writes:
        return 0
    args = ["qemu-io", "-r", "-f", fmt]
    for off, length, pat in writes:
        args += ["-c", f"read -P 0x{pat:02x} {off} {length}"]
    r = run(args + ["-U", img])
    lost = len(re.findall(r"Pattern verification failed", r.stdout))
    if r.returncode != 0 and not lost:
        lost = len(writes)  # could not even open the image
    if lost or r.returncode != 0:
        ctx.fail(i, f"{lost} of {len(writes)} acknowledged writes lost (qemu-io exit {r.returncode})", img)
    ctx.count("sectors verified" if ctx.mode in ("signals", "flush") else "writes verified", len(writes))
    return lost


# ------------------------------------------------------------- guest modes

def guest_templates(ctx):
    """Boot code + a dummy plan, as raw and as qcow2 (4 KiB, 64 KiB)."""
    code = os.path.join(ctx.dir, "guest.bin")
    r = run(["nasm", "-f", "bin", "-i", os.path.join(ctx.src, "../boot/") + "/", "-o", code,
             os.path.join(ctx.src, "shutdown-guest.asm")])
    if r.returncode:
        sys.exit("nasm: " + r.stdout)
    with open(code, "rb") as f:
        boot = f.read()
    raw = os.path.join(ctx.dir, "template.raw")
    with open(raw, "wb") as f:
        f.truncate(DISK_SIZE)
        f.write(boot)
        f.seek(PLAN_OFFSET)
        f.write(b"\xff" * 2048)  # allocated in the qcow2 templates
    ctx.templates = {"raw": (raw, PLAN_OFFSET)}
    for cs in (4096, 65536):
        q = os.path.join(ctx.dir, f"template-{cs}.qcow2")
        r = run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", f"cluster_size={cs}", raw, q])
        if r.returncode:
            sys.exit("qemu-img convert: " + r.stdout)
        m = run(["qemu-img", "map", "-f", "qcow2", "--output=human", q])
        # "Offset Length Mapped to File": guest 0 is in the first line.
        host = None
        for line in m.stdout.splitlines()[1:]:
            f = line.split()
            if int(f[0], 16) <= PLAN_OFFSET < int(f[0], 16) + int(f[1], 16):
                host = int(f[2], 16) + PLAN_OFFSET - int(f[0], 16)
        if host is None:
            sys.exit("qemu-img map: plan not allocated\n" + m.stdout)
        ctx.templates[f"qcow2-{cs}"] = (q, host)


def make_guest_image(ctx, w, kind, plan):
    tmpl, plan_host = ctx.templates[kind]
    img = os.path.join(w, "disk.qcow2" if kind.startswith("qcow2") else "disk.raw")
    if kind == "raw":
        with open(img, "wb") as f:  # sparse copy of the boot code
            f.truncate(DISK_SIZE)
            with open(tmpl, "rb") as t:
                f.write(t.read(PLAN_OFFSET))
    else:
        shutil.copyfile(tmpl, img)
    with open(img, "r+b") as f:
        f.seek(plan_host)
        f.write(plan)
    return img


def wait_for(path, needle, proc, deadline):
    while True:
        with open(path, "rb") as f:
            data = f.read()
        if needle in data or b"FAILED" in data or proc.poll() is not None or time.monotonic() > deadline:
            return data
        time.sleep(0.002)


def guest_iteration(ctx, i, rng):
    iface = ("ide", "virtio")[i % 2]
    kind = ("raw", "qcow2-65536", "raw", "qcow2-4096")[(i // 2) % 4]
    fmt = "raw" if kind == "raw" else "qcow2"
    flush = ctx.mode == "flush"
    n = rng.randint(8, 64)
    lbas = rng.sample(range(64, DISK_SIZE // SECTOR), n)
    pats = [rng.randrange(1, 256) for _ in lbas]
    # A quarter of the flush iterations run cache=writethrough with a guest
    # that never flushes: every acknowledged write must survive SIGKILL.
    writethrough = flush and (i // 8) % 4 == 3
    do_flush = flush and not writethrough and os.environ.get("SHUTDOWN_NO_FLUSH") != "1"
    # One signals iteration in 10 ends through the exit device, one through
    # a guest reset under -no-reboot: the other machine shutdown paths.
    guest_end = None if flush else {4: "exit device", 9: "reset"}.get(i % 10)
    flags = (1 if do_flush else 0) | {None: 0, "exit device": 2, "reset": 4}[guest_end]
    plan = b"PLAN" + struct.pack("<III", n, flags | ((1 if iface == "ide" else 2) << 8), 0)
    for lba, p in zip(lbas, pats):
        plan += struct.pack("<IBxxx", lba, p)
    w = tempfile.mkdtemp(dir=ctx.dir)
    img = make_guest_image(ctx, w, kind, plan)
    serial = os.path.join(w, "serial.log")
    open(serial, "w").close()
    err = open(os.path.join(w, "stderr.log"), "w+")
    proc = subprocess.Popen([ctx.qsys, "-display", "none", "-m", "32M", "-no-reboot", "-serial", f"file:{serial}",
                             "-drive", f"file={img},format={fmt},if={iface}" +
                             (",cache=writethrough" if writethrough else "")],
                            stdout=subprocess.DEVNULL, stderr=err)
    data = wait_for(serial, b"DONE", proc, time.monotonic() + 30)
    if b"DONE" not in data:
        if proc.poll() is None and os.environ.get("SHUTDOWN_HANG_CORE") == "1":
            subprocess.run(["gdb", "-p", str(proc.pid), "-batch", "-ex", "thread apply all bt"],
                           stdout=open(os.path.join(ctx.build, f"shutdown-hang-{i}.txt"), "w"),
                           stderr=subprocess.STDOUT)
        proc.kill()
        proc.wait()
        err.seek(0)
        ctx.fail(i, f"guest did not finish ({iface}, {kind}): {data!r} {err.read()!r}")
        return
    time.sleep(rng.uniform(0, 0.03))
    nsig = 0
    if guest_end:
        pass
    elif flush:
        proc.kill()
    else:
        nsig = rng.randint(1, 3)
        for k in range(nsig):
            try:
                proc.send_signal(rng.choice(TERM_SIGNALS))
            except ProcessLookupError:
                break
            if k + 1 < nsig:
                time.sleep(rng.choice((0, 0, rng.uniform(0, 0.005))))
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        ctx.fail(i, "qemu-system-lite did not exit within 30 s of the signal")
        return
    err.seek(0)
    msg = err.read()
    ctx.count(f"{iface}/{kind}")
    ctx.count(guest_end if guest_end else f"{nsig} signal(s)" if not flush else
              "SIGKILL after a flush" if do_flush else
              "SIGKILL, writethrough" if writethrough else "SIGKILL, no flush")
    if guest_end:
        want = 1 if guest_end == "exit device" else 0  # (0 << 1) | 1; -no-reboot: 0
        if rc != want:
            ctx.fail(i, f"{guest_end}, {iface}, {kind}: exit status {rc}, expected {want}, stderr {msg!r}", img)
    elif not flush:
        if rc != 0 or "terminating on signal" not in msg:
            ctx.fail(i, f"{nsig} signal(s), {iface}, {kind}: exit status {rc}, stderr {msg!r}", img)
    check_image(ctx, i, img, fmt, allow_leaks=flush)
    lost = verify(ctx, i, img, fmt, [(lba * SECTOR, SECTOR, p) for lba, p in zip(lbas, pats)])
    ctx.count("sectors lost", lost)
    shutil.rmtree(w, ignore_errors=True)


# --------------------------------------------------------------- qemu-nbd

NBD_SIZE = 64 << 20
NBD_WRITES = 256


def nbd_templates(ctx):
    ctx.templates = {}
    ctx.window = 0.3
    for fmt in ("raw", "qcow2"):
        t = os.path.join(ctx.dir, f"nbd-template.{fmt}")
        r = run(["qemu-img", "create", "-q", "-f", fmt, t, str(NBD_SIZE)])
        if r.returncode:
            sys.exit("qemu-img create: " + r.stdout)
        ctx.templates[fmt] = t


def nbd_iteration(ctx, i, rng):
    fmt = ("raw", "qcow2")[i % 2]
    w = tempfile.mkdtemp(dir=ctx.dir)
    img = os.path.join(w, "disk." + fmt)
    shutil.copyfile(ctx.templates[fmt], img)
    sock = os.path.join(w, "nbd.sock")
    err = open(os.path.join(w, "nbd.log"), "w+")
    srv = subprocess.Popen([ctx.qnbd, "-f", fmt, "-k", sock, "-t", img], stdout=err, stderr=err)
    deadline = time.monotonic() + 20
    while not os.path.exists(sock) and time.monotonic() < deadline and srv.poll() is None:
        time.sleep(0.002)
    if not os.path.exists(sock):
        srv.kill()
        srv.wait()
        ctx.fail(i, "qemu-nbd-lite did not start")
        return
    slots = rng.sample(range(NBD_SIZE // 4096), NBD_WRITES)
    writes = [(s * 4096, 4096, rng.randrange(1, 256)) for s in slots]
    args = ["qemu-io", "-f", "raw"]
    for k, (off, length, pat) in enumerate(writes):
        args += ["-c", f"write -P 0x{pat:02x} {off} {length}"]
        if k % 16 == 15:
            args += ["-c", "flush"]
    log = os.path.join(w, "client.log")
    with open(log, "w") as out:
        cli = subprocess.Popen(args + [f"nbd+unix:///?socket={sock}"], stdout=out, stderr=subprocess.STDOUT)
        # Aim inside the workload whatever the load: the window narrows
        # after a run the client finished first and widens after a cut.
        # One iteration in 8 signals the server at once: while it may still
        # be opening the image (its socket exists before that).
        time.sleep(0 if i % 8 == 7 else rng.uniform(0.02, ctx.window))
        nsig = rng.randint(1, 2)
        for k in range(nsig):
            try:
                srv.send_signal(signal.SIGKILL if os.environ.get("SHUTDOWN_NBD_KILL") == "1" else signal.SIGTERM)
            except ProcessLookupError:
                break
            if k + 1 < nsig:
                time.sleep(rng.choice((0, rng.uniform(0, 0.005))))
        try:
            rc = srv.wait(timeout=30)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()
            ctx.fail(i, "qemu-nbd-lite did not exit within 30 s of SIGTERM")
            cli.kill()
            cli.wait()
            return
        try:
            cli.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cli.kill()
            cli.wait()
    if rc != 0:
        err.seek(0)
        ctx.fail(i, f"qemu-nbd-lite exit status {rc} after {nsig} SIGTERM(s): {err.read()!r}", img)
    with open(log) as f:
        done = {int(m.group(1)) for m in re.finditer(r"^wrote \d+/\d+ bytes at offset (\d+)", f.read(), re.M)}
    acked = [wr for wr in writes if wr[0] in done]
    ctx.count(f"{fmt}")
    ctx.count(f"{nsig} SIGTERM(s)")
    cut = len(acked) < len(writes)
    ctx.count("cut mid-workload" if cut else "workload finished first")
    with ctx.lock:
        ctx.window = max(0.03, ctx.window * (1.05 if cut else 0.85))
    check_image(ctx, i, img, fmt, allow_leaks=False)
    ctx.count("writes lost", verify(ctx, i, img, fmt, acked))
    shutil.rmtree(w, ignore_errors=True)


# ---------------------------------------------------------------- convert

CONVERT_SIZE = 48 << 20


def convert_templates(ctx):
    src = os.path.join(ctx.dir, "src.raw")
    rng = random.Random(ctx.seed)
    with open(src, "wb") as f:
        f.truncate(CONVERT_SIZE)
        for k in range(0, CONVERT_SIZE, 256 << 10):  # data in 3 of 4 256 KiB runs
            if rng.random() < 0.75:
                f.seek(k)
                f.write(rng.randbytes(256 << 10))
    ctx.templates = {"src": src}
    # How long an uninterrupted convert takes, to aim the kills inside it.
    t = time.monotonic()
    r = run([ctx.qimg_lite, "convert", "-f", "raw", "-O", "qcow2", src, os.path.join(ctx.dir, "full.qcow2")])
    if r.returncode:
        sys.exit("qemu-img-lite convert: " + r.stdout)
    ctx.convert_time = time.monotonic() - t


def convert_iteration(ctx, i, rng):
    w = tempfile.mkdtemp(dir=ctx.dir)
    dst = os.path.join(w, "dst.qcow2")
    cs = rng.choice((4096, 65536))
    sig = (signal.SIGTERM, signal.SIGINT, signal.SIGKILL)[i % 3]
    proc = subprocess.Popen([ctx.qimg_lite, "convert", "-f", "raw", "-O", "qcow2", "-o", f"cluster_size={cs}",
                             ctx.templates["src"], dst], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0, ctx.convert_time * 1.1))
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass
    rc = proc.wait()
    ctx.count("killed" if rc < 0 else "finished first")
    # A kill before the header is complete leaves no image at all (QEMU's
    # create writes the file, then the header): nothing to check.
    with open(dst, "rb") if os.path.exists(dst) else open(os.devnull, "rb") as f:
        head = f.read(104)
    if len(head) < 104 or head[:4] != b"QFI\xfb":
        ctx.count("killed before the header was written")
    elif check_image(ctx, i, dst, "qcow2", allow_leaks=True):
        ctx.count("images checked")
    shutil.rmtree(w, ignore_errors=True)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    build, mode = os.path.abspath(sys.argv[1]), sys.argv[2]
    defaults = {"signals": 200, "flush": 80, "nbd": 40, "convert": 60}
    if mode not in defaults:
        sys.exit(__doc__)
    iters = int(sys.argv[3]) if len(sys.argv) > 3 else defaults[mode]
    ctx = Ctx(build, mode, iters)
    start = time.monotonic()
    try:
        {"signals": guest_templates, "flush": guest_templates, "nbd": nbd_templates,
         "convert": convert_templates}[mode](ctx)
        body = {"signals": guest_iteration, "flush": guest_iteration, "nbd": nbd_iteration,
                "convert": convert_iteration}[mode]
        rngs = [random.Random(ctx.rng.randrange(1 << 62)) for _ in range(iters)]
        with ThreadPoolExecutor(int(os.environ.get("SHUTDOWN_JOBS", "2"))) as ex:
            for f in [ex.submit(body, ctx, i, rngs[i]) for i in range(iters)]:
                f.result()
    finally:
        shutil.rmtree(ctx.dir, ignore_errors=True)
    stats = ", ".join(f"{k} {v}" for k, v in sorted(ctx.stats.items()))
    line = (f"shutdown {mode}: {iters} iterations in {time.monotonic() - start:.1f} s (seed {ctx.seed}): "
            f"{stats}; {len(ctx.failures)} failures")
    print(line)
    with open(os.path.join(build, f"shutdown-{mode}.txt"), "w") as f:
        f.write(line + "\n")
    sys.exit(1 if ctx.failures else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""bench/target_bench.py — the storage targets measured at their vhost-user-blk sockets, side by
side in one run (make bench): blockd in event mode and with --busy-poll, qemu-storage-daemon,
and SPDK's spdk_tgt when SPDK_TGT names one. Each target runs pinned to one CPU (taskset,
BENCH_TARGET_CPU, default 0) and the front-end, build/bench/vhost_blk_bench, to another
(BENCH_CLIENT_CPU, default 1), one client thread per queue, busy-polling the used ring.

The same backends for every target: null, malloc (written first, so reads are of data and not
of the zero page; qemu-storage-daemon has none), a file on /dev/shm (tmpfs) and a file on the
local disk (BENCH_DISK_DIR, default /var/tmp) opened with O_DIRECT where the target can.
Files are filled with data before the run. Rows: randread then randwrite (on malloc that is
"randwrite after randread"), 4 KiB, QD1 and QD32, 1 and 2 queues (blockd gets one reactor per
queue, and at least one per CPU it is given, as spdk_tgt gets one per CPU of its -m mask). Each
target is started afresh for each backend and queue count.

Then the "wide" rows: QD32 on null, malloc and tmpfs with the target and the client both
free to run on every CPU of BENCH_WIDE_CPUS (default 0,1), the client waiting on the call
eventfd instead of spinning, so that a second queue has a CPU to go to; the 2-queue/1-queue
ratio is printed for the pinned and the wide rows (pinned, both reactors share one CPU).

Prints a table of IOPS and p50/p99/p99.9 latency (µs), and the ratio of each blockd mode to
every peer measured in the same run; a `*` marks a run whose client was busy ≥ 90 % of its
time (client-bound: the target's figure is a lower bound). Raw results go to BENCH_OUT
(default build/bench/target_bench.json).

Environment: BENCH_S seconds per run (default 3), BENCH_REPEAT rounds (default 1: each round
starts every target afresh, in turn, and the table keeps each cell's best round), BENCH_FILTER a regular expression over row
names like `malloc randread qd32 q1`, BENCH_TARGETS a comma list among blockd-event,
blockd-poll, qsd, spdk, base-event, base-poll (default: all present), BENCH_BASE_BLOCKD another
blockd binary (an older build: its two modes are measured too, to show what a change did),
BENCH_WIDE_CPUS the CPUs of the wide rows, BENCH_HUGE=1/0 guest memory on huge pages or not
(default: when 64 MiB of them are free; spdk_tgt needs them), SPDK_TGT the spdk_tgt binary (skipped when
unset or missing; SPDK_ARGS extra arguments; it needs huge pages, and `-s 1024` is too small for
the 256 MiB malloc bdev), BENCH_SIZE_MB
(default 256)."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from berth_rpc import RpcClient, RpcError  # noqa: E402

BUILD = REPO / os.environ.get("BERTH_BUILD", "build")
CLIENT = Path(os.environ.get("BENCH_CLIENT", BUILD / "bench" / "vhost_blk_bench"))
BLOCKD = BUILD / "src" / "blockd" / "blockd"
SECONDS = float(os.environ.get("BENCH_S", "3"))
FILTER = re.compile(os.environ.get("BENCH_FILTER", ""))
SIZE_MB = int(os.environ.get("BENCH_SIZE_MB", "256"))
WIDE_CPUS = os.environ.get("BENCH_WIDE_CPUS", "0,1")
HUGE_MIN_FREE_MB = 64
REPEAT = int(os.environ.get("BENCH_REPEAT", "1"))
TCPU = os.environ.get("BENCH_TARGET_CPU", "0")
CCPU = os.environ.get("BENCH_CLIENT_CPU", "1")
DISK_DIR = os.environ.get("BENCH_DISK_DIR", "/var/tmp")
OUT = Path(os.environ.get("BENCH_OUT", BUILD / "bench" / "target_bench.json"))
BS = 4096
BACKENDS = ["null", "malloc", "shm", "disk"]
PATTERNS = ["randread", "randwrite"]
DEPTHS = [1, 32]
WIDE_BACKENDS = ["null", "malloc", "shm"]
QUEUES = [1, 2]
START_TIMEOUT = 20


def wait_until(pred, timeout, what, proc=None):
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the target exited with {proc.returncode}")
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)   # polling interval of a wait with a deadline, not a synchronisation


class Target:
    """One target process pinned to TCPU serving `backend` with `queues` queues: start()
    returns its vhost-user socket; stop() ends it (SIGTERM, then SIGKILL after a deadline)."""

    def __init__(self, name, root, log):
        self.name, self.root, self.log, self.proc = name, Path(root), log, None
        self.root.mkdir(parents=True, exist_ok=True)

    def launch(self, argv, cpus):
        self.proc = subprocess.Popen(["taskset", "-c", cpus] + argv, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def rpc_ready(self, sock):
        def ready():
            try:
                with RpcClient(sock, timeout=1) as c:
                    return c.call("spdk_get_version") is not None
            except (OSError, TimeoutError, EOFError):
                return False
        wait_until(ready, START_TIMEOUT, f"{self.name} to answer", self.proc)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        # spdk_tgt leaves its trace buffer (4 MiB) in /dev/shm after it exits
        trace = Path(f"/dev/shm/spdk_tgt_trace.pid{self.proc.pid}")
        if self.name == "spdk" and trace.exists():
            trace.unlink()


class SpdkLike(Target):
    """blockd (either mode) or spdk_tgt: the same RPCs create the bdev and the controller."""

    def __init__(self, name, root, log, argv):
        super().__init__(name, root, log)
        self.argv = argv

    def start(self, backend, queues, files, cpus):
        sock, vdir = str(self.root / "rpc.sock"), self.root / "vhost"
        vdir.mkdir(parents=True, exist_ok=True)
        self.launch(self.argv(queues, cpus) + ["-r", sock, "-S", str(vdir)], cpus)
        self.rpc_ready(sock)
        blocks = SIZE_MB * (1 << 20) // BS
        with RpcClient(sock, timeout=30) as c:
            if backend == "null":
                c.call("bdev_null_create", {"name": "b0", "num_blocks": blocks, "block_size": BS})
            elif backend == "malloc":
                c.call("bdev_malloc_create", {"name": "b0", "num_blocks": blocks,
                                              "block_size": BS})
            else:
                c.call("bdev_aio_create", {"name": "b0", "filename": files[backend],
                                           "block_size": BS})
            c.call("vhost_create_blk_controller", {"ctrlr": "bench", "dev_name": "b0"})
        return str(vdir / "bench")


class Qsd(Target):
    def start(self, backend, queues, files, cpus):
        sock = str(self.root / "qsd.sock")
        size = SIZE_MB << 20
        if backend == "null":
            dev = f"driver=null-co,node-name=b0,size={size},read-zeroes=off"
        elif backend in ("shm", "disk"):
            dev = (f"driver=file,node-name=b0,filename={files[backend]},aio=io_uring,"
                   f"cache.direct=on")
        else:
            return None
        self.launch(["qemu-storage-daemon", "--blockdev", dev, "--export",
                     f"type=vhost-user-blk,id=e0,node-name=b0,addr.type=unix,addr.path={sock},"
                     f"writable=on,num-queues={queues},logical-block-size={BS}"], cpus)
        wait_until(lambda: os.path.exists(sock), START_TIMEOUT, "qemu-storage-daemon's socket",
                   self.proc)
        return sock


def targets(root, log):
    have = {
        "blockd-event": lambda: SpdkLike("blockd-event", root / "be", log,
                                         lambda q, c: [str(BLOCKD), "--reactors",
                                                       str(reactors(q, c))]),
        "blockd-poll": lambda: SpdkLike("blockd-poll", root / "bp", log,
                                        lambda q, c: [str(BLOCKD), "--reactors",
                                                      str(reactors(q, c)), "--busy-poll"]),
        "qsd": lambda: Qsd("qsd", root / "qsd", log),
    }
    base = os.environ.get("BENCH_BASE_BLOCKD")
    if base and os.access(base, os.X_OK):
        have["base-event"] = lambda: SpdkLike("base-event", root / "xe", log,
                                              lambda q, c: [base, "--reactors",
                                                            str(reactors(q, c))])
        have["base-poll"] = lambda: SpdkLike("base-poll", root / "xp", log,
                                             lambda q, c: [base, "--reactors",
                                                           str(reactors(q, c)), "--busy-poll"])
    spdk = os.environ.get("SPDK_TGT")
    if spdk and os.access(spdk, os.X_OK):
        extra = os.environ.get("SPDK_ARGS", "").split()
        have["spdk"] = lambda: SpdkLike("spdk", root / "spdk", log,
                                        lambda q, c: [spdk, "-m", cpu_mask(c)] + extra)
    elif spdk:
        print(f"SPDK_TGT={spdk} is not an executable: SPDK skipped", file=sys.stderr)
    want = os.environ.get("BENCH_TARGETS")
    names = [n for n in have if not want or n in want.split(",")]
    return [(n, have[n]) for n in names]


def reactors(queues, cpus):
    """blockd's reactors: one per queue, and at least one per CPU it is given, as spdk_tgt
    gets one per CPU of its -m mask (the wide rows: two reactors for one queue too)."""
    return max(queues, bin(int(cpu_mask(cpus), 16)).count("1"))


def cpu_mask(cpus):
    """taskset's list ("0", "0,1", "0-3") as spdk_tgt's -m mask."""
    mask = 0
    for part in cpus.split(","):
        lo, _, hi = part.partition("-")
        for c in range(int(lo), int(hi or lo) + 1):
            mask |= 1 << c
    return "0x%x" % mask


def fill(path, size):
    """A file of size bytes of data (not holes, not zeros)."""
    chunk = bytes((i * 131 + 7) & 0xff for i in range(1 << 20))
    with open(path, "wb") as f:
        for _ in range(size >> 20):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())


def huge_guest_memory():
    """Guest memory on 2 MiB huge pages when BENCH_HUGE says so (1/0) or, by default, when
    enough are free: spdk_tgt's vhost cannot take 4 KiB-page guest memory (DPDK maps it off
    2 MiB alignment and SPDK faults registering it), so every target gets the same."""
    want = os.environ.get("BENCH_HUGE", "auto")
    if want in ("0", "1"):
        return want == "1"
    try:
        info = dict(line.split(":", 1) for line in open("/proc/meminfo"))
        free_mb = int(info["HugePages_Free"]) * int(info["Hugepagesize"].split()[0]) // 1024
    except (OSError, KeyError, ValueError):
        return False
    return free_mb >= HUGE_MIN_FREE_MB


HUGE = huge_guest_memory()


def run_client(sock, pattern, qd, queues, prepare, wide):
    argv = ["taskset", "-c", WIDE_CPUS if wide else CCPU, str(CLIENT), "--socket", sock,
            "--pattern", pattern, "--bs", str(BS), "--qd", str(qd), "--queues", str(queues),
            "--seconds", str(SECONDS), "--json"] + (["--prepare"] if prepare else [])
    if HUGE:
        argv.append("--huge")
    if wide:        # the client shares the target's CPUs: it must not spin on them
        argv += ["--completion", "event"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=SECONDS + 120)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.strip() or f"exit {p.returncode}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def copy_limit():
    """One thread's 4 KiB copies per second between random offsets of a buffer the size of the
    bdevs, on the target's CPU: the ceiling of a RAM-backed target."""
    p = subprocess.run(["taskset", "-c", TCPU, str(CLIENT), "--copy-limit", str(SIZE_MB << 20),
                        "--bs", str(BS), "--seconds", str(min(SECONDS, 2)), "--json"],
                       capture_output=True, text=True, timeout=60)
    return json.loads(p.stdout)["copies_s"] if p.returncode == 0 else None


def rows():
    """(queues, backend, row names, wide): the pinned rows, then the wide ones (QD32 on the
    RAM-backed backends: the disk is device-bound, QD1 has nothing to spread)."""
    for wide in (False, True):
        for queues in QUEUES:
            for backend in BACKENDS if not wide else WIDE_BACKENDS:
                names = [f"{backend} {pat} qd{qd} q{queues}" + (" wide" if wide else "")
                         for pat in PATTERNS for qd in (DEPTHS if not wide else [32])]
                picked = [n for n in names if FILTER.search(n)]
                if picked:
                    yield queues, backend, picked, wide


def better(old, new):
    """The run kept of several: the one with the most IOPS (noise on a shared machine only
    ever takes IOPS away); an error only when every run failed."""
    if old is None or "error" in old:
        return new
    if "error" in new:
        return old
    return new if new["iops"] > old["iops"] else old


def measure(root, log, files):
    results = {}
    for queues, backend, names, wide in rows():
        for tname, make in [t for _ in range(REPEAT) for t in targets(root, log)]:
            t = make()
            try:
                sock = t.start(backend, queues, files, WIDE_CPUS if wide else TCPU)
                if sock is None:
                    continue
                prepared = backend != "malloc"
                for name in names:
                    _, pat, qd = name.split()[:3]
                    try:
                        r = run_client(sock, pat, int(qd[2:]), queues, not prepared, wide)
                        prepared = True
                    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                        r = {"error": str(e)[-300:]}
                    by = results.setdefault(name, {})
                    by[tname] = better(by.get(tname), r)
                    print(f"  {name:28} {tname:13} {cell(r)}", file=sys.stderr, flush=True)
            except (RuntimeError, TimeoutError, OSError, RpcError) as e:
                for name in names:
                    by = results.setdefault(name, {})
                    by[tname] = better(by.get(tname), {"error": str(e)[-300:]})
                print(f"  {tname} on {backend}: {e}", file=sys.stderr)
            finally:
                t.stop()
    return results


def fmt_iops(v):
    return f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.0f}K"


def cell(r):
    if r is None:
        return "–"
    if "error" in r:
        return "error"
    star = "*" if r["client_busy_pct"] >= 90 else ""
    return (f"{fmt_iops(r['iops'])}{star} ({r['p50_us']:.0f}/{r['p99_us']:.0f}/"
            f"{r['p999_us']:.0f})")


def table(results, names):
    peers = [n for n in names if not n.startswith(("blockd", "base"))]
    ratio_cols = [(b, p) for b in ("blockd-event", "blockd-poll") if b in names for p in peers]
    ratio_cols += [(f"blockd-{m}", f"base-{m}") for m in ("event", "poll")
                   if f"blockd-{m}" in names and f"base-{m}" in names]
    head = ["row"] + names + [f"{b.split('-')[1]}/{p}" for b, p in ratio_cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row, by in results.items():
        cells = [row] + [cell(by.get(n)) for n in names]
        for b, p in ratio_cols:
            rb, rp = by.get(b), by.get(p)
            ok = rb and rp and "iops" in rb and "iops" in rp and rp["iops"]
            cells.append(f"{rb['iops'] / rp['iops']:.2f}x" if ok else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def scaling(results, names):
    """2 queues against 1, per target: pinned (every target thread on one CPU: nothing to
    scale onto) and wide (target and client share WIDE_CPUS)."""
    lines = []
    for row in results:
        if " q1" not in row:
            continue
        by1, by2 = results[row], results.get(row.replace(" q1", " q2"))
        if not by2:
            continue
        cells = []
        for n in names:
            a, b = by1.get(n), by2.get(n)
            if a and b and "iops" in a and "iops" in b and a["iops"]:
                cells.append(f"{n} {b['iops'] / a['iops']:.2f}x")
        if cells:
            lines.append(f"  {row.replace(' q1', ''):26} " + ", ".join(cells))
    if not lines:
        return ""
    return ("\n2 queues / 1 queue (pinned: the target on CPU " + TCPU + ", the client on CPU " +
            CCPU + "; wide: both on CPUs " + WIDE_CPUS + ", the client waiting on the call "
            "eventfd):\n" + "\n".join(lines))


def load_average():
    try:
        return open("/proc/loadavg").read().split()[:3]
    except OSError:
        return None


def main():
    for path in (CLIENT, BLOCKD):
        if not path.exists():
            sys.exit(f"{path} is missing: run make first")
    if not shutil.which("qemu-storage-daemon"):
        print("qemu-storage-daemon not found: its column is empty", file=sys.stderr)
    root = Path(tempfile.mkdtemp(prefix="berth-tbench-"))
    disk_dir = Path(tempfile.mkdtemp(prefix="berth-tbench-", dir=DISK_DIR))
    files = {"shm": f"/dev/shm/berth-tbench-{os.getpid()}.img", "disk": str(disk_dir / "disk.img")}
    log = open(root / "targets.log", "w")
    keep_log = True
    try:
        need = {b for _, b, _, _ in rows()}
        for b in ("shm", "disk"):
            if b in need:
                fill(files[b], SIZE_MB << 20)
        names = [n for n, _ in targets(root, log)]
        print(f"target CPU {TCPU}, client CPU {CCPU}, {SECONDS:g} s per run, best of {REPEAT}, "
              f"{SIZE_MB} MiB, 4 KiB, guest memory on {'2 MiB huge' if HUGE else '4 KiB'} "
              f"pages; IOPS (p50/p99/p99.9 µs); * client-bound "
              f"(client busy >= 90 %)", file=sys.stderr)
        limit = copy_limit() if any(b == "malloc" for _, b, _, _ in rows()) else None
        results = measure(root, log, files)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps({"seconds": SECONDS, "repeat": REPEAT, "size_mb": SIZE_MB,
                                   "huge_guest_memory": HUGE, "uptime_load": load_average(),
                                   "copy_limit_per_s": limit, "targets": names,
                                   "results": results}, indent=1))
        print(table(results, names))
        print(scaling(results, names))
        print(f"\nload average (1/5/15 min) at the end: {' '.join(load_average() or ['?'])}")
        if limit:
            print(f"\ncopy limit (one thread on CPU {TCPU}, 4 KiB between random offsets of "
                  f"{SIZE_MB} MiB): {fmt_iops(limit)}/s")
        bad = [(r, t, v["error"]) for r, by in results.items() for t, v in by.items()
               if "error" in v]
        for r, t, e in bad:
            print(f"error: {r} {t}: {e}", file=sys.stderr)
        keep_log = bool(bad)
        return 1 if bad else 0
    finally:
        log.close()
        for b in ("shm", "disk"):
            if os.path.exists(files[b]):
                os.unlink(files[b])
        shutil.rmtree(disk_dir, ignore_errors=True)
        if keep_log:
            print(f"targets' log: {root}/targets.log", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""bench/vhost_guest_iops.py — 4 KiB random read/write IOPS seen by the test guest through a
vhost-user-blk disk, blockd against qemu-storage-daemon measured in the same run.

Both back-ends serve a null device (no data touched: the data path alone) to the same guest
(QEMU 7.2 under TCG, one vCPU) running `berth-workload bench` at queue depth 1 and 8. Under
TCG the guest's own CPU dominates, so this is a baseline for regressions, not the target's
ceiling. Usage: bench/vhost_guest_iops.py [--ops N] (also `make bench-guest`; `make bench` measures
the targets themselves, bench/target_bench.py)."""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from conftest import Blockd  # noqa: E402
from guestvm import Guest, build_guest  # noqa: E402
from berth_rpc import wait_for  # noqa: E402

SIZE_MB = 256
BENCH = re.compile(r"BENCH (\w+) qd=(\d+) ops=(\d+) seconds=([\d.]+) iops=(\d+)")


def run_guest(guest, workdir, sock, ops, depth):
    g = Guest(guest, workdir, f"berth.workload=bench berth.count={ops} berth.depth={depth}",
              vhost=sock)
    try:
        g.wait_for(r"BENCH randwrite .*", timeout=600)
        return {m.group(1): int(m.group(5)) for m in map(BENCH.fullmatch, g.lines()) if m}
    finally:
        g.stop()


def with_blockd(root, fn):
    b = Blockd(root).start()
    try:
        b.call("bdev_null_create", {"name": "null0", "num_blocks": SIZE_MB * 256,
                                    "block_size": 4096})
        b.call("vhost_create_blk_controller", {"ctrlr": "bench", "dev_name": "null0"})
        return fn(os.path.join(b.vhost_dir, "bench"))
    finally:
        b.stop()


def with_qsd(root, fn):
    sock = os.path.join(root, "qsd.sock")
    log = open(os.path.join(root, "qsd.log"), "w")
    proc = subprocess.Popen(
        ["qemu-storage-daemon",
         "--blockdev", f"driver=null-co,node-name=null0,size={SIZE_MB * 1024 * 1024},read-zeroes=on",
         "--export", "type=vhost-user-blk,id=exp0,node-name=null0,addr.type=unix,"
                     f"addr.path={sock},writable=on,num-queues=1,logical-block-size=4096"],
        stdout=log, stderr=log)
    try:
        wait_for(lambda: os.path.exists(sock) or proc.poll() is not None, 30,
                 what="qemu-storage-daemon's socket")
        if proc.poll() is not None:
            raise RuntimeError("qemu-storage-daemon exited; see " + log.name)
        return fn(sock)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=20000, help="IOs per kind and depth")
    args = ap.parse_args()
    guest = build_guest()
    results = {}
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as root:
        for name, host in (("blockd", with_blockd), ("qemu-storage-daemon", with_qsd)):
            for depth in (1, 8):
                workdir = Path(root) / f"{name}-qd{depth}"
                t0 = time.monotonic()
                r = host(Path(root) / name if name == "blockd" else root,
                         lambda sock: run_guest(guest, workdir, sock, args.ops, depth))
                results[(name, depth)] = r
                print(f"{name:20s} qd={depth}: randread {r['randread']:6d} IOPS, "
                      f"randwrite {r['randwrite']:6d} IOPS ({time.monotonic() - t0:.0f} s)",
                      flush=True)
    for depth in (1, 8):
        b, q = results[("blockd", depth)], results[("qemu-storage-daemon", depth)]
        print(f"ratio blockd/qsd qd={depth}: randread {b['randread'] / q['randread']:.2f}, "
              f"randwrite {b['randwrite'] / q['randwrite']:.2f}")


if __name__ == "__main__":
    main()

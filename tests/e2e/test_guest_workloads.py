"""tests/e2e/test_guest_workloads.py — the test guest's memory workloads for live-migration
tests (guest/memload.c; console formats in guest/workload.c's header comment):
- dirty at a set rate dirties memory at about that rate, one DIRTY line a second at most;
- memcheck reports ok rounds, and catches what it is there to catch: a byte of its memory
  pattern flipped from the host (through the shared RAM file) and a block of known content
  corrupted on the disk it reads with O_DIRECT;
- both run as VMs of a Berth host (`berth up`, `berth vm create --workload dirty|memcheck`,
  the disk from blockd over vhost-user): DIRTY lines grow, memcheck has ok rounds and no
  mismatch.
Run with: /usr/bin/python3 -m pytest tests/e2e/test_guest_workloads.py
"""
import mmap
import re
import struct

import pytest

from berth_host import BerthHost
from berth_rpc import wait_for
from guestvm import BLOCK, MEMORY_MB

DIRTY = re.compile(r"DIRTY (\d+) (\d+)")
MC_OK = re.compile(r"MC ok (\d+)")


def dirty_lines(lines):
    return [tuple(map(int, m.groups())) for m in map(DIRTY.fullmatch, lines) if m]


def ok_rounds(lines):
    return [int(m.group(1)) for m in map(MC_OK.fullmatch, lines) if m]


def test_dirty_at_a_rate(boot, tmp_path):
    g = boot(tmp_path, "berth.workload=dirty berth.size=32 berth.rate=16")
    g.wait_for(r"DIRTY ready 32 16")
    wait_for(lambda: len(dirty_lines(g.lines())) >= 5, 60, what="5 DIRTY lines")
    seen = dirty_lines(g.lines())
    totals = [t for t, _ in seen]
    assert totals == sorted(totals) and totals[-1] > totals[0], seen
    # Paced at 16 MiB/s (TCG on a shared machine: allow slack, not 0 and not unpaced).
    for _, rate in seen[1:]:
        assert 8 <= rate <= 24, seen
    assert not any(l.startswith(("DIRTY error", "WORKLOAD failed")) for l in g.lines())


def ram_pages_with_pattern(path, limit):
    """Offsets in the guest's RAM file of pages that look like memcheck's pattern
    ("BERTHMC\\0", page index, generation): at most limit, spread over the file."""
    found = []
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
        pos = m.find(b"BERTHMC\0")
        while pos >= 0:
            if pos % 4096 == 0:
                page, gen = struct.unpack_from("<QQ", m, pos + 8)
                if page < 65536 and gen < 1 << 32:
                    found.append(pos)
            pos = m.find(b"BERTHMC\0", pos + 8)
    step = max(1, len(found) // limit)
    return found[::step][:limit]


def test_memcheck_ok_and_detects_corruption(boot, tmp_path):
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as f:
        f.truncate(16 << 20)
    ram = tmp_path / "ram"
    g = boot(tmp_path, "berth.workload=memcheck berth.size=16 berth.count=64",
             drive=f"file={disk},format=raw,if=virtio,cache=none",
             extra=["-object", f"memory-backend-file,id=mem,size={MEMORY_MB * 1024 + 8}K,"
                    f"mem-path={ram},share=on", "-numa", "node,memdev=mem"])
    g.wait_for(r"MC ready 16 64")
    wait_for(lambda: len(ok_rounds(g.lines())) >= 3, 120, what="3 MC ok lines")
    assert not [l for l in g.lines() if l.startswith("MC mismatch")], g.lines()[-20:]
    rounds = ok_rounds(g.lines())
    assert rounds == sorted(rounds) and len(set(rounds)) == len(rounds), rounds

    # A byte of the pattern flipped behind the guest's back (as a page a migration failed
    # to copy would be): reported, the page repaired, ok rounds again afterwards.
    pages = ram_pages_with_pattern(ram, 8)
    assert pages, "no memcheck page in the guest's RAM file"
    with open(ram, "r+b") as f:
        for off in pages:
            f.seek(off + 2000)
            b = f.read(1)
            f.seek(off + 2000)
            f.write(bytes([b[0] ^ 0x5A]))
    m = g.wait_for(r"MC mismatch mem (\d+) words=1 want=([0-9a-f]{16}) got=([0-9a-f]{16})", 60)
    assert int(m.group(1)) % 4096 == 2000 - 2000 % 8
    n_before = len(g.lines())
    wait_for(lambda: ok_rounds(g.lines()[n_before:]), 60, what="an ok round after the repair")

    # A known block corrupted on the disk: every later read of it is a mismatch.
    with open(disk, "r+b") as f:
        f.seek(10 * BLOCK + 100)
        f.write(b"X")
    g.wait_for(r"MC mismatch disk 40960 checksum read=\d+ round=\d+", 60)
    assert not [l for l in g.lines() if l.startswith(("MC error", "WORKLOAD failed"))]


@pytest.fixture
def berth_host(tmp_path, guest):
    kernel, initrd = guest
    h = BerthHost(tmp_path / "host",
                  f"[berth]\nguest_kernel = {kernel}\nguest_initrd = {initrd}\n"
                  "[vmengine]\ntick = 0.2\npowerdown_grace = 2\nquit_grace = 2\nterm_grace = 2\n"
                  "[diskengine]\ntick = 0.2\nrpc_timeout = 5\nbackoff_max = 1\n")
    yield h
    h.stop()


def test_dirty_and_memcheck_as_berth_vms(berth_host):
    h = berth_host
    h.run("up")
    h.run("vm", "create", "dirty", "--workload", "dirty", "--memory", 128, "--disk-size", 16)
    h.run("vm", "create", "mc", "--workload", "memcheck", "--memory", 128, "--disk-size", 16)
    vms = {v["name"]: v for v in h.json("vm", "list")}

    def console(name):
        return [l.strip() for l in h.console(vms[name]["id"]).splitlines()]

    for name in vms:
        h.run("vm", "wait", name, "--state", "RUNNING", "--timeout", 180)
    wait_for(lambda: len(dirty_lines(console("dirty"))) >= 3, 180, what="3 DIRTY lines")
    wait_for(lambda: len(ok_rounds(console("mc"))) >= 3, 180, what="3 MC ok lines")
    # The default 64 MiB does not fit in a 128 MiB guest: shrunk to what does.
    assert [l for l in console("dirty") if re.fullmatch(r"DIRTY ready (3\d|4\d|5\d) 0", l)]
    totals = [t for t, _ in dirty_lines(console("dirty"))]
    assert totals == sorted(totals) and totals[-1] > totals[0]
    assert "MC ready 32 256" in console("mc")
    bad = [l for l in console("mc") if l.startswith(("MC mismatch", "MC error"))]
    assert not bad, bad
    for name in vms:
        assert console(name).count("BERTH-GUEST boot") == 1, console(name)[-20:]

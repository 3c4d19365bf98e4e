"""tests/e2e/test_guest.py — end-to-end checks of Berth's test guest (guest/).

Builds the guest once (guest/build.sh build/guest) and boots it under QEMU/TCG with a plain
raw disk file: the writer workload writes numbered, checksummed blocks, the verify workload
reads them back (and catches a byte corrupted from the host), the writer retries a block
whose write failed (error injected with QEMU's blkdebug), the idle guest ignores a
QMP system_powerdown and the acpi guest powers off on one. Run with: /usr/bin/python3 -m pytest tests/e2e/test_guest.py
"""

import json
import re
import socket
import struct
import time
import zlib

from guestvm import BLOCK

DISK_SIZE = 16 * 1024 * 1024


def make_disk(path):
    with open(path, "wb") as f:
        f.truncate(DISK_SIZE)
    return path


def run_writer(boot, tmp_path, disk, count):
    g = boot(tmp_path, f"berth.workload=writer berth.count={count}", disk=disk)
    g.wait_for(rf"W done {count}")
    g.stop()
    return g.lines()


def run_verify(boot, tmp_path, disk, count):
    g = boot(tmp_path, f"berth.workload=verify berth.count={count}", disk=disk)
    m = g.wait_for(r"VERIFY good=(\d+) bad=(\d+) missing=(\d+) last=(-?\d+)")
    g.stop()
    return tuple(int(x) for x in m.groups())


def read_block(disk, seq):
    with open(disk, "rb") as f:
        f.seek(seq * BLOCK)
        return f.read(BLOCK)


def test_writer_then_verify(boot, tmp_path):
    disk = make_disk(tmp_path / "disk.img")
    lines = [line.strip() for line in run_writer(boot, tmp_path, disk, 50)]
    assert "BERTH-GUEST boot" in lines
    assert "WORKLOAD start writer" in lines
    seqs = [int(m.group(1)) for m in (re.fullmatch(r"W (\d+) ok", l) for l in lines) if m]
    assert seqs == list(range(50))

    assert run_verify(boot, tmp_path, disk, 50) == (50, 0, 0, 49)

    # Check block 7 from the host too, without trusting the guest's verify.
    blk = read_block(disk, 7)
    assert blk[:8] == b"BERTHBLK"
    seq, crc = struct.unpack_from("<QI", blk, 8)
    assert seq == 7
    assert crc == zlib.crc32(blk[:16] + b"\0\0\0\0" + blk[20:])
    assert read_block(disk, 50) == bytes(BLOCK)


def test_verify_detects_corruption(boot, tmp_path):
    disk = make_disk(tmp_path / "disk.img")
    run_writer(boot, tmp_path, disk, 50)
    with open(disk, "r+b") as f:
        f.seek(10 * BLOCK + 1000)
        old = f.read(1)
        f.seek(10 * BLOCK + 1000)
        f.write(bytes([old[0] ^ 0xFF]))
    good, bad, missing, last = run_verify(boot, tmp_path, disk, 50)
    assert (good, bad, missing, last) == (49, 1, 0, 49)


def test_writer_retries_after_io_error(boot, tmp_path):
    """QEMU's blkdebug fails the first write to block 12 once: the writer must report it
    and write the same block again, not skip it."""
    disk = make_disk(tmp_path / "disk.img")
    sector = 12 * BLOCK // 512
    drive = ("driver=raw,if=virtio,file.driver=blkdebug,"
             f"file.image.filename={disk},file.inject-error.0.event=pwritev,"
             f"file.inject-error.0.errno=5,file.inject-error.0.sector={sector},"
             "file.inject-error.0.once=on")
    g = boot(tmp_path, "berth.workload=writer berth.count=20", drive=drive)
    g.wait_for(r"W done 20")
    lines = [l.strip() for l in g.lines() if re.fullmatch(r"W \d+ (ok|error .*)", l.strip())]
    assert lines[12] == "W 12 error Input/output error"
    assert [l for l in lines if l.endswith(" ok")] == [f"W {i} ok" for i in range(20)]
    g.stop()
    assert run_verify(boot, tmp_path, disk, 20) == (20, 0, 0, 19)


class Qmp:
    """Minimal QMP client over a unix socket, every read bounded by a timeout."""

    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(10)
                self.sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.buf = b""
        self.events = []
        greeting = self._read()
        assert "QMP" in greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("QMP socket closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
                continue
            assert "error" not in reply, reply
            return reply["return"]

    def close(self):
        self.sock.close()


def test_guest_ignores_system_powerdown(boot, tmp_path):
    qmp_path = tmp_path / "qmp.sock"
    g = boot(tmp_path, "berth.workload=idle", qmp=qmp_path)
    g.wait_for(r"IDLE ready")
    qmp = Qmp(qmp_path)
    try:
        qmp.cmd("system_powerdown")
        # A guest that honoured the ACPI power button would be gone within a second or
        # two; check it is still running for a few seconds.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert g.proc.poll() is None, "QEMU exited after system_powerdown"
            assert qmp.cmd("query-status")["status"] == "running"
            time.sleep(0.25)
        assert any(e["event"] == "POWERDOWN" for e in qmp.events), qmp.events
        qmp.sock.sendall(b'{"execute": "quit"}\n')
        g.proc.wait(timeout=30)
    finally:
        qmp.close()


def test_guest_powers_off_on_acpi(boot, tmp_path):
    """The acpi workload listens for the ACPI power button: on QMP system_powerdown it
    prints "ACPI powerdown" and powers off, so QEMU (no -no-shutdown) exits by itself."""
    qmp_path = tmp_path / "qmp.sock"
    g = boot(tmp_path, "berth.workload=acpi", qmp=qmp_path)
    g.wait_for(r"ACPI ready")
    qmp = Qmp(qmp_path)
    try:
        qmp.cmd("system_powerdown")
        # Read events until SHUTDOWN (or until QEMU closes the socket on exit).
        deadline = time.monotonic() + 30
        while not any(e["event"] == "SHUTDOWN" for e in qmp.events):
            assert time.monotonic() < deadline, f"no SHUTDOWN within 30 s: {qmp.events}"
            try:
                msg = qmp._read()
            except ConnectionError:
                break
            if "event" in msg:
                qmp.events.append(msg)
        assert g.proc.wait(timeout=30) == 0
    finally:
        qmp.close()
    lines = g.lines()
    assert "WORKLOAD start acpi" in lines
    assert "ACPI powerdown" in lines, lines[-20:]
    assert any(e["event"] == "POWERDOWN" for e in qmp.events), qmp.events
    shutdown = [e for e in qmp.events if e["event"] == "SHUTDOWN"]
    assert shutdown and shutdown[0]["data"]["reason"] == "guest-shutdown", qmp.events

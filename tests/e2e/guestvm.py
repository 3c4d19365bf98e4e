"""guestvm.py — the test guest (guest/) under QEMU/TCG for the scenario tests: one QEMU
process with its serial console in a file, a plain virtio disk or a vhost-user-blk disk on a
blockd controller, and readers for the lines the guest prints (BERTH-GUEST boot,
W <seq> ok, VERIFY ...)."""
import re
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GUEST_OUT = REPO / "build" / "guest"
BLOCK = 4096
BOOT_TIMEOUT = 120  # TCG on a busy 2-core machine can be slow
MEMORY_MB = 256

W_OK = re.compile(r"W (\d+) ok")


def build_guest():
    """Builds (or reuses) the guest kernel and initramfs."""
    res = subprocess.run([str(REPO / "guest" / "build.sh"), str(GUEST_OUT)],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"guest build failed:\n{res.stdout}\n{res.stderr}"
    return GUEST_OUT / "vmlinuz", GUEST_OUT / "initrd.img"


class Guest:
    """One QEMU process running the test guest, with its console in workdir/console.log.

    disk: a raw file as a virtio disk; drive: a full -drive spec; vhost: a vhost-user-blk
    socket path (guest memory is then a shared memfd, as vhost-user requires, and QEMU
    reconnects every second when the socket goes away); extra: more QEMU arguments
    (-incoming defer for a migration's destination)."""

    def __init__(self, guest, workdir, append, disk=None, drive=None, qmp=None, vhost=None,
                 num_queues=1, cpus=1, extra=()):
        kernel, initrd = guest
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self.console = workdir / "console.log"
        if self.console.exists():
            self.console.unlink()
        # 8 KiB off the 256 KiB grain, as vmengine does under TCG: QEMU 7.2 loses dirty
        # pages in live migration otherwise (docs/vmengine.md).
        ram = f"{MEMORY_MB * 1024 + 8}K"
        cmd = ["qemu-system-x86_64", "-accel", "tcg", "-m", ram, "-nodefaults",
               "-smp", str(cpus),
               "-display", "none", "-no-reboot",
               "-serial", f"file:{self.console}",
               "-kernel", str(kernel), "-initrd", str(initrd),
               "-append", f"console=ttyS0 panic=-1 {append}"]
        if disk is not None:
            cmd += ["-drive", f"file={disk},format=raw,if=virtio"]
        if drive is not None:
            cmd += ["-drive", drive]
        if vhost is not None:
            cmd += ["-object", f"memory-backend-memfd,id=mem,size={ram},share=on",
                    "-numa", "node,memdev=mem",
                    "-chardev", f"socket,id=disk0,path={vhost},reconnect=1",
                    "-device", f"vhost-user-blk-pci,chardev=disk0,num-queues={num_queues}"]
        if qmp is not None:
            cmd += ["-qmp", f"unix:{qmp},server=on,wait=off"]
        cmd += list(extra)
        self.stderr_path = workdir / "qemu.stderr"
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=self.stderr)
        self.pid = self.proc.pid

    def lines(self):
        try:
            return [l.strip() for l in self.console.read_text(errors="replace").splitlines()]
        except FileNotFoundError:
            return []

    def acked(self):
        """Sequence numbers of the writer's acknowledged writes, in console order."""
        return [int(m.group(1)) for m in map(W_OK.fullmatch, self.lines()) if m]

    def boots(self):
        return self.lines().count("BERTH-GUEST boot")

    def wait_for(self, pattern, timeout=BOOT_TIMEOUT):
        """Polls the console until a line matches pattern; returns the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines():
                m = rx.fullmatch(line)
                if m:
                    return m
            if self.proc.poll() is not None:
                pytest.fail(f"QEMU exited ({self.proc.returncode}) before /{pattern}/; "
                            f"console tail:\n" + "\n".join(self.lines()[-20:]) +
                            "\nstderr:\n" + self.stderr_path.read_text()[-2000:])
            if time.monotonic() > deadline:
                pytest.fail(f"no /{pattern}/ on the console within {timeout}s; tail:\n"
                            + "\n".join(self.lines()[-20:]))
            time.sleep(0.05)

    def wait_acked_beyond(self, seq, timeout=60):
        """Waits for an acknowledged write with a sequence number > seq; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            acked = self.acked()
            if acked and acked[-1] > seq:
                return acked[-1]
            assert self.proc.poll() is None, "QEMU exited"
            if time.monotonic() > deadline:
                pytest.fail(f"no write acknowledged past {seq} within {timeout}s; tail:\n"
                            + "\n".join(self.lines()[-20:]))
            time.sleep(0.02)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self):
        self.kill()
        if not self.stderr.closed:
            self.stderr.close()

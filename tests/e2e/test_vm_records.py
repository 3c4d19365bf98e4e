"""tests/e2e/test_vm_records.py — what vmengine records about a VM stays true across launches,
terminations, restarts and target outages (issue 12, items 4 to 7), through `berth up` with
the test guest, or vmengine alone where that shows the same thing:
- console.log keeps every boot across relaunches (appended) and is bounded: over
  CONSOLE_ROTATE_BYTES at a launch it becomes console.log.1 (one old file kept);
- ordinary terminations are never recorded as `lost`, and a restart-vms relaunch does not
  pass through STOPPED;
- after a vmengine restart in the middle of an escalation of a SIGSTOPped QEMU each step
  comes when it is due, not a QMP timeout later;
- a VM whose vhost-user disk is gone (blockd away) shows disk down, then up again, with
  events.
"""
import os
import signal
import time

import pytest  # noqa: F401

from berth_rpc import wait_for
from test_berth_cli import Host, host  # noqa: F401  (the fixture)

CONSOLE_ROTATE_BYTES = 16 << 20      # docs/vmengine.md


def boots(text):
    return text.count("BERTH-GUEST boot")


def test_console_keeps_every_boot_and_is_bounded(host):
    h = host()
    h.run("up")
    h.run("vm", "create", "c1", "--disk-size", 32, "--memory", 128, "--wait")
    vm = h.vms()["c1"]["id"]
    console = h.root / "vmengine" / "vms" / str(vm) / "console.log"
    wait_for(lambda: boots(h.console(vm)) == 1, 120, what="the first boot")
    for n in (2, 3):
        h.run("vm", "restart", "c1", "--timeout", 120)
        wait_for(lambda: boots(h.console(vm)) >= n, 120, what=f"boot {n}")
    assert boots(h.console(vm)) == 3, h.console(vm)[-2000:]
    assert boots(h.run("vm", "console", "c1").stdout) == 3
    assert "BERTH-GUEST boot" in h.run("vm", "console", "c1", "--lines", 200).stdout

    # The bound: a console.log over the limit at a launch is rotated to console.log.1 (one
    # old file: the one before is replaced), and the new launch writes a fresh console.log.
    h.run("vm", "stop", "c1", "--wait", "--timeout", 120)
    old = console.parent / "console.log.1"
    old.write_text("the oldest\n")
    with open(console, "ab") as f:
        f.truncate(CONSOLE_ROTATE_BYTES + 1)
        f.seek(0, os.SEEK_END)
        f.write(b"\nbefore the rotation\n")
    h.run("vm", "start", "c1", "--wait", "--timeout", 120)
    wait_for(lambda: boots(h.console(vm)) == 1, 120, what="the boot after the rotation")
    assert console.stat().st_size < CONSOLE_ROTATE_BYTES
    assert old.stat().st_size > CONSOLE_ROTATE_BYTES
    assert old.read_bytes().endswith(b"before the rotation\n")
    assert not (console.parent / "console.log.2").exists()
    assert h.run("vm", "console", "c1", "--lines", 1).stdout.strip()
    h.run("vm", "terminate", "c1", "--wait", "--timeout", 60)
    h.run("down")

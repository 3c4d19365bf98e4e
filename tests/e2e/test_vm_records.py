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
import json
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


def vm_events(h, vm):
    return [e["message"] for e in h.json("events", "--limit", 100000)
            if e["vm"] == vm and e["component"] == "vmengine"]


def test_ordinary_terminations_are_not_lost(host):
    """Ten VMs terminated the ordinary way: each TERMINATED with the reason of what happened
    (the guest's shutdown, QMP quit, a signal), never `lost`."""
    h = host()
    h.run("up")
    names = [f"t{i}" for i in range(10)]
    for n in names:
        h.run("vm", "create", n, "--disk-size", 8, "--memory", 96)
    ids = {}
    for n in names:
        h.run("vm", "wait", n, "--state", "RUNNING", "--timeout", 240)
        ids[n] = h.vms()[n]["id"]
        wait_for(lambda: boots(h.console(ids[n])) == 1, 120, what=f"{n} to boot")
    for n in names:
        h.run("vm", "terminate", n)
    for n in names:
        wait_for(lambda: h.vm_state(ids[n])["state"] == "TERMINATED", 60,
                 what=f"{n} TERMINATED")
    reasons = {n: h.vm_state(ids[n])["reason"] for n in names}
    assert all(r and "lost" not in r for r in reasons.values()), reasons
    for n in names:
        assert not [m for m in vm_events(h, ids[n]) if "lost" in m], vm_events(h, ids[n])
    h.run("down")


def test_restart_vms_relaunch_does_not_pass_through_stopped(host):
    """policy restart-vms, blockd killed: each VM goes RESTARTING -> STARTING -> RUNNING with
    a reason that says why, never through STOPPED or `lost`."""
    h = host("restart-vms")
    h.run("up")
    for n in ("r0", "r1"):
        h.run("vm", "create", n, "--disk-size", 8, "--memory", 96)
    ids = {}
    for n in ("r0", "r1"):
        h.run("vm", "wait", n, "--state", "RUNNING", "--timeout", 240)
        ids[n] = h.vms()[n]["id"]
    pids = {n: h.vm_state(i)["pid"] for n, i in ids.items()}
    os.kill(h.daemons()["blockd"]["pid"], signal.SIGKILL)
    for n, i in ids.items():
        wait_for(lambda: (s := h.vm_state(i)) and s["state"] == "RUNNING" and
                 s["pid"] != pids[n], 180, what=f"{n} relaunched")
    for n, i in ids.items():
        msgs = vm_events(h, i)
        at = max(k for k, m in enumerate(msgs) if m.startswith("RESTARTING"))
        after = msgs[at:]
        assert not [m for m in after if m.startswith("STOPPED") or "lost" in m], msgs
        assert [m for m in after if m.startswith("STARTING")], msgs
    h.run("down")


def test_readoption_of_a_stopped_qemu_keeps_the_escalation_schedule(make_vmengine):
    """A SIGSTOPped QEMU (its monitor never answers) being terminated, vmengine restarted
    between two steps: the restarted vmengine's adoption waits on the monitor only until the
    next step is due, so `term` and `kill` come when they are due (graces 2/3/5 s; the QMP
    deadline is 5 s, longer than the time to the next step), not a QMP deadline later."""
    from test_vmengine import EscalationWatch
    graces = dict(powerdown_grace=2, quit_grace=3, term_grace=5, qmp_timeout=5)
    due = {"powerdown": 0.0, "quit": 2.0, "term": 5.0, "kill": 10.0}
    vme = make_vmengine(**graces).start()
    vme.desire(1, "RUNNING", workload="idle")
    pid = vme.wait_state(1, "RUNNING")["pid"]
    os.kill(pid, signal.SIGSTOP)
    watch = EscalationWatch(vme, [1])
    try:
        vme.desire(1, "TERMINATED")
        wait_for(lambda: watch.steps(1)[-1:] == ["quit"], 10, what="the quit step")
        since = watch.since[1]
        wait_for(lambda: time.time() >= since + 4.0, 10, what="4 s into the escalation")
        vme.kill()                                    # between quit (2 s) and term (5 s)
        restarted = time.time() - since
        vme = make_vmengine(**graces).start()
        vme.wait_state(1, "TERMINATED", timeout=30)
    finally:
        watch.stop()
    steps = {step: round(seen - since, 2) for step, seen in watch.seen[1]}
    assert list(steps) == ["powerdown", "quit", "term", "kill"], steps
    for step, at in steps.items():
        assert due[step] - 0.1 <= at <= due[step] + 0.7, (step, at, steps, restarted)
    assert vme.state(1)["reason"] == "killed by SIGKILL", vme.state(1)
    print(f"steps after terminating_since: {steps} (vmengine restarted at {restarted:.2f} s)")
    assert vme.stop() == 0


def test_disk_down_while_blockd_is_away(make_blockd, make_vmengine):
    """vmengine running, blockd SIGKILLed under a running VM (no supervisor: nothing restarts
    the engines meanwhile): vm.state and status.json say disk_connected false while blockd is
    away, true again once blockd (--persist) is back and QEMU reconnected; the QEMU is the
    same."""
    blockd = make_blockd(persist=True).start()
    blockd.call("bdev_malloc_create", {"name": "disk1", "num_blocks": 8192, "block_size": 4096})
    blockd.call("vhost_create_blk_controller", {"ctrlr": "vm1", "dev_name": "disk1"})
    vme = make_vmengine().start()
    vme.desire(1, "RUNNING", workload="idle",
               disk={"vhost": os.path.join(blockd.vhost_dir, "vm1")})
    pid = vme.wait_state(1, "RUNNING")["pid"]

    def disk(want):
        st, status = vme.state(1), vme.status()
        vm = next((v for v in (status or {}).get("vms", []) if v["id"] == 1), {})
        return st.get("disk_connected") is want and vm.get("disk_connected") is want and st

    up = wait_for(lambda: disk(True), 30, what="disk up")
    blockd.kill()
    down = wait_for(lambda: disk(False), 10, what="disk down while blockd is away")
    assert down["disk_since"] >= up["disk_since"] and down["state"] == "RUNNING"
    make_blockd(persist=True).start()
    wait_for(lambda: disk(True), 30, what="disk up again")
    assert vme.state(1)["pid"] == pid and vme.state(1)["state"] == "RUNNING"
    assert "disk_disconnected" in vme.log_text() and "disk_reconnected" in vme.log_text()
    assert vme.stop() == 0


def test_disk_state_shown_and_evented_under_up(host):
    """berth up, policy reconnect, a running VM; blockd SIGKILLed while the supervisor is
    held (SIGSTOP) so that vmengine keeps running through the outage (the supervisor stops
    the engines while the target is away): the VM shows disk down (vm list DISK, vm show, the
    store, vm.state) with a disk_disconnected event while blockd is away; once the supervisor
    goes on, blockd is back (--persist), the engines restart, QEMU reconnects: disk up and
    disk_reconnected, the same QEMU."""
    h = host("reconnect")
    h.run("up")
    h.run("vm", "create", "d1", "--disk-size", 8, "--memory", 96, "--wait")
    vm = h.vms()["d1"]["id"]
    pid = h.vm_state(vm)["pid"]

    def shown():
        table = h.run("vm", "list").stdout.splitlines()
        col = table[0].split().index("DISK")
        row = next(line.split() for line in table[1:] if line.split()[1] == "d1")
        return row[col], h.json("vm", "show", "d1")["disk_connected"]

    wait_for(lambda: shown() == ("up", True), 30, what="disk up in vm list / vm show")
    supervisor = json.loads((h.root / "run" / "supervisor.json").read_text())["pid"]
    os.kill(supervisor, signal.SIGSTOP)
    try:
        os.kill(h.daemons()["blockd"]["pid"], signal.SIGKILL)
        wait_for(lambda: shown() == ("down", False), 15, what="disk down in vm list / vm show")
        assert h.vm_state(vm)["disk_connected"] is False
        assert h.vm_state(vm)["state"] == "RUNNING"
        assert "disk:      down" in h.run("vm", "show", "d1").stdout
    finally:
        os.kill(supervisor, signal.SIGCONT)
    wait_for(lambda: shown() == ("up", True), 60, what="disk up again")
    assert h.vm_state(vm)["pid"] == pid and h.vm_state(vm)["state"] == "RUNNING"
    msgs = vm_events(h, vm)
    assert "disk_disconnected" in msgs and "disk_reconnected" in msgs, msgs
    assert msgs.index("disk_disconnected") < msgs.index("disk_reconnected"), msgs
    h.run("vm", "terminate", "d1", "--wait", "--timeout", 60)
    h.run("down")


def test_volume_of_a_vm_terminated_before_it_was_created_is_deleted(host):
    """A VM terminated before diskengine created its volume (diskengine paused, as a busy
    host's slow tick would) still has its volume recorded deleted: `vm terminate --wait`
    returns instead of waiting for a volume that never existed (seen in CI), and so does
    `vm wait --state TERMINATED`."""
    h = host()
    h.run("up")
    diskengine = h.daemons()["diskengine"]["pid"]
    os.kill(diskengine, signal.SIGSTOP)
    try:
        h.run("vm", "create", "early", "--disk-size", 8, "--memory", 128)
        h.run("vm", "terminate", "early")
        wait_for(lambda: h.vms(all_=True)["early"]["state"] == "TERMINATED", 60,
                 what="early to be TERMINATED")
    finally:
        os.kill(diskengine, signal.SIGCONT)
    start = time.monotonic()
    h.run("vm", "wait", "early", "--state", "TERMINATED", "--timeout", 30)
    assert time.monotonic() - start < 30
    vol = h.vms(all_=True)["early"]["volume_id"]
    vols = {v["id"]: v for v in h.json("volume", "list", "--all")}
    assert vols[vol]["state"] == "DELETED", vols[vol]
    assert not (h.root / "volumes" / f"vol{vol}").exists()
    h.run("down")

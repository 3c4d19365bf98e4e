"""tests/e2e/test_vmengine.py — vmengine's QEMU lifecycle on real QEMU guests (TCG).

The graces are seconds here (tick 0.2 s, powerdown/quit/term 3 s each, QMP deadline 2 s):
- bug class 2 (docs/architecture.md) at scale: ten guests that ignore ACPI are terminated as soon as each is
  RUNNING; all reach TERMINATED within the escalation bound and no QEMU is left;
- a guest that honours ACPI stops with the first step only;
- a SIGSTOPped QEMU is terminated: QMP deadlines fire, escalation reaches SIGKILL, and the
  other VMs' reconciles go on undisturbed;
- vmengine SIGKILLed with three VMs running and one mid-escalation: the restarted vmengine
  re-adopts the three (same pids) and finishes the escalation on the original clock;
- target restart with policy restart-vms: every active VM is relaunched, the marker is gone;
- a guest panic is recorded and handled per on_crash (stop, restart);
- a VM whose disk is a blockd vhost-user-blk controller;
- a QEMU that died while vmengine was down is recorded as lost and the VM STOPPED;
- a QEMU killed from outside leaves its own last words (what it printed after daemonizing) in
  qemu-run.log and in vmengine's "QEMU gone" line; a relaunch keeps them in qemu-run.log.1;
- a launch interrupted with no QEMU left (STARTING, pid 0) is terminated at once, and the
  finished VM's worker is retired once its spec is gone;
- a VM desired STOPPED before it ever started gets a vm.state (STOPPED);
- a guest that powered off while vmengine was down is found paused on re-adoption: STOPPED
  with reason guest-shutdown, its QEMU gone.
"""
import json
import os
import signal
import threading
import time

import pytest

from berth_rpc import wait_for
from conftest import qemu_pids
from test_guest import Qmp

GRACE = 3.0          # each of powerdown_grace, quit_grace, term_grace
BOUND = 3 * GRACE + 5


STEPS = ["powerdown", "quit", "term", "kill"]


class EscalationWatch:
    """The escalation steps each VM's vm.state goes through, in order, and when each was
    first seen: vmengine persists every step in vm.state before it takes it
    (docs/vmengine.md), so polling the file (every 20 ms; the steps are seconds apart) sees
    each one. A step only ever follows the one before it, and vm.state keeps the last step
    taken once the VM is STOPPED/TERMINATED, so check() also holds the record against the
    final vm.state: a watcher that saw nothing cannot pass for "no step was taken"."""

    def __init__(self, vme, ids, interval=0.02):
        self.vme, self.ids, self.interval = vme, list(ids), interval
        self.seen = {i: [] for i in self.ids}          # vm id -> [(step, wall time seen)]
        self.since = {}                                # vm id -> terminating/stopping_since
        self.done, self.error = threading.Event(), None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self._poll()
        except Exception as e:  # reported by stop()
            self.error = e

    def _poll(self):
        while not self.done.is_set():
            for i in self.ids:
                st = self.vme.state(i)
                if not st:
                    continue
                esc = st.get("escalation", "none")
                steps = self.seen[i]
                if esc != "none" and (not steps or steps[-1][0] != esc):
                    steps.append((esc, time.time()))
                    self.since[i] = (st.get("terminating_since") or
                                     st.get("stopping_since") or 0) / 1000.0
            time.sleep(self.interval)

    def stop(self):
        self.done.set()
        self.thread.join(10)
        assert not self.thread.is_alive() and self.error is None, self.error

    def steps(self, vm_id):
        return [step for step, _ in self.seen[vm_id]]

    def check(self, vm_id):
        """The steps seen for vm_id, checked against its final vm.state."""
        steps, final = self.steps(vm_id), self.vme.state(vm_id)["escalation"]
        assert (steps[-1] if steps else "none") == final, (steps, final)
        assert steps == STEPS[:len(steps)], steps       # in order, none skipped
        return steps


def wait_adopted(vme, vm_id, pid, after):
    """The running vmengine (status.json carries its pid) has adopted vm_id's QEMU: a reconcile
    after `after` (wall-clock seconds) found it RUNNING with that pid. vm.state alone cannot
    say so: an adoption that changes nothing leaves the file as the old vmengine wrote it."""
    def adopted():
        st = vme.status()
        if not st or st["pid"] != vme.proc.pid:
            return None
        return next((v for v in st["vms"] if v["id"] == vm_id and v["state"] == "RUNNING" and
                     v["pid"] == pid and v["last_reconcile_ms"] >= after * 1000), None)
    return wait_for(adopted, 10, what=f"vm {vm_id} adopted by vmengine {vme.proc.pid}")


def terminate_and_time(vme, vm_id):
    t0 = time.monotonic()
    vme.desire(vm_id, "TERMINATED")
    vme.wait_state(vm_id, "TERMINATED", timeout=BOUND + 30)
    return time.monotonic() - t0


def test_terminate_ten_guests_that_ignore_acpi(make_vmengine):
    vme = make_vmengine().start()
    ids = list(range(1, 11))
    watch = EscalationWatch(vme, ids)
    for i in ids:
        vme.desire(i, "RUNNING", workload="idle")

    took, lock, errors = {}, threading.Lock(), []

    def terminate_when_running(vm_id):
        try:
            vme.wait_state(vm_id, "RUNNING", timeout=180)
            t = terminate_and_time(vme, vm_id)
            with lock:
                took[vm_id] = t
        except Exception as e:  # reported below
            errors.append((vm_id, e))

    threads = [threading.Thread(target=terminate_when_running, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    watch.stop()
    assert not errors, errors
    slowest = max(took.values())
    print(f"10 guests terminated; slowest {slowest:.1f} s (bound {BOUND:.0f} s)")
    assert slowest <= BOUND
    for i in ids:
        assert qemu_pids(i, vme.root) == [], f"QEMU of vm {i} still alive"
        assert watch.check(i)[:2] == ["powerdown", "quit"], watch.steps(i)
        st = vme.state(i)
        assert st["state"] == "TERMINATED" and st["pid"] == 0
    assert vme.stop() == 0


def test_acpi_guest_stops_with_the_first_step(make_vmengine):
    vme = make_vmengine(powerdown_grace=20).start()
    watch = EscalationWatch(vme, [1])
    vme.desire(1, "RUNNING", workload="acpi")
    vme.wait_state(1, "RUNNING")
    wait_for(lambda: "ACPI ready" in vme.console(1), 120, what="the guest's ACPI listener")
    t0 = time.monotonic()
    vme.desire(1, "STOPPED")
    st = vme.wait_state(1, "STOPPED", timeout=30)
    took = time.monotonic() - t0
    watch.stop()
    assert watch.check(1) == ["powerdown"]
    assert st["reason"] == "guest-shutdown"
    assert took < 20, "it waited for the powerdown grace"
    assert qemu_pids(1, vme.root) == []
    print(f"ACPI guest stopped in {took:.1f} s with system_powerdown alone")
    assert vme.stop() == 0


def test_sigstopped_qemu_is_terminated_and_others_keep_their_ticks(make_vmengine):
    vme = make_vmengine().start()
    for i in (1, 2, 3):
        vme.desire(i, "RUNNING", workload="idle")
    for i in (1, 2, 3):
        vme.wait_state(i, "RUNNING")
    pid = vme.state(1)["pid"]
    watch = EscalationWatch(vme, [1])
    os.kill(pid, signal.SIGSTOP)

    lags, stop = [], threading.Event()

    def watch_ticks():
        while not stop.is_set():
            st = vme.status()
            if st:
                now = st["updated_ms"]
                lags.extend(now - v["last_reconcile_ms"] for v in st["vms"]
                            if v["id"] != 1 and v["last_reconcile_ms"])
            time.sleep(0.05)

    watcher = threading.Thread(target=watch_ticks)
    watcher.start()
    try:
        took = terminate_and_time(vme, 1)
    finally:
        stop.set()
        watcher.join(10)
        watch.stop()
    assert took <= BOUND
    assert watch.check(1) == STEPS
    assert vme.state(1)["reason"] == "killed by SIGKILL", vme.state(1)
    # The QMP calls to the stopped QEMU (system_powerdown, quit) never answer: each step was
    # still taken on time, GRACE after the one before, so their deadlines fired and nothing
    # waited on the monitor (vm.state records no QMP error: the steps' times are the oracle).
    since = watch.since[1]
    for k, (step, seen) in enumerate(watch.seen[1]):
        assert since + k * GRACE - 0.1 <= seen <= since + k * GRACE + 1.5, \
            (step, round(seen - since, 2))
    assert qemu_pids(1, vme.root) == []
    # One tick is 200 ms and the status file is written once per tick of the main loop; a
    # VM held up by VM 1's QMP deadline (2 s) would lag by seconds. Allow for a noisy host.
    assert lags and max(lags) <= 2 * 200 + 600, f"another VM's reconcile lagged {max(lags)} ms"
    for i in (2, 3):
        assert vme.state(i)["state"] == "RUNNING"
    print(f"SIGSTOPped QEMU terminated in {took:.1f} s; other VMs' reconcile lag "
          f"max {max(lags)} ms")
    assert vme.stop() == 0


def test_vmengine_restart_readopts_and_resumes_escalation(make_vmengine):
    vme = make_vmengine(powerdown_grace=6).start()
    for i in (1, 2, 3, 4):
        vme.desire(i, "RUNNING", workload="idle")
    pids = {i: vme.wait_state(i, "RUNNING")["pid"] for i in (1, 2, 3, 4)}

    vme.desire(4, "TERMINATED")
    st = wait_for(lambda: (s := vme.state(4)) and s["escalation"] == "powerdown" and s,
                  30, what="vm 4 to start escalating")
    since = st["terminating_since"] / 1000.0
    vme.kill()                                      # SIGKILL, mid-escalation
    wait_for(lambda: time.time() > since + 2, 10, what="two seconds to pass")
    restarted_at = time.time()
    vme = make_vmengine(powerdown_grace=6).start()
    for i in (1, 2, 3):
        wait_adopted(vme, i, pids[i], restarted_at)

    st = vme.wait_state(4, "TERMINATED", timeout=60)
    done = st["since"] / 1000.0
    # The quit step was due at since + 6 s, not 6 s after the restart.
    assert done < restarted_at + 6 - 0.5, (done - since, restarted_at - since)
    assert done - since <= 3 * GRACE + 3 + 5
    for i in (1, 2, 3):
        st = vme.state(i)
        assert st["state"] == "RUNNING" and st["pid"] == pids[i], st
        assert qemu_pids(i, vme.root) == [pids[i]]
        assert st["launches"] == 1, st
    print(f"escalation finished {done - since:.1f} s after terminating_since "
          f"(vmengine was down {restarted_at - since:.1f} s into it)")
    assert vme.stop() == 0


def test_target_restart_policy_restart_vms(make_vmengine, tmp_path):
    vme = make_vmengine(target_restart_policy="restart-vms").start()
    for i in (1, 2):
        vme.desire(i, "RUNNING", workload="idle")
    old = {i: vme.wait_state(i, "RUNNING")["pid"] for i in (1, 2)}
    assert vme.stop() == 0
    marker = tmp_path / "vmengine" / "TARGET_RESTART"
    marker.touch()

    vme = make_vmengine(target_restart_policy="restart-vms").start()
    for i in (1, 2):
        st = wait_for(lambda: (s := vme.state(i)) and s["state"] == "RUNNING" and
                      s["pid"] != old[i] and s, 120, what=f"vm {i} relaunched")
        assert qemu_pids(i, vme.root) == [st["pid"]]
        assert st["launches"] == 2
    assert not marker.exists()
    assert vme.stop() == 0


def test_target_restart_policy_reconnect_leaves_vms(make_vmengine, tmp_path):
    vme = make_vmengine().start()
    vme.desire(1, "RUNNING", workload="idle")
    pid = vme.wait_state(1, "RUNNING")["pid"]
    assert vme.stop() == 0
    marker = tmp_path / "vmengine" / "TARGET_RESTART"
    marker.touch()
    started = time.time()
    vme = make_vmengine().start()
    wait_for(lambda: not marker.exists(), 10, what="the marker to be removed")
    wait_adopted(vme, 1, pid, started)
    st = vme.state(1)
    assert st["state"] == "RUNNING" and st["pid"] == pid and qemu_pids(1, vme.root) == [pid]
    assert st["launches"] == 1 and not st["restart_pending"], st
    assert vme.stop() == 0


@pytest.mark.parametrize("on_crash", ["stop", "restart"])
def test_guest_panic(make_vmengine, on_crash):
    vme = make_vmengine().start()
    vme.desire(1, "RUNNING", workload="panic", on_crash=on_crash)
    if on_crash == "stop":
        st = vme.wait_state(1, "STOPPED", timeout=120)
        # Recorded as a panic (GUEST_PANICKED), stopped by the guest and not by a stop of
        # vmengine's (no escalation step), and held: not relaunched.
        assert st["reason"] == "guest-panic", st
        assert st["escalation"] == "none" and st["held"] and st["launches"] == 1, st
        assert qemu_pids(1, vme.root) == []
    else:
        # vm.state keeps no reason across the relaunch (STOPPED guest-panic is followed at
        # once by STARTING with none), so the oracle is the order of what the files show: the
        # first guest's console says it panicked while vm.state still counts one launch, and
        # a second launch follows. Only the crash path relaunches a VM whose spec did not
        # change (a guest-shutdown holds it), so launches == 2 is the panic's handling.
        def first_guest_panicked():
            before = vme.state(1)
            text = vme.console(1)
            after = vme.state(1)
            return (before and after and before["launches"] == after["launches"] == 1 and
                    "PANIC now" in text)
        wait_for(first_guest_panicked, 120, interval=0.01, what="the first guest's panic")
        st = wait_for(lambda: (s := vme.state(1)) and s["launches"] >= 2 and s, 180,
                      what="a relaunch after the panic")
        assert not st["held"], st
    assert vme.stop() == 0


def test_vm_with_its_disk_on_blockd(make_blockd, make_vmengine):
    blockd = make_blockd().start()
    blockd.call("bdev_malloc_create", {"name": "disk1", "num_blocks": 16384,
                                       "block_size": 4096})
    blockd.call("vhost_create_blk_controller", {"ctrlr": "vm1", "dev_name": "disk1"})
    vme = make_vmengine().start()
    sock = os.path.join(blockd.vhost_dir, "vm1")
    vme.desire(1, "RUNNING", workload="writer berth.count=50", disk={"vhost": sock})
    vme.wait_state(1, "RUNNING")
    wait_for(lambda: "W done 50" in vme.console(1), 120, what="the guest's writes")
    assert blockd.call("vhost_get_controllers")[0]["sessions"]
    vme.desire(1, "TERMINATED")
    vme.wait_state(1, "TERMINATED", timeout=BOUND)
    wait_for(lambda: not blockd.call("vhost_get_controllers")[0]["sessions"], 5,
             what="QEMU to leave the controller")
    assert vme.stop() == 0
    assert blockd.stop() == 0


def test_qemu_that_died_while_vmengine_was_down_is_lost(make_vmengine):
    vme = make_vmengine().start()
    vme.desire(1, "RUNNING", workload="idle")
    pid = vme.wait_state(1, "RUNNING")["pid"]
    assert vme.stop() == 0
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: qemu_pids(1, vme.root) == [], 10, what="QEMU to die")
    vme = make_vmengine().start()
    st = vme.wait_state(1, "STOPPED", timeout=30)
    assert st["reason"] == "lost" and st["pid"] == 0
    # It stays stopped (nobody asked for it again) until the spec's generation changes.
    vme.desire(1, "RUNNING", workload="idle", generation=1)
    st = vme.wait_state(1, "RUNNING", timeout=120)
    assert st["pid"] != pid and st["launches"] == 2
    assert vme.stop() == 0


def test_qemu_killed_from_outside_leaves_its_last_words(make_vmengine):
    vme = make_vmengine().start()
    vme.desire(1, "RUNNING", workload="idle")
    pid = vme.wait_state(1, "RUNNING")["pid"]
    os.kill(pid, signal.SIGTERM)
    st = vme.wait_state(1, "STOPPED", timeout=30)
    assert st["pid"] == 0, st
    said = f"terminating on signal 15 from pid {os.getpid()}"
    run_log = vme.vm_dir(1) / "qemu-run.log"
    assert said in run_log.read_text(), run_log.read_text()
    wait_for(lambda: any("QEMU gone" in line and said in line
                         for line in vme.log_text().splitlines()), 10,
             what="vmengine's QEMU gone line with what QEMU said")
    # The next launch starts a new qemu-run.log and keeps the one before.
    vme.desire(1, "RUNNING", workload="idle", generation=1)
    assert vme.wait_state(1, "RUNNING", timeout=120)["pid"] != pid
    assert said in (vme.vm_dir(1) / "qemu-run.log.1").read_text()
    assert said not in run_log.read_text()
    assert vme.stop() == 0


def test_interrupted_launch_without_qemu_is_terminated_at_once(make_vmengine):
    vme = make_vmengine()
    vme.vm_dir(71).mkdir(parents=True)
    (vme.vm_dir(71) / "vm.state").write_text(json.dumps({"id": 71, "state": "STARTING",
                                                          "pid": 0}))
    vme.desire(71, "TERMINATED")
    t0 = time.monotonic()
    vme.start()
    st = vme.wait_state(71, "TERMINATED", timeout=10)
    assert time.monotonic() - t0 < 5
    assert st["pid"] == 0 and st["reason"] == "lost during launch", st
    assert st["escalation"] == "none", st       # no step taken, nothing signalled
    # No longer desired: its worker is retired, vm.state stays as the record.
    (vme.desired_dir / "71.json").unlink()
    wait_for(lambda: (s := vme.status()) and all(v["id"] != 71 for v in s["vms"]), 10,
             what="vm 71's worker to be retired")
    assert vme.state(71)["state"] == "TERMINATED"
    assert vme.stop() == 0


def test_vm_desired_stopped_before_it_started_is_recorded(make_vmengine):
    vme = make_vmengine().start()
    vme.desire(72, "STOPPED")
    st = vme.wait_state(72, "STOPPED", timeout=10)
    assert st["pid"] == 0 and st["launches"] == 0
    assert qemu_pids(72, vme.root) == []
    assert vme.stop() == 0


def test_guest_powered_off_while_vmengine_was_down(make_vmengine):
    vme = make_vmengine().start()
    vme.desire(73, "RUNNING", workload="acpi")
    pid = vme.wait_state(73, "RUNNING")["pid"]
    wait_for(lambda: "ACPI ready" in vme.console(73), 120, what="the guest's ACPI listener")
    assert vme.stop() == 0
    qmp = Qmp(vme.vm_dir(73) / "qmp-operator.sock")
    try:
        qmp.cmd("system_powerdown")
        wait_for(lambda: "ACPI powerdown" in vme.console(73), 60, what="the guest's powerdown")
        wait_for(lambda: qmp.cmd("query-status")["status"] == "shutdown", 30,
                 what="QEMU paused after the guest powered off")
    finally:
        qmp.close()
    assert qemu_pids(73, vme.root) == [pid]
    restarted_at = time.time()
    vme = make_vmengine().start()
    st = vme.wait_state(73, "STOPPED", timeout=30)
    # The SHUTDOWN event went to nobody in vmengine: only query-status at re-adoption can
    # have told the new vmengine the guest powered off (reason guest-shutdown, recorded by
    # it: since is after its start), and no stop of its own was escalated.
    assert st["reason"] == "guest-shutdown" and st["pid"] == 0, st
    assert st["since"] >= restarted_at * 1000 and st["escalation"] == "none", st
    assert st["held"] and st["launches"] == 1, st
    wait_for(lambda: qemu_pids(73, vme.root) == [], 10, what="QEMU to exit")
    assert vme.stop() == 0

"""tests/e2e/test_target_restart.py — one rule for a target exit, whichever supervisor runs it.

After every exit of blockd that is not a requested stop, both TARGET_RESTART markers are
written and then both engines are restarted, whatever target_restart_policy says; each engine
consumes its marker at start, and vmengine applies the policy (reconnect: the VM rides
through; restart-vms: it is relaunched). A requested stop writes the markers and leaves the
engines alone.

The two supervisors are driven side by side, each on its own host under `berth up` with one
VM, for both policies:
- `berth up`'s supervisor: blockd is SIGKILLed;
- the systemd path: `berth target-stopped` as ExecStopPost= runs it (SERVICE_RESULT=signal),
  with a fake systemctl that records what it is asked and performs the restart of the
  engines it is asked for (SIGTERM; the supervisor brings them back, as Restart=always would).
Both must leave the same record: the engines restarted, each engine having found (and
consumed) its marker once, the VM relaunched or not as the policy says, no marker left.
"""
import json
import os
import signal
import subprocess

import pytest

from berth_host import BERTH, BerthHost
from berth_rpc import wait_for

ENGINES = ("diskengine", "vmengine")
MARKERS = ("diskengine/TARGET_RESTART", "vmengine/TARGET_RESTART")
RESTART_ENGINES = "restart --no-block berth-vmengine.service berth-diskengine.service"

FAKE_SYSTEMCTL = """#!/bin/sh
# Records each call with the markers present at that moment; list-jobs answers $FAKE_JOBS;
# restart stops the engines, which the supervisor of the test host brings back.
echo "$* | markers:$(cd "$FAKE_ROOT" && ls -d */TARGET_RESTART 2>/dev/null | tr '\\n' ' ')" \\
    >> "$FAKE_LOG"
case "$1" in
list-jobs) printf '%s' "${FAKE_JOBS:-}" ;;
restart) for pid in $FAKE_ENGINE_PIDS; do kill -TERM "$pid"; done ;;
esac
"""


class Host(BerthHost):
    def __init__(self, root, guest, policy):
        kernel, initrd = guest
        super().__init__(root,
                         f"[berth]\nguest_kernel = {kernel}\nguest_initrd = {initrd}\n"
                         f"[vmengine]\ntick = 0.2\npowerdown_grace = 2\nquit_grace = 2\n"
                         f"term_grace = 2\ntarget_restart_policy = {policy}\n"
                         f"[diskengine]\ntick = 0.2\nrpc_timeout = 5\nbackoff_max = 1\n"
                         f"[supervisor]\nblockd_restart_sec = 0.2\n"
                         f"diskengine_restart_sec = 0.2\nvmengine_restart_sec = 0.2\n")

    def markers(self):
        return sorted(m for m in MARKERS if (self.root / m).exists())

    def one_vm(self):
        self.run("vm", "create", "t0", "--disk-size", 32, "--memory", 128)
        self.run("vm", "wait", "t0", "--state", "RUNNING", "--timeout", 180)
        vms = json.loads(self.run("--json", "vm", "list").stdout)
        return vms[0]["id"]


@pytest.fixture
def hosts(tmp_path, guest):
    made = []

    def make(name, policy):
        h = Host(tmp_path / name, guest, policy)
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()

def fake_systemctl(tmp_path, h, **env):
    fake = tmp_path / f"systemctl-{h.root.name}"
    fake.write_text(FAKE_SYSTEMCTL)
    fake.chmod(0o755)
    log = tmp_path / f"systemctl-{h.root.name}.log"
    log.touch()
    return log, dict(os.environ, BERTH_SYSTEMCTL=str(fake), FAKE_ROOT=str(h.root),
                     FAKE_LOG=str(log), **env)


def target_exit_record(h, vm_id, before, trigger):
    """Triggers a target exit on h, waits until it is dealt with, and returns what happened."""
    engines = {d: h.daemons()[d]["pid"] for d in ENGINES}
    vm_pid = h.vm_state(vm_id)["pid"]
    found = {d: h.log(d).count("target restart marker found") for d in ENGINES}
    trigger()
    wait_for(lambda: all(h.daemons()[d]["pid"] not in (0, engines[d]) for d in ENGINES), 60,
             what="both engines restarted")
    wait_for(lambda: h.markers() == [], 30, what="the markers consumed")
    policy = "restart-vms" if "restart-vms" in (h.root / "berth.conf").read_text() else ""
    if policy:
        wait_for(lambda: (s := h.vm_state(vm_id)) and s["state"] == "RUNNING" and
                 s["pid"] != vm_pid, 180, what="the VM relaunched")
    else:
        wait_for(lambda: h.vm_state(vm_id)["state"] == "RUNNING", 30, what="the VM running")
    st = h.vm_state(vm_id)
    return {
        "engines_restarted": sorted(d for d in ENGINES if h.daemons()[d]["pid"] != engines[d]),
        "marker_found_by": sorted(d for d in ENGINES
                                  if h.log(d).count("target restart marker found") ==
                                  found[d] + 1),
        "vm_launches": st["launches"] - before["launches"],
        "vm_same_qemu": st["pid"] == vm_pid,
        "markers_left": h.markers(),
    }


@pytest.mark.parametrize("policy, relaunched", [("reconnect", False), ("restart-vms", True)])
def test_both_supervisors_apply_the_same_rule(hosts, tmp_path, policy, relaunched):
    up, systemd = hosts("up", policy), hosts("systemd", policy)
    records = {}

    # berth up's supervisor: the target crashes.
    up.run("up")
    vm = up.one_vm()
    before = up.vm_state(vm)
    records["up"] = target_exit_record(
        up, vm, before, lambda: os.kill(up.daemons()["blockd"]["pid"], signal.SIGKILL))
    sup_log = up.log("supervisor")
    assert "exit=crash engines=restart" in sup_log, sup_log

    # The systemd path: ExecStopPost= runs `berth target-stopped` after a crash.
    systemd.run("up")
    vm = systemd.one_vm()
    before = systemd.vm_state(vm)
    pids = " ".join(str(systemd.daemons()[d]["pid"]) for d in ENGINES)
    calls, env = fake_systemctl(tmp_path, systemd, FAKE_ENGINE_PIDS=pids,
                                SERVICE_RESULT="signal", EXIT_CODE="killed", EXIT_STATUS="KILL")
    records["systemd"] = target_exit_record(
        systemd, vm, before, lambda: systemd.run("target-stopped", env=env))
    # Both markers were there before the engines were asked to restart, and nothing else was
    # asked (a crash needs no question to systemd).
    assert calls.read_text().splitlines() == [
        f"{RESTART_ENGINES} | markers:{' '.join(MARKERS)} "]

    expected = {
        "engines_restarted": list(ENGINES),
        "marker_found_by": list(ENGINES),
        "vm_launches": 1 if relaunched else 0,
        "vm_same_qemu": not relaunched,
        "markers_left": [],
    }
    assert records["up"] == expected, records
    assert records["systemd"] == expected, records


@pytest.mark.parametrize("jobs, restart", [
    ("9 berth-blockd.service stop running\n", False),      # systemctl stop, shutdown
    ("9 berth-blockd.service restart running\n", True),    # systemctl restart berth-blockd
])
def test_target_stopped_clean_exit(tmp_path, jobs, restart):
    """No host needed: a clean exit writes both markers; only a requested stop leaves the
    engines alone."""
    root = tmp_path / "root"
    root.mkdir()

    class Bare:
        pass
    h = Bare()
    h.root = root
    calls, env = fake_systemctl(tmp_path, h, FAKE_JOBS=jobs, SERVICE_RESULT="success",
                                EXIT_CODE="exited", EXIT_STATUS="0", FAKE_ENGINE_PIDS="")
    res = subprocess.run([str(BERTH), "--root", str(root), "target-stopped"], env=env,
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert sorted(m for m in MARKERS if (root / m).exists()) == sorted(MARKERS)
    lines = calls.read_text().splitlines()
    assert lines[0].startswith("list-jobs --no-legend berth-blockd.service | ")
    assert [c.split(" | ")[0] for c in lines[1:]] == ([RESTART_ENGINES] if restart else [])


def test_down_writes_markers_and_up_consumes_them(hosts):
    """berth down is a requested stop: markers written, engines not restarted (they are
    stopped); the next berth up's engines consume them, so no marker goes stale."""
    h = hosts("downup", "reconnect")
    h.run("up")
    h.run("down")
    assert h.markers() == sorted(MARKERS)
    assert "exit=stop-requested engines=left-alone" in h.log("supervisor")
    h.run("up")
    wait_for(lambda: h.markers() == [], 30, what="the markers consumed at start")
    h.run("down")

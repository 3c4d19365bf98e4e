"""tests/e2e/test_berth_cli.py — the whole host through the `berth` command only.

`berth up` runs blockd, diskengine and vmengine under the supervisor in a temporary root;
VMs are the test guest under TCG. Checked:
- five VMs created, listed (--json), two stopped, one started again, all terminated; the
  store, the vm.state files and blockd agree at every step, and nothing is left at the end;
- blockd killed with SIGKILL under `berth up` with three VMs writing: restarted by the
  supervisor, the engines restarted, every VM keeps its QEMU and its writer goes on (policy
  reconnect); with
  policy restart-vms the markers are written, the engines restarted and every VM relaunched;
- vmengine and diskengine killed in turn: restarted, no VM restarted, no export re-created;
- SIGUSR1 to the supervisor restarts the target (diskengine's wedge_action);
- bad input: a one-line error and a non-zero exit, nothing created; usage errors (unknown
  commands and options, bad values, a VM name that looks like an option) exit 2;
- `berth qmp` refuses the commands that change a VM's run state (the store would go out of
  step with the guest) and points at the `berth vm` command that does it;
- a VM being terminated is not brought back by `vm restart`; `vm console --lines N` prints
  exactly the last N lines, also of a console.log over 64 MiB.
"""
import os
import re
import signal
import subprocess
import time

import pytest

from berth_rpc import wait_for
from berth_host import BerthHost
from conftest import BUILD, qemu_pids


class Host(BerthHost):
    def __init__(self, root, guest, policy="reconnect"):
        kernel, initrd = guest
        super().__init__(root,
                         f"[berth]\nguest_kernel = {kernel}\nguest_initrd = {initrd}\n"
                         f"[vmengine]\ntick = 0.2\npowerdown_grace = 2\nquit_grace = 2\n"
                         f"term_grace = 2\ntarget_restart_policy = {policy}\n"
                         f"[diskengine]\ntick = 0.2\nrpc_timeout = 5\nbackoff_max = 1\n")

    def vms(self, all_=False):
        return {v["name"]: v for v in self.json("vm", "list", *(["--all"] if all_ else []))}

    def acked(self, vm_id):
        return [int(x) for x in re.findall(r"^W (\d+) ok", self.console(vm_id), re.M)]

    def controllers(self):
        return {c["ctrlr"] for c in self.json("rpc", "vhost_get_controllers")}

    def raids(self):
        return {r["name"] for r in self.json("rpc", "bdev_raid_get_bdevs",
                                             '{"category": "all"}')}


@pytest.fixture
def host(tmp_path, guest):
    hosts = []

    def make(policy="reconnect"):
        h = Host(tmp_path, guest, policy)
        hosts.append(h)
        return h

    yield make
    for h in hosts:
        h.stop()


def agree(h, expected):
    """The store, vm.state and blockd agree on every VM (expected: name -> state)."""
    vms = h.vms()
    ctrlrs, raids = h.controllers(), h.raids()
    for name, state in expected.items():
        v = vms[name]
        assert v["state"] == state, (name, v)
        assert h.vm_state(v["id"])["state"] == state, (name, h.vm_state(v["id"]))
        assert f"raid_vol{v['volume_id']}" in raids
        assert (f"vm{v['id']}" in ctrlrs) == (state == "RUNNING"), (name, ctrlrs)


def test_five_vms_through_the_cli(host):
    h = host()
    h.run("up")
    names = [f"web{i}" for i in range(5)]
    for n in names:
        h.run("vm", "create", n, "--disk-size", 32, "--memory", 128)
    for n in names:
        h.run("vm", "wait", n, "--state", "RUNNING", "--timeout", 180)
    agree(h, {n: "RUNNING" for n in names})

    for n in names[:2]:
        h.run("vm", "stop", n, "--wait", "--timeout", 60)
    want = {n: ("STOPPED" if n in names[:2] else "RUNNING") for n in names}
    wait_for(lambda: len(h.controllers()) == 3, 10, what="the stopped VMs' exports to go")
    agree(h, want)

    h.run("vm", "start", names[0], "--wait", "--timeout", 120)
    want[names[0]] = "RUNNING"
    wait_for(lambda: len(h.controllers()) == 4, 10, what="the export to come back")
    agree(h, want)

    ids = [h.vms()[n]["id"] for n in names]
    for n in names:
        h.run("vm", "terminate", n, "--wait", "--timeout", 60)
    assert h.vms() == {}
    assert {v["state"] for v in h.vms(all_=True).values()} == {"TERMINATED"}
    assert all(qemu_pids(i, h.root) == [] for i in ids)
    assert h.controllers() == set() and h.raids() == set()
    assert list((h.root / "volumes").iterdir()) == []
    assert {v["state"] for v in h.json("volume", "list", "--all")} == {"DELETED"}
    h.run("down")


def test_bad_input_is_one_line_and_non_zero(host):
    h = host()
    cases = [
        (["vm", "show", "nope"], "unknown VM 'nope'"),
        (["vm", "create", "x", "--disk-size", "0"], "bad --disk-size"),
        (["vm", "create", "x", "--disk-size", "abc"], "bad --disk-size"),
        (["vm", "create", "x", "--disk-size", "16000000"], "MiB free"),
        (["vm", "create", "a/b"], "bad VM name"),
        (["vm", "create", "x", "--vcpus", "999"], "bad --vcpus"),
        (["vm", "wait", "1", "--state", "FOO"], "bad state 'FOO'"),
        (["rpc", "bdev_get_bdevs", "{bad"], "bad JSON params"),
        (["rpc", "bdev_get_bdevs", "[1]"], "bad JSON params"),
        (["vm", "frobnicate", "1"], "unknown command"),
        (["nonsense"], "unknown command"),
    ]
    for args, message in cases:
        res = h.run(*args, check=False)
        assert res.returncode != 0, args
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, res.stderr)
    assert h.vms(all_=True) == {}
    assert h.json("volume", "list", "--all") == []


def test_terminated_stays_terminated_and_console_tail(host):
    """No daemons needed: `vm restart` (and start) of a VM being terminated is one line and
    changes nothing; `vm console --lines N` prints exactly the last N lines, of any size."""
    h = host()
    h.run("vm", "create", "c1", "--disk-size", 1)
    vm = h.vms()["c1"]["id"]
    res = h.run("vm", "console", "c1", check=False)
    assert res.returncode != 0 and "no console yet" in res.stderr, res.stderr

    console = h.root / "vmengine" / "vms" / str(vm) / "console.log"
    console.parent.mkdir(parents=True, exist_ok=True)
    for text, want in (("a\nb\nc\nd\n", "c\nd\n"), ("a\nb\nc\nd", "c\nd")):
        console.write_text(text)
        assert h.run("vm", "console", "c1", "--lines", 2).stdout == want, text
        assert h.run("vm", "console", "c1", "--lines", 1).stdout == want[2:], text
        assert h.run("vm", "console", "c1", "--lines", 9).stdout == text
        assert h.run("vm", "console", "c1").stdout == text
    with open(console, "wb") as f:                   # over 64 MiB (sparse)
        f.truncate(70 << 20)
        f.seek(0, os.SEEK_END)
        f.write(b"\nlast but one\nlast\n")
    assert h.run("vm", "console", "c1", "--lines", 2).stdout == "last but one\nlast\n"

    h.run("vm", "terminate", "c1")
    for args in (["restart", vm, "--timeout", 5], ["restart", "c1"], ["start", vm]):
        res = h.run("vm", *args, check=False)
        lines = res.stderr.strip().splitlines()
        assert res.returncode != 0 and len(lines) == 1 and "is terminated" in lines[0], \
            (args, res.stderr)
    shown = h.json("vm", "show", vm)
    assert shown["desired"] == "TERMINATED" and shown["generation"] == 0, shown


def writers(h, n, disk_mb=32):
    """n writer guests, each writing until its disk is full (disk_mb / 4 KiB blocks)."""
    names = [f"w{i}" for i in range(n)]
    for name in names:
        h.run("vm", "create", name, "--workload", "writer", "--disk-size", disk_mb,
              "--memory", 128)
    ids = {}
    for name in names:
        h.run("vm", "wait", name, "--state", "RUNNING", "--timeout", 180)
        ids[name] = h.vms()[name]["id"]
        wait_for(lambda: len(h.acked(ids[name])) > 5, 120, what=f"{name} to write")
    return ids


def test_blockd_sigkill_under_up_reconnect(host):
    h = host("reconnect")
    h.run("up")
    ids = writers(h, 3)
    pids = {n: h.vm_state(i)["pid"] for n, i in ids.items()}
    engines = {d: h.daemons()[d]["pid"] for d in ("diskengine", "vmengine")}
    old = h.daemons()["blockd"]["pid"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: (d := h.daemons()["blockd"])["pid"] not in (0, old) and d["restarts"] == 1,
             30, what="the supervisor to restart blockd")
    for n, i in ids.items():
        seen = h.acked(i)[-1]
        try:
            wait_for(lambda: h.acked(i)[-1] > seen, 60, what=f"{n}'s writer to go on")
        except TimeoutError:
            # What an operator would look at: the guest's last lines, its vm.state, the
            # target's view of its controller. (The stall once seen here, 2 in ~100 runs: a
            # completion published but not signalled before the kill; docs/blockd.md.)
            print(f"--- {n} (vm{i}) console tail:\n" + "\n".join(h.console(i).splitlines()[-30:]))
            print(f"--- vm.state: {h.vm_state(i)}")
            print(f"--- controllers: {h.json('rpc', 'vhost_get_controllers')}")
            print(f"--- root kept: {h.root}")
            raise
        assert h.vm_state(i)["pid"] == pids[n] and h.vm_state(i)["launches"] == 1
        assert h.console(i).count("BERTH-GUEST boot") == 1
    # Every target exit restarts both engines, whatever the policy (docs/berth.md); the
    # guests' disks may be back before that is done (2 in 45 rounds on a loaded host).
    wait_for(lambda: all(h.daemons()[d]["pid"] not in (0, engines[d]) for d in engines), 60,
             what="both engines restarted")
    for n in ids:
        h.run("vm", "terminate", n, "--wait", "--timeout", 60)
    h.run("down")


def test_blockd_sigkill_under_up_restart_vms(host):
    h = host("restart-vms")
    h.run("up")
    ids = writers(h, 3)
    pids = {n: h.vm_state(i)["pid"] for n, i in ids.items()}
    engines = {d: h.daemons()[d]["pid"] for d in ("diskengine", "vmengine")}
    restarts = {d: h.daemons()[d]["restarts"] for d in engines}
    markers = {d: h.root / d / "TARGET_RESTART" for d in engines}
    assert not any(m.exists() for m in markers.values())
    os.kill(h.daemons()["blockd"]["pid"], signal.SIGKILL)
    # The markers themselves: written when blockd died and there until the engines, stopped
    # meanwhile, take them at their restart (after blockd is back: a second or more).
    seen = set()
    wait_for(lambda: seen.update(d for d, m in markers.items() if m.exists()) or
             seen == set(engines), 10, interval=0.01, what="both TARGET_RESTART markers")
    wait_for(lambda: all(h.daemons()[d]["pid"] not in (0, engines[d]) for d in engines), 60,
             what="the engines to be restarted")
    assert all(h.daemons()[d]["restarts"] == restarts[d] + 1 for d in engines), h.daemons()
    for n, i in ids.items():
        wait_for(lambda: (s := h.vm_state(i)) and s["state"] == "RUNNING" and
                 s["pid"] != pids[n], 180, what=f"{n} relaunched")
        st = h.vm_state(i)
        assert st["launches"] == 2 and not st["restart_pending"], st
    # The restarted vmengine took its marker: each VM went through RESTARTING for the target
    # restart (the store's events), and both markers are gone.
    events = h.json("events", "--limit", 100000)
    for n, i in ids.items():
        restarting = [e for e in events if e["vm"] == i and e["component"] == "vmengine" and
                      e["message"].startswith("RESTARTING") and
                      "reason=target restart" in e["message"]]
        assert restarting, (n, [e["message"] for e in events if e["vm"] == i])
    wait_for(lambda: not any(m.exists() for m in markers.values()), 10,
             what="the engines to remove their markers")
    for n in ids:
        h.run("vm", "terminate", n, "--wait", "--timeout", 60)
    h.run("down")


def test_engines_sigkill_under_up(host):
    h = host()
    h.run("up")
    ids = writers(h, 2)
    pids = {n: h.vm_state(i)["pid"] for n, i in ids.items()}
    for daemon in ("vmengine", "diskengine"):
        old = h.daemons()[daemon]["pid"]
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: h.daemons()[daemon]["pid"] not in (0, old), 30,
                 what=f"{daemon} restarted")
        wait_for(lambda: (h.root / daemon / ("status.json" if daemon == "vmengine"
                                             else "attach.json")).stat().st_mtime >
                 time.time() - 1, 10, what=f"{daemon} running again")
    for n, i in ids.items():
        seen = h.acked(i)[-1]
        wait_for(lambda: h.acked(i)[-1] > seen, 60, what=f"{n}'s writer to go on")
        assert h.vm_state(i)["pid"] == pids[n] and h.vm_state(i)["launches"] == 1
    events = h.json("events", "--limit", 1000)
    created = [e for e in events if e["message"].startswith("export_created")]
    assert sorted(e["vm"] for e in created) == sorted(ids.values()), created
    for n in ids:
        h.run("vm", "terminate", n, "--wait", "--timeout", 60)
    h.run("down")


def test_supervisor_restarts_the_target_on_request(host):
    """diskengine's wedge_action=restart-target reaches the supervisor with SIGUSR1."""
    h = host()
    (h.root / "berth.conf").write_text((h.root / "berth.conf").read_text() +
                                       "[supervisor]\nblockd_restart_sec = 0.2\n")
    h.run("up")
    sup = int((h.root / "run" / "supervisor.pid").read_text())
    old = h.daemons()["blockd"]["pid"]
    engines = {d: h.daemons()[d]["pid"] for d in ("diskengine", "vmengine")}
    markers = [h.root / d / "TARGET_RESTART" for d in engines]
    assert not any(m.exists() for m in markers)
    os.kill(sup, signal.SIGUSR1)
    wait_for(lambda: h.daemons()["blockd"]["pid"] not in (0, old), 30,
             what="blockd restarted on request")
    assert h.daemons()["blockd"]["restarts"] == 1
    # A requested restart is a target exit like a crash (docs/architecture.md, target
    # restart): both engines are restarted once blockd is back, whatever the policy, and each
    # takes its marker at start, so none is left behind.
    wait_for(lambda: all(h.daemons()[d]["pid"] not in (0, engines[d]) for d in engines), 30,
             what="both engines restarted after the target")
    wait_for(lambda: not any(m.exists() for m in markers), 30,
             what="both markers taken by the restarted engines")
    assert all(h.daemons()[d]["restarts"] == 1 for d in engines)
    status = h.json("status")
    assert status["up"] and {d["name"] for d in status["daemons"]} == \
        {"blockd", "diskengine", "vmengine"}
    h.run("down")
    assert h.json("status")["up"] is False


def test_usage_errors_exit_2_in_one_line(host):
    h = host()
    cases = [["nonsense"], ["--bogus"], ["vm", "frobnicate", "1"], ["vm", "create", "-x"],
             ["vm", "create", "--", "-x"], ["vm", "create", "x", "--vcpus", "999"],
             ["vm", "create", "x", "--memory"], ["vm", "create"], ["vm", "list", "--bogus"],
             ["vm", "stop", "-x"], ["vm", "wait", "1", "--state", "FOO"],
             ["rpc", "bdev_get_bdevs", "{bad"], ["events", "--limit", "0"]]
    for args in cases:
        res = h.run(*args, check=False)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1, (args, res.returncode, res.stderr)
    assert h.vms(all_=True) == {}


def test_qmp_refuses_run_state_commands(host):
    h = host()
    h.run("up")
    h.run("vm", "create", "q", "--disk-size", 8, "--memory", 128, "--wait")
    for cmd, points_at in (("stop", "berth vm stop"), ("cont", "berth vm start"),
                           ("system_reset", "berth vm restart"),
                           ("system_powerdown", "berth vm stop"), ("quit", "berth vm stop")):
        res = h.run("qmp", "q", cmd, check=False)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 1 and len(lines) == 1 and points_at in lines[0], \
            (cmd, res.stderr)
    assert h.json("qmp", "q", "query-status")["status"] == "running"
    assert h.vms()["q"]["state"] == "RUNNING"
    h.run("vm", "terminate", "q", "--wait", "--timeout", 120)
    h.run("down")


def test_a_terminated_vm_is_waited_on_by_name(host):
    """Issue 12, item 10: terminate 10 VMs, then wait on each by name: all succeed (on main
    only the first did: a terminated VM's name no longer resolved). A name resolves to its
    most recent VM for wait, show, console and events; actions still only take live VMs."""
    h = host()
    h.run("up")
    names = [f"t{i}" for i in range(10)]
    for n in names:
        h.run("vm", "create", n, "--disk-size", 32, "--memory", 128)
    for n in names:
        h.run("vm", "wait", n, "--state", "RUNNING", "--timeout", 180)
    ids = {n: v["id"] for n, v in h.vms().items()}
    for n in names:
        h.run("vm", "terminate", n)
    for n in names:
        h.run("vm", "wait", n, "--state", "TERMINATED", "--timeout", 120)
    assert h.vms() == {}
    assert h.json("vm", "show", "t2")["id"] == ids["t2"]
    h.run("vm", "console", "t2", "--lines", 1)
    assert {e["vm"] for e in h.json("events", "--vm", "t2")} == {ids["t2"]}
    res = h.run("vm", "start", "t2", check=False)
    assert res.returncode == 1 and res.stderr == "berth: unknown VM 't2'\n", res.stderr
    # The name taken again: it resolves to the new VM.
    h.run("vm", "create", "t2", "--disk-size", 32, "--memory", 128, "--wait")
    assert h.json("vm", "show", "t2")["id"] > ids["t9"]
    h.run("vm", "terminate", "t2", "--wait", "--timeout", 120)


def test_qmp_failure_is_one_line(host):
    """Issue 12, item 9: `berth qmp` to a QEMU whose monitor does not answer (SIGSTOPped)
    prints exactly its one error line (on main a library warn line came first)."""
    h = host()
    h.run("up")
    h.run("vm", "create", "q", "--disk-size", 8, "--memory", 128, "--wait")
    pid = h.vm_state(h.vms()["q"]["id"])["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        res = h.run("qmp", "q", "query-status", check=False)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith("berth: vm ") and "monitor" in res.stderr, res.stderr
    res = h.run("qmp", "q", "no-such-command", check=False)
    assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
    h.run("vm", "terminate", "q", "--wait", "--timeout", 120)


def test_status_names_daemons_started_by_hand(host):
    """Issue 12, item 9: with no supervisor, a vmengine started by hand on the root (it holds
    run/vmengine.lock) is reported running with its pid, not "down" (as on main)."""
    h = host()
    h.run("init")
    proc = subprocess.Popen([str(BUILD / "src" / "vmengine" / "vmengine"), "--root",
                             str(h.root)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (h.root / "vmengine" / "status.json").exists(), 30,
                 what="vmengine to start")
        st = h.json("status")
        print(st)
        assert st["up"] is False and st["supervisor_pid"] == 0, st
        d = {x["name"]: x for x in st["daemons"]}
        assert d["vmengine"]["running"] is True and d["vmengine"]["pid"] == proc.pid, st
        assert d["vmengine"]["supervised"] is False, st
        assert d["diskengine"]["running"] is False and d["blockd"]["running"] is False, st
        text = h.run("status").stdout
        print(text)
        assert f"vmengine    {proc.pid}" in text and "by hand" in text, text
        assert "vmengine is running" in text.splitlines()[0], text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    st = h.json("status")
    assert not [x for x in st["daemons"] if x["running"]], st

"""tests/e2e/test_berth_why.py — operators see why (issue 12, item 8).

A whole host under `berth up` with real guests; what an operator reads must name what a VM or
a volume waits on:
- a hung target RPC (vhost_delete_controller, hung through blockd's fault injection: a host
  with its own bin directory, as in test_diskengine_hung_calls.py) is named by `vm terminate
  --wait` when it times out, by `volume list` (table and --json), by `vm show` and, once it
  is a wedge, by `berth events`;
- `vm show` of a TERMINATING VM gives the escalation step taken, the next one and when it is
  due (the schedule of escalation.c, from the VM's persisted since);
- a VM created while the storage target is down: `vm create --wait` times out naming the
  target ("not reachable since ..."), and `vm show` says the same while it is CREATING.
"""
import json
import os
import signal
import time

from berth_rpc import wait_for
from test_berth_cli import host  # noqa: F401  (fixture)
from test_diskengine_hung_calls import (RPC_TIMEOUT, WEDGE_AFTER, create_vms,  # noqa: F401
                                        fault_host, hang_deletion)


def one_line(res):
    lines = res.stderr.splitlines()
    assert res.returncode == 1 and len(lines) == 1, (res.returncode, res.stderr)
    return lines[0]


def test_a_hung_rpc_is_named(fault_host):  # noqa: F811
    h = fault_host
    h.run("up")
    ids = create_vms(h, ("a",))
    vol = h.vms()["a"]["volume_id"]
    hang_deletion(h, "a", 0)            # until cleared

    # vm terminate --wait names the call it waits on.
    line = one_line(h.run("vm", "terminate", ids["a"], "--wait", "--timeout", 3, check=False))
    print(line)
    assert f"volume {vol}: vhost_delete_controller has not answered for" in line, line

    # volume list, for people and for scripts.
    table = h.run("volume", "list").stdout
    print(table)
    row = [r for r in table.splitlines() if r.split()[0] == str(vol)][0]
    assert "vhost_delete_controller has not answered for" in row, table
    v = [v for v in h.json("volume", "list") if v["id"] == vol][0]
    assert v["waiting_on"].startswith("vhost_delete_controller has not answered for"), v

    # vm show (a terminated VM's name still resolves to it: item 10; here by id).
    show = h.run("vm", "show", ids["a"]).stdout
    print(show)
    assert f"waiting:   volume {vol}: vhost_delete_controller has not answered" in show, show
    assert h.json("vm", "show", ids["a"])["waiting_on"].startswith(f"volume {vol}: ")

    # berth events: the wedge, wedge_after after the call started, names the call.
    def wedge_event():
        evs = h.json("events", "--vm", ids["a"])
        return [e for e in evs if "wedge" in e["message"] and
                "vhost_delete_controller" in e["message"]]
    ev = wait_for(wedge_event, WEDGE_AFTER + 15, interval=0.5, what="the wedge event")
    print(ev)
    h.target("blockd_fault_clear", {"method": "vhost_delete_controller"})


def test_terminating_vm_shows_its_step_and_the_next(host):  # noqa: F811
    h = host()
    conf = h.root / "berth.conf"
    conf.write_text(conf.read_text().replace("powerdown_grace = 2", "powerdown_grace = 30"))
    h.run("up")
    h.run("vm", "create", "x", "--disk-size", 32, "--memory", 128, "--wait", "--timeout", 180)
    vm_id = h.vms()["x"]["id"]
    h.run("vm", "terminate", "x")      # the idle guest ignores ACPI: quit after 30 s
    wait_for(lambda: (h.vm_state(vm_id) or {}).get("escalation") == "powerdown", 30,
             interval=0.1, what="the powerdown step")
    st = h.vm_state(vm_id)
    show = h.run("vm", "show", vm_id).stdout
    print(show)
    assert "stopping:  step powerdown (stop began at " in show, show
    assert ", next quit due at " in show, show
    assert "waiting:   step powerdown" in show and "quit due in " in show, show
    esc = h.json("vm", "show", vm_id)["escalation"]
    assert esc["step"] == "powerdown" and esc["next_step"] == "quit", esc
    assert esc["since_ms"] == st["terminating_since"], (esc, st)
    assert esc["next_due_ms"] == st["terminating_since"] + 30000, (esc, st)
    # The --wait timeout says the same.
    line = one_line(h.run("vm", "terminate", "x", "--wait", "--timeout", 1, check=False))
    print(line)
    assert "waiting on step powerdown" in line and "quit due in" in line, line


def test_a_vm_waiting_on_a_dead_target_says_so(host):  # noqa: F811
    h = host()
    h.run("up")
    sup = json.loads((h.root / "run" / "supervisor.json").read_text())
    blockd = h.daemons()["blockd"]["pid"]
    # The target dies and stays dead: its supervisor is stopped, so nothing restarts it.
    os.kill(sup["pid"], signal.SIGSTOP)
    try:
        os.kill(blockd, signal.SIGKILL)
        wait_for(lambda: json.loads((h.root / "diskengine" / "attach.json").read_text())
                 ["target"] == "unreachable", 30, interval=0.1, what="diskengine to see it")
        start = time.monotonic()
        line = one_line(h.run("vm", "create", "n", "--disk-size", 32, "--memory", 128,
                              "--wait", "--timeout", 3, check=False))
        print(line)
        assert time.monotonic() - start < 30
        assert "is CREATING after 3 s, not RUNNING; waiting on the storage target: " \
               "not reachable since " in line, line
        show = h.run("vm", "show", "n").stdout
        print(show)
        assert "waiting:   the storage target: not reachable since " in show, show
    finally:
        os.kill(sup["pid"], signal.SIGCONT)
    # Once the target is back, the VM comes up and waits on nothing.
    h.run("vm", "wait", "n", "--state", "RUNNING", "--timeout", 180)
    assert h.json("vm", "show", "n")["waiting_on"] is None

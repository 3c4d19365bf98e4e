"""tests/e2e/test_fleet_pg.py — a fleet on PostgreSQL (issue 16, docs/fleet.md): three host
roots on this machine, each its own `berth up` (blockd, diskengine, vmengine), one
PostgreSQL server the test starts in a temporary directory (pg_server.py).

- BERTH_FLEET_VMS VMs (default 30: about 3 min on the shared 2-core box) created
  from two CLIs at once, without --host, on hosts whose capacities add up to exactly that
  many 1-vCPU VMs: every host ends full and none over (`berth host list`), the next create
  is refused with one line and creates nothing; all boot (RUNNING; three reach the guest's
  userspace); the store and each host's vm.state agree (state, QEMU pid, the live QEMU).
- PostgreSQL stopped (pg_ctl stop -m fast) under the running VMs: a CLI call fails with one
  line within its deadline; started again: no VM disturbed (the same QEMU pids), every
  host's heartbeat resumes, a VM terminated and another created after are carried out.
- PostgreSQL frozen (SIGSTOP) for 30 s: a CLI call fails with one line after its deadline
  (store_timeout, 3 s here); after SIGCONT the same checks.
- Every VM terminated: the store and vm.state agree, no QEMU left.
"""
import os
import threading
import time
from pathlib import Path

import pytest

from berth_host import BerthHost
from berth_rpc import wait_for
from conftest import qemu_pids
from pg_server import pg_server  # noqa: F401 (the fixture)

N_VMS = int(os.environ.get("BERTH_FLEET_VMS", "30"))
STORE_TIMEOUT = 3
MEMORY = 96


class Host(BerthHost):
    def __init__(self, base, name, guest, store, vcpus):
        kernel, initrd = guest
        super().__init__(Path(base) / name,
                         f"[berth]\nstore = {store}\nhost = {name}\n"
                         f"store_timeout = {STORE_TIMEOUT}\n"
                         f"host_vcpus = {vcpus}\nhost_memory_mb = 65536\n"
                         f"guest_kernel = {kernel}\nguest_initrd = {initrd}\n"
                         f"[vmengine]\ntick = 0.5\npowerdown_grace = 2\nquit_grace = 2\n"
                         f"term_grace = 2\nqmp_timeout = 2\n[diskengine]\ntick = 0.5\n"
                         f"rpc_timeout = 5\nbackoff_max = 1\n", name=name)


@pytest.fixture
def fleet(tmp_path, guest, pg_server):  # noqa: F811
    base = N_VMS // 3
    caps = [N_VMS - 2 * base, base, base]
    hosts = [Host(tmp_path, n, guest, pg_server.url, c) for n, c in zip("abc", caps)]
    yield hosts
    for h in hosts:
        h.stop()


def vms(h):
    """Every live VM of the fleet, by name."""
    return {v["name"]: v for v in h.json("vm", "list")}


def by_host(hosts):
    return {h.name: h for h in hosts}


def agree(hosts, want_state):
    """The store and each host's vm.state agree on every VM: its state, its QEMU pid, and
    that QEMU is alive (or gone, once TERMINATED)."""
    roots = by_host(hosts)
    listed = hosts[0].json("vm", "list", "--all")
    for v in listed:
        if v["name"] not in want_state:
            continue
        h = roots[v["host"]]
        st = h.vm_state(v["id"]) or {}
        want = want_state[v["name"]]
        assert v["state"] == want and st.get("state") == want, (v["name"], v, st)
        if want == "RUNNING":
            assert st.get("pid") == v["pid"] and qemu_pids(v["id"], h.root) == [v["pid"]], \
                (v["name"], v, st, qemu_pids(v["id"], h.root))
        else:
            assert qemu_pids(v["id"], h.root) == [], (v["name"], "QEMU left")


def all_in(h, names, state):
    live = {v["name"]: v for v in h.json("vm", "list", "--all") if v["name"] in names}
    return len(live) == len(names) and all(v["state"] == state for v in live.values())


def host_rows(h):
    return {r["name"]: r for r in h.json("host", "list")}


def fails_one_line(h, within_s):
    t0 = time.monotonic()
    res = h.run("vm", "list", check=False, timeout=60)
    took = time.monotonic() - t0
    err = res.stderr.strip()
    assert res.returncode == 1 and res.stdout == "", (res.returncode, res.stdout, err)
    assert err.startswith("berth: ") and "\n" not in err and "store" in err, err
    assert took <= within_s, (took, err)
    return took, err


def pids_of(hosts, names):
    out = {}
    roots = by_host(hosts)
    for v in hosts[0].json("vm", "list"):
        if v["name"] in names:
            out[v["name"]] = qemu_pids(v["id"], roots[v["host"]].root)
    return out


def heartbeats_after(hosts, t_ms):
    rows = host_rows(hosts[0])
    return all(rows[h.name]["seen_ms"] > t_ms and rows[h.name]["status"] == "UP"
               for h in hosts)


def carried_out_after_outage(hosts, running, tag):
    """One VM terminated, one created in its room: the engines act on the store again."""
    a = hosts[0]
    victim = running.pop()
    a.run("vm", "terminate", victim, "--wait", "--timeout", 180)
    fresh = f"{tag}-new"
    a.run("vm", "create", fresh, "--disk-size", 8, "--memory", MEMORY, "--wait",
          "--timeout", 300)
    running.append(fresh)
    return victim


def test_fleet_on_postgresql(fleet, pg_server):  # noqa: F811
    hosts = fleet
    a, b, _ = hosts
    t_start = time.monotonic()
    for h in hosts:
        h.run("up", timeout=120)
    wait_for(lambda: len([r for r in host_rows(a).values() if r["status"] == "UP"]) == 3,
             60, interval=0.5, what="three hosts UP")

    # -- N VMs from two CLIs at once, placed without overcommit
    names = [f"f{i:02d}" for i in range(N_VMS)]
    errors = []

    def creator(h, mine):
        for n in mine:
            res = h.run("vm", "create", n, "--disk-size", 8, "--memory", MEMORY, check=False)
            if res.returncode != 0:
                errors.append((n, res.stderr))

    threads = [threading.Thread(target=creator, args=(a, names[0::2])),
               threading.Thread(target=creator, args=(b, names[1::2]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [], errors
    rows = host_rows(a)
    for r in rows.values():
        assert r["used_vcpus"] == r["vcpus"] and r["vms"] == r["vcpus"], r   # full, not over
    before = sorted((v["id"], v["name"], v["host"]) for v in a.json("vm", "list", "--all"))
    res = b.run("vm", "create", "one-too-many", "--disk-size", 8, "--memory", MEMORY,
                check=False)
    assert res.returncode == 1 and res.stderr == \
        "berth: no host has room for a VM of 1 vCPUs and 96 MiB " \
        "(3 hosts: 3 full, 0 too small for it, 0 DOWN)\n", res.stderr
    assert sorted((v["id"], v["name"], v["host"]) for v in a.json("vm", "list", "--all")) \
        == before, "a refused create left something"
    assert sorted(v[1] for v in before) == sorted(names)
    t_created = time.monotonic()

    wait_for(lambda: all_in(a, names, "RUNNING"), 120 + 20 * N_VMS, interval=1,
             what=f"{N_VMS} VMs RUNNING")
    t_running = time.monotonic()
    placed = {v["name"]: v for v in a.json("vm", "list")}
    roots = by_host(hosts)
    for hn in "abc":        # one VM of each host reaches the guest's userspace
        v = next(v for v in placed.values() if v["host"] == hn)
        wait_for(lambda: "IDLE ready" in roots[hn].console(v["id"]), 300, interval=1,
                 what=f"{v['name']} on {hn}: IDLE ready")
    agree(hosts, {n: "RUNNING" for n in names})
    running = list(names)

    # -- PostgreSQL restarted under the running VMs
    pids = pids_of(hosts, running)
    pg_server.stop_fast()
    took, err = fails_one_line(a, STORE_TIMEOUT + 2)
    t_back_ms = int(time.time() * 1000)
    pg_server.start()
    wait_for(lambda: heartbeats_after(hosts, t_back_ms), 60, interval=1,
             what="every host's heartbeat after the restart")
    assert pids_of(hosts, running) == pids, "a VM was disturbed by the restart"
    agree(hosts, {n: "RUNNING" for n in running})
    gone = [carried_out_after_outage(hosts, running, "restart")]

    # -- PostgreSQL frozen for 30 s
    pids = pids_of(hosts, running)
    pg_server.freeze()
    t_frozen = time.monotonic()
    try:
        took_frozen, err_frozen = fails_one_line(a, STORE_TIMEOUT + 3)
        assert took_frozen >= STORE_TIMEOUT * 0.8, (took_frozen, err_frozen)
        assert "no answer within" in err_frozen, err_frozen
        remaining = 30 - (time.monotonic() - t_frozen)
        if remaining > 0:
            time.sleep(remaining)    # the outage's length, not a synchronisation
    finally:
        pg_server.thaw()
    t_back_ms = int(time.time() * 1000)
    wait_for(lambda: heartbeats_after(hosts, t_back_ms), 60, interval=1,
             what="every host's heartbeat after the freeze")
    assert pids_of(hosts, running) == pids, "a VM was disturbed by the freeze"
    agree(hosts, {n: "RUNNING" for n in running})
    gone.append(carried_out_after_outage(hosts, running, "freeze"))

    # -- every VM terminated
    for n in running:
        a.run("vm", "terminate", n)
    wait_for(lambda: all_in(a, running, "TERMINATED"), 120 + 5 * N_VMS, interval=1,
             what="every VM TERMINATED")
    agree(hosts, {n: "TERMINATED" for n in running + gone})
    for r in host_rows(a).values():
        assert r["used_vcpus"] == 0 and r["vms"] == 0, r
    print(f"\nfleet of {N_VMS} VMs: created in {t_created - t_start:.1f} s (3 x berth up "
          f"included), all RUNNING {t_running - t_created:.1f} s later; restart: CLI failed "
          f"in {took:.2f} s ({err}); freeze: CLI failed in {took_frozen:.2f} s "
          f"({err_frozen}); total {time.monotonic() - t_start:.0f} s")

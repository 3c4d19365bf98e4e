"""tests/e2e/test_store_crash.py — the store survives SIGKILLs at random points.

A stream of `berth vm create`, `vm stop`, `vm start` and `vm terminate`, each CLI process
SIGKILLed after a random delay (or left to finish); separately the same stream under
`berth up` while vmengine and diskengine are SIGKILLed at random points. After every round:
the store opens and passes SQLite's integrity check, no VM row lacks its volume or the
reverse, and every acknowledged change (the CLI exited 0) is there — a VM it created, the
desired state it set (unless a later, unacknowledged command may have replaced it).
BERTH_STORE_CRASH_ROUNDS sets the number of rounds (default 40; 200 by hand).
"""
import os
import random
import signal
import sqlite3
import subprocess
import time

from berth_rpc import wait_for
from berth_host import BERTH
from test_berth_cli import host  # noqa: F401 (the fixture)

ROUNDS = int(os.environ.get("BERTH_STORE_CRASH_ROUNDS", "40"))
OPS = ("create", "stop", "start", "terminate")


def check_store(root, acked_vms, allowed):
    db = sqlite3.connect(f"file:{root}/store.db?mode=ro", uri=True, timeout=10)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        vms = {r[0]: r for r in db.execute("SELECT id, name, desired, volume_id FROM vms")}
        vols = {r[0]: r for r in db.execute("SELECT id, vm_id FROM volumes")}
    finally:
        db.close()
    for vm_id, name, desired, vol in vms.values():
        assert vol in vols and vols[vol][1] == vm_id, ("VM without its volume", vm_id)
    for vol_id, vm_id in vols.values():
        assert vm_id in vms and vms[vm_id][3] == vol_id, ("volume without its VM", vol_id)
    names = {r[1]: r for r in vms.values()}
    for name in acked_vms:
        assert name in names, ("acknowledged create lost", name)
    for name, states in allowed.items():
        if name in names:
            assert names[name][2] in states, (name, names[name][2], states)


def stream(h, rounds, rng, kill_engines=False):
    acked, allowed, names = set(), {}, []
    for i in range(rounds):
        op = "create" if not names or rng.random() < 0.3 else rng.choice(OPS[1:])
        if op == "create":
            name = f"c{i}"
            args = ["vm", "create", name, "--disk-size", "1", "--memory", "64"]
            names.append(name)
        else:
            name = rng.choice(names)
            args = ["vm", op, name]
        proc = subprocess.Popen([str(BERTH), "--root", str(h.root), *args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if kill_engines and rng.random() < 0.5:
            daemon = rng.choice(["vmengine", "diskengine"])
            pid = h.daemons()[daemon]["pid"]
            time.sleep(rng.uniform(0, 0.02))     # a random point, not a synchronisation
            if pid > 0:
                os.kill(pid, signal.SIGKILL)
        killed = rng.random() < 0.6
        if killed:
            time.sleep(rng.uniform(0, 0.03))     # a random point in the CLI's run
            proc.send_signal(signal.SIGKILL)
        rc = proc.wait(60)
        desired = {"create": "RUNNING", "stop": "STOPPED", "start": "RUNNING",
                   "terminate": "TERMINATED"}[op]
        if rc == 0:
            if op == "create":
                acked.add(name)
            allowed[name] = {desired}            # acknowledged: exactly this now
        else:
            allowed.setdefault(name, set()).add(desired)   # may or may not have landed
        check_store(h.root, acked, allowed)
    return acked


def test_cli_sigkilled_at_random_points(host):
    h = host()
    h.run("init")
    rng = random.Random(int(os.environ.get("BERTH_STORE_CRASH_SEED", "11")))
    acked = stream(h, ROUNDS, rng)
    assert acked, "no command finished: the kill delays are too short to mean anything"


def test_engines_sigkilled_during_the_stream(host):
    h = host()
    (h.root / "berth.conf").write_text((h.root / "berth.conf").read_text() +
                                       "[supervisor]\nvmengine_restart_sec = 0.1\n"
                                       "diskengine_restart_sec = 0.1\n")
    h.run("up")
    rng = random.Random(int(os.environ.get("BERTH_STORE_CRASH_SEED", "12")))
    stream(h, max(4, ROUNDS // 4), rng, kill_engines=True)
    wait_for(lambda: all(h.daemons()[d]["pid"] > 0 for d in ("vmengine", "diskengine")), 60,
             what="the engines to be back")
    for v in h.vms().values():
        h.run("vm", "terminate", v["name"], check=False)
    h.run("down")

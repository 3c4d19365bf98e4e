"""`berth doctor --fix` on a host whose target systemd runs (issue 13): with no `berth up`
supervisor and berth-blockd.service active, the safe "restart the target" recovery is done
through `systemctl restart berth-blockd.service` — not only printed — and doctor waits for a
new blockd to answer. systemd is not PID 1 on these machines, so $BERTH_SYSTEMCTL names a
stand-in systemctl (a fake peer): `is-active` says the unit runs, `restart` kills the blockd
it started and starts a new one the way the unit's ExecStart= does.
"""
import json
import os
import signal
import subprocess
import time

from berth_rpc import RpcClient, wait_for
from conftest import BUILD
from berth_host import BERTH
from test_doctor import DoctorHost

BLOCKD = BUILD / "src" / "blockd" / "blockd"

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> {log}
case "$1" in
is-active) [ "$3" = berth-blockd.service ] && exit 0; exit 3 ;;
restart)
    [ "$2" = berth-blockd.service ] || exit 5
    kill -9 "$(cat {pidfile})"
    while kill -0 "$(cat {pidfile})" 2>/dev/null; do :; done
    {start}
    exit 0 ;;
esac
exit 1
"""


def test_fix_restarts_the_target_through_systemd(tmp_path, guest):
    (tmp_path / "root").mkdir()
    h = DoctorHost(tmp_path / "root", guest)
    h.run("init")
    bdir = h.root / "blockd"
    bdir.mkdir(exist_ok=True)
    pidfile, log = tmp_path / "blockd.pid", tmp_path / "systemctl.log"
    start = (f"setsid {BLOCKD} -r {bdir / 'rpc.sock'} -S {bdir / 'vhost'} --persist "
             f"{bdir / 'config.json'} --fault-injection >>{tmp_path / 'blockd.log'} 2>&1 "
             f"</dev/null & echo $! > {pidfile}")
    fake = tmp_path / "systemctl"
    fake.write_text(FAKE_SYSTEMCTL.format(log=log, pidfile=pidfile, start=start))
    fake.chmod(0o755)
    subprocess.run(["sh", "-c", start], check=True, timeout=30)
    try:
        old = int(pidfile.read_text())
        wait_for(lambda: (bdir / "rpc.sock").exists(), 30, what="blockd to listen")
        with RpcClient(str(bdir / "rpc.sock"), timeout=10) as c:
            c.call("blockd_fault_reactor", {"lcore": 1, "action": "spin"})
        env = dict(os.environ, BERTH_SYSTEMCTL=str(fake))
        res = subprocess.run([str(BERTH), "--root", str(h.root), "doctor", "--json", "--fix"],
                             capture_output=True, text=True, timeout=120, env=env)
        report = json.loads(res.stdout)
        restart = [f for f in report["fixes"] if f["fix"] == "restart-target"]
        assert len(restart) == 1 and restart[0]["done"], report["fixes"]
        assert "systemctl restart berth-blockd.service" in restart[0]["message"], restart
        new = int(pidfile.read_text())
        assert new != old and f"-> {new}" in restart[0]["message"], restart
        assert log.read_text().splitlines() == ["is-active --quiet berth-blockd.service",
                                                "restart berth-blockd.service"]
        # The new target answers and no reactor spins any more.
        rc, report, _ = h.doctor()
        assert not [c for c in report["checks"] if c["id"] in ("reactor-busy", "poller-pinned",
                                                               "blockd-rpc")
                    and c["level"] != "PASS"], report
        # Without systemd's unit (is-active fails) nothing is done, and doctor says why.
        fake.write_text("#!/bin/sh\necho \"$*\" >> %s\nexit 3\n" % log)
        with RpcClient(str(bdir / "rpc.sock"), timeout=10) as c:
            c.call("blockd_fault_reactor", {"lcore": 1, "action": "spin"})
        res = subprocess.run([str(BERTH), "--root", str(h.root), "doctor", "--json", "--fix"],
                             capture_output=True, text=True, timeout=120, env=env)
        fixes = [f for f in json.loads(res.stdout)["fixes"] if f["fix"] == "restart-target"]
        assert fixes and not fixes[0]["done"] and "not done" in fixes[0]["message"], fixes
        assert int(pidfile.read_text()) == new
    finally:
        pid = int(pidfile.read_text())
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)


def test_export_stuck_on_the_gate_quotes_the_log_line(tmp_path, guest):
    """The retrospective's trip-up "gate failed in the disk engine's log": an item the detach
    loop keeps deferring on the gate is named by export-stuck with diskengine's own log line
    (the words operators grep for), read from the log's tail within the budget."""
    (tmp_path / "root").mkdir()
    h = DoctorHost(tmp_path / "root", guest)
    h.run("init")
    now = int(time.time() * 1000)
    (h.root / "diskengine").mkdir(exist_ok=True)
    (h.root / "diskengine" / "detach.json").write_text(json.dumps({"items": [{
        "item": "volume", "vol": 3, "failures": 9, "failing_since_ms": now - 120000,
        "attempt_ms": 0, "in_flight": False, "wedged": True, "rpc": "gate",
        "error": "raid_vol3 still present in vm7"}]}))
    line = ('2026-12-02T08:00:00.000Z warn diskengine msg="raid detach: vol 3 gate failed '
            '(raid_vol3 still present in vm7); deferring"')
    (h.root / "run").mkdir(exist_ok=True)
    (h.root / "run" / "diskengine.log").write_text(
        "x" * 300000 + "\n" + line.replace("08:00:00", "07:59:00") + "\nother\n" + line +
        "\nlater line\n")
    rc, report, took = h.doctor()
    c = h.check(report, "export-stuck", vol=3, rpc="gate")
    assert c["evidence"]["log_line"] == line, c
    assert c["bug_class"] == 1 and rc == 2 and took < 5

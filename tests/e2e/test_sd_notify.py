"""test_sd_notify.py — the daemons under systemd's notify protocol, with a fake NOTIFY_SOCKET
(an AF_UNIX datagram socket the test binds) and WATCHDOG_USEC in their environment:
- blockd says READY=1 only once it serves (its RPC socket answers and the persisted
  configuration is replayed: checked the moment READY=1 arrives), with a STATUS= line; pings
  WATCHDOG=1 while healthy; stops pinging while its control thread is wedged
  (blockd_fault_reactor wedge on lcore 0: no RPC answered) or an IO reactor is, says which
  in STATUS=, and pings again once it is over; STOPPING=1 at SIGTERM, then no ping.
- vmengine and diskengine: READY=1 after their first reconcile pass (their status files are
  there when it arrives), pings, STOPPING=1 at SIGTERM.
- Outside systemd nothing changes: no watchdog poller in blockd without NOTIFY_SOCKET or
  without WATCHDOG_USEC, and no ping without WATCHDOG_USEC."""
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from berth_rpc import RpcClient, wait_for
from conftest import binary

WATCHDOG_USEC = 1_000_000          # pings checked every 0.25 s


class Notifications:
    """The fake NOTIFY_SOCKET: every datagram, with its arrival time; on_ready runs in the
    receiving thread the moment READY=1 arrives (before anything else is read)."""

    def __init__(self, on_ready=None):
        self.dir = tempfile.TemporaryDirectory(prefix="notify")   # short: sun_path
        self.path = os.path.join(self.dir.name, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.on_ready = on_ready
        self.ready_check = None
        self.messages = []             # (monotonic time, {key: value})
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            if fields.get("READY") == "1" and self.on_ready:
                self.ready_check = self.on_ready()
            with self.lock:
                self.messages.append((time.monotonic(), fields))

    def close(self):
        self.done = True
        self.thread.join(5)
        self.sock.close()
        self.dir.cleanup()

    def all(self, key=None, since=0.0):
        with self.lock:
            return [(t, m) for t, m in self.messages if t >= since and (key is None or key in m)]

    def wait(self, key, value=None, since=0.0, timeout=10, count=1):
        def found():
            hits = [(t, m) for t, m in self.all(key, since)
                    if value is None or m[key] == value or
                    (callable(value) and value(m[key]))]
            return hits if len(hits) >= count else None
        return wait_for(found, timeout, what=f"{count} x {key}={value or '*'}")

    def env(self, watchdog=True):
        env = dict(os.environ, NOTIFY_SOCKET=self.path)
        if watchdog:
            env["WATCHDOG_USEC"] = str(WATCHDOG_USEC)
        env.pop("WATCHDOG_PID", None)
        return env


@pytest.fixture
def notifications():
    made = []

    def make(on_ready=None):
        n = Notifications(on_ready)
        made.append(n)
        return n
    yield make
    for n in made:
        n.close()


@pytest.fixture
def procs():
    started = []

    def launch(argv, env, log):
        p = subprocess.Popen([str(a) for a in argv], env=env, stdout=open(log, "ab"),
                             stderr=subprocess.STDOUT)
        started.append(p)
        return p
    yield launch
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def rpc(sock, method, params=None, timeout=5.0):
    with RpcClient(sock, timeout=timeout) as c:
        return c.call(method, params)


def stop(proc, notes):
    """SIGTERM: STOPPING=1 arrives, the daemon exits 0, and no ping follows STOPPING."""
    proc.send_signal(signal.SIGTERM)
    (t_stop, msg), = notes.wait("STOPPING", "1", timeout=15)
    assert msg.get("STATUS", "").startswith("stopping"), msg
    assert proc.wait(30) == 0
    late = notes.all("WATCHDOG", since=t_stop)
    assert late == [], f"pinged after STOPPING=1: {late}"


def no_ping_between(notes, start, end):
    pings = [t for t, _ in notes.all("WATCHDOG", since=start) if t <= end]
    assert pings == [], f"pinged while wedged: {[round(t - start, 2) for t in pings]}"


def blockd_argv(d, *extra):
    return [binary("blockd"), "-r", d / "rpc.sock", "-S", d / "vhost",
            "--persist", d / "config.json", "--reactors", "2", *extra]


def test_blockd_ready_status_watchdog_wedge_stopping(tmp_path, notifications, procs):
    d = tmp_path / "blockd"
    d.mkdir()
    sock = str(d / "rpc.sock")
    # A configuration to replay: M0, made by a first blockd (outside systemd).
    first = procs(blockd_argv(d), dict(os.environ), d / "first.log")
    wait_for(lambda: os.path.exists(sock) and rpc(sock, "spdk_get_version", timeout=1),
             15, what="the first blockd")
    rpc(sock, "bdev_malloc_create", {"name": "M0", "num_blocks": 256, "block_size": 512})
    first.send_signal(signal.SIGTERM)
    assert first.wait(30) == 0

    def at_ready():
        """What a client sees the moment READY=1 arrives."""
        try:
            return {"version": rpc(sock, "spdk_get_version", timeout=2)["version"],
                    "bdevs": [b["name"] for b in rpc(sock, "bdev_get_bdevs", timeout=2)]}
        except Exception as e:         # noqa: BLE001 — reported by the assertion below
            return {"error": repr(e)}

    notes = notifications(at_ready)
    proc = procs(blockd_argv(d, "--fault-injection"), notes.env(), d / "blockd.log")
    (t_ready, ready), = notes.wait("READY", "1", timeout=15)
    assert ready["STATUS"].startswith("serving: rpc="), ready
    assert notes.ready_check and "error" not in notes.ready_check, notes.ready_check
    assert notes.ready_check["bdevs"] == ["M0"], notes.ready_check
    assert notes.all(since=0) and notes.all()[0][1].get("READY") == "1", \
        f"something came before READY=1: {notes.all()}"
    # Healthy: pings every quarter of the interval.
    notes.wait("WATCHDOG", "1", since=t_ready, count=4, timeout=5)
    pollers = rpc(sock, "thread_get_pollers")
    beats = [t["name"] for t in pollers["threads"]
             for p in t.get("timed_pollers", []) if p["name"] == "watchdog_beat"]
    assert beats == ["app_thread", "reactor_0", "reactor_1"], pollers

    # The control thread wedged for 3 s: no RPC answered, no ping, STATUS says why.
    assert rpc(sock, "blockd_fault_reactor", {"lcore": 0, "action": "wedge",
                                              "wedge_ms": 3000}) is True
    t0 = time.monotonic()
    with pytest.raises((TimeoutError, OSError)):
        rpc(sock, "spdk_get_version", timeout=1)
    notes.wait("STATUS", lambda s: s.startswith("watchdog withheld: app_thread"), since=t0,
               timeout=3)
    notes.wait("WATCHDOG", "1", since=t0 + 3.0, timeout=5)       # over: pings again
    no_ping_between(notes, t0 + 0.6, t0 + 2.9)
    notes.wait("STATUS", lambda s: s.startswith("serving:"), since=t0 + 3.0, timeout=3)
    assert rpc(sock, "spdk_get_version")["version"]

    # An IO reactor wedged: RPCs still answered, but no ping either.
    assert rpc(sock, "blockd_fault_reactor", {"lcore": 2, "action": "wedge",
                                              "wedge_ms": 2000}) is True
    t1 = time.monotonic()
    assert rpc(sock, "spdk_get_version", timeout=1)["version"]
    notes.wait("STATUS", lambda s: s.startswith("watchdog withheld: reactor_1"), since=t1,
               timeout=3)
    notes.wait("WATCHDOG", "1", since=t1 + 2.0, timeout=5)
    no_ping_between(notes, t1 + 0.6, t1 + 1.9)
    stop(proc, notes)


def test_blockd_wedge_fault_needs_fault_injection_and_bounds(tmp_path, procs):
    d = tmp_path / "blockd"
    d.mkdir()
    sock = str(d / "rpc.sock")
    procs(blockd_argv(d), dict(os.environ), d / "blockd.log")
    wait_for(lambda: os.path.exists(sock) and rpc(sock, "spdk_get_version", timeout=1),
             15, what="blockd")
    with pytest.raises(Exception, match="-32601|not found|fault"):
        rpc(sock, "blockd_fault_reactor", {"lcore": 0, "action": "wedge"})


@pytest.mark.parametrize("env_kind", ["no-notify-socket", "no-watchdog"])
def test_blockd_outside_systemd_nothing_changes(tmp_path, notifications, procs, env_kind):
    d = tmp_path / "blockd"
    d.mkdir()
    sock = str(d / "rpc.sock")
    notes = notifications()
    if env_kind == "no-notify-socket":
        env = dict(os.environ, WATCHDOG_USEC=str(WATCHDOG_USEC))
        env.pop("NOTIFY_SOCKET", None)
    else:
        env = notes.env(watchdog=False)
    proc = procs(blockd_argv(d), env, d / "blockd.log")
    wait_for(lambda: os.path.exists(sock) and rpc(sock, "spdk_get_version", timeout=1),
             15, what="blockd")
    pollers = rpc(sock, "thread_get_pollers")
    names = {p["name"] for t in pollers["threads"] for p in t.get("timed_pollers", [])}
    assert "watchdog_beat" not in names, pollers
    if env_kind == "no-watchdog":
        (t_ready, _), = notes.wait("READY", "1", timeout=10)
        # Two check periods of a watchdog would have pinged by now; none must come.
        deadline = time.monotonic() + 1.0
        assert not notes.all("WATCHDOG")
        wait_for(lambda: time.monotonic() >= deadline, 2, what="a second")
        assert not notes.all("WATCHDOG")
        stop(proc, notes)
    else:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert notes.all() == []


def engine_root(tmp_path, name):
    root = tmp_path / "root"
    root.mkdir()
    (root / "berth.conf").write_text(
        f"[{name}]\ndesired_source = dir\ntick = 0.2\n" +
        ("rpc_timeout = 1\nbackoff_max = 1\n" if name == "diskengine" else ""))
    return root


@pytest.mark.parametrize("name, status_files", [
    ("vmengine", ["vmengine/status.json"]),
    ("diskengine", ["diskengine/attach.json", "diskengine/detach.json"]),
])
def test_engine_ready_after_first_pass_watchdog_stopping(tmp_path, notifications, procs, name,
                                                         status_files):
    root = engine_root(tmp_path, name)
    notes = notifications(lambda: {f: (root / f).exists() for f in status_files})
    proc = procs([binary(name), "--root", root], notes.env(), root / f"{name}.log")
    (t_ready, ready), = notes.wait("READY", "1", timeout=15)
    assert ready["STATUS"].startswith("serving:"), ready
    assert all(notes.ready_check.values()), f"READY=1 before the first pass: {notes.ready_check}"
    notes.wait("WATCHDOG", "1", since=t_ready, count=4, timeout=5)
    stop(proc, notes)
    assert "watchdog armed" in pathlib.Path(root / f"{name}.log").read_text()


def test_qemu_does_not_inherit_vmengines_notify_socket(make_vmengine, notifications,
                                                       monkeypatch):
    """A QEMU launched by a vmengine under systemd gets neither NOTIFY_SOCKET nor WATCHDOG_*:
    those are vmengine's to answer (a QEMU writing there would speak for vmengine)."""
    notes = notifications()
    for k, v in notes.env().items():
        if k in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
            monkeypatch.setenv(k, v)
    vme = make_vmengine().start()
    vme.desire(1, "RUNNING", workload="idle")
    st = vme.wait_state(1, "RUNNING", timeout=120)
    env = (pathlib.Path("/proc") / str(st["pid"]) / "environ").read_bytes().split(b"\0")
    names = {e.split(b"=", 1)[0] for e in env if e}
    assert b"NOTIFY_SOCKET" not in names and b"WATCHDOG_USEC" not in names, names
    assert b"PATH" in names
    vme.desire(1, "TERMINATED")
    vme.wait_state(1, "TERMINATED", timeout=60)

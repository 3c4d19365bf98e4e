"""test_blockd_durability.py — blockd's --persist under crashes and a full disk: a reply to a
mutating RPC means the change is on disk (SIGKILL at the moment the reply arrives loses
nothing), a save that fails fails the request and leaves the state as it was, relative file
names are saved absolute, a persisted entry that cannot be replayed is kept, and a stream of
mutating RPCs SIGKILLed at random points always restarts to exactly the acknowledged state."""
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time

import pytest

from berth_rpc import RpcError
from conftest import Blockd

MiB = 1024 * 1024
ROUNDS = 5


def make_file(path, size=8 * MiB):
    with open(path, "wb") as f:
        f.truncate(size)
    return str(path)


def send_and_kill(b, method, params):
    """Sends one request, and SIGKILLs blockd the moment its reply has arrived. Returns the
    reply."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(b.sock)
    s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                          "params": params}).encode())
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        assert chunk, "blockd closed the connection without a reply"
        buf += chunk
    os.kill(b.proc.pid, signal.SIGKILL)
    b.proc.wait(10)
    s.close()
    return json.loads(buf)


def bdevs(b):
    return {x["name"]: x for x in b.call("bdev_get_bdevs")}


def ctrlrs(b):
    return [c["ctrlr"] for c in b.call("vhost_get_controllers")]


def delay_latency(b, name):
    cfg = b.call("save_config")
    for sub in cfg["subsystems"]:
        for e in sub["config"]:
            if e["method"] == "bdev_delay_create" and e["params"]["name"] == name:
                return e["params"]["avg_read_latency"]
    return None


def malloc(b, name):
    b.call("bdev_malloc_create", {"name": name, "num_blocks": 64, "block_size": 512})


def delay(b, name, base):
    b.call("bdev_delay_create", {"base_bdev_name": base, "name": name,
                                 "avg_read_latency": 1, "p99_read_latency": 1,
                                 "avg_write_latency": 1, "p99_write_latency": 1})


@pytest.fixture
def fresh():
    """fresh(root, **kw): a Blockd with --persist in root (killed, and its log checked for
    sanitizer reports, at the end)."""
    started = []

    def make(root, persist=True, **kw):
        b = Blockd(root, persist=persist, **kw)
        started.append(b)
        return b

    yield make
    for b in started:
        b.kill()
    for b in started:
        text = b.log_text()
        assert "ERROR: AddressSanitizer" not in text, text[-4000:]
        assert "runtime error:" not in text, text[-4000:]


# (method, setup(b, tmp), params(tmp), check(b) -> True when the change survived)
CASES = {
    "malloc_create": ("bdev_malloc_create", None,
                      lambda t: {"name": "m0", "num_blocks": 64, "block_size": 512},
                      lambda b: "m0" in bdevs(b)),
    "malloc_delete": ("bdev_malloc_delete", lambda b, t: malloc(b, "m0"),
                      lambda t: {"name": "m0"}, lambda b: "m0" not in bdevs(b)),
    "null_create": ("bdev_null_create", None,
                    lambda t: {"name": "n0", "num_blocks": 64, "block_size": 512},
                    lambda b: "n0" in bdevs(b)),
    "null_delete": ("bdev_null_delete",
                    lambda b, t: b.call("bdev_null_create", {"name": "n0", "num_blocks": 64,
                                                             "block_size": 512}),
                    lambda t: {"name": "n0"}, lambda b: "n0" not in bdevs(b)),
    "uring_create": ("bdev_uring_create", None,
                     lambda t: {"name": "u0", "filename": make_file(t / "u0.img")},
                     lambda b: "u0" in bdevs(b)),
    "uring_delete": ("bdev_uring_delete",
                     lambda b, t: b.call("bdev_uring_create",
                                         {"name": "u0", "filename": make_file(t / "u0.img")}),
                     lambda t: {"name": "u0"}, lambda b: "u0" not in bdevs(b)),
    "aio_create": ("bdev_aio_create", None,
                   lambda t: {"name": "a0", "filename": make_file(t / "a0.img")},
                   lambda b: "a0" in bdevs(b)),
    "aio_delete": ("bdev_aio_delete",
                   lambda b, t: b.call("bdev_aio_create",
                                       {"name": "a0", "filename": make_file(t / "a0.img")}),
                   lambda t: {"name": "a0"}, lambda b: "a0" not in bdevs(b)),
    "delay_create": ("bdev_delay_create", lambda b, t: malloc(b, "base"),
                     lambda t: {"base_bdev_name": "base", "name": "d0", "avg_read_latency": 1,
                                "p99_read_latency": 1, "avg_write_latency": 1,
                                "p99_write_latency": 1},
                     lambda b: "d0" in bdevs(b)),
    "delay_delete": ("bdev_delay_delete",
                     lambda b, t: (malloc(b, "base"), delay(b, "d0", "base")),
                     lambda t: {"name": "d0"}, lambda b: "d0" not in bdevs(b)),
    "delay_update": ("bdev_delay_update_latency",
                     lambda b, t: (malloc(b, "base"), delay(b, "d0", "base")),
                     lambda t: {"delay_bdev_name": "d0", "latency_type": "avg_read",
                                "latency_us": 77},
                     lambda b: delay_latency(b, "d0") == 77),
    "raid_create": ("bdev_raid_create", lambda b, t: (malloc(b, "r0b0"), malloc(b, "r0b1")),
                    lambda t: {"name": "r0", "raid_level": "raid1", "strip_size_kb": 0,
                               "base_bdevs": ["r0b0", "r0b1"]},
                    lambda b: "r0" in bdevs(b)),
    "raid_delete": ("bdev_raid_delete",
                    lambda b, t: (malloc(b, "r0b0"), malloc(b, "r0b1"),
                                  b.call("bdev_raid_create", {
                                      "name": "r0", "raid_level": "raid0", "strip_size_kb": 4,
                                      "base_bdevs": ["r0b0", "r0b1"]})),
                    lambda t: {"name": "r0"}, lambda b: "r0" not in bdevs(b)),
    "vhost_create": ("vhost_create_blk_controller", lambda b, t: malloc(b, "vb"),
                     lambda t: {"ctrlr": "vc0", "dev_name": "vb"},
                     lambda b: ctrlrs(b) == ["vc0"]),
    "vhost_delete": ("vhost_delete_controller",
                     lambda b, t: (malloc(b, "vb"),
                                   b.call("vhost_create_blk_controller",
                                          {"ctrlr": "vc0", "dev_name": "vb"})),
                     lambda t: {"ctrlr": "vc0"}, lambda b: ctrlrs(b) == []),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_sigkill_at_the_reply_loses_nothing(fresh, tmp_path, case):
    method, setup, params, check = CASES[case]
    lost = 0
    for i in range(ROUNDS):
        root = tmp_path / f"r{i}"
        b = fresh(root).start()
        if setup:
            setup(b, root)
        reply = send_and_kill(b, method, params(root))
        assert "result" in reply, reply
        b.start()
        if not check(b):
            lost += 1
        b.kill()
    assert lost == 0, f"{case}: acknowledged change lost {lost}/{ROUNDS} times"


# ------------------------------------------------------------------ a full file system

@pytest.fixture
def tiny_fs(tmp_path):
    """A 256 KiB tmpfs for the persist file (skipped, with the reason, where mount is not
    permitted)."""
    fs = tmp_path / "fs"
    fs.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(fs)],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the full-disk test: {r.stderr.strip()}")
    yield fs
    subprocess.run(["umount", "-l", str(fs)], timeout=30)


def fill(fs):
    """Fills fs to the last byte; returns the filler's path."""
    path = fs / "filler"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (65536, 4096, 1):
            while True:
                try:
                    os.write(fd, b"\0" * chunk)
                except OSError as e:
                    assert e.errno == 28, e
                    break
    finally:
        os.close(fd)
    return path


def state(b):
    return (sorted(bdevs(b)), ctrlrs(b), delay_latency(b, "d_keep"))


def test_a_failed_save_fails_the_request_and_changes_nothing(fresh, tmp_path, tiny_fs):
    b = fresh(tmp_path, persist=False, extra=["--persist", str(tiny_fs / "config.json")])
    b.start()
    for n in ("m_keep", "r_b0", "r_b1", "v_b", "d_b"):
        malloc(b, n)
    b.call("bdev_null_create", {"name": "n_keep", "num_blocks": 64, "block_size": 512})
    b.call("bdev_uring_create", {"name": "u_keep", "filename": make_file(tmp_path / "u.img")})
    b.call("bdev_aio_create", {"name": "a_keep", "filename": make_file(tmp_path / "a.img")})
    delay(b, "d_keep", "d_b")
    b.call("bdev_raid_create", {"name": "r_keep", "raid_level": "raid0", "strip_size_kb": 4,
                                "base_bdevs": ["r_b0", "r_b1"]})
    b.call("vhost_create_blk_controller", {"ctrlr": "vc_keep", "dev_name": "v_b"})
    malloc(b, "spare0")
    malloc(b, "spare1")
    acknowledged = state(b)
    filler = fill(tiny_fs)

    attempts = [
        ("bdev_malloc_create", {"name": "m_new", "num_blocks": 64, "block_size": 512}),
        ("bdev_null_create", {"name": "n_new", "num_blocks": 64, "block_size": 512}),
        ("bdev_uring_create", {"name": "u_new", "filename": make_file(tmp_path / "u2.img")}),
        ("bdev_aio_create", {"name": "a_new", "filename": make_file(tmp_path / "a2.img")}),
        ("bdev_delay_create", {"base_bdev_name": "spare0", "name": "d_new",
                               "avg_read_latency": 1, "p99_read_latency": 1,
                               "avg_write_latency": 1, "p99_write_latency": 1}),
        ("bdev_raid_create", {"name": "r_new", "raid_level": "raid1", "strip_size_kb": 0,
                              "base_bdevs": ["spare0", "spare1"]}),
        ("vhost_create_blk_controller", {"ctrlr": "vc_new", "dev_name": "spare1"}),
        ("bdev_delay_update_latency", {"delay_bdev_name": "d_keep", "latency_type": "avg_read",
                                       "latency_us": 99}),
        ("vhost_delete_controller", {"ctrlr": "vc_keep"}),
        ("bdev_raid_delete", {"name": "r_keep"}),
        ("bdev_delay_delete", {"name": "d_keep"}),
        ("bdev_malloc_delete", {"name": "m_keep"}),
        ("bdev_null_delete", {"name": "n_keep"}),
        ("bdev_uring_delete", {"name": "u_keep"}),
        ("bdev_aio_delete", {"name": "a_keep"}),
    ]
    for method, params in attempts:
        with pytest.raises(RpcError) as e:
            b.call(method, params)
        assert e.value.code == -28, (method, e.value)
        assert "No space left on device" in e.value.message, (method, e.value)
        assert "\n" not in e.value.message
        assert state(b) == acknowledged, method
    assert "No space left on device" in b.log_text()

    b.kill()
    b.start()
    assert state(b) == acknowledged

    # Space again: changes are saved again.
    os.unlink(filler)
    malloc(b, "m_after")
    b.kill()
    b.start()
    assert "m_after" in bdevs(b)


# ------------------------------------------------------------------ replay

def saved_entries(b):
    path = b.dir / "config.json"
    cfg = json.loads(path.read_text())
    return {(e["method"], e["params"].get("name") or e["params"].get("ctrlr")): e["params"]
            for sub in cfg["subsystems"] for e in sub["config"]}


def test_a_relative_filename_is_saved_absolute(fresh, tmp_path, monkeypatch):
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    make_file(here / "u.img")
    make_file(here / "a.img")
    monkeypatch.chdir(here)
    b = fresh(tmp_path).start()
    b.call("bdev_uring_create", {"name": "u_rel", "filename": "u.img"})
    b.call("bdev_aio_create", {"name": "a_rel", "filename": "./a.img"})
    saved = saved_entries(b)
    assert saved[("bdev_uring_create", "u_rel")]["filename"] == str(here / "u.img")
    assert saved[("bdev_aio_create", "a_rel")]["filename"] == str(here / "a.img")
    assert bdevs(b)["u_rel"]["driver_specific"]["uring"]["filename"] == str(here / "u.img")
    b.kill()
    monkeypatch.chdir(elsewhere)
    b.start()
    assert {"u_rel", "a_rel"} <= set(bdevs(b))


def test_an_entry_that_fails_to_replay_is_kept_and_reported(fresh, tmp_path):
    disk = make_file(tmp_path / "u.img")
    b = fresh(tmp_path).start()
    malloc(b, "m0")
    b.call("bdev_uring_create", {"name": "u_gone", "filename": disk})
    b.call("vhost_create_blk_controller", {"ctrlr": "vc_gone", "dev_name": "u_gone"})
    assert b.stop() == 0
    os.rename(disk, disk + ".away")

    b.start()
    assert set(bdevs(b)) == {"m0"} and ctrlrs(b) == []
    malloc(b, "m1")         # a save: the entries that did not replay stay in the file
    saved = saved_entries(b)
    assert ("bdev_uring_create", "u_gone") in saved
    assert ("vhost_create_blk_controller", "vc_gone") in saved
    assert ("bdev_malloc_create", "m1") in saved
    b.kill()
    b.start()               # reported at every start
    log = b.log_text()
    failed = [l for l in log.splitlines() if "persisted entry failed to replay; kept" in l]
    assert len(failed) == 4, log[-3000:]
    # Each line names the file it came from (it said path=(null) while replay ran).
    assert all(f"path={b.dir / 'config.json'} " in l for l in failed), failed
    summary = [l for l in log.splitlines() if "persisted entries did not replay" in l]
    assert len(summary) == 2 and all(l.endswith(" failed=2") for l in summary), summary
    assert "name=u_gone" in log and "name=vc_gone" in log

    b.kill()
    os.rename(disk + ".away", disk)
    b.start()
    assert set(bdevs(b)) == {"m0", "m1", "u_gone"} and ctrlrs(b) == ["vc_gone"]

    # An object created under a kept entry's name replaces it.
    b.kill()
    os.rename(disk, disk + ".away")
    b.start()
    b.call("bdev_null_create", {"name": "u_gone", "num_blocks": 64, "block_size": 512})
    saved = saved_entries(b)
    assert ("bdev_uring_create", "u_gone") not in saved
    assert ("bdev_null_create", "u_gone") in saved
    assert ("vhost_create_blk_controller", "vc_gone") in saved


# ------------------------------------------------------------------ crash consistency

def normalize(config):
    """save_config -> {(subsystem, name): what the entry says, ignoring generated uuids}."""
    out = {}
    for sub in config["subsystems"]:
        for e in sub["config"]:
            m, p = e["method"], e["params"]
            if m == "vhost_create_blk_controller":
                out[("vhost", p["ctrlr"])] = (m, p["dev_name"])
            elif m == "bdev_delay_create":
                out[("bdev", p["name"])] = (m, p["base_bdev_name"], p["avg_read_latency"])
            elif m == "bdev_raid_create":
                out[("bdev", p["name"])] = (m, p["raid_level"], tuple(p["base_bdevs"]))
            elif m == "bdev_uring_create":
                out[("bdev", p["name"])] = (m, p["filename"])
            else:
                out[("bdev", p["name"])] = (m, p["num_blocks"])
    return out


class CrashModel:
    """Random mutating RPCs over a small pool of names, and their effect if they succeed (a
    pending call that would fail gives a state that is simply not reached)."""

    def __init__(self, rng, files):
        self.rng = rng
        self.files = files

    def next_op(self, state):
        r = self.rng
        bdevs = [k[1] for k in state if k[0] == "bdev"]
        mallocs = [n for n in bdevs if n.startswith("m")] or ["m0"]
        kind = r.randrange(12)
        if kind == 0:
            return ("bdev_malloc_create", {"name": f"m{r.randrange(6)}",
                                           "num_blocks": r.choice((64, 128)), "block_size": 512})
        if kind == 1:
            return ("bdev_malloc_delete", {"name": r.choice(mallocs)})
        if kind == 2:
            return ("bdev_null_create", {"name": f"n{r.randrange(3)}",
                                         "num_blocks": r.choice((64, 128)), "block_size": 512})
        if kind == 3:
            return ("bdev_null_delete", {"name": f"n{r.randrange(3)}"})
        if kind == 4:
            i = r.randrange(len(self.files))
            return ("bdev_uring_create", {"name": f"u{i}", "filename": self.files[i]})
        if kind == 5:
            return ("bdev_uring_delete", {"name": f"u{r.randrange(len(self.files))}"})
        if kind == 6:
            return ("bdev_delay_create", {"name": f"d{r.randrange(2)}",
                                          "base_bdev_name": r.choice(mallocs),
                                          "avg_read_latency": r.randrange(1, 100),
                                          "p99_read_latency": 100, "avg_write_latency": 1,
                                          "p99_write_latency": 1})
        if kind == 7:
            return ("bdev_delay_update_latency", {"delay_bdev_name": f"d{r.randrange(2)}",
                                                  "latency_type": "avg_read",
                                                  "latency_us": r.randrange(1, 100)})
        if kind == 8:
            return ("bdev_delay_delete", {"name": f"d{r.randrange(2)}"})
        if kind == 9:
            return ("bdev_raid_create", {"name": f"r{r.randrange(2)}",
                                         "raid_level": r.choice(("raid0", "concat")),
                                         "strip_size_kb": 4,
                                         "base_bdevs": r.sample(mallocs, min(2, len(mallocs)))})
        if kind == 10:
            return ("vhost_create_blk_controller", {"ctrlr": f"c{r.randrange(2)}",
                                                    "dev_name": r.choice(bdevs or ["m0"])})
        return ("vhost_delete_controller", {"ctrlr": f"c{r.randrange(2)}"})

    @staticmethod
    def apply(state, op):
        method, p = op
        s = dict(state)
        if method == "vhost_create_blk_controller":
            s[("vhost", p["ctrlr"])] = (method, p["dev_name"])
        elif method == "vhost_delete_controller":
            s.pop(("vhost", p["ctrlr"]), None)
        elif method.endswith("_delete"):
            s.pop(("bdev", p["name"]), None)
        elif method == "bdev_delay_update_latency":
            old = s.get(("bdev", p["delay_bdev_name"]))
            if old and old[0] == "bdev_delay_create":
                s[("bdev", p["delay_bdev_name"])] = (old[0], old[1], p["latency_us"])
        elif method == "bdev_delay_create":
            s[("bdev", p["name"])] = (method, p["base_bdev_name"], p["avg_read_latency"])
        elif method == "bdev_raid_create":
            s[("bdev", p["name"])] = (method, p["raid_level"], tuple(p["base_bdevs"]))
        elif method == "bdev_uring_create":
            s[("bdev", p["name"])] = (method, p["filename"])
        else:
            s[("bdev", p["name"])] = (method, p["num_blocks"])
        return s


def test_sigkill_at_random_points_restarts_to_the_acknowledged_state(fresh, tmp_path):
    rounds = int(os.environ.get("BERTH_CRASH_ROUNDS", "200"))
    seed = int(os.environ.get("BERTH_CRASH_SEED", str(time.time_ns() % 2**32)))
    rng = random.Random(seed)
    files = [make_file(tmp_path / f"u{i}.img", MiB) for i in range(3)]
    model = CrashModel(rng, files)
    b = fresh(tmp_path)
    persist = b.dir / "config.json"
    acked, pending = {}, None
    calls = acks = maybe_applied = 0
    t0 = time.monotonic()
    for rnd in range(rounds):
        b.start()
        state = normalize(b.call("save_config"))
        allowed = [acked] + ([CrashModel.apply(acked, pending)] if pending else [])
        assert state in allowed, (f"seed {seed} round {rnd}: restarted state differs from the "
                                  f"acknowledged one; pending {pending}\n{state}\n{acked}")
        if pending and state != acked:
            maybe_applied += 1
        acked, pending = state, None

        pid = b.proc.pid
        killer = threading.Timer(rng.uniform(0, 0.04), os.kill, (pid, signal.SIGKILL))
        killer.start()
        try:
            with b.client(timeout=10) as c:
                while True:
                    op = model.next_op(acked)
                    pending = op
                    calls += 1
                    try:
                        c.call(*op)
                        acked = CrashModel.apply(acked, op)
                        acks += 1
                    except RpcError:
                        pass        # a failed call changes nothing
                    pending = None
        except (OSError, EOFError, TimeoutError):
            pass
        killer.join()
        b.proc.wait(10)
        if persist.exists():
            json.loads(persist.read_text())     # never torn
        b.kill()
    elapsed = time.monotonic() - t0
    # A save cut short leaves its temporary file; the next start removes it.
    b.start()
    leftovers = [p.name for p in b.dir.iterdir() if p.name.startswith("config.json.tmp")]
    assert leftovers == [], leftovers
    print(f"\nFIGURES crash-consistency: {rounds} SIGKILLs, {calls} calls, {acks} acknowledged "
          f"changes, {maybe_applied} unacknowledged changes found applied, seed {seed}, "
          f"{elapsed:.1f} s")

"""test_blockd_rpc.py — blockd driven over its socket exactly as an operator's script would:
create, list, delete, every kind of bad input, framing over a real socket, restart with
--persist, injected faults, and a create/delete storm against concurrent introspection."""
import fcntl
import json
import os
import signal
import socket
import struct
import termios
import threading
import time

import pytest

from berth_rpc import RpcError, wait_for

MiB = 1024 * 1024


def make_file(path, size=64 * MiB):
    with open(path, "wb") as f:
        f.truncate(size)
    return str(path)


def rpc_error(blockd, method, params=None):
    with pytest.raises(RpcError) as e:
        blockd.call(method, params)
    return e.value.code


def bdev_names(blockd):
    return [b["name"] for b in blockd.call("bdev_get_bdevs")]


def make_raid1(blockd, tmp_path, name="raid_v1"):
    for i in range(2):
        blockd.call("bdev_uring_create", {"name": f"{name}_b{i}",
                                          "filename": make_file(tmp_path / f"{name}_b{i}.img")})
    blockd.call("bdev_raid_create", {"name": name, "raid_level": "raid1", "strip_size_kb": 0,
                                     "base_bdevs": [f"{name}_b0", f"{name}_b1"]})


def test_operator_creates_lists_and_deletes_a_raid1_volume(blockd, tmp_path):
    make_raid1(blockd, tmp_path)
    raids = blockd.call("bdev_raid_get_bdevs", {"category": "all"})
    assert len(raids) == 1
    r = raids[0]
    assert (r["name"], r["raid_level"], r["state"]) == ("raid_v1", "raid1", "online")
    assert r["num_base_bdevs"] == 2 and r["num_base_bdevs_operational"] == 2
    assert [b["name"] for b in r["base_bdevs_list"]] == ["raid_v1_b0", "raid_v1_b1"]

    bdevs = {b["name"]: b for b in blockd.call("bdev_get_bdevs")}
    assert set(bdevs) == {"raid_v1_b0", "raid_v1_b1", "raid_v1"}
    raid = bdevs["raid_v1"]
    assert raid["product_name"] == "Raid Volume"
    assert raid["block_size"] == 512 and raid["num_blocks"] == 64 * MiB // 512
    assert raid["claimed"] is False and raid["supported_io_types"]["read"] is True
    assert raid["driver_specific"]["raid"]["raid_level"] == "raid1"
    assert bdevs["raid_v1_b0"]["claimed"] is True
    assert len(raid["uuid"]) == 36

    # A claimed base cannot be taken by another raid; a missing one is reported as such.
    assert rpc_error(blockd, "bdev_raid_create", {
        "name": "r2", "raid_level": "raid0", "strip_size_kb": 64,
        "base_bdevs": ["raid_v1_b0"]}) == -16
    assert rpc_error(blockd, "bdev_raid_create", {
        "name": "r2", "raid_level": "raid1", "base_bdevs": ["nope0", "nope1"]}) == -19

    # raid1 degrades, not fails, when a base is deleted.
    assert blockd.call("bdev_uring_delete", {"name": "raid_v1_b1"}) is True
    r = blockd.call("bdev_raid_get_bdevs", {"category": "online"})[0]
    assert r["num_base_bdevs_operational"] == 1
    # ...but the last operational base is kept.
    assert rpc_error(blockd, "bdev_uring_delete", {"name": "raid_v1_b0"}) == -16

    assert blockd.call("bdev_raid_delete", {"name": "raid_v1"}) is True
    assert blockd.call("bdev_uring_delete", {"name": "raid_v1_b0"}) is True
    assert bdev_names(blockd) == []
    assert blockd.call("bdev_raid_get_bdevs", {"category": "all"}) == []


@pytest.mark.parametrize("method,params,code", [
    ("no_such_method", None, -32601),
    ("bdev_malloc_create", {"num_blocks": "1", "block_size": 512}, -32602),
    ("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "colour": "red"}, -32602),
    ("bdev_malloc_create", {"block_size": 512}, -32602),
    ("bdev_malloc_create", {"num_blocks": 8, "block_size": 500}, -22),
    ("bdev_malloc_create", {"num_blocks": 2**62, "block_size": 4096}, -22),
    ("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "name": "x" * 64}, -22),
    ("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "name": "a/b"}, -22),
    ("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "uuid": "not-a-uuid"}, -22),
    ("bdev_malloc_create", {"num_blocks": -1, "block_size": 512}, -32602),
    ("bdev_malloc_create", [8, 512], -32602),
    ("bdev_malloc_delete", {"name": "missing"}, -19),
    ("bdev_uring_create", {"name": "u", "filename": "/nonexistent/file"}, -2),
    ("bdev_raid_create", {"name": "r", "raid_level": "raid5", "base_bdevs": ["a"]}, -32602),
    ("bdev_raid_create", {"name": "r", "raid_level": "raid1", "base_bdevs": "a b"}, -32602),
    ("bdev_raid_get_bdevs", {"category": "sideways"}, -32602),
    ("bdev_raid_get_bdevs", None, -32602),
    ("bdev_get_bdevs", {"name": "missing"}, -19),
    ("spdk_get_version", {"unexpected": 1}, -32602),
])
def test_bad_input_gets_the_right_error_and_changes_nothing(blockd, method, params, code):
    blockd.call("bdev_malloc_create", {"name": "keep", "num_blocks": 64, "block_size": 512})
    before = blockd.call("bdev_get_bdevs")
    assert rpc_error(blockd, method, params) == code
    assert blockd.call("bdev_get_bdevs") == before


def test_claims(blockd):
    blockd.call("bdev_malloc_create", {"name": "m0", "num_blocks": 1024, "block_size": 512})
    blockd.call("bdev_malloc_create", {"name": "m1", "num_blocks": 1024, "block_size": 512})
    assert rpc_error(blockd, "bdev_malloc_create",
                     {"name": "m0", "num_blocks": 8, "block_size": 512}) == -17
    blockd.call("bdev_raid_create", {"name": "r0", "raid_level": "raid0", "strip_size_kb": 4,
                                     "base_bdevs": ["m0", "m1"]})
    assert rpc_error(blockd, "bdev_malloc_delete", {"name": "m0"}) == -16
    assert rpc_error(blockd, "bdev_null_delete", {"name": "m1"}) == -19
    blockd.call("bdev_delay_create", {"base_bdev_name": "r0", "name": "d0",
                                      "avg_read_latency": 10, "p99_read_latency": 10,
                                      "avg_write_latency": 10, "p99_write_latency": 10})
    assert rpc_error(blockd, "bdev_raid_delete", {"name": "r0"}) == -16
    blockd.call("bdev_delay_delete", {"name": "d0"})
    blockd.call("bdev_raid_delete", {"name": "r0"})
    blockd.call("bdev_malloc_delete", {"name": "m0"})


def test_iostat_and_threads_shapes(blockd):
    blockd.call("bdev_null_create", {"name": "n0", "num_blocks": 2048, "block_size": 4096})
    st = blockd.call("bdev_get_iostat", {"name": "n0"})
    assert st["tick_rate"] > 0 and st["bdevs"][0]["name"] == "n0"
    assert st["bdevs"][0]["num_read_ops"] == 0
    reactors = blockd.call("framework_get_reactors")
    assert reactors["pid"] == blockd.proc.pid
    names = [t["name"] for r in reactors["reactors"] for t in r["lw_threads"]]
    assert names[0] == "app_thread" and len(names) >= 2
    # event mode's adaptive polling window, within the default bound (--poll-max-us 32)
    assert all(0 <= r["poll_ns"] <= 32000 for r in reactors["reactors"])
    stats = blockd.call("thread_get_stats")
    assert all(t["busy"] >= 0 and t["idle"] >= 0 for t in stats["threads"])
    def reap_poller_ran():
        app = blockd.call("thread_get_pollers")["threads"][0]
        assert app["name"] == "app_thread"
        reap = [p for p in app["timed_pollers"] if p["name"] == "bdev_reap"]
        return reap and reap[0]["run_count"] > 0 and reap[0]["period_ticks"] > 0
    wait_for(reap_poller_ran, 10, what="the app thread's bdev_reap poller to run")
    methods = blockd.call("rpc_get_methods")
    assert "bdev_raid_create" in methods and "blockd_fault_inject" not in methods


# ------------------------------------------------------------------ framing on a real socket

def raw(blockd):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(blockd.sock)
    return s


def read_lines(s, n, timeout=10):
    buf = b""
    deadline = time.monotonic() + timeout
    while buf.count(b"\n") < n:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return [json.loads(line) for line in buf.split(b"\n") if line]


def test_two_pretty_printed_requests_in_one_write(blockd):
    a = json.dumps({"jsonrpc": "2.0", "method": "spdk_get_version", "id": 1}, indent=2)
    b = json.dumps({"jsonrpc": "2.0", "method": "bdev_get_bdevs", "id": "two"}, indent=2)
    with raw(blockd) as s:
        s.sendall((a + b).encode())
        replies = read_lines(s, 2)
    assert [r["id"] for r in replies] == [1, "two"]
    assert replies[0]["result"]["version"].startswith("blockd v")


def test_request_split_over_three_writes_and_compact_replies(blockd):
    req = json.dumps({"jsonrpc": "2.0", "method": "bdev_malloc_create", "id": 7,
                      "params": {"name": "split", "num_blocks": 16, "block_size": 512}}).encode()
    with raw(blockd) as s:
        for part in (req[:10], req[10:41], req[41:]):
            s.sendall(part)
            time.sleep(0.05)  # let each part arrive as its own read (framing, not sync)
        s.settimeout(10)
        data = s.recv(65536)
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert b": " not in data and b", " not in data
    assert json.loads(data) == {"jsonrpc": "2.0", "id": 7, "result": "split"}


def test_notifications_get_no_reply_except_errors(blockd):
    with raw(blockd) as s:
        s.sendall(json.dumps({"jsonrpc": "2.0", "method": "spdk_get_version"}).encode())
        s.sendall(json.dumps({"jsonrpc": "2.0", "method": "no_such"}).encode())
        s.sendall(json.dumps({"jsonrpc": "2.0", "method": "spdk_get_version", "id": 3}).encode())
        replies = read_lines(s, 2)
    assert replies[0]["error"]["code"] == -32601 and replies[0]["id"] is None
    assert replies[1]["id"] == 3


@pytest.mark.parametrize("payload,code", [
    (b'{"jsonrpc":"2.0","method":"spdk_get_version","id":1,"id":2}', -32602),
    (b'{"jsonrpc":"2.0","method":"bdev_malloc_create","id":1,'
     b'"params":{"num_blocks":99999999999999999999999,"block_size":512}}', -32602),
    (b'[{"jsonrpc":"2.0","method":"spdk_get_version","id":1}]', -32600),
    (b'{"jsonrpc":"2.0","method":"spdk_get_version","id":true}', -32600),
    (b'{"jsonrpc":"1.0","method":"spdk_get_version","id":1}', -32600),
    (b'{"jsonrpc":"2.0","method":"spdk_get_version","id":1,"extra":0}', -32600),
])
def test_malformed_envelopes(blockd, payload, code):
    with raw(blockd) as s:
        s.sendall(payload)
        reply = read_lines(s, 1)[0]
    assert reply["error"]["code"] == code
    assert blockd.call("spdk_get_version")


@pytest.mark.parametrize("payload", [b"hello", b'{"a":}', b"}{"])
def test_garbage_gets_parse_error_and_the_connection_closes(blockd, payload):
    with raw(blockd) as s:
        s.sendall(payload)
        reply = read_lines(s, 1)[0]
        assert reply["error"]["code"] == -32700
        s.settimeout(10)
        assert s.recv(100) == b""
    assert blockd.call("spdk_get_version")


def test_request_over_256k_closes_the_connection(blockd):
    big = json.dumps({"jsonrpc": "2.0", "method": "bdev_get_bdevs", "id": 1,
                      "params": {"name": "x" * (300 * 1024)}}).encode()
    with raw(blockd) as s:
        try:
            s.sendall(big)
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.settimeout(10)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    assert b"-32700" in data or data == b""
    assert blockd.call("spdk_get_version")


def test_half_request_holds_nothing(blockd):
    with raw(blockd) as silent:
        silent.sendall(b'{"jsonrpc":"2.0","method":"bdev_malloc_cre')
        t0 = time.monotonic()
        blockd.call("bdev_malloc_create", {"name": "served", "num_blocks": 8, "block_size": 512})
        assert time.monotonic() - t0 < 2
        assert "served" in bdev_names(blockd)


def test_64_busy_connections_then_one_more(blockd):
    conns = [raw(blockd) for _ in range(64)]
    try:
        # Every slot is taken by a client with a request in progress (half sent), so none can
        # be closed to make room: the next client is refused (closed at once).
        for c in conns:
            c.sendall(b'{"jsonrpc":"2.0",')
        wait_for(lambda: all(_unread(c) == 0 for c in conns), 5,
                 what="blockd to read the half requests")
        extra = raw(blockd)
        extra.settimeout(10)
        try:
            extra.sendall(b'{"jsonrpc":"2.0","method":"spdk_get_version","id":1}')
            assert extra.recv(100) == b""
        except (BrokenPipeError, ConnectionResetError):
            pass
        extra.close()
        # The 64 are all served.
        for i, c in enumerate(conns):
            c.sendall(json.dumps({"method": "spdk_get_version", "id": i})[1:].encode())
        for i, c in enumerate(conns):
            assert read_lines(c, 1)[0]["id"] == i
    finally:
        for c in conns:
            c.close()
    # Slots are freed when clients leave.
    wait_for(lambda: _answers(blockd), 10, what="a free connection slot")


def _unread(sock):
    """Bytes sent on sock that the server has not read yet."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


def _answers(blockd):
    try:
        return blockd.call("spdk_get_version")
    except (OSError, EOFError, TimeoutError):
        return None


# ------------------------------------------------------------------ persistence and signals

def test_persist_restart_finds_the_same_bdevs(make_blockd, tmp_path):
    b = make_blockd(persist=True).start()
    make_raid1(b, tmp_path)
    b.call("bdev_malloc_create", {"name": "m0", "num_blocks": 128, "block_size": 4096})
    b.call("bdev_delay_create", {"base_bdev_name": "m0", "name": "slow", "avg_read_latency": 5,
                                 "p99_read_latency": 5, "avg_write_latency": 5,
                                 "p99_write_latency": 5})
    before = b.call("bdev_get_bdevs")
    assert b.stop() == 0
    b.start()
    assert b.call("bdev_get_bdevs") == before
    # A crash (no clean stop) loses nothing either: the file is written after every change.
    b.call("bdev_delay_delete", {"name": "slow"})
    after = b.call("bdev_get_bdevs")
    b.proc.kill()
    b.proc.wait(10)
    b.start()
    assert b.call("bdev_get_bdevs") == after
    assert b.stop() == 0


def test_sigterm_exits_cleanly_and_removes_its_socket(make_blockd):
    b = make_blockd().start()
    with b.client() as c:
        c.call("spdk_get_version")
        assert b.stop() == 0
    assert not os.path.exists(b.sock)


def test_stale_vhost_sockets_are_removed_at_start(make_blockd, tmp_path):
    vhost = tmp_path / "blockd" / "vhost"
    vhost.mkdir(parents=True)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(vhost / "vm1"))
    stale.close()
    (vhost / "keep.txt").write_text("not a socket")
    b = make_blockd().start()
    assert not (vhost / "vm1").exists() and (vhost / "keep.txt").exists()
    assert b.stop() == 0


# ------------------------------------------------------------------ fault injection

def test_injected_faults(make_blockd):
    b = make_blockd(fault_injection=True).start()
    assert "blockd_fault_inject" in b.call("rpc_get_methods")
    b.call("blockd_fault_inject", {"method": "bdev_raid_get_bdevs", "action": "hang"})
    with b.client(timeout=0.5) as c:
        with pytest.raises(TimeoutError):
            c.call("bdev_raid_get_bdevs", {"category": "all"})
    assert b.call("spdk_get_version")          # a hung RPC wedges nothing else
    b.call("blockd_fault_clear", {"method": "bdev_raid_get_bdevs"})
    assert b.call("bdev_raid_get_bdevs", {"category": "all"}) == []

    b.call("blockd_fault_inject", {"method": "bdev_get_bdevs", "action": "error",
                                   "error_code": -5, "count": 1})
    assert rpc_error(b, "bdev_get_bdevs") == -5
    assert b.call("bdev_get_bdevs") == []        # count 1: armed once

    b.call("blockd_fault_inject", {"method": "bdev_get_bdevs", "action": "delay",
                                   "delay_ms": 300, "count": 1})
    t0 = time.monotonic()
    with b.client() as slow, b.client() as fast:
        slow.send_raw(b'{"jsonrpc":"2.0","method":"bdev_get_bdevs","id":1}')
        assert fast.call("spdk_get_version")     # served while the other waits
        assert time.monotonic() - t0 < 0.3
        assert slow.read_value()["result"] == []
    assert time.monotonic() - t0 >= 0.3

    b.call("blockd_fault_inject", {"method": "spdk_get_version", "action": "crash"})
    with pytest.raises((EOFError, OSError)):
        b.call("spdk_get_version")
    assert b.proc.wait(10) == -signal.SIGABRT


def test_fault_injection_is_off_by_default(blockd):
    assert rpc_error(blockd, "blockd_fault_inject",
                     {"method": "bdev_get_bdevs", "action": "crash"}) == -32601


# ------------------------------------------------------------------ storm

def test_introspection_during_500_create_delete_cycles(blockd):
    errors = []
    stop = threading.Event()
    seen = {"replies": 0}

    def reader():
        try:
            with blockd.client() as c:
                while not stop.is_set():
                    for method, params in (("bdev_get_bdevs", None),
                                           ("bdev_get_iostat", None),
                                           ("bdev_raid_get_bdevs", {"category": "all"})):
                        result = c.call(method, params)
                        assert isinstance(result, (list, dict)), result
                        seen["replies"] += 1
        except Exception as e:  # noqa: BLE001 — reported below
            errors.append(e)

    t = threading.Thread(target=reader)
    t.start()
    try:
        with blockd.client() as c:
            for i in range(500):
                c.call("bdev_malloc_create", {"name": f"a{i}", "num_blocks": 256,
                                              "block_size": 512})
                c.call("bdev_malloc_create", {"name": f"b{i}", "num_blocks": 256,
                                              "block_size": 512})
                c.call("bdev_raid_create", {"name": f"r{i}", "raid_level": "raid1",
                                            "base_bdevs": [f"a{i}", f"b{i}"]})
                c.call("bdev_malloc_delete", {"name": f"b{i}"})    # degrade
                c.call("bdev_raid_delete", {"name": f"r{i}"})
                c.call("bdev_malloc_delete", {"name": f"a{i}"})
    finally:
        stop.set()
        t.join(30)
    assert not errors, errors
    assert seen["replies"] > 0
    assert blockd.call("bdev_get_bdevs") == []

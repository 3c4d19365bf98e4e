"""test_blockd_hostile_clients.py — RPC clients that cost blockd nothing: connections that never
send are dropped after the idle timeout and never lock the operator out (100 of them, then a
real call), and clients that pipeline requests without reading their replies are no longer
read from once their output reaches the per-client cap (blockd's CPU and RSS stay flat). The
figures are printed with the prefix "FIGURES" (pytest -s shows them)."""
import json
import os
import select
import socket
import subprocess
import threading
import time

import pytest

from berth_rpc import RpcClient, wait_for
from conftest import BUILD

BERTH = BUILD / "src" / "cli" / "berth"

CLK_TCK = os.sysconf("SC_CLK_TCK")


def connect(b):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(b.sock)
    return s


def timed_version(b):
    """spdk_get_version on a new connection; returns the seconds it took."""
    t0 = time.monotonic()
    with RpcClient(b.sock, timeout=5) as c:
        c.call("spdk_get_version")
    return time.monotonic() - t0


def timed_berth_rpc(b):
    """`berth --root ROOT rpc spdk_get_version`, the operator's call (blockd's socket is
    ROOT/blockd/rpc.sock, as under `berth up`); returns the seconds it took, process start
    included."""
    t0 = time.monotonic()
    res = subprocess.run([str(BERTH), "--root", str(b.root), "rpc", "spdk_get_version",
                          "--timeout", "5"], capture_output=True, text=True, timeout=10)
    took = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    assert "blockd" in res.stdout
    return took


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK   # utime + stime


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def sanitized(pid):
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def closed_by_peer(s, timeout):
    """True once the server closed s (within timeout)."""
    s.settimeout(timeout)
    try:
        return s.recv(100) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


# ------------------------------------------------------------------ idle clients

def test_100_idle_clients_leave_the_operator_a_slot(blockd):
    idle = [connect(blockd) for _ in range(100)]
    try:
        # Each accepted idle client was admitted in turn, the oldest idle one making room.
        latencies = [timed_version(blockd) for _ in range(5)]
        cli = [timed_berth_rpc(blockd) for _ in range(3)]
        print(f"\nFIGURES idle-clients: 100 idle connections, spdk_get_version answered in "
              f"{', '.join(f'{x * 1000:.1f}' for x in latencies)} ms; `berth rpc "
              f"spdk_get_version` in {', '.join(f'{x * 1000:.1f}' for x in cli)} ms")
        assert max(latencies) < 0.1
        assert max(cli) < 0.1
        assert "closing the longest idle" in blockd.log_text()
    finally:
        for s in idle:
            s.close()


def test_an_idle_client_is_dropped_after_the_idle_timeout(make_blockd):
    b = make_blockd(extra=["--rpc-idle-timeout", "1"]).start()
    t0 = time.monotonic()
    silent = connect(b)
    half = connect(b)
    half.sendall(b'{"jsonrpc":"2.0","method":"spdk_get_ver')
    assert closed_by_peer(silent, 5), "an idle client was never dropped"
    waited = time.monotonic() - t0
    assert closed_by_peer(half, 5), "a client with half a request was never dropped"
    print(f"\nFIGURES idle-timeout: 1 s configured, idle client dropped after {waited:.2f} s")
    assert 0.9 < waited < 4
    assert timed_version(b) < 0.1
    silent.close()
    half.close()
    assert "idle" in b.log_text()
    assert b.stop() == 0


def test_64_connections_then_one_more_evicts_the_longest_idle(blockd):
    conns = [connect(blockd) for _ in range(64)]
    try:
        # The 64 answer; conns[0] is then the longest idle.
        for i, c in enumerate(conns):
            c.sendall(json.dumps({"jsonrpc": "2.0", "method": "spdk_get_version",
                                  "id": i}).encode())
            assert json.loads(c.recv(4096))["id"] == i
        with RpcClient(blockd.sock, timeout=5) as extra:
            assert extra.call("spdk_get_version")
        assert closed_by_peer(conns[0], 5)
        assert "closing the longest idle" in blockd.log_text()
    finally:
        for c in conns:
            c.close()


# ------------------------------------------------------------------ non-reading clients

class Flooders:
    """n clients that pipeline requests for method as fast as blockd takes them and never
    read."""

    def __init__(self, b, n, method):
        self.socks = [connect(b) for _ in range(n)]
        for s in self.socks:
            s.setblocking(False)
        req = json.dumps({"jsonrpc": "2.0", "method": method, "id": 1}).encode()
        self.blob = req * (65536 // len(req))
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            _, writable, _ = select.select([], self.socks, [], 0.2)
            for s in writable:
                try:
                    self.sent += s.send(self.blob)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self.socks.remove(s)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for s in self.socks:
            s.close()


# Large answers (8 bdevs described) and small ones (thousands fit in the cap).
@pytest.mark.parametrize("method", ["bdev_get_bdevs", "spdk_get_version"])
def test_clients_that_never_read_cost_nothing(make_blockd, method):
    b = make_blockd().start()
    for i in range(8):
        b.call("bdev_malloc_create", {"name": f"m{i}", "num_blocks": 64, "block_size": 512})
    pid = b.proc.pid
    rss0 = rss_mib(pid)
    flood = Flooders(b, 16, method)
    try:
        # blockd stops reading each once its replies reach the cap: the flood stalls.
        def stalled():
            before, cpu0 = flood.sent, cpu_seconds(pid)
            time.sleep(0.5)
            return flood.sent == before and cpu_seconds(pid) - cpu0 < 0.05

        wait_for(stalled, 30, interval=0, what="blockd to stop reading the flooders")
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        latencies = []
        while time.monotonic() - t0 < 3:
            latencies.append(timed_version(b))
            time.sleep(0.1)  # pacing of the probe, not synchronisation
        cpu = cpu_seconds(pid) - cpu0
        wall = time.monotonic() - t0
        rss = rss_mib(pid)
        cli = timed_berth_rpc(b)
        print(f"\nFIGURES non-reading-clients ({method}): 16 flooders, "
              f"{flood.sent / 2**20:.1f} MiB of "
              f"requests taken; over {wall:.1f} s blockd used {cpu:.2f} s CPU "
              f"({100 * cpu / wall:.1f}% of a core), RSS {rss0:.1f} -> {rss:.1f} MiB; "
              f"spdk_get_version max {max(latencies) * 1000:.1f} ms "
              f"({len(latencies)} calls), `berth rpc spdk_get_version` {cli * 1000:.1f} ms")
        assert cpu / wall < 0.05
        if sanitized(pid):
            print("FIGURES non-reading-clients: AddressSanitizer build (its quarantine keeps "
                  "freed memory): RSS bound not checked")
        else:
            assert rss - rss0 < 128
        assert max(latencies) < 0.1 and cli < 0.1
    finally:
        flood.close()
    # Once they are gone, blockd serves as before.
    assert timed_version(b) < 1
    assert b.stop() == 0

"""tests/e2e/test_metrics.py — the metrics endpoint ([metrics] listen) under `berth up`, read by a
real Prometheus (Debian's `prometheus`, started here on loopback with a generated config, a
1 s scrape interval and its storage in the test's directory).

Checked:
- a VM's lifecycle (create -> RUNNING -> terminate, whose guest ignores ACPI, so the stop
  escalates from system_powerdown to QMP quit) as Prometheus saw it, through its HTTP API:
  the VM counted RUNNING while it ran, TERMINATED at the end; the escalation steps counted
  by step (powerdown 1, quit 1, term 0, kill 0); one terminate in the duration histogram;
  blockd's RPC latencies, its bdevs' IO and its vhost sessions scraped;
- `promtool check metrics` is clean on the exposition;
- only GET /metrics is served (404, 405 otherwise);
- blockd stopped (SIGSTOP): a scrape still ends within its deadline and says
  berth_probe_up{source="blockd"} 0;
- a bad listen address stops `berth up` with one line naming it.
"""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from berth_rpc import wait_for
from test_berth_cli import Host, host  # noqa: F401  (the fixture)

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
SCRAPE_TIMEOUT_S = 1.5


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, method="GET", timeout=10):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Prometheus:
    """A Prometheus server in dir scraping target (host:port) every second."""

    def __init__(self, dir_, target):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        dir_.mkdir()
        (dir_ / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: berth\n    static_configs:\n"
            f"      - targets: ['{target}']\n")
        self.log = open(dir_ / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={dir_ / 'prometheus.yml'}",
             f"--storage.tsdb.path={dir_ / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=self.log, cwd=dir_)
        wait_for(self.ready, 60, interval=0.2, what="Prometheus to be ready")

    def ready(self):
        assert self.proc.poll() is None, "prometheus exited"
        try:
            return http(self.url + "/-/ready", timeout=2)[0] == 200
        except OSError:
            return False

    def query(self, expr):
        """The values of an instant query: {frozenset(labels): float}."""
        q = urllib.parse.urlencode({"query": expr})
        status, body = http(f"{self.url}/api/v1/query?{q}")
        assert status == 200, body
        data = json.loads(body)
        assert data["status"] == "success", data
        return {frozenset((k, v) for k, v in r["metric"].items() if k not in
                          ("instance", "job")): float(r["value"][1])
                for r in data["data"]["result"]}

    def value(self, expr):
        """The single value of expr, or None while it has none."""
        vals = list(self.query(expr).values())
        assert len(vals) <= 1, (expr, vals)
        return vals[0] if vals else None

    def stop(self):
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def prometheus(tmp_path):
    started = []

    def start(target):
        p = Prometheus(tmp_path / "prometheus", target)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def metrics_host(host, port):
    h = host()
    with open(h.root / "berth.conf", "a") as f:
        f.write(f"[metrics]\nlisten = 127.0.0.1:{port}\nscrape_timeout = {SCRAPE_TIMEOUT_S}\n")
    return h


def test_vm_lifecycle_seen_by_prometheus(host, prometheus, tmp_path):
    port = free_port()
    h = metrics_host(host, port)
    h.run("up")
    assert h.daemons()["metrics"]["pid"] > 0
    endpoint = f"http://127.0.0.1:{port}/metrics"
    status, text = http(endpoint)
    assert status == 200 and "# TYPE berth_vms gauge" in text

    # Only GET /metrics.
    assert http(f"http://127.0.0.1:{port}/")[0] == 404
    assert http(f"http://127.0.0.1:{port}/metrics/x")[0] == 404
    assert http(endpoint, method="POST")[0] == 405
    assert http(endpoint, method="DELETE")[0] == 405

    prom = prometheus(f"127.0.0.1:{port}")
    wait_for(lambda: prom.value('up{job="berth"}') == 1, 30, interval=0.5,
             what="Prometheus's first scrape of the endpoint")

    h.run("vm", "create", "m1", "--memory", 128, "--disk-size", 32)
    h.run("vm", "wait", "m1", "--state", "RUNNING", "--timeout", 180)
    wait_for(lambda: prom.value('berth_vms{state="RUNNING"}') == 1, 30, interval=0.5,
             what="Prometheus to see the VM RUNNING")
    assert prom.value('berth_blockd_vhost_sessions{ctrlr="vm1"}') == 1
    assert prom.value('sum(berth_blockd_bdev_ops_total{bdev="raid_vol1",op="read"})') > 0
    assert prom.value('berth_blockd_rpc_duration_seconds_count'
                      '{method="bdev_raid_create"}') >= 1
    assert prom.value('berth_probe_up{source="blockd"}') == 1

    # The default workload ignores ACPI: powerdown, then quit after powerdown_grace (2 s).
    h.run("vm", "terminate", "m1", "--wait", "--timeout", 120)

    def terminated():
        return (prom.value('berth_vms{state="TERMINATED"}') == 1 and
                prom.value('berth_vm_escalation_steps_total{step="quit"}') == 1)

    wait_for(terminated, 30, interval=0.5, what="Prometheus to see the VM TERMINATED")
    steps = {dict(k)["step"]: v for k, v in prom.query("berth_vm_escalation_steps_total").items()}
    assert steps == {"powerdown": 1, "quit": 1, "term": 0, "kill": 0}
    assert prom.value('berth_vms{state="RUNNING"}') == 0
    assert prom.value('max_over_time(berth_vms{state="RUNNING"}[10m])') == 1
    assert prom.value("berth_vm_terminate_duration_seconds_count") == 1
    took = prom.value("berth_vm_terminate_duration_seconds_sum")
    assert 2 <= took < 30, took      # powerdown_grace is 2 s
    # The histogram's buckets are cumulative: the +Inf one holds the terminate.
    assert prom.value('berth_vm_terminate_duration_seconds_bucket{le="+Inf"}') == 1
    assert prom.value('berth_vm_terminate_duration_seconds_bucket{le="1"}') == 0

    # promtool is clean on the exposition.
    status, text = http(endpoint)
    res = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == "" and res.stderr.strip() == "", res.stdout + res.stderr

    # A stopped blockd costs a scrape its deadline, no more. (Prometheus goes first: the
    # endpoint serves one scrape at a time, and this one must not queue behind its.)
    prom.stop()
    blockd = h.daemons()["blockd"]["pid"]
    os.kill(blockd, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        status, text = http(endpoint, timeout=SCRAPE_TIMEOUT_S + 10)
        took = time.monotonic() - t0
    finally:
        os.kill(blockd, signal.SIGCONT)
    assert status == 200
    assert took < SCRAPE_TIMEOUT_S + 0.5, took
    assert 'berth_probe_up{source="blockd"} 0' in text
    assert 'berth_probe_up{source="store"} 1' in text
    assert 'berth_vms{host=' in text and 'state="TERMINATED"} 1' in text
    wait_for(lambda: 'berth_probe_up{source="blockd"} 1' in http(endpoint)[1], 20,
             interval=0.2, what="blockd to answer the endpoint again")


def test_bad_listen_stops_berth_up(host):
    h = host()
    with open(h.root / "berth.conf", "a") as f:
        f.write("[metrics]\nlisten = localhost:9477\n")
    res = h.run("up", check=False, timeout=60)
    assert res.returncode != 0
    assert "[metrics] listen = localhost:9477: invalid value" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr

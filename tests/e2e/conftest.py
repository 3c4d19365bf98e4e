"""conftest.py — fixtures shared by the scenario tests: where the build is, and a blockd started
in a temporary root (stopped, and checked for a clean exit, by the fixture)."""
import os
import pathlib
import signal
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from berth_rpc import RpcClient, wait_for  # noqa: E402
from guestvm import Guest, build_guest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = REPO / os.environ.get("BERTH_BUILD", "build")


def binary(name):
    path = BUILD / "src" / name / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run make first")
    return path


class Blockd:
    """A blockd process in root/blockd; start() waits until it answers spdk_get_version."""

    def __init__(self, root, persist=False, fault_injection=False, extra=()):
        self.root = pathlib.Path(root)
        self.dir = self.root / "blockd"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sock = str(self.dir / "rpc.sock")
        self.vhost_dir = str(self.dir / "vhost")
        self.log_path = self.dir / "blockd.log"
        self.args = [str(binary("blockd")), "-r", self.sock, "-S", self.vhost_dir]
        if persist:
            self.args += ["--persist", str(self.dir / "config.json")]
        if fault_injection:
            self.args.append("--fault-injection")
        self.args += list(extra)
        self.proc = None

    def start(self, timeout=15):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"blockd exited with {self.proc.returncode}: "
                                   f"{self.log_path.read_text()[-2000:]}")
            try:
                with RpcClient(self.sock, timeout=1) as c:
                    return c.call("spdk_get_version")
            except (OSError, TimeoutError, EOFError):
                return None

        wait_for(ready, timeout, what="blockd to answer")
        return self

    def client(self, timeout=10.0):
        return RpcClient(self.sock, timeout=timeout)

    def call(self, method, params=None):
        with self.client() as c:
            return c.call(method, params)

    def stop(self, timeout=15):
        """SIGTERM, then wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if getattr(self, "log", None):
            self.log.close()

    def log_text(self):
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def make_blockd(tmp_path):
    started = []

    def make(**kw):
        b = Blockd(tmp_path, **kw)
        started.append(b)
        return b

    yield make
    for b in started:
        b.kill()
    for b in started:
        text = b.log_text() if b.log_path.exists() else ""
        assert "ERROR: AddressSanitizer" not in text, text[-4000:]
        assert "runtime error:" not in text, text[-4000:]


@pytest.fixture
def blockd(make_blockd):
    b = make_blockd().start()
    yield b
    assert b.stop() == 0, b.log_text()[-2000:]


@pytest.fixture(scope="session")
def guest():
    """The guest kernel and initramfs, built (or reused) once per session."""
    return build_guest()


@pytest.fixture
def boot(guest):
    """boot(workdir, append, **kw) starts a guest; every guest is killed at teardown."""
    started = []

    def start(workdir, append, **kw):
        g = Guest(guest, workdir, append, **kw)
        started.append(g)
        return g

    yield start
    for g in started:
        g.stop()

"""conftest.py — fixtures shared by the scenario tests: where the build is, a blockd and a
vmengine started in a temporary root (stopped, and checked, by the fixtures), the test guest,
and QEMU processes found by the VM id on their command line."""
import json
import os
import re
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


class Process:
    """One daemon under test, its output in log_path: launch(argv), stop() (SIGTERM, then
    wait; returns the exit code), kill() (SIGKILL), log_text()."""

    proc = None
    log_path = None

    def launch(self, argv):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log)

    def stop(self, timeout=30):
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
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Blockd(Process):
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
        self.launch(self.args)

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


class Engine(Process):
    """A Berth engine process (vmengine, diskengine) for root: its [name] section of
    root/berth.conf (other sections kept), its log in root/<name>.log."""

    def __init__(self, root, name, settings):
        self.root = pathlib.Path(root)
        self.name = name
        self.log_path = self.root / f"{name}.log"
        conf = self.root / "berth.conf"
        text = conf.read_text() if conf.exists() else ""
        text = re.sub(rf"\[{name}\][^\[]*", "", text)
        conf.write_text(text + f"[{name}]\n" +
                        "".join(f"{k} = {v}\n" for k, v in settings.items()))

    def start(self):
        self.launch([str(binary(self.name)), "--root", str(self.root)])
        return self


class Vmengine(Engine):
    """vmengine with its desired state in a directory: desire() writes a VM's spec the way
    the store would provide it; state() reads the VM's vm.state, vmengine's source of
    truth."""

    def __init__(self, root, guest, **config):
        settings = {"desired_source": "dir", "accel": "tcg", "tick": "0.2",
                    "powerdown_grace": "3", "quit_grace": "3", "term_grace": "3",
                    "qmp_timeout": "2"}
        settings.update({k: str(v) for k, v in config.items()})
        super().__init__(root, "vmengine", settings)
        self.guest = guest
        self.dir = self.root / "vmengine"
        self.desired_dir = self.dir / "desired"
        self.desired_dir.mkdir(parents=True, exist_ok=True)

    def desire(self, vm_id, desired="RUNNING", workload="idle", generation=0, **extra):
        kernel, initrd = self.guest
        spec = {"id": vm_id, "name": f"test{vm_id}",
                "uuid": f"00000000-0000-4000-8000-{vm_id:012d}",
                "vcpus": 1, "memory_mb": 128, "kernel": str(kernel), "initrd": str(initrd),
                "append": f"console=ttyS0 panic=-1 berth.workload={workload}",
                "desired": desired, "generation": generation}
        spec.update(extra)
        tmp = self.desired_dir / f".{vm_id}.tmp"
        tmp.write_text(json.dumps(spec))
        os.rename(tmp, self.desired_dir / f"{vm_id}.json")

    def vm_dir(self, vm_id):
        return self.dir / "vms" / str(vm_id)

    def state(self, vm_id):
        try:
            return json.loads((self.vm_dir(vm_id) / "vm.state").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def status(self):
        try:
            return json.loads((self.dir / "status.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def wait_state(self, vm_id, state, timeout=120):
        def reached():
            st = self.state(vm_id)
            return st if st and st["state"] == state else None
        return wait_for(reached, timeout, interval=0.05, what=f"vm {vm_id} {state}")

    def console(self, vm_id):
        try:
            return (self.vm_dir(vm_id) / "console.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""


def qemu_pids(vm_id, root):
    """Live QEMU processes whose command line names VM vm_id of the host root `root` (its
    -pidfile is root/vmengine/vms/<id>/qemu.pid): other roots' VMs (other tests, other runs
    on the same machine) have the same names."""
    pidfile = os.path.realpath(pathlib.Path(root) / "vmengine" / "vms" / str(vm_id) /
                               "qemu.pid")
    found = []
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            args = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-name" in args and b"-pidfile" in args:
            i, j = args.index(b"-name"), args.index(b"-pidfile")
            if i + 1 < len(args) and args[i + 1].startswith(f"vm{vm_id},".encode()) and \
                    j + 1 < len(args) and \
                    os.path.realpath(args[j + 1].decode(errors="replace")) == pidfile:
                found.append(int(d.name))
    return found


@pytest.fixture
def make_vmengine(tmp_path, guest):
    """make_vmengine(**config) -> a Vmengine in tmp_path (not started). At teardown vmengine
    is stopped and every QEMU it launched is killed."""
    made = []

    def make(**config):
        v = Vmengine(tmp_path, guest, **config)
        made.append(v)
        return v

    yield make
    for v in made:
        v.kill()
    for vm in (tmp_path / "vmengine" / "vms").glob("*"):
        if vm.name.isdigit():
            for pid in qemu_pids(int(vm.name), tmp_path):
                os.kill(pid, signal.SIGKILL)


class Diskengine(Engine):
    """diskengine with its desired volumes in a directory: desire_volume() writes one the
    way the store would provide it; status()/events() read what diskengine reports."""

    def __init__(self, root, **config):
        settings = {"desired_source": "dir", "tick": "0.2", "rpc_timeout": "5",
                    "backoff_max": "2"}
        settings.update({k: str(v) for k, v in config.items()})
        super().__init__(root, "diskengine", settings)
        self.dir = self.root / "diskengine"
        self.desired_dir = self.dir / "desired"
        self.desired_dir.mkdir(parents=True, exist_ok=True)

    def desire_volume(self, vol, size_mb=32, vm=None, exported=False, **extra):
        spec = {"id": vol, "size_mb": size_mb, "exported": exported}
        if vm is not None:
            spec["vm"] = vm
        spec.update(extra)
        self.write_desired(f"vol{vol}.json", json.dumps(spec))

    def write_desired(self, name, text):
        tmp = self.desired_dir / f".{name}.tmp"
        tmp.write_text(text)
        os.rename(tmp, self.desired_dir / name)

    def remove_volume(self, vol):
        (self.desired_dir / f"vol{vol}.json").unlink()

    def status(self, loop):
        try:
            return json.loads((self.dir / f"{loop}.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def events(self, kind=None):
        path = self.dir / "events.jsonl"
        if not path.exists():
            return []
        evs = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
        return [e for e in evs if kind is None or e["event"] == kind]


@pytest.fixture
def make_diskengine(tmp_path):
    made = []

    def make(**config):
        d = Diskengine(tmp_path, **config)
        made.append(d)
        return d

    yield make
    for d in made:
        d.kill()

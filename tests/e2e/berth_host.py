"""tests/e2e/berth_host.py — one Berth host root driven through the `berth` command, as the
whole-host scenario tests use it: its berth.conf, `berth` calls with a checked exit status, the
files the host keeps (vm.state, console.log, daemon logs, supervisor.json), blockd's RPC socket,
and a teardown that leaves no process of the root behind. Each test file's Host writes the
berth.conf its scenario needs and adds its own readers."""
import json
import os
import signal
import subprocess
from pathlib import Path

from berth_rpc import RpcClient
from conftest import BUILD, qemu_pids

BERTH = BUILD / "src" / "cli" / "berth"


class BerthHost:
    def __init__(self, root, conf, name=None, berth=BERTH):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "berth.conf").write_text(conf)
        self.name = name or self.root.name
        self.berth = Path(berth)

    def run(self, *args, check=True, timeout=240, env=None):
        res = subprocess.run([str(self.berth), "--root", str(self.root), *map(str, args)],
                             capture_output=True, text=True, timeout=timeout, env=env)
        if check:
            assert res.returncode == 0, \
                f"{self.name}: berth {' '.join(map(str, args))}: {res.stderr}"
        return res

    def json(self, *args):
        return json.loads(self.run("--json", *args).stdout)

    def start(self):
        self.run("up")

    def daemons(self):
        state = json.loads((self.root / "run" / "supervisor.json").read_text())
        return {d["name"]: d for d in state["daemons"]}

    def vm_dir(self, vm_id):
        return self.root / "vmengine" / "vms" / str(vm_id)

    def vm_state(self, vm_id):
        """The VM's vm.state, or None while it has none (or one being replaced)."""
        try:
            return json.loads((self.vm_dir(vm_id) / "vm.state").read_text())
        except (OSError, ValueError):
            return None

    def console(self, vm_id):
        try:
            return (self.vm_dir(vm_id) / "console.log").read_text(errors="replace")
        except OSError:
            return ""

    def log(self, daemon):
        try:
            return (self.root / "run" / f"{daemon}.log").read_text(errors="replace")
        except OSError:
            return ""

    def target(self, method, params=None):
        """One call on blockd's RPC socket, past the CLI."""
        with RpcClient(str(self.root / "blockd" / "rpc.sock"), timeout=10) as c:
            return c.call(method, params)

    def stop(self):
        """`berth down`, then whatever it could not stop (a test that killed the supervisor
        leaves its daemons; a test that broke the engines leaves QEMUs): nothing of this root
        runs afterwards."""
        subprocess.run([str(self.berth), "--root", str(self.root), "down"],
                       capture_output=True, timeout=120)
        state = self.root / "run" / "supervisor.json"
        try:
            st = json.loads(state.read_text())
            pids = [st["pid"]] + [d["pid"] for d in st["daemons"]]
        except (OSError, ValueError, KeyError, TypeError):
            pids = []
        for pid in pids:
            try:
                if isinstance(pid, int) and pid > 0 and str(self.root) in \
                        Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for d in (self.root / "vmengine" / "vms").glob("*"):
            if d.name.isdigit():
                for pid in qemu_pids(int(d.name), self.root):
                    os.kill(pid, signal.SIGKILL)

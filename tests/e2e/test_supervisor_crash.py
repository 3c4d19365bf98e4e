"""tests/e2e/test_supervisor_crash.py — a killed supervisor never leads to a second set of
daemons.

`berth up` with a VM writing; the supervisor SIGKILLed; `berth up` again: exactly one
blockd, one diskengine and one vmengine on the root, the VM keeps its one QEMU and goes on
writing, blockd's RPC socket and the VM's vhost socket are there and answer. A daemon
started by hand next to a running one refuses with one line (its lock on the root).
"""
import os
import signal
import subprocess
from pathlib import Path

from berth_rpc import wait_for
from conftest import binary, qemu_pids
from test_berth_cli import host, writers  # noqa: F401 (the fixture)

DAEMONS = ("blockd", "diskengine", "vmengine")


def daemons_of(root):
    """name -> [pid] of the live daemon processes whose command line names root."""
    found = {d: [] for d in DAEMONS}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            args = (p / "cmdline").read_bytes().split(b"\0")
            state = (p / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        name = os.path.basename(args[0].decode(errors="replace"))
        if name in found and state != "Z" and \
                any(str(root).encode() in a for a in args[1:]):
            found[name].append(int(p.name))
    return found


def test_supervisor_sigkill_then_up_gives_one_set_of_daemons(host):
    h = host()
    h.run("up")
    ids = writers(h, 1)
    vm = ids["w0"]
    pid = h.vm_state(vm)["pid"]
    assert all(len(v) == 1 for v in daemons_of(h.root).values()), daemons_of(h.root)
    sup = int((h.root / "run" / "supervisor.pid").read_text())
    os.kill(sup, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{sup}").exists() or
             "Z" in Path(f"/proc/{sup}/stat").read_text().rsplit(")", 1)[1][:3], 10,
             what="the supervisor to die")

    h.run("up")
    def one_each():
        found = daemons_of(h.root)
        return found if all(len(v) == 1 for v in found.values()) else None
    wait_for(one_each, 30, what="exactly one of each daemon")
    found = daemons_of(h.root)
    state = h.daemons()
    assert all(found[d] == [state[d]["pid"]] for d in DAEMONS), (found, state)

    assert h.json("rpc", "spdk_get_version")
    wait_for(lambda: f"vm{vm}" in h.controllers(), 60, what="the VM's export")
    assert (h.root / "blockd" / "vhost" / f"vm{vm}").is_socket()
    assert (h.root / "blockd" / "rpc.sock").is_socket()
    h.run("vm", "wait", "w0", "--state", "RUNNING", "--timeout", 60)
    seen = h.acked(vm)[-1]
    wait_for(lambda: h.acked(vm)[-1] > seen, 120, what="the writer to go on")
    assert qemu_pids(vm, h.root) == [pid] and h.vm_state(vm)["pid"] == pid
    assert all(len(v) == 1 for v in daemons_of(h.root).values()), daemons_of(h.root)

    # A second engine by hand: refused, one line, the first one untouched.
    for name in ("vmengine", "diskengine"):
        res = subprocess.run([str(binary(name)), "--root", str(h.root)],
                             capture_output=True, text=True, timeout=30)
        assert res.returncode != 0 and "already running" in res.stderr, (name, res.stderr)
    assert all(len(v) == 1 for v in daemons_of(h.root).values()), daemons_of(h.root)
    h.run("vm", "terminate", "w0", "--wait", "--timeout", 120)
    h.run("down")
    assert all(v == [] for v in daemons_of(h.root).values()), daemons_of(h.root)

"""tests/e2e/test_modes.py — nothing under a host root is open to other users.

After `berth up` and a running VM: the root and run/ are 0700 (or 0750: no write for the
group, nothing for others), the locks, the store (with its -wal and -shm), store.id, the
logs and the console are 0600, the sockets 0600; no file or directory under the root
grants anything to other users (but berth.conf, which the operator writes).
"""
import os
import stat

from test_berth_cli import host, writers  # noqa: F401 (the fixture)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_modes_after_up_and_a_vm(host):
    h = host()
    os.umask(0o022)                  # what an operator's shell usually has
    h.run("up")
    ids = writers(h, 1)
    vm_dir = h.root / "vmengine" / "vms" / str(ids["w0"])
    r = h.root
    for d in (r, r / "run"):
        assert mode(d) & 0o027 == 0, (d, oct(mode(d)))
    private = [r / "run" / "supervisor.lock", r / "store.db", r / "store.db-wal",
               r / "store.db-shm", r / "store.id", r / "run" / "supervisor.log",
               vm_dir / "console.log", vm_dir / "qemu.log"]
    private += [r / "run" / f"{d}.{k}" for d in ("blockd", "diskengine", "vmengine")
                for k in ("log", "lock")]
    sockets = [r / "blockd" / "rpc.sock", r / "blockd" / "vhost" / f"vm{ids['w0']}",
               vm_dir / "monitor.sock", vm_dir / "qmp-operator.sock"]
    for p in private + sockets:
        assert p.exists(), p
        assert mode(p) == 0o600, (str(p), oct(mode(p)))
    loose = []
    for top, dirs, files in os.walk(r):
        for name in dirs + files:
            p = os.path.join(top, name)
            if mode(p) & 0o007 and p != str(r / "berth.conf"):    # the operator's
                loose.append((p, oct(mode(p))))
    assert loose == [], loose
    h.run("vm", "terminate", "w0", "--wait", "--timeout", 120)
    h.run("down")

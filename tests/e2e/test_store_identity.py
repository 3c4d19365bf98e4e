"""tests/e2e/test_store_identity.py — a store knows its host root and the root its store.

A host with a VM under `berth up`; then, with the daemons down:
- the store deleted: `berth up`, `berth vm list` and vmengine refuse with one line, and no
  new store appears (a fresh store would reuse id 1 for another VM, whose terminate would
  quit the first VM's QEMU and delete its volume);
- another root's store put in its place: refused the same way;
- the original store back: `berth up` works, the VM keeps its QEMU, and a new VM gets a new
  id.
`berth init` creates a store on an empty root only.
"""
import shutil
import subprocess

from conftest import binary, qemu_pids
from test_berth_cli import Host, host  # noqa: F401 (the fixture)


def one_line_refusal(res, *words):
    lines = res.stderr.strip().splitlines()
    assert res.returncode != 0 and len(lines) == 1, res.stderr
    assert all(w in lines[0] for w in words), lines[0]


def store_files(root):
    return sorted(p.name for p in root.glob("store.db*"))


def test_missing_or_foreign_store_is_refused(host, guest, tmp_path_factory):
    h = host()
    h.run("up")
    h.run("vm", "create", "first", "--disk-size", 8, "--memory", 128)
    h.run("vm", "wait", "first", "--state", "RUNNING", "--timeout", 180)
    vm = h.vms()["first"]
    pid = h.vm_state(vm["id"])["pid"]
    h.run("down")

    saved = tmp_path_factory.mktemp("saved")
    for p in h.root.glob("store.db*"):
        shutil.move(str(p), saved / p.name)
    for args in (["up"], ["vm", "list"], ["vm", "create", "second", "--disk-size", 8],
                 ["init"]):
        one_line_refusal(h.run(*args, check=False), "store")
    assert store_files(h.root) == []
    res = subprocess.run([str(binary("vmengine")), "--root", str(h.root)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode != 0 and "store" in res.stderr, res.stderr
    assert store_files(h.root) == []

    # Another root's store in its place is not this root's store.
    other = Host(tmp_path_factory.mktemp("other"), guest)
    other.run("init")
    shutil.copy(other.root / "store.db", h.root / "store.db")
    one_line_refusal(h.run("up", check=False), "store")
    one_line_refusal(h.run("vm", "list", check=False), "store")
    (h.root / "store.db").unlink()

    for p in saved.iterdir():
        shutil.move(str(p), h.root / p.name)
    h.run("up")
    assert h.vms()["first"]["id"] == vm["id"]
    h.run("vm", "wait", "first", "--state", "RUNNING", "--timeout", 60)
    assert h.vm_state(vm["id"])["pid"] == pid and qemu_pids(vm["id"], h.root) == [pid]
    h.run("vm", "create", "second", "--disk-size", 8, "--memory", 128)
    assert h.vms()["second"]["id"] > vm["id"]
    assert h.vms()["second"]["volume_id"] > vm["volume_id"]
    h.run("vm", "terminate", "second", "--wait", "--timeout", 120)
    h.run("vm", "terminate", "first", "--wait", "--timeout", 120)
    assert qemu_pids(vm["id"], h.root) == []
    h.run("down")


def test_init_creates_a_store_on_an_empty_root_only(host):
    h = host()
    res = h.run("init")
    assert "store" in res.stdout and (h.root / "store.id").exists()
    ident = (h.root / "store.id").read_text().strip()
    assert len(ident) == 36
    res = h.run("init", check=False)
    one_line_refusal(res, "store")
    assert (h.root / "store.id").read_text().strip() == ident

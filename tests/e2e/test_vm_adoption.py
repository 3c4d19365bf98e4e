"""tests/e2e/test_vm_adoption.py — a live QEMU is never given a twin (vmengine, TCG guests).

vmengine restarted after a VM's vm.state was deleted must find the VM's QEMU (its
`-name vm<id>,` and this root's pidfile on its command line) and adopt it: same pid,
exactly one QEMU for the VM, its monitor sockets, pid file and console left alone, the
guest still writing to its console.
"""
import os
import re

from berth_rpc import wait_for
from conftest import qemu_pids


def acked(vme, vm_id):
    return [int(x) for x in re.findall(r"^W (\d+) ok", vme.console(vm_id), re.M)]


def test_deleted_vm_state_does_not_lead_to_a_second_qemu(make_vmengine, tmp_path):
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as f:
        f.truncate(32 << 20)
    vme = make_vmengine().start()
    vme.desire(5, "RUNNING", workload="writer", disk={"file": str(disk)})
    pid = vme.wait_state(5, "RUNNING")["pid"]
    wait_for(lambda: len(acked(vme, 5)) > 3, 120, what="the guest to write")
    vm_dir = vme.vm_dir(5)
    kept = {name: os.stat(vm_dir / name).st_ino
            for name in ("monitor.sock", "qmp-operator.sock", "qemu.pid", "console.log")}

    assert vme.stop() == 0
    (vm_dir / "vm.state").unlink()
    vme = make_vmengine().start()

    st = vme.wait_state(5, "RUNNING", timeout=30)
    assert st["pid"] == pid, st
    seen = acked(vme, 5)[-1]
    wait_for(lambda: acked(vme, 5)[-1] > seen, 60, what="the guest to go on writing")
    assert qemu_pids(5, vme.root) == [pid]
    assert vme.console(5).count("BERTH-GUEST boot") == 1
    for name, ino in kept.items():
        assert os.stat(vm_dir / name).st_ino == ino, f"{name} was replaced"
    st = vme.state(5)
    assert st["pid"] == pid and st["launches"] <= 1, st
    assert vme.stop() == 0

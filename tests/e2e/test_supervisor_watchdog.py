"""`berth up`'s supervisor is blockd's watchdog (issue 15), with systemd's rule: blockd pings
it (sd_notify WATCHDOG=1 on run/supervisor.notify) only while its RPC thread and every reactor
make progress. A wedged control thread, then a wedged IO reactor (blockd_fault_reactor
wedge), each get blockd restarted within [supervisor] blockd_watchdog plus a margin, as a
target crash (engines restarted, VMs reconnect under `reconnect`): the writer guest goes on
writing with the same QEMU and no reboot, and each wedge is an event naming the stuck thread.
"""
import time

from berth_rpc import RpcClient, wait_for
from test_berth_cli import Host, writers

WATCHDOG_S = 3
BOUND_S = WATCHDOG_S + 6      # the interval, a ping period, SIGABRT, restart and readiness


def test_supervisor_restarts_a_wedged_blockd(tmp_path, guest):
    h = Host(tmp_path, guest)
    conf = h.root / "berth.conf"
    conf.write_text(conf.read_text() + f"[supervisor]\nblockd_watchdog = {WATCHDOG_S}\n"
                    "[blockd]\nfault_injection = on\n")
    h.run("up")
    try:
        # A disk the writer cannot fill during the test (32 MiB took it ~30 s).
        ids = writers(h, 1, disk_mb=512)
        vm = ids["w0"]
        qemu = h.vm_state(vm)["pid"]
        # Healthy: two whole intervals go by without a restart.
        first = h.daemons()["blockd"]["pid"]
        deadline = time.monotonic() + 2 * WATCHDOG_S
        while time.monotonic() < deadline:
            assert h.daemons()["blockd"]["pid"] == first, "a healthy blockd was restarted"
            time.sleep(0.5)
        for lcore, thread in ((0, "app_thread"), (1, "reactor_0")):
            old = h.daemons()["blockd"]["pid"]
            seen = h.acked(vm)[-1]
            with RpcClient(str(h.root / "blockd" / "rpc.sock"), timeout=10) as c:
                c.call("blockd_fault_reactor", {"lcore": lcore, "action": "wedge",
                                                "wedge_ms": 120000})
            start = time.monotonic()
            wait_for(lambda: h.daemons()["blockd"]["pid"] not in (0, old), BOUND_S + 30,
                     interval=0.1, what=f"blockd restarted after wedging {thread}")
            took = time.monotonic() - start
            print(f"wedged {thread}: blockd restarted after {took:.1f} s")
            assert took < BOUND_S, took
            wait_for(lambda: h.acked(vm)[-1] > seen, 60, what="the writer to go on")
            assert h.vm_state(vm)["pid"] == qemu
            assert h.console(vm).count("BERTH-GUEST boot") == 1
            events = [e for e in h.json("events", "--limit", 1000)
                      if e["component"] == "supervisor" and "wedged" in e["message"]]
            assert any(f"pid {old}" in e["message"] and thread in e["message"]
                       for e in events), events
        h.run("vm", "terminate", "w0", "--wait", "--timeout", 60)
    finally:
        h.stop()

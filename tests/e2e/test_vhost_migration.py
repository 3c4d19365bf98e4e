"""tests/e2e/test_vhost_migration.py — a real QEMU 7.2 (TCG) live-migrates a guest whose disk
is a blockd vhost-user-blk export: blockd offers VHOST_F_LOG_ALL and LOG_SHMFD, so the source's
query-migrate shows no blocker, and a migration to a `-incoming defer` peer on the same
machine (its own controller on a second bdev over the same file, as the fleet's shared
storage) completes; the guest's writer then goes on on the destination, with one boot.
Frugal: one guest, one migration, 256 MiB over a Unix socket."""
import time

from guestvm import MEMORY_MB  # noqa: F401  (the guest's size, for the record)
from test_guest import Qmp

DISK_MB = 64


def wait_migration(qmp, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        info = qmp.cmd("query-migrate")
        if info.get("status") in ("completed", "failed", "cancelled"):
            return info
        assert time.monotonic() < deadline, f"migration not done within {timeout}s: {info}"
        time.sleep(0.1)


def test_migrate_guest_on_blockd_export(make_blockd, boot, tmp_path):
    blockd = make_blockd().start()
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as f:
        f.truncate(DISK_MB << 20)
    socks = []
    for side in ("src", "dst"):
        blockd.call("bdev_uring_create", {"name": f"{side}-base", "filename": str(disk),
                                          "block_size": 512})
        blockd.call("vhost_create_blk_controller", {"ctrlr": f"vm-{side}",
                                                    "dev_name": f"{side}-base"})
        socks.append(f"{blockd.vhost_dir}/vm-{side}")

    append = "berth.workload=writer berth.count=100000"
    src = boot(tmp_path / "src", append, vhost=socks[0], qmp=tmp_path / "src.qmp")
    src.wait_for(r"W 20 ok")
    dst = boot(tmp_path / "dst", append, vhost=socks[1], qmp=tmp_path / "dst.qmp",
               extra=["-incoming", "defer"])
    sq, dq = Qmp(tmp_path / "src.qmp"), Qmp(tmp_path / "dst.qmp")
    try:
        info = sq.cmd("query-migrate")
        assert not info.get("blocked-reasons"), info
        mig = f"unix:{tmp_path}/mig.sock"
        dq.cmd("migrate-incoming", uri=mig)
        sq.cmd("migrate", uri=mig)
        info = wait_migration(sq)
        assert info["status"] == "completed", info
        print(f"\nmigration of a {MEMORY_MB} MiB guest: total {info.get('total-time')} ms, "
              f"downtime {info.get('downtime')} ms")
        deadline = time.monotonic() + 30
        while dq.cmd("query-status")["status"] != "running":
            assert time.monotonic() < deadline, "destination not running"
            time.sleep(0.1)
        # The writer continues on the destination (its console is the destination's file).
        dst.wait_for(r"W \d+ ok", timeout=60)
        assert dst.boots() == 0, "the destination guest rebooted"
        assert not [l for l in dst.lines() if "Oops" in l or "Kernel panic" in l], dst.lines()
        dst_sessions = blockd.call("vhost_get_controllers", {"name": "vm-dst"})[0]["sessions"]
        assert dst_sessions and dst_sessions[0]["started"], dst_sessions
    finally:
        sq.close()
        dq.close()
    src.stop()
    dst.stop()
    log = blockd.log_text()
    assert "dirty log set" in log, log[-3000:]
    assert "dirty logging on" in log, log[-3000:]

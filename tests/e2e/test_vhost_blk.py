"""tests/e2e/test_vhost_blk.py — blockd's vhost-user-blk data path with real QEMU guests.

Each test starts blockd in a temporary root, puts the test guest's disk on a blockd controller
(QEMU 7.2, -chardev socket,...,reconnect=1 -device vhost-user-blk-pci, TCG) and checks what
the guest and the host see:
- the writer's blocks round-trip through a raid1 of two io_uring file bdevs, on both files;
- bug class 3 (docs/architecture.md): blockd SIGKILLed mid-stream and restarted with --persist, five times;
  the same QEMU keeps running, the guest never reboots, its writes continue and every
  acknowledged block is on disk (BERTH_STRESS_ROUNDS=N for more rounds);
- bug class 1 (docs/architecture.md): a guest killed with IO held in a delay bdev; the controller's delete
  then succeeds within a second and nothing stays outstanding; with the guest alive delete
  answers -16 at once, and with force the guest's in-flight write fails instead of hanging;
- bug class 5 (docs/architecture.md): introspection RPCs in a tight loop while guests are killed under IO and
  their controllers deleted (run under AddressSanitizer by `make check-asan`).
"""
import os
import struct
import threading
import time
import zlib

from berth_rpc import RpcClient, RpcError, wait_for
from guestvm import BLOCK

DISK_MB = 64
EBUSY = -16


def make_file(path, mb=DISK_MB):
    with open(path, "wb") as f:
        f.truncate(mb * 1024 * 1024)
    return str(path)


def raid1_volume(blockd, root, name="vol0"):
    """raid1 over two io_uring file bdevs; returns the raid's name and the two files."""
    files = [make_file(root / f"{name}-{i}.img") for i in range(2)]
    for i, f in enumerate(files):
        blockd.call("bdev_uring_create", {"name": f"{name}-base{i}", "filename": f,
                                          "block_size": 512})
    blockd.call("bdev_raid_create", {"name": name, "raid_level": "raid1",
                                     "base_bdevs": [f"{name}-base0", f"{name}-base1"],
                                     "strip_size_kb": 0})
    return name, files


def export(blockd, bdev, ctrlr):
    blockd.call("vhost_create_blk_controller", {"ctrlr": ctrlr, "dev_name": bdev})
    return os.path.join(blockd.vhost_dir, ctrlr)


def controller(blockd, ctrlr):
    return blockd.call("vhost_get_controllers", {"name": ctrlr})[0]


def inflight(blockd, ctrlr):
    sessions = controller(blockd, ctrlr)["sessions"]
    return sum(s["inflight_task_cnt"] for s in sessions)


def check_block(data, seq):
    """A block written by the guest's writer: magic, sequence number, CRC32."""
    assert data[:8] == b"BERTHBLK", f"block {seq}: no magic"
    got_seq, crc = struct.unpack_from("<QI", data, 8)
    assert got_seq == seq
    assert crc == zlib.crc32(data[:16] + b"\0\0\0\0" + data[20:]), f"block {seq}: bad CRC"


def verify_in_guest(boot, workdir, sock, count):
    g = boot(workdir, f"berth.workload=verify berth.count={count}", vhost=sock)
    m = g.wait_for(r"VERIFY good=(\d+) bad=(\d+) missing=(\d+) last=(-?\d+)")
    g.stop()
    return tuple(int(x) for x in m.groups())


def test_writer_and_verify_on_raid1(make_blockd, boot, tmp_path):
    blockd = make_blockd(extra=["--reactors", "2"]).start()
    raid, files = raid1_volume(blockd, tmp_path)
    sock = export(blockd, raid, "vm1")

    # Two vCPUs and two queues, one per reactor.
    g = boot(tmp_path / "writer", "berth.workload=writer berth.count=300", vhost=sock,
             num_queues=2, cpus=2)
    g.wait_for(r"W done 300")
    assert controller(blockd, "vm1")["sessions"][0]["max_queues"] == 2
    assert g.acked() == list(range(300))
    g.stop()

    assert verify_in_guest(boot, tmp_path / "verify", sock, 300) == (300, 0, 0, 299)
    # Both halves of the mirror hold every block, byte for byte.
    images = [open(f, "rb").read(300 * BLOCK) for f in files]
    assert images[0] == images[1]
    for seq in range(300):
        check_block(images[0][seq * BLOCK:(seq + 1) * BLOCK], seq)
    iostat = blockd.call("bdev_get_iostat", {"name": raid})["bdevs"][0]
    assert iostat["num_write_ops"] >= 300 and iostat["num_read_ops"] >= 300
    assert blockd.stop() == 0


def test_blockd_crash_costs_no_reboot_and_no_acked_write(make_blockd, boot, tmp_path):
    rounds = int(os.environ.get("BERTH_STRESS_ROUNDS", "5"))
    blockd = make_blockd(persist=True).start()
    raid, files = raid1_volume(blockd, tmp_path)
    # 20 ms per write on top of the mirror: most kills land while a write is in flight, so
    # the inflight region has something to carry over.
    blockd.call("bdev_delay_create", {"name": "slow", "base_bdev_name": raid,
                                      "avg_read_latency": 0, "p99_read_latency": 0,
                                      "avg_write_latency": 20_000,
                                      "p99_write_latency": 20_000})
    sock = export(blockd, "slow", "vm1")
    g = boot(tmp_path / "guest", "berth.workload=writer berth.count=1000000", vhost=sock)
    g.wait_for(r"WORKLOAD start writer")

    restart_to_write, resubmitted = [], 0
    for rnd in range(rounds):
        before = g.wait_acked_beyond((g.acked() or [-1])[-1] + 20)
        blockd.kill()                                   # SIGKILL, mid-stream
        blockd = make_blockd(persist=True)
        t0 = time.monotonic()
        blockd.start()
        seen = g.acked()[-1]
        g.wait_acked_beyond(seen, timeout=60)
        restart_to_write.append(time.monotonic() - t0)
        assert g.proc.poll() is None and g.pid == g.proc.pid
        resubmitted += sum(s["resubmitted_task_cnt"]
                           for s in controller(blockd, "vm1")["sessions"])
        print(f"round {rnd}: killed after W {before}, first write acknowledged "
              f"{restart_to_write[-1] * 1000:.0f} ms after the restart")

    # And once gracefully: SIGTERM disconnects QEMU, the next blockd picks it up the same way.
    seen = g.wait_acked_beyond(g.acked()[-1] + 5)
    assert blockd.stop() == 0
    blockd = make_blockd(persist=True).start()
    g.wait_acked_beyond(seen, timeout=60)

    acked = g.acked()
    lines = g.lines()
    assert g.boots() == 1, "the guest rebooted"
    assert not [l for l in lines if l.startswith("W ") and " error" in l], lines[-30:]
    assert acked == list(range(len(acked))), "the writer's sequence has a gap"
    assert controller(blockd, "vm1")["sessions"], "QEMU is not connected"
    assert resubmitted >= 1, "no kill caught a request in flight"
    g.stop()

    count = acked[-1] + 1
    good, bad, missing, last = verify_in_guest(boot, tmp_path / "verify", sock, count)
    assert (good, bad, missing) == (count, 0, 0)
    images = [open(f, "rb").read(count * BLOCK) for f in files]
    assert images[0] == images[1]
    print("restart-to-first-acknowledged-write ms: " +
          " ".join(f"{t * 1000:.0f}" for t in restart_to_write) +
          f"; max {max(restart_to_write) * 1000:.0f}; {resubmitted} requests resubmitted "
          f"from the inflight region; {count} blocks verified")
    assert blockd.stop() == 0


def delay_volume(blockd, name, write_latency_us):
    blockd.call("bdev_malloc_create", {"name": f"{name}-m", "num_blocks": 16384,
                                       "block_size": 4096})
    blockd.call("bdev_delay_create", {"name": name, "base_bdev_name": f"{name}-m",
                                      "avg_read_latency": 0, "p99_read_latency": 0,
                                      "avg_write_latency": write_latency_us,
                                      "p99_write_latency": write_latency_us})
    return name


def outstanding(blockd, bdev):
    return blockd.call("bdev_get_iostat", {"name": bdev})["bdevs"][0]["io_outstanding"]


def timed_call(blockd, method, params):
    t0 = time.monotonic()
    try:
        return blockd.call(method, params), None, time.monotonic() - t0
    except RpcError as e:
        return None, e, time.monotonic() - t0


def test_delete_never_waits_on_a_dead_guest(make_blockd, boot, tmp_path):
    blockd = make_blockd().start()
    bdev = delay_volume(blockd, "slow", 5_000_000)        # every write held 5 s
    sock = export(blockd, bdev, "vm1")
    g = boot(tmp_path / "g1", "berth.workload=writer berth.count=100", vhost=sock)
    wait_for(lambda: inflight(blockd, "vm1") >= 1, 120, what="a write in flight")

    # The guest is alive: delete refuses at once.
    _, err, took = timed_call(blockd, "vhost_delete_controller", {"ctrlr": "vm1"})
    assert err is not None and err.code == EBUSY and took < 0.5

    # The guest dies with its write held in the delay bdev: delete succeeds within 1 s.
    g.kill()
    t0 = time.monotonic()
    wait_for(lambda: timed_call(blockd, "vhost_delete_controller", {"ctrlr": "vm1"})[1]
             is None, 1.0, what="delete to succeed")
    took = time.monotonic() - t0
    assert blockd.call("vhost_get_controllers") == []
    wait_for(lambda: outstanding(blockd, bdev) == 0, 1.0, what="nothing outstanding")
    print(f"delete succeeded {took * 1000:.0f} ms after the guest was killed")

    # force with a live guest: its in-flight write fails, blockd goes on.
    sock = export(blockd, bdev, "vm2")
    g2 = boot(tmp_path / "g2", "berth.workload=writer berth.count=100", vhost=sock)
    wait_for(lambda: inflight(blockd, "vm2") >= 1, 120, what="a write in flight")
    _, err, took = timed_call(blockd, "vhost_delete_controller",
                              {"ctrlr": "vm2", "force": True})
    assert err is None and took < 0.5
    g2.wait_for(r"W \d+ error .*", timeout=30)
    assert g2.proc.poll() is None
    assert blockd.call("vhost_get_controllers") == []
    wait_for(lambda: outstanding(blockd, bdev) == 0, 1.0, what="nothing outstanding")
    assert blockd.stop() == 0


def introspection_loop(sock, stop, stats):
    """bdev_get_bdevs, vhost_get_controllers, bdev_get_iostat without pause; every reply
    must be well-formed."""
    with RpcClient(sock, timeout=10) as c:
        while not stop.is_set():
            bdevs = c.call("bdev_get_bdevs")
            assert isinstance(bdevs, list) and all("name" in b for b in bdevs)
            ctrlrs = c.call("vhost_get_controllers")
            assert isinstance(ctrlrs, list)
            for ctrlr in ctrlrs:
                for s in ctrlr["sessions"]:
                    assert s["inflight_task_cnt"] >= 0
            iostat = c.call("bdev_get_iostat")
            assert isinstance(iostat["bdevs"], list)
            stats["rounds"] += 1


def test_introspection_while_guests_die(make_blockd, boot, tmp_path):
    blockd = make_blockd().start()
    guests = []
    for i in range(3):
        bdev = delay_volume(blockd, f"d{i}", 200_000)
        sock = export(blockd, bdev, f"vm{i}")
        guests.append(boot(tmp_path / f"g{i}", "berth.workload=writer berth.count=100000",
                           vhost=sock))
    for i in range(3):
        wait_for(lambda: inflight(blockd, f"vm{i}") >= 1, 120, what="IO in flight")

    stop, stats, errors = threading.Event(), {"rounds": 0}, []

    def run():
        try:
            introspection_loop(blockd.sock, stop, stats)
        except Exception as e:  # reported by the main thread
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    try:
        for i, g in enumerate(guests):
            g.kill()
            wait_for(lambda: timed_call(blockd, "vhost_delete_controller",
                                        {"ctrlr": f"vm{i}"})[1] is None, 1.0,
                     what="delete to succeed")
            blockd.call("bdev_delay_delete", {"name": f"d{i}"})
            blockd.call("bdev_malloc_delete", {"name": f"d{i}-m"})
        before = stats["rounds"]
        wait_for(lambda: stats["rounds"] > before + 10 or errors, 10,
                 what="introspection to go on")
    finally:
        stop.set()
        t.join(30)
    assert not errors, errors
    assert blockd.proc.poll() is None
    assert blockd.call("vhost_get_controllers") == []
    print(f"{stats['rounds']} introspection rounds during teardown")
    assert blockd.stop() == 0

/* test_vhost_frontend.c — blockd's vhost-user-blk target driven by an in-process fake
 * front-end (vhost_fake_frontend.h) on real sockets, memfds and eventfds: the happy path (IO
 * through the virtqueue, GET_ID, FLUSH, UNSUPP, indirect tables, config space, WRITE_ZEROES,
 * DISCARD, EVENT_IDX notification), QEMU's stop/resume and memory remap, call eventfd
 * replacement while running, disconnect = quiesce with IO held by a delay bdev, forced
 * delete, and the inflight region (resubmission after a reconnect, repair of a half-published
 * completion, the signal for a completion the crash left unsignalled). Hostile front-ends: test_vhost_hostile.c. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bdev.h"
#include "bdev_delay.h"
#include "blockd.h"
#include "reactor.h"
#include "rpc_harness.h"
#include "vhost_blk.h"
#include "vhost_blk_queue.h"
#include "vhost_fake_frontend.h"

TestSuite(vhost, .init = vh_setup, .fini = vh_teardown, .timeout = 30);

/* ---------------------------------------------------------------- 1. happy path */

/* FLUSH with two descriptors (header, status). */
static int flush(struct fe *f, uint32_t *ulen)
{
	uint64_t h = fe_blk_header(f, VIRTIO_BLK_T_FLUSH, 0);
	uint16_t a = fe_desc_alloc(f), b = fe_desc_alloc(f);
	fe_set_desc(f, a, h, 16, VRING_DESC_F_NEXT, b);
	fe_set_desc(f, b, f->status_gpa, 1, VRING_DESC_F_WRITE, 0);
	fe_post(f, a);
	struct vring_used_elem e;
	cr_assert_eq(fe_wait_used(f, &e, FE_TIMEOUT_MS), 0, "FLUSH not answered");
	cr_assert_eq(e.id, a);
	*ulen = e.len;
	return fe_status(f);
}

/* An indirect table {header, seg0, seg1, status} of two 4 KiB segments. */
static uint16_t indirect_rw(struct fe *f, uint32_t type, uint64_t sector, uint64_t seg[2])
{
	bool in = type == VIRTIO_BLK_T_IN;
	uint64_t h = fe_blk_header(f, type, sector), t = fe_alloc(f, 4 * 16);
	struct vring_desc *tab = fe_ptr(f, t);
	uint16_t w = in ? VRING_DESC_F_WRITE : 0;
	tab[0] = (struct vring_desc){ h, 16, VRING_DESC_F_NEXT, 1 };
	tab[1] = (struct vring_desc){ seg[0], 4096, (uint16_t)(VRING_DESC_F_NEXT | w), 2 };
	tab[2] = (struct vring_desc){ seg[1], 4096, (uint16_t)(VRING_DESC_F_NEXT | w), 3 };
	tab[3] = (struct vring_desc){ f->status_gpa, 1, VRING_DESC_F_WRITE, 0 };
	uint16_t head = fe_desc_alloc(f);
	fe_set_desc(f, head, t, 4 * 16, VRING_DESC_F_INDIRECT, 0);
	fe_post(f, head);
	return head;
}

Test(vhost, happy_path)
{
	struct bdev *b = vh_malloc("m0", 4096, 512);
	vh_ctrlr("c0", "m0", false);
	struct fe f;
	fe_init(&f);
	uint64_t features = FE_FEATURES | (1ull << VIRTIO_F_RING_EVENT_IDX) |
			    (1ull << VIRTIO_F_RING_INDIRECT_DESC);
	fe_start(&f, "c0", features, FE_PROTOCOL | (1ull << VHOST_USER_PROTOCOL_F_CONFIG));
	cr_assert_eq(vh_session_count("c0"), 1u);
	cr_assert(FE_WAIT_UNTIL(vh_session_int("c0", "started") == 1, 1000), "queue not started");
	cr_assert_eq(vhost_blk_delete("c0", false), -EBUSY, "delete with a front-end connected");

	/* Config space. */
	uint64_t nq = fe_get_u64(&f, VHOST_USER_GET_QUEUE_NUM);
	cr_assert(nq >= 1 && nq <= VHOST_BLK_MAX_QUEUES, "GET_QUEUE_NUM %llu",
		  (unsigned long long)nq);
	struct vhost_user_config creq = { .offset = 0, .size = sizeof(struct virtio_blk_config) };
	uint32_t csize = 12 + creq.size;
	cr_assert_eq(fe_send_raw(&f, VHOST_USER_GET_CONFIG, 0, csize, &creq, csize, NULL, 0), 0);
	struct vhost_user_msg m;
	cr_assert_eq(fe_recv(&f, &m, NULL, FE_TIMEOUT_MS), 1, "no GET_CONFIG reply");
	cr_assert_eq(m.hdr.request, VHOST_USER_GET_CONFIG);
	cr_assert_eq(m.hdr.size, csize);
	struct virtio_blk_config cfg;
	memcpy(&cfg, m.payload.config.region, sizeof(cfg));
	cr_assert_eq(cfg.capacity, 4096u, "capacity %llu", (unsigned long long)cfg.capacity);
	cr_assert_eq(cfg.blk_size, 512u);
	cr_assert_eq(cfg.seg_max, VHOST_BLK_SEG_MAX);
	cr_assert_eq(cfg.num_queues, nq);
	cr_assert((uint64_t)cfg.size_max * cfg.seg_max <= VHOST_BLK_MAX_REQUEST);

	/* Write then read back 4 KiB; the bdev holds what was written. */
	vh_write_pattern(&f, 8 * 512, 7, "write");
	vh_expect_read(&f, 8 * 512, 7, "read back");
	uint8_t direct[4096], want[4096];
	vh_pattern(want, sizeof(want), 7, 8 * 512);
	vh_bdev_rw(b, false, direct, 8 * 512, sizeof(direct));
	cr_assert(memcmp(direct, want, sizeof(want)) == 0, "bdev does not hold the write");

	/* Two segments through an indirect table: write, then read into two other buffers. */
	uint64_t seg[2] = { fe_alloc(&f, 4096), fe_alloc(&f, 4096) };
	vh_pattern(fe_ptr(&f, seg[0]), 4096, 8, 64 * 512);
	vh_pattern(fe_ptr(&f, seg[1]), 4096, 8, 64 * 512 + 4096);
	uint16_t head = indirect_rw(&f, VIRTIO_BLK_T_OUT, 64, seg);
	struct vring_used_elem e;
	cr_assert_eq(fe_wait_used(&f, &e, FE_TIMEOUT_MS), 0);
	cr_assert_eq(e.id, head);
	cr_assert_eq(fe_status(&f), VIRTIO_BLK_S_OK, "indirect write failed");
	uint64_t rseg[2] = { fe_alloc(&f, 4096), fe_alloc(&f, 4096) };
	head = indirect_rw(&f, VIRTIO_BLK_T_IN, 64, rseg);
	cr_assert_eq(fe_wait_used(&f, &e, FE_TIMEOUT_MS), 0);
	cr_assert_eq(e.id, head);
	cr_assert_eq(fe_status(&f), VIRTIO_BLK_S_OK, "indirect read failed");
	cr_assert_eq(e.len, 8193u);
	cr_assert(memcmp(fe_ptr(&f, rseg[0]), fe_ptr(&f, seg[0]), 4096) == 0);
	cr_assert(memcmp(fe_ptr(&f, rseg[1]), fe_ptr(&f, seg[1]), 4096) == 0);

	/* GET_ID: the bdev name, NUL-padded to 20 bytes. */
	char id[VIRTIO_BLK_ID_BYTES], want_id[VIRTIO_BLK_ID_BYTES] = "m0";
	uint32_t ulen = 0;
	cr_assert_eq(fe_blk_io(&f, VIRTIO_BLK_T_GET_ID, 0, id, sizeof(id), &ulen), 0);
	cr_assert(memcmp(id, want_id, sizeof(id)) == 0, "GET_ID: %.20s", id);
	cr_assert_eq(ulen, VIRTIO_BLK_ID_BYTES + 1u);

	cr_assert_eq(flush(&f, &ulen), VIRTIO_BLK_S_OK, "FLUSH failed");
	cr_assert_eq(ulen, 1u);
	uint8_t junk[512];
	cr_assert_eq(fe_blk_io(&f, 0x55, 0, junk, sizeof(junk), &ulen), VIRTIO_BLK_S_UNSUPP,
		     "unknown type");
	cr_assert_eq(ulen, 1u);

	eventfd_t calls = 0;
	cr_assert_eq(eventfd_read(f.call_fd, &calls), 0, "the guest was never notified");
	cr_assert_geq(calls, 1u);
	cr_assert(FE_WAIT_UNTIL(vh_session_int("c0", "inflight_task_cnt") == 0, 1000));
	fe_destroy(&f);
	cr_assert(FE_WAIT_UNTIL(vh_session_count("c0") == 0, 1000));
	cr_assert_eq(vhost_blk_delete("c0", false), 0);
}

/* DISCARD / WRITE_ZEROES with their one-segment payload: exactly the range is zeroed. */
static int zero_range(struct fe *f, uint32_t type, uint64_t sector, uint32_t sectors)
{
	uint64_t seg = fe_alloc(f, 16);
	*(struct virtio_blk_discard_write_zeroes *)fe_ptr(f, seg) =
		(struct virtio_blk_discard_write_zeroes){ sector, sectors, 0 };
	uint64_t h = fe_blk_header(f, type, 0);
	uint16_t a = fe_desc_alloc(f), b = fe_desc_alloc(f), c = fe_desc_alloc(f);
	fe_set_desc(f, a, h, 16, VRING_DESC_F_NEXT, b);
	fe_set_desc(f, b, seg, 16, VRING_DESC_F_NEXT, c);
	fe_set_desc(f, c, f->status_gpa, 1, VRING_DESC_F_WRITE, 0);
	fe_post(f, a);
	struct vring_used_elem e;
	cr_assert_eq(fe_wait_used(f, &e, FE_TIMEOUT_MS), 0);
	cr_assert_eq(e.id, a);
	return fe_status(f);
}

Test(vhost, write_zeroes_and_discard)
{
	struct bdev *b = vh_malloc("mal", 2048, 512);
	vh_ctrlr("ctl", "mal", false);
	vh_fill_bdev(b, 9);
	struct fe f;
	fe_init(&f);
	uint64_t feats = FE_FEATURES | (1ull << VIRTIO_BLK_F_DISCARD) |
			 (1ull << VIRTIO_BLK_F_WRITE_ZEROES);
	fe_start(&f, "ctl", feats, FE_PROTOCOL);
	cr_assert_eq(zero_range(&f, VIRTIO_BLK_T_WRITE_ZEROES, 8, 8), VIRTIO_BLK_S_OK);
	cr_assert_eq(zero_range(&f, VIRTIO_BLK_T_DISCARD, 24, 8), VIRTIO_BLK_S_OK);
	cr_assert_eq(zero_range(&f, VIRTIO_BLK_T_WRITE_ZEROES, 2048, 8), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(zero_range(&f, VIRTIO_BLK_T_DISCARD, 0, 0), VIRTIO_BLK_S_IOERR);
	static uint8_t got[VH_PATTERN_BYTES], want[VH_PATTERN_BYTES];
	vh_pattern(want, sizeof(want), 9, 0);
	memset(want + 8 * 512, 0, 4096);
	vh_bdev_rw(b, false, got, 0, sizeof(got));
	cr_assert(memcmp(got, want, 16 * 512) == 0, "WRITE_ZEROES: wrong range");
	/* DISCARD may or may not zero, but must leave what is outside its range. */
	cr_assert(memcmp(got + 32 * 512, want + 32 * 512, sizeof(got) - 32 * 512) == 0,
		  "DISCARD touched data past its range");
	fe_destroy(&f);
}

/* EVENT_IDX: a driver that asks (used_event = the used index it has seen) is notified for
 * every completion. */
Test(vhost, event_idx_notifies)
{
	vh_malloc("mal", 2048, 512);
	vh_ctrlr("ctl", "mal", false);
	struct fe f;
	fe_init(&f);
	fe_start(&f, "ctl", FE_FEATURES | (1ull << VIRTIO_F_RING_EVENT_IDX), FE_PROTOCOL);
	uint16_t *used_event = &f.avail->ring[f.qsize];
	for (int i = 0; i < 8; i++) {
		eventfd_t v;
		(void)eventfd_read(f.call_fd, &v);        /* clear */
		__atomic_store_n(used_event, f.used->idx, __ATOMIC_RELEASE);
		vh_write_pattern(&f, (uint64_t)i * 4096, 10, "event_idx");
		cr_assert(FE_WAIT_UNTIL(eventfd_read(f.call_fd, &v) == 0, 1000),
			  "completion %d not notified", i);
	}
	fe_destroy(&f);
}

/* QEMU's stop and resume: GET_VRING_BASE stops the queue and answers the next avail index;
 * a new kick restarts it there; a new memory table under a running queue is taken too. */
Test(vhost, stop_resume_and_remap)
{
	vh_malloc("mal", 2048, 512);
	vh_ctrlr("ctl", "mal", false);
	struct fe f;
	fe_init(&f);
	fe_start(&f, "ctl", FE_FEATURES, FE_PROTOCOL);
	vh_write_pattern(&f, 0, 6, "before stop");
	vh_write_pattern(&f, 4096, 6, "before stop");
	struct vhost_user_vring_state st = { 0, 0 };
	cr_assert_eq(fe_send_raw(&f, VHOST_USER_GET_VRING_BASE, 0, 8, &st, 8, NULL, 0), 0);
	struct vhost_user_msg m;
	cr_assert_eq(fe_recv(&f, &m, NULL, FE_TIMEOUT_MS), 1, "GET_VRING_BASE not answered");
	cr_assert_eq(m.hdr.request, VHOST_USER_GET_VRING_BASE);
	cr_assert_eq(m.payload.state.index, 0u);
	cr_assert_eq(m.payload.state.num, f.avail->idx, "base %u, avail idx %u",
		     m.payload.state.num, f.avail->idx);
	cr_assert(FE_WAIT_UNTIL(vh_session_int("ctl", "started") == 0, 1000), "still started");
	/* A request posted while stopped waits for the restart. */
	uint64_t data = fe_alloc(&f, 4096);
	uint16_t head = fe_blk_submit(&f, VIRTIO_BLK_T_IN, 0, data, 4096, true);
	struct vhost_user_vring_state base = { 0, m.payload.state.num };
	cr_assert_eq(fe_call(&f, VHOST_USER_SET_VRING_BASE, &base, sizeof(base), NULL, 0), 0);
	uint64_t idx = 0;
	cr_assert_eq(fe_call(&f, VHOST_USER_SET_VRING_KICK, &idx, 8, &f.kick_fd, 1), 0);
	struct vring_used_elem e;
	cr_assert_eq(fe_wait_used(&f, &e, FE_TIMEOUT_MS), 0, "not served after the restart");
	cr_assert_eq(e.id, head);
	cr_assert_eq(fe_status(&f), VIRTIO_BLK_S_OK);
	uint8_t want[4096];
	vh_pattern(want, sizeof(want), 6, 0);
	cr_assert(memcmp(fe_ptr(&f, data), want, sizeof(want)) == 0);
	/* New guest memory (a copy, in a new memfd, at the same addresses) while running: the
	 * queue must stop, remap and restart on the new memory. */
	int nfd = fe_sealed_memfd("fe-guest-2", f.mem_size);
	cr_assert_eq(pwrite(nfd, f.mem, f.mem_size, 0), (ssize_t)f.mem_size);
	cr_assert_eq(mmap(f.mem, f.mem_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, nfd,
			  0), (void *)f.mem);
	close(f.memfd);
	f.memfd = nfd;
	fe_set_mem_table(&f);
	vh_expect_read(&f, 4096, 6, "after SET_MEM_TABLE");
	fe_destroy(&f);
}

/* SET_VRING_CALL on a running queue (QEMU sends it when the guest moves its interrupt):
 * completions signal the new eventfd; repeated, it races the queue's reactor. */
Test(vhost, call_fd_replaced_while_running)
{
	vh_malloc("mal", 2048, 512);
	vh_ctrlr("ctl", "mal", false);
	struct fe f;
	fe_init(&f);
	fe_start(&f, "ctl", FE_FEATURES, FE_PROTOCOL);
	uint64_t idx = 0;
	for (int i = 0; i < 2000; i++) {
		int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		cr_assert_geq(efd, 0);
		cr_assert_eq(fe_call(&f, VHOST_USER_SET_VRING_CALL, &idx, 8, &efd, 1), 0);
		close(efd);
	}
	close(f.call_fd);
	f.call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cr_assert_eq(fe_call(&f, VHOST_USER_SET_VRING_CALL, &idx, 8, &f.call_fd, 1), 0);
	vh_write_pattern(&f, 0, 5, "after SET_VRING_CALL");
	eventfd_t calls = 0;
	cr_assert(FE_WAIT_UNTIL(eventfd_read(f.call_fd, &calls) == 0, 1000),
		  "the new call eventfd was not signalled");
	fe_destroy(&f);
}

/* A 4096-byte-block bdev: config space and aligned IO. */
Test(vhost, block_4k)
{
	vh_malloc("m4", 1024, 4096);
	vh_ctrlr("c4", "m4", false);
	struct fe f;
	fe_init(&f);
	fe_start(&f, "c4", FE_FEATURES, FE_PROTOCOL);
	struct vhost_user_config creq = { .offset = 0, .size = 24 };   /* up to blk_size */
	cr_assert_eq(fe_send_raw(&f, VHOST_USER_GET_CONFIG, 0, 36, &creq, 36, NULL, 0), 0);
	struct vhost_user_msg m;
	cr_assert_eq(fe_recv(&f, &m, NULL, FE_TIMEOUT_MS), 1);
	struct virtio_blk_config cfg;
	memcpy(&cfg, m.payload.config.region, 24);
	cr_assert_eq(cfg.capacity, 1024u * 8);
	cr_assert_eq(cfg.blk_size, 4096u);
	vh_write_pattern(&f, 4096 * 3, 4, "4k write");
	vh_expect_read(&f, 4096 * 3, 4, "4k read");
	fe_destroy(&f);
}

/* ---------------------------------------------------------------- 2. disconnect, delete */

/* A read held 2 s by a delay bdev, seen in flight by vhost_get_controllers. */
static uint16_t held_read(struct fe *f, struct bdev **delay)
{
	vh_malloc("mal", 4096, 512);
	*delay = vh_delay("dly", "mal", 2000000);
	vh_ctrlr("ctl", "dly", false);
	fe_init(f);
	fe_start(f, "ctl", FE_FEATURES, FE_PROTOCOL);
	uint16_t head = fe_blk_submit(f, VIRTIO_BLK_T_IN, 0, fe_alloc(f, 4096), 4096, true);
	cr_assert(FE_WAIT_UNTIL(vh_session_int("ctl", "inflight_task_cnt") == 1, 1000),
		  "the request is not in flight");
	cr_assert(FE_WAIT_UNTIL(bdev_io_outstanding(*delay) == 1, 1000), "the bdev does not hold it");
	cr_assert_eq(vhost_blk_delete("ctl", false), -EBUSY, "delete with a front-end connected");
	return head;
}

Test(vhost, disconnect_quiesces)
{
	struct fe f;
	struct bdev *d;
	held_read(&f, &d);
	fe_disconnect(&f);
	cr_assert(FE_WAIT_UNTIL(vh_session_count("ctl") == 0, 1000), "session survived");
	cr_assert_eq(vhost_blk_delete("ctl", false), 0);
	cr_assert_null(vhost_blk_find("ctl"));
	cr_assert(FE_WAIT_UNTIL(bdev_io_outstanding(d) == 0, 1000), "the delay bdev kept the IO");
	cr_assert(FE_WAIT_UNTIL(blk_queue_live() == 0, 1000), "the queue was not freed");
	cr_assert_eq(f.used->idx, 0, "an orphaned queue wrote the used ring");
	cr_assert_eq(fe_status(&f), 0xaa, "an orphaned queue wrote the status byte");
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/ctl", g_blockd.opts.vhost_dir);
	cr_assert_neq(access(path, F_OK), 0, "socket left behind");
	fe_destroy(&f);
}

Test(vhost, force_delete_fails_inflight)
{
	struct fe f;
	struct bdev *d;
	uint16_t head = held_read(&f, &d);
	cr_assert_eq(vhost_blk_delete("ctl", true), 0);
	cr_assert_null(vhost_blk_find("ctl"));
	struct vring_used_elem e;
	cr_assert_eq(fe_wait_used(&f, &e, 1000), 0, "the in-flight request was not answered");
	cr_assert_eq(e.id, head);
	cr_assert_eq(fe_status(&f), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(e.len, 1u);
	cr_assert(fe_wait_closed(&f, 1000), "the front-end was not disconnected");
	cr_assert(FE_WAIT_UNTIL(bdev_io_outstanding(d) == 0, 1000), "the delay bdev kept the IO");
	cr_assert(FE_WAIT_UNTIL(blk_queue_live() == 0, 1000), "the queue was not freed");
	fe_destroy(&f);
}

/* blockd's SIGTERM path: vhost_blk_shutdown leaves nothing for the control thread (the
 * sessions' last messages were handled, so nothing leaks). Repeated: it is a race with the
 * queue's reactor. */
Test(vhost, shutdown_leaves_nothing)
{
	vh_malloc("mal", 2048, 512);
	for (int i = 0; i < 20; i++) {
		vh_ctrlr("ctl", "mal", false);
		struct fe f;
		fe_init(&f);
		fe_start(&f, "ctl", FE_FEATURES, FE_PROTOCOL);
		vh_write_pattern(&f, 0, 1, "before shutdown");
		vhost_blk_shutdown();
		cr_assert_eq(blk_queue_live(), 0u);
		cr_assert_eq(reactor_poll(g_blockd.app, 0), 0, "round %d: work left after shutdown",
			     i);
		fe_destroy(&f);
	}
}

/* QEMU stops a device with GET_VRING_BASE, which waits for the queue to drain; a front-end
 * that dies meanwhile must still quiesce it: the held IO aborted, its rings left alone. */
Test(vhost, disconnect_while_draining)
{
	struct fe f;
	struct bdev *d;
	held_read(&f, &d);
	struct vhost_user_vring_state st = { 0, 0 };
	cr_assert_eq(fe_send_raw(&f, VHOST_USER_GET_VRING_BASE, 0, 8, &st, 8, NULL, 0), 0);
	struct vhost_user_msg m;
	cr_assert_eq(fe_recv(&f, &m, NULL, 50), -ETIMEDOUT, "answered before the queue drained");
	fe_disconnect(&f);
	cr_assert(FE_WAIT_UNTIL(vh_session_count("ctl") == 0, 1000), "session survived");
	cr_assert(FE_WAIT_UNTIL(bdev_io_outstanding(d) == 0, 1000), "the delay bdev kept the IO");
	cr_assert(FE_WAIT_UNTIL(blk_queue_live() == 0, 1000), "the queue was not freed");
	cr_assert_eq(f.used->idx, 0, "a queue wrote the used ring after the front-end left");
	fe_destroy(&f);
}

/* ---------------------------------------------------------------- 3. inflight region */

#define INFLIGHT_PROTO (FE_PROTOCOL | (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))

struct inflight {
	int fd;
	struct vhost_user_inflight geo;
	struct inflight_queue_split *q;    /* the test's mapping of the region */
};

/* Connects with INFLIGHT_SHMFD: a new region from GET_INFLIGHT_FD (fd < 0) or the given one,
 * SET_INFLIGHT_FD, then memory and queue 0 with base = the used index. */
static void inflight_connect(struct fe *f, struct inflight *in)
{
	fe_connect(f, "ctl");
	fe_negotiate(f, FE_FEATURES, INFLIGHT_PROTO);
	if (in->fd < 0) {
		struct vhost_user_inflight req = { .num_queues = 1, .queue_size = FE_QSIZE };
		cr_assert_eq(fe_send_raw(f, VHOST_USER_GET_INFLIGHT_FD, 0, sizeof(req), &req,
					 sizeof(req), NULL, 0), 0);
		struct vhost_user_msg m;
		cr_assert_eq(fe_recv(f, &m, &in->fd, FE_TIMEOUT_MS), 1, "no GET_INFLIGHT_FD reply");
		cr_assert_eq(m.hdr.request, VHOST_USER_GET_INFLIGHT_FD);
		cr_assert_eq(m.hdr.size, sizeof(struct vhost_user_inflight));
		cr_assert_geq(in->fd, 0, "GET_INFLIGHT_FD without a descriptor");
		in->geo = m.payload.inflight;
		cr_assert(in->geo.num_queues == 1 && in->geo.queue_size == FE_QSIZE);
		cr_assert_geq(in->geo.mmap_size, sizeof(struct inflight_queue_split) +
					  FE_QSIZE * sizeof(struct inflight_desc_split));
		in->q = mmap(NULL, in->geo.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, in->fd,
			     (off_t)in->geo.mmap_offset);
		cr_assert_neq(in->q, MAP_FAILED);
	}
	cr_assert_eq(fe_call(f, VHOST_USER_SET_INFLIGHT_FD, &in->geo, sizeof(in->geo), &in->fd, 1),
		     0, "SET_INFLIGHT_FD refused");
	fe_set_mem_table(f);
	fe_setup_vring(f, FE_QSIZE, f->used->idx);
}

/* A write held by the delay bdev, marked in the region, then the front-end dies; the
 * latency drops to 0 for what follows. Returns the head. */
static uint16_t inflight_orphaned_write(struct fe *f, struct inflight *in)
{
	vh_malloc("mal", 4096, 512);
	vh_delay("dly", "mal", 2000000);
	vh_ctrlr("ctl", "dly", false);
	fe_init(f);
	*in = (struct inflight){ .fd = -1 };
	inflight_connect(f, in);
	uint64_t data = fe_alloc(f, 4096);
	vh_pattern(fe_ptr(f, data), 4096, 21, 16 * 512);
	uint16_t head = fe_blk_submit(f, VIRTIO_BLK_T_OUT, 16, data, 4096, false);
	cr_assert(FE_WAIT_UNTIL(__atomic_load_n(&in->q->desc[head].inflight, __ATOMIC_ACQUIRE) == 1,
				1000), "head %u not marked in flight", head);
	cr_assert_eq(in->q->version, INFLIGHT_VERSION);
	cr_assert_eq(in->q->desc_num, FE_QSIZE);
	cr_assert(FE_WAIT_UNTIL(vh_session_int("ctl", "inflight_task_cnt") == 1, 1000));
	fe_disconnect(f);
	cr_assert(FE_WAIT_UNTIL(vh_session_count("ctl") == 0, 1000));
	cr_assert(FE_WAIT_UNTIL(blk_queue_live() == 0, 1000), "the orphaned queue lingers");
	cr_assert_eq(in->q->desc[head].inflight, 1, "the disconnect cleared the inflight mark");
	cr_assert_eq(f->used->idx, 0);
	cr_assert_eq(fe_status(f), 0xaa);
	static const char *const kinds[] = { "avg_read", "p99_read", "avg_write", "p99_write" };
	for (int i = 0; i < 4; i++)
		cr_assert_eq(bdev_delay_update_latency("dly", kinds[i], 0), 0);
	return head;
}

static void inflight_done(struct fe *f, struct inflight *in)
{
	munmap(in->q, in->geo.mmap_size);
	close(in->fd);
	fe_destroy(f);
}

/* A new front-end with the same memory, rings and region: the request is resubmitted
 * without a new avail entry. */
Test(vhost, inflight_resubmit)
{
	struct fe f;
	struct inflight in;
	uint16_t head = inflight_orphaned_write(&f, &in);
	uint16_t avail_idx = f.avail->idx;
	inflight_connect(&f, &in);
	struct vring_used_elem e;
	cr_assert_eq(fe_wait_used(&f, &e, 1000), 0, "the in-flight request was not resubmitted");
	cr_assert_eq(e.id, head);
	cr_assert_eq(e.len, 1u);
	cr_assert_eq(fe_status(&f), VIRTIO_BLK_S_OK);
	cr_assert_eq(f.avail->idx, avail_idx);
	cr_assert_eq(f.used->idx, 1);
	/* Cleared just after the used entry is published. */
	cr_assert(FE_WAIT_UNTIL(__atomic_load_n(&in.q->desc[head].inflight, __ATOMIC_ACQUIRE) == 0,
				1000), "inflight mark not cleared on completion");
	cr_assert_eq(vh_session_int("ctl", "resubmitted_task_cnt"), 1);
	vh_expect_read(&f, 16 * 512, 21, "resubmitted write");
	inflight_done(&f, &in);
}

/* The back-end died after publishing the used entry but before clearing the mark (the
 * region's used_idx lags, last_batch_head names the head): the head is complete, not
 * resubmitted. */
Test(vhost, inflight_half_published)
{
	struct fe f;
	struct inflight in;
	uint16_t head = inflight_orphaned_write(&f, &in);
	f.used->ring[0] = (struct vring_used_elem){ head, 1 };
	f.used->idx = 1;
	in.q->last_batch_head = head;
	f.last_used = 1;
	inflight_connect(&f, &in);
	cr_assert_eq(in.q->desc[head].inflight, 0, "the published head is still marked");
	cr_assert_eq(in.q->used_idx, 1);
	cr_assert_eq(vh_session_int("ctl", "resubmitted_task_cnt"), 0);
	/* The next used entry is the next request's, not a resubmission. */
	vh_write_pattern(&f, 64 * 512, 22, "next request");
	vh_expect_read(&f, 64 * 512, 22, "next request");
	cr_assert_eq(f.used->idx, 3);
	inflight_done(&f, &in);
}

/* The back-end died after publishing a completion (used entry out, inflight mark cleared) but
 * before signalling the call eventfd: a guest with nothing else in flight (a writer doing
 * write+fsync, one request at a time) waits for that interrupt forever, so the restarted
 * back-end must signal once when the queue starts. QEMU's order on a reconnect: the queue is
 * started (kick) with its masked notifier as the call fd, and the guest's notifier comes in a
 * SET_VRING_CALL after that; it is the one the guest hears. */
Test(vhost, reconnect_signals_a_completion_the_crash_left_unsignalled)
{
	struct fe f;
	struct inflight in;
	uint16_t head = inflight_orphaned_write(&f, &in);
	/* What the dead back-end got done: status, used entry, region updated; no signal. */
	*(uint8_t *)fe_ptr(&f, f.status_gpa) = VIRTIO_BLK_S_OK;
	f.used->ring[0] = (struct vring_used_elem){ head, 1 };
	__atomic_store_n(&f.used->idx, 1, __ATOMIC_RELEASE);
	in.q->last_batch_head = head;
	in.q->desc[head].inflight = 0;
	in.q->used_idx = 1;
	int guest_notifier = f.call_fd;
	eventfd_t v;
	(void)eventfd_read(guest_notifier, &v);          /* nothing pending from before */
	f.call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);   /* the masked notifier */
	cr_assert_geq(f.call_fd, 0);
	inflight_connect(&f, &in);
	/* A front-end that gave its call fd before the kick is signalled at the start... */
	cr_assert(FE_WAIT_UNTIL(eventfd_read(f.call_fd, &v) == 0, 1000),
		  "the queue did not signal when it started");
	/* ...and QEMU's guest notifier, which comes after the start, once more. */
	uint64_t idx = 0;
	cr_assert_eq(fe_call(&f, VHOST_USER_SET_VRING_CALL, &idx, 8, &guest_notifier, 1), 0);
	cr_assert(FE_WAIT_UNTIL(eventfd_read(guest_notifier, &v) == 0, 1000),
		  "the guest was never told of the completion published before the crash");
	cr_assert_eq(vh_session_int("ctl", "resubmitted_task_cnt"), 0);
	cr_assert_eq(f.used->idx, 1, "the completed request was served again");
	close(f.call_fd);
	f.call_fd = guest_notifier;
	inflight_done(&f, &in);
}

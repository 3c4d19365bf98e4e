/* test_vhost_migration.c — what live migration needs of blockd's vhost-user-blk back-end,
 * driven by the fake front-end (vhost_fake_frontend.h) the way QEMU 7.2 drives it:
 * VHOST_F_LOG_ALL and LOG_SHMFD offered; SET_LOG_BASE answered with its own u64 reply;
 * hostile log bases (size 0, too small, offset overflow or unaligned, an fd that is no file,
 * unsealed or too short, no memory table, no LOG_SHMFD) refused with the session intact;
 * the dirty bitmap after requests holds exactly the pages the device wrote (data read,
 * status byte, used ring at log_guest_addr when VHOST_VRING_F_LOG is set); logging switched
 * on and off under a running queue; a queue waits for a log before it writes; a replaced
 * log is no longer written; GET_VRING_BASE drains the queue, within the drain deadline
 * (a request held longer is answered IOERR); blockd_fault_vhost holds GET_VRING_BASE. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fault.h"
#include "jsonrpc.h"
#include "vhost_blk.h"
#include "vhost_blk_queue.h"
#include "vhost_fake_frontend.h"

TestSuite(vhost_migration, .init = vh_setup, .fini = vh_teardown, .timeout = 30);

#define PROTO_LOG (FE_PROTOCOL | (1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD))
#define LOG_ALL (1ull << VHOST_F_LOG_ALL)
#define PAGES (FE_MEM_SIZE / 4096)
#define LOG_BYTES (PAGES / 8)          /* what guest memory needs: 128 */
#define USED_LOG_GPA 0x300000ull       /* a log_guest_addr away from the ring itself */

struct dlog {
	int fd;
	uint8_t *bits;
	size_t size;
};

static void dlog_init(struct dlog *l, size_t size)
{
	l->size = size;
	l->fd = fe_sealed_memfd("fe-log", size);
	l->bits = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, l->fd, 0);
	cr_assert_neq(l->bits, MAP_FAILED);
}

static void dlog_destroy(struct dlog *l)
{
	munmap(l->bits, l->size);
	close(l->fd);
}

static void dlog_clear(struct dlog *l)
{
	memset(l->bits, 0, l->size);
}

static bool dlog_test(const struct dlog *l, uint64_t page)
{
	return __atomic_load_n(&l->bits[page / 8], __ATOMIC_ACQUIRE) & (1u << (page % 8));
}

/* Asserts that exactly the pages listed (n of them; duplicates allowed) are marked. */
static void dlog_expect(const struct dlog *l, const uint64_t *pages, size_t n, const char *what)
{
	for (uint64_t p = 0; p < l->size * 8; p++) {
		bool want = false;
		for (size_t i = 0; i < n; i++)
			want |= pages[i] == p;
		cr_assert_eq(dlog_test(l, p), want, "%s: page 0x%llx %s", what,
			     (unsigned long long)p, want ? "not marked" : "marked, never written");
	}
}

static bool dlog_empty(const struct dlog *l)
{
	for (size_t i = 0; i < l->size; i++)
		if (l->bits[i])
			return false;
	return true;
}

/* SET_LOG_BASE as QEMU 7.2 sends it (no NEED_REPLY), with fd (-1: none): the u64 of its
 * reply, whose shape is checked, or FE_CLOSED. */
static int64_t set_log_base(struct fe *f, int fd, uint64_t size, uint64_t offset)
{
	struct vhost_user_log l = { size, offset };
	int rc = fe_send_raw(f, VHOST_USER_SET_LOG_BASE, 0, sizeof(l), &l, sizeof(l), &fd,
			     fd >= 0 ? 1 : 0);
	if (rc < 0)
		return FE_CLOSED;
	struct vhost_user_msg m;
	rc = fe_recv(f, &m, NULL, FE_TIMEOUT_MS);
	cr_assert_neq(rc, -ETIMEDOUT, "SET_LOG_BASE not answered");
	if (rc == 0)
		return FE_CLOSED;
	cr_assert_eq(m.hdr.request, VHOST_USER_SET_LOG_BASE, "reply to %u", m.hdr.request);
	cr_assert_eq(m.hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK,
		     "QEMU 7.2 takes only flags 0x5, got 0x%x", m.hdr.flags);
	cr_assert_eq(m.hdr.size, 8u, "reply payload of %u bytes", m.hdr.size);
	return (int64_t)m.payload.u64;
}

static int64_t set_features(struct fe *f, uint64_t features)
{
	return fe_call(f, VHOST_USER_SET_FEATURES, &features, 8, NULL, 0);
}

/* SET_VRING_ADDR for queue 0 at the harness's ring addresses, with flags and log address. */
static int64_t set_vring_addr(struct fe *f, uint32_t flags, uint64_t log_gpa)
{
	struct vhost_user_vring_addr a = { .index = 0, .flags = flags,
					   .desc_user_addr = fe_uva(f, FE_DESC_GPA),
					   .used_user_addr = fe_uva(f, FE_USED_GPA),
					   .avail_user_addr = fe_uva(f, FE_AVAIL_GPA),
					   .log_guest_addr = log_gpa };
	return fe_call(f, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}

/* A controller on a malloc bdev with a started queue, LOG_SHMFD negotiated. */
static void start(struct fe *f)
{
	vh_malloc("m0", 8192, 512);
	vh_fill_bdev(bdev_find("m0"), 3);
	vh_ctrlr("c0", "m0", false);
	fe_init(f);
	fe_start(f, "c0", FE_FEATURES, PROTO_LOG);
	cr_assert(FE_WAIT_UNTIL(vh_session_int("c0", "started") == 1, 1000), "queue not started");
}

/* The session still answers (the refusal did not close it). */
static void expect_alive(struct fe *f, const char *what)
{
	cr_assert_eq(fe_send_raw(f, VHOST_USER_GET_FEATURES, 0, 0, NULL, 0, NULL, 0), 0, "%s",
		     what);
	struct vhost_user_msg m;
	cr_assert_eq(fe_recv(f, &m, NULL, FE_TIMEOUT_MS), 1, "%s: session closed", what);
	cr_assert_eq(m.hdr.request, VHOST_USER_GET_FEATURES, "%s: a stray reply (%u)", what,
		     m.hdr.request);
}

/* A read of len bytes at sector 0 into a fresh buffer: its gpa; asserts it succeeded. */
static uint64_t read_into_fresh(struct fe *f, uint32_t len)
{
	uint64_t gpa = fe_alloc(f, len);
	uint16_t head = fe_blk_submit(f, VIRTIO_BLK_T_IN, 0, gpa, len, true);
	struct vring_used_elem e;
	cr_assert_eq(fe_wait_used(f, &e, FE_TIMEOUT_MS), 0, "read not answered");
	cr_assert_eq(e.id, head);
	cr_assert_eq(fe_status(f), VIRTIO_BLK_S_OK);
	uint8_t want[4096];
	vh_pattern(want, sizeof(want), 3, 0);
	cr_assert(memcmp(fe_ptr(f, gpa), want, sizeof(want)) == 0, "read wrong data");
	return gpa;
}

/* ---------------------------------------------------------------- negotiation */

Test(vhost_migration, features_offered)
{
	vh_malloc("m0", 1024, 512);
	vh_ctrlr("c0", "m0", false);
	struct fe f;
	fe_init(&f);
	fe_connect(&f, "c0");
	uint64_t features = fe_get_u64(&f, VHOST_USER_GET_FEATURES);
	cr_assert(features & LOG_ALL, "VHOST_F_LOG_ALL not offered (0x%llx)",
		  (unsigned long long)features);
	uint64_t proto = fe_get_u64(&f, VHOST_USER_GET_PROTOCOL_FEATURES);
	cr_assert(proto & (1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD), "LOG_SHMFD not offered");
	fe_destroy(&f);
}

Test(vhost_migration, log_base_reply)
{
	struct fe f;
	start(&f);
	struct dlog l;
	dlog_init(&l, LOG_BYTES);
	cr_assert_eq(set_log_base(&f, l.fd, LOG_BYTES, 0), 0, "a good log refused");
	/* With NEED_REPLY (REPLY_ACK negotiated) the reply is still the one u64, no second ack. */
	struct vhost_user_log lm = { LOG_BYTES, 0 };
	cr_assert_eq(fe_send_raw(&f, VHOST_USER_SET_LOG_BASE, VHOST_USER_NEED_REPLY, sizeof(lm),
				 &lm, sizeof(lm), &l.fd, 1), 0);
	struct vhost_user_msg m;
	cr_assert_eq(fe_recv(&f, &m, NULL, FE_TIMEOUT_MS), 1);
	cr_assert_eq(m.hdr.request, VHOST_USER_SET_LOG_BASE);
	cr_assert_eq(m.hdr.size, 8u);
	cr_assert_eq(m.payload.u64, 0u);
	expect_alive(&f, "after SET_LOG_BASE with NEED_REPLY");
	/* SET_LOG_FD: an eventfd, accepted and never used. */
	int efd = eventfd(0, EFD_CLOEXEC);
	cr_assert_eq(fe_call(&f, VHOST_USER_SET_LOG_FD, NULL, 0, &efd, 1), 0);
	close(efd);
	expect_alive(&f, "after SET_LOG_FD");
	fe_destroy(&f);
	dlog_destroy(&l);
}

/* ---------------------------------------------------------------- hostile log bases */

Test(vhost_migration, hostile_log_bases_refused)
{
	struct fe f;
	start(&f);
	struct dlog good;
	dlog_init(&good, LOG_BYTES);
	cr_assert_eq(set_log_base(&f, good.fd, LOG_BYTES, 0), 0);

	cr_assert_eq(set_log_base(&f, good.fd, 0, 0), 1, "size 0");
	cr_assert_eq(set_log_base(&f, good.fd, LOG_BYTES - 1, 0), 1,
		     "one byte short of guest memory's highest page");
	cr_assert_eq(set_log_base(&f, good.fd, LOG_BYTES, UINT64_MAX - 4095), 1,
		     "offset + size overflows");
	cr_assert_eq(set_log_base(&f, good.fd, LOG_BYTES, 100), 1, "unaligned offset");
	cr_assert_eq(set_log_base(&f, good.fd, LOG_BYTES, 4096), 1, "offset past the file's end");
	int efd = eventfd(0, EFD_CLOEXEC);
	cr_assert_eq(set_log_base(&f, efd, LOG_BYTES, 0), 1, "an eventfd");
	close(efd);
	int unsealed = memfd_create("unsealed-log", MFD_CLOEXEC);
	cr_assert_eq(ftruncate(unsealed, 4096), 0);
	cr_assert_eq(set_log_base(&f, unsealed, LOG_BYTES, 0), 1, "an unsealed memfd");
	close(unsealed);
	struct dlog small;
	dlog_init(&small, 64);
	cr_assert_eq(set_log_base(&f, small.fd, LOG_BYTES, 0), 1, "a sealed memfd too short");
	dlog_destroy(&small);
	char path[] = "/tmp/berth-log-XXXXXX";
	int file = mkstemp(path);
	cr_assert_geq(file, 0);
	unlink(path);
	cr_assert_eq(ftruncate(file, 4096), 0);
	cr_assert_eq(set_log_base(&f, file, LOG_BYTES, 0), 1, "a plain file");
	close(file);
	expect_alive(&f, "after the refusals");
	/* A refused replacement drops the previous log: logging cannot be turned on now. */
	cr_assert_neq(set_features(&f, FE_FEATURES | LOG_ALL), 0,
		      "LOG_ALL accepted for a running queue with no log");
	expect_alive(&f, "after LOG_ALL refused");
	/* No descriptor at all: a malformed message, the connection closes. */
	cr_assert_eq(set_log_base(&f, -1, LOG_BYTES, 0), FE_CLOSED, "no fd");
	vh_close_and_wait(&f, "c0");

	/* A log before any memory table, and one without LOG_SHMFD negotiated. */
	fe_connect(&f, "c0");
	fe_negotiate(&f, FE_FEATURES, PROTO_LOG);
	cr_assert_eq(set_log_base(&f, good.fd, LOG_BYTES, 0), 1, "no memory table");
	vh_close_and_wait(&f, "c0");
	fe_connect(&f, "c0");
	fe_negotiate(&f, FE_FEATURES, FE_PROTOCOL);
	fe_set_mem_table(&f);
	struct vhost_user_log lm = { LOG_BYTES, 0 };
	cr_assert_neq(fe_call(&f, VHOST_USER_SET_LOG_BASE, &lm, sizeof(lm), &good.fd, 1), 0,
		      "SET_LOG_BASE accepted without LOG_SHMFD");
	expect_alive(&f, "after SET_LOG_BASE without LOG_SHMFD");
	vh_close_and_wait(&f, "c0");
	fe_destroy(&f);
	dlog_destroy(&good);
}

/* A queue that logs cannot go on without a log: a refused replacement closes the session. */
Test(vhost_migration, refused_log_while_logging_closes)
{
	struct fe f;
	start(&f);
	struct dlog l;
	dlog_init(&l, LOG_BYTES);
	cr_assert_eq(set_log_base(&f, l.fd, LOG_BYTES, 0), 0);
	cr_assert_eq(set_features(&f, FE_FEATURES | LOG_ALL), 0);
	int64_t rc = set_log_base(&f, l.fd, 8, 0);
	cr_assert(rc == 1 || rc == FE_CLOSED, "a too small log accepted");
	cr_assert(fe_wait_closed(&f, FE_TIMEOUT_MS), "session kept with a logging queue");
	cr_assert(FE_WAIT_UNTIL(vh_session_count("c0") == 0, 1000));
	/* The controller takes a new front-end. */
	fe_start(&f, "c0", FE_FEATURES, PROTO_LOG);
	read_into_fresh(&f, 4096);
	fe_destroy(&f);
	dlog_destroy(&l);
}

/* ---------------------------------------------------------------- the bitmap */

Test(vhost_migration, read_marks_exactly_its_pages)
{
	struct fe f;
	start(&f);
	struct dlog l;
	dlog_init(&l, LOG_BYTES);
	cr_assert_eq(set_log_base(&f, l.fd, LOG_BYTES, 0), 0);
	read_into_fresh(&f, 4096);
	cr_assert(dlog_empty(&l), "pages logged before VHOST_F_LOG_ALL");
	cr_assert_eq(set_features(&f, FE_FEATURES | LOG_ALL), 0);

	/* An 8 KiB read into two pages: those two and the status byte's page, nothing else
	 * (VHOST_VRING_F_LOG is not set: the used ring is not logged). */
	dlog_clear(&l);
	uint64_t gpa = read_into_fresh(&f, 8192);
	uint64_t want[] = { gpa / 4096, gpa / 4096 + 1, f.status_gpa / 4096 };
	dlog_expect(&l, want, 3, "8 KiB read");

	/* A read whose buffer spans a page boundary: both pages. */
	dlog_clear(&l);
	uint64_t base = fe_alloc(&f, 8192);
	uint64_t hs = fe_blk_header(&f, VIRTIO_BLK_T_IN, 0);
	uint16_t d0 = fe_desc_alloc(&f), d1 = fe_desc_alloc(&f), d2 = fe_desc_alloc(&f);
	fe_set_desc(&f, d0, hs, 16, VRING_DESC_F_NEXT, d1);
	fe_set_desc(&f, d1, base + 2048, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, d2);
	fe_set_desc(&f, d2, f.status_gpa, 1, VRING_DESC_F_WRITE, 0);
	fe_post(&f, d0);
	struct vring_used_elem e;
	cr_assert_eq(fe_wait_used(&f, &e, FE_TIMEOUT_MS), 0);
	cr_assert_eq(fe_status(&f), VIRTIO_BLK_S_OK);
	uint64_t want2[] = { base / 4096, base / 4096 + 1, f.status_gpa / 4096 };
	dlog_expect(&l, want2, 3, "read across a page boundary");

	/* A write: the device writes only the status byte. */
	dlog_clear(&l);
	uint8_t buf[4096];
	vh_pattern(buf, sizeof(buf), 3, 0);
	cr_assert_eq(fe_blk_io(&f, VIRTIO_BLK_T_OUT, 0, buf, sizeof(buf), NULL), 0);
	uint64_t want3[] = { f.status_gpa / 4096 };
	dlog_expect(&l, want3, 1, "write");

	/* GET_ID writes its answer. */
	dlog_clear(&l);
	char id[VIRTIO_BLK_ID_BYTES];
	uint64_t id_gpa = f.data_next;
	cr_assert_eq(fe_blk_io(&f, VIRTIO_BLK_T_GET_ID, 0, id, sizeof(id), NULL), 0);
	uint64_t want4[] = { id_gpa / 4096, f.status_gpa / 4096 };
	dlog_expect(&l, want4, 2, "GET_ID");

	/* Logging off: nothing more is marked. */
	cr_assert_eq(set_features(&f, FE_FEATURES), 0);
	dlog_clear(&l);
	read_into_fresh(&f, 4096);
	cr_assert(dlog_empty(&l), "pages logged after VHOST_F_LOG_ALL went off");
	fe_destroy(&f);
	dlog_destroy(&l);
}

Test(vhost_migration, used_ring_logged_by_vring_flag)
{
	struct fe f;
	start(&f);
	struct dlog l;
	dlog_init(&l, LOG_BYTES);
	cr_assert_eq(set_log_base(&f, l.fd, LOG_BYTES, 0), 0);
	cr_assert_eq(set_features(&f, FE_FEATURES | LOG_ALL), 0);
	/* QEMU turns VHOST_VRING_F_LOG on for a running ring; the used ring is logged at
	 * log_guest_addr, not where blockd maps it. */
	cr_assert_eq(set_vring_addr(&f, 1u << VHOST_VRING_F_LOG, USED_LOG_GPA), 0);
	dlog_clear(&l);
	uint64_t gpa = read_into_fresh(&f, 4096);
	/* The used ring is logged right after used->idx is written: the test may see the
	 * index first. */
	cr_assert(FE_WAIT_UNTIL(dlog_test(&l, USED_LOG_GPA / 4096), 1000), "used ring not logged");
	uint64_t want[] = { gpa / 4096, f.status_gpa / 4096, USED_LOG_GPA / 4096 };
	dlog_expect(&l, want, 3, "read with the used ring logged");
	cr_assert(!dlog_test(&l, FE_USED_GPA / 4096), "the used ring logged at its own address");

	/* A log address whose ring end falls outside the log: refused. */
	cr_assert_neq(set_vring_addr(&f, 1u << VHOST_VRING_F_LOG, (uint64_t)LOG_BYTES * 8 * 4096),
		      0, "used ring log address outside the log accepted");
	cr_assert_neq(set_vring_addr(&f, 1u << 5, 0), 0, "unknown vring flags accepted");

	/* F_LOG off again: only the buffers. */
	cr_assert_eq(set_vring_addr(&f, 0, USED_LOG_GPA), 0);
	dlog_clear(&l);
	gpa = read_into_fresh(&f, 4096);
	uint64_t want2[] = { gpa / 4096, f.status_gpa / 4096 };
	dlog_expect(&l, want2, 2, "read with the used ring not logged");
	fe_destroy(&f);
	dlog_destroy(&l);
}

/* QEMU's vhost_dev_start while logging: LOG_ALL in the features, the rings, then the log.
 * The queue must not write guest memory before it has the log. */
Test(vhost_migration, queue_waits_for_its_log)
{
	vh_malloc("m0", 8192, 512);
	vh_fill_bdev(bdev_find("m0"), 3);
	vh_ctrlr("c0", "m0", false);
	struct fe f;
	fe_init(&f);
	fe_connect(&f, "c0");
	fe_negotiate(&f, FE_FEATURES | LOG_ALL, PROTO_LOG);
	fe_set_mem_table(&f);
	cr_assert_eq(set_vring_addr(&f, 1u << VHOST_VRING_F_LOG, USED_LOG_GPA), 0);
	fe_setup_vring(&f, FE_QSIZE, 0);
	cr_assert_eq(set_vring_addr(&f, 1u << VHOST_VRING_F_LOG, USED_LOG_GPA), 0);
	cr_assert_eq(vh_session_int("c0", "started"), 0, "a queue started without its log");
	uint64_t gpa = fe_alloc(&f, 4096);
	fe_blk_submit(&f, VIRTIO_BLK_T_IN, 0, gpa, 4096, true);
	struct vring_used_elem e;
	cr_assert_eq(fe_wait_used(&f, &e, 100), -ETIMEDOUT, "answered without a log");
	struct dlog l;
	dlog_init(&l, LOG_BYTES);
	cr_assert_eq(set_log_base(&f, l.fd, LOG_BYTES, 0), 0);
	cr_assert_eq(fe_wait_used(&f, &e, FE_TIMEOUT_MS), 0, "the queue did not start");
	cr_assert_eq(fe_status(&f), VIRTIO_BLK_S_OK);
	cr_assert(FE_WAIT_UNTIL(dlog_test(&l, USED_LOG_GPA / 4096), 1000), "used ring not logged");
	uint64_t want[] = { gpa / 4096, f.status_gpa / 4096, USED_LOG_GPA / 4096 };
	dlog_expect(&l, want, 3, "first read");
	fe_destroy(&f);
	dlog_destroy(&l);
}

/* After a new SET_LOG_BASE is answered, the previous log is never written again. */
Test(vhost_migration, replaced_log_no_longer_written)
{
	struct fe f;
	start(&f);
	struct dlog a, b;
	dlog_init(&a, LOG_BYTES);
	dlog_init(&b, 2 * LOG_BYTES);
	cr_assert_eq(set_log_base(&f, a.fd, LOG_BYTES, 0), 0);
	cr_assert_eq(set_features(&f, FE_FEATURES | LOG_ALL), 0);
	uint64_t gpa = read_into_fresh(&f, 4096);
	cr_assert(dlog_test(&a, gpa / 4096), "first log not written");
	cr_assert_eq(set_log_base(&f, b.fd, 2 * LOG_BYTES, 0), 0);
	dlog_clear(&a);
	gpa = read_into_fresh(&f, 4096);
	cr_assert(dlog_empty(&a), "the replaced log written");
	uint64_t want[] = { gpa / 4096, f.status_gpa / 4096 };
	dlog_expect(&b, want, 2, "new log");
	/* A memory table past the end of the log is refused while logging. */
	struct vhost_user_memory mt = { .nregions = 1 };
	mt.regions[0] = (struct vhost_user_mem_region){ 0x100000000ull, f.mem_size,
							fe_uva(&f, 0), 0 };
	cr_assert_neq(fe_call(&f, VHOST_USER_SET_MEM_TABLE, &mt, 8 + sizeof(mt.regions[0]),
			      &f.memfd, 1), 0, "a table the log does not cover accepted");
	expect_alive(&f, "after the refused table");
	fe_destroy(&f);
	dlog_destroy(&a);
	dlog_destroy(&b);
}

/* ---------------------------------------------------------------- drain before GET_VRING_BASE */

static int64_t get_vring_base(struct fe *f, int timeout_ms, uint32_t *num)
{
	struct vhost_user_vring_state st = { 0, 0 };
	int64_t t0 = fe_now_ms();
	cr_assert_eq(fe_send_raw(f, VHOST_USER_GET_VRING_BASE, 0, 8, &st, 8, NULL, 0), 0);
	struct vhost_user_msg m;
	int rc = fe_recv(f, &m, NULL, timeout_ms);
	if (rc != 1)
		return -1;
	cr_assert_eq(m.hdr.request, VHOST_USER_GET_VRING_BASE);
	*num = m.payload.state.num;
	return fe_now_ms() - t0;
}

/* A controller over a delay bdev of latency_ms, a read posted and not answered yet. */
static uint16_t slow_read(struct fe *f, uint64_t latency_ms, uint64_t *gpa)
{
	vh_malloc("m0", 8192, 512);
	vh_delay("d0", "m0", latency_ms * 1000);
	vh_ctrlr("c0", "d0", false);
	fe_init(f);
	fe_start(f, "c0", FE_FEATURES, PROTO_LOG);
	*gpa = fe_alloc(f, 4096);
	uint16_t head = fe_blk_submit(f, VIRTIO_BLK_T_IN, 0, *gpa, 4096, true);
	cr_assert(FE_WAIT_UNTIL(vh_session_int("c0", "inflight_task_cnt") == 1, 1000),
		  "the read was not taken");
	return head;
}

Test(vhost_migration, drain_within_deadline)
{
	g_blockd.opts.drain_timeout_ms = 3000;
	struct fe f;
	uint64_t gpa;
	uint16_t head = slow_read(&f, 100, &gpa);
	uint32_t num = 0;
	int64_t ms = get_vring_base(&f, 2000, &num);
	cr_assert_geq(ms, 0, "GET_VRING_BASE not answered");
	cr_assert_eq(num, 1u, "base %u", num);
	struct vring_used_elem e;
	cr_assert_eq(fe_wait_used(&f, &e, 0), 0, "GET_VRING_BASE answered before the drain");
	cr_assert_eq(e.id, head);
	cr_assert_eq(fe_status(&f), VIRTIO_BLK_S_OK, "a request within the deadline failed");
	fe_destroy(&f);
}

Test(vhost_migration, drain_deadline_fails_held_request)
{
	g_blockd.opts.drain_timeout_ms = 200;
	struct fe f;
	uint64_t gpa;
	uint16_t head = slow_read(&f, 20000, &gpa);
	struct dlog l;
	dlog_init(&l, LOG_BYTES);
	cr_assert_eq(set_log_base(&f, l.fd, LOG_BYTES, 0), 0);
	cr_assert_eq(set_features(&f, FE_FEATURES | LOG_ALL), 0);
	uint32_t num = 0;
	int64_t ms = get_vring_base(&f, 3000, &num);
	cr_assert_geq(ms, 0, "GET_VRING_BASE not answered within 3 s");
	cr_assert_geq(ms, 150, "answered after %lld ms, before the deadline", (long long)ms);
	cr_assert_eq(num, 1u, "base %u", num);
	struct vring_used_elem e;
	cr_assert_eq(fe_wait_used(&f, &e, 0), 0, "the held request not answered");
	cr_assert_eq(e.id, head);
	cr_assert_eq(e.len, 1u);
	cr_assert_eq(fe_status(&f), VIRTIO_BLK_S_IOERR, "status %u", fe_status(&f));
	cr_assert(dlog_test(&l, f.status_gpa / 4096), "the IOERR status byte not logged");
	cr_assert(FE_WAIT_UNTIL(bdev_io_outstanding(bdev_find("d0")) == 0, 1000),
		  "the delay bdev kept the IO");
	fe_destroy(&f);
	dlog_destroy(&l);
}

/* ---------------------------------------------------------------- injected holds */

static void hold(const char *params)
{
	json_decref(rpc_ok("blockd_fault_vhost", "%s", params));
}

Test(vhost_migration, fault_holds_get_vring_base)
{
	rpc_fail(JRPC_METHOD_NOT_FOUND, "blockd_fault_vhost",
		 "{\"ctrlr\":\"c0\",\"message\":\"GET_VRING_BASE\",\"action\":\"hold\"}");
	fault_set_enabled(true);
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_vhost",
		 "{\"ctrlr\":\"c0\",\"message\":\"NO_SUCH\",\"action\":\"hold\"}");
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_vhost",
		 "{\"ctrlr\":\"c0\",\"message\":\"GET_VRING_BASE\",\"action\":\"x\"}");
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_vhost",
		 "{\"ctrlr\":\"c0\",\"message\":\"GET_VRING_BASE\",\"action\":\"hold\","
		 "\"hold_ms\":0}");
	rpc_fail(-ENOENT, "blockd_fault_vhost", "{\"ctrlr\":\"c0\",\"action\":\"clear\"}");

	struct fe f;
	start(&f);
	hold("{\"ctrlr\":\"c0\",\"message\":\"VHOST_USER_GET_VRING_BASE\",\"action\":\"hold\","
	     "\"hold_ms\":300}");
	uint32_t num = 0;
	int64_t ms = get_vring_base(&f, 3000, &num);
	cr_assert_geq(ms, 280, "held only %lld ms", (long long)ms);
	cr_assert_lt(ms, 2000, "held %lld ms", (long long)ms);

	/* Until cleared: no answer, then one right after the clear. */
	hold("{\"ctrlr\":\"c0\",\"message\":\"11\",\"action\":\"hold\"}");
	cr_assert_eq(get_vring_base(&f, 300, &num), -1, "answered while held");
	hold("{\"ctrlr\":\"c0\",\"message\":\"GET_VRING_BASE\",\"action\":\"clear\"}");
	struct vhost_user_msg m;
	cr_assert_eq(fe_recv(&f, &m, NULL, 1000), 1, "not released by the clear");
	cr_assert_eq(m.hdr.request, VHOST_USER_GET_VRING_BASE);
	expect_alive(&f, "after the hold");
	fe_destroy(&f);
}

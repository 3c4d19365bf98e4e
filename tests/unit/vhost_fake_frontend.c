/* vhost_fake_frontend.c — blockd's vhost unit-test harness (see vhost_fake_frontend.h): the
 * fake front-end (socket, messages with SCM_RIGHTS, guest memory in a memfd, one split
 * virtqueue, virtio-blk requests; the control reactor is polled whenever the test waits) and
 * the blockd side (vhost dir, bdevs, controllers, direct IO, session introspection). */
#include "vhost_fake_frontend.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bdev_delay.h"
#include "bdev_malloc.h"
#include "blockd.h"
#include "reactor.h"
#include "rpc_harness.h"
#include "vhost_blk.h"
#include "vhost_blk_queue.h"
#include "vring_client.h"

int64_t fe_now_ms(void)
{
	return (int64_t)(monotonic_ns() / 1000000);
}

int fe_sealed_memfd(const char *name, size_t size)
{
	int fd = vuc_sealed_memfd(name, size, false);
	cr_assert_geq(fd, 0, "sealed memfd: %s", strerror(-fd));
	return fd;
}

/* While the front-end waits for blockd, blockd's control thread must run. */
static void poll_app(void *arg, int fd, short events, int timeout_ms)
{
	reactor_poll(g_blockd.app, 1);
}

void fe_init(struct fe *f)
{
	memset(f, 0, sizeof(*f));
	f->vu = (struct vuc){ .sock = -1, .timeout_ms = FE_TIMEOUT_MS, .wait = poll_app };
	f->mem_size = FE_MEM_SIZE;
	f->memfd = fe_sealed_memfd("fe-guest", f->mem_size);
	f->mem = mmap(NULL, f->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	cr_assert_neq(f->mem, MAP_FAILED, "mmap guest memory: %s", strerror(errno));
	f->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	f->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cr_assert(f->kick_fd >= 0 && f->call_fd >= 0, "eventfd: %s", strerror(errno));
	f->qsize = FE_QSIZE;
	f->desc = fe_ptr(f, FE_DESC_GPA);
	f->avail = fe_ptr(f, FE_AVAIL_GPA);
	f->used = fe_ptr(f, FE_USED_GPA);
	f->data_next = FE_DATA_GPA;
}

void fe_destroy(struct fe *f)
{
	fe_disconnect(f);
	if (f->mem && f->mem != MAP_FAILED)
		munmap(f->mem, f->mem_size);
	f->mem = NULL;
	int *fds[] = { &f->memfd, &f->kick_fd, &f->call_fd };
	for (unsigned i = 0; i < 3; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

void fe_connect(struct fe *f, const char *ctrlr)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", g_blockd.opts.vhost_dir, ctrlr);
	cr_assert(n > 0 && (size_t)n < sizeof(path));
	/* The listen backlog takes the connection; blockd accepts it when the app reactor runs. */
	int rc = vuc_connect(&f->vu, path);
	cr_assert_eq(rc, 0, "connect %s: %s", path, strerror(-rc));
}

void fe_disconnect(struct fe *f)
{
	vuc_close(&f->vu);
}

int fe_send_raw(struct fe *f, uint32_t request, uint32_t flags, uint32_t size,
		const void *payload, size_t payload_len, const int *fds, unsigned nfds)
{
	cr_assert_leq(nfds, 16u);
	int rc = vuc_send(&f->vu, request, flags, size, payload, payload_len, fds, nfds);
	cr_assert_neq(rc, -EMSGSIZE, "short sendmsg");   /* small messages go whole */
	return rc;
}

int fe_recv(struct fe *f, struct vhost_user_msg *m, int *fd, int timeout_ms)
{
	int rc = vuc_recv(&f->vu, m, fd, timeout_ms);
	cr_assert(rc != -EPROTO, "not a reply of this version, or of %u bytes", m->hdr.size);
	cr_assert(rc >= 0 || rc == -ETIMEDOUT, "recvmsg: %s", strerror(-rc));
	return rc;
}

bool fe_wait_closed(struct fe *f, int timeout_ms)
{
	int64_t deadline = fe_now_ms() + timeout_ms;
	struct vhost_user_msg m;
	for (;;) {
		int left = (int)(deadline - fe_now_ms());
		int rc = fe_recv(f, &m, NULL, left > 0 ? left : 0);
		if (rc == 0)
			return true;
		if (rc < 0)
			return false;
	}
}

int64_t fe_call(struct fe *f, uint32_t request, const void *payload, uint32_t size,
		const int *fds, unsigned nfds)
{
	int64_t rc = vuc_call(&f->vu, request, payload, size, fds, nfds);
	cr_assert_neq(rc, -EPROTO, "ack for request %u of the wrong shape", request);
	return rc;
}

uint64_t fe_get_u64(struct fe *f, uint32_t request)
{
	uint64_t v = 0;
	int rc = vuc_get_u64(&f->vu, request, &v);
	cr_assert_eq(rc, 0, "no reply to request %u (%d)", request, rc);
	return v;
}

void fe_negotiate(struct fe *f, uint64_t features, uint64_t protocol)
{
	uint64_t offered = 0;
	int rc = vuc_negotiate(&f->vu, features, 0, protocol, false, &offered);
	cr_assert_eq(rc, 0, "negotiating features 0x%llx (offered 0x%llx), protocol 0x%llx: %d",
		     (unsigned long long)features, (unsigned long long)offered,
		     (unsigned long long)protocol, rc);
}

void fe_set_mem_table(struct fe *f)
{
	cr_assert_eq(vuc_set_mem_table(&f->vu, f->memfd, f->mem_size, fe_uva(f, 0)), 0,
		     "SET_MEM_TABLE refused");
}

void fe_setup_vring(struct fe *f, uint16_t qsize, uint16_t base)
{
	f->qsize = qsize;
	struct vuc_vring_setup st = { .index = 0, .num = qsize, .base = base,
				      .desc_uva = fe_uva(f, FE_DESC_GPA),
				      .avail_uva = fe_uva(f, FE_AVAIL_GPA),
				      .used_uva = fe_uva(f, FE_USED_GPA),
				      .call_fd = f->call_fd, .kick_fd = f->kick_fd };
	uint32_t failed = 0;
	int rc = vuc_setup_vring(&f->vu, &st, &failed);
	cr_assert_eq(rc, 0, "vring setup: request %u refused (%d); the queue did not start",
		     failed, rc);
}

void fe_start(struct fe *f, const char *ctrlr, uint64_t features, uint64_t protocol)
{
	fe_connect(f, ctrlr);
	fe_negotiate(f, features, protocol);
	fe_set_mem_table(f);
	fe_setup_vring(f, f->qsize, 0);
}

void *fe_ptr(struct fe *f, uint64_t gpa)
{
	cr_assert_lt(gpa, f->mem_size);
	return f->mem + gpa;
}

uint64_t fe_uva(struct fe *f, uint64_t gpa)
{
	return (uint64_t)(uintptr_t)f->mem + gpa;
}

uint64_t fe_alloc(struct fe *f, size_t len)
{
	size_t rounded = (len + 4095) & ~(size_t)4095;
	cr_assert_leq(rounded, f->mem_size - FE_DATA_GPA);
	if (f->data_next + rounded > f->mem_size)
		f->data_next = FE_DATA_GPA;
	uint64_t gpa = f->data_next;
	f->data_next += rounded ? rounded : 4096;
	return gpa;
}

uint16_t fe_desc_alloc(struct fe *f)
{
	uint16_t i = f->next_desc;
	f->next_desc = (uint16_t)((i + 1) % f->qsize);
	return i;
}

void fe_set_desc(struct fe *f, uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	cr_assert_lt(idx, f->qsize);
	f->desc[idx] = (struct vring_desc){ addr, len, flags, next };
}

void fe_post(struct fe *f, uint16_t head)
{
	uint16_t idx = f->avail->idx;
	vuc_avail_put(f->avail, f->qsize, idx, head);
	vuc_avail_publish(f->avail, (uint16_t)(idx + 1));
	cr_assert_eq(eventfd_write(f->kick_fd, 1), 0);
}

int fe_wait_used(struct fe *f, struct vring_used_elem *e, int timeout_ms)
{
	int64_t deadline = fe_now_ms() + timeout_ms;
	while (vuc_used_idx(f->used) == f->last_used) {
		if (fe_now_ms() > deadline)
			return -ETIMEDOUT;
		reactor_poll(g_blockd.app, 1);
	}
	*e = f->used->ring[f->last_used % f->qsize];
	f->last_used++;
	return 0;
}

uint64_t fe_blk_header(struct fe *f, uint32_t type, uint64_t sector)
{
	uint64_t hs = fe_alloc(f, 64);
	*(struct virtio_blk_outhdr *)fe_ptr(f, hs) =
		(struct virtio_blk_outhdr){ .type = type, .sector = sector };
	f->status_gpa = hs + 32;
	*(uint8_t *)fe_ptr(f, f->status_gpa) = 0xaa;
	return hs;
}

uint16_t fe_blk_submit(struct fe *f, uint32_t type, uint64_t sector, uint64_t data_gpa,
		       uint32_t len, bool device_writes)
{
	uint64_t hs = fe_blk_header(f, type, sector);
	uint16_t d0 = fe_desc_alloc(f), d1 = fe_desc_alloc(f), d2 = fe_desc_alloc(f);
	fe_set_desc(f, d0, hs, sizeof(struct virtio_blk_outhdr), VRING_DESC_F_NEXT, d1);
	fe_set_desc(f, d1, data_gpa, len,
		    VRING_DESC_F_NEXT | (device_writes ? VRING_DESC_F_WRITE : 0), d2);
	fe_set_desc(f, d2, f->status_gpa, 1, VRING_DESC_F_WRITE, 0);
	fe_post(f, d0);
	return d0;
}

uint8_t fe_status(struct fe *f)
{
	return *(volatile uint8_t *)fe_ptr(f, f->status_gpa);
}

int fe_blk_io(struct fe *f, uint32_t type, uint64_t sector, void *buf, uint32_t len,
	      uint32_t *used_len)
{
	uint64_t gpa = fe_alloc(f, len);
	bool device_writes = type != VIRTIO_BLK_T_OUT;
	if (device_writes)
		memset(fe_ptr(f, gpa), 0x5a, len);
	else
		memcpy(fe_ptr(f, gpa), buf, len);
	uint16_t head = fe_blk_submit(f, type, sector, gpa, len, device_writes);
	struct vring_used_elem e;
	if (fe_wait_used(f, &e, FE_TIMEOUT_MS) < 0)
		return -ETIMEDOUT;
	cr_assert_eq(e.id, head, "used id %u, head %u", e.id, head);
	if (used_len)
		*used_len = e.len;
	uint8_t status = fe_status(f);
	if (device_writes && status == VIRTIO_BLK_S_OK)
		memcpy(buf, fe_ptr(f, gpa), len);
	return status;
}

/* ---------------------------------------------------------------- blockd-side harness */

static char g_dir[PATH_MAX];

void vh_setup(void)
{
	rpc_harness_setup();
	const char *tmp = getenv("TMPDIR");
	snprintf(g_dir, sizeof(g_dir), "%s/berth-vhost-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(g_dir), "mkdtemp: %s", strerror(errno));
	g_blockd.opts.vhost_dir = g_dir;
}

void vh_teardown(void)
{
	vhost_blk_shutdown();
	cr_expect_eq(reactor_poll(g_blockd.app, 0), 0, "work left after vhost_blk_shutdown");
	FE_WAIT_UNTIL(reactor_poll(g_blockd.app, 0) == 0, 1000);
	cr_expect_eq(blk_queue_live(), 0u, "queues alive after shutdown");
	rpc_harness_teardown();
	rmdir(g_dir);
}

void vh_pattern(void *buf, size_t len, uint32_t seed, uint64_t byte_off)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i++) {
		uint64_t x = byte_off + i;
		p[i] = (uint8_t)((x * 131u + seed * 29u + (x >> 9) * 7u) ^ (seed << 4));
	}
}

struct bdev *vh_malloc(const char *name, uint64_t blocks, uint32_t bs)
{
	struct bdev *b = NULL;
	cr_assert_eq(bdev_malloc_create(name, blocks, bs, NULL, &b), 0, "malloc %s", name);
	return b;
}

struct bdev *vh_delay(const char *name, const char *base, uint64_t us)
{
	struct bdev *b = NULL;
	cr_assert_eq(bdev_delay_create(name, base, us, us, us, us, NULL, &b), 0);
	return b;
}

void vh_ctrlr(const char *name, const char *bdev, bool readonly)
{
	cr_assert_eq(vhost_blk_create(name, bdev, readonly, NULL), 0, "ctrlr %s", name);
}

struct sync_io {
	bool done;
	int status;
};

static void sync_cb(void *arg, int status)
{
	struct sync_io *io = arg;
	io->status = status;
	io->done = true;
}

/* Direct bdev IO on the control reactor, bypassing vhost. */
void vh_bdev_rw(struct bdev *b, bool write, void *buf, uint64_t off_bytes, size_t len)
{
	uint32_t bs = bdev_block_size(b);
	struct sync_io io = { 0 };
	int rc = write ? bdev_write(g_blockd.app, b, buf, off_bytes / bs, len / bs, sync_cb, &io)
		       : bdev_read(g_blockd.app, b, buf, off_bytes / bs, len / bs, sync_cb, &io);
	cr_assert_eq(rc, 0, "bdev submit: %d", rc);
	cr_assert(FE_WAIT_UNTIL(io.done, FE_TIMEOUT_MS), "bdev IO did not complete");
	cr_assert_eq(io.status, 0);
}

void vh_fill_bdev(struct bdev *b, uint32_t seed)
{
	static uint8_t buf[VH_PATTERN_BYTES];
	vh_pattern(buf, sizeof(buf), seed, 0);
	vh_bdev_rw(b, true, buf, 0, sizeof(buf));
}

void vh_check_bdev(struct bdev *b, uint32_t seed, const char *what)
{
	static uint8_t want[VH_PATTERN_BYTES], got[VH_PATTERN_BYTES];
	vh_pattern(want, sizeof(want), seed, 0);
	vh_bdev_rw(b, false, got, 0, sizeof(got));
	cr_assert(memcmp(want, got, sizeof(got)) == 0, "%s: bdev %s data changed", what,
		  bdev_name(b));
}

static json_t *session0(const char *ctrlr)
{
	struct vhost_blk_ctrlr *c = vhost_blk_find(ctrlr);
	cr_assert_not_null(c, "no controller %s", ctrlr);
	json_t *info = vhost_blk_info_json(c);
	json_t *s = json_array_get(json_object_get(info, "sessions"), 0);
	json_incref(s);
	json_decref(info);
	return s;
}

size_t vh_session_count(const char *ctrlr)
{
	struct vhost_blk_ctrlr *c = vhost_blk_find(ctrlr);
	cr_assert_not_null(c, "no controller %s", ctrlr);
	json_t *info = vhost_blk_info_json(c);
	size_t n = json_array_size(json_object_get(info, "sessions"));
	json_decref(info);
	return n;
}

/* A session member (integer or boolean), or -1 without a session. */
json_int_t vh_session_int(const char *ctrlr, const char *key)
{
	json_t *s = session0(ctrlr);
	if (!s)
		return -1;
	json_t *v = json_object_get(s, key);
	json_int_t r = json_is_boolean(v) ? json_is_true(v) : json_integer_value(v);
	cr_assert(json_is_integer(v) || json_is_boolean(v), "session member %s", key);
	json_decref(s);
	return r;
}

/* Reads 4 KiB at byte offset off through the queue and compares with the pattern. */
void vh_expect_read(struct fe *f, uint64_t off, uint32_t seed, const char *what)
{
	uint8_t got[4096], want[4096];
	uint32_t ulen = 0;
	vh_pattern(want, sizeof(want), seed, off);
	cr_assert_eq(fe_blk_io(f, VIRTIO_BLK_T_IN, off / 512, got, sizeof(got), &ulen), 0,
		     "%s: read failed", what);
	cr_assert_eq(ulen, sizeof(got) + 1, "%s: used len %u", what, ulen);
	cr_assert(memcmp(got, want, sizeof(got)) == 0, "%s: read wrong data", what);
}

void vh_write_pattern(struct fe *f, uint64_t off, uint32_t seed, const char *what)
{
	uint8_t buf[4096];
	uint32_t ulen = 0;
	vh_pattern(buf, sizeof(buf), seed, off);
	cr_assert_eq(fe_blk_io(f, VIRTIO_BLK_T_OUT, off / 512, buf, sizeof(buf), &ulen), 0,
		     "%s: write failed", what);
	cr_assert_eq(ulen, 1u, "%s: write used len %u", what, ulen);
}

void vh_close_and_wait(struct fe *f, const char *ctrlr)
{
	fe_disconnect(f);
	cr_assert(FE_WAIT_UNTIL(vh_session_count(ctrlr) == 0, 1000), "%s: session did not end", ctrlr);
}

/* test_vhost_hostile.c — a hostile front-end (vhost_fake_frontend.h) against blockd.
 * Messages: bad headers, wrong sizes, unknown requests, descriptors where none belong,
 * broken memory tables (overlaps, wrap-around, too many regions, files too short to map, fd
 * counts), rings outside guest memory, invalid queue sizes, config and inflight requests out
 * of range: each is refused (REPLY_ACK != 0) or closes the connection, and afterwards blockd
 * serves another controller, no bdev data changed, the controller takes a new front-end.
 * Descriptors: loops, over-long chains, buffers outside guest memory, oversized, misaligned
 * or out-of-range requests, bad indirect tables, writes to a read-only controller: each is
 * answered (IOERR, or a used entry of length 0), and the queue serves the next request. A
 * corrupt avail ring stops only its queue. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vhost_blk.h"
#include "vhost_fake_frontend.h"

TestSuite(vhost_hostile, .init = vh_setup, .fini = vh_teardown, .timeout = 30);

/* ---------------------------------------------------------------- messages */

/* The outcome of a raw message sent with NEED_REPLY: FE_CLOSED, the ack value, or 0 when
 * blockd neither closed nor answered (which fails the test). */
static int64_t raw_outcome(struct fe *f, int send_rc)
{
	if (send_rc < 0)
		return FE_CLOSED;
	struct vhost_user_msg m;
	int rc = fe_recv(f, &m, NULL, 1000);
	if (rc == 0)
		return FE_CLOSED;
	if (rc < 0)
		return 0;
	return m.hdr.size == 8 ? (int64_t)m.payload.u64 : 0;
}

static int64_t raw(struct fe *f, uint32_t req, uint32_t flags, uint32_t size, const void *p,
		   size_t plen, const int *fds, unsigned nfds)
{
	return raw_outcome(f, fe_send_raw(f, req, flags | VHOST_USER_NEED_REPLY, size, p, plen,
					  fds, nfds));
}

static int64_t hm_header_too_big(struct fe *f)
{
	static uint8_t junk[sizeof(union vhost_user_payload) + 1];
	return raw(f, VHOST_USER_SET_OWNER, 0, sizeof(junk), junk, sizeof(junk), NULL, 0);
}

static int64_t hm_header_huge(struct fe *f)
{
	return raw(f, VHOST_USER_SET_OWNER, 0, 0xffffffffu, NULL, 0, NULL, 0);
}

static int64_t hm_bad_version(struct fe *f)
{
	return raw(f, VHOST_USER_SET_OWNER, 0x2, 0, NULL, 0, NULL, 0);   /* version 3 */
}

static int64_t hm_num_size4(struct fe *f)
{
	uint32_t idx = 0;
	return raw(f, VHOST_USER_SET_VRING_NUM, 0, 4, &idx, 4, NULL, 0);
}

static int64_t hm_features_size0(struct fe *f)
{
	return raw(f, VHOST_USER_SET_FEATURES, 0, 0, NULL, 0, NULL, 0);
}

static int64_t hm_unknown_99(struct fe *f)
{
	uint64_t v = 0;
	return raw(f, 99, 0, 8, &v, 8, NULL, 0);
}

static int64_t hm_owner_with_fd(struct fe *f)
{
	return raw(f, VHOST_USER_SET_OWNER, 0, 0, NULL, 0, &f->kick_fd, 1);
}

static int64_t hm_kick_without_fd(struct fe *f)
{
	uint64_t idx = 0;    /* no VHOST_USER_VRING_NOFD_MASK, and no fd */
	return raw(f, VHOST_USER_SET_VRING_KICK, 0, 8, &idx, 8, NULL, 0);
}

/* SET_MEM_TABLE of n regions (the test's memory at gpa 0 unless changed) with nfds fds. */
static int64_t mem_table(struct fe *f, const struct vhost_user_mem_region *r, unsigned n,
			 unsigned nfds, int fd)
{
	struct vhost_user_memory mt = { .nregions = n };
	if (n)
		memcpy(mt.regions, r, sizeof(*r) * (n < 8 ? n : 8));
	int fds[9];
	for (unsigned i = 0; i < nfds; i++)
		fds[i] = fd >= 0 ? fd : f->memfd;
	uint32_t size = 8 + (n < 8 ? n : 8) * (uint32_t)sizeof(*r);
	return raw(f, VHOST_USER_SET_MEM_TABLE, 0, size, &mt, size, fds, nfds);
}

#define MB (1ull << 20)
#define UVA(off) (fe_uva(f, 0) + (off))

static int64_t hm_mem_overlap_gpa(struct fe *f)
{
	struct vhost_user_mem_region r[2] = { { 0, 2 * MB, UVA(0), 0 },
					      { 1 * MB, 2 * MB, UVA(2 * MB), 2 * MB } };
	return mem_table(f, r, 2, 2, -1);
}

static int64_t hm_mem_overlap_uva(struct fe *f)
{
	struct vhost_user_mem_region r[2] = { { 0, 2 * MB, UVA(0), 0 },
					      { 2 * MB, 2 * MB, UVA(1 * MB), 2 * MB } };
	return mem_table(f, r, 2, 2, -1);
}

static int64_t hm_mem_gpa_wraps(struct fe *f)
{
	struct vhost_user_mem_region r = { UINT64_MAX - 4095, 8192, UVA(0), 0 };
	return mem_table(f, &r, 1, 1, -1);
}

static int64_t hm_mem_offset_wraps(struct fe *f)
{
	struct vhost_user_mem_region r = { 0, 8192, UVA(0), UINT64_MAX - 4095 };
	return mem_table(f, &r, 1, 1, -1);
}

static int64_t hm_mem_nregions_9(struct fe *f)
{
	struct vhost_user_mem_region r[8];
	for (unsigned i = 0; i < 8; i++)
		r[i] = (struct vhost_user_mem_region){ i * 512 * 1024, 512 * 1024,
						       UVA(i * 512 * 1024), i * 512 * 1024 };
	return mem_table(f, r, 9, 8, -1);
}

static int64_t hm_mem_nregions_0(struct fe *f)
{
	return mem_table(f, NULL, 0, 0, -1);
}

static int64_t hm_mem_size_0(struct fe *f)
{
	struct vhost_user_mem_region r = { 0, 0, UVA(0), 0 };
	return mem_table(f, &r, 1, 1, -1);
}

/* A region bigger than its file: a mapping that would SIGBUS on first touch. */
static int64_t hm_mem_file_short(struct fe *f)
{
	int fd = memfd_create("short", MFD_CLOEXEC);
	cr_assert(fd >= 0 && ftruncate(fd, (off_t)MB) == 0);
	struct vhost_user_mem_region r = { 0, 4 * MB, UVA(0), 0 };
	int64_t rc = mem_table(f, &r, 1, 1, fd);
	close(fd);
	return rc;
}

static int64_t hm_mem_offset_past_file(struct fe *f)
{
	struct vhost_user_mem_region r = { 0, 1 * MB, UVA(0), 4 * MB };
	return mem_table(f, &r, 1, 1, -1);
}

static int64_t hm_mem_fewer_fds(struct fe *f)
{
	struct vhost_user_mem_region r[2] = { { 0, 2 * MB, UVA(0), 0 },
					      { 2 * MB, 2 * MB, UVA(2 * MB), 2 * MB } };
	return mem_table(f, r, 2, 1, -1);
}

static int64_t hm_mem_too_many_fds(struct fe *f)
{
	struct vhost_user_mem_region r = { 0, 4 * MB, UVA(0), 0 };
	return mem_table(f, &r, 1, 9, -1);
}

/* A full queue setup whose ring addresses are given; the first refusal. */
static int64_t vring_with(struct fe *f, uint64_t desc, uint64_t avail, uint64_t used)
{
	fe_set_mem_table(f);
	struct vhost_user_vring_state st = { 0, FE_QSIZE };
	int64_t rc = fe_call(f, VHOST_USER_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
	struct vhost_user_vring_addr a = { .index = 0, .desc_user_addr = desc,
					   .used_user_addr = used, .avail_user_addr = avail };
	uint64_t idx = 0;
	if (rc == 0)
		rc = fe_call(f, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	if (rc == 0)
		rc = fe_call(f, VHOST_USER_SET_VRING_CALL, &idx, 8, &f->call_fd, 1);
	if (rc == 0)
		rc = fe_call(f, VHOST_USER_SET_VRING_KICK, &idx, 8, &f->kick_fd, 1);
	if (rc != FE_CLOSED)
		cr_assert_eq(vh_session_int("ctl_a", "started"), 0, "a queue started");
	return rc;
}

static int64_t hm_ring_outside(struct fe *f)
{
	return vring_with(f, UVA(8 * MB), UVA(FE_AVAIL_GPA), UVA(FE_USED_GPA));
}

static int64_t hm_ring_straddles_end(struct fe *f)
{
	return vring_with(f, UVA(0), UVA(FE_AVAIL_GPA), UVA(FE_MEM_SIZE - 8));
}

static int64_t hm_ring_misaligned(struct fe *f)
{
	return vring_with(f, UVA(8), UVA(FE_AVAIL_GPA), UVA(FE_USED_GPA));
}

static int64_t vring_num(struct fe *f, uint32_t index, uint32_t num)
{
	struct vhost_user_vring_state st = { index, num };
	return fe_call(f, VHOST_USER_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
}

static int64_t hm_num_0(struct fe *f) { return vring_num(f, 0, 0); }
static int64_t hm_num_3(struct fe *f) { return vring_num(f, 0, 3); }
static int64_t hm_num_2048(struct fe *f) { return vring_num(f, 0, 2048); }
static int64_t hm_num_index_16(struct fe *f) { return vring_num(f, VHOST_BLK_MAX_QUEUES, 8); }

static int64_t hm_config_out_of_range(struct fe *f)
{
	struct vhost_user_config c = { .offset = 50, .size = 20 };
	return raw(f, VHOST_USER_GET_CONFIG, 0, 32, &c, 32, NULL, 0);
}

static int64_t hm_inflight_bad_geometry(struct fe *f)
{
	struct vhost_user_inflight in = { .num_queues = 1, .queue_size = 3 };
	return raw(f, VHOST_USER_GET_INFLIGHT_FD, 0, sizeof(in), &in, sizeof(in), NULL, 0);
}

static int64_t hm_inflight_file_short(struct fe *f)
{
	int fd = memfd_create("short-inflight", MFD_CLOEXEC);
	cr_assert(fd >= 0 && ftruncate(fd, 4096) == 0);
	struct vhost_user_inflight in = { .mmap_size = MB, .num_queues = 1,
					  .queue_size = FE_QSIZE };
	int64_t rc = fe_call(f, VHOST_USER_SET_INFLIGHT_FD, &in, sizeof(in), &fd, 1);
	close(fd);
	return rc;
}

static int64_t hm_features_unoffered(struct fe *f)
{
	uint64_t v = FE_FEATURES | (1ull << 63);
	return fe_call(f, VHOST_USER_SET_FEATURES, &v, 8, NULL, 0);
}

struct msg_case {
	const char *name;
	int64_t (*fn)(struct fe *f);
};

#define MSG_CASE(n) { #n, hm_##n }

static const struct msg_case g_msg_cases[] = {
	MSG_CASE(header_too_big), MSG_CASE(header_huge), MSG_CASE(bad_version),
	MSG_CASE(num_size4), MSG_CASE(features_size0), MSG_CASE(unknown_99),
	MSG_CASE(owner_with_fd), MSG_CASE(kick_without_fd), MSG_CASE(mem_overlap_gpa),
	MSG_CASE(mem_overlap_uva), MSG_CASE(mem_gpa_wraps), MSG_CASE(mem_offset_wraps),
	MSG_CASE(mem_nregions_9), MSG_CASE(mem_nregions_0), MSG_CASE(mem_size_0),
	MSG_CASE(mem_file_short), MSG_CASE(mem_offset_past_file),
	MSG_CASE(mem_fewer_fds), MSG_CASE(mem_too_many_fds), MSG_CASE(ring_outside),
	MSG_CASE(ring_straddles_end), MSG_CASE(ring_misaligned), MSG_CASE(num_0),
	MSG_CASE(num_3), MSG_CASE(num_2048), MSG_CASE(num_index_16),
	MSG_CASE(config_out_of_range), MSG_CASE(inflight_bad_geometry),
	MSG_CASE(inflight_file_short), MSG_CASE(features_unoffered),
};
#define NUM_MSG_CASES (sizeof(g_msg_cases) / sizeof(g_msg_cases[0]))

/* Criterion runs each parameter in a re-executed process where the parent's pointers mean
 * nothing: parameters are indices into the table. */
ParameterizedTestParameters(vhost_hostile, message)
{
	static unsigned idx[NUM_MSG_CASES];
	for (unsigned i = 0; i < NUM_MSG_CASES; i++)
		idx[i] = i;
	return cr_make_param_array(unsigned, idx, NUM_MSG_CASES);
}

/* Two controllers; the hostile front-end talks to ctl_a, a good one stays on ctl_b. Each
 * message must be refused (ack != 0) or end the connection; then ctl_b still serves, no
 * data changed, and ctl_a takes a new, well-behaved front-end. */
ParameterizedTest(unsigned *ci, vhost_hostile, message)
{
	const struct msg_case *c = &g_msg_cases[*ci];
	struct bdev *ma = vh_malloc("mal_a", 2048, 512), *mb = vh_malloc("mal_b", 2048, 512);
	vh_fill_bdev(ma, 1);
	vh_fill_bdev(mb, 2);
	vh_ctrlr("ctl_a", "mal_a", false);
	vh_ctrlr("ctl_b", "mal_b", false);
	struct fe good, bad;
	fe_init(&good);
	fe_init(&bad);
	fe_start(&good, "ctl_b", FE_FEATURES, FE_PROTOCOL);
	fe_connect(&bad, "ctl_a");
	fe_negotiate(&bad, FE_FEATURES, FE_PROTOCOL | (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD));

	int64_t rc = c->fn(&bad);
	cr_assert(rc == FE_CLOSED || rc > 0, "%s: neither refused nor closed (%lld)", c->name,
		  (long long)rc);
	cr_log_info("%s: %s", c->name, rc == FE_CLOSED ? "connection closed" : "refused");
	vh_close_and_wait(&bad, "ctl_a");

	vh_expect_read(&good, 0, 2, c->name);
	vh_check_bdev(ma, 1, c->name);
	vh_check_bdev(mb, 2, c->name);
	fe_destroy(&bad);
	fe_init(&bad);
	fe_start(&bad, "ctl_a", FE_FEATURES, FE_PROTOCOL);
	vh_expect_read(&bad, 4096, 1, c->name);
	fe_destroy(&bad);
	fe_destroy(&good);
}

/* ---------------------------------------------------------------- descriptors */

#define RQ(type, sector, gpa, len, w) fe_blk_submit(f, type, sector, gpa, len, w)
/* Bigger than blockd's largest request, so that only its own limit refuses one (the
 * mapping is reserved, not touched). */
#define MAL_BLOCKS (128u * 2048)

static uint16_t loop(struct fe *f, uint32_t len)
{
	uint64_t h = fe_blk_header(f, VIRTIO_BLK_T_OUT, 0), d = fe_alloc(f, 4096);
	uint16_t a = fe_desc_alloc(f), b = fe_desc_alloc(f), c = fe_desc_alloc(f);
	fe_set_desc(f, a, h, 16, VRING_DESC_F_NEXT, b);
	fe_set_desc(f, b, d, len, VRING_DESC_F_NEXT, c);
	fe_set_desc(f, c, d, len, VRING_DESC_F_NEXT, b);   /* back to b */
	fe_post(f, a);
	return a;
}

static uint16_t dc_loop(struct fe *f) { return loop(f, 4096); }
/* Empty buffers add no iovec: only a visit count stops this one. */
static uint16_t dc_loop_empty(struct fe *f) { return loop(f, 0); }

/* Every descriptor of the table in one chain, the last pointing back at the first. */
static uint16_t dc_whole_queue(struct fe *f)
{
	uint64_t h = fe_blk_header(f, VIRTIO_BLK_T_IN, 0), d = fe_alloc(f, 512);
	fe_set_desc(f, 0, h, 16, VRING_DESC_F_NEXT, 1);
	for (uint16_t i = 1; i < f->qsize; i++)
		fe_set_desc(f, i, d, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
			    (uint16_t)((i + 1) % f->qsize));
	fe_post(f, 0);
	return 0;
}

static uint16_t dc_next_out_of_range(struct fe *f)
{
	uint64_t h = fe_blk_header(f, VIRTIO_BLK_T_IN, 0);
	uint16_t a = fe_desc_alloc(f);
	fe_set_desc(f, a, h, 16, VRING_DESC_F_NEXT, (uint16_t)(f->qsize + 3));
	fe_post(f, a);
	return a;
}

static uint16_t dc_buf_outside(struct fe *f)
{
	return RQ(VIRTIO_BLK_T_IN, 0, FE_MEM_SIZE + 4096, 4096, true);
}

static uint16_t dc_buf_far(struct fe *f)
{
	return RQ(VIRTIO_BLK_T_OUT, 0, 1ull << 40, 4096, false);
}

static uint16_t dc_buf_wraps(struct fe *f)
{
	return RQ(VIRTIO_BLK_T_OUT, 0, UINT64_MAX - 511, 4096, false);
}

static uint16_t dc_buf_straddles_end(struct fe *f)
{
	return RQ(VIRTIO_BLK_T_IN, 0, FE_MEM_SIZE - 2048, 4096, true);
}

static uint16_t dc_zero_len_read(struct fe *f)
{
	return RQ(VIRTIO_BLK_T_IN, 0, fe_alloc(f, 4096), 0, true);
}

static uint16_t dc_len_4g(struct fe *f)
{
	return RQ(VIRTIO_BLK_T_IN, 0, FE_DATA_GPA, 0xffffffffu, true);
}

/* 12 descriptors of 3 MiB (36 MiB, more than blockd's largest request). */
static uint16_t many_large(struct fe *f, uint32_t type)
{
	uint64_t h = fe_blk_header(f, type, 0);
	uint16_t w = type == VIRTIO_BLK_T_IN ? VRING_DESC_F_WRITE : 0, head = fe_desc_alloc(f);
	uint16_t prev = head;
	fe_set_desc(f, head, h, 16, VRING_DESC_F_NEXT, (uint16_t)(head + 1));
	for (int i = 0; i < 12; i++) {
		prev = fe_desc_alloc(f);
		fe_set_desc(f, prev, FE_DATA_GPA, 3u << 20, (uint16_t)(VRING_DESC_F_NEXT | w),
			    (uint16_t)(prev + 1));
	}
	fe_set_desc(f, fe_desc_alloc(f), f->status_gpa, 1, VRING_DESC_F_WRITE, 0);
	fe_post(f, head);
	return head;
}

static uint16_t dc_many_large_read(struct fe *f) { return many_large(f, VIRTIO_BLK_T_IN); }
static uint16_t dc_many_large_write(struct fe *f) { return many_large(f, VIRTIO_BLK_T_OUT); }

static uint16_t dc_sector_past_end(struct fe *f)
{
	return RQ(VIRTIO_BLK_T_IN, MAL_BLOCKS, fe_alloc(f, 4096), 4096, true);
}

static uint16_t dc_straddles_bdev_end(struct fe *f)
{
	return RQ(VIRTIO_BLK_T_OUT, MAL_BLOCKS - 1, fe_alloc(f, 4096), 4096, false);
}

static uint16_t dc_sector_huge(struct fe *f)
{
	return RQ(VIRTIO_BLK_T_OUT, UINT64_MAX - 7, fe_alloc(f, 4096), 4096, false);
}

static uint16_t dc_4k_misaligned_sector(struct fe *f)
{
	return RQ(VIRTIO_BLK_T_OUT, 1, fe_alloc(f, 4096), 4096, false);
}

static uint16_t dc_4k_short_write(struct fe *f)
{
	return RQ(VIRTIO_BLK_T_OUT, 0, fe_alloc(f, 4096), 512, false);
}

static uint16_t dc_write_not_a_block(struct fe *f)
{
	return RQ(VIRTIO_BLK_T_OUT, 0, fe_alloc(f, 4096), 1000, false);
}

static uint16_t dc_readonly_write(struct fe *f)
{
	return RQ(VIRTIO_BLK_T_OUT, 0, fe_alloc(f, 4096), 4096, false);
}

static uint16_t dc_read_with_readable_data(struct fe *f)
{
	return RQ(VIRTIO_BLK_T_IN, 0, fe_alloc(f, 4096), 4096, false);
}

/* Header, status (writable), then data (readable): readable after writable. */
static uint16_t dc_readable_after_writable(struct fe *f)
{
	uint64_t h = fe_blk_header(f, VIRTIO_BLK_T_OUT, 0);
	uint16_t a = fe_desc_alloc(f), b = fe_desc_alloc(f), c = fe_desc_alloc(f);
	fe_set_desc(f, a, h, 16, VRING_DESC_F_NEXT, b);
	fe_set_desc(f, b, f->status_gpa, 1, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, c);
	fe_set_desc(f, c, fe_alloc(f, 4096), 4096, 0, 0);
	fe_post(f, a);
	return a;
}

static uint16_t dc_no_writable(struct fe *f)
{
	uint64_t h = fe_blk_header(f, VIRTIO_BLK_T_OUT, 0);
	uint16_t a = fe_desc_alloc(f), b = fe_desc_alloc(f);
	fe_set_desc(f, a, h, 16, VRING_DESC_F_NEXT, b);
	fe_set_desc(f, b, fe_alloc(f, 4096), 4096, 0, 0);
	fe_post(f, a);
	return a;
}

static uint16_t dc_short_header(struct fe *f)
{
	uint64_t h = fe_blk_header(f, VIRTIO_BLK_T_OUT, 0);
	uint16_t a = fe_desc_alloc(f), b = fe_desc_alloc(f), c = fe_desc_alloc(f);
	fe_set_desc(f, a, h, 8, VRING_DESC_F_NEXT, b);
	fe_set_desc(f, b, fe_alloc(f, 4096), 4096, VRING_DESC_F_NEXT, c);
	fe_set_desc(f, c, f->status_gpa, 1, VRING_DESC_F_WRITE, 0);
	fe_post(f, a);
	return a;
}

/* A head descriptor pointing at an indirect table (n entries written from tab). */
static uint16_t indirect(struct fe *f, uint64_t addr, uint32_t len, uint16_t flags)
{
	uint16_t a = fe_desc_alloc(f);
	fe_set_desc(f, a, addr, len, (uint16_t)(VRING_DESC_F_INDIRECT | flags), 0);
	fe_post(f, a);
	return a;
}

static uint64_t table(struct fe *f, const struct vring_desc *tab, unsigned n)
{
	uint64_t t = fe_alloc(f, n * 16);
	memcpy(fe_ptr(f, t), tab, n * 16);
	return t;
}

static uint16_t dc_indirect_loop(struct fe *f)
{
	uint64_t h = fe_blk_header(f, VIRTIO_BLK_T_OUT, 0);
	struct vring_desc tab[2] = { { h, 16, VRING_DESC_F_NEXT, 1 },
				     { fe_alloc(f, 4096), 4096, VRING_DESC_F_NEXT, 0 } };
	return indirect(f, table(f, tab, 2), 32, 0);
}

static uint16_t dc_indirect_outside(struct fe *f)
{
	fe_blk_header(f, VIRTIO_BLK_T_IN, 0);
	return indirect(f, FE_MEM_SIZE + 4096, 48, 0);
}

static uint16_t dc_indirect_straddles_end(struct fe *f)
{
	fe_blk_header(f, VIRTIO_BLK_T_IN, 0);
	return indirect(f, FE_MEM_SIZE - 16, 48, 0);
}

static uint16_t dc_indirect_nested(struct fe *f)
{
	uint64_t h = fe_blk_header(f, VIRTIO_BLK_T_IN, 0);
	struct vring_desc inner[3] = { { h, 16, VRING_DESC_F_NEXT, 1 },
				       { fe_alloc(f, 4096), 4096, VRING_DESC_F_NEXT | 2, 2 },
				       { f->status_gpa, 1, VRING_DESC_F_WRITE, 0 } };
	struct vring_desc outer[1] = { { table(f, inner, 3), 48, VRING_DESC_F_INDIRECT, 0 } };
	return indirect(f, table(f, outer, 1), 16, 0);
}

static uint16_t dc_indirect_with_next(struct fe *f)
{
	uint64_t h = fe_blk_header(f, VIRTIO_BLK_T_IN, 0);
	struct vring_desc tab[3] = { { h, 16, VRING_DESC_F_NEXT, 1 },
				     { fe_alloc(f, 4096), 4096, VRING_DESC_F_NEXT | 2, 2 },
				     { f->status_gpa, 1, VRING_DESC_F_WRITE, 0 } };
	return indirect(f, table(f, tab, 3), 48, VRING_DESC_F_NEXT);
}

static uint16_t dc_indirect_bad_len(struct fe *f)
{
	uint64_t h = fe_blk_header(f, VIRTIO_BLK_T_IN, 0);
	struct vring_desc tab[3] = { { h, 16, VRING_DESC_F_NEXT, 1 },
				     { fe_alloc(f, 4096), 4096, VRING_DESC_F_NEXT | 2, 2 },
				     { f->status_gpa, 1, VRING_DESC_F_WRITE, 0 } };
	return indirect(f, table(f, tab, 3), 40, 0);
}

struct desc_case {
	const char *name;
	uint16_t (*fn)(struct fe *f);
	const char *ctrlr;     /* ctl (512 B blocks), ctl4k (4096 B), ctlro (read-only) */
	bool strict;           /* must be answered IOERR (a 0-length used entry is not enough) */
};

#define DC(n, ctrlr, strict) { #n, dc_##n, ctrlr, strict }

static const struct desc_case g_desc_cases[] = {
	DC(loop, "ctl", false), DC(loop_empty, "ctl", false), DC(whole_queue, "ctl", false),
	DC(next_out_of_range, "ctl", false), DC(buf_outside, "ctl", false),
	DC(buf_far, "ctl", false), DC(buf_wraps, "ctl", false),
	DC(buf_straddles_end, "ctl", false), DC(zero_len_read, "ctl", false),
	DC(len_4g, "ctl", false), DC(many_large_read, "ctl", true),
	DC(many_large_write, "ctl", true), DC(sector_past_end, "ctl", true),
	DC(straddles_bdev_end, "ctl", true), DC(sector_huge, "ctl", true),
	DC(4k_misaligned_sector, "ctl4k", true), DC(4k_short_write, "ctl4k", true),
	DC(write_not_a_block, "ctl", true), DC(readonly_write, "ctlro", true),
	DC(read_with_readable_data, "ctl", true), DC(readable_after_writable, "ctl", false),
	DC(no_writable, "ctl", false), DC(short_header, "ctl", true),
	DC(indirect_loop, "ctl", false), DC(indirect_outside, "ctl", false),
	DC(indirect_straddles_end, "ctl", false), DC(indirect_nested, "ctl", false),
	DC(indirect_with_next, "ctl", false), DC(indirect_bad_len, "ctl", false),
};
#define NUM_DESC_CASES (sizeof(g_desc_cases) / sizeof(g_desc_cases[0]))

/* Parameters are indices: Criterion runs each in a re-executed process. */
ParameterizedTestParameters(vhost_hostile, descriptors)
{
	static unsigned idx[NUM_DESC_CASES];
	for (unsigned i = 0; i < NUM_DESC_CASES; i++)
		idx[i] = i;
	return cr_make_param_array(unsigned, idx, NUM_DESC_CASES);
}

/* The malformed request is answered (IOERR, or a used entry of length 0 with the status byte
 * untouched), nothing is written to the bdev, and the queue serves the next request. */
ParameterizedTest(unsigned *ci, vhost_hostile, descriptors)
{
	const struct desc_case *c = &g_desc_cases[*ci];
	struct bdev *b[3] = { vh_malloc("mal", MAL_BLOCKS, 512), vh_malloc("mal4k", 2048, 4096),
			      vh_malloc("malro", 2048, 512) };
	vh_ctrlr("ctl", "mal", false);
	vh_ctrlr("ctl4k", "mal4k", false);
	vh_ctrlr("ctlro", "malro", true);
	for (int i = 0; i < 3; i++)
		vh_fill_bdev(b[i], 11);
	struct fe f;
	fe_init(&f);
	fe_start(&f, c->ctrlr, FE_FEATURES | (1ull << VIRTIO_F_RING_INDIRECT_DESC), FE_PROTOCOL);
	uint16_t head = c->fn(&f);
	struct vring_used_elem e;
	cr_assert_eq(fe_wait_used(&f, &e, FE_TIMEOUT_MS), 0, "%s: not answered", c->name);
	cr_assert_eq(e.id, head, "%s: used id %u, head %u", c->name, e.id, head);
	uint8_t st = fe_status(&f);
	if (c->strict)
		cr_assert(st == VIRTIO_BLK_S_IOERR && e.len == 1, "%s: status %u len %u", c->name,
			  st, e.len);
	else
		cr_assert((e.len == 0 && st == 0xaa) || (st == VIRTIO_BLK_S_IOERR && e.len == 1),
			  "%s: status %u len %u", c->name, st, e.len);
	cr_log_info("%s: status %u, used len %u", c->name, st, e.len);
	for (int i = 0; i < 3; i++)
		vh_check_bdev(b[i], 11, c->name);
	/* The next, good request (a read only, on the read-only controller). */
	if (strcmp(c->ctrlr, "ctlro") == 0) {
		vh_expect_read(&f, 0, 11, c->name);
	} else {
		vh_write_pattern(&f, 1 << 20, 12, c->name);
		vh_expect_read(&f, 1 << 20, 12, c->name);
	}
	cr_assert(FE_WAIT_UNTIL(vh_session_int(c->ctrlr, "inflight_task_cnt") == 0, 1000));
	fe_destroy(&f);
}

/* An avail ring that names a head past the table (or claims more entries than it has):
 * the queue stops, blockd lives on, other controllers serve, the controller takes a new
 * front-end. */
static void broken_avail(bool idx_jump)
{
	struct bdev *ma = vh_malloc("mal_a", 2048, 512);
	vh_malloc("mal_b", 2048, 512);
	vh_fill_bdev(ma, 3);
	vh_ctrlr("ctl_a", "mal_a", false);
	vh_ctrlr("ctl_b", "mal_b", false);
	struct fe f, g;
	fe_init(&f);
	fe_init(&g);
	fe_start(&f, "ctl_a", FE_FEATURES, FE_PROTOCOL);
	fe_start(&g, "ctl_b", FE_FEATURES, FE_PROTOCOL);
	vh_expect_read(&f, 0, 3, "before");
	uint16_t used_before = f.used->idx;
	if (idx_jump) {
		f.avail->idx = (uint16_t)(f.avail->idx + f.qsize + 1);
		cr_assert_eq(eventfd_write(f.kick_fd, 1), 0);
	} else {
		fe_post(&f, (uint16_t)(f.qsize + 5));
	}
	vh_write_pattern(&g, 0, 4, "other controller");
	vh_expect_read(&g, 0, 4, "other controller");
	struct vring_used_elem e;
	cr_assert_eq(fe_wait_used(&f, &e, 100), -ETIMEDOUT, "a bad head was answered");
	cr_assert_eq(f.used->idx, used_before);
	cr_assert_eq(vh_session_count("ctl_a"), 1u);
	/* The session still answers: GET_VRING_BASE stops the broken queue. */
	struct vhost_user_vring_state st = { 0, 0 };
	cr_assert_eq(fe_send_raw(&f, VHOST_USER_GET_VRING_BASE, 0, 8, &st, 8, NULL, 0), 0);
	struct vhost_user_msg m;
	cr_assert_eq(fe_recv(&f, &m, NULL, FE_TIMEOUT_MS), 1, "GET_VRING_BASE not answered");
	cr_assert_eq(m.hdr.request, VHOST_USER_GET_VRING_BASE);
	vh_close_and_wait(&f, "ctl_a");
	vh_check_bdev(ma, 3, "broken avail");
	fe_destroy(&f);
	fe_init(&f);
	fe_start(&f, "ctl_a", FE_FEATURES, FE_PROTOCOL);
	vh_expect_read(&f, 0, 3, "after reconnect");
	fe_destroy(&f);
	fe_destroy(&g);
}

Test(vhost_hostile, avail_head_out_of_range) { broken_avail(false); }
Test(vhost_hostile, avail_idx_jump) { broken_avail(true); }

/* A second front-end while one is connected is turned away; the first keeps working. */
Test(vhost_hostile, second_frontend_refused)
{
	vh_malloc("mal", 2048, 512);
	vh_ctrlr("ctl", "mal", false);
	struct fe f, g;
	fe_init(&f);
	fe_init(&g);
	fe_start(&f, "ctl", FE_FEATURES, FE_PROTOCOL);
	fe_connect(&g, "ctl");
	cr_assert(fe_wait_closed(&g, 1000), "a second front-end was accepted");
	cr_assert_eq(vh_session_count("ctl"), 1u);
	vh_write_pattern(&f, 0, 7, "first front-end");
	vh_expect_read(&f, 0, 7, "first front-end");
	fe_destroy(&g);
	fe_destroy(&f);
}

/* The inflight region is the front-end's memory too: every head marked in flight, counters
 * repeated, a bogus last_batch_head, empty descriptors. Each head is resubmitted once and
 * answered (length 0), nothing crashes, and the queue serves afterwards. */
Test(vhost_hostile, inflight_region_garbage)
{
	vh_malloc("mal", 2048, 512);
	vh_ctrlr("ctl", "mal", false);
	int ifd = fe_sealed_memfd("garbage-inflight", 4096);
	struct inflight_queue_split *iq = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
					       ifd, 0);
	cr_assert_neq(iq, MAP_FAILED);
	*iq = (struct inflight_queue_split){ .version = INFLIGHT_VERSION, .desc_num = FE_QSIZE,
					     .last_batch_head = 0xffff };
	struct fe f;
	fe_init(&f);
	for (uint16_t i = 0; i < FE_QSIZE; i++) {
		iq->desc[i] = (struct inflight_desc_split){ .inflight = 1, .counter = i % 5 };
		f.avail->ring[i] = i;     /* the driver's view: all taken */
	}
	f.avail->idx = FE_QSIZE;
	fe_connect(&f, "ctl");
	fe_negotiate(&f, FE_FEATURES,
		     FE_PROTOCOL | (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD));
	struct vhost_user_inflight geo = { 4096, 0, 1, FE_QSIZE };
	cr_assert_eq(fe_call(&f, VHOST_USER_SET_INFLIGHT_FD, &geo, sizeof(geo), &ifd, 1), 0);
	fe_set_mem_table(&f);
	fe_setup_vring(&f, FE_QSIZE, 0);
	unsigned seen[FE_QSIZE] = { 0 };
	for (unsigned i = 0; i < FE_QSIZE; i++) {
		struct vring_used_elem e;
		cr_assert_eq(fe_wait_used(&f, &e, FE_TIMEOUT_MS), 0, "%u of %u answered", i,
			     FE_QSIZE);
		cr_assert(e.id < FE_QSIZE && e.len == 0, "used {%u, %u}", e.id, e.len);
		seen[e.id]++;
	}
	for (unsigned i = 0; i < FE_QSIZE; i++)
		cr_assert_eq(seen[i], 1u, "head %u answered %u times", i, seen[i]);
	vh_write_pattern(&f, 0, 8, "after the resubmissions");
	vh_expect_read(&f, 0, 8, "after the resubmissions");
	munmap(iq, 4096);
	close(ifd);
	fe_destroy(&f);
}

/* A memfd the front-end could still shrink after SET_MEM_TABLE would make blockd fault
 * (SIGBUS) on its next access: such guest memory is refused up front, and the shrink of a
 * sealed one fails. */
Test(vhost_hostile, unsealed_guest_memory_refused)
{
	vh_malloc("mal", 2048, 512);
	vh_ctrlr("ctl", "mal", false);
	struct fe f;
	fe_init(&f);
	cr_assert_neq(ftruncate(f.memfd, 1 << 20), 0, "a sealed memfd was shrunk");
	int loose = memfd_create("unsealed", MFD_CLOEXEC);
	cr_assert(loose >= 0 && ftruncate(loose, (off_t)f.mem_size) == 0);
	cr_assert_eq(mmap(f.mem, f.mem_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			  loose, 0), (void *)f.mem);
	close(f.memfd);
	f.memfd = loose;
	fe_connect(&f, "ctl");
	fe_negotiate(&f, FE_FEATURES, FE_PROTOCOL);
	struct vhost_user_memory mt = { .nregions = 1 };
	mt.regions[0] = (struct vhost_user_mem_region){ 0, f.mem_size, fe_uva(&f, 0), 0 };
	int rc = fe_call(&f, VHOST_USER_SET_MEM_TABLE, &mt, 8 + sizeof(mt.regions[0]), &f.memfd,
			 1);
	cr_assert(rc == FE_CLOSED || rc > 0, "unsealed guest memory was accepted");
	fe_destroy(&f);
}

/* Guest memory in a regular file (not a sealed memfd) can be truncated by the front-end under
 * a running queue, and blockd's next access to it would die of SIGBUS: the memory table is
 * refused (a refusing ack, or the connection closed) whatever file system holds it, while a front-end with a sealed memfd
 * on another controller keeps serving, before and after. */
static void file_backed_guest_memory(const char *dir)
{
	vh_malloc("mal_good", 2048, 512);
	vh_ctrlr("good", "mal_good", false);
	vh_malloc("mal_bad", 2048, 512);
	vh_ctrlr("bad", "mal_bad", false);
	struct fe good;
	fe_init(&good);
	fe_start(&good, "good", FE_FEATURES, FE_PROTOCOL);
	vh_write_pattern(&good, 0, 5, "sealed memfd, before");

	struct fe f;
	fe_init(&f);
	char path[4096];
	snprintf(path, sizeof(path), "%s/guest-mem-XXXXXX", dir);
	int file = mkstemp(path);
	cr_assert_geq(file, 0, "mkstemp %s: %s", path, strerror(errno));
	unlink(path);
	cr_assert_eq(ftruncate(file, (off_t)f.mem_size), 0);
	cr_assert_eq(mmap(f.mem, f.mem_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			  file, 0), (void *)f.mem);
	close(f.memfd);
	f.memfd = file;
	fe_connect(&f, "bad");
	fe_negotiate(&f, FE_FEATURES, FE_PROTOCOL);
	struct vhost_user_memory mt = { .nregions = 1 };
	mt.regions[0] = (struct vhost_user_mem_region){ 0, f.mem_size, fe_uva(&f, 0), 0 };
	int64_t rc = fe_call(&f, VHOST_USER_SET_MEM_TABLE, &mt, 8 + sizeof(mt.regions[0]),
			     &f.memfd, 1);
	cr_assert(rc == FE_CLOSED || rc > 0, "guest memory in a file under %s was accepted", dir);
	/* What the front-end would do next: blockd never mapped it, so nothing faults. */
	cr_assert_eq(ftruncate(file, 0), 0);

	vh_expect_read(&good, 0, 5, "sealed memfd, after");
	vh_write_pattern(&good, 4096, 6, "sealed memfd, after");
	vh_expect_read(&good, 4096, 6, "sealed memfd, after");
	fe_destroy(&f);
	fe_destroy(&good);
}

Test(vhost_hostile, file_backed_guest_memory_on_disk_refused)
{
	file_backed_guest_memory(g_blockd.opts.vhost_dir);
}

Test(vhost_hostile, file_backed_guest_memory_in_dev_shm_refused)
{
	file_backed_guest_memory("/dev/shm");
}

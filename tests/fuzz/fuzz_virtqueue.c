/* fuzz_virtqueue.c — libFuzzer target: blockd's split virtqueue (vhost/virtqueue.c) over a
 * hostile guest. Guest memory is a sealed memfd of 128 KiB the harness maps, shared with
 * blockd as two vhost-user regions (guest-physical 0-64K and 64K-128K, at unrelated
 * front-end addresses), so buffers can span regions and fall off the end. Per input the
 * memory is cleared and the input's image is copied in: descriptor tables (loops,
 * out-of-range addresses, huge lengths, indirect in indirect), avail and used rings, and,
 * when asked for, an inflight region (taken from the same image) that vq_start resubmits
 * from. Then a list of driver moves from the input runs against the device: take a chain
 * and complete it, move avail->idx or used->idx behind the device's back, ask whether to
 * notify, restart the queue (as a reconnecting back-end does).
 *
 * Input: 8 bytes of set-up (queue size, features, base, ring offsets), 16 move bytes, then
 * the memory image. Checks: every iovec a chain yields lies inside one region, byte counts
 * add up, no more than the queue size is ever in use, resubmitted heads are in range. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "vhost_mem.h"
#include "virtqueue.h"

#define MEM_SIZE (128u * 1024)
#define REGION_SIZE (64u * 1024)
#define UVA_A 0x7f0000000000ull
#define UVA_B 0x7e0000100000ull
#define MOVES 16

static uint8_t *g_guest;                 /* the harness's view of guest memory */
static struct vhost_mem *g_mem;          /* blockd's */
static struct virtqueue g_vq;
static struct vq_chain g_chain;
static uint8_t *g_inflight;

static void setup(void)
{
	int fd = memfd_create("fuzz-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, MEM_SIZE) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		abort();
	g_guest = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (g_guest == MAP_FAILED)
		abort();
	struct vhost_user_memory table = { .nregions = 2 };
	table.regions[0] = (struct vhost_user_mem_region){
		.guest_phys_addr = 0, .memory_size = REGION_SIZE, .userspace_addr = UVA_A,
		.mmap_offset = 0 };
	table.regions[1] = (struct vhost_user_mem_region){
		.guest_phys_addr = REGION_SIZE, .memory_size = REGION_SIZE,
		.userspace_addr = UVA_B, .mmap_offset = REGION_SIZE };
	int fds[2] = { fd, dup(fd) };
	int err = 0;
	g_mem = vhost_mem_create(&table, fds, 2, &err);
	if (!g_mem)
		abort();
	g_inflight = aligned_alloc(INFLIGHT_ALIGN, vq_inflight_queue_size(VIRTQUEUE_MAX_SIZE));
	if (!g_inflight)
		abort();
}

/* The front-end address of guest-physical offset off (both regions are mapped 1:1). */
static uint64_t uva_of(uint32_t off)
{
	return off < REGION_SIZE ? UVA_A + off : UVA_B + (off - REGION_SIZE);
}

static bool inside_a_region(const void *p, size_t len)
{
	for (unsigned i = 0; i < g_mem->nregions; i++) {
		const struct vhost_mem_region *r = &g_mem->regions[i];
		const uint8_t *b = p;
		if (b >= r->host_addr && len <= r->size &&
		    (uint64_t)(b - r->host_addr) <= r->size - len)
			return true;
	}
	return false;
}

static void check_chain(const struct virtqueue *vq, const struct vq_chain *c)
{
	if (c->head >= vq->num || c->n_out + c->n_in > VQ_CHAIN_MAX_IOV)
		abort();
	uint64_t out = 0, in = 0;
	for (unsigned i = 0; i < (unsigned)(c->n_out + c->n_in); i++) {
		if (!inside_a_region(c->iov[i].iov_base, c->iov[i].iov_len)) {
			fprintf(stderr, "iovec %u outside guest memory\n", i);
			abort();
		}
		if (i < c->n_out)
			out += c->iov[i].iov_len;
		else
			in += c->iov[i].iov_len;
	}
	if (out != c->out_bytes || in != c->in_bytes)
		abort();
}

static int start(struct virtqueue *vq, uint16_t base, bool inflight)
{
	int n = vq_start(vq, base, inflight ? (struct inflight_queue_split *)g_inflight : NULL);
	if (n < 0 || n > vq->num || vq->resubmit_num > vq->num)
		abort();
	for (unsigned i = 0; i < vq->resubmit_num; i++)
		if (vq->resubmit[i] >= vq->num)
			abort();
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g_mem)
		setup();
	struct fuzz_input in = { data, size };
	uint16_t num = (uint16_t)(1u << (fuzz_u8(&in) % 11));          /* 1 .. 1024 */
	uint8_t features = fuzz_u8(&in);
	bool event_idx = features & 1, indirect = features & 2, inflight = features & 4;
	uint16_t base = fuzz_u16(&in);
	/* Ring offsets: by default the descriptor table at 0, the rings after it. */
	uint32_t desc_off = (uint32_t)fuzz_u8(&in) << 9;
	uint32_t avail_off = desc_off + num * 16u + ((uint32_t)fuzz_u8(&in) << 4);
	uint32_t used_off = (avail_off + 6u + num * 2u + 3u) / 4u * 4u +
			    ((uint32_t)fuzz_u8(&in) << 4);
	uint32_t inflight_off = (uint32_t)fuzz_u8(&in) << 9;
	size_t nmoves;
	const uint8_t *moves = fuzz_bytes(&in, MOVES, &nmoves);

	memset(g_guest, 0, MEM_SIZE);
	memcpy(g_guest, in.p, in.n < MEM_SIZE ? in.n : MEM_SIZE);
	size_t isize = vq_inflight_queue_size(num);
	memset(g_inflight, 0, isize);
	if (inflight_off < MEM_SIZE)
		memcpy(g_inflight, g_guest + inflight_off,
		       isize < MEM_SIZE - inflight_off ? isize : MEM_SIZE - inflight_off);

	struct virtqueue *vq = &g_vq;
	memset(vq, 0, sizeof(*vq));
	struct vq_ring_addrs addrs = { uva_of(desc_off), uva_of(avail_off), uva_of(used_off) };
	if (desc_off >= MEM_SIZE || avail_off >= MEM_SIZE || used_off >= MEM_SIZE ||
	    vq_setup(vq, g_mem, num, &addrs, event_idx, indirect) < 0)
		return 0;
	start(vq, base, inflight);

	for (size_t m = 0; m < nmoves; m++) {
		uint8_t op = moves[m];
		unsigned arg = op >> 3;
		switch (op & 7) {
		case 0: case 1: case 2: case 3: {
			/* Take up to arg + 1 chains, completing each (a malformed one with 0). */
			for (unsigned k = 0; k <= arg; k++) {
				int rc = vq_pop(vq, &g_chain);
				if (rc == 0 || rc == -EIO)
					break;
				if (rc == 1)
					check_chain(vq, &g_chain);
				else if (rc != -EINVAL || g_chain.head >= vq->num)
					abort();
				if (vq->inuse > vq->num)
					abort();
				vq_push(vq, g_chain.head,
					rc == 1 ? (uint32_t)(g_chain.in_bytes & 0xffff) : 0);
				(void)vq_has_work(vq);
			}
			break;
		}
		case 4:   /* the driver publishes more (or fewer) entries */
			vq->avail->idx = (uint16_t)(vq->avail->idx + arg - 8);
			break;
		case 5:   /* the driver scribbles on the used index */
			vq->used->idx = (uint16_t)(vq->used->idx ^ (1u << (arg & 15)));
			break;
		case 6:
			(void)vq_should_notify(vq);
			break;
		case 7:   /* the back-end restarts on the same rings */
			start(vq, (uint16_t)(base + arg), inflight);
			break;
		}
	}
	return 0;
}

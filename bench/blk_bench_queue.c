/* blk_bench_queue.c — the IO loop of one virtqueue of the target benchmark (see
 * blk_bench_queue.h). Per pass: every completed request is recorded and its slot re-filled
 * at once, the avail index is published once per batch, and the device is kicked only when
 * it asks for kicks. */
#include "blk_bench_queue.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>

#include "vring_client.h"

#define HDR_BYTES 32u   /* 16 bytes of virtio_blk_outhdr, the status byte at +16 */

uint64_t bq_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t data_step(uint32_t max_bs)
{
	return ((uint64_t)max_bs + 4095) & ~4095ull;
}

size_t bq_bytes(uint16_t num, unsigned slots_n, uint32_t max_bs)
{
	size_t avail_off, used_off;
	size_t ring = vuc_vring_layout(num, &avail_off, &used_off);
	size_t data = (ring + (size_t)slots_n * HDR_BYTES + 4095) & ~(size_t)4095;
	return data + (size_t)slots_n * data_step(max_bs);
}

size_t bq_layout(struct bq *q, uint8_t *mem, uint64_t base, uint16_t num, unsigned slots_n,
		 uint32_t max_bs)
{
	size_t avail_off, used_off;
	size_t ring = vuc_vring_layout(num, &avail_off, &used_off);
	q->mem = mem;
	q->num = num;
	q->desc_gpa = base;
	q->avail_gpa = base + avail_off;
	q->used_gpa = base + used_off;
	q->desc = (struct vring_desc *)(mem + q->desc_gpa);
	q->avail = (struct vring_avail *)(mem + q->avail_gpa);
	q->used = (struct vring_used *)(mem + q->used_gpa);
	q->slots_n = slots_n;
	uint64_t hdrs = base + ring;
	uint64_t data = (hdrs + (uint64_t)slots_n * HDR_BYTES + 4095) & ~4095ull;
	uint64_t step = data_step(max_bs);
	for (unsigned i = 0; i < slots_n; i++) {
		q->slots[i].hdr_gpa = hdrs + (uint64_t)i * HDR_BYTES;
		q->slots[i].data_gpa = data + (uint64_t)i * step;
	}
	return (size_t)(data + (uint64_t)slots_n * step - base);
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static uint64_t next_offset(struct bq *q, const struct bq_params *p)
{
	uint64_t blocks = p->range_bytes / p->bs;
	if (p->random)
		return p->range_off + (xorshift(&q->rng) % blocks) * p->bs;
	uint64_t off = q->seq_next;
	q->seq_next += p->bs;
	if (q->seq_next + p->bs > p->range_off + p->range_bytes)
		q->seq_next = p->range_off;
	return off;
}

/* The three descriptors of slot s, once per run; only the header changes per request. */
static void slot_init(struct bq *q, unsigned s, const struct bq_params *p)
{
	uint16_t d = (uint16_t)(3 * s);
	const struct bq_slot *sl = &q->slots[s];
	uint16_t dw = p->type == VIRTIO_BLK_T_IN ? VRING_DESC_F_WRITE : 0;
	q->desc[d] = (struct vring_desc){ sl->hdr_gpa, 16, VRING_DESC_F_NEXT, (uint16_t)(d + 1) };
	q->desc[d + 1] = (struct vring_desc){ sl->data_gpa, p->bs, VRING_DESC_F_NEXT | dw,
					      (uint16_t)(d + 2) };
	q->desc[d + 2] = (struct vring_desc){ sl->hdr_gpa + 16, 1, VRING_DESC_F_WRITE, 0 };
}

static void slot_submit(struct bq *q, unsigned s, const struct bq_params *p, uint64_t now)
{
	struct bq_slot *sl = &q->slots[s];
	uint64_t off = next_offset(q, p);
	*(struct virtio_blk_outhdr *)(q->mem + sl->hdr_gpa) =
		(struct virtio_blk_outhdr){ .type = p->type, .sector = off / 512 };
	q->mem[sl->hdr_gpa + 16] = 0xaa;
	sl->submit_ns = now;
	vuc_avail_put(q->avail, q->num, q->avail_idx++, (uint16_t)(3 * s));
}

static void publish(struct bq *q)
{
	vuc_avail_publish(q->avail, q->avail_idx);
	if (vuc_kick_wanted(q->used))
		(void)eventfd_write(q->kick_fd, 1);
}

/* Event mode: blocks on the call eventfd for up to ms; the time it waited. */
static uint64_t wait_call(struct bq *q, int ms)
{
	uint64_t t0 = bq_now_ns();
	struct pollfd pf = { q->call_fd, POLLIN, 0 };
	if (poll(&pf, 1, ms) > 0) {
		eventfd_t v;
		(void)eventfd_read(q->call_fd, &v);
	}
	return bq_now_ns() - t0;
}

int bq_run(struct bq *q, const struct bq_params *p)
{
	q->ios = q->errors = q->bytes = q->elapsed_ns = q->wait_ns = q->run_ns = 0;
	memset(&q->hist, 0, sizeof(q->hist));
	q->err[0] = '\0';
	q->seq_next = p->range_off;
	if (p->qd * 3 > q->num || p->qd > q->slots_n || p->range_bytes < p->bs) {
		snprintf(q->err, sizeof(q->err), "queue depth %u does not fit", p->qd);
		return -1;
	}
	/* Poll mode: the device need not signal (it may anyway); event mode: it must. */
	__atomic_store_n(&q->avail->flags, p->event ? 0 : VRING_AVAIL_F_NO_INTERRUPT,
			 __ATOMIC_RELEASE);
	eventfd_t drain;
	(void)eventfd_read(q->call_fd, &drain);
	for (unsigned s = 0; s < p->qd; s++)
		slot_init(q, s, p);

	uint64_t start = bq_now_ns(), end = start + p->duration_ns;
	uint64_t seq_total = p->duration_ns ? 0 : p->range_bytes / p->bs, submitted = 0;
	unsigned outstanding = 0;
	for (unsigned s = 0; s < p->qd && (!seq_total || submitted < seq_total); s++) {
		slot_submit(q, s, p, start);
		outstanding++;
		submitted++;
	}
	publish(q);
	uint64_t last_progress = start, idle_since = 0, done_at = start;
	unsigned spins = 0;
	bool stopping = false;
	while (outstanding) {
		uint16_t u = vuc_used_idx(q->used);
		if (u == q->last_used) {
			uint64_t now;
			if (p->event) {
				q->wait_ns += wait_call(q, 50);
				now = bq_now_ns();
			} else {
				if (!idle_since)
					idle_since = bq_now_ns();
				if (++spins & 1023)
					continue;
				now = bq_now_ns();
			}
			if (now - last_progress > p->stall_ns) {
				snprintf(q->err, sizeof(q->err), "queue %u: the target stopped "
					 "answering (%u requests outstanding for %.1f s)", q->index,
					 outstanding, (double)(now - last_progress) / 1e9);
				return -1;
			}
			continue;
		}
		uint64_t now = bq_now_ns();
		if (idle_since) {
			q->wait_ns += now - idle_since;
			idle_since = 0;
		}
		last_progress = now;
		if (p->duration_ns && now >= end)
			stopping = true;
		while (q->last_used != u) {
			struct vring_used_elem e = q->used->ring[q->last_used++ % q->num];
			unsigned s = e.id / 3;
			if (e.id % 3 || s >= p->qd) {
				snprintf(q->err, sizeof(q->err), "queue %u: used id %u is no request "
					 "head", q->index, e.id);
				return -1;
			}
			struct bq_slot *sl = &q->slots[s];
			uint8_t status = __atomic_load_n(q->mem + sl->hdr_gpa + 16, __ATOMIC_ACQUIRE);
			if (status != VIRTIO_BLK_S_OK)
				q->errors++;
			lhist_add(&q->hist, now - sl->submit_ns);
			if (!p->duration_ns || now < end) {
				q->ios++;
				q->bytes += p->bs;
				done_at = now;
			}
			outstanding--;
			if (!stopping && (!seq_total || submitted < seq_total)) {
				slot_submit(q, s, p, now);
				outstanding++;
				submitted++;
			}
		}
		publish(q);
	}
	q->run_ns = bq_now_ns() - start;
	q->elapsed_ns = (p->duration_ns ? (done_at < end ? done_at : end) : done_at) - start;
	if (q->errors) {
		snprintf(q->err, sizeof(q->err), "queue %u: %llu requests failed", q->index,
			 (unsigned long long)q->errors);
		return -1;
	}
	return 0;
}

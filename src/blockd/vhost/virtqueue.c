/* virtqueue.c — the device side of a split virtqueue (see virtqueue.h). Every index read from
 * guest memory is reduced or checked before use; every buffer is translated through the
 * memory table with its full length; a chain may visit at most as many descriptors as its
 * table holds, which also catches loops.
 * Owns the rule "In-flight requests survive a target crash" of docs/architecture.md (bug class 3).
 */
#include "virtqueue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vhost_log.h"

#define INDIRECT_MAX_DESC VIRTQUEUE_MAX_SIZE

static inline uint16_t read_u16_acquire(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void write_u16_release(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* EVENT_IDX: the driver's used_event sits after the avail ring, our avail_event after the
 * used ring. */
static inline uint16_t *used_event_ptr(struct virtqueue *vq)
{
	return &vq->avail->ring[vq->num];
}

static inline uint16_t *avail_event_ptr(struct virtqueue *vq)
{
	return (uint16_t *)&vq->used->ring[vq->num];
}

/* A write of len bytes at p in the used ring, logged when the ring is logged (after it). */
static inline void log_used_write(struct virtqueue *vq, const void *p, uint64_t len)
{
	if (vq->log)
		vhost_log_mark(vq->log,
			       vq->log_used_gpa + (uint64_t)((const char *)p - (const char *)vq->used),
			       len);
}

void vq_set_used_log(struct virtqueue *vq, const struct vhost_shm *log, uint64_t log_used_gpa)
{
	vq->log = log;
	vq->log_used_gpa = log_used_gpa;
}

uint64_t vq_used_ring_bytes(uint16_t num)
{
	return sizeof(struct vring_used) + (uint64_t)num * sizeof(struct vring_used_elem) + 2;
}

uint64_t vq_inflight_queue_size(uint16_t queue_size)
{
	uint64_t bytes = sizeof(struct inflight_queue_split) +
			 (uint64_t)queue_size * sizeof(struct inflight_desc_split);
	return (bytes + INFLIGHT_ALIGN - 1) / INFLIGHT_ALIGN * INFLIGHT_ALIGN;
}

int vq_setup(struct virtqueue *vq, const struct vhost_mem *mem, uint16_t num,
	     const struct vq_ring_addrs *addrs, bool event_idx, bool indirect)
{
	if (num == 0 || num > VIRTQUEUE_MAX_SIZE || (num & (num - 1)))
		return -EINVAL;
	uint64_t desc_len = (uint64_t)num * sizeof(struct vring_desc);
	uint64_t avail_len = sizeof(struct vring_avail) + (uint64_t)num * 2 + 2;
	uint64_t used_len = vq_used_ring_bytes(num);
	struct vring_desc *desc = vhost_uva_to_host(mem, addrs->desc_uva, desc_len);
	struct vring_avail *avail = vhost_uva_to_host(mem, addrs->avail_uva, avail_len);
	struct vring_used *used = vhost_uva_to_host(mem, addrs->used_uva, used_len);
	if (!desc || !avail || !used || (addrs->desc_uva & 15) || (addrs->avail_uva & 1) ||
	    (addrs->used_uva & 3))
		return -EINVAL;
	vq->num = num;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->mem = mem;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	return 0;
}

static int compare_counter(const void *a, const void *b, void *arg)
{
	const struct inflight_desc_split *d = arg;
	uint64_t ca = d[*(const uint16_t *)a].counter, cb = d[*(const uint16_t *)b].counter;
	return ca < cb ? -1 : ca > cb;
}

int vq_start(struct virtqueue *vq, uint16_t base, struct inflight_queue_split *inflight)
{
	vq->used_idx = read_u16_acquire(&vq->used->idx);
	vq->last_avail_idx = base;
	vq->signalled_used_valid = false;
	vq->inuse = 0;
	vq->resubmit_num = vq->resubmit_pos = 0;
	vq->counter = 0;
	vq->inflight = inflight;
	if (!inflight)
		return 0;

	if (inflight->version != INFLIGHT_VERSION || inflight->desc_num != vq->num) {
		/* A fresh region: nothing was in flight. */
		memset(inflight->desc, 0, sizeof(inflight->desc[0]) * vq->num);
		inflight->desc_num = vq->num;
		inflight->used_idx = vq->used_idx;
		inflight->last_batch_head = 0;
		__atomic_store_n(&inflight->version, INFLIGHT_VERSION, __ATOMIC_RELEASE);
		return 0;
	}

	/* The back-end died between publishing a used element and clearing its inflight
	 * mark: that head (the last batch head) is complete. */
	if (inflight->used_idx != vq->used_idx) {
		if (inflight->last_batch_head < vq->num)
			inflight->desc[inflight->last_batch_head].inflight = 0;
		__atomic_thread_fence(__ATOMIC_RELEASE);
		inflight->used_idx = vq->used_idx;
	}

	uint64_t max_counter = 0;
	for (uint16_t i = 0; i < vq->num; i++) {
		if (inflight->desc[i].inflight != 1)
			continue;
		vq->resubmit[vq->resubmit_num++] = i;
		if (inflight->desc[i].counter > max_counter)
			max_counter = inflight->desc[i].counter;
	}
	qsort_r(vq->resubmit, vq->resubmit_num, sizeof(vq->resubmit[0]), compare_counter,
		inflight->desc);
	vq->counter = max_counter + 1;
	vq->inuse = vq->resubmit_num;
	/* Every avail entry below used_idx + inuse has been taken: the in-flight ones are
	 * resubmitted from the list, the rest were completed. */
	vq->last_avail_idx = (uint16_t)(vq->used_idx + vq->resubmit_num);
	return vq->resubmit_num;
}

bool vq_has_work(const struct virtqueue *vq)
{
	if (vq->resubmit_pos < vq->resubmit_num)
		return true;
	return read_u16_acquire(&vq->avail->idx) != vq->last_avail_idx;
}

/* Appends the translation of [gpa, gpa+len) to the chain's iovecs (a buffer may span
 * regions) and returns how many were added, or -EINVAL. */
static int add_buffer(struct vq_chain *c, const struct vhost_mem *mem, uint64_t gpa,
		      uint32_t len)
{
	int added = 0;
	uint64_t left = len;
	while (left > 0) {
		unsigned slot = c->n_out + c->n_in + (unsigned)added;
		if (slot >= VQ_CHAIN_MAX_IOV || gpa + left < gpa)
			return -EINVAL;
		uint64_t piece;
		void *p = vhost_gpa_to_host_part(mem, gpa, left, &piece);
		if (!p)
			return -EINVAL;
		c->iov[slot] = (struct iovec){ .iov_base = p, .iov_len = (size_t)piece };
		gpa += piece;
		left -= piece;
		added++;
	}
	return added;
}

static int add_desc(struct vq_chain *c, const struct vhost_mem *mem, const struct vring_desc *d)
{
	bool writable = d->flags & VRING_DESC_F_WRITE;
	if (!writable && c->n_in > 0)
		return -EINVAL;              /* device-readable after device-writable */
	int added = add_buffer(c, mem, d->addr, d->len);
	if (added < 0)
		return added;
	if (writable) {
		c->n_in = (uint16_t)(c->n_in + added);
		c->in_bytes += d->len;
	} else {
		c->n_out = (uint16_t)(c->n_out + added);
		c->out_bytes += d->len;
	}
	return 0;
}

/* Walks the chain that starts at head in table[0..size). */
static int walk_chain(struct vq_chain *c, const struct vhost_mem *mem,
		      const struct vring_desc *table, uint32_t size, uint16_t idx, bool top,
		      bool indirect_ok)
{
	for (uint32_t visited = 0;; visited++) {
		if (idx >= size || visited >= size)
			return -EINVAL;      /* out of range, or a loop */
		struct vring_desc d = table[idx];
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!top || !indirect_ok || (d.flags & VRING_DESC_F_NEXT) ||
			    d.len == 0 || d.len % sizeof(struct vring_desc) ||
			    d.len / sizeof(struct vring_desc) > INDIRECT_MAX_DESC)
				return -EINVAL;
			const struct vring_desc *ind = vhost_gpa_to_host(mem, d.addr, d.len);
			if (!ind)
				return -EINVAL;
			return walk_chain(c, mem, ind, d.len / sizeof(struct vring_desc), 0, false,
					  false);
		}
		int rc = add_desc(c, mem, &d);
		if (rc < 0)
			return rc;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
}

static void mark_inflight(struct virtqueue *vq, uint16_t head)
{
	if (!vq->inflight)
		return;
	vq->inflight->desc[head].counter = vq->counter++;
	__atomic_store_n(&vq->inflight->desc[head].inflight, 1, __ATOMIC_RELEASE);
}

int vq_pop(struct virtqueue *vq, struct vq_chain *chain)
{
	uint16_t head;
	if (vq->resubmit_pos < vq->resubmit_num) {
		head = vq->resubmit[vq->resubmit_pos++];
	} else {
		uint16_t avail_idx = read_u16_acquire(&vq->avail->idx);
		if (avail_idx == vq->last_avail_idx)
			return 0;
		if ((uint16_t)(avail_idx - vq->last_avail_idx) > vq->num)
			return -EIO;         /* the driver claims more entries than the ring has */
		head = vq->avail->ring[vq->last_avail_idx % vq->num];
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (head >= vq->num)
			return -EIO;
		vq->last_avail_idx++;
		if (vq->event_idx) {
			write_u16_release(avail_event_ptr(vq), vq->last_avail_idx);
			log_used_write(vq, avail_event_ptr(vq), sizeof(uint16_t));
		}
		vq->inuse++;
		mark_inflight(vq, head);
	}
	chain->head = head;
	chain->n_out = chain->n_in = 0;
	chain->out_bytes = chain->in_bytes = 0;
	return walk_chain(chain, vq->mem, vq->desc, vq->num, head, true, vq->indirect) < 0
		       ? -EINVAL
		       : 1;
}

void vq_push(struct virtqueue *vq, uint16_t head, uint32_t len)
{
	if (vq->inflight)
		vq->inflight->last_batch_head = head;
	struct vring_used_elem *e = &vq->used->ring[vq->used_idx % vq->num];
	e->id = head;
	e->len = len;
	vq->used_idx++;
	write_u16_release(&vq->used->idx, vq->used_idx);
	log_used_write(vq, e, sizeof(*e));
	log_used_write(vq, &vq->used->idx, sizeof(vq->used->idx));
	if (vq->inflight) {
		__atomic_store_n(&vq->inflight->desc[head].inflight, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&vq->inflight->used_idx, vq->used_idx, __ATOMIC_RELEASE);
	}
	if (vq->inuse)
		vq->inuse--;
}

void vq_notify_next(struct virtqueue *vq)
{
	vq->signalled_used_valid = false;
}

bool vq_should_notify(struct virtqueue *vq)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx) {
		bool suppressed = read_u16_acquire(&vq->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT;
		return !suppressed;
	}
	uint16_t old = vq->signalled_used;
	bool valid = vq->signalled_used_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;
	if (!valid)
		return true;
	if (old == vq->used_idx)
		return false;
	return vring_need_event(read_u16_acquire(used_event_ptr(vq)), vq->used_idx, old);
}

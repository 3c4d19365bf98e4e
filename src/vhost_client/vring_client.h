/* vring_client.h — the driver's side of a split virtqueue, as the vhost front-ends of the
 * tests and the benchmark fill it: where the rings sit in guest memory, an entry put in the
 * avail ring and the index published (release), the used index read (acquire), and whether
 * the device asked not to be kicked. Inline: the benchmark calls these per request. */
#ifndef BERTH_VRING_CLIENT_H
#define BERTH_VRING_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio_spec.h"

/* Offsets of the three rings of a queue of num entries laid out from 0 (desc 16-aligned,
 * avail 2-aligned, used 4096-aligned); the bytes the queue takes. */
static inline size_t vuc_vring_layout(uint16_t num, size_t *avail_off, size_t *used_off)
{
	size_t desc = (size_t)num * sizeof(struct vring_desc);
	*avail_off = desc;
	size_t avail_end = desc + 4 + 2 * (size_t)num + 2;       /* flags, idx, ring, used_event */
	*used_off = (avail_end + 4095) & ~(size_t)4095;
	size_t used = 4 + (size_t)num * sizeof(struct vring_used_elem) + 2;
	return (*used_off + used + 4095) & ~(size_t)4095;
}

/* Puts head at avail position idx (not yet visible to the device). */
static inline void vuc_avail_put(struct vring_avail *a, uint16_t num, uint16_t idx, uint16_t head)
{
	a->ring[idx % num] = head;
}

/* Makes every entry before new_idx visible to the device. */
static inline void vuc_avail_publish(struct vring_avail *a, uint16_t new_idx)
{
	__atomic_store_n(&a->idx, new_idx, __ATOMIC_RELEASE);
}

static inline uint16_t vuc_used_idx(const struct vring_used *u)
{
	return __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
}

/* The device wants a kick for what was just published (VRING_USED_F_NO_NOTIFY clear). */
static inline bool vuc_kick_wanted(const struct vring_used *u)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return !(__atomic_load_n(&u->flags, __ATOMIC_RELAXED) & VRING_USED_F_NO_NOTIFY);
}

#endif

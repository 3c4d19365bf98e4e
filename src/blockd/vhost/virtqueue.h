/* virtqueue.h — a split virtqueue as the device side sees it: taking descriptor chains from
 * the avail ring (every address translated and bounds-checked, indirect tables, loops and
 * over-long chains refused), publishing completions to the used ring, EVENT_IDX notification
 * suppression, and the vhost-user inflight region that lets a restarted back-end resubmit
 * exactly the requests that were in flight when it died. Single-threaded: one reactor owns a
 * started queue. */
#ifndef BLOCKD_VIRTQUEUE_H
#define BLOCKD_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vhost_mem.h"
#include "virtio_spec.h"

#define VQ_CHAIN_MAX_IOV 260

struct vq_chain {
	uint16_t head;
	uint16_t n_out;          /* device-readable iovecs, first */
	uint16_t n_in;           /* device-writable iovecs, after them */
	uint64_t out_bytes, in_bytes;
	struct iovec iov[VQ_CHAIN_MAX_IOV];
};

struct virtqueue {
	uint16_t num;                    /* 0: not configured */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	const struct vhost_mem *mem;
	bool event_idx, indirect;

	uint16_t last_avail_idx;
	uint16_t used_idx;               /* our copy of used->idx */
	uint16_t signalled_used;
	bool signalled_used_valid;
	uint16_t inuse;                  /* heads taken and not yet completed */

	/* Dirty logging of the used ring (live migration): with log set, every write to the
	 * used ring (elements, idx, avail_event) is marked at log_used_gpa + its offset. */
	const struct vhost_shm *log;
	uint64_t log_used_gpa;

	struct inflight_queue_split *inflight;   /* NULL without INFLIGHT_SHMFD */
	uint64_t counter;
	uint16_t resubmit[VIRTQUEUE_MAX_SIZE];
	uint16_t resubmit_num, resubmit_pos;
};

struct vq_ring_addrs {
	uint64_t desc_uva, avail_uva, used_uva;
};

/* Sets up the rings of a queue of num entries (power of two, <= 1024) in mem. -EINVAL when
 * a ring is outside the table or num is invalid. */
int vq_setup(struct virtqueue *vq, const struct vhost_mem *mem, uint16_t num,
	     const struct vq_ring_addrs *addrs, bool event_idx, bool indirect);

/* Called when the queue starts, after vq_setup and the base index. With an inflight region:
 * repairs the one entry a crash can leave half-published, queues every head still marked in
 * flight for resubmission (oldest first) and recomputes last_avail_idx. Returns how many
 * heads will be resubmitted. */
int vq_start(struct virtqueue *vq, uint16_t base, struct inflight_queue_split *inflight);

/* Logs the used ring's writes in log at log_used_gpa from now on (log NULL: stops). The
 * caller keeps log mapped while it is set. */
void vq_set_used_log(struct virtqueue *vq, const struct vhost_shm *log, uint64_t log_used_gpa);
/* Bytes of the used ring of a queue of num entries, from its start to the end of avail_event:
 * what a used-ring log address must cover. */
uint64_t vq_used_ring_bytes(uint16_t num);

/* Takes the next chain (resubmissions first). 1: *chain filled; 0: nothing available;
 * -EINVAL: the chain is malformed — chain->head is set (when it was readable) and the
 * caller completes it with vq_push(..., 0) so that the guest gets it back; -EIO: the avail
 * ring itself is corrupt (head out of range): the caller should reset the connection. */
int vq_pop(struct virtqueue *vq, struct vq_chain *chain);

/* Publishes the completion of head with len bytes written to guest memory. */
void vq_push(struct virtqueue *vq, uint16_t head, uint32_t len);

/* Should the guest be interrupted for the completions published since the last call? */
bool vq_should_notify(struct virtqueue *vq);
/* The next vq_should_notify says yes (unless the driver turned interrupts off without
 * EVENT_IDX): for a guest that may have missed a signal. vq_start implies it. */
void vq_notify_next(struct virtqueue *vq);

/* True when the avail ring holds entries not taken yet (or resubmissions are pending). */
bool vq_has_work(const struct virtqueue *vq);

/* Size of one queue's slice of the inflight region, and its initialiser. */
uint64_t vq_inflight_queue_size(uint16_t queue_size);

#endif

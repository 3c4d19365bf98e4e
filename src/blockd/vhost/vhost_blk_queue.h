/* vhost_blk_queue.h — one started virtqueue of a vhost-user-blk session, served on an IO
 * reactor: virtio-blk requests (IN, OUT, FLUSH, GET_ID, DISCARD, WRITE_ZEROES) are checked
 * and turned into bdev IO, completions are published to the used ring and the guest is
 * notified once per poll. The control thread starts and stops queues; everything else
 * happens on the queue's reactor, reached by message. */
#ifndef BLOCKD_VHOST_BLK_QUEUE_H
#define BLOCKD_VHOST_BLK_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "bdev.h"
#include "reactor.h"
#include "vhost_mem.h"
#include "virtqueue.h"

/* The largest request the queue accepts (bytes of data). */
#define VHOST_BLK_MAX_REQUEST (32u << 20)
#define VHOST_BLK_SEG_MAX 126u

/* The default deadline of a drain: requests still outstanding then are answered IOERR. */
#define BLK_QUEUE_DRAIN_TIMEOUT_MS 5000u

/* Dirty logging (live migration). With log set, every guest page the queue writes (data
 * read from the bdev, GET_ID's answer, status bytes) is marked in it by guest-physical
 * address, after the write; with used_gpa_valid too, so is every write to the used ring, at
 * used_gpa + its offset in the ring. log NULL: nothing is logged. */
struct blk_queue_log {
	struct vhost_shm *log;             /* the queue takes a reference */
	bool used_gpa_valid;
	uint64_t used_gpa;
};

struct blk_queue_config {
	struct reactor *reactor;
	struct reactor *control;           /* where stop completions are delivered */
	struct bdev *bdev;
	bool readonly;
	const char *name;                  /* "<ctrlr>.q<index>", for logs */
	struct vhost_mem *mem;             /* the queue takes a reference */
	struct vhost_shm *inflight_shm;    /* may be NULL; the queue takes a reference */
	struct inflight_queue_split *inflight;   /* this queue's slice of inflight_shm */
	uint16_t num, base;
	struct vq_ring_addrs addrs;
	bool event_idx, indirect;
	int kick_fd, call_fd;              /* the queue owns them from now on (-1: none) */
	struct blk_queue_log log;          /* dirty logging from the start */
	uint32_t drain_timeout_ms;         /* BLK_STOP_DRAIN's deadline (0: the default) */
};

struct blk_queue;

/* Sets the rings up (checked against the memory table), recovers in-flight requests from the
 * inflight region, and hands the queue to its reactor. -EINVAL when the rings are outside
 * guest memory, -ENOMEM. On failure the fds stay the caller's. *resubmitted: how many
 * requests the inflight region carried over from a previous back-end. */
int blk_queue_start(const struct blk_queue_config *cfg, struct blk_queue **out,
		    unsigned *resubmitted);

enum blk_stop_mode {
	BLK_STOP_DRAIN,    /* stop taking requests, finish the outstanding ones, then stop; those
			    * not finished by the drain deadline are answered IOERR (logged) and
			    * their bdev IO aborted, so a drain always ends */
	BLK_STOP_ORPHAN,   /* the front-end is gone: drop outstanding requests (aborting what
			    * the bdev holds), touch guest memory no more */
	BLK_STOP_FAIL,     /* fail outstanding requests to the guest with IOERR, then orphan */
};

/* fn(arg, last_avail_idx) runs on the control reactor once the queue no longer touches the
 * rings; fn must then call blk_queue_release. Until then the caller may still call
 * blk_queue_escalate (and nothing else); afterwards it must not use q, which frees itself
 * once its last bdev IO has returned. With fn NULL the queue is released at once. */
typedef void (*blk_queue_stopped_fn)(void *arg, uint16_t last_avail_idx);
void blk_queue_stop(struct blk_queue *q, enum blk_stop_mode mode, blk_queue_stopped_fn fn,
		    void *arg);
/* A BLK_STOP_DRAIN still in progress becomes mode (ORPHAN or FAIL): the front-end is gone. */
void blk_queue_escalate(struct blk_queue *q, enum blk_stop_mode mode);
void blk_queue_release(struct blk_queue *q);

/* Replaces the call eventfd (SET_VRING_CALL on a running queue); the old one is closed. */
void blk_queue_set_call_fd(struct blk_queue *q, int fd);

/* Replaces the queue's dirty logging (on its reactor, after the writes it has made so far
 * were logged under the previous setting); fn(arg) then runs on the control reactor, after
 * which no write of the queue goes to the previous log. fn runs also when the queue is
 * stopping or stopped (never after blk_queue_release). -ENOMEM: nothing was sent. */
typedef void (*blk_queue_done_fn)(void *arg);
int blk_queue_set_log(struct blk_queue *q, const struct blk_queue_log *log,
		      blk_queue_done_fn fn, void *arg);

/* Requests taken from the guest and not yet answered (any thread; relaxed). */
unsigned blk_queue_inflight(const struct blk_queue *q);

/* Queues (started and not yet freed) in the process: a stopped queue lives on until the
 * bdev has returned its last IO. */
unsigned blk_queue_live(void);

/* Fills the virtio-blk config space for a bdev. */
void vhost_blk_fill_config(struct virtio_blk_config *cfg, const struct bdev *b,
			   uint16_t num_queues);

#endif

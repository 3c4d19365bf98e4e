/* blk_bench_queue.h — one virtqueue of the target benchmark and the loop that drives it
 * (one client thread per queue): a fixed set of request slots (three descriptors each:
 * header, data, status) kept at a queue depth, completions found by polling the used ring
 * or by waiting on the call eventfd, each request's latency recorded, and the share of the
 * thread's time not spent waiting ("client busy"). A target that stops answering ends the
 * run with an error after the stall deadline. */
#ifndef BENCH_BLK_BENCH_QUEUE_H
#define BENCH_BLK_BENCH_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "latency_hist.h"
#include "virtio_spec.h"

struct bq_slot {
	uint64_t submit_ns;
	uint64_t hdr_gpa, data_gpa;
};

struct bq {
	unsigned index;
	uint16_t num;                    /* ring entries */
	uint8_t *mem;                    /* guest memory; gpa 0 */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	int kick_fd, call_fd;
	uint16_t avail_idx, last_used;
	unsigned slots_n;                /* request slots (the largest queue depth) */
	struct bq_slot *slots;
	uint64_t rng;
	uint64_t seq_next;               /* next byte offset of a sequential pattern */
	/* results of the last bq_run */
	uint64_t ios, errors, bytes;
	uint64_t elapsed_ns;             /* start to the end of the measured window */
	uint64_t run_ns, wait_ns;        /* the whole loop (drain included), time spent waiting */
	struct lhist hist;
	char err[160];
};

struct bq_params {
	uint32_t type;                   /* VIRTIO_BLK_T_IN / _OUT */
	bool random;
	uint32_t bs;
	unsigned qd;
	uint64_t range_bytes;            /* offsets in [range_off, range_off + range_bytes) */
	uint64_t range_off;
	bool event;                      /* wait on the call eventfd instead of polling */
	uint64_t duration_ns;            /* 0: until one sequential pass of the range is done */
	uint64_t stall_ns;               /* no completion for this long: the run fails */
};

/* The bytes of guest memory a queue of num entries and slots_n slots of max_bs takes. */
size_t bq_bytes(uint16_t num, unsigned slots_n, uint32_t max_bs);
/* Lays the queue out at gpa base of mem (rings, then slots_n request slots of max_bs data
 * each); the bytes it takes from base. */
size_t bq_layout(struct bq *q, uint8_t *mem, uint64_t base, uint16_t num, unsigned slots_n,
		 uint32_t max_bs);
/* Runs p on the queue: 0, or -1 with q->err set (a stall, a status the target should not
 * give). Results in q. */
int bq_run(struct bq *q, const struct bq_params *p);

uint64_t bq_now_ns(void);

#endif

/* vhost_blk_queue.c — a virtqueue of a vhost-user-blk controller on its reactor (see
 * vhost_blk_queue.h). Requests live in per-queue tasks indexed by descriptor head, allocated
 * when the queue starts: the IO path allocates nothing. Every request is checked before it
 * reaches the bdev (header, lengths, alignment, range, read-only); a bad one is answered
 * VIRTIO_BLK_S_IOERR and the queue goes on.
 * Owns the rule "Quiesce on disconnect" of docs/architecture.md (bug class 1).
 * Owns the rule "Bounded drain" of docs/architecture.md (bug class 4).
 */
#include "vhost_blk_queue.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "iov.h"
#include "log.h"
#include "vhost_log.h"

#define POLL_BATCH 64u

struct blk_task {
	struct blk_queue *q;
	struct bdev_io *io;          /* while the bdev has it */
	struct blk_task *next;       /* retry list (bdev pool was empty) */
	uint8_t *status;             /* the request's status byte in guest memory */
	uint32_t used_len;
	uint16_t head;
	bool busy;                   /* taken from the guest, not answered yet */
	enum bdev_io_type type;
	uint64_t offset_blocks, num_blocks;
	int iovcnt;
	struct iovec iov[BDEV_IO_MAX_IOV];
};

enum queue_state { Q_RUNNING, Q_DRAINING, Q_ORPHANED };

struct blk_queue {
	char name[96];
	struct reactor *reactor, *control;
	struct bdev *bdev;
	uint32_t block_size;
	uint64_t num_blocks;
	bool readonly;

	struct virtqueue vq;
	struct vhost_mem *mem;
	struct vhost_shm *shm;
	int kick_fd, call_fd;
	struct reactor_fd *kick_watch;
	struct reactor_poller *poller;

	struct blk_task *tasks;      /* [vq.num], indexed by head */
	struct blk_task *retry_head, *retry_tail;
	unsigned outstanding;        /* busy tasks */
	unsigned bdev_ios;           /* tasks the bdev still has (the queue lives until 0) */
	_Atomic unsigned visible;    /* outstanding, for vhost_get_controllers */

	struct vhost_shm *log;       /* dirty logging (blk_queue_log); NULL: none */
	struct reactor_timer drain_timer;
	bool drain_timer_armed;
	uint64_t drain_timeout_ns;

	enum queue_state state;
	bool notify_pending, broken, stop_reported;
	bool released;               /* the control thread let go (blk_queue_release) */
	enum blk_stop_mode stop_mode;
	blk_queue_stopped_fn stopped_fn;
	void *stopped_arg;

	struct vq_chain chain;       /* scratch for vq_pop */
};

static _Atomic unsigned g_live_queues;

unsigned blk_queue_live(void)
{
	return atomic_load(&g_live_queues);
}

static void queue_set_outstanding(struct blk_queue *q, unsigned n)
{
	q->outstanding = n;
	atomic_store_explicit(&q->visible, n, memory_order_relaxed);
}

unsigned blk_queue_inflight(const struct blk_queue *q)
{
	return atomic_load_explicit(&q->visible, memory_order_relaxed);
}

/* ---------------------------------------------------------------- config space */

void vhost_blk_fill_config(struct virtio_blk_config *cfg, const struct bdev *b,
			   uint16_t num_queues)
{
	uint32_t bs = bdev_block_size(b);
	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = bdev_num_blocks(b) * (bs / VIRTIO_BLK_SECTOR_SIZE);
	cfg->size_max = VHOST_BLK_MAX_REQUEST / VHOST_BLK_SEG_MAX / 4096 * 4096;
	cfg->seg_max = VHOST_BLK_SEG_MAX;
	cfg->blk_size = bs;
	cfg->num_queues = num_queues;
	cfg->max_discard_sectors = VHOST_BLK_MAX_REQUEST / VIRTIO_BLK_SECTOR_SIZE;
	cfg->max_discard_seg = 1;
	cfg->discard_sector_alignment = bs / VIRTIO_BLK_SECTOR_SIZE;
	cfg->max_write_zeroes_sectors = VHOST_BLK_MAX_REQUEST / VIRTIO_BLK_SECTOR_SIZE;
	cfg->max_write_zeroes_seg = 1;
}

/* ---------------------------------------------------------------- completion */

static void queue_maybe_free(struct blk_queue *q);
static void queue_finish_drain(struct blk_queue *q);

static int flush_notify(struct blk_queue *q)
{
	if (!q->notify_pending)
		return 0;
	q->notify_pending = false;
	if (q->call_fd >= 0 && vq_should_notify(&q->vq))
		eventfd_write(q->call_fd, 1);
	return 1;
}

/* Answers a request: status byte, used element. A chain too broken to hold a status byte is
 * returned with length 0. */
static void task_answer(struct blk_queue *q, struct blk_task *t, uint8_t status)
{
	uint32_t len = 0;
	if (t->status) {
		*t->status = status;
		if (q->log)
			vhost_log_mark_host(q->log, q->mem, t->status, 1);
		len = status == VIRTIO_BLK_S_OK ? t->used_len : 1;
	}
	vq_push(&q->vq, t->head, len);
	q->notify_pending = true;
	if (t->busy) {
		t->busy = false;
		queue_set_outstanding(q, q->outstanding - 1);
	}
	if (q->state == Q_DRAINING && q->outstanding == 0)
		queue_finish_drain(q);
}

/* Logs the first bytes of iov (the guest buffers a request's data went to). */
static void log_iov(struct blk_queue *q, const struct iovec *iov, int iovcnt, uint64_t bytes)
{
	for (int i = 0; i < iovcnt && bytes > 0; i++) {
		uint64_t n = iov[i].iov_len < bytes ? iov[i].iov_len : bytes;
		vhost_log_mark_host(q->log, q->mem, iov[i].iov_base, n);
		bytes -= n;
	}
}

static void task_io_done(void *arg, int status)
{
	struct blk_task *t = arg;
	struct blk_queue *q = t->q;
	t->io = NULL;
	q->bdev_ios--;
	/* A read wrote guest memory, whatever its status and even when the request was
	 * already answered (a drain deadline): its pages are logged once the data is there. */
	if (q->log && t->type == BDEV_IO_READ)
		log_iov(q, t->iov, t->iovcnt, UINT64_MAX);
	if (q->state == Q_ORPHANED || !t->busy) {
		queue_maybe_free(q);
		return;
	}
	task_answer(q, t, status == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR);
	queue_maybe_free(q);     /* the answer may have ended a drain */
}

static void retry_push(struct blk_queue *q, struct blk_task *t)
{
	t->next = NULL;
	if (q->retry_tail)
		q->retry_tail->next = t;
	else
		q->retry_head = t;
	q->retry_tail = t;
}

/* 0 submitted or answered; -ENOMEM the bdev's pool is empty (the task waits in the retry
 * list). */
static int task_submit(struct blk_queue *q, struct blk_task *t)
{
	int rc = bdev_submit_tracked(q->reactor, q->bdev, t->type, t->offset_blocks,
				     t->num_blocks, t->iovcnt ? t->iov : NULL, t->iovcnt,
				     task_io_done, t, &t->io);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		t->io = NULL;
		task_answer(q, t, VIRTIO_BLK_S_IOERR);
		return 0;
	}
	q->bdev_ios++;
	return 0;
}

static int retry_tasks(struct blk_queue *q)
{
	int work = 0;
	while (q->retry_head) {
		struct blk_task *t = q->retry_head;
		if (task_submit(q, t) == -ENOMEM)
			break;
		q->retry_head = t->next;
		if (!q->retry_head)
			q->retry_tail = NULL;
		work++;
	}
	return work;
}

static void task_start_io(struct blk_queue *q, struct blk_task *t, enum bdev_io_type type,
			  uint64_t offset_blocks, uint64_t num_blocks)
{
	t->type = type;
	t->offset_blocks = offset_blocks;
	t->num_blocks = num_blocks;
	if (q->retry_head || task_submit(q, t) == -ENOMEM)
		retry_push(q, t);
}

/* ---------------------------------------------------------------- requests */

/* The byte range [sector * 512, + len) as blocks of the bdev, or false when it is empty,
 * too big, misaligned or past the end. */
static bool sectors_to_blocks(const struct blk_queue *q, uint64_t sector, uint64_t len,
			      uint64_t *offset_blocks, uint64_t *num_blocks)
{
	uint64_t sectors_per_block = q->block_size / VIRTIO_BLK_SECTOR_SIZE;
	if (len == 0 || len > VHOST_BLK_MAX_REQUEST || len % q->block_size ||
	    sector % sectors_per_block)
		return false;
	uint64_t first = sector / sectors_per_block, count = len / q->block_size;
	if (first >= q->num_blocks || count > q->num_blocks - first)
		return false;
	*offset_blocks = first;
	*num_blocks = count;
	return true;
}

static uint8_t request_rw(struct blk_queue *q, struct blk_task *t,
			  const struct virtio_blk_outhdr *hdr, bool write)
{
	const struct vq_chain *c = &q->chain;
	uint64_t len;
	int n;
	if (write) {
		if (q->readonly)
			return VIRTIO_BLK_S_IOERR;
		len = c->out_bytes - sizeof(*hdr);
		n = iov_slice(c->iov, c->n_out, sizeof(*hdr), len, t->iov, BDEV_IO_MAX_IOV);
	} else {
		len = c->in_bytes - 1;
		n = iov_slice(c->iov + c->n_out, c->n_in, 0, len, t->iov, BDEV_IO_MAX_IOV);
	}
	uint64_t offset, count;
	if (n <= 0 || !sectors_to_blocks(q, hdr->sector, len, &offset, &count))
		return VIRTIO_BLK_S_IOERR;
	t->iovcnt = n;
	t->used_len = write ? 1 : (uint32_t)len + 1;
	task_start_io(q, t, write ? BDEV_IO_WRITE : BDEV_IO_READ, offset, count);
	return 0xff;
}

static uint8_t request_discard_or_zeroes(struct blk_queue *q, struct blk_task *t,
					 bool zeroes)
{
	const struct vq_chain *c = &q->chain;
	enum bdev_io_type type = zeroes ? BDEV_IO_WRITE_ZEROES : BDEV_IO_UNMAP;
	struct virtio_blk_discard_write_zeroes seg;
	if (!bdev_io_type_supported(q->bdev, type))
		return VIRTIO_BLK_S_UNSUPP;
	if (q->readonly)
		return VIRTIO_BLK_S_IOERR;
	/* One segment (max_discard_seg = max_write_zeroes_seg = 1). */
	if (c->out_bytes != sizeof(struct virtio_blk_outhdr) + sizeof(seg) ||
	    iov_copy_from(c->iov, c->n_out, sizeof(struct virtio_blk_outhdr), &seg,
			  sizeof(seg)) != sizeof(seg))
		return VIRTIO_BLK_S_IOERR;
	if (seg.flags & ~(zeroes ? 1u : 0u))
		return VIRTIO_BLK_S_UNSUPP;
	uint64_t offset, count;
	if (!sectors_to_blocks(q, seg.sector, (uint64_t)seg.num_sectors * VIRTIO_BLK_SECTOR_SIZE,
			       &offset, &count))
		return VIRTIO_BLK_S_IOERR;
	t->iovcnt = 0;
	t->used_len = 1;
	task_start_io(q, t, type, offset, count);
	return 0xff;
}

static uint8_t request_get_id(struct blk_queue *q, struct blk_task *t)
{
	const struct vq_chain *c = &q->chain;
	/* The serial: the bdev's name, NUL-padded, not terminated when it fills all 20. */
	char id[VIRTIO_BLK_ID_BYTES] = { 0 };
	const char *serial = bdev_name(q->bdev);
	memcpy(id, serial, strnlen(serial, sizeof(id)));
	size_t room = c->in_bytes - 1 < sizeof(id) ? c->in_bytes - 1 : sizeof(id);
	size_t copied = iov_copy_to(c->iov + c->n_out, c->n_in, 0, id, room);
	if (q->log)
		log_iov(q, c->iov + c->n_out, c->n_in, copied);
	t->used_len = (uint32_t)copied + 1;
	return VIRTIO_BLK_S_OK;
}

static uint8_t request_flush(struct blk_queue *q, struct blk_task *t)
{
	t->used_len = 1;
	if (!bdev_io_type_supported(q->bdev, BDEV_IO_FLUSH))
		return VIRTIO_BLK_S_OK;      /* nothing volatile to write back */
	t->iovcnt = 0;
	task_start_io(q, t, BDEV_IO_FLUSH, 0, 0);
	return 0xff;
}

/* Dispatches one request; returns its status, or 0xff when the bdev will answer it. */
static uint8_t request_dispatch(struct blk_queue *q, struct blk_task *t)
{
	const struct vq_chain *c = &q->chain;
	struct virtio_blk_outhdr hdr;
	if (iov_copy_from(c->iov, c->n_out, 0, &hdr, sizeof(hdr)) != sizeof(hdr))
		return VIRTIO_BLK_S_IOERR;
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
		return c->out_bytes == sizeof(hdr) ? request_rw(q, t, &hdr, false)
						   : VIRTIO_BLK_S_IOERR;
	case VIRTIO_BLK_T_OUT:
		return request_rw(q, t, &hdr, true);
	case VIRTIO_BLK_T_FLUSH:
		return request_flush(q, t);
	case VIRTIO_BLK_T_GET_ID:
		return request_get_id(q, t);
	case VIRTIO_BLK_T_DISCARD:
		return request_discard_or_zeroes(q, t, false);
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return request_discard_or_zeroes(q, t, true);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

static void handle_chain(struct blk_queue *q, bool well_formed)
{
	struct vq_chain *c = &q->chain;
	struct blk_task *t = &q->tasks[c->head];
	if (t->busy) {
		/* The driver offered a head that is still ours: ignore the second copy. */
		log_warn("vhost", "msg=\"guest reused a descriptor in flight; ignored\" queue=%s "
			 "head=%u", q->name, c->head);
		return;
	}
	t->head = c->head;
	t->status = NULL;
	t->used_len = 1;
	t->busy = true;
	queue_set_outstanding(q, q->outstanding + 1);
	if (!well_formed || c->n_in == 0) {
		task_answer(q, t, VIRTIO_BLK_S_IOERR);
		return;
	}
	struct iovec *last = &c->iov[c->n_out + c->n_in - 1];
	t->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	uint8_t status = request_dispatch(q, t);
	if (status != 0xff)
		task_answer(q, t, status);
}

static int queue_poll(void *arg)
{
	struct blk_queue *q = arg;
	if (q->state == Q_ORPHANED)
		return 0;
	int work = retry_tasks(q);
	if (q->state == Q_RUNNING && !q->broken) {
		unsigned popped = 0;
		while (popped < POLL_BATCH) {
			int rc = vq_pop(&q->vq, &q->chain);
			if (rc == 0) {
				if (popped == 0 || !q->vq.event_idx)
					break;
				/* avail_event was just moved: a driver that added a request
				 * meanwhile may have decided not to kick. Look once more. */
				__atomic_thread_fence(__ATOMIC_SEQ_CST);
				if (!vq_has_work(&q->vq))
					break;
				continue;
			}
			popped++;
			if (rc == -EIO) {
				log_error("vhost", "msg=\"avail ring corrupt; queue stopped\" "
					  "queue=%s", q->name);
				q->broken = true;
				break;
			}
			handle_chain(q, rc == 1);
		}
		work += (int)popped;
	}
	return work + flush_notify(q);
}

static void on_kick(void *arg, uint32_t events)
{
	struct blk_queue *q = arg;
	eventfd_t value;
	(void)events;
	if (eventfd_read(q->kick_fd, &value) < 0 && errno != EAGAIN)
		log_warn("vhost", "msg=\"kick eventfd read failed\" queue=%s", q->name);
	/* The queue's poller runs in this same reactor iteration. */
}

/* ---------------------------------------------------------------- start and stop */

/* A back-end that died between publishing a completion and signalling it leaves a guest
 * waiting for an interrupt that never comes (nothing else in flight: no later completion
 * signals it either). So a queue signals once when it starts, and once more on every new call
 * eventfd: QEMU hands over the guest's notifier only after the start (until then the call fd is
 * its masked notifier). A spurious interrupt costs the guest one look at the used ring. */
static void queue_signal_once(struct blk_queue *q)
{
	vq_notify_next(&q->vq);
	q->notify_pending = true;         /* flushed by the poller in this iteration */
}

static void queue_attach(void *arg)
{
	struct blk_queue *q = arg;
	queue_signal_once(q);
	if (q->kick_fd >= 0)
		q->kick_watch = reactor_fd_add(q->reactor, q->kick_fd, EPOLLIN, on_kick, q);
	q->poller = reactor_poller_register(q->reactor, q->name, queue_poll, q, 0);
	if (!q->poller)
		log_error("vhost", "msg=\"cannot register queue poller\" queue=%s", q->name);
}

static void queue_detach(struct blk_queue *q)
{
	if (q->poller) {
		reactor_poller_unregister(q->reactor, q->poller);
		q->poller = NULL;
	}
	if (q->kick_watch) {
		reactor_fd_remove(q->reactor, q->kick_watch);
		q->kick_watch = NULL;
	}
}

struct stopped_msg {
	blk_queue_stopped_fn fn;
	void *arg;
	uint16_t last_avail;
};

static void deliver_stopped(void *arg)
{
	struct stopped_msg *m = arg;
	m->fn(m->arg, m->last_avail);
	free(m);
}

static void queue_report_stopped(struct blk_queue *q)
{
	q->stop_reported = true;
	if (!q->stopped_fn)
		return;
	struct stopped_msg *m = malloc(sizeof(*m));
	if (!m) {
		log_error("vhost", "msg=\"out of memory reporting a stopped queue\" queue=%s",
			  q->name);
		return;
	}
	*m = (struct stopped_msg){ q->stopped_fn, q->stopped_arg, q->vq.last_avail_idx };
	if (reactor_send_msg(q->control, deliver_stopped, m) < 0)
		free(m);
}

static void queue_free(struct blk_queue *q)
{
	if (q->kick_fd >= 0)
		close(q->kick_fd);
	if (q->call_fd >= 0)
		close(q->call_fd);
	vhost_mem_unref(q->mem);
	vhost_shm_unref(q->shm);
	vhost_shm_unref(q->log);
	free(q->tasks);
	free(q);
	atomic_fetch_sub(&g_live_queues, 1);
}

static void queue_maybe_free(struct blk_queue *q)
{
	if (q->state == Q_ORPHANED && q->stop_reported && q->released && q->bdev_ios == 0)
		queue_free(q);
}

static void drain_timer_cancel(struct blk_queue *q)
{
	if (q->drain_timer_armed)
		reactor_timer_cancel(q->reactor, &q->drain_timer);
	q->drain_timer_armed = false;
}

/* Every request is answered: the rings are the front-end's again. */
static void queue_finish_drain(struct blk_queue *q)
{
	drain_timer_cancel(q);
	flush_notify(q);
	q->state = Q_ORPHANED;
	queue_detach(q);
	queue_report_stopped(q);
	/* The caller frees the queue (queue_maybe_free) once it is done with it. */
}

/* The front-end is gone or being thrown out: nothing more is written to its rings. IO the
 * bdev still holds is aborted where the bdev can, and drains in the background. */
static void queue_orphan(struct blk_queue *q)
{
	drain_timer_cancel(q);
	q->state = Q_ORPHANED;
	for (uint16_t i = 0; i < q->vq.num; i++) {
		struct blk_task *t = &q->tasks[i];
		t->busy = false;
		if (t->io)
			bdev_io_abort(t->io);
	}
	q->retry_head = q->retry_tail = NULL;
	queue_set_outstanding(q, 0);
	queue_detach(q);
	queue_report_stopped(q);
	queue_maybe_free(q);
}

/* The drain deadline: whatever is still outstanding is answered IOERR and its bdev IO
 * aborted, so that the drain (and the GET_VRING_BASE waiting on it) ends. An IO the kernel
 * already has cannot be recalled: if it is a read, its data may still land in the guest
 * buffer later (logged then, while a log is set). */
static void drain_deadline(void *arg)
{
	struct blk_queue *q = arg;
	q->drain_timer_armed = false;
	if (q->state != Q_DRAINING)
		return;
	unsigned failed = q->outstanding, held = q->bdev_ios;
	log_error("vhost", "msg=\"drain deadline passed; failing outstanding requests with "
		  "IOERR\" queue=%s outstanding=%u held_by_bdev=%u timeout_ms=%llu", q->name,
		  failed, held, (unsigned long long)(q->drain_timeout_ns / 1000000));
	q->retry_head = q->retry_tail = NULL;   /* each of them is answered below */
	for (uint16_t i = 0; i < q->vq.num; i++) {
		struct blk_task *t = &q->tasks[i];
		if (!t->busy)
			continue;
		struct bdev_io *io = t->io;
		task_answer(q, t, VIRTIO_BLK_S_IOERR);   /* the last one ends the drain */
		if (io)
			bdev_io_abort(io);
	}
	queue_maybe_free(q);
}

static void queue_stop_msg(void *arg)
{
	struct blk_queue *q = arg;
	switch (q->stop_mode) {
	case BLK_STOP_DRAIN:
		q->state = Q_DRAINING;
		if (q->outstanding == 0) {
			queue_finish_drain(q);
		} else {
			reactor_timer_arm(q->reactor, &q->drain_timer, q->drain_timeout_ns,
					  drain_deadline, q);
			q->drain_timer_armed = true;
		}
		queue_maybe_free(q);
		return;
	case BLK_STOP_FAIL:
		for (uint16_t i = 0; i < q->vq.num; i++)
			if (q->tasks[i].busy)
				task_answer(q, &q->tasks[i], VIRTIO_BLK_S_IOERR);
		flush_notify(q);
		queue_orphan(q);
		return;
	case BLK_STOP_ORPHAN:
		queue_orphan(q);
		return;
	}
}

void blk_queue_stop(struct blk_queue *q, enum blk_stop_mode mode, blk_queue_stopped_fn fn,
		    void *arg)
{
	q->stop_mode = mode;
	q->stopped_fn = fn;
	q->stopped_arg = arg;
	q->released = fn == NULL;        /* nobody will answer the report: nothing to wait for */
	if (reactor_send_msg(q->reactor, queue_stop_msg, q) < 0)
		log_error("vhost", "msg=\"cannot reach the queue's reactor\" queue=%s", q->name);
}

static void queue_release_msg(void *arg)
{
	struct blk_queue *q = arg;
	q->released = true;
	queue_maybe_free(q);
}

void blk_queue_release(struct blk_queue *q)
{
	if (reactor_send_msg(q->reactor, queue_release_msg, q) < 0)
		log_error("vhost", "msg=\"cannot release a stopped queue\" queue=%s", q->name);
}

struct escalate_msg {
	struct blk_queue *q;
	enum blk_stop_mode mode;
};

/* A drain in progress becomes an orphan (or a fail): its front-end went away meanwhile. */
static void queue_escalate_msg(void *arg)
{
	struct escalate_msg *m = arg;
	struct blk_queue *q = m->q;
	enum blk_stop_mode mode = m->mode;
	free(m);
	if (q->state != Q_DRAINING)
		return;                      /* the drain finished first */
	if (mode == BLK_STOP_FAIL) {
		for (uint16_t i = 0; i < q->vq.num; i++)
			if (q->tasks[i].busy)
				task_answer(q, &q->tasks[i], VIRTIO_BLK_S_IOERR);
		flush_notify(q);
	}
	if (q->state == Q_DRAINING)          /* the answers above may have ended it */
		queue_orphan(q);
	queue_maybe_free(q);
}

void blk_queue_escalate(struct blk_queue *q, enum blk_stop_mode mode)
{
	struct escalate_msg *m = malloc(sizeof(*m));
	if (m)
		*m = (struct escalate_msg){ q, mode };
	if (!m || reactor_send_msg(q->reactor, queue_escalate_msg, m) < 0) {
		free(m);
		log_error("vhost", "msg=\"cannot escalate a draining queue\" queue=%s", q->name);
	}
}

static void queue_apply_log(struct blk_queue *q, const struct blk_queue_log *l)
{
	if (l->log)
		vhost_shm_ref(l->log);
	vhost_shm_unref(q->log);
	q->log = l->log;
	vq_set_used_log(&q->vq, l->log && l->used_gpa_valid ? l->log : NULL, l->used_gpa);
}

struct log_msg {
	struct blk_queue *q;
	struct blk_queue_log log;
	blk_queue_done_fn fn;
	void *arg;
};

static void log_done_msg(void *arg)
{
	struct log_msg *m = arg;
	m->fn(m->arg);
	vhost_shm_unref(m->log.log);
	free(m);
}

static void set_log_msg(void *arg)
{
	struct log_msg *m = arg;
	queue_apply_log(m->q, &m->log);
	if (reactor_send_msg(m->q->control, log_done_msg, m) < 0)
		log_error("vhost", "msg=\"cannot report a log change\" queue=%s", m->q->name);
}

int blk_queue_set_log(struct blk_queue *q, const struct blk_queue_log *log,
		      blk_queue_done_fn fn, void *arg)
{
	struct log_msg *m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	*m = (struct log_msg){ q, *log, fn, arg };
	if (m->log.log)
		vhost_shm_ref(m->log.log);       /* until the answer is back */
	if (reactor_send_msg(q->reactor, set_log_msg, m) < 0) {
		vhost_shm_unref(m->log.log);
		free(m);
		return -ENOMEM;
	}
	return 0;
}

struct call_fd_msg {
	struct blk_queue *q;
	int fd;
};

static void set_call_fd_msg(void *arg)
{
	struct call_fd_msg *m = arg;
	if (m->q->call_fd >= 0)
		close(m->q->call_fd);
	m->q->call_fd = m->fd;
	queue_signal_once(m->q);
	free(m);
}

void blk_queue_set_call_fd(struct blk_queue *q, int fd)
{
	struct call_fd_msg *m = malloc(sizeof(*m));
	if (m)
		*m = (struct call_fd_msg){ q, fd };   /* before the reactor can run it */
	if (!m || reactor_send_msg(q->reactor, set_call_fd_msg, m) < 0) {
		free(m);
		if (fd >= 0)
			close(fd);
		return;
	}
}

int blk_queue_start(const struct blk_queue_config *cfg, struct blk_queue **out,
		    unsigned *resubmitted)
{
	struct blk_queue *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	int rc = vq_setup(&q->vq, cfg->mem, cfg->num, &cfg->addrs, cfg->event_idx,
			  cfg->indirect);
	if (rc < 0) {
		free(q);
		return rc;
	}
	q->tasks = calloc(cfg->num, sizeof(*q->tasks));
	if (!q->tasks) {
		free(q);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < cfg->num; i++)
		q->tasks[i].q = q;
	snprintf(q->name, sizeof(q->name), "%s", cfg->name);
	q->reactor = cfg->reactor;
	q->control = cfg->control;
	q->bdev = cfg->bdev;
	q->block_size = bdev_block_size(cfg->bdev);
	q->num_blocks = bdev_num_blocks(cfg->bdev);
	q->readonly = cfg->readonly;
	q->kick_fd = cfg->kick_fd;
	q->call_fd = cfg->call_fd;
	q->state = Q_RUNNING;
	q->drain_timeout_ns = (uint64_t)(cfg->drain_timeout_ms ? cfg->drain_timeout_ms
							       : BLK_QUEUE_DRAIN_TIMEOUT_MS) *
			      1000000ull;
	queue_apply_log(q, &cfg->log);
	int n = vq_start(&q->vq, cfg->base, cfg->inflight);
	*resubmitted = n > 0 ? (unsigned)n : 0;
	queue_set_outstanding(q, 0);
	atomic_fetch_add(&g_live_queues, 1);
	q->mem = cfg->mem;
	vhost_mem_ref(q->mem);
	q->shm = cfg->inflight_shm;
	if (q->shm)
		vhost_shm_ref(q->shm);
	*out = q;
	if (reactor_send_msg(q->reactor, queue_attach, q) < 0) {
		q->kick_fd = q->call_fd = -1;     /* the caller keeps them */
		queue_free(q);
		return -ENOMEM;
	}
	return 0;
}

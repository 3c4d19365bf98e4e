/* vhost_session.c — the vhost-user policy of one front-end connection (see
 * vhost_session.h): what each request does to the session and its queues. Messages come
 * whole from vhost_user_msg.c, which reads them without ever blocking and checks each one
 * (size for its request, descriptors only where the request carries them) before it is
 * handled here; a malformed one closes the connection and changes nothing else. A request
 * that must wait for queues to stop (GET_VRING_BASE, a new memory table) holds the
 * connection's input until the queues' reactors have answered; no thread ever waits.
 * Owns the rule "Dirty log complete" of docs/architecture.md (bug class 4). */
#include "vhost_session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "vhost_blk.h"
#include "vhost_log.h"
#include "vhost_session_priv.h"
#include "vhost_user_msg.h"
#include "vhost_user_proto.h"

static vhost_session_hold_fn g_hold_hook;

void vhost_session_set_hold_hook(vhost_session_hold_fn fn)
{
	g_hold_hook = fn;
}

static void session_unref(struct vhost_session *s)
{
	if (--s->refs == 0)
		free(s);
}

/* ---------------------------------------------------------------- replies */

/* ---------------------------------------------------------------- queues */

struct stop_ctx {
	struct vhost_session *s;
	unsigned index;
};

static void resume_input(struct vhost_session *s);

static void on_queue_stopped(void *arg, uint16_t last_avail)
{
	struct stop_ctx *ctx = arg;
	struct vhost_session *s = ctx->s;
	struct vring *v = &s->vrings[ctx->index];
	free(ctx);
	blk_queue_release(v->q);
	v->q = NULL;
	v->stopping = false;
	v->base = last_avail;
	s->stops_pending--;
	if (!s->closed && s->held && !s->fault_held && s->stops_pending == 0 &&
	    s->syncs_pending == 0)
		resume_input(s);
	if (s->closed && s->close_fd_later && s->stops_pending == 0) {
		close(s->fd);
		s->close_fd_later = false;
	}
	session_unref(s);
}

static void stop_queue(struct vhost_session *s, unsigned i, enum blk_stop_mode mode)
{
	struct vring *v = &s->vrings[i];
	struct stop_ctx *ctx = malloc(sizeof(*ctx));
	if (!ctx) {
		/* Without a context the answer cannot be routed: orphan silently. */
		blk_queue_stop(v->q, BLK_STOP_ORPHAN, NULL, NULL);
		v->q = NULL;
		return;
	}
	*ctx = (struct stop_ctx){ s, i };
	s->refs++;
	s->stops_pending++;
	v->stopping = true;              /* v->q stays until the stop is reported */
	blk_queue_stop(v->q, mode, on_queue_stopped, ctx);
}

/* Stops every running queue (draining it); MSG_HELD when the caller must wait. */
static int stop_all_queues(struct vhost_session *s)
{
	for (unsigned i = 0; i < VHOST_BLK_MAX_QUEUES; i++)
		if (vs_queue_running(&s->vrings[i]))
			stop_queue(s, i, BLK_STOP_DRAIN);
	return s->stops_pending ? MSG_HELD : 0;
}

/* ---------------------------------------------------------------- dirty log */

/* Complete logging rests on one invariant (vs_queue_log says who logs what): no queue runs
 * with VHOST_F_LOG_ALL negotiated and no log, and a change of logging reaches every queue
 * before the message that made it is answered (sync_queues). */

struct sync_ctx {
	struct vhost_session *s;
};

static void on_queue_synced(void *arg)
{
	struct sync_ctx *ctx = arg;
	struct vhost_session *s = ctx->s;
	free(ctx);
	s->syncs_pending--;
	if (!s->closed && s->held && !s->fault_held && s->stops_pending == 0 &&
	    s->syncs_pending == 0)
		resume_input(s);
	session_unref(s);
}

/* Sends the session's logging to the queue of ring i (every queue when i < 0). MSG_SYNC when
 * answers are awaited (the message is finished with rc then), else rc; -ENOMEM. */
static int sync_queues(struct vhost_session *s, int only, int rc)
{
	for (unsigned i = 0; i < VHOST_BLK_MAX_QUEUES; i++) {
		struct vring *v = &s->vrings[i];
		if (!v->q || (only >= 0 && (unsigned)only != i))
			continue;
		struct sync_ctx *ctx = malloc(sizeof(*ctx));
		if (!ctx)
			return -ENOMEM;
		*ctx = (struct sync_ctx){ s };
		struct blk_queue_log l = vs_queue_log(s, v);
		if (blk_queue_set_log(v->q, &l, on_queue_synced, ctx) < 0) {
			free(ctx);
			return -ENOMEM;
		}
		s->refs++;
		s->syncs_pending++;
	}
	if (s->syncs_pending == 0)
		return rc;
	s->sync_rc = rc;
	return MSG_SYNC;
}

/* SET_LOG_BASE (LOG_SHMFD): maps and checks the log, and moves every queue to it before
 * the reply, so that nothing is logged in the previous one after the front-end got it. */
static int handle_set_log_base(struct vhost_session *s)
{
	const struct vhost_user_log *l = &s->in.msg.payload.log;
	if (!vs_has_protocol(s, VHOST_USER_PROTOCOL_F_LOG_SHMFD)) {
		log_warn("vhost", "msg=\"SET_LOG_BASE without LOG_SHMFD refused\" ctrlr=%s",
			 s->owner.name);
		return -ENOTSUP;
	}
	if (s->in.nfds != 1)
		return MSG_MALFORMED;
	int err = -EINVAL;
	const char *why = "no memory table yet";
	struct vhost_shm *log = NULL;
	if (s->mem)
		log = vhost_log_map(s->in.fds[0], l->mmap_size, l->mmap_offset, vs_log_need(s), &err,
				    &why);
	if (!log) {
		log_error("vhost", "msg=\"dirty log refused\" ctrlr=%s size=%llu offset=%llu "
			  "need=%llu error=\"%s\"", s->owner.name,
			  (unsigned long long)l->mmap_size, (unsigned long long)l->mmap_offset,
			  (unsigned long long)(s->mem ? vs_log_need(s) : 0), why);
		bool logging_queues = (s->features & LOG_ALL) && vs_any_queue_running(s);
		int rc = vs_reply_u64(s, 1);
		if (logging_queues) {
			/* They cannot go on writing guest memory without a log. */
			log_error("vhost", "msg=\"queues are dirty-logging and the log was refused; "
				  "closing\" ctrlr=%s", s->owner.name);
			return MSG_MALFORMED;
		}
		vs_drop_log(s, "replacement refused");   /* the front-end frees the old one */
		return rc;
	}
	vhost_shm_unref(s->log);
	s->log = log;
	log_info("vhost", "msg=\"dirty log set\" ctrlr=%s size=%llu offset=%llu logging=%d",
		 s->owner.name, (unsigned long long)l->mmap_size,
		 (unsigned long long)l->mmap_offset, (s->features & LOG_ALL) != 0);
	return sync_queues(s, -1, MSG_LOG_ACK);
}

static int start_queue(struct vhost_session *s, unsigned i)
{
	struct vring *v = &s->vrings[i];
	char name[96];
	snprintf(name, sizeof(name), "%s.q%u", s->owner.name, i);
	struct blk_queue_config cfg = {
		.reactor = s->owner.queue_reactor(s->owner.owner, i),
		.control = s->owner.control,
		.bdev = s->owner.bdev,
		.readonly = s->owner.readonly,
		.name = name,
		.mem = s->mem,
		.inflight_shm = s->inflight,
		.inflight = vs_inflight_slice(s, i, v->num),
		.num = v->num,
		.base = v->base,
		.addrs = v->addrs,
		.event_idx = s->features & (1ull << VIRTIO_F_RING_EVENT_IDX),
		.indirect = s->features & (1ull << VIRTIO_F_RING_INDIRECT_DESC),
		.kick_fd = vs_dup_or_none(v->kick_fd),
		.call_fd = vs_dup_or_none(v->call_fd),
		.log = vs_queue_log(s, v),
		.drain_timeout_ms = s->owner.drain_timeout_ms,
	};
	if (!cfg.inflight)
		cfg.inflight_shm = NULL;
	unsigned resubmitted = 0;
	int rc = blk_queue_start(&cfg, &v->q, &resubmitted);
	if (rc < 0) {
		if (cfg.kick_fd >= 0)
			close(cfg.kick_fd);
		if (cfg.call_fd >= 0)
			close(cfg.call_fd);
		v->q = NULL;
		log_warn("vhost", "msg=\"cannot start queue\" ctrlr=%s queue=%u error=\"%s\"",
			 s->owner.name, i, strerror(-rc));
		return rc;
	}
	s->resubmitted += resubmitted;
	log_info("vhost", "msg=\"queue started\" ctrlr=%s queue=%u size=%u base=%u "
		 "inflight_tracked=%d resubmitted=%u dirty_logging=%d", s->owner.name, i, v->num,
		 v->base, cfg.inflight != NULL, resubmitted, cfg.log.log != NULL);
	return 0;
}

/* Starts every ring that has all it needs: a memory table, a size, addresses and a kick. */
static int start_ready_queues(struct vhost_session *s)
{
	for (unsigned i = 0; i < VHOST_BLK_MAX_QUEUES; i++) {
		struct vring *v = &s->vrings[i];
		if (v->q || v->stopping || !v->kicked || !v->addr_set || !v->num || !s->mem)
			continue;
		if ((s->features & LOG_ALL) && !s->log)
			continue;      /* it would write guest memory without logging it */
		int rc = start_queue(s, i);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---------------------------------------------------------------- handlers */

/* Features change only while no queue runs, except VHOST_F_LOG_ALL, which the front-end
 * turns on and off under running queues when a migration starts and ends. */
static int handle_set_features(struct vhost_session *s, uint64_t f)
{
	if (f & ~vs_offered_features(s))
		return -EINVAL;
	uint64_t changed = f ^ s->features;
	bool running = vs_any_queue_running(s);
	if (running && (changed & ~LOG_ALL))
		return -EBUSY;
	if (running && (f & LOG_ALL) && !s->log) {
		log_error("vhost", "msg=\"dirty logging asked for without a log base; refused\" "
			  "ctrlr=%s", s->owner.name);
		return -EINVAL;
	}
	s->features = f;
	if (!(changed & LOG_ALL))
		return 0;
	log_info("vhost", "msg=\"dirty logging %s\" ctrlr=%s", (f & LOG_ALL) ? "on" : "off",
		 s->owner.name);
	return sync_queues(s, -1, 0);
}

static int handle_set_mem_table(struct vhost_session *s)
{
	if (vs_any_queue_running(s))
		return stop_all_queues(s);     /* the table changes under running queues */
	int err;
	struct vhost_mem *m = vhost_mem_create(&s->in.msg.payload.memory, s->in.fds,
					       s->in.nfds, &err);
	s->in.nfds = 0;                        /* vhost_mem_create closed them */
	if (!m) {
		log_warn("vhost", "msg=\"memory table refused\" ctrlr=%s error=\"%s\"",
			 s->owner.name, strerror(-err));
		return err;
	}
	if ((s->features & LOG_ALL) && s->log &&
	    vhost_log_bytes_for(vhost_log_mem_end(m)) > s->log->size) {
		/* QEMU grows the log before the table; a table past the log is not logged. */
		log_error("vhost", "msg=\"memory table refused: past the end of the dirty log\" "
			  "ctrlr=%s", s->owner.name);
		vhost_mem_unref(m);
		return -EINVAL;
	}
	vhost_mem_unref(s->mem);
	s->mem = m;
	return 0;
}

static int handle_vring_state(struct vhost_session *s, uint32_t request)
{
	struct vhost_user_vring_state st = s->in.msg.payload.state;
	int i = vs_vring_index(s, st.index);
	if (i < 0)
		return i;
	struct vring *v = &s->vrings[i];
	switch (request) {
	case VHOST_USER_SET_VRING_NUM:
		if (v->q || v->stopping || st.num == 0 || st.num > VIRTQUEUE_MAX_SIZE ||
		    (st.num & (st.num - 1)))
			return -EINVAL;
		v->num = (uint16_t)st.num;
		return 0;
	case VHOST_USER_SET_VRING_BASE:
		if (v->q || v->stopping || st.num > 0xffff)
			return -EINVAL;
		v->base = (uint16_t)st.num;
		return 0;
	case VHOST_USER_SET_VRING_ENABLE:
		if (st.num > 1)
			return -EINVAL;
		v->enabled = st.num;
		return 0;
	default: {  /* GET_VRING_BASE: stop the ring, answer where it stopped */
		if (vs_queue_running(v)) {
			stop_queue(s, (unsigned)i, BLK_STOP_DRAIN);
			return MSG_HELD;
		}
		if (v->stopping)
			return MSG_HELD;
		if (!vs_any_queue_running(s))
			vs_drop_log(s, "every queue stopped");  /* the front-end frees it now */
		v->kicked = false;
		if (v->kick_fd >= 0)
			close(v->kick_fd);
		v->kick_fd = -1;
		struct vhost_user_vring_state answer = { st.index, v->base };
		return vs_reply(s, &answer, sizeof(answer), -1);
	}
	}
}

static int handle_vring_addr(struct vhost_session *s)
{
	const struct vhost_user_vring_addr *a = &s->in.msg.payload.addr;
	int i = vs_vring_index(s, a->index);
	if (i < 0)
		return i;
	struct vring *v = &s->vrings[i];
	if (a->flags & ~(1u << VHOST_VRING_F_LOG))
		return -EINVAL;
	if (a->flags & (1u << VHOST_VRING_F_LOG)) {
		uint64_t end = a->log_guest_addr + vq_used_ring_bytes(v->num);
		if (end < a->log_guest_addr ||
		    (s->log && vhost_log_bytes_for(end) > s->log->size)) {
			log_error("vhost", "msg=\"used ring log address outside the log; refused\" "
				  "ctrlr=%s queue=%d log_guest_addr=0x%llx", s->owner.name, i,
				  (unsigned long long)a->log_guest_addr);
			return -EINVAL;
		}
	}
	struct vq_ring_addrs addrs = { a->desc_user_addr, a->avail_user_addr,
				       a->used_user_addr };
	if (v->q || v->stopping) {
		/* A running ring takes only a change of its logging (a migration starts). */
		if (memcmp(&addrs, &v->addrs, sizeof(addrs)) != 0)
			return -EBUSY;
		v->flags = a->flags;
		v->log_guest_addr = a->log_guest_addr;
		return sync_queues(s, i, 0);
	}
	v->addrs = addrs;
	v->addr_set = true;
	v->flags = a->flags;
	v->log_guest_addr = a->log_guest_addr;
	return 0;
}

/* RESET_OWNER / RESET_DEVICE: back to a freshly connected front-end. */
static int handle_reset(struct vhost_session *s)
{
	if (vs_any_queue_running(s))
		return stop_all_queues(s);
	for (unsigned i = 0; i < VHOST_BLK_MAX_QUEUES; i++) {
		struct vring *v = &s->vrings[i];
		if (v->kick_fd >= 0)
			close(v->kick_fd);
		if (v->call_fd >= 0)
			close(v->call_fd);
		*v = (struct vring){ .kick_fd = -1, .call_fd = -1 };
	}
	s->features = 0;
	return 0;
}

static int dispatch(struct vhost_session *s)
{
	const struct vhost_user_msg *m = &s->in.msg;
	switch (m->hdr.request) {
	case VHOST_USER_GET_FEATURES:
		return vs_reply_u64(s, vs_offered_features(s));
	case VHOST_USER_SET_FEATURES:
		return handle_set_features(s, m->payload.u64);
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		return vs_reply_u64(s, OFFERED_PROTOCOL_FEATURES);
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		if (m->payload.u64 & ~OFFERED_PROTOCOL_FEATURES)
			return -EINVAL;
		s->protocol_features = m->payload.u64;
		return 0;
	case VHOST_USER_GET_QUEUE_NUM:
		return vs_reply_u64(s, VHOST_BLK_MAX_QUEUES);
	case VHOST_USER_GET_MAX_MEM_SLOTS:
		return vs_reply_u64(s, VHOST_USER_MAX_RAM_SLOTS);
	case VHOST_USER_SET_OWNER:
		return 0;
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_RESET_DEVICE:
		return handle_reset(s);
	case VHOST_USER_SET_MEM_TABLE:
		return handle_set_mem_table(s);
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
		return handle_vring_state(s, m->hdr.request);
	case VHOST_USER_SET_VRING_ADDR:
		return handle_vring_addr(s);
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		return vs_handle_vring_fd(s, m->hdr.request);
	case VHOST_USER_GET_CONFIG:
		return vs_handle_get_config(s);
	case VHOST_USER_SET_CONFIG:
		return -ENOTSUP;           /* the config space is read-only */
	case VHOST_USER_GET_INFLIGHT_FD:
		return vs_handle_get_inflight_fd(s);
	case VHOST_USER_SET_INFLIGHT_FD:
		return vs_handle_set_inflight_fd(s);
	case VHOST_USER_SET_LOG_BASE:
		return handle_set_log_base(s);
	case VHOST_USER_SET_LOG_FD:
		/* An eventfd to signal log changes with: blockd does not signal them (the
		 * front-end reads the log when it syncs); accepted and closed. */
		return s->in.nfds <= 1 ? 0 : MSG_MALFORMED;
	default:
		return MSG_MALFORMED;
	}
}

/* ---------------------------------------------------------------- injected holds */

static void release_hold(struct vhost_session *s, const char *why)
{
	if (s->hold_timer_armed)
		reactor_timer_cancel(s->owner.control, &s->hold_timer);
	s->hold_timer_armed = false;
	s->fault_held = false;
	log_warn("vhost", "msg=\"injected fault: held message released\" ctrlr=%s request=%u "
		 "reason=\"%s\"", s->owner.name, s->in.msg.hdr.request, why);
	resume_input(s);
}

static void hold_expired(void *arg)
{
	struct vhost_session *s = arg;
	s->hold_timer_armed = false;
	if (!s->closed && s->fault_held)
		release_hold(s, "hold time over");
}

/* true when an injected fault holds the message in s->in (input stays held). */
static bool hold_for_fault(struct vhost_session *s)
{
	uint32_t request = s->in.msg.hdr.request;
	uint64_t until = g_hold_hook ? g_hold_hook(s->owner.name, request) : 0;
	uint64_t now = monotonic_ns();
	if (until <= now)
		return false;
	s->fault_held = true;
	const char *name = vhost_user_request_name(request);
	log_warn("vhost", "msg=\"injected fault: holding a message\" ctrlr=%s request=%s "
		 "hold_ms=%lld", s->owner.name, name ? name : "?",
		 until == UINT64_MAX ? -1ll : (long long)((until - now) / 1000000));
	if (until != UINT64_MAX) {
		reactor_timer_arm(s->owner.control, &s->hold_timer, until - now, hold_expired, s);
		s->hold_timer_armed = true;
	}
	return true;
}

void vhost_session_recheck_hold(struct vhost_session *s)
{
	if (s->closed || !s->fault_held)
		return;
	uint64_t until = g_hold_hook ? g_hold_hook(s->owner.name, s->in.msg.hdr.request) : 0;
	if (until <= monotonic_ns())
		release_hold(s, "fault cleared");
}

/* ---------------------------------------------------------------- messages */

static int finish_message(struct vhost_session *s, int rc);

/* Handles the message in s->in. 0: done (input may continue), MSG_HELD, or < 0: close. */
static int handle_message(struct vhost_session *s)
{
	const struct vhost_user_msg *m = &s->in.msg;
	if (!vhost_user_well_formed(&s->in)) {
		log_warn("vhost", "msg=\"malformed message; closing\" ctrlr=%s request=%u size=%u "
			 "fds=%u", s->owner.name, m->hdr.request, m->hdr.size, s->in.nfds);
		return MSG_MALFORMED;
	}
	if (!s->fault_checked) {
		s->fault_checked = true;
		if (hold_for_fault(s))
			return MSG_HELD;
	}
	int rc = dispatch(s);
	if (rc == MSG_HELD)
		return rc;
	if (rc == MSG_SYNC) {
		s->sync_wait = true;
		return MSG_HELD;
	}
	return finish_message(s, rc);
}

/* The rest of a message's handling once dispatch is done with it: queues that can start now
 * start, and the front-end gets the answer (a reply of its own, or REPLY_ACK). */
static int finish_message(struct vhost_session *s, int rc)
{
	const struct vhost_user_msg *m = &s->in.msg;
	if (rc == MSG_LOG_ACK) {
		start_ready_queues(s);       /* those that waited for a log */
		rc = vs_reply_u64(s, 0);
	}
	if (rc == MSG_MALFORMED || rc == -EIO) {
		log_warn("vhost", "msg=\"message refused; closing\" ctrlr=%s request=%u",
			 s->owner.name, m->hdr.request);
		return MSG_MALFORMED;
	}
	if (rc >= 0 && rc != MSG_REPLIED) {
		int started = start_ready_queues(s);
		if (started < 0)
			rc = started;
	}
	bool ack = (m->hdr.flags & VHOST_USER_NEED_REPLY) &&
		   vs_has_protocol(s, VHOST_USER_PROTOCOL_F_REPLY_ACK);
	if (rc < 0)
		log_warn("vhost", "msg=\"request failed\" ctrlr=%s request=%u error=\"%s\"",
			 s->owner.name, m->hdr.request, strerror(-rc));
	if (rc == MSG_REPLIED)
		return 0;
	if (ack)
		return vs_reply_u64(s, rc < 0) == MSG_REPLIED ? 0 : MSG_MALFORMED;
	return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- the connection */

static void message_done(struct vhost_session *s)
{
	vhost_user_drop_fds(&s->in);
	s->in.have = 0;
	s->fault_checked = false;
}

static void on_input(void *arg, uint32_t events);

static void process_input(struct vhost_session *s)
{
	while (!s->closed && !s->held) {
		int rc = vhost_user_read_message(s->fd, &s->in, s->owner.name);
		if (rc == 0)
			return;
		if (rc < 0) {
			vhost_session_close(s, BLK_STOP_ORPHAN,
					    rc == -ECONNRESET ? "front-end disconnected"
							      : "protocol error");
			return;
		}
		rc = handle_message(s);
		if (rc == MSG_HELD) {
			s->held = true;
			reactor_fd_modify(s->owner.control, s->watch, 0);
			return;
		}
		message_done(s);
		if (rc < 0) {
			vhost_session_close(s, BLK_STOP_ORPHAN, "protocol error");
			return;
		}
	}
}

static void resume_input(struct vhost_session *s)
{
	s->held = false;
	int rc;
	if (s->sync_wait) {
		s->sync_wait = false;
		rc = finish_message(s, s->sync_rc);
	} else {
		rc = handle_message(s);
	}
	if (rc == MSG_HELD) {
		s->held = true;
		return;
	}
	message_done(s);
	if (rc < 0) {
		vhost_session_close(s, BLK_STOP_ORPHAN, "protocol error");
		return;
	}
	reactor_fd_modify(s->owner.control, s->watch, EPOLLIN);
	process_input(s);
}

static void on_input(void *arg, uint32_t events)
{
	struct vhost_session *s = arg;
	if (s->held) {
		if (events & (EPOLLHUP | EPOLLERR))
			vhost_session_close(s, BLK_STOP_ORPHAN, "front-end disconnected");
		return;
	}
	process_input(s);
}

struct vhost_session *vhost_session_create(const struct vhost_session_owner *owner, int fd,
					   unsigned id)
{
	struct vhost_session *s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return NULL;
	}
	s->owner = *owner;
	s->id = id;
	s->fd = fd;
	s->refs = 1;
	for (unsigned i = 0; i < VHOST_BLK_MAX_QUEUES; i++)
		s->vrings[i].kick_fd = s->vrings[i].call_fd = -1;
	s->watch = reactor_fd_add(owner->control, fd, EPOLLIN, on_input, s);
	if (!s->watch) {
		close(fd);
		free(s);
		return NULL;
	}
	log_info("vhost", "msg=\"front-end connected\" ctrlr=%s session=%u", owner->name, id);
	return s;
}

void vhost_session_close(struct vhost_session *s, enum blk_stop_mode mode, const char *why)
{
	if (s->closed)
		return;
	s->closed = true;
	if (s->hold_timer_armed)
		reactor_timer_cancel(s->owner.control, &s->hold_timer);
	s->hold_timer_armed = false;
	unsigned inflight = vhost_session_inflight(s);
	for (unsigned i = 0; i < VHOST_BLK_MAX_QUEUES; i++) {
		struct vring *v = &s->vrings[i];
		if (vs_queue_running(v))
			stop_queue(s, i, mode);
		else if (v->q && mode != BLK_STOP_DRAIN)
			blk_queue_escalate(v->q, mode);   /* a drain in progress */
		if (v->kick_fd >= 0)
			close(v->kick_fd);
		if (v->call_fd >= 0)
			close(v->call_fd);
		v->kick_fd = v->call_fd = -1;
	}
	reactor_fd_remove(s->owner.control, s->watch);
	/* Failed requests reach the guest only while QEMU still listens to the call eventfd:
	 * the socket closes once the queues have published them. */
	if (mode == BLK_STOP_FAIL && s->stops_pending)
		s->close_fd_later = true;
	else
		close(s->fd);
	vhost_user_drop_fds(&s->in);
	vhost_mem_unref(s->mem);
	vhost_shm_unref(s->inflight);
	vhost_shm_unref(s->log);
	s->mem = NULL;
	s->inflight = NULL;
	s->log = NULL;
	log_info("vhost", "msg=\"front-end disconnected\" ctrlr=%s session=%u reason=\"%s\" "
		 "dropped_requests=%u", s->owner.name, s->id, why,
		 mode == BLK_STOP_DRAIN ? 0 : inflight);
	s->owner.closed(s->owner.owner, s);
	session_unref(s);
}

/* vhost_session.c — the vhost-user policy of one front-end connection (see
 * vhost_session.h): what each request does to the session and its queues. Messages come
 * whole from vhost_user_msg.c, which reads them without ever blocking and checks each one
 * (size for its request, descriptors only where the request carries them) before it is
 * handled here; a malformed one closes the connection and changes nothing else. A request
 * that must wait for queues to stop (GET_VRING_BASE, a new memory table) holds the
 * connection's input until the queues' reactors have answered; no thread ever waits. */
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
#include "vhost_user_msg.h"
#include "vhost_user_proto.h"

#define OFFERED_PROTOCOL_FEATURES                                                      \
	((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |     \
	 (1ull << VHOST_USER_PROTOCOL_F_CONFIG) |                                            \
	 (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))

/* Handler results besides 0 and a negative errno (a refusal the front-end is told of with
 * REPLY_ACK, or else the connection closes). */
#define MSG_HELD 1         /* waits for queues to stop; handled again afterwards */
#define MSG_REPLIED 2      /* answered with its own reply: no REPLY_ACK */
#define MSG_MALFORMED (-EPROTO)

struct vring {
	uint16_t num, base;
	bool addr_set, kicked, enabled;
	struct vq_ring_addrs addrs;
	int kick_fd, call_fd;
	struct blk_queue *q;        /* running on its reactor */
	bool stopping;              /* a stop was sent; its answer is awaited */
};

struct vhost_session {
	struct vhost_session_owner owner;
	unsigned id;
	int fd;
	struct reactor_fd *watch;
	bool closed, held;
	bool close_fd_later;        /* closed, but the socket stays open until queues stopped */
	unsigned refs;              /* 1 while open, +1 per queue stop awaited */
	unsigned stops_pending;

	uint64_t features;          /* acked virtio features */
	uint64_t protocol_features;
	struct vhost_mem *mem;
	struct vhost_shm *inflight;
	uint16_t inflight_queues, inflight_queue_size;
	struct vring vrings[VHOST_BLK_MAX_QUEUES];
	uint64_t resubmitted;

	struct vhost_user_input in;  /* the message being received or handled */
};

static uint64_t offered_features(const struct vhost_session *s)
{
	uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_BLK_F_SIZE_MAX) |
		     (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_MQ) |
		     (1ull << VIRTIO_F_RING_INDIRECT_DESC) | (1ull << VIRTIO_F_RING_EVENT_IDX) |
		     (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	if (s->owner.readonly)
		f |= 1ull << VIRTIO_BLK_F_RO;
	if (bdev_io_type_supported(s->owner.bdev, BDEV_IO_UNMAP))
		f |= 1ull << VIRTIO_BLK_F_DISCARD;
	if (bdev_io_type_supported(s->owner.bdev, BDEV_IO_WRITE_ZEROES))
		f |= 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
	return f;
}

static bool has_protocol(const struct vhost_session *s, unsigned bit)
{
	return s->protocol_features & (1ull << bit);
}

static void session_unref(struct vhost_session *s)
{
	if (--s->refs == 0)
		free(s);
}

/* ---------------------------------------------------------------- replies */

/* Answers the message being handled with its own reply, after which no REPLY_ACK follows:
 * MSG_REPLIED, or -EIO when the front-end does not read its replies (close). */
static int reply(struct vhost_session *s, const void *payload, uint32_t size, int fd)
{
	int rc = vhost_user_send_reply(s->fd, s->in.msg.hdr.request, payload, size, fd);
	return rc < 0 ? rc : MSG_REPLIED;
}

static int reply_u64(struct vhost_session *s, uint64_t v)
{
	return reply(s, &v, sizeof(v), -1);
}

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
	if (!s->closed && s->held && s->stops_pending == 0)
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

static bool queue_running(const struct vring *v)
{
	return v->q && !v->stopping;
}

/* Stops every running queue (draining it); MSG_HELD when the caller must wait. */
static int stop_all_queues(struct vhost_session *s)
{
	for (unsigned i = 0; i < VHOST_BLK_MAX_QUEUES; i++)
		if (queue_running(&s->vrings[i]))
			stop_queue(s, i, BLK_STOP_DRAIN);
	return s->stops_pending ? MSG_HELD : 0;
}

static bool any_queue_running(const struct vhost_session *s)
{
	for (unsigned i = 0; i < VHOST_BLK_MAX_QUEUES; i++)
		if (s->vrings[i].q || s->vrings[i].stopping)
			return true;
	return false;
}

static struct inflight_queue_split *inflight_slice(struct vhost_session *s, unsigned i,
						   uint16_t num)
{
	if (!s->inflight || i >= s->inflight_queues)
		return NULL;
	if (s->inflight_queue_size != num) {
		log_warn("vhost", "msg=\"inflight region sized for another queue size; not "
			 "tracked\" ctrlr=%s queue=%u", s->owner.name, i);
		return NULL;
	}
	return (struct inflight_queue_split *)((char *)s->inflight->addr +
					       i * vq_inflight_queue_size(num));
}

static int dup_or_none(int fd)
{
	return fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
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
		.inflight = inflight_slice(s, i, v->num),
		.num = v->num,
		.base = v->base,
		.addrs = v->addrs,
		.event_idx = s->features & (1ull << VIRTIO_F_RING_EVENT_IDX),
		.indirect = s->features & (1ull << VIRTIO_F_RING_INDIRECT_DESC),
		.kick_fd = dup_or_none(v->kick_fd),
		.call_fd = dup_or_none(v->call_fd),
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
		 "inflight_tracked=%d resubmitted=%u", s->owner.name, i, v->num, v->base,
		 cfg.inflight != NULL, resubmitted);
	return 0;
}

/* Starts every ring that has all it needs: a memory table, a size, addresses and a kick. */
static int start_ready_queues(struct vhost_session *s)
{
	for (unsigned i = 0; i < VHOST_BLK_MAX_QUEUES; i++) {
		struct vring *v = &s->vrings[i];
		if (v->q || v->stopping || !v->kicked || !v->addr_set || !v->num || !s->mem)
			continue;
		int rc = start_queue(s, i);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---------------------------------------------------------------- handlers */

static int vring_index(const struct vhost_session *s, uint32_t index)
{
	(void)s;
	return index < VHOST_BLK_MAX_QUEUES ? (int)index : -EINVAL;
}

static int handle_set_features(struct vhost_session *s, uint64_t f)
{
	if (f & ~offered_features(s))
		return -EINVAL;
	if (any_queue_running(s) && f != s->features)
		return -EBUSY;
	s->features = f;
	return 0;
}

static int handle_set_mem_table(struct vhost_session *s)
{
	if (any_queue_running(s))
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
	vhost_mem_unref(s->mem);
	s->mem = m;
	return 0;
}

static int handle_vring_state(struct vhost_session *s, uint32_t request)
{
	struct vhost_user_vring_state st = s->in.msg.payload.state;
	int i = vring_index(s, st.index);
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
		if (queue_running(v)) {
			stop_queue(s, (unsigned)i, BLK_STOP_DRAIN);
			return MSG_HELD;
		}
		if (v->stopping)
			return MSG_HELD;
		v->kicked = false;
		if (v->kick_fd >= 0)
			close(v->kick_fd);
		v->kick_fd = -1;
		struct vhost_user_vring_state answer = { st.index, v->base };
		return reply(s, &answer, sizeof(answer), -1);
	}
	}
}

static int handle_vring_addr(struct vhost_session *s)
{
	const struct vhost_user_vring_addr *a = &s->in.msg.payload.addr;
	int i = vring_index(s, a->index);
	if (i < 0)
		return i;
	struct vring *v = &s->vrings[i];
	if (v->q || v->stopping)
		return -EBUSY;
	v->addrs = (struct vq_ring_addrs){ a->desc_user_addr, a->avail_user_addr,
					   a->used_user_addr };
	v->addr_set = true;
	return 0;
}

/* SET_VRING_KICK / CALL / ERR: u64 index | NOFD flag, with one fd unless NOFD. */
static int handle_vring_fd(struct vhost_session *s, uint32_t request)
{
	uint64_t u = s->in.msg.payload.u64;
	bool nofd = u & VHOST_USER_VRING_NOFD_MASK;
	if ((u & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)) ||
	    s->in.nfds != (nofd ? 0u : 1u))
		return MSG_MALFORMED;
	int i = vring_index(s, (uint32_t)(u & VHOST_USER_VRING_IDX_MASK));
	if (i < 0)
		return i;
	struct vring *v = &s->vrings[i];
	int fd = nofd ? -1 : s->in.fds[0];
	s->in.nfds = 0;
	if (request == VHOST_USER_SET_VRING_ERR) {
		if (fd >= 0)
			close(fd);     /* blockd reports errors through the status byte */
		return 0;
	}
	if (request == VHOST_USER_SET_VRING_CALL) {
		if (v->call_fd >= 0)
			close(v->call_fd);
		v->call_fd = fd;
		if (queue_running(v))
			blk_queue_set_call_fd(v->q, dup_or_none(fd));
		return 0;
	}
	if (v->q || v->stopping) {      /* a kick for a running ring: replace it */
		if (fd >= 0)
			close(fd);
		return -EBUSY;
	}
	if (v->kick_fd >= 0)
		close(v->kick_fd);
	v->kick_fd = fd;
	v->kicked = true;
	return 0;
}

static int handle_get_config(struct vhost_session *s)
{
	struct vhost_user_config *c = &s->in.msg.payload.config;
	struct virtio_blk_config cfg;
	if (c->offset > sizeof(cfg) || c->size > sizeof(cfg) - c->offset)
		return -EINVAL;
	vhost_blk_fill_config(&cfg, s->owner.bdev, VHOST_BLK_MAX_QUEUES);
	struct vhost_user_config answer = { .offset = c->offset, .size = c->size, .flags = 0 };
	memcpy(answer.region, (char *)&cfg + c->offset, c->size);
	return reply(s, &answer, 12 + c->size, -1);
}

static bool inflight_geometry_ok(uint16_t num_queues, uint16_t queue_size)
{
	return num_queues >= 1 && num_queues <= VHOST_BLK_MAX_QUEUES && queue_size >= 1 &&
	       queue_size <= VIRTQUEUE_MAX_SIZE && !(queue_size & (queue_size - 1));
}

static int handle_get_inflight_fd(struct vhost_session *s)
{
	struct vhost_user_inflight in = s->in.msg.payload.inflight;
	if (!inflight_geometry_ok(in.num_queues, in.queue_size))
		return -EINVAL;
	uint64_t size = in.num_queues * vq_inflight_queue_size(in.queue_size);
	int fd = memfd_create("blockd-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	struct vhost_user_inflight answer = { .mmap_size = size, .mmap_offset = 0,
					      .num_queues = in.num_queues,
					      .queue_size = in.queue_size };
	int rc = reply(s, &answer, sizeof(answer), fd);
	close(fd);
	return rc;
}

static int handle_set_inflight_fd(struct vhost_session *s)
{
	struct vhost_user_inflight in = s->in.msg.payload.inflight;
	if (s->in.nfds != 1)
		return MSG_MALFORMED;
	if (any_queue_running(s) || !inflight_geometry_ok(in.num_queues, in.queue_size) ||
	    in.mmap_size < in.num_queues * vq_inflight_queue_size(in.queue_size))
		return -EINVAL;
	int err;
	struct vhost_shm *shm = vhost_shm_map(s->in.fds[0], in.mmap_offset, in.mmap_size, &err);
	if (!shm)
		return err;
	vhost_shm_unref(s->inflight);
	s->inflight = shm;
	s->inflight_queues = in.num_queues;
	s->inflight_queue_size = in.queue_size;
	return 0;
}

/* RESET_OWNER / RESET_DEVICE: back to a freshly connected front-end. */
static int handle_reset(struct vhost_session *s)
{
	if (any_queue_running(s))
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
		return reply_u64(s, offered_features(s));
	case VHOST_USER_SET_FEATURES:
		return handle_set_features(s, m->payload.u64);
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		return reply_u64(s, OFFERED_PROTOCOL_FEATURES);
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		if (m->payload.u64 & ~OFFERED_PROTOCOL_FEATURES)
			return -EINVAL;
		s->protocol_features = m->payload.u64;
		return 0;
	case VHOST_USER_GET_QUEUE_NUM:
		return reply_u64(s, VHOST_BLK_MAX_QUEUES);
	case VHOST_USER_GET_MAX_MEM_SLOTS:
		return reply_u64(s, VHOST_USER_MAX_RAM_SLOTS);
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
		return handle_vring_fd(s, m->hdr.request);
	case VHOST_USER_GET_CONFIG:
		return handle_get_config(s);
	case VHOST_USER_SET_CONFIG:
		return -ENOTSUP;           /* the config space is read-only */
	case VHOST_USER_GET_INFLIGHT_FD:
		return handle_get_inflight_fd(s);
	case VHOST_USER_SET_INFLIGHT_FD:
		return handle_set_inflight_fd(s);
	default:
		return MSG_MALFORMED;
	}
}

/* Handles the message in s->in. 0: done (input may continue), MSG_HELD, or < 0: close. */
static int handle_message(struct vhost_session *s)
{
	const struct vhost_user_msg *m = &s->in.msg;
	if (!vhost_user_well_formed(&s->in)) {
		log_warn("vhost", "msg=\"malformed message; closing\" ctrlr=%s request=%u size=%u "
			 "fds=%u", s->owner.name, m->hdr.request, m->hdr.size, s->in.nfds);
		return MSG_MALFORMED;
	}
	int rc = dispatch(s);
	if (rc == MSG_HELD)
		return rc;
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
		   has_protocol(s, VHOST_USER_PROTOCOL_F_REPLY_ACK);
	if (rc < 0)
		log_warn("vhost", "msg=\"request failed\" ctrlr=%s request=%u error=\"%s\"",
			 s->owner.name, m->hdr.request, strerror(-rc));
	if (rc == MSG_REPLIED)
		return 0;
	if (ack)
		return reply_u64(s, rc < 0) == MSG_REPLIED ? 0 : MSG_MALFORMED;
	return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- the connection */

static void message_done(struct vhost_session *s)
{
	vhost_user_drop_fds(&s->in);
	s->in.have = 0;
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
	int rc = handle_message(s);
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
	unsigned inflight = vhost_session_inflight(s);
	for (unsigned i = 0; i < VHOST_BLK_MAX_QUEUES; i++) {
		struct vring *v = &s->vrings[i];
		if (queue_running(v))
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
	s->mem = NULL;
	s->inflight = NULL;
	log_info("vhost", "msg=\"front-end disconnected\" ctrlr=%s session=%u reason=\"%s\" "
		 "dropped_requests=%u", s->owner.name, s->id, why,
		 mode == BLK_STOP_DRAIN ? 0 : inflight);
	s->owner.closed(s->owner.owner, s);
	session_unref(s);
}

unsigned vhost_session_inflight(const struct vhost_session *s)
{
	unsigned n = 0;
	for (unsigned i = 0; i < VHOST_BLK_MAX_QUEUES; i++)
		if (s->vrings[i].q)
			n += blk_queue_inflight(s->vrings[i].q);
	return n;
}

json_t *vhost_session_info_json(const struct vhost_session *s)
{
	unsigned queues = 0;
	for (unsigned i = 0; i < VHOST_BLK_MAX_QUEUES; i++)
		queues += s->vrings[i].q != NULL;
	char name[96];
	snprintf(name, sizeof(name), "%s_s%u", s->owner.name, s->id);
	return json_pack("{s:I, s:I, s:s, s:b, s:I, s:I, s:I}", "vid", (json_int_t)s->id,
			 "id", (json_int_t)s->id, "name", name, "started", queues > 0,
			 "max_queues", (json_int_t)queues,
			 "inflight_task_cnt", (json_int_t)vhost_session_inflight(s),
			 "resubmitted_task_cnt", (json_int_t)s->resubmitted);
}

/* vhost_session_state.c — the state-only part of a vhost-user session (see
 * vhost_session_priv.h): replies, ring and queue queries, the config space, the inflight
 * region, the vring eventfds, which dirty logging a queue gets, and the SPDK-shaped session
 * entry. It never calls into vhost_session.c, which owns the protocol's flow. */
#include "vhost_session_priv.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "vhost_blk.h"
#include "vhost_log.h"

uint64_t vs_offered_features(const struct vhost_session *s)
{
	uint64_t f = LOG_ALL | (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_BLK_F_SIZE_MAX) |
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

bool vs_has_protocol(const struct vhost_session *s, unsigned bit)
{
	return s->protocol_features & (1ull << bit);
}

/* Answers the message being handled with its own reply, after which no REPLY_ACK follows:
 * MSG_REPLIED, or -EIO when the front-end does not read its replies (close). */
int vs_reply(struct vhost_session *s, const void *payload, uint32_t size, int fd)
{
	int rc = vhost_user_send_reply(s->fd, s->in.msg.hdr.request, payload, size, fd);
	return rc < 0 ? rc : MSG_REPLIED;
}

int vs_reply_u64(struct vhost_session *s, uint64_t v)
{
	return vs_reply(s, &v, sizeof(v), -1);
}

bool vs_queue_running(const struct vring *v)
{
	return v->q && !v->stopping;
}

bool vs_any_queue_running(const struct vhost_session *s)
{
	for (unsigned i = 0; i < VHOST_BLK_MAX_QUEUES; i++)
		if (s->vrings[i].q || s->vrings[i].stopping)
			return true;
	return false;
}

/* Dirty logging is on while VHOST_F_LOG_ALL is negotiated and a log is set. The invariant
 * that makes it complete: no queue runs with LOG_ALL negotiated and no log (a queue does not
 * start then; LOG_ALL is refused for running queues without a log; a log refused under
 * LOG_ALL with queues running closes the connection), and every change reaches the queues
 * before the message that made it is answered. */
struct blk_queue_log vs_queue_log(const struct vhost_session *s, const struct vring *v)
{
	bool on = (s->features & LOG_ALL) && s->log;
	return (struct blk_queue_log){
		.log = on ? s->log : NULL,
		.used_gpa_valid = v->flags & (1u << VHOST_VRING_F_LOG),
		.used_gpa = v->log_guest_addr,
	};
}

/* The log bytes the session needs: all of guest memory, and every logged used ring. */
uint64_t vs_log_need(const struct vhost_session *s)
{
	uint64_t need = vhost_log_bytes_for(vhost_log_mem_end(s->mem));
	for (unsigned i = 0; i < VHOST_BLK_MAX_QUEUES; i++) {
		const struct vring *v = &s->vrings[i];
		if (!v->addr_set || !(v->flags & (1u << VHOST_VRING_F_LOG)))
			continue;
		uint64_t n = vhost_log_bytes_for(v->log_guest_addr + vq_used_ring_bytes(v->num));
		if (n > need)
			need = n;
	}
	return need;
}

void vs_drop_log(struct vhost_session *s, const char *why)
{
	if (!s->log)
		return;
	vhost_shm_unref(s->log);
	s->log = NULL;
	log_info("vhost", "msg=\"dirty log released\" ctrlr=%s reason=\"%s\"", s->owner.name,
		 why);
}

struct inflight_queue_split *vs_inflight_slice(struct vhost_session *s, unsigned i,
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

int vs_dup_or_none(int fd)
{
	return fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
}

int vs_vring_index(const struct vhost_session *s, uint32_t index)
{
	(void)s;
	return index < VHOST_BLK_MAX_QUEUES ? (int)index : -EINVAL;
}

/* SET_VRING_KICK / CALL / ERR: u64 index | NOFD flag, with one fd unless NOFD. */
int vs_handle_vring_fd(struct vhost_session *s, uint32_t request)
{
	uint64_t u = s->in.msg.payload.u64;
	bool nofd = u & VHOST_USER_VRING_NOFD_MASK;
	if ((u & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)) ||
	    s->in.nfds != (nofd ? 0u : 1u))
		return MSG_MALFORMED;
	int i = vs_vring_index(s, (uint32_t)(u & VHOST_USER_VRING_IDX_MASK));
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
		if (vs_queue_running(v))
			blk_queue_set_call_fd(v->q, vs_dup_or_none(fd));
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

int vs_handle_get_config(struct vhost_session *s)
{
	struct vhost_user_config *c = &s->in.msg.payload.config;
	struct virtio_blk_config cfg;
	if (c->offset > sizeof(cfg) || c->size > sizeof(cfg) - c->offset)
		return -EINVAL;
	vhost_blk_fill_config(&cfg, s->owner.bdev, VHOST_BLK_MAX_QUEUES);
	struct vhost_user_config answer = { .offset = c->offset, .size = c->size, .flags = 0 };
	memcpy(answer.region, (char *)&cfg + c->offset, c->size);
	return vs_reply(s, &answer, 12 + c->size, -1);
}

static bool vs_inflight_geometry_ok(uint16_t num_queues, uint16_t queue_size)
{
	return num_queues >= 1 && num_queues <= VHOST_BLK_MAX_QUEUES && queue_size >= 1 &&
	       queue_size <= VIRTQUEUE_MAX_SIZE && !(queue_size & (queue_size - 1));
}

int vs_handle_get_inflight_fd(struct vhost_session *s)
{
	struct vhost_user_inflight in = s->in.msg.payload.inflight;
	if (!vs_inflight_geometry_ok(in.num_queues, in.queue_size))
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
	int rc = vs_reply(s, &answer, sizeof(answer), fd);
	close(fd);
	return rc;
}

int vs_handle_set_inflight_fd(struct vhost_session *s)
{
	struct vhost_user_inflight in = s->in.msg.payload.inflight;
	if (s->in.nfds != 1)
		return MSG_MALFORMED;
	if (vs_any_queue_running(s) || !vs_inflight_geometry_ok(in.num_queues, in.queue_size) ||
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

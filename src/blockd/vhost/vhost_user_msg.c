/* vhost_user_msg.c — reading, checking and answering vhost-user messages on the wire (see
 * vhost_user_msg.h): protocol code separate from policy. A message is read without ever
 * blocking, a header and then its payload, with the descriptors that came with them; its
 * size and descriptors are checked against its request before anyone handles it. */
#include "vhost_user_msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define HDR_SIZE sizeof(struct vhost_user_header)

/* ---------------------------------------------------------------- input */

/* Keeps the descriptors of every SCM_RIGHTS message in `in`, up to VHOST_USER_MAX_FDS;
 * closes the rest. false when some had to be closed. */
static bool collect_fds(struct vhost_user_input *in, struct msghdr *mh)
{
	bool all_kept = true;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int fds[VHOST_USER_MAX_FDS * 2];
		if (n > sizeof(fds) / sizeof(fds[0]))
			n = sizeof(fds) / sizeof(fds[0]);
		memcpy(fds, CMSG_DATA(cm), n * sizeof(int));
		for (size_t i = 0; i < n; i++) {
			if (in->nfds < VHOST_USER_MAX_FDS) {
				in->fds[in->nfds++] = fds[i];
			} else {
				close(fds[i]);
				all_kept = false;
			}
		}
	}
	return all_kept;
}

static bool header_valid(const struct vhost_user_header *h)
{
	return h->size <= sizeof(union vhost_user_payload) &&
	       (h->flags & VHOST_USER_VERSION_MASK) == VHOST_USER_VERSION &&
	       !(h->flags & VHOST_USER_REPLY_MASK);
}

int vhost_user_read_message(int sock, struct vhost_user_input *in, const char *ctrlr)
{
	size_t want = in->have < HDR_SIZE ? HDR_SIZE : HDR_SIZE + in->msg.hdr.size;
	struct iovec iov = { (char *)&in->msg + in->have, want - in->have };
	char control[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			     .msg_controllen = sizeof(control) };
	ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	bool all_kept = collect_fds(in, &mh);
	if (!all_kept || (mh.msg_flags & MSG_CTRUNC)) {
		log_warn("vhost", "msg=\"too many descriptors with a message\" ctrlr=%s", ctrlr);
		return -EPROTO;
	}
	in->have += (size_t)n;
	if (in->have == HDR_SIZE && !header_valid(&in->msg.hdr)) {
		const struct vhost_user_header *h = &in->msg.hdr;
		log_warn("vhost", "msg=\"bad message header\" ctrlr=%s request=%u size=%u "
			 "flags=0x%x", ctrlr, h->request, h->size, h->flags);
		return -EPROTO;
	}
	return in->have == HDR_SIZE + in->msg.hdr.size && in->have >= HDR_SIZE;
}

void vhost_user_drop_fds(struct vhost_user_input *in)
{
	for (unsigned i = 0; i < in->nfds; i++)
		close(in->fds[i]);
	in->nfds = 0;
}

/* ---------------------------------------------------------------- validation */

/* The payload size each request must carry (-1: unknown request; -2: a variable-sized
 * payload whose own count is out of range). */
static long expected_size(const struct vhost_user_msg *m)
{
	switch (m->hdr.request) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_GET_MAX_MEM_SLOTS:
	case VHOST_USER_SET_OWNER:
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_RESET_DEVICE:
		return 0;
	case VHOST_USER_SET_FEATURES:
	case VHOST_USER_SET_PROTOCOL_FEATURES:
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		return sizeof(uint64_t);
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
		return sizeof(struct vhost_user_vring_state);
	case VHOST_USER_SET_VRING_ADDR:
		return sizeof(struct vhost_user_vring_addr);
	case VHOST_USER_SET_MEM_TABLE:
		if (m->hdr.size < 8 || m->payload.memory.nregions > VHOST_USER_MAX_RAM_SLOTS)
			return -2;
		return 8 + m->payload.memory.nregions * sizeof(struct vhost_user_mem_region);
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_SET_CONFIG:
		if (m->hdr.size < 12 || m->payload.config.size > VHOST_USER_CONFIG_MAX)
			return -2;
		return 12 + m->payload.config.size;
	case VHOST_USER_GET_INFLIGHT_FD:
	case VHOST_USER_SET_INFLIGHT_FD:
		return sizeof(struct vhost_user_inflight);
	case VHOST_USER_SET_LOG_BASE:
		return sizeof(struct vhost_user_log);
	case VHOST_USER_SET_LOG_FD:
		return 0;
	default:
		return -1;
	}
}

static bool carries_fds(uint32_t request)
{
	return request == VHOST_USER_SET_MEM_TABLE || request == VHOST_USER_SET_VRING_KICK ||
	       request == VHOST_USER_SET_VRING_CALL || request == VHOST_USER_SET_VRING_ERR ||
	       request == VHOST_USER_SET_INFLIGHT_FD || request == VHOST_USER_SET_LOG_BASE ||
	       request == VHOST_USER_SET_LOG_FD;
}

bool vhost_user_well_formed(const struct vhost_user_input *in)
{
	const struct vhost_user_msg *m = &in->msg;
	long want = expected_size(m);
	return want >= 0 && (uint32_t)want == m->hdr.size &&
	       (carries_fds(m->hdr.request) || in->nfds == 0);
}

/* ---------------------------------------------------------------- output */

int vhost_user_send_reply(int sock, uint32_t request, const void *payload, uint32_t size,
			  int fd)
{
	struct vhost_user_header hdr = {
		.request = request,
		.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK,
		.size = size,
	};
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { (void *)payload, size } };
	char control[CMSG_SPACE(sizeof(int))];
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	if (fd >= 0) {
		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = sizeof(control);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	ssize_t n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	return n == (ssize_t)(sizeof(hdr) + size) ? 0 : -EIO;
}

int vhost_user_reply_u64(int sock, uint32_t request, uint64_t value)
{
	return vhost_user_send_reply(sock, request, &value, sizeof(value), -1);
}

/* ---------------------------------------------------------------- names */

static const struct {
	uint32_t request;
	const char *name;
} request_names[] = {
	{ VHOST_USER_GET_FEATURES, "GET_FEATURES" },
	{ VHOST_USER_SET_FEATURES, "SET_FEATURES" },
	{ VHOST_USER_SET_OWNER, "SET_OWNER" },
	{ VHOST_USER_RESET_OWNER, "RESET_OWNER" },
	{ VHOST_USER_SET_MEM_TABLE, "SET_MEM_TABLE" },
	{ VHOST_USER_SET_LOG_BASE, "SET_LOG_BASE" },
	{ VHOST_USER_SET_LOG_FD, "SET_LOG_FD" },
	{ VHOST_USER_SET_VRING_NUM, "SET_VRING_NUM" },
	{ VHOST_USER_SET_VRING_ADDR, "SET_VRING_ADDR" },
	{ VHOST_USER_SET_VRING_BASE, "SET_VRING_BASE" },
	{ VHOST_USER_GET_VRING_BASE, "GET_VRING_BASE" },
	{ VHOST_USER_SET_VRING_KICK, "SET_VRING_KICK" },
	{ VHOST_USER_SET_VRING_CALL, "SET_VRING_CALL" },
	{ VHOST_USER_SET_VRING_ERR, "SET_VRING_ERR" },
	{ VHOST_USER_GET_PROTOCOL_FEATURES, "GET_PROTOCOL_FEATURES" },
	{ VHOST_USER_SET_PROTOCOL_FEATURES, "SET_PROTOCOL_FEATURES" },
	{ VHOST_USER_GET_QUEUE_NUM, "GET_QUEUE_NUM" },
	{ VHOST_USER_SET_VRING_ENABLE, "SET_VRING_ENABLE" },
	{ VHOST_USER_GET_CONFIG, "GET_CONFIG" },
	{ VHOST_USER_SET_CONFIG, "SET_CONFIG" },
	{ VHOST_USER_GET_INFLIGHT_FD, "GET_INFLIGHT_FD" },
	{ VHOST_USER_SET_INFLIGHT_FD, "SET_INFLIGHT_FD" },
	{ VHOST_USER_RESET_DEVICE, "RESET_DEVICE" },
	{ VHOST_USER_GET_MAX_MEM_SLOTS, "GET_MAX_MEM_SLOTS" },
};

#define NUM_NAMES (sizeof(request_names) / sizeof(request_names[0]))

const char *vhost_user_request_name(uint32_t request)
{
	for (size_t i = 0; i < NUM_NAMES; i++)
		if (request_names[i].request == request)
			return request_names[i].name;
	return NULL;
}

int vhost_user_request_parse(const char *name)
{
	if (name[0] >= '0' && name[0] <= '9') {
		char *end;
		unsigned long n = strtoul(name, &end, 10);
		if (*end || n > 0xffffffffu || !vhost_user_request_name((uint32_t)n))
			return -1;
		return (int)n;
	}
	if (strncasecmp(name, "VHOST_USER_", 11) == 0)
		name += 11;
	for (size_t i = 0; i < NUM_NAMES; i++)
		if (strcasecmp(request_names[i].name, name) == 0)
			return (int)request_names[i].request;
	return -1;
}

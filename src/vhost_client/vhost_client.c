/* vhost_client.c — the front-end side of vhost-user (see vhost_client.h): socket, messages
 * with SCM_RIGHTS, reply acks, negotiation, memory table, vring setup. */
#include "vhost_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"

int vuc_sealed_memfd(const char *name, size_t size, bool huge)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | (huge ? MFD_HUGETLB : 0));
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) != 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int vuc_connect(struct vuc *v, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	v->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (v->sock < 0)
		return -errno;
	/* A Unix socket connects at once or fails (the listen backlog takes it). */
	if (connect(v->sock, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		int e = errno;
		vuc_close(v);
		return -e;
	}
	v->acks = false;
	return 0;
}

void vuc_close(struct vuc *v)
{
	if (v->sock >= 0)
		close(v->sock);
	v->sock = -1;
	v->acks = false;
}

bool vuc_closed_errno(int e)
{
	return e == EPIPE || e == ECONNRESET || e == ENOTCONN;
}

static void wait_sock(struct vuc *v, short events, int64_t deadline)
{
	int64_t left = deadline - monotonic_ms();
	int ms = left < 0 ? 0 : left > 100 ? 100 : (int)left;
	if (v->wait) {
		v->wait(v->wait_arg, v->sock, events, ms);
		return;
	}
	struct pollfd p = { v->sock, events, 0 };
	(void)poll(&p, 1, ms);
}

int vuc_send(struct vuc *v, uint32_t request, uint32_t flags, uint32_t size,
	     const void *payload, size_t payload_len, const int *fds, unsigned nfds)
{
	struct vhost_user_header hdr = { request, VHOST_USER_VERSION | flags, size };
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { (void *)payload, payload_len } };
	union {
		char buf[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} control;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = payload_len ? 2 : 1 };
	if (nfds > 16)
		return -EINVAL;
	if (nfds) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	int64_t deadline = monotonic_ms() + v->timeout_ms;
	for (;;) {
		ssize_t n = sendmsg(v->sock, &mh, MSG_NOSIGNAL);
		if (n == (ssize_t)(sizeof(hdr) + payload_len))
			return 0;
		if (n >= 0)
			return -EMSGSIZE;     /* small messages go whole */
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if (monotonic_ms() > deadline)
			return -ETIMEDOUT;
		wait_sock(v, POLLOUT, deadline);
	}
}

int vuc_recv(struct vuc *v, struct vhost_user_msg *m, int *fd, int timeout_ms)
{
	size_t have = 0, want = sizeof(m->hdr);
	int64_t deadline = monotonic_ms() + timeout_ms;
	if (fd)
		*fd = -1;
	while (have < want) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * 4)];
			struct cmsghdr align;
		} control;
		struct iovec iov = { (char *)m + have, want - have };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
				     .msg_controllen = sizeof(control.buf) };
		ssize_t n = recvmsg(v->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n == 0 || (n < 0 && vuc_closed_errno(errno)))
			return 0;
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -errno;
			if (monotonic_ms() > deadline)
				return -ETIMEDOUT;
			wait_sock(v, POLLIN, deadline);
			continue;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			unsigned cnt = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			int got[4];
			memcpy(got, CMSG_DATA(cm), cnt * sizeof(int));
			for (unsigned i = 0; i < cnt; i++) {
				if (fd && *fd < 0)
					*fd = got[i];
				else
					close(got[i]);
			}
		}
		have += (size_t)n;
		if (have == sizeof(m->hdr)) {
			if (m->hdr.size > sizeof(m->payload) ||
			    (m->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
			    !(m->hdr.flags & VHOST_USER_REPLY_MASK))
				return -EPROTO;
			want += m->hdr.size;
		}
	}
	return 1;
}

int64_t vuc_call(struct vuc *v, uint32_t request, const void *payload, uint32_t size,
		 const int *fds, unsigned nfds)
{
	int rc = vuc_send(v, request, v->acks ? VHOST_USER_NEED_REPLY : 0, size, payload, size,
			  fds, nfds);
	if (rc < 0)
		return vuc_closed_errno(-rc) ? VUC_CLOSED : rc;
	if (!v->acks)
		return 0;
	struct vhost_user_msg m;
	rc = vuc_recv(v, &m, NULL, v->timeout_ms);
	if (rc <= 0)
		return rc == 0 ? VUC_CLOSED : rc;
	if (m.hdr.request != request || m.hdr.size != 8)
		return -EPROTO;
	return (int64_t)m.payload.u64;
}

int vuc_get_u64(struct vuc *v, uint32_t request, uint64_t *out)
{
	int rc = vuc_send(v, request, 0, 0, NULL, 0, NULL, 0);
	if (rc < 0)
		return vuc_closed_errno(-rc) ? VUC_CLOSED : rc;
	struct vhost_user_msg m;
	rc = vuc_recv(v, &m, NULL, v->timeout_ms);
	if (rc <= 0)
		return rc == 0 ? VUC_CLOSED : rc;
	if (m.hdr.request != request || m.hdr.size != 8)
		return -EPROTO;
	*out = m.payload.u64;
	return 0;
}

static int ok_or(int64_t rc)
{
	return rc == 0 ? 0 : rc > 0 ? -EREMOTEIO : (int)rc;
}

int vuc_negotiate(struct vuc *v, uint64_t features, uint64_t optional, uint64_t protocol,
		  bool protocol_optional, uint64_t *offered)
{
	uint64_t have = 0, phave = 0;
	int rc = ok_or(vuc_call(v, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0));
	if (rc == 0)
		rc = vuc_get_u64(v, VHOST_USER_GET_FEATURES, &have);
	if (rc != 0)
		return rc;
	if (offered)
		*offered = have;
	if ((have & features) != features)
		return -ENOTSUP;
	features |= optional & have;
	if ((rc = ok_or(vuc_call(v, VHOST_USER_SET_FEATURES, &features, 8, NULL, 0))) != 0)
		return rc;
	if (!(features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
		return 0;
	if ((rc = vuc_get_u64(v, VHOST_USER_GET_PROTOCOL_FEATURES, &phave)) != 0)
		return rc;
	if (protocol_optional)
		protocol &= phave;
	else if ((phave & protocol) != protocol)
		return -ENOTSUP;
	v->acks = protocol & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK);
	return ok_or(vuc_call(v, VHOST_USER_SET_PROTOCOL_FEATURES, &protocol, 8, NULL, 0));
}

int vuc_set_mem_table(struct vuc *v, int memfd, uint64_t size, uint64_t uva)
{
	struct vhost_user_memory mt = { .nregions = 1 };
	mt.regions[0] = (struct vhost_user_mem_region){ 0, size, uva, 0 };
	return ok_or(vuc_call(v, VHOST_USER_SET_MEM_TABLE, &mt, 8 + sizeof(mt.regions[0]),
			      &memfd, 1));
}

int vuc_setup_vring(struct vuc *v, const struct vuc_vring_setup *s, uint32_t *failed)
{
	struct vhost_user_vring_state num = { s->index, s->num }, base = { s->index, s->base };
	struct vhost_user_vring_addr a = { .index = s->index, .desc_user_addr = s->desc_uva,
					   .used_user_addr = s->used_uva,
					   .avail_user_addr = s->avail_uva };
	uint64_t idx = s->index;
	struct {
		uint32_t request;
		const void *payload;
		uint32_t size;
		const int *fd;
	} steps[] = {
		{ VHOST_USER_SET_VRING_NUM, &num, sizeof(num), NULL },
		{ VHOST_USER_SET_VRING_BASE, &base, sizeof(base), NULL },
		{ VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL },
		{ VHOST_USER_SET_VRING_CALL, &idx, 8, &s->call_fd },
		{ VHOST_USER_SET_VRING_KICK, &idx, 8, &s->kick_fd },
	};
	for (unsigned i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int rc = ok_or(vuc_call(v, steps[i].request, steps[i].payload, steps[i].size,
					steps[i].fd, steps[i].fd ? 1 : 0));
		if (rc != 0) {
			if (failed)
				*failed = steps[i].request;
			return rc;
		}
	}
	return 0;
}

int vuc_get_config(struct vuc *v, void *buf, uint32_t len)
{
	struct vhost_user_config c = { .offset = 0, .size = len };
	if (len > sizeof(c.region))
		return -EINVAL;
	uint32_t size = 12 + len;
	int rc = vuc_send(v, VHOST_USER_GET_CONFIG, 0, size, &c, size, NULL, 0);
	if (rc < 0)
		return vuc_closed_errno(-rc) ? VUC_CLOSED : rc;
	struct vhost_user_msg m;
	rc = vuc_recv(v, &m, NULL, v->timeout_ms);
	if (rc <= 0)
		return rc == 0 ? VUC_CLOSED : rc;
	if (m.hdr.request != VHOST_USER_GET_CONFIG || m.hdr.size != size)
		return -EPROTO;
	memcpy(buf, m.payload.config.region, len);
	return 0;
}

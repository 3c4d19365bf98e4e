/* vhost_client.h — the front-end side of vhost-user (what QEMU does for a vhost-user-blk
 * device), shared by the unit tests' fake front-end and the target benchmark: sealed memfd
 * guest memory, messages with descriptors over the Unix socket, the reply-ack call, feature
 * negotiation, the memory table and the per-queue vring setup. Every wait has a deadline;
 * while it waits it calls the owner's wait hook (the tests poll blockd's control reactor,
 * the benchmark poll(2)s the socket). No assertions: every failure is a return value. */
#ifndef BERTH_VHOST_CLIENT_H
#define BERTH_VHOST_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhost_user_proto.h"

/* vuc_call's answers besides the REPLY_ACK value (0 ok, non-zero refused). */
#define VUC_CLOSED (-1)

/* Waits for up to timeout_ms for events on fd (or does whatever the owner must do while
 * waiting); the caller re-checks the socket after every call. */
typedef void (*vuc_wait_fn)(void *arg, int fd, short events, int timeout_ms);

struct vuc {
	int sock;
	bool acks;              /* REPLY_ACK negotiated: vuc_call waits for the ack */
	int timeout_ms;         /* each message's deadline */
	vuc_wait_fn wait;       /* NULL: poll(2) on the socket */
	void *wait_arg;
};

/* Guest memory the way QEMU's memory-backend-memfd makes it: sealed against shrinking and
 * growing; on 2 MiB huge pages when huge (hugetlb=on; size a multiple of 2 MiB). The fd, or
 * -errno. */
int vuc_sealed_memfd(const char *name, size_t size, bool huge);

/* A non-blocking connection to the socket at path; 0 or -errno. Resets the ack state. */
int vuc_connect(struct vuc *v, const char *path);
void vuc_close(struct vuc *v);
/* A closed-connection errno (EPIPE, ECONNRESET, ENOTCONN). */
bool vuc_closed_errno(int e);

/* Sends one message (flags or-ed into VHOST_USER_VERSION; size may differ from the payload
 * actually sent, payload_len bytes; at most 16 fds). 0 or -errno (-ETIMEDOUT, -EMSGSIZE on
 * a short send). */
int vuc_send(struct vuc *v, uint32_t request, uint32_t flags, uint32_t size,
	     const void *payload, size_t payload_len, const int *fds, unsigned nfds);
/* Receives one reply within timeout_ms: 1 received (fd: the first descriptor that came with
 * it, or -1; may be NULL), 0 the connection was closed, -ETIMEDOUT, -EPROTO (not a reply of
 * this version, or larger than the payload union). */
int vuc_recv(struct vuc *v, struct vhost_user_msg *m, int *fd, int timeout_ms);

/* A request without a reply of its own: with acks it is sent with NEED_REPLY and the ack
 * value is returned; VUC_CLOSED when the connection closed instead; -ETIMEDOUT, -EPROTO.
 * Without acks: 0 once sent, or VUC_CLOSED. */
int64_t vuc_call(struct vuc *v, uint32_t request, const void *payload, uint32_t size,
		 const int *fds, unsigned nfds);
/* A request answered with a u64 (GET_FEATURES ...): 0 and *out, or as vuc_call. */
int vuc_get_u64(struct vuc *v, uint32_t request, uint64_t *out);

/* SET_OWNER, features (all of `features` must be offered: -ENOTSUP otherwise; of
 * `optional`, those offered), and with
 * VHOST_USER_F_PROTOCOL_FEATURES the protocol features (`protocol` & what is offered when
 * `protocol_optional`, else all of it must be offered). *offered (may be NULL) the device's
 * features. 0 or the first failure. */
int vuc_negotiate(struct vuc *v, uint64_t features, uint64_t optional, uint64_t protocol,
		  bool protocol_optional, uint64_t *offered);
/* One region: guest-physical 0..size at uva, fd offset 0. */
int vuc_set_mem_table(struct vuc *v, int memfd, uint64_t size, uint64_t uva);

struct vuc_vring_setup {
	uint32_t index;
	uint16_t num, base;
	uint64_t desc_uva, avail_uva, used_uva;
	int call_fd, kick_fd;
};
/* SET_VRING_NUM/BASE/ADDR/CALL/KICK; the kick starts the queue. 0 or the first failure
 * (*failed, may be NULL: the request that failed). */
int vuc_setup_vring(struct vuc *v, const struct vuc_vring_setup *s, uint32_t *failed);
/* GET_CONFIG: the first len bytes of the device's config space (virtio_blk_config). */
int vuc_get_config(struct vuc *v, void *buf, uint32_t len);

#endif

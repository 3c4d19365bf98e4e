/* vhost_session_priv.h — what the two files of a vhost-user session share: the session and
 * ring state, the handlers' result codes, and the state-only part of the protocol that
 * vhost_session_state.c implements for vhost_session.c (replies, ring and queue queries,
 * the config space, the inflight region, the vring eventfds, the dirty log's bookkeeping).
 * vhost_session_state.c never calls into vhost_session.c. */
#ifndef BLOCKD_VHOST_SESSION_PRIV_H
#define BLOCKD_VHOST_SESSION_PRIV_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "reactor.h"
#include "vhost_blk.h"
#include "vhost_blk_queue.h"
#include "vhost_session.h"
#include "vhost_user_msg.h"
#include "vhost_user_proto.h"

#define OFFERED_PROTOCOL_FEATURES                                                      \
	((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD) |     \
	 (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ull << VHOST_USER_PROTOCOL_F_CONFIG) | \
	 (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))
#define LOG_ALL (1ull << VHOST_F_LOG_ALL)

/* Handler results besides 0 and a negative errno (a refusal the front-end is told of with
 * REPLY_ACK, or else the connection closes). */
#define MSG_HELD 1         /* waits for queues to stop; handled again afterwards */
#define MSG_REPLIED 2      /* answered with its own reply: no REPLY_ACK */
#define MSG_SYNC 3         /* handled; finished with s->sync_rc once the queues applied it */
#define MSG_LOG_ACK 4      /* SET_LOG_BASE accepted: its u64 reply (0) is still to be sent */
#define MSG_MALFORMED (-EPROTO)

struct vring {
	uint16_t num, base;
	bool addr_set, kicked, enabled;
	struct vq_ring_addrs addrs;
	uint32_t flags;             /* SET_VRING_ADDR's: VHOST_VRING_F_LOG */
	uint64_t log_guest_addr;    /* where the used ring is logged with VHOST_VRING_F_LOG */
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
	unsigned refs;              /* 1 while open, +1 per queue stop or log change awaited */
	unsigned stops_pending;
	unsigned syncs_pending;     /* log changes sent to queues, not yet applied */
	bool sync_wait;             /* the held message is finished with sync_rc after them */
	int sync_rc;

	/* An injected fault (blockd_fault_vhost) holds the message being handled. */
	bool fault_checked, fault_held, hold_timer_armed;
	struct reactor_timer hold_timer;

	struct vhost_shm *log;      /* the dirty log (SET_LOG_BASE), NULL: none */

	uint64_t features;          /* acked virtio features */
	uint64_t protocol_features;
	struct vhost_mem *mem;
	struct vhost_shm *inflight;
	uint16_t inflight_queues, inflight_queue_size;
	struct vring vrings[VHOST_BLK_MAX_QUEUES];
	uint64_t resubmitted;

	struct vhost_user_input in;  /* the message being received or handled */
};

uint64_t vs_offered_features(const struct vhost_session *s);
bool vs_has_protocol(const struct vhost_session *s, unsigned bit);

/* Answers the message being handled with its own reply (no REPLY_ACK follows): MSG_REPLIED,
 * or -EIO when the front-end does not read its replies (close). */
int vs_reply(struct vhost_session *s, const void *payload, uint32_t size, int fd);
int vs_reply_u64(struct vhost_session *s, uint64_t v);

bool vs_queue_running(const struct vring *v);   /* started and not being stopped */
bool vs_any_queue_running(const struct vhost_session *s);   /* or being stopped */
int vs_vring_index(const struct vhost_session *s, uint32_t index);
int vs_dup_or_none(int fd);

/* The dirty logging a ring's queue gets, and the log bytes the session needs. */
struct blk_queue_log vs_queue_log(const struct vhost_session *s, const struct vring *v);
uint64_t vs_log_need(const struct vhost_session *s);
void vs_drop_log(struct vhost_session *s, const char *why);

/* This queue's slice of the inflight region, or NULL (not tracked). */
struct inflight_queue_split *vs_inflight_slice(struct vhost_session *s, unsigned i,
					       uint16_t num);

/* Handlers: 0, MSG_REPLIED, MSG_MALFORMED or a negative errno. */
int vs_handle_vring_fd(struct vhost_session *s, uint32_t request);
int vs_handle_get_config(struct vhost_session *s);
int vs_handle_get_inflight_fd(struct vhost_session *s);
int vs_handle_set_inflight_fd(struct vhost_session *s);

#endif

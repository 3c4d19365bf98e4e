/* vhost_session.h — one front-end connection to a vhost-user-blk controller: the vhost-user
 * protocol (QEMU's docs/interop/vhost-user.rst) spoken on the control thread — feature
 * negotiation, memory table, vring setup, config space, the inflight region — and the
 * starting and stopping of the controller's virtqueues on their reactors. */
#ifndef BLOCKD_VHOST_SESSION_H
#define BLOCKD_VHOST_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "bdev.h"
#include "reactor.h"
#include "vhost_blk_queue.h"

struct vhost_session;

/* What a session needs from its controller. */
struct vhost_session_owner {
	const char *name;                /* controller name, for logs */
	struct bdev *bdev;
	bool readonly;
	struct reactor *control;         /* the control thread's reactor */
	struct reactor *(*queue_reactor)(void *owner, unsigned queue_index);
	uint32_t drain_timeout_ms;       /* a draining queue's deadline (0: the default) */
	/* The session ended (after vhost_session_close or on its own). */
	void (*closed)(void *owner, struct vhost_session *s);
	void *owner;
};

/* Takes ownership of the connected socket fd. NULL on allocation failure (fd closed). */
struct vhost_session *vhost_session_create(const struct vhost_session_owner *owner, int fd,
					   unsigned id);
/* Ends the session: queues stopped with mode, socket closed, owner->closed called. Safe to
 * call once; the session's memory goes once the reactors are done with it. */
void vhost_session_close(struct vhost_session *s, enum blk_stop_mode mode, const char *why);

/* Injected faults (blockd_fault_vhost): fn(ctrlr, request) says until when (monotonic ns;
 * UINT64_MAX: until cleared; 0 or a past time: not at all) a message about to be handled is
 * held, its input with it. Set once at registration; NULL: none. */
typedef uint64_t (*vhost_session_hold_fn)(const char *ctrlr, uint32_t request);
void vhost_session_set_hold_hook(vhost_session_hold_fn fn);
/* Asks the hook again about a held message (a fault was cleared) and releases it if it is
 * no longer held. */
void vhost_session_recheck_hold(struct vhost_session *s);

/* SPDK's session entry: vid, id, name, started, max_queues, inflight_task_cnt. */
json_t *vhost_session_info_json(const struct vhost_session *s);
unsigned vhost_session_inflight(const struct vhost_session *s);

#endif

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

/* SPDK's session entry: vid, id, name, started, max_queues, inflight_task_cnt. */
json_t *vhost_session_info_json(const struct vhost_session *s);
unsigned vhost_session_inflight(const struct vhost_session *s);

#endif

/* vhost_user_msg.h — the wire level of vhost-user, protocol code separate from policy:
 * reading one message (header, payload and the descriptors that came with it) from a
 * non-blocking socket, checking that it is well formed for its request, and sending
 * replies. What a request does, and whether it is allowed now, is vhost_session.c's
 * business. */
#ifndef BLOCKD_VHOST_USER_MSG_H
#define BLOCKD_VHOST_USER_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhost_user_proto.h"

/* One message being received. The descriptors belong to it until a handler takes them
 * (setting nfds to 0) or vhost_user_drop_fds closes them. */
struct vhost_user_input {
	struct vhost_user_msg msg;
	size_t have;                     /* bytes of msg received so far */
	int fds[VHOST_USER_MAX_FDS];
	unsigned nfds;
};

/* Reads what the socket has of the message in progress, without blocking. 1: a whole
 * message is in `in`; 0: more bytes are needed; < 0: close the connection (-ECONNRESET: the
 * front-end closed it; -EPROTO: a bad header or too many descriptors). ctrlr names the
 * controller in logs. */
int vhost_user_read_message(int sock, struct vhost_user_input *in, const char *ctrlr);

/* Closes the descriptors no handler took. */
void vhost_user_drop_fds(struct vhost_user_input *in);

/* A known request with exactly the payload size it requires, and descriptors only if the
 * request carries some. */
bool vhost_user_well_formed(const struct vhost_user_input *in);

/* Sends the reply to request: size bytes of payload and, if fd >= 0, that descriptor.
 * 0, or -EIO when it could not be sent whole without blocking (a front-end that does not
 * read its replies). */
int vhost_user_send_reply(int sock, uint32_t request, const void *payload, uint32_t size,
			  int fd);
int vhost_user_reply_u64(int sock, uint32_t request, uint64_t value);

/* The name of a request without its VHOST_USER_ prefix ("GET_VRING_BASE"), or NULL for a
 * request blockd does not know. */
const char *vhost_user_request_name(uint32_t request);
/* The request a name stands for: "GET_VRING_BASE", "VHOST_USER_GET_VRING_BASE" (any case) or
 * its number in decimal; -1 when it is none of the requests blockd knows. */
int vhost_user_request_parse(const char *name);

#endif

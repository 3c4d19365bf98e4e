/* rpc_request.h — the request object, shared by the dispatcher (rpc_dispatch.c) and the
 * transport (rpc_server.c) only. An answer to a client's request goes out through the
 * request's deliver callback, so the dispatcher never calls into the transport. */
#ifndef BLOCKD_RPC_REQUEST_H
#define BLOCKD_RPC_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "rpc.h"

struct rpc_request {
	/* A client's request: deliver(deliver_arg, line, len) takes the encoded answer line
	 * (malloc'ed; it owns it). NULL for a local call. */
	void (*deliver)(void *deliver_arg, char *line, size_t len);
	void *deliver_arg;
	json_t *id;
	bool notification;
	bool answered;
	bool failed;
	/* A configuration change's answer is held (kept like a local call's) until the
	 * after-change hooks saved it: a client never hears of a change that is not durable. */
	bool held;
	/* local calls, and held answers */
	json_t *local_result;
	int local_code;
	char local_msg[256];
};

/* A client's request: runs the intercept hooks (unless intercepted already), then the method.
 * Returns 0, or a delay in ms after which the transport must call again with intercepted =
 * true (an intercept hook deferred it). */
uint32_t rpc_dispatch_client(struct rpc_request *req, const char *method, const json_t *params,
			     bool intercepted);

#endif

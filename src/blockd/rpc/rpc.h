/* rpc.h — blockd's RPC method table and the request object handlers answer through.
 * Handlers run on the control (RPC) thread, decode their params strictly (json_util.h), and
 * answer exactly once, before returning. Policy (what a method does) lives in rpc_*.c; the
 * transport (sockets, framing, faults, delays) lives in rpc_server.c. */
#ifndef BLOCKD_RPC_H
#define BLOCKD_RPC_H

#include <stdbool.h>
#include <jansson.h>

#include "json_util.h"

struct rpc_request;
typedef void (*rpc_handler)(struct rpc_request *req, const json_t *params);

enum {
	RPC_MUTATES = 1 << 0,          /* changes the configuration: persisted after success */
	RPC_FAULT_INJECTION = 1 << 1,  /* exists only with --fault-injection */
	RPC_NO_FAULT = 1 << 2,         /* never subject to injected faults */
};

struct rpc_method {
	const char *name;
	rpc_handler handler;
	unsigned flags;
};

/* Method tables of each part, terminated by { NULL }. */
extern const struct rpc_method rpc_app_methods[];
extern const struct rpc_method rpc_bdev_methods[];
extern const struct rpc_method rpc_fault_methods[];
extern const struct rpc_method rpc_vhost_methods[];

const struct rpc_method *rpc_find_method(const char *name);
/* Calls fn for each method available in this process (respecting --fault-injection). */
void rpc_foreach_method(void (*fn)(const struct rpc_method *m, void *arg), void *arg);

/* Answers: result is stolen. */
void rpc_reply(struct rpc_request *req, json_t *result);
void rpc_reply_error(struct rpc_request *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A module failure: code = neg_errno, message = strerror (SPDK's convention). */
void rpc_reply_errno(struct rpc_request *req, int neg_errno);
/* -32602 with "Invalid parameters: <detail>". */
void rpc_reply_invalid_params(struct rpc_request *req, const char *detail);

/* Decodes params with a jparam spec (json_util.h) or answers -32602 and returns. */
#define DECODE_OR_REPLY(req, params, spec)                                              \
	do {                                                                            \
		char err_[160];                                                         \
		if (json_decode_params(params, JPARAMS(spec), err_, sizeof(err_)) < 0) \
			return rpc_reply_invalid_params(req, err_);                     \
	} while (0)

/* Runs a method in-process (used to replay a persisted config). Returns 0 with *result (may be
 * NULL), or the error code with the message in err. */
int rpc_call_local(const char *method, const json_t *params, json_t **result,
		   char *err, size_t errlen);

/* Dispatches a decoded request's method (used by the server). The handler always answers. */
void rpc_dispatch(struct rpc_request *req, const char *method, const json_t *params);

#endif

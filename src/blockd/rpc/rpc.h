/* rpc.h — blockd's RPC methods: the request object handlers answer through, the method
 * registry every area fills from its own init, the hooks the app installs around a method
 * (injected faults before it, persistence after a change), and the save_config registry.
 * Handlers run on the control (RPC) thread, decode their params strictly (json_util.h), and
 * answer exactly once, before returning. The dispatcher (rpc_dispatch.c) names no area: it
 * knows methods, hooks and config writers only through what was registered. */
#ifndef BLOCKD_RPC_H
#define BLOCKD_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "json_util.h"

struct rpc_request;
typedef void (*rpc_handler)(struct rpc_request *req, const json_t *params);
/* Takes back a change a method made (its params, its result, and the configuration as it was
 * before), when the change could not be saved. */
typedef void (*rpc_undo)(const json_t *params, const json_t *result, const json_t *before);

enum {
	RPC_MUTATES = 1 << 0,          /* changes the configuration: after-change hooks run */
	RPC_FAULT_INJECTION = 1 << 1,  /* exists only when a hook's available() allows it */
	RPC_NO_FAULT = 1 << 2,         /* never intercepted (never subject to injected faults) */
	/* Removes the object its "name" (or "ctrlr") param names: the configuration without
	 * it goes through the before-change hooks before the method runs (a delete cannot be
	 * taken back once done). */
	RPC_DELETES = 1 << 3,
};

/* A parameter SPDK documents for a method (its schema/schema.yaml) that the method's handler
 * does not take: SPDK's rpc.py sends many of them at their default on every call. At a value
 * blockd honours it is accepted and taken out of params before the handler sees them; at any
 * other value, or of the wrong type, the request is refused with -32602 naming it
 * (rpc_params.c, called by the dispatcher for every method). A key in neither this list nor
 * the handler's stays an unknown key. */
struct rpc_spdk_param {
	const char *key;
	enum jparam_type type;  /* JP_BOOL, JP_UINT32, JP_UINT64, JP_INT32 or JP_STRING */
	/* The value blockd honours (SPDK's default) as compact JSON text: "0", "false", "-1",
	 * "\"none\"". NULL: every value of the type is honoured (a no-op for blockd). */
	const char *honoured;
	/* Optional: the value of this other param of the same request is honoured too
	 * (physical_block_size equal to block_size). */
	const char *or_same_as;
};

/* A configuration change (RPC_MUTATES) is answered only once the after-change hooks
 * accepted it (persistence saved it). When a hook fails, the method's undo takes the change
 * back and the request fails with the hook's error; an RPC_DELETES method is not run at all
 * when a before-change hook refuses. */
struct rpc_method {
	const char *name;
	rpc_handler handler;
	unsigned flags;
	rpc_undo undo;                 /* RPC_MUTATES without RPC_DELETES: required */
	/* Optional: SPDK's parameters the handler does not take, terminated by { NULL }. */
	const struct rpc_spdk_param *spdk_params;
};

/* ---- registration (control thread, at start-up) */

#define RPC_MAX_TABLES 32
#define RPC_MAX_HOOKS 8
#define RPC_MAX_CONFIG_WRITERS 8

/* Adds a method table terminated by { NULL }; tables are searched, and rpc_get_methods lists
 * them, in registration order. Registering the same table again does nothing. 0, or -ENOSPC. */
int rpc_register_methods(const struct rpc_method *table);

/* What an intercept hook decided for one request from a client. */
enum rpc_verdict {
	RPC_PROCEED,   /* run the method */
	RPC_HANDLED,   /* the hook answered it, or deliberately left it unanswered */
	RPC_DEFER,     /* the transport runs it again after *delay_ms, without intercepting */
};

struct rpc_hooks {
	/* Optional: false hides m (not found, not listed). */
	bool (*available)(const struct rpc_method *m, void *arg);
	/* Optional: a request from a client, before its method (never for RPC_NO_FAULT
	 * methods, nor for local calls). */
	enum rpc_verdict (*intercept)(struct rpc_request *req, const struct rpc_method *m,
				      uint32_t *delay_ms, void *arg);
	/* Optional: before an RPC_DELETES method runs, with the configuration it will leave
	 * (before it, without the object it deletes). A negative errno: the request fails
	 * with it and the method does not run. */
	int (*before_change)(const struct rpc_method *m, const json_t *expected, void *arg);
	/* Optional: after an RPC_MUTATES method succeeded (local calls included), and after
	 * an RPC_DELETES method failed once before_change ran. A negative errno: the change is
	 * taken back (undo) and the request fails with it. */
	int (*after_change)(const struct rpc_method *m, void *arg);
};

/* Installs hooks (the struct must outlive the process's use of RPCs). The same hooks again
 * does nothing. 0, or -ENOSPC. */
int rpc_register_hooks(const struct rpc_hooks *hooks, void *arg);

/* save_config: each subsystem appends its {"method", "params"} entries to config. Subsystems
 * are listed in registration order (bdev before the vhost controllers that use them). */
typedef void (*rpc_config_writer)(json_t *config, void *arg);
int rpc_register_config(const char *subsystem, rpc_config_writer write, void *arg);
/* {"subsystems": [{"subsystem": "bdev", "config": [...]}, ...]} */
json_t *rpc_config_snapshot(void);
/* The params of config's entry for the object called name (its "name" or "ctrlr" param)
 * made by method (NULL: any method), or NULL. Borrowed. */
const json_t *rpc_config_find(const json_t *config, const char *method, const char *name);
/* True when an entry names name in a param other than its own name (a raid's base_bdevs, a
 * delay's base_bdev_name, a controller's dev_name). */
bool rpc_config_referenced(const json_t *config, const char *name);
/* A copy of config without the entries for the object called name; NULL when there is
 * none. */
json_t *rpc_config_without(const json_t *config, const char *name);
/* The name of the object an entry's params (or a request's params) identify: its "name",
 * else its "ctrlr" string; NULL if neither. */
const char *rpc_config_object_name(const json_t *params);

/* ---- lookup */

const struct rpc_method *rpc_find_method(const char *name);
/* Calls fn for each method available in this process. */
void rpc_foreach_method(void (*fn)(const struct rpc_method *m, void *arg), void *arg);

/* Checks params against m's SPDK parameters (see struct rpc_spdk_param): 0 with *filtered
 * the params without them (a new reference; NULL when there was nothing to take out), or
 * -EINVAL with a one-line message naming the refused key in err. */
int rpc_params_filter(const struct rpc_method *m, const json_t *params, json_t **filtered,
		      char *err, size_t errlen);

/* ---- answers: result is stolen. */
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

/* ---- calls */

/* Runs a method in-process (used to replay a persisted config). Returns 0 with *result (may be
 * NULL), or the error code with the message in err. */
int rpc_call_local(const char *method, const json_t *params, json_t **result,
		   char *err, size_t errlen);

/* Dispatches a decoded request's method; the handler always answers. */
void rpc_dispatch(struct rpc_request *req, const char *method, const json_t *params);

#endif

/* fault.c — the table of injected RPC faults, its two RPCs (blockd_fault_inject and
 * blockd_fault_clear, available only with --fault-injection), and the RPC hooks that apply
 * an armed fault to a client's request before its method runs. blockd_fault_clear without a
 * method also clears the fault kinds of the other fault_*.c files (fault_on_clear). */
#include "fault.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "jsonrpc.h"
#include "log.h"
#include "rpc.h"

#define FAULT_MAX 64

struct fault {
	char method[64];
	struct fault_hit hit;
	uint32_t remaining;   /* 0 = until cleared */
};

static struct fault faults[FAULT_MAX];
static unsigned num_faults;
static bool enabled;
static void (*clear_hooks[FAULT_CLEAR_MAX])(void);
static unsigned num_clear_hooks;

void fault_set_enabled(bool on)
{
	enabled = on;
}

bool fault_enabled(void)
{
	return enabled;
}

static struct fault *find_fault(const char *method)
{
	for (unsigned i = 0; i < num_faults; i++)
		if (strcmp(faults[i].method, method) == 0)
			return &faults[i];
	return NULL;
}

static void remove_fault(struct fault *f)
{
	*f = faults[--num_faults];
}

bool fault_check(const char *method, struct fault_hit *hit)
{
	if (!enabled || num_faults == 0)
		return false;
	struct fault *f = find_fault(method);
	if (!f)
		return false;
	*hit = f->hit;
	if (f->remaining > 0 && --f->remaining == 0)
		remove_fault(f);
	return true;
}

void fault_clear_all(void)
{
	num_faults = 0;
	for (unsigned i = 0; i < num_clear_hooks; i++)
		clear_hooks[i]();
}

int fault_on_clear(void (*clear)(void))
{
	for (unsigned i = 0; i < num_clear_hooks; i++)
		if (clear_hooks[i] == clear)
			return 0;
	if (num_clear_hooks == FAULT_CLEAR_MAX)
		return -ENOSPC;
	clear_hooks[num_clear_hooks++] = clear;
	return 0;
}

static int parse_action(const char *s, enum fault_action *out)
{
	static const struct { const char *name; enum fault_action action; } actions[] = {
		{ "hang", FAULT_HANG }, { "error", FAULT_ERROR },
		{ "delay", FAULT_DELAY }, { "crash", FAULT_CRASH },
	};
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(s, actions[i].name) == 0) {
			*out = actions[i].action;
			return 0;
		}
	}
	return -EINVAL;
}

static void rpc_blockd_fault_inject(struct rpc_request *req, const json_t *params)
{
	const char *method = NULL, *action = NULL;
	int32_t error_code = -EIO;
	uint32_t delay_ms = 0, count = 0;
	struct jparam spec[] = {
		{ "method", JP_STRING, true, &method, NULL },
		{ "action", JP_STRING, true, &action, NULL },
		{ "error_code", JP_INT32, false, &error_code, NULL },
		{ "delay_ms", JP_UINT32, false, &delay_ms, NULL },
		{ "count", JP_UINT32, false, &count, NULL },
	};
	char err[160];
	if (json_decode_params(params, JPARAMS(spec), err, sizeof(err)) < 0)
		return rpc_reply_invalid_params(req, err);

	struct fault_hit hit = { .error_code = error_code, .delay_ms = delay_ms };
	const struct rpc_method *m = rpc_find_method(method);
	if (!m || (m->flags & RPC_NO_FAULT))
		return rpc_reply_invalid_params(req, "method is not a fault-injectable RPC");
	if (parse_action(action, &hit.action) < 0)
		return rpc_reply_invalid_params(req, "action must be hang, error, delay or crash");
	if (hit.action == FAULT_ERROR && error_code >= 0)
		return rpc_reply_invalid_params(req, "error_code must be negative");
	if (hit.action == FAULT_DELAY && (delay_ms == 0 || delay_ms > 3600000))
		return rpc_reply_invalid_params(req, "delay_ms must be 1..3600000");

	struct fault *f = find_fault(method);
	if (!f) {
		if (num_faults == FAULT_MAX)
			return rpc_reply_errno(req, -ENOSPC);
		f = &faults[num_faults++];
		strncpy(f->method, method, sizeof(f->method) - 1);
		f->method[sizeof(f->method) - 1] = '\0';
	}
	f->hit = hit;
	f->remaining = count;
	log_warn("blockd", "msg=\"fault armed\" method=%s action=%s count=%u", method, action,
		 count);
	rpc_reply(req, json_true());
}

static void rpc_blockd_fault_clear(struct rpc_request *req, const json_t *params)
{
	const char *method = NULL;
	struct jparam spec[] = {
		{ "method", JP_STRING, false, &method, NULL },
	};
	char err[160];
	if (json_decode_params(params, JPARAMS(spec), err, sizeof(err)) < 0)
		return rpc_reply_invalid_params(req, err);
	if (!method) {
		fault_clear_all();
	} else {
		struct fault *f = find_fault(method);
		if (!f)
			return rpc_reply_errno(req, -ENOENT);
		remove_fault(f);
	}
	log_info("blockd", "msg=\"fault cleared\" method=%s", method ? method : "*");
	rpc_reply(req, json_true());
}

static const struct rpc_method fault_methods[] = {
	{ "blockd_fault_inject", rpc_blockd_fault_inject,
	  RPC_FAULT_INJECTION | RPC_NO_FAULT, NULL, NULL },
	{ "blockd_fault_clear", rpc_blockd_fault_clear,
	  RPC_FAULT_INJECTION | RPC_NO_FAULT, NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL },
};

/* ---- RPC hooks */

static bool fault_method_available(const struct rpc_method *m, void *arg)
{
	return !(m->flags & RPC_FAULT_INJECTION) || enabled;
}

static enum rpc_verdict fault_intercept(struct rpc_request *req, const struct rpc_method *m,
					uint32_t *delay_ms, void *arg)
{
	struct fault_hit hit;
	if (!fault_check(m->name, &hit))
		return RPC_PROCEED;
	log_warn("blockd", "msg=\"injected fault\" method=%s action=%d", m->name,
		 (int)hit.action);
	switch (hit.action) {
	case FAULT_HANG:
		return RPC_HANDLED;   /* never answered: the client's deadline must save it */
	case FAULT_ERROR:
		rpc_reply_error(req, hit.error_code, "%s (injected)",
				strerror(hit.error_code < 0 ? -hit.error_code : EIO));
		return RPC_HANDLED;
	case FAULT_DELAY:
		*delay_ms = hit.delay_ms;
		return RPC_DEFER;
	case FAULT_CRASH:
		log_error("blockd", "msg=\"injected crash\" method=%s", m->name);
		abort();
	case FAULT_NONE:
		break;
	}
	return RPC_PROCEED;
}

static const struct rpc_hooks fault_hooks = {
	.available = fault_method_available,
	.intercept = fault_intercept,
};

int fault_register(void)
{
	int rc = rpc_register_methods(fault_methods);
	return rc < 0 ? rc : rpc_register_hooks(&fault_hooks, NULL);
}

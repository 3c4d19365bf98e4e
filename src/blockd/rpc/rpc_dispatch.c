/* rpc_dispatch.c — the method registry and the dispatcher: finds a method in the registered
 * tables, checks and takes out the SPDK parameters its entry lists (rpc_params.c), runs the
 * registered hooks around it (intercept before a client's request;
 * before_change / after_change around a configuration change, whose answer is held until
 * they accepted it, and which is taken back when they refuse), makes sure every request is
 * answered exactly once, and runs methods in-process for a replayed configuration. It names no area
 * of blockd: methods and hooks come from their areas' registration. */
#include "rpc_request.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"
#include "log.h"

static const struct rpc_method *g_tables[RPC_MAX_TABLES];
static unsigned g_num_tables;

static struct {
	const struct rpc_hooks *hooks;
	void *arg;
} g_hooks[RPC_MAX_HOOKS];
static unsigned g_num_hooks;

/* ---------------------------------------------------------------- registration */

int rpc_register_methods(const struct rpc_method *table)
{
	for (unsigned i = 0; i < g_num_tables; i++)
		if (g_tables[i] == table)
			return 0;
	if (g_num_tables == RPC_MAX_TABLES)
		return -ENOSPC;
	g_tables[g_num_tables++] = table;
	return 0;
}

int rpc_register_hooks(const struct rpc_hooks *hooks, void *arg)
{
	for (unsigned i = 0; i < g_num_hooks; i++)
		if (g_hooks[i].hooks == hooks)
			return 0;
	if (g_num_hooks == RPC_MAX_HOOKS)
		return -ENOSPC;
	g_hooks[g_num_hooks].hooks = hooks;
	g_hooks[g_num_hooks].arg = arg;
	g_num_hooks++;
	return 0;
}

static bool method_available(const struct rpc_method *m)
{
	for (unsigned i = 0; i < g_num_hooks; i++)
		if (g_hooks[i].hooks->available &&
		    !g_hooks[i].hooks->available(m, g_hooks[i].arg))
			return false;
	return true;
}

const struct rpc_method *rpc_find_method(const char *name)
{
	for (unsigned t = 0; t < g_num_tables; t++)
		for (const struct rpc_method *m = g_tables[t]; m->name; m++)
			if (strcmp(m->name, name) == 0)
				return method_available(m) ? m : NULL;
	return NULL;
}

void rpc_foreach_method(void (*fn)(const struct rpc_method *m, void *arg), void *arg)
{
	for (unsigned t = 0; t < g_num_tables; t++)
		for (const struct rpc_method *m = g_tables[t]; m->name; m++)
			if (method_available(m))
				fn(m, arg);
}

/* ---------------------------------------------------------------- answers */

void rpc_reply(struct rpc_request *req, json_t *result)
{
	if (req->answered) {
		json_decref(result);
		return;
	}
	if (!result) {
		log_error("blockd", "msg=\"no memory for a reply\"");
		rpc_reply_error(req, JRPC_INTERNAL_ERROR, "Internal error: out of memory");
		return;
	}
	req->answered = true;
	if (!req->deliver || req->held) {
		req->local_result = result;
		return;
	}
	if (req->notification) {
		json_decref(result);
		return;
	}
	size_t len;
	char *line = jrpc_encode_result(req->id, result, &len);
	req->deliver(req->deliver_arg, line, len);
}

void rpc_reply_error(struct rpc_request *req, int code, const char *fmt, ...)
{
	if (req->answered)
		return;
	req->answered = true;
	req->failed = true;
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!req->deliver || req->held) {
		req->local_code = code;
		snprintf(req->local_msg, sizeof(req->local_msg), "%s", msg);
		return;
	}
	size_t len;
	char *line = jrpc_encode_error(req->id, code, msg, &len);
	req->deliver(req->deliver_arg, line, len);
}

void rpc_reply_errno(struct rpc_request *req, int neg_errno)
{
	rpc_reply_error(req, neg_errno, "%s", strerror(-neg_errno));
}

void rpc_reply_invalid_params(struct rpc_request *req, const char *detail)
{
	rpc_reply_error(req, JRPC_INVALID_PARAMS, "Invalid parameters: %s", detail);
}

/* ---------------------------------------------------------------- dispatch */

/* Sends a held answer to the client it belongs to. */
static void release_held(struct rpc_request *req)
{
	req->held = false;
	if (!req->deliver)
		return;
	req->answered = false;
	if (req->failed) {
		req->failed = false;
		rpc_reply_error(req, req->local_code, "%s", req->local_msg);
	} else {
		json_t *result = req->local_result;
		req->local_result = NULL;
		rpc_reply(req, result);
	}
}

static void run_handler(struct rpc_request *req, const struct rpc_method *m,
			const json_t *params)
{
	m->handler(req, params);
	if (!req->answered) {
		log_error("blockd", "msg=\"handler did not answer\" method=%s", m->name);
		rpc_reply_error(req, JRPC_INTERNAL_ERROR, "Internal error");
	}
}

static bool have_change_hooks(bool before)
{
	for (unsigned i = 0; i < g_num_hooks; i++)
		if (before ? g_hooks[i].hooks->before_change != NULL
			   : g_hooks[i].hooks->after_change != NULL)
			return true;
	return false;
}

static int run_before_change(const struct rpc_method *m, const json_t *expected)
{
	for (unsigned i = 0; i < g_num_hooks; i++) {
		if (!g_hooks[i].hooks->before_change)
			continue;
		int rc = g_hooks[i].hooks->before_change(m, expected, g_hooks[i].arg);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int run_after_change(const struct rpc_method *m)
{
	int first = 0;
	for (unsigned i = 0; i < g_num_hooks; i++) {
		if (!g_hooks[i].hooks->after_change)
			continue;
		int rc = g_hooks[i].hooks->after_change(m, g_hooks[i].arg);
		if (rc < 0 && first == 0)
			first = rc;
	}
	return first;
}

/* Replaces a held answer with the error of a save that failed. */
static void fail_held(struct rpc_request *req, int rc, const char *what)
{
	json_decref(req->local_result);
	req->local_result = NULL;
	req->answered = true;
	req->failed = true;
	req->local_code = rc;
	snprintf(req->local_msg, sizeof(req->local_msg), "%s: %s", what, strerror(-rc));
}

/* A configuration change: a delete is saved first (it cannot be taken back); anything else
 * is applied, saved, and taken back when the save fails. The answer is held meanwhile.
 * A delete of an object another entry names (a raid's base, a controller's bdev) is not
 * saved first: the configuration without it would not replay (the other entry would fail),
 * and such a delete is refused (-16) but for a raid1 base, which changes the raid too. It is
 * done, then saved; if that save fails it cannot be taken back, and the answer says so. */
static void dispatch_change(struct rpc_request *req, const struct rpc_method *m,
			    const json_t *params)
{
	bool hooked = have_change_hooks(false);
	json_t *before = hooked ? rpc_config_snapshot() : NULL;
	bool saved_first = false;
	req->held = true;
	const char *name = rpc_config_object_name(params);
	if ((m->flags & RPC_DELETES) && before && have_change_hooks(true) &&
	    !rpc_config_referenced(before, name)) {
		json_t *expected = rpc_config_without(before, name);
		if (expected) {
			int rc = run_before_change(m, expected);
			json_decref(expected);
			if (rc < 0) {
				fail_held(req, rc, "Cannot save the configuration");
				goto out;
			}
			saved_first = true;
		}
	}
	run_handler(req, m, params);
	if (req->failed && !saved_first)
		goto out;
	/* After a delete saved first: saves what it really left (the same as saved, unless it
	 * failed: then the configuration is put back as it was). */
	int rc = run_after_change(m);
	if (rc < 0 && req->failed) {
		log_error("blockd", "msg=\"delete refused after the configuration without its "
			  "object was saved, and the configuration could not be put back\" "
			  "method=%s error=\"%s\"", m->name, strerror(-rc));
	} else if (rc < 0) {
		if (saved_first) {
			log_error("blockd", "msg=\"delete done and saved, but a later save failed\" "
				  "method=%s error=\"%s\"", m->name, strerror(-rc));
		} else if (m->undo) {
			log_error("blockd", "msg=\"configuration change not saved; taken back\" "
				  "method=%s error=\"%s\"", m->name, strerror(-rc));
			m->undo(params, req->local_result, before);
			fail_held(req, rc, "Cannot save the configuration");
		} else {
			log_error("blockd", "msg=\"configuration change done but not saved; it "
				  "cannot be taken back\" method=%s error=\"%s\"", m->name,
				  strerror(-rc));
			fail_held(req, rc, "Done, but the configuration could not be saved");
		}
	}
out:
	json_decref(before);
	release_held(req);
}

void rpc_dispatch(struct rpc_request *req, const char *method, const json_t *params)
{
	const struct rpc_method *m = rpc_find_method(method);
	if (!m) {
		rpc_reply_error(req, JRPC_METHOD_NOT_FOUND, "Method not found");
		return;
	}
	/* SPDK's documented parameters the handler does not take: checked, and taken out. */
	json_t *filtered = NULL;
	char err[160];
	int rc = rpc_params_filter(m, params, &filtered, err, sizeof(err));
	if (rc == -ENOMEM)
		return rpc_reply_error(req, JRPC_INTERNAL_ERROR, "Internal error: out of memory");
	if (rc < 0)
		return rpc_reply_invalid_params(req, err);
	if (filtered)
		params = filtered;
	if (m->flags & RPC_MUTATES)
		dispatch_change(req, m, params);
	else
		run_handler(req, m, params);
	json_decref(filtered);
}

uint32_t rpc_dispatch_client(struct rpc_request *req, const char *method, const json_t *params,
			     bool intercepted)
{
	const struct rpc_method *m = rpc_find_method(method);
	if (m && !(m->flags & RPC_NO_FAULT) && !intercepted) {
		for (unsigned i = 0; i < g_num_hooks; i++) {
			if (!g_hooks[i].hooks->intercept)
				continue;
			uint32_t delay_ms = 0;
			switch (g_hooks[i].hooks->intercept(req, m, &delay_ms, g_hooks[i].arg)) {
			case RPC_PROCEED:
				continue;
			case RPC_HANDLED:
				return 0;
			case RPC_DEFER:
				return delay_ms ? delay_ms : 1;
			}
		}
	}
	/* A notification's result is dropped by rpc_reply; its errors are still sent. */
	rpc_dispatch(req, method, params);
	return 0;
}

int rpc_call_local(const char *method, const json_t *params, json_t **result,
		   char *err, size_t errlen)
{
	struct rpc_request req = { 0 };
	rpc_dispatch(&req, method, params);
	if (req.failed) {
		snprintf(err, errlen, "%s", req.local_msg);
		return req.local_code ? req.local_code : JRPC_INTERNAL_ERROR;
	}
	if (result)
		*result = req.local_result;
	else
		json_decref(req.local_result);
	return 0;
}

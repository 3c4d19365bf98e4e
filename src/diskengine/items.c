/* items.c — a loop's items, their backoff and their wedges (see items.h).
 * Owns the rule "Wedges" of docs/architecture.md (bug class 1).
 */
#include "items.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "events.h"
#include "log.h"

#define BACKOFF_BASE_MS 500

void items_emit(struct item_set *s, const char *level, const char *kind, unsigned vm,
		json_t *fields)
{
	char *text = json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS);
	char message[512];
	snprintf(message, sizeof(message), "%s %s", kind, text ? text : "");
	free(text);
	if (s->desired && s->desired->event)
		s->desired->event(s->desired, level, vm, message);
	event_emit(level, kind, fields);
}

struct item *items_find(struct item_set *s, unsigned vol)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->items[i].vol == vol)
			return &s->items[i];
	return NULL;
}

struct item *items_get(struct item_set *s, unsigned vol)
{
	struct item *it = items_find(s, vol);
	if (it)
		return it;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct item *grown = realloc(s->items, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		s->items = grown;
		s->cap = cap;
	}
	s->items[s->n] = (struct item){ .vol = vol };
	return &s->items[s->n++];
}

static void cleared(struct item_set *s, const struct item *it)
{
	if (it == &s->target)
		items_emit(s, "info", "wedge_cleared", 0,
			   json_pack("{s:s, s:s}", "loop", s->loop, "item", "target"));
	else
		items_emit(s, "info", "wedge_cleared", 0,
			   json_pack("{s:s, s:I}", "loop", s->loop, "vol", (json_int_t)it->vol));
}

void items_sweep(struct item_set *s)
{
	size_t kept = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct item *it = &s->items[i];
		bool keep = it->seen || it->busy;
		if (!keep && it->wedged)
			cleared(s, it);
		if (keep)
			s->items[kept++] = *it;
	}
	s->n = kept;
	for (size_t i = 0; i < s->n; i++)
		s->items[i].seen = false;
}

json_t *items_counters_json(const struct item_set *s)
{
	return json_pack("{s:I, s:O}", "wedges", (json_int_t)s->wedges, "rpc_failures",
			 s->rpc_failures ? s->rpc_failures : json_object());
}

void items_counters_restore(struct item_set *s, const json_t *saved)
{
	const json_t *w = json_object_get(saved, "wedges");
	const json_t *f = json_object_get(saved, "rpc_failures");
	if (json_is_integer(w) && json_integer_value(w) > 0)
		s->wedges = (uint64_t)json_integer_value(w);
	if (!json_is_object(f))
		return;
	if (!s->rpc_failures)
		s->rpc_failures = json_object();
	const char *method;
	json_t *n;
	json_object_foreach((json_t *)f, method, n)
		if (json_is_integer(n) && json_integer_value(n) > 0 && strlen(method) < 48)
			json_object_set_new(s->rpc_failures, method,
					    json_integer(json_integer_value(n)));
}

/* rpc is one of the target calls diskengine makes: a bounded set of names. */
void items_rpc_failed(struct item_set *s, const char *rpc)
{
	if (!s->rpc_failures && !(s->rpc_failures = json_object()))
		return;
	const char *key = rpc && rpc[0] ? rpc : "unknown";
	json_t *n = json_object_get(s->rpc_failures, key);
	json_object_set_new(s->rpc_failures, key, json_integer(n ? json_integer_value(n) + 1 : 1));
}

void items_free(struct item_set *s)
{
	json_decref(s->rpc_failures);
	s->rpc_failures = NULL;
	free(s->items);
	s->items = NULL;
	s->n = s->cap = 0;
}

/* ---------------------------------------------------------------- attempts */

void item_started(struct item *it, enum action_kind action, unsigned vm)
{
	it->action = action;
	it->vm = vm;
	it->busy = true;
	it->attempt_ms = wall_ms();
}

void item_ended(struct item *it)
{
	it->busy = false;
	it->attempt_ms = 0;
}

void item_progressed(struct item_set *s, struct item *it)
{
	if (it->wedged)
		cleared(s, it);
	if (it == &s->target && it->failing_since_ms)
		log_info("diskengine", "loop=%s item=target msg=\"the target answers again\"",
			 s->loop);
	*it = (struct item){ .vol = it->vol, .seen = it->seen };
}

/* ---------------------------------------------------------------- wedges */

/* When either loop last asked for a target restart (monotonic ms; 0: never). An atomic,
 * not a lock: the two loops never wait for each other. */
static _Atomic int64_t g_restart_requested_ms;

static void restart_target(struct item_set *s)
{
	const char *cmd = s->cfg->restart_target_command;
	if (!cmd[0]) {
		log_warn("diskengine", "msg=\"wedge_action=restart-target but no "
			 "restart_target_command is configured\"");
		return;
	}
	/* A wedged target wedges both loops at once: one restart is enough. */
	int64_t now = monotonic_ms();
	int64_t last = atomic_load(&g_restart_requested_ms);
	int64_t ago = now - last;
	bool recent = last && ago < (int64_t)s->cfg->wedge_after_ms;
	/* Only the loop that moves the stamp asks; the other sees it moved. */
	if (!recent && !atomic_compare_exchange_strong(&g_restart_requested_ms, &last, now))
		recent = true;
	if (recent) {
		log_warn("diskengine", "loop=%s msg=\"target restart requested %lld ms ago; not "
			 "repeated\"", s->loop, (long long)ago);
		return;
	}
	/* Detached (double fork): the loop never waits for it. */
	pid_t pid = fork();
	if (pid == 0) {
		if (fork() == 0) {
			setsid();
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
			_exit(127);
		}
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	log_warn("diskengine", "msg=\"target restart requested\" command=\"%s\"", cmd);
}

/* Since when the item has made no progress: the start of its first failing attempt, or of
 * the attempt in flight; 0 when it is neither failing nor in flight. */
static int64_t stuck_since(const struct item *it)
{
	return it->failing_since_ms ? it->failing_since_ms : it->busy ? it->attempt_ms : 0;
}

/* The one wedge rule: no progress for wedge_after. */
static void check_wedge(struct item_set *s, struct item *it, int64_t now)
{
	int64_t since = stuck_since(it);
	if (it->wedged || !since || now - since < (int64_t)s->cfg->wedge_after_ms)
		return;
	it->wedged = true;
	s->wedges++;
	const char *error = it->error[0] ? it->error : "no answer yet";
	if (it == &s->target)
		items_emit(s, "error", "wedge", 0,
			   json_pack("{s:s, s:s, s:I, s:s, s:s, s:b}", "loop", s->loop,
				     "item", "target", "failing_for_ms", (json_int_t)(now - since),
				     "rpc", it->rpc, "error", error, "in_flight", it->busy));
	else
		items_emit(s, "error", "wedge", it->vm,
			   json_pack("{s:s, s:I, s:I, s:s, s:I, s:s, s:s, s:b}", "loop", s->loop,
				     "vol", (json_int_t)it->vol, "vm", (json_int_t)it->vm,
				     "action", action_name(it->action),
				     "failing_for_ms", (json_int_t)(now - since),
				     "rpc", it->rpc, "error", error, "in_flight", it->busy));
	if (s->cfg->wedge_action == WEDGE_RESTART_TARGET)
		restart_target(s);
}

int64_t item_failed(struct item_set *s, struct item *it, int rc, const char *rpc,
		    const char *error)
{
	int64_t now = wall_ms();
	if (!it->failing_since_ms)
		it->failing_since_ms = it->attempt_ms ? it->attempt_ms : now;
	item_ended(it);
	snprintf(it->rpc, sizeof(it->rpc), "%s", rpc);
	snprintf(it->error, sizeof(it->error), "%s", error && error[0] ? error : strerror(-rc));
	int64_t delay = backoff_failed(&it->retry, monotonic_ms(), BACKOFF_BASE_MS,
				       (int64_t)s->cfg->backoff_max_ms);
	if (it == &s->target)
		log_warn("diskengine", "loop=%s item=target msg=\"listing the target failed\" "
			 "rpc=%s error=\"%s\" failing_for_ms=%lld", s->loop, it->rpc, it->error,
			 (long long)(now - it->failing_since_ms));
	else
		log_warn("diskengine", "loop=%s vol=%u action=%s msg=\"failed; retrying\" "
			 "error=\"%s\" retry_in_ms=%lld failing_for_ms=%lld", s->loop, it->vol,
			 action_name(it->action), it->error, (long long)delay,
			 (long long)(now - it->failing_since_ms));
	check_wedge(s, it, now);
	return delay;
}

void items_check_in_flight(struct item_set *s)
{
	int64_t now = wall_ms();
	for (size_t i = 0; i < s->n; i++)
		if (s->items[i].busy)
			check_wedge(s, &s->items[i], now);
}

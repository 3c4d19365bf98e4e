/* loop.c — the attach and detach loops (see loop.h). One pass: what should exist (desired
 * volumes), what does (target_snapshot), the plan (plan.c), then each action whose item is
 * not backing off. The detach loop reads the actual state before the desired one, so a
 * volume the attach loop is creating right now is always in the desired snapshot it
 * compares with, and is never mistaken for a left-over. When the listing itself times out
 * (a target that is there but wedged whole), the pseudo item "target" fails in each loop
 * and is raised as a wedge like a volume's item.
 * Owns the rule "Attach and detach share nothing" of docs/architecture.md (bug class 1).
 * Owns the rule "Wedges" of docs/architecture.md (bug class 1).
 */
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "backoff.h"
#include "cleanup.h"
#include "clock.h"
#include "deadline_io.h"
#include "desired_volumes.h"
#include "events.h"
#include "export_driver.h"
#include "log.h"
#include "paths.h"
#include "status_file.h"
#include "plan.h"
#include "target.h"

#define MAX_ACTIONS 1024
#define BACKOFF_BASE_MS 500

struct item {
	unsigned vol;
	struct backoff retry;
	int64_t failing_since_ms;       /* wall clock; 0 when not failing */
	bool wedged, seen;
	char rpc[48], error[PATH_MAX + 768];
};

struct loop {
	const struct diskengine_config *cfg;
	enum loop_kind kind;
	const char *name;
	pthread_t thread;
	int stop_fd;

	struct target target;
	struct desired_volumes *desired;
	struct volume_spec *want;
	size_t n_want;
	json_t *spec_errors;             /* bad desired files, as last reported */
	struct backoff reach;            /* the target itself */
	bool unreachable;
	struct item stuck;               /* the pseudo item "target": its listing timed out */
	struct item *items;
	size_t n_items, cap_items;
};

/* The target is not there (as opposed to one call that timed out): the rest of the pass
 * would fail the same way. */
static bool target_gone(int rc)
{
	return rc == -ECONNREFUSED || rc == -ENOENT || rc == -ECONNRESET || rc == -EPIPE ||
	       rc == -ENOTCONN;
}

/* An event for operators: events.jsonl + log, and the store's events table. */
static void emit(struct loop *l, const char *level, const char *kind, unsigned vm,
		 json_t *fields)
{
	char *text = json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS);
	char message[512];
	snprintf(message, sizeof(message), "%s %s", kind, text ? text : "");
	free(text);
	if (l->desired->event)
		l->desired->event(l->desired, level, vm, message);
	event_emit(level, kind, fields);
}

/* What this loop observed of vol, for the desired-state source's record. */
static void report(struct loop *l, unsigned vol, enum volume_state state,
		   const char *export_path, const char *error)
{
	if (l->desired->report)
		l->desired->report(l->desired, vol, state, export_path, error);
}

/* ---------------------------------------------------------------- items */

static struct item *item_get(struct loop *l, unsigned vol)
{
	for (size_t i = 0; i < l->n_items; i++)
		if (l->items[i].vol == vol)
			return &l->items[i];
	if (l->n_items == l->cap_items) {
		size_t cap = l->cap_items ? l->cap_items * 2 : 16;
		struct item *grown = realloc(l->items, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		l->items = grown;
		l->cap_items = cap;
	}
	l->items[l->n_items] = (struct item){ .vol = vol };
	return &l->items[l->n_items++];
}

/* Items with nothing left to do are resolved: forget them. */
static void items_sweep(struct loop *l)
{
	size_t kept = 0;
	for (size_t i = 0; i < l->n_items; i++) {
		struct item *it = &l->items[i];
		if (!it->seen && it->wedged)
			emit(l, "info", "wedge_cleared", 0,
			     json_pack("{s:s, s:I}", "loop", l->name, "vol", (json_int_t)it->vol));
		if (it->seen)
			l->items[kept++] = *it;
	}
	l->n_items = kept;
	for (size_t i = 0; i < l->n_items; i++)
		l->items[i].seen = false;
}

/* When either loop last asked for a target restart (monotonic ms; 0: never). An atomic,
 * not a lock: the two loops never wait for each other. */
static _Atomic int64_t g_restart_requested_ms;

static void restart_target(struct loop *l)
{
	const char *cmd = l->cfg->restart_target_command;
	if (!cmd[0]) {
		log_warn("diskengine", "msg=\"wedge_action=restart-target but no "
			 "restart_target_command is configured\"");
		return;
	}
	/* A wedged target wedges both loops at once: one restart is enough. */
	int64_t now = monotonic_ms();
	int64_t last = atomic_load(&g_restart_requested_ms);
	int64_t ago = now - last;
	bool recent = last && ago < (int64_t)l->cfg->wedge_after_ms;
	/* Only the loop that moves the stamp asks; the other sees it moved. */
	if (!recent && !atomic_compare_exchange_strong(&g_restart_requested_ms, &last, now))
		recent = true;
	if (recent) {
		log_warn("diskengine", "loop=%s msg=\"target restart requested %lld ms ago; not "
			 "repeated\"", l->name, (long long)ago);
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

/* Records a failure of item: since when, which RPC, why; backs it off. Returns the delay. */
static int64_t item_record_failure(struct loop *l, struct item *it, int rc, int64_t now)
{
	if (!it->failing_since_ms)
		it->failing_since_ms = now;
	snprintf(it->rpc, sizeof(it->rpc), "%s", l->target.last_method);
	snprintf(it->error, sizeof(it->error), "%s",
		 l->target.last_error[0] ? l->target.last_error : strerror(-rc));
	return backoff_failed(&it->retry, monotonic_ms(), BACKOFF_BASE_MS,
			      (int64_t)l->cfg->backoff_max_ms);
}

static void item_failed(struct loop *l, struct item *it, const struct action *a, int rc)
{
	int64_t now = wall_ms();
	int64_t delay = item_record_failure(l, it, rc, now);
	log_warn("diskengine", "loop=%s vol=%u action=%s msg=\"failed; retrying\" error=\"%s\" "
		 "retry_in_ms=%lld failing_for_ms=%lld", l->name, a->vol, action_name(a->kind),
		 it->error, (long long)delay, (long long)(now - it->failing_since_ms));
	if (it->wedged || now - it->failing_since_ms < (int64_t)l->cfg->wedge_after_ms)
		return;
	it->wedged = true;
	emit(l, "error", "wedge", a->vm,
		   json_pack("{s:s, s:I, s:I, s:s, s:I, s:s, s:s}", "loop", l->name,
			     "vol", (json_int_t)a->vol, "vm", (json_int_t)a->vm,
			     "action", action_name(a->kind),
			     "failing_for_ms", (json_int_t)(now - it->failing_since_ms),
			     "rpc", it->rpc, "error", it->error));
	if (l->cfg->wedge_action == WEDGE_RESTART_TARGET)
		restart_target(l);
}

static void item_succeeded(struct loop *l, struct item *it)
{
	if (it->wedged)
		emit(l, "info", "wedge_cleared", 0,
		     json_pack("{s:s, s:I}", "loop", l->name, "vol", (json_int_t)it->vol));
	unsigned vol = it->vol;
	*it = (struct item){ .vol = vol, .seen = true };
}

/* The target's own listing (target_snapshot) timed out: the target is there but does not
 * answer, so no volume item gets a chance to fail. The pseudo item "target" fails instead,
 * and is raised as a wedge (and restarted under wedge_action=restart-target) like one. */
static void target_stuck(struct loop *l, int rc)
{
	struct item *it = &l->stuck;
	int64_t now = wall_ms();
	item_record_failure(l, it, rc, now);
	log_warn("diskengine", "loop=%s item=target msg=\"listing the target failed\" "
		 "rpc=%s error=\"%s\" failing_for_ms=%lld", l->name, it->rpc, it->error,
		 (long long)(now - it->failing_since_ms));
	if (it->wedged || now - it->failing_since_ms < (int64_t)l->cfg->wedge_after_ms)
		return;
	it->wedged = true;
	emit(l, "error", "wedge", 0,
	     json_pack("{s:s, s:s, s:I, s:s, s:s}", "loop", l->name, "item", "target",
		       "failing_for_ms", (json_int_t)(now - it->failing_since_ms),
		       "rpc", it->rpc, "error", it->error));
	if (l->cfg->wedge_action == WEDGE_RESTART_TARGET)
		restart_target(l);
}

/* A pass got through: the target answers again. */
static void target_answered(struct loop *l)
{
	if (l->stuck.wedged)
		emit(l, "info", "wedge_cleared", 0,
		     json_pack("{s:s, s:s}", "loop", l->name, "item", "target"));
	if (l->stuck.failing_since_ms)
		log_info("diskengine", "loop=%s item=target msg=\"the target answers again\"",
			 l->name);
	l->stuck = (struct item){ 0 };
}

/* ---------------------------------------------------------------- actions */

static const struct volume_spec *wanted(const struct loop *l, unsigned vol)
{
	for (size_t i = 0; i < l->n_want; i++)
		if (l->want[i].id == vol)
			return &l->want[i];
	return NULL;
}

static int execute(struct loop *l, const struct action *a)
{
	struct target *t = &l->target;
	const struct volume_spec *v = wanted(l, a->vol);
	int rc;
	switch (a->kind) {
	case ACT_CREATE_VOLUME:
		rc = v ? target_create_volume(t, v) : -ENOENT;
		if (rc == 0) {
			report(l, a->vol, VOLUME_ONLINE, NULL, "");
			emit(l, "info", "volume_created", a->vm,
			     json_pack("{s:I, s:I, s:s}", "vol", (json_int_t)a->vol,
				       "size_mb", (json_int_t)(v->size_bytes >> 20),
				       "layout", volume_layout_name(v->layout)));
		} else if (rc == -ENOSPC) {
			report(l, a->vol, VOLUME_ERROR, NULL, t->last_error);
		}
		return rc;
	case ACT_CREATE_EXPORT:
		rc = t->exports->create(t, a->vm, a->vol);
		if (rc == 0) {
			char where[PATH_MAX + 32];
			t->exports->address(t, a->vm, where, sizeof(where));
			report(l, a->vol, VOLUME_EXPORTED, where, "");
			emit(l, "info", "export_created", a->vm,
			     json_pack("{s:I, s:I, s:s, s:s}", "vol", (json_int_t)a->vol,
				       "vm", (json_int_t)a->vm, "kind", t->exports->kind,
				       "address", where));
		}
		return rc;
	case ACT_DELETE_EXPORT:
		rc = t->exports->remove(t, a->vm);
		if (rc == 0) {
			report(l, a->vol, VOLUME_ONLINE, "", NULL);
			emit(l, "info", "export_deleted", a->vm,
			     json_pack("{s:I, s:I}", "vol", (json_int_t)a->vol,
				       "vm", (json_int_t)a->vm));
		}
		return rc;
	case ACT_DELETE_VOLUME:
		rc = target_delete_volume(t, a->vol);
		if (rc == 0) {
			report(l, a->vol, VOLUME_DELETED, "", NULL);
			emit(l, "info", "volume_deleted", a->vm,
			     json_pack("{s:I}", "vol", (json_int_t)a->vol));
		}
		return rc;
	case ACT_EXPORT_CONFLICT:
		snprintf(t->last_method, sizeof(t->last_method), "-");
		snprintf(t->last_error, sizeof(t->last_error),
			 "vm%u exists on a bdev diskengine does not own (not raid_vol%u); remove "
			 "it (berth rpc vhost_delete_controller) or it stays unexported", a->vm,
			 a->vol);
		return -EEXIST;
	default:
		/* This exact wording is what operators search the logs for (the gate,
		 * docs/architecture.md): keep it. */
		log_warn("diskengine", "msg=\"raid detach: vol %u gate failed (raid_vol%u still "
			 "present in vm%u); deferring\"", a->vol, a->vol, a->vm);
		snprintf(t->last_method, sizeof(t->last_method), "gate");
		snprintf(t->last_error, sizeof(t->last_error),
			 "raid_vol%u still present in vm%u", a->vol, a->vm);
		return -EBUSY;
	}
}

/* ---------------------------------------------------------------- a pass */

static void report_spec_errors(struct loop *l, json_t *errors)
{
	size_t i;
	json_t *e;
	json_array_foreach(errors, i, e) {
		bool known = false;
		size_t j;
		json_t *old;
		json_array_foreach(l->spec_errors, j, old)
			known |= json_equal(old, e);
		if (!known && l->kind == LOOP_ATTACH)
			emit(l, "warn", "volume_refused", 0, json_deep_copy(e));
	}
	json_decref(l->spec_errors);
	l->spec_errors = errors;
}

static int load_desired(struct loop *l)
{
	struct volume_spec *specs;
	size_t n;
	json_t *errors;
	int rc = l->desired->snapshot(l->desired, &specs, &n, &errors);
	if (rc < 0)
		return rc;
	free(l->want);
	l->want = specs;
	l->n_want = n;
	report_spec_errors(l, errors);
	return 0;
}

static int run_pass(struct loop *l)
{
	struct actual_snapshot snap;
	int rc;
	if (l->kind == LOOP_ATTACH && (rc = load_desired(l)) < 0)
		return 0;                       /* keep the last desired state */
	rc = target_snapshot(&l->target, &snap);
	if (rc < 0)
		return rc;
	if (l->kind == LOOP_DETACH && load_desired(l) < 0) {
		actual_snapshot_free(&snap);
		return 0;
	}
	struct actual_state have;
	actual_snapshot_view(&snap, &have);
	struct action *actions = calloc(MAX_ACTIONS, sizeof(*actions));
	size_t n = !actions ? 0
		   : l->kind == LOOP_ATTACH
			   ? plan_attach(l->want, l->n_want, &have, actions, MAX_ACTIONS)
			   : plan_detach(l->want, l->n_want, &have, actions, MAX_ACTIONS);
	actual_snapshot_free(&snap);
	unsigned changed_vol = 0;
	for (size_t i = 0; i < n; i++) {
		struct item *it = item_get(l, actions[i].vol);
		if (!it)
			break;
		it->seen = true;
		bool gate = actions[i].kind == ACT_GATE_DEFER;
		bool due = backoff_due(&it->retry, monotonic_ms());
		/* The gate costs no RPC: it is reported every pass, but counted once. */
		if (!due && !gate)
			continue;
		/* The export of this volume was just removed: the plan's gate is stale. */
		if (gate && actions[i].vol == changed_vol)
			continue;
		rc = execute(l, &actions[i]);
		if (rc == 0) {
			item_succeeded(l, it);
			changed_vol = actions[i].vol;
			continue;
		}
		if (!due)
			continue;
		item_failed(l, it, &actions[i], rc);
		if (target_gone(rc)) {
			/* Keep the other items' state; the next pass starts from a new
			 * connection. Only this loop's connection was closed. */
			for (size_t j = i + 1; j < n; j++) {
				struct item *other = item_get(l, actions[j].vol);
				if (other)
					other->seen = true;
			}
			break;
		}
	}
	free(actions);
	items_sweep(l);
	return 0;
}

static void write_status(struct loop *l)
{
	json_t *items = json_array();
	for (size_t i = 0; i <= l->n_items; i++) {
		/* The volumes' items, then the pseudo item "target" (vol 0) while it fails. */
		const struct item *it = i < l->n_items ? &l->items[i] : &l->stuck;
		if (it == &l->stuck && !it->failing_since_ms)
			break;
		json_array_append_new(items, json_pack("{s:s, s:I, s:I, s:I, s:b, s:s, s:s}",
			"item", it == &l->stuck ? "target" : "volume",
			"vol", (json_int_t)it->vol, "failures", (json_int_t)it->retry.failures,
			"failing_since_ms", (json_int_t)it->failing_since_ms, "wedged", it->wedged,
			"rpc", it->rpc, "error", it->error));
	}
	char path[BERTH_PATH_LEN];
	paths_diskengine_status(path, sizeof(path), l->cfg->root, l->name);
	status_file_write(path, json_pack("{s:s, s:I, s:s, s:o, s:o}", "loop", l->name,
			  "updated_ms", (json_int_t)wall_ms(),
			  "target", l->unreachable ? "unreachable" : "up", "items", items,
			  "errors", l->spec_errors ? json_incref(l->spec_errors) : json_array()));
}

/* rc: the pass's. A target that is gone (refused, no socket) is waited for; one whose
 * listing timed out is also the pseudo item "target" failing (target_stuck). */
static void reach_result(struct loop *l, int rc)
{
	if (rc == 0) {
		if (l->unreachable)
			emit(l, "info", "target_back", 0, json_pack("{s:s}", "loop", l->name));
		l->unreachable = false;
		backoff_reset(&l->reach);
		target_answered(l);
		return;
	}
	if (rc == -ETIMEDOUT)
		target_stuck(l, rc);
	if (!l->unreachable)
		emit(l, "warn", "target_unreachable", 0,
		     json_pack("{s:s, s:s}", "loop", l->name, "error",
			       l->target.last_error[0] ? l->target.last_error : strerror(-rc)));
	l->unreachable = true;
	backoff_failed(&l->reach, monotonic_ms(), BACKOFF_BASE_MS,
		       (int64_t)l->cfg->backoff_max_ms);
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	log_info("diskengine", "loop=%s msg=started", l->name);
	for (;;) {
		if (backoff_due(&l->reach, monotonic_ms()))
			reach_result(l, run_pass(l));
		write_status(l);
		int64_t wait = (int64_t)l->cfg->tick_ms;
		int64_t until_reach = l->reach.next_ms - monotonic_ms();
		if (l->unreachable && until_reach > wait)
			wait = until_reach;
		struct pollfd pfd[2] = { { .fd = l->stop_fd, .events = POLLIN },
					 { .fd = l->desired->change_fd(l->desired), .events = POLLIN } };
		int n = poll(pfd, pfd[1].fd >= 0 ? 2 : 1, (int)wait);
		if (n > 0 && (pfd[0].revents & POLLIN))
			break;
		if (n > 0 && pfd[1].fd >= 0 && (pfd[1].revents & POLLIN))
			l->desired->changed(l->desired);
	}
	log_info("diskengine", "loop=%s msg=stopped", l->name);
	return NULL;
}

struct loop *loop_start(const struct diskengine_config *cfg, enum loop_kind kind)
{
	const char *name = kind == LOOP_ATTACH ? "attach" : "detach";
	char err[512] = "";
	_cleanup_free_ struct loop *l = calloc(1, sizeof(*l));
	_cleanup_close_ int stop_fd = eventfd(0, EFD_CLOEXEC);
	if (!l || stop_fd < 0) {
		log_error("diskengine", "loop=%s msg=\"cannot start\" error=\"%s\"", name,
			  strerror(errno));
		return NULL;
	}
	*l = (struct loop){ .cfg = cfg, .kind = kind, .name = name, .stop_fd = stop_fd };
	l->desired = desired_volumes_open(cfg, err, sizeof(err));
	int rc = l->desired ? target_init(&l->target, cfg, &export_vhost_blk) : -EINVAL;
	if (rc == 0 && (rc = -pthread_create(&l->thread, NULL, loop_main, l)) != 0)
		target_fini(&l->target);
	if (rc != 0) {
		log_error("diskengine", "loop=%s msg=\"cannot start\" error=\"%s\"", name,
			  err[0] ? err : strerror(-rc));
		if (l->desired)
			l->desired->destroy(l->desired);
		return NULL;          /* l and stop_fd are released on the way out */
	}
	TAKE_FD(stop_fd);
	return TAKE_PTR(l);
}

void loop_stop(struct loop *l)
{
	eventfd_write(l->stop_fd, 1);
	pthread_join(l->thread, NULL);
	target_fini(&l->target);
	l->desired->destroy(l->desired);
	close(l->stop_fd);
	free(l->want);
	free(l->items);
	json_decref(l->spec_errors);
	free(l);
}

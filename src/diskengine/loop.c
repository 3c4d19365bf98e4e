/* loop.c — the attach and detach loops (see loop.h). One pass: what should exist (desired
 * volumes), what does (target_snapshot, on the loop's own connection), the plan (plan.c),
 * then each item's actions: handed to the loop's workers (workers.h) as one job per item —
 * never to an item that has one in flight, never to one backing off — while the loop goes
 * on. Finished jobs are collected at the next turn (a worker's finish wakes the loop), and
 * their outcome reported and recorded on the item (items.h: backoff and wedges). The
 * detach loop reads the actual state before the desired one, so a volume the attach loop
 * is creating right now is always in the desired snapshot it compares with, and is never
 * mistaken for a left-over. When the listing itself times out (a target that is there but
 * wedged whole), the pseudo item "target" fails and is raised as a wedge like a volume's
 * item.
 * Owns the rule "Attach and detach share nothing" of docs/architecture.md (bug class 1).
 */
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backoff.h"
#include "cleanup.h"
#include "clock.h"
#include "desired_volumes.h"
#include "events.h"
#include "export_driver.h"
#include "items.h"
#include "log.h"
#include "paths.h"
#include "status_file.h"
#include "plan.h"
#include "sd_notify_watchdog.h"
#include "target.h"
#include "workers.h"

#define MAX_ACTIONS 1024
#define BACKOFF_BASE_MS 500

struct loop {
	const struct diskengine_config *cfg;
	enum loop_kind kind;
	const char *name;
	pthread_t thread;
	int stop_fd;
	int passed_fd;                   /* written once, after the first pass */
	int beat;                        /* sd_notify_watchdog's loop */
	uint64_t passes;

	struct target target;            /* the listing's connection */
	struct workers *workers;         /* every other call */
	struct desired_volumes *desired;
	struct volume_spec *want;
	size_t n_want;
	json_t *spec_errors;             /* bad desired files, as last reported */
	struct backoff reach;            /* the target itself */
	bool unreachable;
	int64_t unreachable_since_ms;    /* wall clock: when it went (for the status file) */
	struct item_set items;
};

/* What this loop observed of vol, for the desired-state source's record. */
static void report(struct loop *l, unsigned vol, enum volume_state state,
		   const char *export_path, const char *error)
{
	if (l->desired->report)
		l->desired->report(l->desired, vol, state, export_path, error);
}

static const struct volume_spec *wanted(const struct loop *l, unsigned vol)
{
	for (size_t i = 0; i < l->n_want; i++)
		if (l->want[i].id == vol)
			return &l->want[i];
	return NULL;
}

/* ---------------------------------------------------------------- outcomes */

/* One action of a job succeeded: report it and tell operators. */
static void action_done(struct loop *l, const struct job *job, const struct action *a)
{
	struct item_set *s = &l->items;
	switch (a->kind) {
	case ACT_CREATE_VOLUME:
		report(l, a->vol, VOLUME_ONLINE, NULL, "");
		items_emit(s, "info", "volume_created", a->vm,
			   json_pack("{s:I, s:I, s:s}", "vol", (json_int_t)a->vol,
				     "size_mb", (json_int_t)(job->spec.size_bytes >> 20),
				     "layout", volume_layout_name(job->spec.layout)));
		break;
	case ACT_CREATE_EXPORT:
		report(l, a->vol, VOLUME_EXPORTED, job->address, "");
		items_emit(s, "info", "export_created", a->vm,
			   json_pack("{s:I, s:I, s:s, s:s}", "vol", (json_int_t)a->vol,
				     "vm", (json_int_t)a->vm,
				     "kind", workers_export_kind(l->workers),
				     "address", job->address));
		break;
	case ACT_DELETE_EXPORT:
		report(l, a->vol, VOLUME_ONLINE, "", NULL);
		items_emit(s, "info", "export_deleted", a->vm,
			   json_pack("{s:I, s:I}", "vol", (json_int_t)a->vol,
				     "vm", (json_int_t)a->vm));
		break;
	case ACT_DELETE_VOLUME:
		report(l, a->vol, VOLUME_DELETED, "", NULL);
		items_emit(s, "info", "volume_deleted", a->vm,
			   json_pack("{s:I}", "vol", (json_int_t)a->vol));
		break;
	case ACT_RELEASE_VOLUME:          /* another host's now: nothing to report */
		items_emit(s, "info", "volume_released", a->vm,
			   json_pack("{s:I}", "vol", (json_int_t)a->vol));
		break;
	default:
		break;
	}
}

/* A finished job: its successes, then its failure if any. */
static void job_finished(struct loop *l, const struct job *job)
{
	struct item *it = items_get(&l->items, job->acts[0].vol);
	for (size_t i = 0; i < job->done; i++)
		action_done(l, job, &job->acts[i]);
	if (!it)
		return;
	if (job->done > 0 || job->rc == 0) {
		int64_t started = it->attempt_ms;
		item_progressed(&l->items, it);
		it->attempt_ms = started;        /* a failure after progress starts its clock */
	}
	if (job->rc == 0) {
		item_ended(it);
		return;
	}
	const struct action *a = &job->acts[job->done];
	it->action = a->kind;
	it->vm = a->vm;
	if (job->rc == -ENOSPC && a->kind == ACT_CREATE_VOLUME)
		report(l, a->vol, VOLUME_ERROR, NULL, job->error);
	items_rpc_failed(&l->items, job->rpc);
	item_failed(&l->items, it, job->rc, job->rpc, job->error);
}

static void collect(struct loop *l)
{
	struct job done[8];
	size_t n;
	while ((n = workers_collect(l->workers, done, 8)) > 0)
		for (size_t i = 0; i < n; i++)
			job_finished(l, &done[i]);
	/* Which call each item in flight waits for, for its wedge report. */
	for (size_t i = 0; i < l->items.n; i++) {
		struct item *it = &l->items.items[i];
		if (it->busy)
			workers_calling(l->workers, it->vol, it->rpc, sizeof(it->rpc));
	}
	items_check_in_flight(&l->items);
}

/* The loop's own verdicts, no call: the gate, and an export name taken by someone else. */
static void decide(struct loop *l, struct item *it, const struct action *a)
{
	char error[256];
	const char *rpc = "-";
	if (a->kind == ACT_EXPORT_CONFLICT) {
		snprintf(error, sizeof(error), "vm%u exists on a bdev diskengine does not own "
			 "(not raid_vol%u); remove it (berth rpc vhost_delete_controller) or it "
			 "stays unexported", a->vm, a->vol);
	} else {
		/* This exact wording is what operators search the logs for (the gate,
		 * docs/architecture.md): keep it. */
		log_warn("diskengine", "msg=\"raid detach: vol %u gate failed (raid_vol%u still "
			 "present in vm%u); deferring\"", a->vol, a->vol, a->vm);
		rpc = "gate";
		snprintf(error, sizeof(error), "raid_vol%u still present in vm%u", a->vol, a->vm);
	}
	/* Reported every pass, counted once per backoff. */
	if (!backoff_due(&it->retry, monotonic_ms()))
		return;
	item_started(it, a->kind, a->vm);
	item_failed(&l->items, it, a->kind == ACT_EXPORT_CONFLICT ? -EEXIST : -EBUSY, rpc,
		    error);
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
			items_emit(&l->items, "warn", "volume_refused", 0, json_deep_copy(e));
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

/* The actions of one pass, grouped into one job per item (in plan order), for the items
 * that have no call in flight and are not backing off. */
static void dispatch(struct loop *l, const struct action *actions, size_t n)
{
	struct job *jobs = calloc(n ? n : 1, sizeof(*jobs));
	size_t n_jobs = 0;
	if (!jobs)
		return;
	int64_t now = monotonic_ms();
	for (size_t i = 0; i < n; i++) {
		const struct action *a = &actions[i];
		struct item *it = items_get(&l->items, a->vol);
		if (!it)
			break;
		it->seen = true;
		bool own = a->kind == ACT_GATE_DEFER || a->kind == ACT_EXPORT_CONFLICT;
		if (own || it->busy || !backoff_due(&it->retry, now))
			continue;
		struct job *job = NULL;
		for (size_t j = 0; j < n_jobs && !job; j++)
			if (jobs[j].acts[0].vol == a->vol)
				job = &jobs[j];
		if (!job) {
			job = &jobs[n_jobs++];
			const struct volume_spec *v = wanted(l, a->vol);
			if (v)
				job->spec = *v;
		}
		if (job->n < JOB_MAX_ACTIONS)
			job->acts[job->n++] = *a;
	}
	for (size_t j = 0; j < n_jobs; j++) {
		if (!workers_submit(l->workers, &jobs[j]))
			break;          /* every worker is busy: the next pass */
		struct item *it = items_find(&l->items, jobs[j].acts[0].vol);
		if (it)
			item_started(it, jobs[j].acts[0].kind, jobs[j].acts[0].vm);
	}
	free(jobs);
	/* The loop's own verdicts, for items without a call in flight: one whose export is
	 * being deleted right now is not gated on the export it is losing. */
	for (size_t i = 0; i < n; i++) {
		const struct action *a = &actions[i];
		struct item *it = items_find(&l->items, a->vol);
		if (it && !it->busy &&
		    (a->kind == ACT_GATE_DEFER || a->kind == ACT_EXPORT_CONFLICT))
			decide(l, it, a);
	}
}

static int run_pass(struct loop *l)
{
	struct actual_snapshot snap;
	int rc;
	if (l->kind == LOOP_ATTACH && (rc = load_desired(l)) < 0)
		return 0;                       /* keep the last desired state */
	item_started(&l->items.target, ACT_CREATE_VOLUME, 0);
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
	dispatch(l, actions, n);
	free(actions);
	items_sweep(&l->items);
	return 0;
}

static json_t *item_status(const struct item *it, bool target)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:b, s:b, s:s, s:s}",
			 "item", target ? "target" : "volume", "vol", (json_int_t)it->vol,
			 "failures", (json_int_t)it->retry.failures,
			 "failing_since_ms", (json_int_t)it->failing_since_ms,
			 "attempt_ms", (json_int_t)(it->busy && !target ? it->attempt_ms : 0),
			 "in_flight", it->busy && !target, "wedged", it->wedged,
			 "rpc", it->rpc, "error", it->error);
}

static void write_status(struct loop *l)
{
	json_t *items = json_array();
	/* The volumes' items failing or in flight, then the pseudo item "target" while it
	 * fails. */
	for (size_t i = 0; i < l->items.n; i++) {
		const struct item *it = &l->items.items[i];
		if (it->failing_since_ms || it->busy)
			json_array_append_new(items, item_status(it, false));
	}
	if (l->items.target.failing_since_ms)
		json_array_append_new(items, item_status(&l->items.target, true));
	char path[BERTH_PATH_LEN];
	paths_diskengine_status(path, sizeof(path), l->cfg->root, l->name);
	status_file_write(path, json_pack("{s:s, s:I, s:s, s:I, s:o, s:o, s:o}", "loop", l->name,
			  "updated_ms", (json_int_t)wall_ms(),
			  "target", l->unreachable ? "unreachable" : "up",
			  "unreachable_since_ms", (json_int_t)(l->unreachable ? l->unreachable_since_ms
									      : 0),
			  "items", items,
			  "errors", l->spec_errors ? json_incref(l->spec_errors) : json_array(),
			  "counters", items_counters_json(&l->items)));
}

/* rc: the pass's. A target that is gone (refused, no socket) is waited for; one whose
 * listing timed out is also the pseudo item "target" failing. */
static void reach_result(struct loop *l, int rc)
{
	struct item *stuck = &l->items.target;
	if (rc == 0) {
		if (l->unreachable)
			items_emit(&l->items, "info", "target_back", 0,
				   json_pack("{s:s}", "loop", l->name));
		l->unreachable = false;
		backoff_reset(&l->reach);
		item_progressed(&l->items, stuck);
		return;
	}
	if (rc == -ETIMEDOUT) {
		items_rpc_failed(&l->items, l->target.last_method);
		item_failed(&l->items, stuck, rc, l->target.last_method, l->target.last_error);
	} else {
		item_ended(stuck);
	}
	if (!l->unreachable) {
		l->unreachable_since_ms = wall_ms();
		items_emit(&l->items, "warn", "target_unreachable", 0,
			   json_pack("{s:s, s:s}", "loop", l->name, "error",
				     l->target.last_error[0] ? l->target.last_error
							     : strerror(-rc)));
	}
	l->unreachable = true;
	backoff_failed(&l->reach, monotonic_ms(), BACKOFF_BASE_MS,
		       (int64_t)l->cfg->backoff_max_ms);
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	log_info("diskengine", "loop=%s msg=started workers=%u", l->name,
		 (unsigned)l->cfg->max_calls_in_flight);
	for (;;) {
		collect(l);
		if (backoff_due(&l->reach, monotonic_ms()))
			reach_result(l, run_pass(l));
		write_status(l);
		sdw_beat(l->beat);
		if (l->passes++ == 0)
			eventfd_write(l->passed_fd, 1);
		int64_t wait = (int64_t)l->cfg->tick_ms;
		int64_t until_reach = l->reach.next_ms - monotonic_ms();
		if (l->unreachable && until_reach > wait)
			wait = until_reach;
		/* A call in flight is checked for its wedge at least once a second. */
		if (wait > 1000)
			wait = 1000;
		struct pollfd pfd[3] = { { .fd = l->stop_fd, .events = POLLIN },
					 { .fd = workers_done_fd(l->workers), .events = POLLIN },
					 { .fd = l->desired->change_fd(l->desired), .events = POLLIN } };
		int n = poll(pfd, pfd[2].fd >= 0 ? 3 : 2, (int)wait);
		if (n > 0 && (pfd[0].revents & POLLIN))
			break;
		if (n > 0 && pfd[2].fd >= 0 && (pfd[2].revents & POLLIN))
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
	_cleanup_close_ int passed_fd = eventfd(0, EFD_CLOEXEC);
	if (!l || stop_fd < 0 || passed_fd < 0) {
		log_error("diskengine", "loop=%s msg=\"cannot start\" error=\"%s\"", name,
			  strerror(errno));
		return NULL;
	}
	*l = (struct loop){ .cfg = cfg, .kind = kind, .name = name, .stop_fd = stop_fd,
			    .passed_fd = passed_fd, .beat = sdw_loop_add(name) };
	l->desired = desired_volumes_open(cfg, err, sizeof(err));
	l->items = (struct item_set){ .cfg = cfg, .loop = name, .desired = l->desired };
	char status[BERTH_PATH_LEN];        /* the counters go on from the last status file */
	paths_diskengine_status(status, sizeof(status), cfg->root, name);
	json_t *last = json_load_file(status, 0, NULL);
	items_counters_restore(&l->items, json_object_get(last, "counters"));
	json_decref(last);
	int rc = l->desired ? target_init(&l->target, cfg, &export_vhost_blk) : -EINVAL;
	if (rc == 0 && !(l->workers = workers_start(cfg, name, cfg->max_calls_in_flight)))
		rc = -ENOMEM;
	if (rc == 0 && (rc = -pthread_create(&l->thread, NULL, loop_main, l)) != 0)
		workers_stop(l->workers);
	if (rc != 0) {
		log_error("diskengine", "loop=%s msg=\"cannot start\" error=\"%s\"", name,
			  err[0] ? err : strerror(-rc));
		target_fini(&l->target);
		if (l->desired)
			l->desired->destroy(l->desired);
		return NULL;          /* l and stop_fd are released on the way out */
	}
	TAKE_FD(stop_fd);
	TAKE_FD(passed_fd);
	return TAKE_PTR(l);
}

int loop_passed_fd(const struct loop *l)
{
	return l->passed_fd;
}

void loop_stop(struct loop *l)
{
	eventfd_write(l->stop_fd, 1);
	pthread_join(l->thread, NULL);
	workers_stop(l->workers);
	target_fini(&l->target);
	l->desired->destroy(l->desired);
	close(l->stop_fd);
	close(l->passed_fd);
	free(l->want);
	items_free(&l->items);
	json_decref(l->spec_errors);
	free(l);
}

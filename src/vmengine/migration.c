/* migration.c — a VM's live migration on either side (see migration.h).
 * Owns the rule "Live migration fails fast" of docs/architecture.md (bug class 4): every
 * phase has a bound counted from its persisted since-time (no progress of ram.transferred
 * and ram.remaining for migrate_progress_timeout, ram.remaining falling too slowly over that
 * long to finish in time, the whole migration over migrate_timeout,
 * the source paused at switchover — or silent, as QEMU is while it stops the VM — over
 * migrate_switchover_timeout, the source not running
 * again migrate_cancel_timeout after migrate_cancel), every monitor call ends before the
 * next bound, and a failure always ends with exactly one QEMU of the VM that runs: the
 * source's, or (migrate_failure = restart-on-destination, or a completed migration whose
 * destination lost its QEMU) a fresh one on the destination. The destination's QEMU resumes
 * only after the store says `completed`, which the source writes only once its own QEMU is
 * gone; so two QEMUs never run the same volume.
 *
 * Source:      requested -> preparing -> transferring <-> switchover -> completing -> completed
 *                               \______________\______________/
 *                                               failing -> failed | restart-dest
 * Destination: preparing (QEMU -incoming defer, migrate-incoming) -> on `completed`: cont,
 *              take the VM over; on `restart-dest`: start it fresh; when the migration ended
 *              without it: kill its QEMU and forget the VM. */
#include "migration.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "deadline_io.h"
#include "log.h"

const char *const migration_incoming_argv[] = { "-incoming", "defer", NULL };

/* ---------------------------------------------------------------- the watchdog */

struct mig_bounds migration_bounds(const struct vmengine_config *cfg, unsigned memory_mb)
{
	return (struct mig_bounds){
		.progress_ms = (int64_t)cfg->migrate_progress_timeout_ms,
		.total_ms = (int64_t)vmengine_migrate_timeout_ms(cfg, memory_mb),
		.switchover_ms = (int64_t)cfg->migrate_switchover_timeout_ms,
	};
}

static bool paused_status(enum qemu_migration_status s)
{
	return s == QEMU_MIGRATION_DEVICE || s == QEMU_MIGRATION_PRE_SWITCHOVER;
}

/* Precopy that does not converge keeps moving (so it is progress) but would only fail at
 * migrate_timeout. ram.remaining saws (each pass sends pages, then the dirty bitmap's sync
 * puts back what the guest dirtied meanwhile), so a pass is judged by its peak: time is cut
 * into steps of migrate_progress_timeout / MIG_CONV_STEPS, each with the highest remaining
 * seen in it; at each step's end, the latest step's peak is compared with the peak of the
 * newest step that began at least migrate_progress_timeout before it: it must have fallen fast
 * enough to reach 0 before migrate_timeout runs out; else it fails now. A precopy that
 * stopped converging fails within migrate_progress_timeout and two steps. */
static enum mig_verdict converging(struct vm_migration *m, const struct mig_bounds *b,
				   const struct qemu_migrate_info *info, int64_t now, char *why,
				   size_t len)
{
	if (!info || !info->has_ram || m->phase != MIG_TRANSFERRING)
		return MIG_GO_ON;
	if (!m->window_ms || m->n_steps > MIG_CONV_STEPS + 1) {
		m->window_ms = now;
		m->window_remaining = info->ram_remaining;
		m->n_steps = 0;
		return MIG_GO_ON;
	}
	if (info->ram_remaining > m->window_remaining)
		m->window_remaining = info->ram_remaining;
	int64_t step = b->progress_ms / MIG_CONV_STEPS > 0 ? b->progress_ms / MIG_CONV_STEPS : 1;
	if (now - m->window_ms < step)
		return MIG_GO_ON;
	memmove(&m->steps[1], &m->steps[0], MIG_CONV_STEPS * sizeof(m->steps[0]));
	m->steps[0].at_ms = m->window_ms;
	m->steps[0].peak = m->window_remaining;
	if (m->n_steps < MIG_CONV_STEPS + 1)
		m->n_steps++;
	m->window_ms = now;
	m->window_remaining = info->ram_remaining;
	unsigned k = 1;
	while (k < m->n_steps && m->steps[0].at_ms - m->steps[k].at_ms < b->progress_ms)
		k++;
	if (k >= m->n_steps)
		return MIG_GO_ON;                    /* not a whole window yet */
	uint64_t peak = m->steps[0].peak, then = m->steps[k].peak;
	int64_t span = m->steps[0].at_ms - m->steps[k].at_ms;
	double fell = (double)then - (double)peak;
	double left_ms = (double)(m->started_ms + b->total_ms - now);
	if (peak == 0 || (fell > 0 && (double)peak / (fell / (double)span) <= left_ms))
		return MIG_GO_ON;
	snprintf(why, len, "not converging: %llu MiB remaining at the last pass's peak, %s %.1f "
		 "MiB in the last %lld ms; it cannot finish within migrate_timeout",
		 (unsigned long long)(peak >> 20), fell >= 0 ? "down" : "up",
		 (fell > 0 ? fell : fell < 0 ? -fell : 0.0) / 1048576.0, (long long)span);
	return MIG_FAIL_NO_CONVERGENCE;
}

enum mig_verdict migration_watch(struct vm_migration *m, const struct mig_bounds *b,
				 const struct qemu_migrate_info *info, int64_t now, char *why,
				 size_t len)
{
	if (info && info->status == QEMU_MIGRATION_COMPLETED) {
		m->downtime_ms = info->downtime_ms;
		m->total_ms = info->total_time_ms;
		return MIG_DONE;
	}
	if (info && (info->status == QEMU_MIGRATION_FAILED ||
		     info->status == QEMU_MIGRATION_CANCELLED)) {
		snprintf(why, len, "QEMU reports the migration %s%s%s",
			 qemu_monitor_migration_status_name(info->status),
			 info->error[0] ? ": " : "", info->error);
		return MIG_FAIL_QEMU;
	}
	/* A source that does not answer holds its big lock, as QEMU does while it stops the VM
	 * for the switchover (a device that does not stop, a vhost-user back-end that does not
	 * answer GET_VRING_BASE): the switchover bound runs from its first silence. */
	if (!info && !m->silent_since_ms)
		m->silent_since_ms = now;
	else if (info)
		m->silent_since_ms = 0;
	if (m->silent_since_ms && now - m->silent_since_ms > b->switchover_ms) {
		snprintf(why, len, "the source QEMU has not answered for %lld ms (stuck stopping "
			 "the VM for the switchover?)", (long long)(now - m->silent_since_ms));
		return MIG_FAIL_SWITCHOVER;
	}
	if (info && info->has_ram &&
	    (info->ram_transferred != m->transferred || info->ram_remaining != m->remaining)) {
		m->transferred = info->ram_transferred;
		m->remaining = info->ram_remaining;
		m->progress_ms = now;
	}
	if (info && paused_status(info->status) && m->phase != MIG_SWITCHOVER) {
		m->phase = MIG_SWITCHOVER;
		m->since_ms = now;
	} else if (info && !paused_status(info->status) && m->phase == MIG_SWITCHOVER) {
		m->phase = MIG_TRANSFERRING;         /* back to precopy (a pre-switchover hook) */
		m->since_ms = now;
	}
	if (m->phase == MIG_SWITCHOVER && now - m->since_ms > b->switchover_ms) {
		snprintf(why, len, "switchover took longer than %lld ms (source paused)",
			 (long long)b->switchover_ms);
		return MIG_FAIL_SWITCHOVER;
	}
	if (now - m->progress_ms > b->progress_ms) {
		snprintf(why, len, "no progress for %lld ms (transferred %llu, remaining %llu "
			 "bytes%s)", (long long)(now - m->progress_ms),
			 (unsigned long long)m->transferred, (unsigned long long)m->remaining,
			 info ? "" : "; query-migrate did not answer");
		return MIG_FAIL_NO_PROGRESS;
	}
	if (now - m->started_ms > b->total_ms) {
		snprintf(why, len, "took longer than migrate_timeout (%lld ms)",
			 (long long)b->total_ms);
		return MIG_FAIL_TOTAL;
	}
	return converging(m, b, info, now, why, len);
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* When the first bound of m fires (wall ms). */
static int64_t next_bound(const struct vm_migration *m, const struct mig_bounds *b,
			  int64_t cancel_timeout_ms)
{
	int64_t at = m->started_ms + b->total_ms;
	switch (m->phase) {
	case MIG_TRANSFERRING:
		at = min64(at, m->progress_ms + b->progress_ms);
		return m->silent_since_ms ? min64(at, m->silent_since_ms + b->switchover_ms) : at;
	case MIG_SWITCHOVER:
		return min64(at, min64(m->progress_ms + b->progress_ms,
				       m->since_ms + b->switchover_ms));
	case MIG_FAILING:
	case MIG_COMPLETING:
		return m->since_ms + cancel_timeout_ms;
	default:
		return at;
	}
}

int migration_call_budget_ms(const struct vm_migration *m, const struct mig_bounds *b,
			     int64_t qmp_timeout_ms, int64_t cancel_timeout_ms, int64_t now,
			     int floor_ms)
{
	int64_t left = next_bound(m, b, cancel_timeout_ms) - now;
	int64_t budget = min64(qmp_timeout_ms, left);
	return budget < floor_ms ? floor_ms : (int)budget;
}

int migration_wait_ms(const struct vm_state *st, const struct vmengine_config *cfg)
{
	/* Often enough that a bound is seen within a tick; no busier than 50 ms. */
	int64_t tick = (int64_t)cfg->tick_ms;
	if (st->mig.role == MIG_ROLE_NONE)
		return (int)tick;
	return (int)(tick < 250 ? (tick < 50 ? 50 : tick) : 250);
}

/* ---------------------------------------------------------------- helpers */

static struct mig_bounds bounds_of(const struct mig_host *h, const struct vm_spec *spec)
{
	return migration_bounds(h->cfg, spec ? spec->memory_mb : 0);
}

static int64_t deadline_for(const struct mig_host *h, const struct vm_spec *spec)
{
	struct mig_bounds b = bounds_of(h, spec);
	return deadline_after_ms(migration_call_budget_ms(&h->st->mig, &b,
							  (int64_t)h->cfg->qmp_timeout_ms,
							  (int64_t)h->cfg->migrate_cancel_timeout_ms,
							  wall_ms(), QEMU_MONITOR_MIN_TIMEOUT_MS));
}

/* Enters phase (persisted and reported before anything is done in it). */
static void enter(const struct mig_host *h, enum vm_mig_phase phase, const char *error)
{
	struct vm_migration *m = &h->st->mig;
	log_info("vmengine", "vm=%u msg=\"migration\" role=%s from=%s to=%s elapsed_ms=%lld%s%s%s",
		 h->id, vm_mig_role_name(m->role), vm_mig_phase_name(m->phase),
		 vm_mig_phase_name(phase), (long long)(wall_ms() - m->started_ms),
		 error ? " error=\"" : "", error ? error : "", error ? "\"" : "");
	m->phase = phase;
	m->since_ms = wall_ms();
	if (error)
		snprintf(m->error, sizeof(m->error), "%s", error);
	h->save(h->ctx, VM_REPORT_MIGRATION);
}

static bool qemu_alive(const struct mig_host *h)
{
	return h->st->pid > 0 && qemu_pid_matches(h->st->pid, h->id);
}

/* SIGKILL to this root's QEMU of the VM (its pid, checked: qemu_proc.h), until it is gone;
 * true when it is. */
static bool kill_qemu(const struct mig_host *h)
{
	if (h->st->pid <= 0) {
		int pid = qemu_find_pid(h->id, h->paths->pidfile);
		h->st->pid = pid > 0 ? pid : 0;
	}
	if (h->st->pid > 0 && qemu_pid_matches(h->st->pid, h->id)) {
		qemu_signal(h->st->pid, h->id, SIGKILL);
		return false;                       /* gone at a later tick */
	}
	h->st->pid = 0;
	return true;
}

/* Back to an ordinary RUNNING VM here. */
static enum mig_outcome settle_here(const struct mig_host *h)
{
	h->st->mig = (struct vm_migration){ .downtime_ms = -1, .total_ms = -1 };
	h->st->state = VM_RUNNING;
	h->st->since_ms = wall_ms();
	h->save(h->ctx, VM_REPORT_STATE);
	return MIG_OUT_HERE;
}

/* ---------------------------------------------------------------- source */

static void source_begin(const struct mig_host *h, const struct vm_spec *spec)
{
	struct vm_state *st = h->st;
	st->mig = (struct vm_migration){ .role = MIG_ROLE_SOURCE, .phase = MIG_REQUESTED,
					 .started_ms = spec->mig.started_ms ? spec->mig.started_ms
									    : wall_ms(),
					 .downtime_ms = -1, .total_ms = -1 };
	snprintf(st->mig.peer, sizeof(st->mig.peer), "%s", spec->mig.to);
	st->state = VM_MIGRATING;
	st->since_ms = wall_ms();
	if (spec->mig.phase != MIG_REQUESTED) {
		/* The store says one is under way that vm.state does not know (vm.state lost or
		 * replaced): nothing here can vouch for it; end it. */
		enter(h, MIG_FAILING, "vm.state did not know this migration");
		return;
	}
	/* The source's half of the preflight: what QEMU itself says blocks a migration. */
	struct qemu_migrate_info info;
	int64_t deadline = deadline_after_ms((int)h->cfg->qmp_timeout_ms);
	struct qemu_monitor *mon = h->monitor(h->ctx, deadline);
	int rc = mon ? qemu_monitor_query_migrate_info(mon, deadline, &info) : -ENOTCONN;
	h->after_call(h->ctx);
	if (rc == 0 && info.blocked[0]) {
		char why[sizeof(st->mig.error)];
		snprintf(why, sizeof(why), "blocked: %.140s", info.blocked);
		enter(h, MIG_FAILED, why);
		return;
	}
	enter(h, MIG_PREPARING, NULL);
}

/* Issues migrate once the destination listens. */
static void source_prepare(const struct mig_host *h, const struct vm_spec *spec)
{
	struct vm_migration *m = &h->st->mig;
	struct mig_bounds b = bounds_of(h, spec);
	if (wall_ms() - m->started_ms > b.total_ms) {
		char why[128];
		snprintf(why, sizeof(why), "the destination was not ready within migrate_timeout "
			 "(%lld ms)", (long long)b.total_ms);
		enter(h, MIG_FAILED, why);         /* nothing was sent: nothing to cancel */
		return;
	}
	if (!spec || strcmp(spec->mig.to, m->peer) || !spec->mig.uri[0])
		return;
	int64_t deadline = deadline_for(h, spec);
	struct qemu_monitor *mon = h->monitor(h->ctx, deadline);
	int rc = mon ? qemu_monitor_migrate_set_capability(mon, "events", true, deadline)
		     : -ENOTCONN;
	h->after_call(h->ctx);
	mon = rc == 0 ? h->monitor(h->ctx, deadline) : NULL;
	if (mon) {
		/* Persisted first: a vmengine restarted after `migrate` watches it. */
		m->progress_ms = wall_ms();
		m->transferred = m->remaining = 0;
		enter(h, MIG_TRANSFERRING, NULL);
		rc = qemu_monitor_migrate(mon, spec->mig.uri, deadline);
		h->after_call(h->ctx);
		if (rc == -EREMOTEIO)              /* refused: nothing started */
			enter(h, MIG_FAILED, "QEMU refused to start the migration");
		/* any other failure: the watchdog sees what QEMU did */
	}
}

static void source_watch(const struct mig_host *h, const struct vm_spec *spec)
{
	struct vm_migration *m = &h->st->mig;
	struct mig_bounds b = bounds_of(h, spec);
	int64_t deadline = deadline_for(h, spec);
	struct qemu_migrate_info info;
	struct qemu_monitor *mon = qemu_alive(h) ? h->monitor(h->ctx, deadline) : NULL;
	int rc = mon ? qemu_monitor_query_migrate_info(mon, deadline, &info) : -ENOTCONN;
	h->after_call(h->ctx);
	enum vm_mig_phase was = m->phase;
	char why[160] = "";
	enum mig_verdict v = migration_watch(m, &b, rc == 0 ? &info : NULL, wall_ms(), why,
					     sizeof(why));
	if (v == MIG_DONE) {
		enter(h, MIG_COMPLETING, NULL);
	} else if (v != MIG_GO_ON) {
		log_warn("vmengine", "vm=%u msg=\"migration failed; cancelling\" reason=\"%s\"",
			 h->id, why);
		enter(h, MIG_FAILING, why);
	} else if (m->phase != was) {
		m->since_ms = wall_ms();
		enter(h, m->phase, NULL);
	} else {
		h->save(h->ctx, VM_REPORT_REFRESH);    /* the progress clock, persisted */
	}
}

/* The source QEMU sent everything (postmigrate): it goes, then the store says completed. */
static enum mig_outcome source_complete(const struct mig_host *h)
{
	struct vm_migration *m = &h->st->mig;
	if (m->phase == MIG_COMPLETING) {
		if (qemu_alive(h) && m->total_ms <= 0) {
			/* QEMU says completed a moment before it has the timings: ask again. */
			int64_t deadline = deadline_after_ms((int)h->cfg->qmp_timeout_ms);
			struct qemu_monitor *mon = h->monitor(h->ctx, deadline);
			struct qemu_migrate_info info;
			if (mon && qemu_monitor_query_migrate_info(mon, deadline, &info) == 0 &&
			    info.status == QEMU_MIGRATION_COMPLETED && info.total_time_ms > 0) {
				m->total_ms = info.total_time_ms;
				m->downtime_ms = info.downtime_ms;
			}
			h->after_call(h->ctx);
		}
		if (qemu_alive(h)) {
			bool late = wall_ms() - m->since_ms > (int64_t)h->cfg->migrate_cancel_timeout_ms;
			if (!late) {
				int64_t deadline = deadline_after_ms((int)h->cfg->qmp_timeout_ms);
				struct qemu_monitor *mon = h->monitor(h->ctx, deadline);
				if (mon)
					qemu_monitor_quit(mon, deadline);
				h->after_call(h->ctx);
			} else {
				qemu_signal(h->st->pid, h->id, SIGKILL);
			}
			if (qemu_alive(h))
				return MIG_OUT_BUSY;
		}
		h->st->pid = 0;
		unlink(h->paths->pidfile);
		enter(h, MIG_COMPLETED, NULL);
	}
	return MIG_OUT_BUSY;
}

static enum mig_outcome source_fail(const struct mig_host *h, const struct vm_spec *spec)
{
	struct vm_migration *m = &h->st->mig;
	bool late = wall_ms() - m->since_ms > (int64_t)h->cfg->migrate_cancel_timeout_ms;
	if (!late && qemu_alive(h)) {
		int64_t deadline = deadline_for(h, spec);
		struct qemu_monitor *mon = h->monitor(h->ctx, deadline);
		enum qemu_run_state rs = QEMU_RUN_STATE_UNKNOWN;
		struct qemu_migrate_info info = { .status = QEMU_MIGRATION_UNKNOWN };
		if (mon && qemu_monitor_query_migrate_info(mon, deadline, &info) == 0 &&
		    info.status == QEMU_MIGRATION_COMPLETED) {
			/* Everything was sent before the cancel: the source QEMU stays paused
			 * and the destination never resumes (the store will say failed). */
		} else if (mon) {
			qemu_monitor_migrate_cancel(mon, deadline);
		}
		h->after_call(h->ctx);
		mon = h->monitor(h->ctx, deadline);
		if (mon && qemu_monitor_query_status(mon, deadline, &rs) == 0 &&
		    rs == QEMU_RUN_STATE_POSTMIGRATE)
			qemu_monitor_cont(mon, deadline);      /* ours to run again */
		h->after_call(h->ctx);
		if (rs == QEMU_RUN_STATE_RUNNING) {
			enter(h, MIG_FAILED, NULL);
			log_info("vmengine", "vm=%u msg=\"migration failed; the VM runs on the "
				 "source\"", h->id);
			return settle_here(h);
		}
		return MIG_OUT_BUSY;
	}
	/* The source does not answer, or stays paused: it goes (SIGKILL, scoped to our QEMU). */
	if (!kill_qemu(h))
		return MIG_OUT_BUSY;
	unlink(h->paths->pidfile);
	if (h->cfg->migrate_failure == MIGRATE_FAILURE_RESTART_ON_DESTINATION) {
		char why[sizeof(m->error)];
		snprintf(why, sizeof(why), "%.100s; source not running: restarting on %.20s",
			 m->error, m->peer);
		enter(h, MIG_RESTART_DEST, why);
		return MIG_OUT_BUSY;               /* gone once the destination took it over */
	}
	char why[sizeof(m->error)];
	snprintf(why, sizeof(why), "%.100s; source not running: restarted on the source",
		 m->error);
	enter(h, MIG_FAILED, why);
	h->st->mig = (struct vm_migration){ .downtime_ms = -1, .total_ms = -1 };
	snprintf(h->st->reason, sizeof(h->st->reason), "migration failed: restarted");
	return MIG_OUT_LAUNCH;
}

static enum mig_outcome source_step(const struct mig_host *h, const struct vm_spec *spec)
{
	struct vm_migration *m = &h->st->mig;
	if (m->phase == MIG_COMPLETED || m->phase == MIG_RESTART_DEST) {
		/* Our QEMU is gone; the VM is the destination's once the store moved it. */
		if (!spec || strcmp(spec->mig.to, m->peer))
			return MIG_OUT_GONE;
		if (spec->mig.phase != m->phase)
			h->save(h->ctx, VM_REPORT_MIGRATION);   /* the report was lost: again */
		return MIG_OUT_BUSY;
	}
	if (m->phase == MIG_FAILED)
		return settle_here(h);
	if (m->phase != MIG_COMPLETING && m->phase != MIG_FAILING && !qemu_alive(h)) {
		/* The source QEMU died mid-migration: nothing left to migrate. */
		enter(h, MIG_FAILED, "the source QEMU went away");
		h->st->mig = (struct vm_migration){ .downtime_ms = -1, .total_ms = -1 };
		h->st->state = VM_RUNNING;           /* the worker sees its QEMU gone */
		return MIG_OUT_HERE;
	}
	switch (m->phase) {
	case MIG_REQUESTED:
	case MIG_PREPARING:
		source_prepare(h, spec);
		break;
	case MIG_TRANSFERRING:
	case MIG_SWITCHOVER:
		source_watch(h, spec);
		break;
	default:
		break;
	}
	if (m->phase == MIG_COMPLETING)
		return source_complete(h);
	if (m->phase == MIG_FAILING)
		return source_fail(h, spec);
	if (m->phase == MIG_FAILED)
		return settle_here(h);
	return MIG_OUT_BUSY;
}

/* ---------------------------------------------------------------- destination */

static int dest_launch(const struct mig_host *h, const struct vm_spec *spec)
{
	char err[512];
	int live = qemu_find_pid(h->id, h->paths->pidfile);
	if (live > 0) {                            /* ours from before a vmengine restart */
		h->st->pid = live;
		return 0;
	}
	mkdir(h->paths->dir, 0700);
	char **argv = qemu_build_argv(h->cfg, spec, h->paths);
	size_t n = 0;
	while (argv && argv[n])
		n++;
	char **full = argv ? realloc(argv, (n + 3) * sizeof(char *)) : NULL;
	if (!full) {
		qemu_free_argv(argv);
		return -ENOMEM;
	}
	full[n] = strdup(migration_incoming_argv[0]);
	full[n + 1] = strdup(migration_incoming_argv[1]);
	full[n + 2] = NULL;
	int pid = full[n] && full[n + 1] ? qemu_launch(full, h->paths,
						       (int)h->cfg->launch_timeout_ms, err,
						       sizeof(err)) : -ENOMEM;
	qemu_free_argv(full);
	if (pid < 0) {
		log_error("vmengine", "vm=%u msg=\"incoming QEMU launch failed\" error=\"%s\"",
			  h->id, pid == -ENOMEM ? "out of memory" : err);
		return pid;
	}
	h->st->pid = pid;
	h->st->launches++;
	h->save(h->ctx, VM_REPORT_REFRESH);
	log_info("vmengine", "vm=%u msg=\"incoming QEMU launched\" pid=%d", h->id, pid);
	return 0;
}

/* The incoming QEMU listens on a Unix socket in the VM's directory. */
static void dest_listen(const struct mig_host *h)
{
	char uri[sizeof(h->st->mig.uri)];
	if (snprintf(uri, sizeof(uri), "unix:%s/migrate.sock", h->paths->dir) >= (int)sizeof(uri))
		return;
	int64_t deadline = deadline_after_ms((int)h->cfg->qmp_timeout_ms);
	struct qemu_monitor *mon = h->monitor(h->ctx, deadline);
	int rc = mon ? qemu_monitor_migrate_set_capability(mon, "events", true, deadline)
		     : -ENOTCONN;
	h->after_call(h->ctx);
	mon = rc == 0 ? h->monitor(h->ctx, deadline) : NULL;
	rc = mon ? qemu_monitor_migrate_incoming(mon, uri, deadline) : -ENOTCONN;
	h->after_call(h->ctx);
	if (rc == 0) {
		snprintf(h->st->mig.uri, sizeof(h->st->mig.uri), "%s", uri);
		h->save(h->ctx, VM_REPORT_MIGRATION);
	}
}

/* The source's QEMU is gone and ours holds the whole VM: it runs. The guest is paused on
 * both sides until then, so this is the end of the switchover: a QEMU that is still loading,
 * does not answer (its `cont` starts the device: a back-end that does not answer holds its
 * lock) or fails `cont` gets migrate_switchover_timeout from the source's `completed`; one
 * that died or failed to load is replaced at once. */
static enum mig_outcome dest_resume(const struct mig_host *h)
{
	if (h->st->mig.phase != MIG_COMPLETING) {
		h->st->mig.phase = MIG_COMPLETING;
		h->st->mig.since_ms = wall_ms();
		h->save(h->ctx, VM_REPORT_REFRESH);
	}
	int64_t left = h->st->mig.since_ms + (int64_t)h->cfg->migrate_switchover_timeout_ms -
		       wall_ms();
	bool in_time = left > 0;
	int64_t budget = min64((int64_t)h->cfg->qmp_timeout_ms, left);
	int64_t deadline = deadline_after_ms(budget < QEMU_MONITOR_MIN_TIMEOUT_MS ?
					     QEMU_MONITOR_MIN_TIMEOUT_MS : (int)budget);
	struct qemu_monitor *mon = qemu_alive(h) ? h->monitor(h->ctx, deadline) : NULL;
	struct qemu_migrate_info info = { .status = QEMU_MIGRATION_UNKNOWN };
	int rc = mon ? qemu_monitor_query_migrate_info(mon, deadline, &info) : -ENOTCONN;
	h->after_call(h->ctx);
	if (rc == 0 && info.status == QEMU_MIGRATION_COMPLETED) {
		mon = h->monitor(h->ctx, deadline);
		rc = mon ? qemu_monitor_cont(mon, deadline) : -ENOTCONN;
		h->after_call(h->ctx);
		if (rc == 0) {
			h->st->state = VM_RUNNING;
			h->st->since_ms = wall_ms();
			enter(h, MIG_COMPLETED, NULL);     /* reported: the VM moves here */
			return MIG_OUT_BUSY;
		}
	}
	bool lost = !qemu_alive(h) || (rc == 0 && info.status == QEMU_MIGRATION_FAILED);
	if (!lost && in_time)
		return MIG_OUT_BUSY;                 /* loading the last of it, or silent */
	/* Our QEMU lost the VM (died, failed to load, or never resumed in time): the source's
	 * is gone too, so the VM starts fresh here. */
	if (!kill_qemu(h))
		return MIG_OUT_BUSY;
	enter(h, MIG_RESTART_DEST, in_time ? "the destination QEMU lost the migrated VM; "
	      "starting it fresh" : "the destination QEMU did not resume within "
	      "migrate_switchover_timeout; starting it fresh");
	return MIG_OUT_LAUNCH;
}

static enum mig_outcome dest_step(const struct mig_host *h, const struct vm_spec *spec)
{
	struct vm_state *st = h->st;
	struct vm_migration *m = &st->mig;
	if (st->state == VM_RUNNING) {
		/* Took it over: the store moves it here, then it is an ordinary VM. */
		if (spec && !spec->mig.incoming)
			return settle_here(h);
		h->save(h->ctx, VM_REPORT_MIGRATION);     /* again until the store moved it */
		return MIG_OUT_BUSY;
	}
	if (!spec || !spec->mig.incoming) {
		/* The migration ended without us (failed, or moved elsewhere). */
		if (!kill_qemu(h))
			return MIG_OUT_BUSY;
		unlink(h->paths->pidfile);
		log_info("vmengine", "vm=%u msg=\"migration ended; incoming QEMU gone\"", h->id);
		return MIG_OUT_GONE;
	}
	if (spec->mig.phase == MIG_RESTART_DEST) {
		if (!kill_qemu(h))
			return MIG_OUT_BUSY;
		if (m->phase != MIG_RESTART_DEST)
			enter(h, MIG_RESTART_DEST, "the source did not run again");
		return MIG_OUT_LAUNCH;
	}
	if (spec->mig.phase == MIG_COMPLETED)
		return dest_resume(h);
	if (st->pid <= 0 || !qemu_alive(h)) {
		if (st->pid > 0) {
			/* It died (a failed incoming stream): the source fails the migration. */
			log_warn("vmengine", "vm=%u msg=\"incoming QEMU went away\"", h->id);
			st->pid = 0;
			m->uri[0] = '\0';
			h->save(h->ctx, VM_REPORT_REFRESH);
			return MIG_OUT_BUSY;
		}
		/* Launched only before the source sends: once it does, an incoming QEMU that died
		 * broke its stream, the source fails the migration, and a new one would only wait
		 * for an export that the failure removes. */
		bool before_sending = spec->mig.phase == MIG_REQUESTED ||
				      spec->mig.phase == MIG_PREPARING;
		if (spec->disk_ready && !m->uri[0] && before_sending && dest_launch(h, spec) == 0)
			dest_listen(h);
		return MIG_OUT_BUSY;
	}
	if (!m->uri[0])
		dest_listen(h);
	return MIG_OUT_BUSY;
}

/* ---------------------------------------------------------------- entry */

bool migration_takes(const struct vm_state *st, const struct vm_spec *spec)
{
	if (st->mig.role != MIG_ROLE_NONE)
		return true;
	if (!spec || !spec->mig.to[0])
		return false;
	if (spec->mig.incoming)
		return true;
	/* A request for a running VM here; or one the store has under way that vm.state does
	 * not know (source_begin ends it). */
	return st->state == VM_RUNNING && st->pid > 0 &&
	       (spec->mig.phase == MIG_REQUESTED || spec->mig.phase == MIG_PREPARING ||
		spec->mig.phase == MIG_TRANSFERRING || spec->mig.phase == MIG_SWITCHOVER);
}

enum mig_outcome migration_step(const struct mig_host *h, const struct vm_spec *spec)
{
	struct vm_state *st = h->st;
	if (st->mig.role == MIG_ROLE_NONE && spec && spec->mig.incoming) {
		st->mig = (struct vm_migration){ .role = MIG_ROLE_DEST, .phase = MIG_REQUESTED,
						 .started_ms = spec->mig.started_ms,
						 .downtime_ms = -1, .total_ms = -1 };
		st->pid = 0;
		st->state = VM_MIGRATING;
		st->since_ms = wall_ms();
		memcpy(st->uuid, spec->uuid, sizeof(st->uuid));
		mkdir(h->paths->dir, 0700);
		enter(h, MIG_PREPARING, NULL);
	} else if (st->mig.role == MIG_ROLE_NONE && spec) {
		source_begin(h, spec);
	}
	if (st->mig.role == MIG_ROLE_DEST)
		return dest_step(h, spec);
	if (st->mig.role == MIG_ROLE_SOURCE)
		return source_step(h, spec);
	return MIG_OUT_BUSY;
}

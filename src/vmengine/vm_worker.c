/* vm_worker.c — the per-VM reconcile loop (see vm_worker.h).
 *
 * Each tick: observe (is our QEMU alive, what did QMP report), react to a QEMU that is gone,
 * apply the desired state, then push the current state forward. A stop or a terminate
 * follows the schedule of escalation.h (which owns that rule); signals go only to a pid whose
 * cmdline names this VM. QEMU is driven only through the typed monitor (qemu_monitor.h):
 * this file decides what to ask and what an answer or an event means for the VM. */
#include "vm_worker.h"
#include "vm_worker_core.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "clock.h"
#include "deadline_io.h"
#include "escalation.h"
#include "log.h"
#include "migration.h"
#include "qemu_monitor.h"
#include "qemu_proc.h"
#include "vm_counters.h"
#include "vm_disk.h"
#include "vm_reason.h"

#define LAUNCH_BACKOFF_MAX_MS 30000


unsigned vm_worker_id(const struct vm_worker *w)
{
	return w->id;
}

/* A running VM's vhost-user disk connection (vm_disk.h): recorded, reported, and each change
 * an event; the first answer after a launch is one only when the disk is down. */
static void observe_disk(struct vm_worker *w)
{
	enum vm_disk was = w->st.disk;
	int64_t was_since = w->st.disk_since_ms;
	if (!w->vhost_disk || !w->mon ||
	    mon_done(w, vm_disk_observe(w->mon, mon_deadline(mon_budget_ms(w)), &w->st,
					wall_ms())) <= 0)
		return;
	bool event = was != VM_DISK_UNKNOWN || w->st.disk == VM_DISK_DOWN;
	if (event && w->st.disk == VM_DISK_DOWN)
		vm_counters_disk_disconnected();
	else if (was == VM_DISK_DOWN && w->st.disk == VM_DISK_UP)
		vm_counters_disk_reconnected(w->st.disk_since_ms - was_since);
	if (event)
		log_warn("vmengine", "vm=%u msg=\"%s\" pid=%d", w->id,
			 vm_disk_event_name(w->st.disk), w->st.pid);
	save_state_kind(w, event ? VM_REPORT_DISK : VM_REPORT_REFRESH);
}

/* No QEMU, no disk connection to show. */
static void forget_disk(struct vm_worker *w)
{
	if (w->st.disk != VM_DISK_UNKNOWN) {
		w->st.disk = VM_DISK_UNKNOWN;
		w->st.disk_since_ms = wall_ms();
	}
}

/* ---------------------------------------------------------------- launch */

static void schedule_retry(struct vm_worker *w)
{
	uint64_t backoff = (uint64_t)backoff_delay_ms(w->launch_failures < 5 ? w->launch_failures : 5, (int64_t)w->cfg->tick_ms, LAUNCH_BACKOFF_MAX_MS);
	if (backoff > LAUNCH_BACKOFF_MAX_MS)
		backoff = LAUNCH_BACKOFF_MAX_MS;
	w->launch_failures++;
	w->next_launch_ms = monotonic_ms() + (int64_t)backoff;
}

/* Connects QMP to a QEMU started with -S and lets it run. A status QEMU answered but that
 * could not be read (-EBADMSG) is taken as "not running": cont is harmless on a running VM. */
static int resume_guest(struct vm_worker *w)
{
	int64_t deadline = mon_deadline(mon_budget_ms(w));
	int rc = mon_ensure(w, deadline);
	if (rc < 0)
		return rc;
	enum qemu_run_state status;
	rc = mon_done(w, qemu_monitor_query_status(w->mon, deadline, &status));
	if (rc == 0 && status == QEMU_RUN_STATE_RUNNING)
		return 0;
	if (rc < 0 && rc != -EBADMSG)
		return rc;
	return mon_command(w, qemu_monitor_cont, mon_budget_ms(w));
}

/* A live QEMU of this VM that vm.state did not lead us to (vm.state deleted, or a worker
 * about to launch): it is adopted as it is — pid recorded, QMP reconnected — and its monitor
 * sockets, pid file and console are left alone. A second QEMU would replace them all and
 * leave the first guest without a controller. */
static void adopt_live(struct vm_worker *w, int pid, const char *why)
{
	log_warn("vmengine", "vm=%u msg=\"live QEMU adopted instead of a launch\" pid=%d "
		 "why=\"%s\"", w->id, pid, why);
	w->st.pid = pid;
	w->st.escalation = ESC_NONE;
	w->st.stopping_since_ms = w->st.terminating_since_ms = 0;
	enter_state(w, VM_RUNNING, why);
	if (mon_ensure(w, mon_deadline(mon_budget_ms(w))) == 0)
		drain_events(w);
}

/* Launches QEMU; the STARTING state carries why ("" for an ordinary start). */
static void launch(struct vm_worker *w, const struct vm_spec *spec, const char *why)
{
	char err[512];
	if (monotonic_ms() < w->next_launch_ms)
		return;
	/* Never a twin: a QEMU naming this VM and this root's pid file is adopted. */
	int live = qemu_find_pid(w->id, w->paths.pidfile);
	if (live > 0) {
		memcpy(w->st.uuid, spec->uuid, sizeof(w->st.uuid));
		w->st.generation = spec->generation;
		adopt_live(w, live, "re-adopted a live QEMU");
		return;
	}
	if (!spec->disk_ready) {
		if (!w->waiting_for_disk)
			log_info("vmengine", "vm=%u msg=\"waiting for its disk to be exported\"",
				 w->id);
		w->waiting_for_disk = true;
		return;
	}
	w->waiting_for_disk = false;
	mkdir(w->paths.dir, 0700);
	w->exit_reason[0] = '\0';
	w->st.pid = 0;
	memcpy(w->st.uuid, spec->uuid, sizeof(w->st.uuid));
	w->st.generation = spec->generation;
	w->st.held = false;
	w->st.escalation = ESC_NONE;
	w->st.stopping_since_ms = w->st.terminating_since_ms = 0;
	w->st.restart_pending = false;
	forget_disk(w);
	enter_state(w, VM_STARTING, why);
	char **argv = qemu_build_argv(w->cfg, spec, &w->paths);
	int pid = argv ? qemu_launch(argv, &w->paths, (int)w->cfg->launch_timeout_ms, err,
				     sizeof(err))
		       : (snprintf(err, sizeof(err), "command line too long"), -E2BIG);
	qemu_free_argv(argv);
	if (pid < 0) {
		log_error("vmengine", "vm=%u msg=\"launch failed\" error=\"%s\"", w->id, err);
		schedule_retry(w);
		enter_state(w, VM_ERROR, err);
		return;
	}
	w->st.pid = pid;
	w->st.launches++;
	save_state(w);
	log_info("vmengine", "vm=%u msg=\"QEMU launched\" pid=%d", w->id, pid);
	if (resume_guest(w) < 0)
		return;          /* still STARTING with a pid: the next tick tries again */
	w->launch_failures = 0;
	enter_state(w, VM_RUNNING, "");
}

/* ---------------------------------------------------------------- escalation */

static void perform_step(struct vm_worker *w, enum vm_escalation step)
{
	int64_t elapsed = wall_ms() - *since_of(w);
	log_warn("vmengine", "vm=%u msg=\"escalate\" state=%s step=%s elapsed_ms=%lld pid=%d",
		 w->id, vm_state_name(w->st.state), vm_escalation_name(step), (long long)elapsed,
		 w->st.pid);
	w->st.escalation = step;
	save_state_kind(w, VM_REPORT_STATE);   /* persisted before acting: a restarted vmengine goes on */
	vm_counters_escalation(step);
	switch (step) {
	case ESC_POWERDOWN:
		mon_command(w, qemu_monitor_system_powerdown, time_to_next_step_ms(w));
		break;
	case ESC_QUIT:
		if (w->st.state == VM_RESTARTING)
			qemu_signal(w->st.pid, w->id, SIGINT);
		else
			mon_command(w, qemu_monitor_quit, time_to_next_step_ms(w));
		break;
	case ESC_TERM:
		qemu_signal(w->st.pid, w->id, SIGTERM);
		break;
	default:
		qemu_signal(w->st.pid, w->id, SIGKILL);
		break;
	}
}

static void on_qemu_gone(struct vm_worker *w, const struct vm_spec *spec);

static void escalate(struct vm_worker *w)
{
	/* No QEMU recorded (an interrupted launch, a hand-made vm.state): look for one; with
	 * none there is nothing to stop and the stop is over now. Never a signal to pid 0. */
	if (w->st.pid <= 0) {
		int pid = find_qemu(w);
		if (pid <= 0) {
			on_qemu_gone(w, NULL);
			return;
		}
		take_pid(w, pid, "stopping a VM without a recorded pid");
	}
	enum vm_escalation due = escalation_due(w->cfg, w->st.state, *since_of(w), wall_ms());
	/* A guest that already powered itself off (SHUTDOWN with -no-shutdown) only needs
	 * QEMU to leave: quit now rather than wait for the grace. */
	if (w->exit_reason[0] && due < ESC_QUIT && w->st.escalation >= ESC_POWERDOWN) {
		log_info("vmengine", "vm=%u msg=\"guest shut down; quitting QEMU\"", w->id);
		mon_command(w, qemu_monitor_quit, mon_budget_ms(w));
		return;
	}
	while (w->st.escalation < due) {
		enum vm_escalation next = (enum vm_escalation)(w->st.escalation + 1);
		if (w->st.state == VM_RESTARTING && next == ESC_POWERDOWN)
			w->st.escalation = next;     /* a target restart has no ACPI step */
		else
			perform_step(w, next);
	}
}

static void begin_stop(struct vm_worker *w, enum vm_state_kind k, int64_t since)
{
	w->st.escalation = ESC_NONE;
	if (k == VM_TERMINATING)
		w->st.terminating_since_ms = since;
	else
		w->st.stopping_since_ms = since;
	enter_state(w, k, "");
	escalate(w);
}

/* ---------------------------------------------------------------- migration (migration.h) */

static void launch(struct vm_worker *w, const struct vm_spec *spec, const char *why);

/* One tick of the VM's migration, which has the VM while it lasts (migration.c). */
static void migrate_tick(struct vm_worker *w, const struct vm_spec *spec)
{
	struct mig_host h = { w, w->cfg, w->id, &w->st, &w->paths, mig_monitor, mig_after_call,
			      mig_save };
	/* The VM arrives here: what an earlier QEMU of it here said before it went away (the
	 * SHUTDOWN of the quit that ended its migration away) is not this one's. */
	if (w->st.mig.role == MIG_ROLE_NONE && spec && spec->mig.incoming)
		w->exit_reason[0] = '\0';
	switch (migration_step(&h, spec)) {
	case MIG_OUT_GONE:         /* nothing of the VM is left here */
		mon_drop(w);
		unlink(w->state_path);
		w->st = (struct vm_state){ .id = w->id, .state = VM_STOPPED };
		w->exit_reason[0] = '\0';
		w->state_known = false;
		break;
	case MIG_OUT_LAUNCH:        /* with the launch backoff of a failed launch */
		mon_drop(w);
		w->st.pid = 0;
		if (spec)
			launch(w, spec, w->st.reason[0] ? w->st.reason : "migration failed");
		break;
	default:
		break;
	}
}

/* ---------------------------------------------------------------- reconcile */

/* QEMU is gone: record why and decide what comes next. */
static void on_qemu_gone(struct vm_worker *w, const struct vm_spec *spec)
{
	char reason[128];
	drain_events(w);        /* what QEMU said before it closed the monitor is still there */
	snprintf(reason, sizeof(reason), "%s", w->exit_reason[0] ? w->exit_reason
		 : vm_reason_of_step(w->st.state, w->st.escalation, w->st.pid));
	char said[256];
	qemu_run_log_last_line(&w->paths, said, sizeof(said));
	log_info("vmengine", "vm=%u msg=\"QEMU gone\" pid=%d reason=\"%s\" escalation=%s "
		 "qemu_said=\"%s\"", w->id, w->st.pid, reason,
		 vm_escalation_name(w->st.escalation), said);
	mon_drop(w);
	unlink(w->paths.pidfile);
	w->st.pid = 0;
	forget_disk(w);
	enum vm_state_kind was = w->st.state;
	w->exit_reason[0] = '\0';
	if (was == VM_TERMINATING) {
		enter_state(w, VM_TERMINATED, reason);
		return;
	}
	if (was == VM_STOPPING) {
		enter_state(w, VM_STOPPED, reason);
		return;
	}
	if (was == VM_RESTARTING || w->st.restart_pending) {
		/* The relaunch a target restart asked for: straight to STARTING. A VM that cannot
		 * launch yet (its disk not exported again) stays RESTARTING without a QEMU. */
		w->next_launch_ms = 0;
		w->st.escalation = ESC_NONE;
		w->st.stopping_since_ms = 0;
		w->st.restart_pending = true;
		if (was == VM_RESTARTING)
			save_state(w);       /* no QEMU now (pid 0), still to be relaunched */
		else
			enter_state(w, VM_RESTARTING, "target restart");
		if (spec && spec->desired == DESIRED_RUNNING)
			launch(w, spec, "target restart");
		return;
	}
	if (was == VM_STARTING) {        /* died while starting: retry with backoff */
		schedule_retry(w);
		enter_state(w, VM_ERROR, reason);
		return;
	}
	/* Unexpected: a crash, a panic, the guest powering off, or a kill from outside. */
	bool crash = strcmp(reason, "guest-shutdown") != 0;
	if (crash && spec && spec->on_crash == ON_CRASH_RESTART &&
	    spec->desired == DESIRED_RUNNING) {
		enter_state(w, VM_STOPPED, reason);
		launch(w, spec, "");
		return;
	}
	w->st.held = true;       /* not relaunched until someone asks again (generation) */
	enter_state(w, VM_STOPPED, reason);
}

/* RESTARTING without a QEMU: the old one is gone, the relaunch has not happened yet (its disk
 * is not exported again). */
static bool relaunch_pending(const struct vm_worker *w)
{
	return w->st.state == VM_RESTARTING && w->st.pid <= 0;
}

static void apply_desired(struct vm_worker *w, const struct vm_spec *spec)
{
	enum vm_state_kind k = w->st.state;
	int64_t now = wall_ms();
	if (!w->state_known && !vm_state_active(k) && spec->desired != DESIRED_RUNNING) {
		/* Never started (no vm.state yet): record the outcome, so it is reported. */
		mkdir(w->paths.dir, 0700);
		memcpy(w->st.uuid, spec->uuid, sizeof(w->st.uuid));
		enter_state(w, spec->desired == DESIRED_TERMINATED ? VM_TERMINATED : VM_STOPPED,
			    "never started");
		return;
	}
	switch (spec->desired) {
	case DESIRED_TERMINATED:
		if (k == VM_RUNNING || k == VM_STARTING || k == VM_RESTARTING) {
			begin_stop(w, VM_TERMINATING, now);
		} else if (k == VM_STOPPING) {
			/* A stop in progress becomes a terminate: same clock, same progress. */
			w->st.terminating_since_ms = w->st.stopping_since_ms;
			enter_state(w, VM_TERMINATING, "");
		} else if (k == VM_STOPPED || k == VM_ERROR) {
			enter_state(w, VM_TERMINATED, w->st.reason);
		}
		break;
	case DESIRED_STOPPED:
		if (k == VM_RUNNING || k == VM_STARTING)
			begin_stop(w, VM_STOPPING, now);
		else if (k == VM_ERROR || relaunch_pending(w))
			enter_state(w, VM_STOPPED, w->st.reason);
		break;
	case DESIRED_RUNNING:
		if ((k == VM_STOPPED || k == VM_ERROR) &&
		    (!w->st.held || spec->generation != w->st.generation))
			launch(w, spec, "");
		else if (relaunch_pending(w))
			launch(w, spec, "target restart");
		break;
	}
}

static void progress(struct vm_worker *w)
{
	switch (w->st.state) {
	case VM_STARTING:
		if (w->st.pid > 0 && resume_guest(w) == 0) {
			w->launch_failures = 0;
			enter_state(w, VM_RUNNING, "");
		}
		break;
	case VM_RUNNING:
		if (!w->mon)
			mon_ensure(w, mon_deadline(mon_budget_ms(w)));
		if (w->exit_reason[0]) {
			/* The guest powered off or panicked; QEMU stays paused (-no-shutdown)
			 * until told to quit. */
			log_info("vmengine", "vm=%u msg=\"guest stopped by itself; quitting QEMU\" "
				 "reason=%s", w->id, w->exit_reason);
			mon_command(w, qemu_monitor_quit, mon_budget_ms(w));
		} else {
			observe_disk(w);
		}
		break;
	case VM_RESTARTING:
		if (!relaunch_pending(w))
			escalate(w);
		break;
	case VM_STOPPING:
	case VM_TERMINATING:
		escalate(w);
		break;
	default:
		break;
	}
}

static void reconcile(struct vm_worker *w, const struct vm_spec *spec)
{
	if (migration_takes(&w->st, spec)) {
		migrate_tick(w, spec);
		publish_status(w);
		return;
	}
	bool alive = w->st.pid > 0 && qemu_pid_matches(w->st.pid, w->id);
	if (alive)
		drain_events(w);
	if (vm_state_active(w->st.state) && w->st.pid > 0 && !alive) {
		int pid = find_qemu(w);       /* e.g. the daemon of a launch adopted midway */
		if (pid > 0) {
			take_pid(w, pid, "the recorded pid is gone");
			alive = true;
		} else {
			on_qemu_gone(w, spec);
		}
	}
	if (w->st.restart_pending && alive &&
	    (w->st.state == VM_RUNNING || w->st.state == VM_STARTING)) {
		w->st.stopping_since_ms = wall_ms();
		w->st.escalation = ESC_NONE;
		enter_state(w, VM_RESTARTING, "target restart");
	}
	if (spec && w->st.uuid[0] && strcmp(w->st.uuid, spec->uuid) &&
	    !vm_state_active(w->st.state)) {
		/* A finished VM's local state under an id the store now gives another VM. */
		log_warn("vmengine", "vm=%u msg=\"vm.state belongs to an earlier VM with this id; "
			 "starting afresh\" old_uuid=%s", w->id, w->st.uuid);
		w->st = (struct vm_state){ .id = w->id, .state = VM_STOPPED };
		w->state_known = false;
	}
	if (spec) {
		w->vhost_disk = spec->disk_vhost[0] != '\0';
		w->warned_no_spec = false;
		apply_desired(w, spec);
	} else if (!w->warned_no_spec && vm_state_active(w->st.state)) {
		log_warn("vmengine", "vm=%u msg=\"no desired state for an active VM; left as it is\"",
			 w->id);
		w->warned_no_spec = true;
	}
	progress(w);
	publish_status(w);
}

/* ---------------------------------------------------------------- adoption */

static void adopt(struct vm_worker *w)
{
	char err[256];
	int rc = vm_state_load(w->state_path, &w->st, err, sizeof(err));
	if (rc == -ENOENT) {
		w->st = (struct vm_state){ .id = w->id, .state = VM_STOPPED,
					   .since_ms = wall_ms() };
		int pid = qemu_find_pid(w->id, w->paths.pidfile);
		if (pid > 0)          /* vm.state deleted under a running VM */
			adopt_live(w, pid, "vm.state was missing; re-adopted");
		publish_status(w);
		return;
	}
	w->state_known = rc == 0;
	if (rc < 0 || w->st.id != w->id) {
		/* Whatever the file said, a live QEMU of this VM must not get a twin. */
		int pid = find_qemu(w);
		log_error("vmengine", "vm=%u msg=\"vm.state unreadable\" error=\"%s\" qemu_pid=%d",
			  w->id, rc < 0 ? err : "id mismatch", pid);
		w->st = (struct vm_state){ .id = w->id, .state = VM_STOPPED };
		if (pid > 0) {
			w->st.pid = pid;
			enter_state(w, VM_RUNNING, "vm.state was unreadable; re-adopted");
			if (mon_ensure(w, mon_deadline(mon_budget_ms(w))) == 0)
				drain_events(w);
		} else {
			enter_state(w, VM_STOPPED, "lost: vm.state unreadable");
		}
		return;
	}
	bool alive = w->st.pid > 0 && qemu_pid_matches(w->st.pid, w->id);
	if (vm_state_active(w->st.state) && !alive) {
		/* No pid yet (vmengine died during the launch), or not the recorded one. */
		int pid = find_qemu(w);
		if (pid > 0) {
			take_pid(w, pid, "adopting");
			alive = true;
		}
	}
	log_info("vmengine", "vm=%u msg=\"adopting\" state=%s pid=%d alive=%d escalation=%s "
		 "migration=%s", w->id, vm_state_name(w->st.state), w->st.pid, alive,
		 vm_escalation_name(w->st.escalation), vm_mig_phase_name(w->st.mig.phase));
	if (alive && mon_ensure(w, mon_deadline(mon_budget_ms(w))) == 0)
		drain_events(w);
	if (w->st.mig.role != MIG_ROLE_NONE) {
		publish_status(w);      /* the migration goes on from vm.state (migration.c) */
		return;
	}
	if (vm_state_active(w->st.state) && !alive && w->st.pid > 0) {
		on_qemu_gone(w, NULL);       /* died while vmengine was away: reason lost */
	} else if (vm_state_active(w->st.state) && !alive && !relaunch_pending(w)) {
		/* Never had a QEMU, or its launch was interrupted and none came of it. */
		enter_state(w, w->st.state == VM_TERMINATING ? VM_TERMINATED : VM_STOPPED,
			    w->st.state == VM_STARTING ? "lost during launch" : "lost");
	}
	publish_status(w);
}

/* ---------------------------------------------------------------- thread */

static int wait_ms(struct vm_worker *w)
{
	if (w->st.mig.role != MIG_ROLE_NONE)
		return migration_wait_ms(&w->st, w->cfg);
	bool stopping = w->st.state == VM_STOPPING || w->st.state == VM_TERMINATING ||
			(w->st.state == VM_RESTARTING && !relaunch_pending(w));
	return escalation_wait_ms(w->cfg, stopping ? w->st.state : VM_RUNNING, *since_of(w),
				  w->st.escalation, wall_ms());
}

static void *worker_main(void *arg)
{
	struct vm_worker *w = arg;
	adopt(w);
	for (;;) {
		pthread_mutex_lock(&w->lock);
		if (w->stop) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		struct vm_spec spec = w->spec;
		bool has_spec = w->has_spec;
		w->woken = false;
		pthread_mutex_unlock(&w->lock);

		reconcile(w, has_spec ? &spec : NULL);

		struct timespec until = monotonic_after_ms(wait_ms(w));
		pthread_mutex_lock(&w->lock);
		while (!w->woken && !w->stop &&
		       pthread_cond_timedwait(&w->wake, &w->lock, &until) == 0)
			;
		pthread_mutex_unlock(&w->lock);
	}
	mon_drop(w);
	return NULL;
}

struct vm_worker *vm_worker_start(const struct vmengine_config *cfg, unsigned id,
				  vm_report_fn report, void *report_ctx)
{
	struct vm_worker *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->id = id;
	w->cfg = cfg;
	w->report = report;
	w->report_ctx = report_ctx;
	qemu_paths_init(&w->paths, cfg->root, id);
	snprintf(w->state_path, sizeof(w->state_path), "%s", w->paths.state);
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->status_lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &attr);
	pthread_condattr_destroy(&attr);
	w->status.id = id;
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		free(w);
		return NULL;
	}
	return w;
}

void vm_worker_set_spec(struct vm_worker *w, const struct vm_spec *spec)
{
	pthread_mutex_lock(&w->lock);
	bool changed = (spec != NULL) != w->has_spec ||
		       (spec && memcmp(spec, &w->spec, sizeof(*spec)) != 0);
	if (spec)
		w->spec = *spec;
	w->has_spec = spec != NULL;
	if (changed) {
		w->woken = true;
		pthread_cond_signal(&w->wake);
	}
	pthread_mutex_unlock(&w->lock);
}

void vm_worker_stop(struct vm_worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	pthread_mutex_destroy(&w->status_lock);
	free(w);
}

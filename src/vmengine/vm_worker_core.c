/* vm_worker_core.c — a VM worker's state and monitor (see vm_worker_core.h): vm.state
 * written atomically and reported, the status published for status.json, and every monitor
 * call with its deadline (no later than the next step of a stop under way, escalation.h). */
#include "vm_worker_core.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "deadline_io.h"
#include "escalation.h"
#include "log.h"
#include "vm_counters.h"
#include "vm_reason.h"

/* ---------------------------------------------------------------- state */

void publish_status(struct vm_worker *w)
{
	pthread_mutex_lock(&w->status_lock);
	w->status = (struct vm_worker_status){
		.id = w->id, .state = w->st.state, .pid = w->st.pid,
		.escalation = w->st.escalation, .last_reconcile_ms = wall_ms(),
		.known = w->state_known, .disk = w->st.disk,
		.disk_since_ms = w->st.disk_since_ms, .mig_role = w->st.mig.role,
		.mig_phase = w->st.mig.phase, .mig_since_ms = w->st.mig.since_ms,
	};
	snprintf(w->status.reason, sizeof(w->status.reason), "%s", w->st.reason);
	pthread_mutex_unlock(&w->status_lock);
}

void vm_worker_status(struct vm_worker *w, struct vm_worker_status *out)
{
	pthread_mutex_lock(&w->status_lock);
	*out = w->status;
	pthread_mutex_unlock(&w->status_lock);
}

void save_state_kind(struct vm_worker *w, enum vm_report_kind kind)
{
	int rc = vm_state_save(w->state_path, &w->st);
	if (rc == 0)
		w->state_known = true;
	if (rc == 0 && w->report)
		w->report(w->report_ctx, &w->st, kind);
	if (rc < 0)
		log_error("vmengine", "vm=%u msg=\"cannot write vm.state\" error=\"%s\"", w->id,
			  strerror(-rc));
	publish_status(w);
}

void save_state(struct vm_worker *w)
{
	save_state_kind(w, VM_REPORT_REFRESH);
}

void enter_state(struct vm_worker *w, enum vm_state_kind k, const char *reason)
{
	enum vm_state_kind old = w->st.state;
	w->st.state = k;
	w->st.since_ms = wall_ms();
	if (k == VM_TERMINATED && old != VM_TERMINATED && w->st.terminating_since_ms > 0)
		vm_counters_terminated(w->st.since_ms - w->st.terminating_since_ms);
	if (reason && reason != w->st.reason)   /* keeping the reason: no overlapping copy */
		snprintf(w->st.reason, sizeof(w->st.reason), "%s", reason);
	save_state_kind(w, VM_REPORT_STATE);
	log_info("vmengine", "vm=%u msg=\"state\" from=%s to=%s pid=%d reason=\"%s\"", w->id,
		 vm_state_name(old), vm_state_name(k), w->st.pid, w->st.reason);
}

/* A live QEMU of this VM whose pid vm.state does not hold (vmengine died during the launch,
 * or QEMU's first process gave way to its daemon): the pidfile's pid when it is ours, else
 * any process whose cmdline names the VM and this root's pidfile. 0 when there is none. */
int find_qemu(struct vm_worker *w)
{
	int pid = qemu_read_pidfile(w->paths.pidfile);
	if (pid > 0 && qemu_pid_matches(pid, w->id))
		return pid;
	pid = qemu_find_pid(w->id, w->paths.pidfile);
	return pid > 0 ? pid : 0;
}

void take_pid(struct vm_worker *w, int pid, const char *why)
{
	log_warn("vmengine", "vm=%u msg=\"QEMU found\" pid=%d old_pid=%d why=\"%s\"", w->id, pid,
		 w->st.pid, why);
	w->st.pid = pid;
	save_state(w);
}

/* ---------------------------------------------------------------- monitor */

void mon_drop(struct vm_worker *w)
{
	qemu_monitor_close(w->mon);
	w->mon = NULL;
}

static void handle_event(struct vm_worker *w, const struct qemu_monitor_event *ev)
{
	/* The first cause wins: the SHUTDOWN that follows our own quit after a guest
	 * shutdown or panic is not the reason the VM stopped. */
	if (ev->kind == QEMU_EVENT_SHUTDOWN && !w->exit_reason[0]) {
		snprintf(w->exit_reason, sizeof(w->exit_reason), "%s",
			 ev->shutdown_reason[0] ? ev->shutdown_reason : "shutdown");
	} else if (ev->kind == QEMU_EVENT_GUEST_PANICKED) {
		snprintf(w->exit_reason, sizeof(w->exit_reason), "guest-panic");
	}
	log_info("vmengine", "vm=%u event=%s reason=%s", w->id, ev->name,
		 w->exit_reason[0] ? w->exit_reason : "-");
}

/* Takes in what QEMU sent, then drops a connection that is gone: the events read before QEMU
 * closed the socket (the SHUTDOWN of a quit, of a signal) are handled first, never dropped
 * with the connection. */
void drain_events(struct vm_worker *w)
{
	if (!w->mon)
		return;
	int rc = qemu_monitor_poll_events(w->mon, 0);
	struct qemu_monitor_event ev;
	while (qemu_monitor_next_event(w->mon, &ev))
		handle_event(w, &ev);
	if (rc < 0 || !qemu_monitor_connected(w->mon))
		mon_drop(w);
}

/* The deadline of a monitor call given timeout_ms (at least the monitor's floor). */
int64_t mon_deadline(int timeout_ms)
{
	return deadline_after_ms(timeout_ms < QEMU_MONITOR_MIN_TIMEOUT_MS
				 ? QEMU_MONITOR_MIN_TIMEOUT_MS : timeout_ms);
}

int64_t *since_of(struct vm_worker *w)
{
	return w->st.state == VM_TERMINATING ? &w->st.terminating_since_ms
					     : &w->st.stopping_since_ms;
}

int time_to_next_step_ms(struct vm_worker *w)
{
	return escalation_call_budget_ms(w->cfg, w->st.state, *since_of(w), w->st.escalation,
					 wall_ms(), QEMU_MONITOR_MIN_TIMEOUT_MS);
}

/* The time any monitor call (connect included) may take now: while a stop is under way, no
 * later than its next step (escalation.h), else qmp_timeout. Adoption, reconnects and
 * commands all take it, so a monitor that never answers never delays a step. */
int mon_budget_ms(struct vm_worker *w)
{
	bool stopping = w->st.state == VM_STOPPING || w->st.state == VM_TERMINATING ||
			(w->st.state == VM_RESTARTING && w->st.pid > 0);
	return stopping ? time_to_next_step_ms(w) : (int)w->cfg->qmp_timeout_ms;
}

/* Connects the monitor when it is not, before deadline (at most the configured QMP deadline,
 * and no later than the next escalation step). A fresh connection asks query-status: a guest
 * that shut down or panicked while nobody listened (vmengine away, a dropped connection)
 * left QEMU paused (-no-shutdown) and its event is gone. Only exit_reason is set here;
 * progress() and escalate() act on it. */
int mon_ensure(struct vm_worker *w, int64_t deadline)
{
	if (w->mon)
		return 0;
	int err = 0;
	w->mon = qemu_monitor_open(w->paths.monitor, w->id, deadline, &err);
	if (!w->mon)
		return err;
	enum qemu_run_state status;
	int rc = qemu_monitor_query_status(w->mon, deadline, &status);
	if (rc < 0) {
		if (!qemu_monitor_connected(w->mon)) {
			mon_drop(w);
			return rc;
		}
		return 0;
	}
	const char *reason = vm_reason_of_run_state(status);
	if (reason && !w->exit_reason[0]) {
		snprintf(w->exit_reason, sizeof(w->exit_reason), "%s", reason);
		log_info("vmengine", "vm=%u msg=\"guest stopped while QMP was disconnected\" "
			 "status=%s reason=%s", w->id, qemu_monitor_run_state_name(status), reason);
	}
	return 0;
}

/* After a monitor call: drops a connection the call lost and takes in the events it read. */
int mon_done(struct vm_worker *w, int rc)
{
	drain_events(w);        /* the events first: a lost connection is dropped after them */
	return rc;
}

/* One command (cont, system_powerdown, quit) with a deadline, connecting first if needed. */
int mon_command(struct vm_worker *w, int (*cmd)(struct qemu_monitor *, int64_t),
		       int timeout_ms)
{
	int64_t deadline = mon_deadline(timeout_ms);
	int rc = mon_ensure(w, deadline);
	if (rc < 0)
		return rc;
	return mon_done(w, cmd(w->mon, deadline));
}

struct qemu_monitor *mig_monitor(void *ctx, int64_t deadline)
{
	struct vm_worker *w = ctx;
	return mon_ensure(w, deadline) == 0 ? w->mon : NULL;
}

void mig_after_call(void *ctx)
{
	drain_events(ctx);
}

void mig_save(void *ctx, enum vm_report_kind kind)
{
	save_state_kind(ctx, kind);
}


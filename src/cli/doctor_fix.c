/* doctor_fix.c — `berth doctor --fix`: the safe recoveries, and nothing else. Each is
 * decided again from fresh state just before it is taken, logged as an event in the store
 * (component "doctor") and reported:
 *   - restart the target (rpc-hung, export-stuck, a pinned reactor, an RPC socket that does
 *     not answer): SIGUSR1 to this root's supervisor, which applies target_restart.h's rule;
 *     waits (bounded) until a new blockd answers;
 *   - the next step of an overdue stop (vm-stop-overdue): SIGTERM, or SIGKILL after a
 *     SIGTERM, only to the pid whose command line names the VM (-name vm<id>,) and whose
 *     -pidfile is this root's, only while vm.state still says the VM is stopping;
 *   - the store's row from vm.state (store-vmstate): vm.state is the source of truth;
 *   - stale TARGET_RESTART markers removed.
 * Nothing here touches a running guest: a VM that vm.state says should run is never signalled,
 * and the target is not restarted under target_restart_policy = restart-vms (that would
 * relaunch every guest). */
#include "doctor.h"
#include "json_util.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "deadline_io.h"
#include "systemctl.h"
#include "target_restart.h"

#define TARGET_BACK_TIMEOUT_MS 30000
#define SYSTEMCTL_QUICK_MS 5000
#define BLOCKD_UNIT "berth-blockd.service"

static const char *const is_active[] = { "is-active", "--quiet", BLOCKD_UNIT, NULL };
static const char *const restart[] = { "restart", BLOCKD_UNIT, NULL };

struct event {
	const char *host;
	int64_t vm;
	const char *message;
};

static int add_event(struct store *s, void *arg)
{
	struct event *e = arg;
	return store_event_add(s, e->host, "doctor", e->vm, "warn", e->message);
}

/* Records what was done (or refused): printed by the caller, and an event in the store. */
static void record(struct doctor_ctx *x, json_t *done, const char *fix, const char *check,
		   int64_t vm, bool ok, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void record(struct doctor_ctx *x, json_t *done, const char *fix, const char *check,
		   int64_t vm, bool ok, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct event e = { x->cli->conf.host, vm, msg };
	int rc = doctor_store_do(x->cli, DOCTOR_STORE_TIMEOUT_MS, add_event, &e);
	json_array_append_new(done, json_pack("{s:s, s:s, s:I, s:b, s:s, s:b}", "fix", fix,
		"check", check, "vm", (json_int_t)vm, "done", ok, "message", msg, "event_logged",
		rc == 0));
}

static json_int_t target_pid(struct doctor_ctx *x)
{
	json_t *res = NULL;
	char err[128];
	json_int_t pid = 0;
	if (doctor_rpc(x, "framework_get_reactors", NULL, 500, &res, err, sizeof(err)) == 0)
		pid = json_int_at(res, "pid");
	json_decref(res);
	return pid;
}

static void restart_target(struct doctor_ctx *x, json_t *done, const char *check)
{
	/* Under restart-vms a target restart relaunches every guest: not a safe fix. */
	if (x->vcfg.target_restart_policy != TARGET_RESTART_RECONNECT) {
		record(x, done, "restart-target", check, 0, false, "refused: [vmengine] "
		       "target_restart_policy = %s would relaunch every VM; restart the target "
		       "yourself when that is acceptable (kill -USR1 %d)",
		       target_restart_policy_name(x->vcfg.target_restart_policy),
		       (int)x->supervisor_pid);
		return;
	}
	json_int_t old = target_pid(x);
	char how[128];
	if (x->supervisor_pid > 0) {
		if (kill(x->supervisor_pid, SIGUSR1) < 0) {
			record(x, done, "restart-target", check, 0, false, "SIGUSR1 to the "
			       "supervisor (pid %d) failed: %s", (int)x->supervisor_pid,
			       strerror(errno));
			return;
		}
		snprintf(how, sizeof(how), "the supervisor (SIGUSR1 to pid %d)",
			 (int)x->supervisor_pid);
	} else if (systemd_running() && systemctl(is_active, SYSTEMCTL_QUICK_MS, NULL, 0) == 0) {
		/* systemd's restart runs ExecStopPost= (berth target-stopped): the engines
		 * follow, as under the supervisor. */
		int rc = systemctl(restart, TARGET_BACK_TIMEOUT_MS, NULL, 0);
		if (rc != 0) {
			record(x, done, "restart-target", check, 0, false, "systemctl restart %s "
			       "failed (%s %d)", BLOCKD_UNIT, rc < 0 ? "no answer or" : "exit status",
			       rc);
			return;
		}
		snprintf(how, sizeof(how), "systemd (systemctl restart %s)", BLOCKD_UNIT);
	} else {
		record(x, done, "restart-target", check, 0, false, "not done: neither berth up's "
		       "supervisor nor systemd's %s runs the target here; restart blockd the way "
		       "it was started", BLOCKD_UNIT);
		return;
	}
	/* Back when a blockd other than the old one answers (the engines follow it). */
	int64_t deadline = deadline_after_ms(TARGET_BACK_TIMEOUT_MS);
	json_int_t now_pid = 0;
	while (deadline_remaining_ms(deadline) > 0) {
		now_pid = target_pid(x);
		if (now_pid && now_pid != old)
			break;
		struct timespec ts = { 0, 100 * 1000000L };     /* polling interval */
		nanosleep(&ts, NULL);
	}
	bool back = now_pid && now_pid != old;
	record(x, done, "restart-target", check, 0, back, "restarted the target through %s: "
	       "blockd pid %lld -> %s%lld", how, (long long)old, back ? "" : "not back yet: ",
	       (long long)now_pid);
}

static bool still_stopping(struct doctor_ctx *x, unsigned vm, int pid)
{
	char path[BERTH_PATH_LEN];
	paths_vm_state(path, sizeof(path), x->cli->root, vm);
	json_t *st = doctor_read_json(path);
	const char *s = json_str_at(st, "state");
	bool ok = st && (!strcmp(s, "STOPPING") || !strcmp(s, "TERMINATING") ||
			 !strcmp(s, "RESTARTING")) && json_int_at(st, "pid") == pid;
	json_decref(st);
	return ok;
}

static void escalate(struct doctor_ctx *x, json_t *done, const struct doctor_check *c)
{
	unsigned vm = (unsigned)json_int_at(c->evidence, "vm");
	int pid = (int)json_int_at(c->evidence, "qemu_pid");
	bool kill9 = !strcmp(json_str_at(c->evidence, "next_step"), "SIGKILL");
	if (!still_stopping(x, vm, pid) || !doctor_pid_is_vm_qemu(x->cli->root, vm, pid)) {
		record(x, done, "escalate", c->id, vm, false, "refused: vm%u is no longer stopping "
		       "with pid %d, or pid %d is not its QEMU", vm, pid, pid);
		return;
	}
	int rc = kill(pid, kill9 ? SIGKILL : SIGTERM);
	record(x, done, "escalate", c->id, vm, rc == 0, "sent %s to vm%u's QEMU (pid %d, "
	       "-name vm%u, this root's pidfile)%s%s", kill9 ? "SIGKILL" : "SIGTERM", vm, pid,
	       vm, rc == 0 ? "" : ": ", rc == 0 ? "" : strerror(errno));
}

struct resync {
	int64_t vm;
	char state[24], reason[160];
	int pid;
};

static int resync_row(struct store *s, void *arg)
{
	struct resync *r = arg;
	return store_vm_report(s, r->vm, r->state, r->reason, r->pid);
}

static void resync(struct doctor_ctx *x, json_t *done, const struct doctor_check *c)
{
	struct resync r = { .vm = json_int_at(c->evidence, "vm") };
	char path[BERTH_PATH_LEN];
	paths_vm_state(path, sizeof(path), x->cli->root, (unsigned)r.vm);
	json_t *st = doctor_read_json(path);
	if (!st || !json_string_value(json_object_get(st, "state"))) {
		json_decref(st);
		record(x, done, "resync-store", c->id, r.vm, false, "refused: vm%lld has no "
		       "readable vm.state", (long long)r.vm);
		return;
	}
	snprintf(r.state, sizeof(r.state), "%s", json_str_at(st, "state"));
	snprintf(r.reason, sizeof(r.reason), "%s", json_str_at(st, "reason"));
	r.pid = (int)json_int_at(st, "pid");
	json_decref(st);
	int rc = doctor_store_do(x->cli, DOCTOR_STORE_TIMEOUT_MS, resync_row, &r);
	record(x, done, "resync-store", c->id, r.vm, rc == 0, "%s vm%lld's store row to %s "
	       "(from vm.state; it said %s)", rc == 0 ? "set" : "could not set", (long long)r.vm,
	       r.state, json_str_at(c->evidence, "store_state"));
}

static void remove_markers(struct doctor_ctx *x, json_t *done, const struct doctor_check *c)
{
	char mine[2][BERTH_PATH_LEN];
	paths_vmengine_marker(mine[0], sizeof(mine[0]), x->cli->root);
	paths_diskengine_marker(mine[1], sizeof(mine[1]), x->cli->root);
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(c->evidence, "markers"), i, m) {
		const char *path = json_str_at(m, "marker");
		if (strcmp(path, mine[0]) && strcmp(path, mine[1]))
			continue;                 /* only this root's two markers, ever */
		int rc = unlink(path);
		record(x, done, "remove-marker", c->id, 0, rc == 0 || errno == ENOENT,
		       "removed %s (%.0f s old, %s up)", path, (double)json_int_at(m, "age_ms") / 1000,
		       json_str_at(m, "engine"));
	}
}

void doctor_fix(struct doctor_ctx *x, const struct doctor_report *r, json_t *done)
{
	const char *restart_for = NULL;
	for (size_t i = 0; i < r->n; i++) {
		const struct doctor_check *c = &r->checks[i];
		if (c->level < DOCTOR_WARN)
			continue;
		switch (c->fix) {
		case FIX_RESTART_TARGET:
			if (!restart_for)
				restart_for = c->id;
			break;
		case FIX_ESCALATE: escalate(x, done, c); break;
		case FIX_RESYNC_STORE: resync(x, done, c); break;
		case FIX_REMOVE_MARKERS: remove_markers(x, done, c); break;
		case FIX_NONE:
			break;
		}
	}
	if (restart_for)            /* once, whatever number of checks asked for it */
		restart_target(x, done, restart_for);
}

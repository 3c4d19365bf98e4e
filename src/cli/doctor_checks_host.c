/* doctor_checks_host.c — `berth doctor`'s checks of the host side: each daemon alive (its
 * last death, a core file), the store answering, a VM stopping beyond its escalation bound
 * (bug class 2), the store and vm.state disagreeing, TARGET_RESTART markers left behind and
 * a systemd unit without its ExecStopPost (bug class 3), and live migration (not built). */
#include "doctor.h"
#include "json_util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "clock.h"
#include "daemon_lock.h"
#include "escalation.h"
#include "vm_state.h"

static const char *const g_daemons[] = { "blockd", "diskengine", "vmengine" };

static const json_t *supervised(const struct doctor_ctx *x, const char *name)
{
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(x->supervisor, "daemons"), i, d)
		if (!strcmp(json_str_at(d, "name"), name))
			return d;
	return NULL;
}

/* The newest core file of daemon name no older than since_ms: in the directory it ran in
 * (the supervisor's cwd), the root, or systemd-coredump's store. */
static void find_core(const struct doctor_ctx *x, const char *name, int64_t since_ms,
		      char *out, size_t len)
{
	char dirs[3][BERTH_PATH_LEN];
	snprintf(dirs[0], sizeof(dirs[0]), "/proc/%d/cwd", (int)x->supervisor_pid);
	snprintf(dirs[1], sizeof(dirs[1]), "%s", x->cli->root);
	snprintf(dirs[2], sizeof(dirs[2]), "/var/lib/systemd/coredump");
	int64_t best = 0;
	out[0] = '\0';
	for (int i = x->supervisor_pid > 0 ? 0 : 1; i < 3; i++) {
		DIR *d = opendir(dirs[i]);
		if (!d)
			continue;
		struct dirent *e;
		char want[64];
		snprintf(want, sizeof(want), i == 2 ? "core.%s." : "core", name);
		while ((e = readdir(d))) {
			if (strncmp(e->d_name, want, strlen(want)) != 0)
				continue;
			char path[BERTH_PATH_LEN * 2];
			snprintf(path, sizeof(path), "%s/%s", dirs[i], e->d_name);
			int64_t m = doctor_mtime_ms(path);
			if (m >= since_ms - 60000 && m > best) {
				best = m;
				snprintf(out, len, "%s", path);
			}
		}
		closedir(d);
	}
}

void doctor_check_daemons(struct doctor_ctx *x, struct doctor_report *r)
{
	int64_t now = wall_ms();
	for (size_t i = 0; i < 3; i++) {
		const char *name = g_daemons[i];
		const json_t *d = supervised(x, name);
		const json_t *last = d ? json_object_get(d, "last_exit") : NULL;
		int pid = d ? (int)json_int_at(d, "pid") : 0;
		bool alive = daemon_lock_held(x->cli->root, name);
		char id[40], core[BERTH_PATH_LEN * 2] = "";
		snprintf(id, sizeof(id), "daemon-%s", name);
		json_t *ev = json_pack("{s:i, s:b}", "pid", pid, "lock_held", alive);
		if (d)
			json_object_set_new(ev, "restarts", json_integer(json_int_at(d, "restarts")));
		if (last) {
			json_object_set(ev, "last_exit", (json_t *)last);
			find_core(x, name, json_int_at(last, "at_ms"), core, sizeof(core));
			if (core[0])
				json_object_set_new(ev, "core", json_string(core));
		}
		bool crashed = last && (json_int_at(last, "signal") != 0 || json_int_at(last, "status") != 0) &&
			       now - json_int_at(last, "at_ms") < DOCTOR_CRASH_RECENT_MS;
		char log[BERTH_PATH_LEN];
		paths_daemon_log(log, sizeof(log), x->cli->root, name);
		if (!alive) {
			char rec[320];
			snprintf(rec, sizeof(rec), x->supervisor_pid > 0 ?
				 "the supervisor restarts it; if it keeps dying see %s" :
				 "berth up (or systemctl start berth-%s under systemd)",
				 x->supervisor_pid > 0 ? log : name);
			doctor_add(r, id, DOCTOR_FAIL, 0, ev, rec, "%s is not running%s", name,
				   last ? " (see last_exit)" : "");
		} else if (pid > 0 && (doctor_pid_state(pid) == 'T' || doctor_pid_state(pid) == 't')) {
			char rec[96];
			snprintf(rec, sizeof(rec), "kill -CONT %d (or detach the debugger)", pid);
			json_object_set_new(ev, "proc_state", json_string("stopped"));
			doctor_add(r, id, DOCTOR_WARN, 0, ev, rec, "%s (pid %d) is stopped (SIGSTOP or a "
				   "debugger): nothing it owns makes progress", name, pid);
		} else if (crashed) {
			char rec[BERTH_PATH_LEN + 96];
			snprintf(rec, sizeof(rec), "read %s; attach berth doctor --bundle FILE to a "
				 "bug report", log);
			doctor_add(r, id, DOCTOR_WARN, 0, ev, rec, "%s runs (pid %d) but died %s "
				   "%.0f s ago%s%s", name, pid, json_int_at(last, "signal") ? "of a signal"
				   : "with an error status", (double)(now - json_int_at(last, "at_ms")) / 1000,
				   core[0] ? "; core file: " : "", core);
		} else {
			doctor_add(r, id, DOCTOR_PASS, 0, ev, NULL, "%s runs (pid %d)", name, pid);
		}
	}
}

void doctor_check_store(struct doctor_ctx *x, struct doctor_report *r)
{
	if (x->store) {
		doctor_add(r, "store", DOCTOR_PASS, 0, NULL, NULL, "the store answers (%zu VMs, "
			   "%zu volumes of this host)", json_array_size(json_object_get(x->store, "vms")),
			   json_array_size(json_object_get(x->store, "volumes")));
		return;
	}
	doctor_add(r, "store", DOCTOR_FAIL, 0,
		   json_pack("{s:s, s:s, s:i}", "store", x->cli->conf.store, "error", x->store_error,
			     "timeout_ms", DOCTOR_STORE_TIMEOUT_MS),
		   "look for the process holding the store (fuser on the file), a full disk, or the "
		   "database server; the engines retry on their own",
		   "the store does not answer: %s", x->store_error);
}

/* ---------------------------------------------------------------- VMs */

/* vm.state of VM id, or NULL. */
static json_t *vm_state(const struct doctor_ctx *x, unsigned id)
{
	char path[BERTH_PATH_LEN];
	paths_vm_state(path, sizeof(path), x->cli->root, id);
	return doctor_read_json(path);
}

/* The ids of the VMs vmengine keeps a directory for (--vm: that one only). n <= max. */
static size_t local_vms(const struct doctor_ctx *x, unsigned *ids, size_t max)
{
	char dir[BERTH_PATH_LEN];
	paths_vmengine_vms(dir, sizeof(dir), x->cli->root);
	DIR *d = opendir(dir);
	size_t n = 0;
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < max) {
		char *end;
		unsigned long id = strtoul(e->d_name, &end, 10);
		if (*end || !e->d_name[0] || id == 0)
			continue;
		if (x->vm_filter && (int64_t)id != x->vm_filter)
			continue;
		ids[n++] = (unsigned)id;
	}
	closedir(d);
	return n;
}

void doctor_check_vm_stops(struct doctor_ctx *x, struct doctor_report *r)
{
	unsigned ids[256];
	size_t n = local_vms(x, ids, 256);
	int64_t now = wall_ms();
	size_t stopping = 0, failed = 0;
	for (size_t i = 0; i < n; i++) {
		char path[BERTH_PATH_LEN], err[160];
		struct vm_state st;
		paths_vm_state(path, sizeof(path), x->cli->root, ids[i]);
		if (vm_state_load(path, &st, err, sizeof(err)) < 0 ||
		    (st.state != VM_STOPPING && st.state != VM_TERMINATING &&
		     st.state != VM_RESTARTING))
			continue;
		stopping++;
		int64_t since = st.state == VM_TERMINATING && st.terminating_since_ms
					? st.terminating_since_ms
				: st.state == VM_STOPPING && st.stopping_since_ms ? st.stopping_since_ms
				: st.since_ms;
		/* The escalation's own schedule (escalation.h): its last step, then some slack. */
		int64_t bound = escalation_step_due(&x->vcfg, st.state, since, ESC_KILL) - since +
				DOCTOR_STOP_SLACK_MS;
		if (now - since <= bound)
			continue;
		failed++;
		bool alive = doctor_pid_is_vm_qemu(x->cli->root, ids[i], st.pid);
		char status[32] = "", monitor[96];
		int qrc = alive ? doctor_qmp_status(x->cli->root, ids[i], DOCTOR_QMP_TIMEOUT_MS,
						    status, sizeof(status)) : -ESRCH;
		if (!alive)
			snprintf(monitor, sizeof(monitor), "no QEMU");
		else if (qrc == 0)
			snprintf(monitor, sizeof(monitor), "answers (%s)", status);
		else if (qrc == -ETIMEDOUT)
			snprintf(monitor, sizeof(monitor), "no answer within %d ms",
				 DOCTOR_QMP_TIMEOUT_MS);
		else
			snprintf(monitor, sizeof(monitor), "%s", strerror(-qrc));
		const char *next = st.escalation >= ESC_TERM ? "SIGKILL" : "SIGTERM";
		json_t *ev = json_pack("{s:i, s:s, s:I, s:I, s:s, s:i, s:b, s:s, s:s}", "vm",
				       (int)ids[i], "state", vm_state_name(st.state),
				       "for_ms", (json_int_t)(now - since), "bound_ms", (json_int_t)bound,
				       "escalation", vm_escalation_name(st.escalation),
				       "qemu_pid", st.pid, "qemu_alive", alive, "monitor", monitor,
				       "next_step", alive ? next : "none");
		char rec[200];
		if (alive)
			snprintf(rec, sizeof(rec), "berth doctor --fix (sends %s to pid %d, whose "
				 "command line names vm%u); is vmengine running?", next, st.pid, ids[i]);
		else
			snprintf(rec, sizeof(rec), "its QEMU is gone: vmengine finishes the stop at "
				 "its next tick; is vmengine running?");
		struct doctor_check *c = doctor_add(r, "vm-stop-overdue", DOCTOR_FAIL, 2, ev, rec,
			"vm%u has been %s for %.0f s, past its escalation bound of %.0f s; QEMU %s, "
			"monitor %s", ids[i], vm_state_name(st.state), (double)(now - since) / 1000,
			(double)bound / 1000, alive ? "alive" : "gone", monitor);
		if (alive)
			c->fix = FIX_ESCALATE;
	}
	if (!failed)
		doctor_add(r, "vm-stop-overdue", DOCTOR_PASS, 0, NULL, NULL,
			   "%zu VM(s) stopping, none past its escalation bound", stopping);
}

void doctor_check_store_vmstate(struct doctor_ctx *x, struct doctor_report *r)
{
	if (!x->store) {
		doctor_add(r, "store-vmstate", DOCTOR_SKIP, 0, NULL, NULL,
			   "not checked: the store does not answer");
		return;
	}
	int64_t now = wall_ms();
	size_t i, compared = 0, bad = 0;
	json_t *vm;
	json_array_foreach(json_object_get(x->store, "vms"), i, vm) {
		unsigned id = (unsigned)json_int_at(vm, "id");
		if (x->vm_filter && id != x->vm_filter)
			continue;
		json_t *st = vm_state(x, id);
		if (!st) {
			continue;       /* CREATING, or gone with its VM */
		}
		compared++;
		const char *local = json_str_at(st, "state"), *stored = json_str_at(vm, "state");
		bool settled = now - json_int_at(st, "since") > DOCTOR_SETTLE_MS &&
			       now - json_int_at(vm, "updated_ms") > DOCTOR_SETTLE_MS;
		if (strcmp(local, stored) != 0 && settled) {
			bad++;
			json_t *ev = json_pack("{s:i, s:s, s:s, s:s, s:I, s:I, s:i}", "vm", (int)id,
				"name", json_str_at(vm, "name"), "store_state", stored, "local_state", local,
				"store_updated_ms", json_int_at(vm, "updated_ms"),
				"local_since_ms", json_int_at(st, "since"), "pid", (int)json_int_at(st, "pid"));
			struct doctor_check *c = doctor_add(r, "store-vmstate", DOCTOR_FAIL, 0, ev,
				"berth doctor --fix (writes vm.state's state into the store: vm.state "
				"is the source of truth); is vmengine reporting?",
				"vm%u (%s): the store says %s, vm.state says %s", id, json_str_at(vm, "name"),
				stored, local);
			c->fix = FIX_RESYNC_STORE;
		}
		json_decref(st);
	}
	if (!bad)
		doctor_add(r, "store-vmstate", DOCTOR_PASS, 0, NULL, NULL,
			   "the store and vm.state agree on %zu VM(s)", compared);
}

/* ---------------------------------------------------------------- markers and units */

static void unit_check(struct doctor_report *r)
{
	static const char *const dirs[] = { "/etc/systemd/system", "/usr/local/lib/systemd/system",
					    "/usr/lib/systemd/system", "/lib/systemd/system" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char path[256], *text = NULL;
		snprintf(path, sizeof(path), "%s/berth-blockd.service", dirs[i]);
		if (read_file_all(path, 1 << 20, &text, NULL) < 0)
			continue;
		bool ok = false;
		for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
			if (!strncmp(line, "ExecStopPost=", 13) && strstr(line, "target-stopped"))
				ok = true;
		free(text);
		if (!ok)
			doctor_add(r, "systemd-unit", DOCTOR_FAIL, 3,
				   json_pack("{s:s}", "unit", path),
				   "reinstall the units (make install) or add "
				   "ExecStopPost=/usr/local/bin/berth --root ROOT target-stopped",
				   "%s has no ExecStopPost running `berth target-stopped`: a target "
				   "crash would leave the VMs' disks hung", path);
		else
			doctor_add(r, "systemd-unit", DOCTOR_PASS, 0, json_pack("{s:s}", "unit", path),
				   NULL, "%s runs `berth target-stopped` after every exit", path);
		return;
	}
}

void doctor_check_markers(struct doctor_ctx *x, struct doctor_report *r)
{
	static const char *const engines[] = { "vmengine", "diskengine" };
	int64_t now = wall_ms();
	json_t *stale = json_array();
	size_t pending = 0;
	for (int i = 0; i < 2; i++) {
		char path[BERTH_PATH_LEN];
		if (i == 0)
			paths_vmengine_marker(path, sizeof(path), x->cli->root);
		else
			paths_diskengine_marker(path, sizeof(path), x->cli->root);
		int64_t m = doctor_mtime_ms(path);
		if (!m)
			continue;
		const json_t *d = supervised(x, engines[i]);
		bool up = daemon_lock_held(x->cli->root, engines[i]);
		/* Left behind: the engine is up, started after the marker was written (so it
		 * should have taken it), and the marker is not new. */
		bool started_after = d ? json_int_at(d, "since_ms") > m + 2000 : true;
		if (up && started_after && now - m > DOCTOR_SETTLE_MS)
			json_array_append_new(stale, json_pack("{s:s, s:s, s:I}", "marker", path,
				"engine", engines[i], "age_ms", (json_int_t)(now - m)));
		else
			pending++;
	}
	if (json_array_size(stale)) {
		json_t *first = json_array_get(stale, 0);
		struct doctor_check *c = doctor_add(r, "target-restart-markers", DOCTOR_FAIL, 3,
			json_pack("{s:o}", "markers", stale),
			"berth doctor --fix (removes them; each engine already reconciled at its "
			"start)", "%zu TARGET_RESTART marker(s) left behind with the engines up "
			"(%s, %.0f s old): the next engine start would act on an old target restart",
			json_array_size(stale), json_str_at(first, "marker"),
			(double)json_int_at(first, "age_ms") / 1000);
		c->fix = FIX_REMOVE_MARKERS;
	} else {
		json_decref(stale);
		doctor_add(r, "target-restart-markers", DOCTOR_PASS, 0, NULL, NULL,
			   pending ? "%zu marker(s) pending: taken at the engines' next start"
				   : "no TARGET_RESTART marker left behind%.0zu", pending);
	}
	unit_check(r);
}

void doctor_check_migration(struct doctor_ctx *x, struct doctor_report *r)
{
	doctor_add(r, "migration", DOCTOR_INFO, 4, NULL, NULL,
		   "not applicable: no live migration yet (bug class 4's watchdog comes with it)");
}

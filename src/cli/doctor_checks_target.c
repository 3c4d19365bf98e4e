/* doctor_checks_target.c — `berth doctor`'s checks of the storage target, through its RPC
 * socket only (each call on a fresh connection with its own deadline) and diskengine's
 * status files: the socket answers; two samples of the reactors, pollers and bdev stats
 * DOCTOR_SAMPLE_INTERVAL_MS apart (judged by doctor_classify.c); the requests in flight
 * (blockd_get_requests); an export or volume stuck on removal (bug class 1); a running VM
 * whose vhost-user connection is down (bug class 3). Never bdev_get_bdevs (bug class 5's
 * rule): introspection goes through bdev_raid_get_bdevs, vhost_get_controllers and
 * blockd_get_requests. */
#include "doctor.h"
#include "json_util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "deadline_io.h"

#define RESTART_TARGET "berth doctor --fix (restarts the target through the supervisor; " \
	"VMs reconnect)"

static json_t *call(struct doctor_ctx *x, const char *method, json_t *params)
{
	json_t *res = NULL;
	char err[256];
	if (doctor_rpc(x, method, params, DOCTOR_RPC_TIMEOUT_MS, &res, err, sizeof(err)) < 0)
		return NULL;
	return res;
}

struct sample {
	json_t *reactors, *pollers, *iostat;
};

static void take_sample(struct doctor_ctx *x, struct sample *s)
{
	s->reactors = call(x, "framework_get_reactors", NULL);
	s->pollers = call(x, "thread_get_pollers", NULL);
	s->iostat = call(x, "bdev_get_iostat", NULL);
}

static void free_sample(struct sample *s)
{
	json_decref(s->reactors);
	json_decref(s->pollers);
	json_decref(s->iostat);
}

static void skip(struct doctor_report *r, const char *id)
{
	doctor_add(r, id, DOCTOR_SKIP, 0, NULL, NULL, "not checked: blockd does not answer");
}

/* The requests in flight: rpc-hung, with the client's command name. */
static void check_requests(struct doctor_ctx *x, struct doctor_report *r, json_t *requests)
{
	if (!requests) {
		doctor_add(r, "rpc-hung", DOCTOR_SKIP, 0, NULL, NULL,
			   "not checked: blockd_get_requests did not answer");
		return;
	}
	doctor_classify_requests(r, requests);
	struct doctor_check *c = &r->checks[r->n - 1];
	if (c->level == DOCTOR_FAIL) {
		char comm[64];
		doctor_pid_comm((int)json_int_at(c->evidence, "client_pid"), comm, sizeof(comm));
		json_object_set_new(c->evidence, "client", json_string(comm));
		c->fix = FIX_RESTART_TARGET;
	}
}

void doctor_check_target(struct doctor_ctx *x, struct doctor_report *r)
{
	json_t *res = NULL;
	char err[256];
	int64_t t0 = monotonic_ms();
	int rc = doctor_rpc(x, "spdk_get_version", NULL, DOCTOR_RPC_TIMEOUT_MS, &res, err,
			    sizeof(err));
	int64_t took = monotonic_ms() - t0;
	x->target_answers = rc == 0;
	if (rc < 0) {
		struct doctor_check *c = doctor_add(r, "blockd-rpc", DOCTOR_FAIL, 0,
			json_pack("{s:s, s:s, s:I, s:i}", "socket", x->target.rpc_socket, "error", err,
				  "elapsed_ms", (json_int_t)took, "timeout_ms", DOCTOR_RPC_TIMEOUT_MS),
			rc == -ETIMEDOUT ? RESTART_TARGET
					 : "is blockd running (daemon-blockd)? its log: run/blockd.log",
			"blockd's RPC socket does not answer spdk_get_version: %s", err);
		if (rc == -ETIMEDOUT)
			c->fix = FIX_RESTART_TARGET;
		json_decref(res);
		skip(r, "reactor-busy");
		skip(r, "poller-pinned");
		skip(r, "rpc-hung");
		skip(r, "bdev-saturated");
		return;
	}
	doctor_add(r, "blockd-rpc", DOCTOR_PASS, 0,
		   json_pack("{s:s, s:I}", "version", json_str_at(res, "version"), "elapsed_ms",
			     (json_int_t)took), NULL,
		   "blockd answers spdk_get_version in %lld ms (%s)", (long long)took,
		   json_str_at(res, "version"));
	json_decref(res);

	struct sample a, b;
	take_sample(x, &a);
	struct timespec ts = { 0, DOCTOR_SAMPLE_INTERVAL_MS * 1000000L };   /* the sample's span */
	nanosleep(&ts, NULL);
	take_sample(x, &b);
	doctor_classify_reactors(r, a.reactors, b.reactors);
	doctor_classify_pollers(r, a.pollers, b.pollers, a.reactors, b.reactors);
	json_t *requests = call(x, "blockd_get_requests", NULL);
	check_requests(x, r, requests);
	doctor_classify_iostat(r, a.iostat, b.iostat, a.reactors, b.reactors);
	x->controllers = call(x, "vhost_get_controllers", NULL);
	json_decref(requests);
	free_sample(&a);
	free_sample(&b);
}

/* ---------------------------------------------------------------- exports */

static const json_t *controller(const struct doctor_ctx *x, unsigned vm)
{
	char name[32];
	snprintf(name, sizeof(name), "vm%u", vm);
	size_t i;
	json_t *c;
	json_array_foreach(x->controllers, i, c)
		if (!strcmp(json_str_at(c, "ctrlr"), name))
			return c;
	return NULL;
}

/* diskengine's failing or wedged items in loop (attach, detach): export-stuck. */
static size_t check_loop(struct doctor_ctx *x, struct doctor_report *r, const char *loop)
{
	char path[BERTH_PATH_LEN];
	paths_diskengine_status(path, sizeof(path), x->cli->root, loop);
	json_t *st = doctor_read_json(path);
	int64_t now = wall_ms();
	size_t i, bad = 0;
	json_t *it;
	json_array_foreach(json_object_get(st, "items"), i, it) {
		bool wedged = json_is_true(json_object_get(it, "wedged"));
		int64_t since = json_int_at(it, "failing_since_ms");
		if (!wedged && (!since || now - since < 60000))
			continue;
		unsigned vol = (unsigned)json_int_at(it, "vol");
		/* The volume's VM, from the store (its export is named after the VM). */
		unsigned vm = 0;
		size_t j;
		json_t *v;
		json_array_foreach(json_object_get(x->store, "volumes"), j, v)
			if (json_int_at(v, "id") == vol)
				vm = (unsigned)json_int_at(v, "vm_id");
		if (x->vm_filter && vm != x->vm_filter)
			continue;
		bad++;
		const json_t *c = vm ? controller(x, vm) : NULL;
		json_t *ev = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s, s:b, s:b, s:I}", "loop", loop,
			"item", json_str_at(it, "item"), "vol", (int)vol, "vm", (int)vm, "rpc", json_str_at(it, "rpc"),
			"error", json_str_at(it, "error"), "wedged", wedged,
			"in_flight", json_is_true(json_object_get(it, "in_flight")),
			"failing_for_ms", (json_int_t)(since ? now - since : 0));
		if (x->controllers)
			json_object_set_new(ev, "target_view", c ? json_pack("{s:s, s:i}", "ctrlr",
				json_str_at(c, "ctrlr"), "sessions",
				(int)json_array_size(json_object_get(c, "sessions"))) :
				json_string("no controller"));
		if (!strcmp(json_str_at(it, "rpc"), "gate")) {
			/* The line operators grep diskengine's log for: shown as it stands. */
			char needle[64], line[512], log[BERTH_PATH_LEN];
			snprintf(needle, sizeof(needle), "vol %u gate failed", vol);
			paths_daemon_log(log, sizeof(log), x->cli->root, "diskengine");
			if (doctor_log_last_line(log, needle, line, sizeof(line)) == 0)
				json_object_set_new(ev, "log_line", json_string(line));
		}
		bool removing = !strcmp(loop, "detach");
		if (!strcmp(json_str_at(it, "item"), "target")) {
			/* The loop's listing of the target itself fails: every item waits. */
			doctor_add(r, "export-stuck", DOCTOR_FAIL, 1, ev, RESTART_TARGET,
				   "diskengine's %s loop cannot list the target: %s %s for %.0f s (%s)",
				   loop, json_str_at(it, "rpc"), wedged ? "wedged" : "failing",
				   (double)(since ? now - since : 0) / 1000, json_str_at(it, "error"))->fix =
				FIX_RESTART_TARGET;
			continue;
		}
		struct doctor_check *chk = doctor_add(r, "export-stuck", DOCTOR_FAIL, 1, ev,
			RESTART_TARGET " — the target holds the call; if it answers -16 the VM's "
			"QEMU still uses the export (see vm-stop-overdue)",
			"vol%u (vm%u) stuck on %s: %s %s for %.0f s (%s)", vol, vm,
			removing ? "removal" : "creation", json_str_at(it, "rpc")[0] ? json_str_at(it, "rpc") :
			"its call", wedged ? "wedged" : "failing", (double)(since ? now - since : 0) /
			1000, json_str_at(it, "error")[0] ? json_str_at(it, "error") : "no answer yet");
		chk->fix = FIX_RESTART_TARGET;
	}
	json_decref(st);
	return bad;
}

/* A running VM whose disk's vhost-user connection is down: vhost-disconnected. */
static void check_sessions(struct doctor_ctx *x, struct doctor_report *r)
{
	if (!x->controllers) {
		doctor_add(r, "vhost-disconnected", DOCTOR_SKIP, 0, NULL, NULL,
			   "not checked: vhost_get_controllers did not answer");
		return;
	}
	int64_t now = wall_ms();
	size_t i, running = 0, bad = 0;
	json_t *vm;
	json_array_foreach(json_object_get(x->store, "vms"), i, vm) {
		unsigned id = (unsigned)json_int_at(vm, "id");
		if (x->vm_filter && id != x->vm_filter)
			continue;
		char path[BERTH_PATH_LEN];
		paths_vm_state(path, sizeof(path), x->cli->root, id);
		json_t *st = doctor_read_json(path);
		int pid = (int)json_int_at(st, "pid");
		bool live = st && !strcmp(json_str_at(st, "state"), "RUNNING") &&
			    now - json_int_at(st, "since") > 5000 &&
			    doctor_pid_is_vm_qemu(x->cli->root, id, pid);
		json_decref(st);
		if (!live)
			continue;
		running++;
		const json_t *c = controller(x, id);
		size_t sessions = c ? json_array_size(json_object_get(c, "sessions")) : 0;
		if (sessions)
			continue;
		bad++;
		json_t *ev = json_pack("{s:i, s:s, s:b, s:i, s:i}", "vm", (int)id, "name",
				       json_str_at(vm, "name"), "controller", c != NULL, "sessions", 0,
				       "qemu_pid", pid);
		char rec[200];
		snprintf(rec, sizeof(rec), "wait a few seconds after a target restart (QEMU "
			 "reconnects); if it stays down: berth vm restart %u (reboots the guest)", id);
		doctor_add(r, "vhost-disconnected", DOCTOR_FAIL, 3, ev, rec,
			   "vm%u runs (QEMU pid %d) but its disk is not connected to the target (%s)",
			   id, pid, c ? "controller without a session" : "no controller vm");
	}
	if (!bad)
		doctor_add(r, "vhost-disconnected", DOCTOR_PASS, 0, NULL, NULL,
			   "every running VM (%zu) has its disk connected", running);
}

void doctor_check_exports(struct doctor_ctx *x, struct doctor_report *r)
{
	size_t bad = check_loop(x, r, "detach") + check_loop(x, r, "attach");
	if (!bad)
		doctor_add(r, "export-stuck", DOCTOR_PASS, 0, NULL, NULL,
			   "no export or volume stuck in diskengine's loops");
	if (!x->target_answers)
		doctor_add(r, "vhost-disconnected", DOCTOR_SKIP, 0, NULL, NULL,
			   "not checked: blockd does not answer");
	else if (!x->store)
		doctor_add(r, "vhost-disconnected", DOCTOR_SKIP, 0, NULL, NULL,
			   "not checked: the store does not answer");
	else
		check_sessions(x, r);
}

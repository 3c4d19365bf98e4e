/* main.c — vmengine: the per-host QEMU supervisor. Reads the desired state of the host's VMs
 * (desired_source.h), runs one worker per VM (vm_worker.h), re-adopts every VM it finds under
 * <root>/vmengine/vms at start, applies the target-restart policy when blockd restarted
 * (the TARGET_RESTART marker), and writes <root>/vmengine/status.json each tick. Stopping
 * vmengine never stops a VM. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>

#include "atomic_file.h"
#include "berth_conf.h"
#include "berth_version.h"
#include "config.h"
#include "daemon_args.h"
#include "deadline_io.h"
#include "desired_source.h"
#include "log.h"
#include "paths.h"
#include "vm_worker.h"

#define MAX_VMS 4096

struct engine {
	struct vmengine_config cfg;
	struct desired_source *desired;
	struct vm_worker *workers[MAX_VMS];
	size_t n_workers;
	char status_path[BERTH_PATH_LEN];
};

static const char g_usage[] =
	"usage: vmengine --root DIR [--config FILE] [--log-level LEVEL]\n"
	"Berth's QEMU supervisor: launches, re-adopts, stops and terminates the host's VMs.\n"
	"  --root DIR          host root (default $BERTH_ROOT or /var/lib/berth)\n"
	"  --config FILE       configuration (default <root>/berth.conf, section [vmengine])\n"
	"  --log-level LEVEL   debug, info, warn, error (default info)\n"
	"Desired state: the store ([berth] store, default <root>/store.db), or\n"
	"<root>/vmengine/desired/*.json with desired_source = dir; local state:\n"
	"<root>/vmengine/vms/<id>/vm.state; status: <root>/vmengine/status.json.\n"
	"SIGTERM/SIGINT stop vmengine and leave every VM running.\n";

static struct vm_worker *find_worker(struct engine *e, unsigned id)
{
	for (size_t i = 0; i < e->n_workers; i++)
		if (vm_worker_id(e->workers[i]) == id)
			return e->workers[i];
	return NULL;
}

/* Every write of a vm.state goes to the desired source (the store follows vm.state). */
static void report_to_source(void *ctx, const struct vm_state *st, bool notable)
{
	struct desired_source *src = ctx;
	if (src->report)
		src->report(src, st, notable);
}

static struct vm_worker *add_worker(struct engine *e, unsigned id)
{
	if (e->n_workers == MAX_VMS)
		return NULL;
	struct vm_worker *w = vm_worker_start(&e->cfg, id, report_to_source, e->desired);
	if (w)
		e->workers[e->n_workers++] = w;
	else
		log_error("vmengine", "vm=%u msg=\"cannot start its worker\"", id);
	return w;
}

static bool parse_vm_id(const char *name, unsigned *id)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(name, &end, 10);
	if (errno || end == name || *end || v == 0 || v > VM_ID_MAX || name[0] == '0')
		return false;
	*id = (unsigned)v;
	return true;
}

/* Marks an active VM for relaunch in its vm.state, so the request survives a crash of
 * vmengine after the marker is gone. */
static void mark_for_restart(struct engine *e, unsigned id)
{
	char path[BERTH_PATH_LEN], err[256];
	struct vm_state st;
	paths_vm_state(path, sizeof(path), e->cfg.root, id);
	if (vm_state_load(path, &st, err, sizeof(err)) < 0 || !vm_state_active(st.state) ||
	    st.state == VM_TERMINATING)
		return;
	st.restart_pending = true;
	if (vm_state_save(path, &st) == 0)
		log_info("vmengine", "vm=%u msg=\"relaunch requested by target restart\"", id);
}

/* A finished VM: its vm.state (kept as the record) says TERMINATED. */
static bool vm_terminated(struct engine *e, unsigned id)
{
	char path[BERTH_PATH_LEN], err[256];
	struct vm_state st;
	paths_vm_state(path, sizeof(path), e->cfg.root, id);
	return vm_state_load(path, &st, err, sizeof(err)) == 0 && st.id == id &&
	       st.state == VM_TERMINATED;
}

/* Every VM with a local directory gets its worker, which re-adopts it; a TERMINATED one only
 * if the desired state names it again (sync_desired). */
static void adopt_local_vms(struct engine *e, bool restart_vms)
{
	char dir[BERTH_PATH_LEN];
	paths_vmengine_vms(dir, sizeof(dir), e->cfg.root);
	DIR *dh = opendir(dir);
	if (!dh)
		return;
	struct dirent *de;
	while ((de = readdir(dh))) {
		unsigned id;
		if (!parse_vm_id(de->d_name, &id) || find_worker(e, id) || vm_terminated(e, id))
			continue;
		if (restart_vms)
			mark_for_restart(e, id);
		add_worker(e, id);
	}
	closedir(dh);
}

/* Target restart (DESIGN.md §3): under restart-vms every active QEMU is stopped and
 * relaunched; under reconnect the VMs ride through (their disks reconnect). */
static bool take_target_restart_marker(struct engine *e)
{
	char marker[BERTH_PATH_LEN];
	paths_vmengine_marker(marker, sizeof(marker), e->cfg.root);
	if (access(marker, F_OK) != 0)
		return false;
	bool restart = e->cfg.target_restart_policy == TARGET_RESTART_RESTART_VMS;
	log_warn("vmengine", "msg=\"target restart marker found\" policy=%s",
		 restart ? "restart-vms" : "reconnect");
	return restart;
}

static void remove_target_restart_marker(struct engine *e)
{
	char marker[BERTH_PATH_LEN];
	paths_vmengine_marker(marker, sizeof(marker), e->cfg.root);
	if (unlink(marker) == 0)
		log_info("vmengine", "msg=\"target restart marker removed\"");
}

static void sync_desired(struct engine *e)
{
	struct vm_spec *specs = NULL;
	size_t n = 0;
	if (e->desired->snapshot(e->desired, &specs, &n) < 0)
		return;       /* keep the last known desired state */
	for (size_t i = 0; i < n; i++) {
		struct vm_worker *w = find_worker(e, specs[i].id);
		if (!w)
			w = add_worker(e, specs[i].id);
		if (w)
			vm_worker_set_spec(w, &specs[i]);
	}
	for (size_t i = 0; i < e->n_workers;) {
		unsigned id = vm_worker_id(e->workers[i]);
		bool wanted = false;
		for (size_t j = 0; j < n && !wanted; j++)
			wanted = specs[j].id == id;
		struct vm_worker_status st;
		vm_worker_status(e->workers[i], &st);
		if (!wanted && st.known && st.state == VM_TERMINATED) {
			/* Finished and no longer desired (the store stops listing TERMINATED
			 * VMs): retire its worker; vm.state stays as the record. */
			vm_worker_stop(e->workers[i]);
			e->workers[i] = e->workers[--e->n_workers];
			e->workers[e->n_workers] = NULL;
			log_info("vmengine", "vm=%u msg=\"worker retired\"", id);
			continue;
		}
		if (!wanted)
			vm_worker_set_spec(e->workers[i], NULL);
		i++;
	}
	free(specs);
}

static void write_status(struct engine *e)
{
	json_t *vms = json_array();
	for (size_t i = 0; i < e->n_workers; i++) {
		struct vm_worker_status s;
		vm_worker_status(e->workers[i], &s);
		json_array_append_new(vms, json_pack("{s:I, s:s, s:i, s:s, s:I, s:s}",
			"id", (json_int_t)s.id, "state", vm_state_name(s.state), "pid", s.pid,
			"escalation", vm_escalation_name(s.escalation),
			"last_reconcile_ms", (json_int_t)s.last_reconcile_ms, "reason", s.reason));
	}
	json_t *o = json_pack("{s:I, s:i, s:o}", "updated_ms", (json_int_t)realtime_ms(),
			      "pid", (int)getpid(), "vms", vms);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text)
		atomic_replace_file(e->status_path, text, strlen(text), 0644);
	free(text);
}

int main(int argc, char **argv)
{
	struct daemon_args args;
	if (daemon_parse_args(argc, argv, "vmengine", g_usage, &args) < 0)
		return 2;
	const char *root = args.root, *config = args.config;
	static struct engine e;
	char path[BERTH_PATH_LEN], err[512];
	paths_conf(path, sizeof(path), root);
	if (vmengine_config_load(&e.cfg, root, config ? config : path, err, sizeof(err)) < 0) {
		log_error("vmengine", "msg=\"bad configuration\" error=\"%s\"", err);
		return 2;
	}
	int sfd = daemon_stop_signalfd(true);     /* before any worker thread exists */
	if (sfd < 0) {
		log_error("vmengine", "msg=\"cannot set up signals\" error=\"%s\"", strerror(errno));
		return 1;
	}
	paths_vmengine_dir(path, sizeof(path), root);
	mkdir(root, 0755);
	mkdir(path, 0755);
	paths_vmengine_vms(path, sizeof(path), root);
	mkdir(path, 0700);
	paths_vmengine_status(e.status_path, sizeof(e.status_path), root);
	struct berth_conf bc;
	if (berth_conf_load(&bc, root, err, sizeof(err)) < 0) {
		log_error("vmengine", "msg=\"bad configuration\" error=\"%s\"", err);
		return 2;
	}
	paths_vmengine_desired(path, sizeof(path), root);
	e.desired = e.cfg.desired_from_dir ? desired_dir_open(path)
					   : desired_store_open(bc.store, bc.host, err, sizeof(err));
	if (!e.desired) {
		log_error("vmengine", "msg=\"cannot open the desired state\" error=\"%s\"", err);
		return 1;
	}
	log_info("vmengine", "msg=started version=%s root=%s accel=%s tick_ms=%llu "
		 "powerdown_grace_ms=%llu quit_grace_ms=%llu term_grace_ms=%llu policy=%s",
		 BERTH_VERSION, root, e.cfg.accel, (unsigned long long)e.cfg.tick_ms,
		 (unsigned long long)e.cfg.powerdown_grace_ms,
		 (unsigned long long)e.cfg.quit_grace_ms, (unsigned long long)e.cfg.term_grace_ms,
		 e.cfg.target_restart_policy == TARGET_RESTART_RECONNECT ? "reconnect"
									  : "restart-vms");

	bool restart_vms = take_target_restart_marker(&e);
	adopt_local_vms(&e, restart_vms);     /* restart requests are persisted before... */
	remove_target_restart_marker(&e);     /* ...the marker goes */
	bool stop = false;
	while (!stop) {
		sync_desired(&e);
		write_status(&e);
		struct pollfd pfd[2] = { { .fd = sfd, .events = POLLIN },
					 { .fd = e.desired->change_fd(e.desired), .events = POLLIN } };
		int n = poll(pfd, pfd[1].fd >= 0 ? 2 : 1, (int)e.cfg.tick_ms);
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				log_info("vmengine", "msg=\"stopping; VMs keep running\" signal=%u",
					 si.ssi_signo);
			stop = true;
		}
		if (n > 0 && pfd[1].fd >= 0 && (pfd[1].revents & POLLIN))
			e.desired->changed(e.desired);
	}
	write_status(&e);
	for (size_t i = 0; i < e.n_workers; i++)
		vm_worker_stop(e.workers[i]);
	e.desired->destroy(e.desired);
	close(sfd);
	log_info("vmengine", "msg=stopped");
	return 0;
}

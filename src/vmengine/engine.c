/* engine.c — vmengine's workers, adoption at start and status file (see engine.h). */
#include "engine.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "log.h"
#include "paths.h"
#include "status_file.h"
#include "target_restart.h"
#include "vm_counters.h"
#include "vm_worker.h"

#define MAX_VMS 4096

struct engine {
	const struct vmengine_config *cfg;
	struct desired_vms *desired;
	struct vm_worker *workers[MAX_VMS];
	size_t n_workers;
	char status_path[BERTH_PATH_LEN];
};

struct engine *engine_new(const struct vmengine_config *cfg, struct desired_vms *desired)
{
	struct engine *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->cfg = cfg;
	e->desired = desired;
	paths_vmengine_status(e->status_path, sizeof(e->status_path), cfg->root);
	/* The counters go on from the last status.json (vm_counters.h). */
	json_t *last = json_load_file(e->status_path, 0, NULL);
	vm_counters_restore(json_object_get(last, "counters"));
	json_decref(last);
	return e;
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n_workers; i++)
		vm_worker_stop(e->workers[i]);
	free(e);
}

static struct vm_worker *find_worker(struct engine *e, unsigned id)
{
	for (size_t i = 0; i < e->n_workers; i++)
		if (vm_worker_id(e->workers[i]) == id)
			return e->workers[i];
	return NULL;
}

/* Every write of a vm.state goes to the desired source (the store follows vm.state). */
static void report_to_source(void *ctx, const struct vm_state *st, enum vm_report_kind kind)
{
	struct desired_vms *src = ctx;
	if (src->report)
		src->report(src, st, kind);
}

static struct vm_worker *add_worker(struct engine *e, unsigned id)
{
	if (e->n_workers == MAX_VMS)
		return NULL;
	struct vm_worker *w = vm_worker_start(e->cfg, id, report_to_source, e->desired);
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
	paths_vm_state(path, sizeof(path), e->cfg->root, id);
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
	paths_vm_state(path, sizeof(path), e->cfg->root, id);
	return vm_state_load(path, &st, err, sizeof(err)) == 0 && st.id == id &&
	       st.state == VM_TERMINATED;
}

/* Every VM with a local directory gets its worker, which re-adopts it; a TERMINATED one only
 * if the desired state names it again (sync_desired). */
static void adopt_local_vms(struct engine *e, bool restart_vms)
{
	char dir[BERTH_PATH_LEN];
	paths_vmengine_vms(dir, sizeof(dir), e->cfg->root);
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

void engine_adopt(struct engine *e)
{
	const char *root = e->cfg->root;
	bool marker = target_restart_pending(root, TARGET_RESTART_VMENGINE);
	bool relaunch = marker && e->cfg->target_restart_policy == TARGET_RESTART_RESTART_VMS;
	if (marker)
		log_warn("vmengine", "msg=\"target restart marker found\" policy=%s",
			 target_restart_policy_name(e->cfg->target_restart_policy));
	adopt_local_vms(e, relaunch);     /* relaunch requests are persisted before... */
	if (target_restart_consume(root, TARGET_RESTART_VMENGINE))   /* ...the marker goes */
		log_info("vmengine", "msg=\"target restart marker removed\"");
}

void engine_sync(struct engine *e)
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
		if (!wanted && (st.known ? st.state == VM_TERMINATED : st.state == VM_STOPPED &&
				!st.pid)) {
			/* Finished and no longer desired (the store stops listing TERMINATED
			 * VMs): retire its worker; vm.state stays as the record. Or gone from
			 * this host (migrated away): nothing of it is left here. */
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

void engine_write_status(struct engine *e)
{
	json_t *vms = json_array();
	for (size_t i = 0; i < e->n_workers; i++) {
		struct vm_worker_status s;
		vm_worker_status(e->workers[i], &s);
		json_array_append_new(vms, json_pack("{s:I, s:s, s:i, s:s, s:I, s:s, s:o, s:I}",
			"id", (json_int_t)s.id, "state", vm_state_name(s.state), "pid", s.pid,
			"escalation", vm_escalation_name(s.escalation),
			"last_reconcile_ms", (json_int_t)s.last_reconcile_ms, "reason", s.reason,
			"disk_connected", s.disk == VM_DISK_UNKNOWN ? json_null()
					  : json_boolean(s.disk == VM_DISK_UP),
			"disk_since", (json_int_t)s.disk_since_ms));
		json_object_set_new(json_array_get(vms, json_array_size(vms) - 1), "migration",
			s.mig_role == MIG_ROLE_NONE ? json_null()
			: json_pack("{s:s, s:s, s:I}", "role", vm_mig_role_name(s.mig_role),
				    "phase", vm_mig_phase_name(s.mig_phase),
				    "since", (json_int_t)s.mig_since_ms));
	}
	status_file_write(e->status_path, json_pack("{s:I, s:i, s:o, s:o}", "updated_ms",
			  (json_int_t)wall_ms(), "pid", (int)getpid(), "vms", vms,
			  "counters", vm_counters_json()));
}


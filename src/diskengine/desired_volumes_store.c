/* desired_volumes_store.c — desired volumes from the store (see desired_volumes.h): every
 * host's volumes not recorded deleted (shared storage), each with whose it is (volume_where):
 * this host's, exported while the VM should run or its QEMU may still use it (or migrates);
 * one migrating here, exported here; another host's. A volume whose VM is TERMINATED is
 * retired: this host's is deleted (or, never created, recorded deleted), another host's is
 * that host's to delete. What diskengine observed of this host's volumes (and of an incoming
 * export) is reported back, events recorded. */
#include "desired_volumes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth_conf.h"
#include "cleanup.h"
#include "log.h"
#include "paths.h"
#include "store.h"

struct desired_store {
	struct desired_volumes ops;
	enum volume_layout layout;
	struct store *store;
	char host[STORE_NAME_MAX];
	/* Whose each volume of the last snapshot is: only this host's are reported as the
	 * volume's state; an incoming one's export as the migration's; another host's never. */
	struct { unsigned id; enum volume_where where; } *where;
	size_t n_where;
};

static enum volume_where where_of(const struct desired_store *d, unsigned vol)
{
	for (size_t i = 0; i < d->n_where; i++)
		if (d->where[i].id == vol)
			return d->where[i].where;
	return VOLUME_LOCAL;      /* not in the last snapshot: not wanted, this host's */
}

/* The VM should run, or its QEMU may still be using the export. */
static bool vm_may_use_export(const struct store_vm *vm)
{
	enum vm_state_kind k;
	enum vm_desired want;
	if (vm_desired_parse(vm->desired, &want) == 0 && want == DESIRED_RUNNING)
		return true;
	if (vm_state_parse(vm->state, &k) < 0)
		return false;
	return k == VM_STARTING || k == VM_RUNNING || k == VM_STOPPING || k == VM_RESTARTING ||
	       k == VM_TERMINATING || k == VM_MIGRATING;
}

static enum volume_layout layout_of(const char *name, enum volume_layout fallback)
{
	enum volume_layout l;
	return volume_layout_parse(name, &l) == 0 ? l : fallback;
}

static int store_snapshot(struct desired_volumes *src, struct volume_spec **specs, size_t *n,
			  json_t **errors)
{
	struct desired_store *d = (struct desired_store *)src;
	struct store_vm *vms = NULL;
	struct store_volume *vols = NULL;
	size_t nvms = 0, nvols = 0;
	/* Every host's volumes: on shared storage another host's base files are in the volumes
	 * directory too, and a VM migrating here needs its volume exported here. */
	int rc = store_volume_list(d->store, NULL, false, &vols, &nvols);
	if (rc == 0)
		rc = store_vm_list(d->store, NULL, true, &vms, &nvms);
	if (rc < 0) {
		log_warn("diskengine", "msg=\"store unavailable\" error=\"%s\"",
			 store_error(d->store));
		free(vols);
		return rc;
	}
	*specs = calloc(nvols ? nvols : 1, sizeof(**specs));
	*n = 0;
	*errors = json_array();
	free(d->where);
	d->where = calloc(nvols ? nvols : 1, sizeof(*d->where));
	d->n_where = 0;
	for (size_t i = 0; *specs && d->where && i < nvols; i++) {
		const struct store_vm *vm = NULL;
		for (size_t j = 0; j < nvms && !vm; j++)
			if (vms[j].id == vols[i].vm_id)
				vm = &vms[j];
		/* Its VM is gone: the volume goes too (listed as retired until recorded
		 * deleted, so that one never created is recorded deleted as well) — when it
		 * is this host's; another host's is that host's to delete and record. */
		bool gone = !vm || !strcmp(vm->state, vm_state_name(VM_TERMINATED));
		bool local = !strcmp(vols[i].host, d->host);
		bool incoming = !local && !gone && !strcmp(vm->mig.to, d->host);
		enum volume_where where = local ? VOLUME_LOCAL
					  : incoming ? VOLUME_INCOMING : VOLUME_FOREIGN;
		(*specs)[(*n)++] = (struct volume_spec){
			.id = (unsigned)vols[i].id,
			.size_bytes = vols[i].size_mb * 1024 * 1024,
			.vm = (unsigned)vols[i].vm_id,
			.exported = gone ? false
				  : local ? vm_may_use_export(vm) || vm->mig.to[0] : incoming,
			.retired = gone,
			.layout = layout_of(vols[i].layout, d->layout),
			.where = where,
			.migrating = vm && vm->mig.to[0],
			.incoming_ready = incoming && !strcmp(vols[i].mig_host, d->host) &&
					  !strcmp(vols[i].mig_state, "EXPORTED"),
		};
		d->where[d->n_where].id = (unsigned)vols[i].id;
		d->where[d->n_where++].where = where;
	}
	free(vms);
	free(vols);
	if (!*specs || !d->where) {
		free(*specs);
		*specs = NULL;
		json_decref(*errors);
		return -ENOMEM;
	}
	return 0;
}

static int store_change_fd(struct desired_volumes *src)
{
	(void)src;
	return -1;                       /* polled every tick */
}

static void store_changed(struct desired_volumes *src)
{
	(void)src;
}

static void store_report(struct desired_volumes *src, unsigned vol, enum volume_state state,
			 const char *export_path, const char *error)
{
	struct desired_store *d = (struct desired_store *)src;
	enum volume_where where = where_of(d, vol);
	int rc = 0;
	if (where == VOLUME_INCOMING && (state == VOLUME_EXPORTED || state == VOLUME_ERROR))
		rc = store_volume_report_incoming(d->store, vol, d->host, volume_state_name(state),
						  state == VOLUME_EXPORTED && export_path
						  ? export_path : "");
	else if (where == VOLUME_LOCAL)
		rc = store_volume_report(d->store, vol, volume_state_name(state), export_path,
					 error);
	if (rc < 0)
		log_warn("diskengine", "vol=%u msg=\"cannot report to the store\" error=\"%s\"",
			 vol, store_error(d->store));
}

static void store_event(struct desired_volumes *src, const char *level, unsigned vm,
			const char *message)
{
	struct desired_store *d = (struct desired_store *)src;
	store_event_add(d->store, d->host, "diskengine", vm, level, message);
}

static void store_destroy(struct desired_volumes *src)
{
	struct desired_store *d = (struct desired_store *)src;
	store_close(d->store);
	free(d->where);
	free(d);
}

struct desired_volumes *desired_volumes_store_open(const char *url, const char *host,
						   enum volume_layout layout, char *err,
						   size_t errlen)
{
	_cleanup_free_ struct desired_store *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->store = store_open(url, err, errlen);
	if (!d->store)
		return NULL;
	d->ops = (struct desired_volumes){ .snapshot = store_snapshot,
					   .change_fd = store_change_fd,
					   .changed = store_changed, .report = store_report,
					   .event = store_event, .destroy = store_destroy };
	d->layout = layout;
	snprintf(d->host, sizeof(d->host), "%s", host);
	store_host_seen(d->store, d->host);
	return &TAKE_PTR(d)->ops;
}

struct desired_volumes *desired_volumes_open(const struct diskengine_config *cfg, char *err,
					     size_t errlen)
{
	if (cfg->desired_from_dir) {
		char dir[BERTH_PATH_LEN];
		paths_diskengine_desired(dir, sizeof(dir), cfg->root);
		struct desired_volumes *d = desired_volumes_dir_open(dir, cfg->layout);
		if (!d)
			snprintf(err, errlen, "out of memory");
		return d;
	}
	struct berth_conf bc;
	if (berth_conf_load(&bc, cfg->root, err, errlen) < 0)
		return NULL;
	return desired_volumes_store_open(bc.store, bc.host, cfg->layout, err, errlen);
}

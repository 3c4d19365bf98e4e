/* desired_store.c — vmengine's desired-state source backed by the store (see
 * desired_source.h). One connection, used by the main thread (snapshots) and the VMs'
 * workers (reports), serialised by a mutex held only around store calls. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desired_source.h"
#include "log.h"
#include "store.h"

struct desired_store {
	struct desired_source ops;
	struct store *store;
	pthread_mutex_t lock;
	char host[STORE_NAME_MAX];
};

static void spec_from_rows(const struct store_vm *vm, const struct store_volume *vol,
			   struct vm_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->id = (unsigned)vm->id;
	snprintf(s->name, sizeof(s->name), "%s", vm->name);
	memcpy(s->uuid, vm->uuid, sizeof(s->uuid));
	s->vcpus = vm->vcpus;
	s->memory_mb = vm->memory_mb;
	snprintf(s->kernel, sizeof(s->kernel), "%s", vm->kernel);
	snprintf(s->initrd, sizeof(s->initrd), "%s", vm->initrd);
	snprintf(s->append, sizeof(s->append), "%s", vm->append);
	s->num_queues = 1;
	s->desired = !strcmp(vm->desired, "RUNNING") ? DESIRED_RUNNING
		     : !strcmp(vm->desired, "STOPPED") ? DESIRED_STOPPED : DESIRED_TERMINATED;
	s->on_crash = !strcmp(vm->on_crash, "restart") ? ON_CRASH_RESTART : ON_CRASH_STOP;
	s->generation = vm->generation;
	/* A socket path longer than sun_path could not be connected to: not ready. */
	bool fits = vol && vol->export_path[0] &&
		    strlen(vol->export_path) < sizeof(s->disk_vhost);
	if (fits)
		memcpy(s->disk_vhost, vol->export_path, strlen(vol->export_path) + 1);
	s->disk_ready = fits && !strcmp(vol->state, "EXPORTED");
}

static int store_snapshot(struct desired_source *src, struct vm_spec **specs, size_t *n)
{
	struct desired_store *d = (struct desired_store *)src;
	struct store_vm *vms = NULL;
	struct store_volume *vols = NULL;
	size_t nvms = 0, nvols = 0;
	pthread_mutex_lock(&d->lock);
	int rc = store_vm_list(d->store, d->host, false, &vms, &nvms);
	if (rc == 0)
		rc = store_volume_list(d->store, d->host, false, &vols, &nvols);
	pthread_mutex_unlock(&d->lock);
	if (rc < 0) {
		log_warn("vmengine", "msg=\"store unavailable; keeping the last desired state\" "
			 "error=\"%s\"", store_error(d->store));
		free(vms);
		return rc;
	}
	*specs = calloc(nvms ? nvms : 1, sizeof(**specs));
	*n = 0;
	for (size_t i = 0; *specs && i < nvms; i++) {
		const struct store_volume *vol = NULL;
		for (size_t j = 0; j < nvols && !vol; j++)
			if (vols[j].id == vms[i].volume_id)
				vol = &vols[j];
		spec_from_rows(&vms[i], vol, &(*specs)[(*n)++]);
	}
	free(vms);
	free(vols);
	return *specs ? 0 : -ENOMEM;
}

static int store_change_fd(struct desired_source *src)
{
	return -1;      /* polled every tick */
}

static void store_changed(struct desired_source *src)
{
}

static void store_report(struct desired_source *src, const struct vm_state *st, bool notable)
{
	struct desired_store *d = (struct desired_store *)src;
	pthread_mutex_lock(&d->lock);
	if (store_vm_report(d->store, st->id, vm_state_name(st->state), st->reason, st->pid) < 0)
		log_warn("vmengine", "vm=%u msg=\"cannot report to the store\" error=\"%s\"", st->id,
			 store_error(d->store));
	char msg[256];
	snprintf(msg, sizeof(msg), "%s%s%s%s%s", vm_state_name(st->state),
		 st->escalation != ESC_NONE ? " escalation=" : "",
		 st->escalation != ESC_NONE ? vm_escalation_name(st->escalation) : "",
		 st->reason[0] ? " reason=" : "", st->reason);
	bool bad = st->state == VM_ERROR || st->escalation >= ESC_TERM;
	if (notable)
		store_event_add(d->store, d->host, "vmengine", st->id, bad ? "warn" : "info", msg);
	pthread_mutex_unlock(&d->lock);
}

static void store_destroy(struct desired_source *src)
{
	struct desired_store *d = (struct desired_store *)src;
	store_close(d->store);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

struct desired_source *desired_store_open(const char *url, const char *host, char *err,
					  size_t errlen)
{
	struct desired_store *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->store = store_open(url, err, errlen);
	if (!d->store) {
		free(d);
		return NULL;
	}
	d->ops = (struct desired_source){ store_snapshot, store_change_fd, store_changed,
					  store_report, store_destroy };
	snprintf(d->host, sizeof(d->host), "%s", host);
	pthread_mutex_init(&d->lock, NULL);
	store_host_seen(d->store, host);
	return &d->ops;
}

/* desired_volumes.c — desired volumes from a directory of JSON files (see
 * desired_volumes.h), watched with inotify. */
#include "desired_volumes.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth_conf.h"
#include "json_dir.h"
#include "log.h"
#include "paths.h"
#include "store.h"

#define MAX_VOLUMES 4096
#define SPEC_MAX_BYTES 16384

struct desired_volumes {
	const struct diskengine_config *cfg;
	char dir[PATH_MAX + 32];
	int inotify_fd;
	struct store *store;             /* NULL: the directory source */
	char host[STORE_NAME_MAX];
};

struct snapshot_ctx {
	struct desired_volumes *d;
	struct volume_spec *specs;
	size_t n, cap;
	json_t *errors;
	int rc;
};

static void add_error(struct snapshot_ctx *ctx, const char *file, const char *error)
{
	json_array_append_new(ctx->errors, json_pack("{s:s, s:s}", "file", file, "error", error));
}

static void bad_file(const char *name, const char *reason, void *arg)
{
	add_error(arg, name, reason);
}

static void add_spec(const char *name, const json_t *obj, void *arg)
{
	struct snapshot_ctx *ctx = arg;
	char err[256];
	if (ctx->n == ctx->cap) {
		size_t cap = ctx->cap ? ctx->cap * 2 : 16;
		struct volume_spec *grown = realloc(ctx->specs, cap * sizeof(*grown));
		if (!grown) {
			ctx->rc = -ENOMEM;
			return;
		}
		ctx->specs = grown;
		ctx->cap = cap;
	}
	struct volume_spec *s = &ctx->specs[ctx->n];
	if (volume_spec_from_json(obj, ctx->d->cfg->layout, s, err, sizeof(err)) < 0) {
		add_error(ctx, name, err);
		return;
	}
	for (size_t i = 0; i < ctx->n; i++) {
		if (ctx->specs[i].id == s->id) {
			add_error(ctx, name, "another volume has the same id");
			return;
		}
		if (s->exported && ctx->specs[i].exported && ctx->specs[i].vm == s->vm) {
			add_error(ctx, name, "another volume is exported to the same vm");
			return;
		}
	}
	ctx->n++;
}

static bool vm_may_use_export(const struct store_vm *vm)
{
	static const char *const active[] = { "STARTING", "RUNNING", "STOPPING", "RESTARTING",
					       "TERMINATING", "MIGRATING" };
	if (!strcmp(vm->desired, "RUNNING"))
		return true;
	for (size_t i = 0; i < sizeof(active) / sizeof(active[0]); i++)
		if (!strcmp(vm->state, active[i]))
			return true;
	return false;
}

static enum volume_layout layout_of(const char *name, enum volume_layout fallback)
{
	enum volume_layout l;
	return volume_layout_parse(name, &l) == 0 ? l : fallback;
}

static int store_snapshot(struct desired_volumes *d, struct volume_spec **specs, size_t *n,
			  json_t **errors)
{
	struct store_vm *vms = NULL;
	struct store_volume *vols = NULL;
	size_t nvms = 0, nvols = 0;
	int rc = store_volume_list(d->store, d->host, false, &vols, &nvols);
	if (rc == 0)
		rc = store_vm_list(d->store, d->host, true, &vms, &nvms);
	if (rc < 0) {
		log_warn("diskengine", "msg=\"store unavailable\" error=\"%s\"",
			 store_error(d->store));
		free(vols);
		return rc;
	}
	*specs = calloc(nvols ? nvols : 1, sizeof(**specs));
	*n = 0;
	*errors = json_array();
	for (size_t i = 0; *specs && i < nvols; i++) {
		const struct store_vm *vm = NULL;
		for (size_t j = 0; j < nvms && !vm; j++)
			if (vms[j].id == vols[i].vm_id)
				vm = &vms[j];
		if (!vm || !strcmp(vm->state, "TERMINATED"))
			continue;                /* its VM is gone: the volume goes too */
		(*specs)[(*n)++] = (struct volume_spec){
			.id = (unsigned)vols[i].id,
			.size_bytes = vols[i].size_mb * 1024 * 1024,
			.vm = (unsigned)vm->id,
			.exported = vm_may_use_export(vm),
			.layout = layout_of(vols[i].layout, d->cfg->layout),
		};
	}
	free(vms);
	free(vols);
	if (!*specs) {
		json_decref(*errors);
		return -ENOMEM;
	}
	return 0;
}

int desired_volumes_snapshot(struct desired_volumes *d, struct volume_spec **specs,
			     size_t *n, json_t **errors)
{
	if (d->store)
		return store_snapshot(d, specs, n, errors);
	struct snapshot_ctx ctx = { .d = d, .errors = json_array() };
	int rc = json_dir_load(d->dir, MAX_VOLUMES, SPEC_MAX_BYTES, add_spec, bad_file, &ctx);
	if (rc < 0 || ctx.rc < 0) {
		free(ctx.specs);
		json_decref(ctx.errors);
		return rc < 0 ? rc : ctx.rc;
	}
	*specs = ctx.specs;
	*n = ctx.n;
	*errors = ctx.errors;
	return 0;
}

int desired_volumes_fd(struct desired_volumes *d)
{
	return d->inotify_fd;
}

void desired_volumes_changed(struct desired_volumes *d)
{
	char buf[4096];
	while (read(d->inotify_fd, buf, sizeof(buf)) > 0)
		;
}

void desired_volumes_report(struct desired_volumes *d, unsigned vol, const char *state,
			    const char *export_path, const char *error)
{
	if (d->store && store_volume_report(d->store, vol, state, export_path, error) < 0)
		log_warn("diskengine", "vol=%u msg=\"cannot report to the store\" error=\"%s\"",
			 vol, store_error(d->store));
}

void desired_volumes_event(struct desired_volumes *d, const char *level, unsigned vm,
			   const char *message)
{
	if (d->store)
		store_event_add(d->store, d->host, "diskengine", vm, level, message);
}

struct desired_volumes *desired_volumes_open(const struct diskengine_config *cfg, char *err,
					     size_t errlen)
{
	struct desired_volumes *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->cfg = cfg;
	if (!cfg->desired_from_dir) {
		struct berth_conf bc;
		if (berth_conf_load(&bc, cfg->root, err, errlen) < 0 ||
		    !(d->store = store_open(bc.store, err, errlen))) {
			free(d);
			return NULL;
		}
		snprintf(d->host, sizeof(d->host), "%s", bc.host);
		store_host_seen(d->store, d->host);
		d->inotify_fd = -1;
		return d;
	}
	paths_diskengine_desired(d->dir, sizeof(d->dir), cfg->root);
	mkdir(d->dir, 0700);
	d->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->inotify_fd >= 0 &&
	    inotify_add_watch(d->inotify_fd, d->dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE |
						     IN_MOVED_FROM) < 0) {
		close(d->inotify_fd);
		d->inotify_fd = -1;
	}
	return d;
}

void desired_volumes_close(struct desired_volumes *d)
{
	store_close(d->store);
	if (d->inotify_fd >= 0)
		close(d->inotify_fd);
	free(d);
}

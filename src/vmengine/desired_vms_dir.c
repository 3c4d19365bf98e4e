/* desired_vms_dir.c — the desired-state source backed by a directory of spec files (see
 * desired_vms.h): <root>/vmengine/desired/<name>.json, written by tests and tools
 * (desired_source = dir). inotify wakes vmengine when a file changes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "desired_vms.h"
#include "array.h"
#include "json_dir.h"
#include "log.h"

#define SPEC_MAX_BYTES 65536
#define MAX_SPECS 4096

struct desired_dir {
	struct desired_vms ops;
	char dir[PATH_MAX];
	int inotify_fd;
	char last_error[PATH_MAX + 256];   /* logged once until it changes */
};

static void log_once(struct desired_dir *d, const char *file, const char *why)
{
	char msg[sizeof(d->last_error)];
	snprintf(msg, sizeof(msg), "%s: %s", file, why);
	if (strcmp(msg, d->last_error) == 0)
		return;
	snprintf(d->last_error, sizeof(d->last_error), "%s", msg);
	log_warn("vmengine", "msg=\"desired spec ignored\" file=%s error=\"%s\"", file, why);
}

struct snapshot_ctx {
	struct desired_dir *d;
	struct vm_spec *specs;
	size_t n, cap;
	int rc;
};

static void bad_file(const char *name, const char *reason, void *arg)
{
	log_once(((struct snapshot_ctx *)arg)->d, name, reason);
}

static void add_spec(const char *name, const json_t *obj, void *arg)
{
	struct snapshot_ctx *ctx = arg;
	char err[256];
	if (array_reserve_one(&ctx->specs, &ctx->cap, ctx->n, sizeof(*ctx->specs)) < 0) {
		ctx->rc = -ENOMEM;
		return;
	}
	struct vm_spec *s = &ctx->specs[ctx->n];
	if (vm_spec_from_json(obj, s, err, sizeof(err)) < 0) {
		log_once(ctx->d, name, err);
		return;
	}
	for (size_t i = 0; i < ctx->n; i++) {
		if (ctx->specs[i].id == s->id) {
			log_once(ctx->d, name, "another spec has the same id");
			return;
		}
	}
	ctx->n++;
}

static int dir_snapshot(struct desired_vms *src, struct vm_spec **specs, size_t *n)
{
	struct snapshot_ctx ctx = { .d = (struct desired_dir *)src };
	int rc = json_dir_load(ctx.d->dir, MAX_SPECS, SPEC_MAX_BYTES, add_spec, bad_file, &ctx);
	if (rc < 0 || ctx.rc < 0) {
		free(ctx.specs);
		return rc < 0 ? rc : ctx.rc;
	}
	*specs = ctx.specs;
	*n = ctx.n;
	return 0;
}

static int dir_change_fd(struct desired_vms *src)
{
	return ((struct desired_dir *)src)->inotify_fd;
}

static void dir_changed(struct desired_vms *src)
{
	json_dir_watch_drain(((struct desired_dir *)src)->inotify_fd);
}

static void dir_destroy(struct desired_vms *src)
{
	struct desired_dir *d = (struct desired_dir *)src;
	if (d->inotify_fd >= 0)
		close(d->inotify_fd);
	free(d);
}

struct desired_vms *desired_vms_dir_open(const char *dir)
{
	struct desired_dir *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->ops = (struct desired_vms){ dir_snapshot, dir_change_fd, dir_changed, NULL,
					  dir_destroy };
	snprintf(d->dir, sizeof(d->dir), "%s", dir);
	d->inotify_fd = json_dir_watch(dir);
	return &d->ops;
}

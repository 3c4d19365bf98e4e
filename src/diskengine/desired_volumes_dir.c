/* desired_volumes_dir.c — desired volumes from a directory of JSON files (see
 * desired_volumes.h), watched with inotify. */
#include "desired_volumes.h"
#include "array.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json_dir.h"

#define MAX_VOLUMES 4096
#define SPEC_MAX_BYTES 16384

struct desired_dir {
	struct desired_volumes ops;
	enum volume_layout layout;
	char dir[PATH_MAX];
	int inotify_fd;
};

struct snapshot_ctx {
	struct desired_dir *d;
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
	if (array_reserve_one(&ctx->specs, &ctx->cap, ctx->n, sizeof(*ctx->specs)) < 0) {
		ctx->rc = -ENOMEM;
		return;
	}
	struct volume_spec *s = &ctx->specs[ctx->n];
	if (volume_spec_from_json(obj, ctx->d->layout, s, err, sizeof(err)) < 0) {
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

static int dir_snapshot(struct desired_volumes *src, struct volume_spec **specs, size_t *n,
			json_t **errors)
{
	struct desired_dir *d = (struct desired_dir *)src;
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

static int dir_change_fd(struct desired_volumes *src)
{
	return ((struct desired_dir *)src)->inotify_fd;
}

static void dir_changed(struct desired_volumes *src)
{
	json_dir_watch_drain(((struct desired_dir *)src)->inotify_fd);
}

static void dir_destroy(struct desired_volumes *src)
{
	struct desired_dir *d = (struct desired_dir *)src;
	if (d->inotify_fd >= 0)
		close(d->inotify_fd);
	free(d);
}

struct desired_volumes *desired_volumes_dir_open(const char *dir, enum volume_layout layout)
{
	struct desired_dir *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->ops = (struct desired_volumes){ .snapshot = dir_snapshot, .change_fd = dir_change_fd,
					   .changed = dir_changed, .destroy = dir_destroy };
	d->layout = layout;
	snprintf(d->dir, sizeof(d->dir), "%s", dir);
	d->inotify_fd = json_dir_watch(dir);
	return &d->ops;
}

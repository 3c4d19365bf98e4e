/* desired_dir.c — the desired-state source backed by a directory of spec files (see
 * desired_source.h): <root>/vmengine/desired/<name>.json, written by tests and tools until
 * the store exists. inotify wakes vmengine when a file changes. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "desired_source.h"
#include "log.h"

#define SPEC_MAX_BYTES 65536
#define MAX_SPECS 4096

struct desired_dir {
	struct desired_source ops;
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

static int load_one(struct desired_dir *d, const char *name, struct vm_spec *out)
{
	char path[PATH_MAX + 256], err[256];
	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	char *text;
	int rc = read_file_all(path, SPEC_MAX_BYTES, &text, NULL);
	if (rc < 0) {
		if (rc != -ENOENT)
			log_once(d, name, strerror(-rc));
		return rc;
	}
	json_error_t jerr;
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!o) {
		log_once(d, name, jerr.text);
		return -EINVAL;
	}
	rc = vm_spec_from_json(o, out, err, sizeof(err));
	json_decref(o);
	if (rc < 0)
		log_once(d, name, err);
	return rc;
}

static int dir_snapshot(struct desired_source *src, struct vm_spec **specs, size_t *n)
{
	struct desired_dir *d = (struct desired_dir *)src;
	*specs = NULL;
	*n = 0;
	DIR *dh = opendir(d->dir);
	if (!dh)
		return errno == ENOENT ? 0 : -errno;
	size_t cap = 0;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(dh)) && *n < MAX_SPECS) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0 || e->d_name[0] == '.')
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			struct vm_spec *grown = realloc(*specs, cap * sizeof(**specs));
			if (!grown) {
				rc = -ENOMEM;
				break;
			}
			*specs = grown;
		}
		if (load_one(d, e->d_name, &(*specs)[*n]) < 0)
			continue;
		bool duplicate = false;
		for (size_t i = 0; i < *n; i++)
			duplicate |= (*specs)[i].id == (*specs)[*n].id;
		if (duplicate) {
			log_once(d, e->d_name, "another spec has the same id");
			continue;
		}
		(*n)++;
	}
	closedir(dh);
	if (rc < 0) {
		free(*specs);
		*specs = NULL;
		*n = 0;
	}
	return rc;
}

static int dir_change_fd(struct desired_source *src)
{
	return ((struct desired_dir *)src)->inotify_fd;
}

static void dir_changed(struct desired_source *src)
{
	struct desired_dir *d = (struct desired_dir *)src;
	char buf[4096];
	while (read(d->inotify_fd, buf, sizeof(buf)) > 0)
		;
}

static void dir_destroy(struct desired_source *src)
{
	struct desired_dir *d = (struct desired_dir *)src;
	if (d->inotify_fd >= 0)
		close(d->inotify_fd);
	free(d);
}

struct desired_source *desired_dir_open(const char *dir)
{
	struct desired_dir *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->ops = (struct desired_source){ dir_snapshot, dir_change_fd, dir_changed, NULL,
					  dir_destroy };
	snprintf(d->dir, sizeof(d->dir), "%s", dir);
	mkdir(dir, 0700);
	d->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->inotify_fd >= 0 &&
	    inotify_add_watch(d->inotify_fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE |
						  IN_MOVED_FROM) < 0) {
		close(d->inotify_fd);
		d->inotify_fd = -1;
	}
	return &d->ops;
}

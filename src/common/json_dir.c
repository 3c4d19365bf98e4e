/* json_dir.c — reading and watching a directory of JSON objects (see json_dir.h). */
#include "json_dir.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"

static void report(void (*bad)(const char *, const char *, void *), const char *name,
		   const char *reason, void *arg)
{
	if (bad)
		bad(name, reason, arg);
}

int json_dir_load(const char *dir, size_t max_files, size_t max_bytes,
		  void (*fn)(const char *name, const json_t *obj, void *arg),
		  void (*bad)(const char *name, const char *reason, void *arg), void *arg)
{
	DIR *dh = opendir(dir);
	if (!dh)
		return errno == ENOENT ? 0 : -errno;
	int loaded = 0;
	struct dirent *e;
	while ((e = readdir(dh)) && (size_t)loaded < max_files) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		char path[PATH_MAX];
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		char *text;
		int rc = read_file_all(path, max_bytes, &text, NULL);
		if (rc == -ENOENT)
			continue;            /* removed meanwhile */
		if (rc < 0) {
			report(bad, e->d_name, strerror(-rc), arg);
			continue;
		}
		json_error_t jerr;
		json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
		free(text);
		if (!json_is_object(o)) {
			report(bad, e->d_name, o ? "not a JSON object" : jerr.text, arg);
			json_decref(o);
			continue;
		}
		fn(e->d_name, o, arg);
		json_decref(o);
		loaded++;
	}
	closedir(dh);
	return loaded;
}

int json_dir_watch(const char *dir)
{
	mkdir(dir, 0700);
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd >= 0 && inotify_add_watch(fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE |
						  IN_MOVED_FROM) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

void json_dir_watch_drain(int fd)
{
	char buf[4096];
	while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
		;
}

/* json_dir.h — a directory of small JSON files read as one snapshot: the directory
 * desired-state sources of vmengine and diskengine (desired_source = dir, for tests and
 * tools; the store is the default) keep one object per file there. Hidden files and names
 * without ".json" are skipped. */
#ifndef BERTH_JSON_DIR_H
#define BERTH_JSON_DIR_H

#include <stddef.h>
#include <jansson.h>

/* Calls fn(file name, object, arg) for every readable *.json object in dir, at most
 * max_files of them, each at most max_bytes. A file that is unreadable, not JSON or not an
 * object is passed to bad(file name, reason, arg) instead (bad may be NULL). Returns the
 * number of files passed to fn, 0 when dir does not exist, or -errno. */
int json_dir_load(const char *dir, size_t max_files, size_t max_bytes,
		  void (*fn)(const char *name, const json_t *obj, void *arg),
		  void (*bad)(const char *name, const char *reason, void *arg), void *arg);

/* Creates dir (0700) if needed and watches it: a non-blocking inotify fd that becomes readable
 * when a file is written, moved or deleted there, or -1 when inotify is unavailable (the
 * caller then rereads on its tick). */
int json_dir_watch(const char *dir);
/* Empties the watch fd after it became readable (a no-op for -1). */
void json_dir_watch_drain(int fd);

#endif

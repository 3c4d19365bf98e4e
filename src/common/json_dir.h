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

#endif

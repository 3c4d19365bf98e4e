/* desired_volumes.h — the seam between diskengine and whatever holds the desired volumes
 * of this host: the store (a volume is wanted until its VM is TERMINATED, exported while
 * the VM should run or its QEMU may still use it), or a directory of JSON files
 * (<root>/diskengine/desired, one volume_spec per *.json file) for tests and tools. Each
 * loop opens its own source (and store connection), so the two loops share nothing. */
#ifndef DISKENGINE_DESIRED_VOLUMES_H
#define DISKENGINE_DESIRED_VOLUMES_H

#include <stddef.h>
#include <jansson.h>

#include "config.h"
#include "volume_spec.h"

struct desired_volumes;

/* NULL with the reason in err. */
struct desired_volumes *desired_volumes_open(const struct diskengine_config *cfg, char *err,
					     size_t errlen);
void desired_volumes_close(struct desired_volumes *d);

/* A snapshot: *specs malloc'd. Bad entries are left out and listed in *errors
 * ([{"file", "error"}], a new reference) so the loop can report them. 0 or -errno. */
int desired_volumes_snapshot(struct desired_volumes *d, struct volume_spec **specs,
			     size_t *n, json_t **errors);
/* Readable when the desired state may have changed (-1: poll by tick); drain with
 * desired_volumes_changed. */
int desired_volumes_fd(struct desired_volumes *d);
void desired_volumes_changed(struct desired_volumes *d);

/* What diskengine observed ("ONLINE", "EXPORTED", "DELETED", "ERROR"); export_path and
 * error may be NULL. No-op for the directory source. */
void desired_volumes_report(struct desired_volumes *d, unsigned vol, const char *state,
			    const char *export_path, const char *error);
/* An event for operators (the store's events table). */
void desired_volumes_event(struct desired_volumes *d, const char *level, unsigned vm,
			   const char *message);

#endif

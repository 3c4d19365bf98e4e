/* desired_volumes.h — the seam between diskengine and whatever holds the desired volumes
 * of this host. Today a directory of JSON files (<root>/diskengine/desired, one
 * volume_spec per *.json file); the store implements the same calls later. Each loop opens its own
 * source, so the two loops share nothing. */
#ifndef DISKENGINE_DESIRED_VOLUMES_H
#define DISKENGINE_DESIRED_VOLUMES_H

#include <stddef.h>
#include <jansson.h>

#include "config.h"
#include "volume_spec.h"

struct desired_volumes;

struct desired_volumes *desired_volumes_open(const struct diskengine_config *cfg);
void desired_volumes_close(struct desired_volumes *d);

/* A snapshot: *specs malloc'd. Bad entries are left out and listed in *errors
 * ([{"file", "error"}], a new reference) so the loop can report them. 0 or -errno. */
int desired_volumes_snapshot(struct desired_volumes *d, struct volume_spec **specs,
			     size_t *n, json_t **errors);
/* Readable when the desired state may have changed (-1: poll by tick); drain with
 * desired_volumes_changed. */
int desired_volumes_fd(struct desired_volumes *d);
void desired_volumes_changed(struct desired_volumes *d);

#endif

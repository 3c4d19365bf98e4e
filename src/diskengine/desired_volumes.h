/* desired_volumes.h — the seam between diskengine and whatever holds the desired volumes of
 * this host: the store (desired_volumes_store.c, the default: a volume is wanted until its VM
 * is TERMINATED, exported while the VM should run or its QEMU may still use it) or a
 * directory of JSON files (desired_volumes_dir.c, desired_source = dir:
 * <root>/diskengine/desired, one volume_spec per *.json file) for tests and tools. Each loop
 * opens its own source (and store connection), so the two loops share nothing. The same
 * shape as vmengine's desired_vms.h: an ops struct (snapshot, change_fd, changed, report,
 * destroy; here also event) and one <name>_dir_open / <name>_store_open per source. */
#ifndef DISKENGINE_DESIRED_VOLUMES_H
#define DISKENGINE_DESIRED_VOLUMES_H

#include <stddef.h>
#include <jansson.h>

#include "config.h"
#include "states.h"
#include "volume_spec.h"

struct desired_volumes {
	/* A snapshot: *specs malloc'd. Bad entries are left out and listed in *errors
	 * ([{"file", "error"}], a new reference) so the loop can report them. 0 or -errno. */
	int (*snapshot)(struct desired_volumes *src, struct volume_spec **specs, size_t *n,
			json_t **errors);
	/* Readable when the desired state may have changed (-1: poll by tick); drain it with
	 * changed(). */
	int (*change_fd)(struct desired_volumes *src);
	void (*changed)(struct desired_volumes *src);
	/* What diskengine observed; export_path and error may be NULL. May be NULL (the
	 * directory source keeps no record). */
	void (*report)(struct desired_volumes *src, unsigned vol, enum volume_state state,
		       const char *export_path, const char *error);
	/* An event for operators (the store's events table). May be NULL. */
	void (*event)(struct desired_volumes *src, const char *level, unsigned vm,
		      const char *message);
	void (*destroy)(struct desired_volumes *src);
};

/* <dir>/<anything>.json, one volume_spec per file; layout: for specs that name none. NULL
 * when out of memory. */
struct desired_volumes *desired_volumes_dir_open(const char *dir, enum volume_layout layout);

/* The store (store.h): this host's volumes; layout: for volumes that name none. NULL with the
 * reason in err. */
struct desired_volumes *desired_volumes_store_open(const char *url, const char *host,
						   enum volume_layout layout, char *err,
						   size_t errlen);

/* The source cfg names (desired_source), NULL with the reason in err. */
struct desired_volumes *desired_volumes_open(const struct diskengine_config *cfg, char *err,
					     size_t errlen);

#endif

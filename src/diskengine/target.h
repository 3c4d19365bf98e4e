/* target.h — diskengine's side of the storage target: one loop's JSON-RPC connection (every
 * call with the configured deadline), what the target has (bdev_raid_get_bdevs and the
 * export driver's listing only — never bdev_get_bdevs), and the idempotent steps that
 * create and delete volumes. */
#ifndef DISKENGINE_TARGET_H
#define DISKENGINE_TARGET_H

#include <stdbool.h>
#include <jansson.h>

#include "config.h"
#include "jsonrpc_client.h"
#include "plan.h"

struct export_driver;

struct target {
	const struct diskengine_config *cfg;
	const struct export_driver *exports;
	struct jrpc_client *rpc;
	char last_method[48];        /* for wedge reports: which RPC failed */
	char last_error[PATH_MAX + 768];
	/* Called (may be NULL) before each call with its method: a worker tells its loop
	 * which call it waits for (workers.c). */
	void (*on_call)(void *arg, const char *method);
	void *on_call_arg;
};

/* "<prefix><id>" with id 1..VOLUME_ID_MAX, no leading zero. */
bool target_parse_id(const char *s, const char *prefix, unsigned *id);

int target_init(struct target *t, const struct diskengine_config *cfg,
		const struct export_driver *exports);
void target_fini(struct target *t);

/* One call: 0 with *result (may be NULL), the module's negative errno for a target error
 * (-17, -19, -16 ...), -ETIMEDOUT (connection closed) or another -errno. Records the
 * method and error in last_method / last_error. */
int target_call(struct target *t, const char *method, json_t *params, json_t **result);

/* What exists: raids named raid_vol<id>, exports, and volume directories. */
struct actual_snapshot {
	struct actual_raid *raids;
	size_t n_raids;
	struct actual_export *exports;
	size_t n_exports;
	unsigned *vol_dirs;
	size_t n_vol_dirs;
};
int target_snapshot(struct target *t, struct actual_snapshot *snap);
void actual_snapshot_free(struct actual_snapshot *snap);
void actual_snapshot_view(const struct actual_snapshot *snap, struct actual_state *view);

/* Files (sparse, refused when the disk has no room), base bdevs, raid; steps that exist
 * already are skipped. 0 or -errno with the reason in t->last_error. */
int target_create_volume(struct target *t, const struct volume_spec *v);
/* raid, base bdevs, files; missing parts are fine. */
int target_delete_volume(struct target *t, unsigned vol, bool keep_files);

#endif

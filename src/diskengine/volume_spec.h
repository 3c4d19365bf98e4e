/* volume_spec.h — a volume that should exist on this host, and whether it should be
 * exported to its VM (or, retired, one that should not exist any more). The desired-state source produces these (desired_volumes.h). */
#ifndef DISKENGINE_VOLUME_SPEC_H
#define DISKENGINE_VOLUME_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "config.h"

#define VOLUME_ID_MAX 999999999u
#define VOLUME_SIZE_MAX_MB (16ull * 1024 * 1024)     /* 16 TiB */

/* Whose volume it is (two hosts on shared storage see each other's base files): this
 * host's; another host's that migrates a VM here (its export is made here, over the same
 * base files, never creating or formatting them); or another host's (nothing of it here:
 * bdevs left from before are released, its files never touched). */
enum volume_where { VOLUME_LOCAL, VOLUME_INCOMING, VOLUME_FOREIGN };

struct volume_spec {
	unsigned id;                 /* the volume is "vol<id>", its raid "raid_vol<id>" */
	char name[64];               /* a display name */
	uint64_t size_bytes;
	unsigned vm;                 /* 0: not attached to a VM */
	bool exported;               /* export "vm<vm>" wanted */
	bool retired;                /* its VM is gone: the volume must not exist. Listed until
				      * recorded deleted, so one never created is recorded too */
	enum volume_layout layout;
	enum volume_where where;
	bool migrating;              /* its VM migrates (the pause scope): only the exports the
				      * migration asks for change, nothing is removed */
	bool incoming_ready;         /* VOLUME_INCOMING: the store has this host's export of
				      * the migration (reported) */
};

/* {"id": 1.., "name": "...", "size_mb": 1.., "vm": 0.., "exported": bool,
 *  "layout": "raid1"|"raid0"|"single"} (layout defaults to the host's). 0, or -EINVAL with
 * the reason in err. */
int volume_spec_from_json(const json_t *obj, enum volume_layout default_layout,
			  struct volume_spec *out, char *err, size_t errlen);

#endif

/* plan.h — diskengine's reconcile decisions, as pure functions: from the desired volumes and
 * what the target and the disk actually have, the actions each loop should take. No I/O
 * here, so every decision is unit-tested on its own. */
#ifndef DISKENGINE_PLAN_H
#define DISKENGINE_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "volume_spec.h"

struct actual_raid {
	unsigned vol;                /* from the name "raid_vol<id>" */
	unsigned operational, total; /* bases */
	bool online;
};

struct actual_export {
	unsigned vm;                 /* from the controller name "vm<id>" */
	unsigned vol;                /* from its bdev "raid_vol<id>"; 0: not one of ours */
	bool connected;              /* a front-end (QEMU) is attached */
};

struct actual_state {
	const struct actual_raid *raids;
	size_t n_raids;
	const struct actual_export *exports;
	size_t n_exports;
	const unsigned *vol_dirs;    /* volumes with a directory under <root>/volumes */
	size_t n_vol_dirs;
};

enum action_kind {
	ACT_CREATE_VOLUME,   /* files, base bdevs, raid: each step skipped when present */
	ACT_CREATE_EXPORT,   /* vhost controller vm<vm> on raid_vol<vol> */
	ACT_DELETE_EXPORT,
	ACT_DELETE_VOLUME,   /* raid, base bdevs, files */
	ACT_RELEASE_VOLUME,  /* raid, base bdevs of another host's volume: its files stay */
	ACT_GATE_DEFER,      /* the volume should go but export vm<vm> still uses it */
	ACT_EXPORT_CONFLICT, /* vm<vm> should be exported, but a controller diskengine does
			      * not own has that name: reported, never touched */
};

struct action {
	enum action_kind kind;
	unsigned vol;
	unsigned vm;
};

/* Both plans treat a retired spec as not wanted. The attach loop: volumes to create,
 * exports to create. Returns how many actions were
 * written (at most max). */
size_t plan_attach(const struct volume_spec *want, size_t n_want,
		   const struct actual_state *have, struct action *out, size_t max);

/* The detach loop: exports to delete (no longer wanted, or on another volume), then
 * volumes to delete — only when no export uses them (the gate); otherwise GATE_DEFER —
 * and a delete for each retired volume of this host of which nothing exists, to record it
 * deleted. Another host's volume (VOLUME_FOREIGN, or a retired one not VOLUME_LOCAL) is
 * released, never deleted nor recorded here; a migrating one is left alone (the pause
 * scope: diskengine.md). */
size_t plan_detach(const struct volume_spec *want, size_t n_want,
		   const struct actual_state *have, struct action *out, size_t max);

const char *action_name(enum action_kind k);

#endif

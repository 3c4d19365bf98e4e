/* export_driver.h — the seam for the kind of export that hands a volume to QEMU:
 * vhost-user-blk controllers (blockd and real SPDK) now; NVMf over vfio-user (real SPDK:
 * subsystem + namespace + VFIOUSER listener, which has no pause/resume RPC) later. */
#ifndef DISKENGINE_EXPORT_DRIVER_H
#define DISKENGINE_EXPORT_DRIVER_H

#include <stddef.h>

#include "plan.h"

struct target;

struct export_driver {
	const char *kind;
	/* Every export on the target; vol = 0 for those not on one of our raids. */
	int (*list)(struct target *t, struct actual_export **out, size_t *n);
	/* Idempotent: an export that exists already is success. */
	int (*create)(struct target *t, unsigned vm, unsigned vol);
	/* Idempotent: a missing export is success. -EBUSY while a front-end is connected. */
	int (*remove)(struct target *t, unsigned vm);
	/* Where QEMU finds it (the vhost-user socket path). */
	void (*address)(const struct target *t, unsigned vm, char *out, size_t len);
};

extern const struct export_driver export_vhost_blk;

#endif

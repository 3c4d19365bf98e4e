/* bdev_raid.h — the raid module (raid0, raid1, concat): its descriptor, creation
 * and introspection. */
#ifndef BLOCKD_BDEV_RAID_H
#define BLOCKD_BDEV_RAID_H

#include <stdint.h>
#include <jansson.h>

#include "bdev.h"

struct bdev_module;
extern const struct bdev_module bdev_raid_module;

#define BDEV_RAID_MAX_BASES 32

enum raid_level { RAID0, RAID1, RAID_CONCAT };
/* Claims every base. strip_size_kb: power of two, required > 0 for raid0, must be 0 for
 * raid1, ignored (0 ok) for concat. All bases must share a block size. */
int bdev_raid_create(const char *name, enum raid_level level, uint32_t strip_size_kb,
		     const char *const *base_names, unsigned num_bases, const char *uuid,
		     struct bdev **out);

/* Raid introspection for bdev_raid_get_bdevs: SPDK's entry shape (name, uuid, strip_size_kb,
 * state, raid_level, superblock, num_base_bdevs, num_base_bdevs_discovered,
 * num_base_bdevs_operational, base_bdevs_list). NULL if b is not a raid. */
json_t *bdev_raid_info_json(const struct bdev *b);
/* "online", "configuring", "offline" */
const char *bdev_raid_state(const struct bdev *b);

#endif

/* bdev_null.h — the null module (IO succeeds, no data): its descriptor and creation. */
#ifndef BLOCKD_BDEV_NULL_H
#define BLOCKD_BDEV_NULL_H

#include <stdint.h>

#include "bdev.h"

struct bdev_module;
extern const struct bdev_module bdev_null_module;

/* Creation (see bdev.h for the errors). */
int bdev_null_create(const char *name, uint64_t num_blocks, uint32_t block_size,
		     const char *uuid, struct bdev **out);

#endif

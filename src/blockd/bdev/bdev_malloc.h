/* bdev_malloc.h — the RAM disk module: its descriptor and creation. */
#ifndef BLOCKD_BDEV_MALLOC_H
#define BLOCKD_BDEV_MALLOC_H

#include <stdint.h>

#include "bdev.h"

struct bdev_module;
extern const struct bdev_module bdev_malloc_module;

/* Creation (see bdev.h for the errors). */
int bdev_malloc_create(const char *name, uint64_t num_blocks, uint32_t block_size,
		       const char *uuid, struct bdev **out);

#endif

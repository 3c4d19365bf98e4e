/* bdev_uring.h — the file module through io_uring, also under SPDK's aio name:
 * its two descriptors and creation. */
#ifndef BLOCKD_BDEV_URING_H
#define BLOCKD_BDEV_URING_H

#include <stdbool.h>
#include <stdint.h>

#include "bdev.h"

struct bdev_module;
extern const struct bdev_module bdev_uring_module, bdev_aio_module;

/* File bdev through the reactor's io_uring. block_size 0 = 512. The file must exist and be
 * at least one block; num_blocks = size / block_size. module_name is "uring" or "aio" (the
 * same code; the name is what bdev_get_bdevs and save_config report). */
int bdev_uring_create(const char *name, const char *filename, uint32_t block_size,
		      bool readonly, const char *uuid, const char *module_name, struct bdev **out);

#endif

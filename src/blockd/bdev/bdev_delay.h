/* bdev_delay.h — the delay module (holds IO for a set latency): its descriptor,
 * creation and latency update. */
#ifndef BLOCKD_BDEV_DELAY_H
#define BLOCKD_BDEV_DELAY_H

#include <stdint.h>

#include "bdev.h"

struct bdev_module;
extern const struct bdev_module bdev_delay_module;

/* Latencies in microseconds. Claims its base. */
int bdev_delay_create(const char *name, const char *base_name, uint64_t avg_read_us,
		      uint64_t p99_read_us, uint64_t avg_write_us, uint64_t p99_write_us,
		      const char *uuid, struct bdev **out);
/* type: "avg_read", "p99_read", "avg_write", "p99_write". -ENODEV if no such delay bdev. */
int bdev_delay_update_latency(const char *name, const char *type, uint64_t latency_us);

#endif

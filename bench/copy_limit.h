/* copy_limit.h — the memory-copy ceiling a RAM-backed target cannot beat on this machine: one
 * thread copying blocks between random offsets of one buffer (the size of the bdev, written,
 * advised for huge pages like blockd's malloc bdev). vhost_blk_bench --copy-limit. */
#ifndef BENCH_COPY_LIMIT_H
#define BENCH_COPY_LIMIT_H

#include <stddef.h>
#include <stdint.h>

/* Copies of bs bytes per second over `seconds`; < 0 when the buffer cannot be had. */
double copy_limit_rate(size_t size, uint32_t bs, double seconds);

#endif

/* metrics_target.h — the metrics endpoint's probe of the storage target and the series it
 * gives: blockd's RPC latencies by method (blockd_get_rpc_stats), per-bdev IO
 * (bdev_get_iostat), per-reactor busy time and ratio (framework_get_reactors) and vhost
 * sessions (vhost_get_controllers). Every call shares one deadline; the first that misses
 * it ends the probe (a wedged or stopped blockd costs a scrape that deadline, no more). */
#ifndef BERTH_METRICS_TARGET_H
#define BERTH_METRICS_TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "metrics_text.h"

#define METRICS_MAX_REACTORS 64

/* What blockd answered; NULL members were not asked or not answered. */
struct target_sample {
	json_t *rpc_stats, *iostat, *reactors, *controllers;
};

/* Busy and idle ticks of each reactor at the previous scrape: the busy ratio is over the
 * time since (since blockd started, at the first scrape or after a target restart). */
struct reactor_history {
	uint64_t busy[METRICS_MAX_REACTORS], idle[METRICS_MAX_REACTORS];
	bool known[METRICS_MAX_REACTORS];
};

/* 0 when every call answered by the deadline (monotonic ms), else -errno of the first that
 * failed (-ETIMEDOUT: the deadline passed) with its reason in err. */
int metrics_target_probe(const char *rpc_socket, int64_t deadline, struct target_sample *out,
			 char *err, size_t errlen);
void metrics_target_sample_free(struct target_sample *s);

/* The target's families (each written even when empty, so a series' absence means what it
 * says). */
void metrics_target_write(struct prom *p, const struct target_sample *s,
			  struct reactor_history *h);

#endif

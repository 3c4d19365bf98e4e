/* rpc_stats.h — per-method counts and latencies of the clients' requests, and the method
 * that reports them, blockd_get_rpc_stats (what `berth up`'s metrics endpoint exports as
 * berth_blockd_rpc_duration_seconds). The table of requests in flight (rpc_inflight.c)
 * observes each request when it is answered, with the time from its arrival (an injected
 * delay included), or when its connection closes before an answer. Methods blockd does not
 * serve are counted under "other", so a client cannot grow the table. Control thread only. */
#ifndef BLOCKD_RPC_STATS_H
#define BLOCKD_RPC_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

/* Upper bounds of the latency buckets, in ns (the last bucket is everything above). */
#define RPC_STATS_BUCKETS 16

/* A request of method answered after latency_ns; failed: its answer was an error. */
void rpc_stats_answered(const char *method, uint64_t latency_ns, bool failed);
/* A request of method whose connection closed before it was answered. */
void rpc_stats_unanswered(const char *method);
/* {tick_rate, latency_bounds_ticks[], methods[{method, calls, errors, unanswered,
 *  latency_ticks, latency_buckets[]}]}: ticks are ns; latency_buckets are per bucket (not
 * cumulative), one more than the bounds (the last: above the highest bound). */
json_t *rpc_stats_json(void);
/* Forgets everything (tests). */
void rpc_stats_reset(void);

/* Registers blockd_get_rpc_stats. 0 or -ENOSPC. */
int rpc_stats_register(void);

#endif

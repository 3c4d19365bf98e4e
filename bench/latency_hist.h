/* latency_hist.h — a log-linear latency histogram for the target benchmark: values in
 * nanoseconds, about 3 % resolution (32 steps per power of two), fixed size, no allocation
 * on the recording path; merged across queues, then read as percentiles. */
#ifndef BENCH_LATENCY_HIST_H
#define BENCH_LATENCY_HIST_H

#include <stdint.h>

#define LHIST_BUCKETS (64 + 58 * 32)

struct lhist {
	uint64_t count;
	uint64_t b[LHIST_BUCKETS];
};

static inline unsigned lhist_bucket(uint64_t v)
{
	if (v < 64)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);      /* 6..63 */
	return 64u + (msb - 6u) * 32u + (unsigned)((v >> (msb - 5u)) - 32u);
}

static inline void lhist_add(struct lhist *h, uint64_t ns)
{
	h->b[lhist_bucket(ns)]++;
	h->count++;
}

void lhist_merge(struct lhist *into, const struct lhist *from);
/* The value (ns, a bucket's midpoint) below which fraction q (0..1) of the samples fall; 0
 * without samples. */
uint64_t lhist_quantile(const struct lhist *h, double q);

#endif

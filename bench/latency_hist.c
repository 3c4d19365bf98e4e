/* latency_hist.c — merging and percentiles of the benchmark's latency histogram (see
 * latency_hist.h). */
#include "latency_hist.h"

void lhist_merge(struct lhist *into, const struct lhist *from)
{
	for (unsigned i = 0; i < LHIST_BUCKETS; i++)
		into->b[i] += from->b[i];
	into->count += from->count;
}

static uint64_t bucket_mid(unsigned i)
{
	if (i < 64)
		return i;
	unsigned msb = (i - 64u) / 32u + 6u, sub = (i - 64u) % 32u + 32u;
	uint64_t lo = (uint64_t)sub << (msb - 5u);
	return lo + ((1ull << (msb - 5u)) >> 1);
}

uint64_t lhist_quantile(const struct lhist *h, double q)
{
	if (!h->count)
		return 0;
	uint64_t want = (uint64_t)(q * (double)h->count);
	if (want >= h->count)
		want = h->count - 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < LHIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > want)
			return bucket_mid(i);
	}
	return bucket_mid(LHIST_BUCKETS - 1);
}

/* backoff.h — capped exponential backoff for retrying something that failed: base, 2×base,
 * 4×base ... up to max, measured on the monotonic clock. Plain data, no threads. */
#ifndef BERTH_BACKOFF_H
#define BERTH_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

struct backoff {
	unsigned failures;
	int64_t next_ms;        /* monotonic ms before which no retry is due */
};

/* The delay after `failures` failures: base_ms × 2^failures, at most max_ms (the cap is the
 * caller's: diskengine's backoff_max, vmengine's launch retry cap). */
int64_t backoff_delay_ms(unsigned failures, int64_t base_ms, int64_t max_ms);
/* Records a failure at now_ms and returns the delay chosen. */
int64_t backoff_failed(struct backoff *b, int64_t now_ms, int64_t base_ms, int64_t max_ms);
void backoff_reset(struct backoff *b);
bool backoff_due(const struct backoff *b, int64_t now_ms);

#endif

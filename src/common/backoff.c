/* backoff.c — capped exponential backoff (see backoff.h). */
#include "backoff.h"

int64_t backoff_delay_ms(unsigned failures, int64_t base_ms, int64_t max_ms)
{
	int64_t delay = base_ms < max_ms ? base_ms : max_ms;
	for (unsigned i = 0; i < failures && delay < max_ms; i++)
		delay = delay <= max_ms / 2 ? delay * 2 : max_ms;
	return delay;
}

int64_t backoff_failed(struct backoff *b, int64_t now_ms, int64_t base_ms, int64_t max_ms)
{
	int64_t delay = backoff_delay_ms(b->failures, base_ms, max_ms);
	b->failures++;
	b->next_ms = now_ms + delay;
	return delay;
}

void backoff_reset(struct backoff *b)
{
	b->failures = 0;
	b->next_ms = 0;
}

bool backoff_due(const struct backoff *b, int64_t now_ms)
{
	return now_ms >= b->next_ms;
}

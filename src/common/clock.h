/* clock.h — the two clocks of Berth, by one name each. Wall-clock milliseconds are for what
 * is recorded and shown (vm.state, the store, status files, events); monotonic milliseconds
 * for every delay, deadline and backoff. */
#ifndef BERTH_CLOCK_H
#define BERTH_CLOCK_H

#include <stdint.h>
#include <time.h>

int64_t wall_ms(void);          /* CLOCK_REALTIME, ms since the epoch */
int64_t monotonic_ms(void);     /* CLOCK_MONOTONIC, ms */
/* CLOCK_MONOTONIC now + ms, as pthread_cond_timedwait takes it (on a condition whose clock
 * is CLOCK_MONOTONIC). */
struct timespec monotonic_after_ms(int64_t ms);

#endif

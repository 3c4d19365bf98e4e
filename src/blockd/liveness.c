/* liveness.c — blockd's loops as sd_notify_watchdog sees them (see liveness.h): one timed
 * poller "watchdog_beat" per thread (app_thread, reactor_0, ...), run every eighth of the
 * watchdog interval as part of that thread's iteration, which beats the thread's counter. */
#include "liveness.h"

#include "log.h"
#include "sd_notify_watchdog.h"

static int g_loops[BLOCKD_MAX_REACTORS + 1];

static int beat(void *arg)
{
	sdw_beat(*(int *)arg);
	return 0;
}

static int watch(struct reactor *r, int *slot, uint64_t period_ns)
{
	*slot = sdw_loop_add(reactor_name(r));
	if (*slot < 0 || !reactor_poller_register(r, "watchdog_beat", beat, slot, period_ns)) {
		log_error("blockd", "msg=\"cannot watch a thread for the watchdog\" thread=%s",
			  reactor_name(r));
		return -1;
	}
	return 0;
}

int liveness_register(struct blockd *bd)
{
	uint64_t period_ns = sdw_beat_period_ns();
	if (!period_ns)
		return 0;
	if (watch(bd->app, &g_loops[0], period_ns) < 0)
		return -1;
	for (unsigned i = 0; i < bd->num_reactors; i++)
		if (watch(bd->reactors[i], &g_loops[i + 1], period_ns) < 0)
			return -1;
	return 0;
}

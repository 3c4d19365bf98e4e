/* liveness.h — blockd under systemd's watchdog: a beat poller on the control thread and on
 * every IO reactor, so that sd_notify_watchdog's pings stop when any of them stops iterating
 * (a wedged RPC thread, a stuck reactor). Nothing is registered without a watchdog. */
#ifndef BLOCKD_LIVENESS_H
#define BLOCKD_LIVENESS_H

#include "blockd.h"

/* After the reactors started, before sdw_watchdog_start. 0, or -1 (logged). */
int liveness_register(struct blockd *bd);

#endif

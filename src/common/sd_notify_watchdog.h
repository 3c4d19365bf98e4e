/* sd_notify_watchdog.h — systemd's notify protocol for the daemons (Type=notify units):
 * READY=1 once the daemon serves, a one-line STATUS=, STOPPING=1 at shutdown, and WATCHDOG=1
 * pings sent by a thread of its own only while every loop the daemon registered has made
 * progress (beaten) since the last ping. Outside systemd (NOTIFY_SOCKET unset) every call
 * is a no-op and no thread is started; without WatchdogSec= (WATCHDOG_USEC unset) no pings
 * and no beats are asked for (sdw_beat_period_ns() is 0). */
#ifndef BERTH_SD_NOTIFY_WATCHDOG_H
#define BERTH_SD_NOTIFY_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>

#define SDW_MAX_LOOPS 32

/* Reads the environment once; who names the daemon in log lines. */
void sdw_init(const char *who);
bool sdw_enabled(void);                  /* NOTIFY_SOCKET is set */
/* How often a loop should beat at least (an eighth of the watchdog interval); 0 without a
 * watchdog (then loops need not beat, and nothing is registered for it). */
uint64_t sdw_beat_period_ns(void);

/* A loop the pings depend on, registered before sdw_watchdog_start: an index for sdw_beat,
 * or -1 (too many). */
int sdw_loop_add(const char *name);
/* Thread-safe, lock-free: the loop ran an iteration. */
void sdw_beat(int loop);

/* READY=1 with STATUS=<status>; STATUS= alone; STOPPING=1 with STATUS= (pings stop too). */
void sdw_ready(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sdw_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sdw_stopping(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Starts the pinging thread (only with NOTIFY_SOCKET and a watchdog): every quarter of the
 * interval it sends WATCHDOG=1 if every loop beat since the last ping; otherwise it sends
 * none, logs which loop is stalled and says so in STATUS=. 0, or -errno. */
int sdw_watchdog_start(void);
/* Stops and joins it (it wakes at once). */
void sdw_watchdog_stop(void);

#endif

/* sd_notify_watchdog.c — systemd's notify protocol and a progress-checked watchdog for the
 * daemons (see sd_notify_watchdog.h). sd_notify(3) of libsystemd sends the datagrams; the
 * pinging thread compares each registered loop's beat counter with its value at the last
 * ping, so a wedged loop (a control thread stuck in a call, a reactor that stopped iterating)
 * stops the pings and systemd restarts the daemon after WatchdogSec=. */
#include "sd_notify_watchdog.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-daemon.h>

#include "clock.h"
#include "log.h"

struct sdw_loop {
	char name[32];
	_Atomic uint64_t beats;
	uint64_t at_ping;          /* beats at the last ping: the pinging thread's */
};

static struct {
	const char *who;
	bool enabled;
	uint64_t watchdog_usec;
	struct sdw_loop loops[SDW_MAX_LOOPS];
	_Atomic int num_loops;
	pthread_mutex_t lock;      /* status, stop, the thread's wake-up */
	pthread_cond_t wake;
	char status[256];          /* the daemon's last STATUS=, restored after a stall */
	bool stop, stopping, running;
	pthread_t thread;
} g = { .who = "berth", .lock = PTHREAD_MUTEX_INITIALIZER };

void sdw_init(const char *who)
{
	g.who = who;
	const char *sock = getenv("NOTIFY_SOCKET");
	g.enabled = sock && sock[0];
	uint64_t usec = 0;
	if (g.enabled && sd_watchdog_enabled(0, &usec) > 0)
		g.watchdog_usec = usec;
}

bool sdw_enabled(void)
{
	return g.enabled;
}

uint64_t sdw_beat_period_ns(void)
{
	if (!g.enabled || !g.watchdog_usec)
		return 0;
	uint64_t ns = g.watchdog_usec * 1000ull / 8;
	return ns < 1000000ull ? 1000000ull : ns;
}

int sdw_loop_add(const char *name)
{
	int i = atomic_load(&g.num_loops);
	if (i >= SDW_MAX_LOOPS)
		return -1;
	snprintf(g.loops[i].name, sizeof(g.loops[i].name), "%s", name);
	atomic_store(&g.num_loops, i + 1);
	return i;
}

void sdw_beat(int loop)
{
	if (loop >= 0 && loop < SDW_MAX_LOOPS)
		atomic_fetch_add_explicit(&g.loops[loop].beats, 1, memory_order_relaxed);
}

static void notify(const char *state)
{
	if (!g.enabled)
		return;
	int rc = sd_notify(0, state);
	if (rc < 0)
		log_warn(g.who, "msg=\"sd_notify failed\" error=\"%s\"", strerror(-rc));
}

/* "<prefix>STATUS=<fmt...>", the status remembered. */
__attribute__((format(printf, 2, 0)))
static void notify_status(const char *prefix, const char *fmt, va_list ap)
{
	if (!g.enabled)
		return;
	char msg[320];
	pthread_mutex_lock(&g.lock);
	vsnprintf(g.status, sizeof(g.status), fmt, ap);
	for (char *p = g.status; *p; p++)
		if (*p == '\n')
			*p = ' ';                 /* one line */
	snprintf(msg, sizeof(msg), "%sSTATUS=%s", prefix, g.status);
	pthread_mutex_unlock(&g.lock);
	notify(msg);
}

void sdw_ready(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	notify_status("READY=1\n", fmt, ap);
	va_end(ap);
}

void sdw_status(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	notify_status("", fmt, ap);
	va_end(ap);
}

void sdw_stopping(const char *fmt, ...)
{
	pthread_mutex_lock(&g.lock);
	g.stopping = true;             /* no ping from now on */
	pthread_mutex_unlock(&g.lock);
	va_list ap;
	va_start(ap, fmt);
	notify_status("STOPPING=1\n", fmt, ap);
	va_end(ap);
}

/* The first loop without a beat since the last ping, or NULL when all made progress. */
static struct sdw_loop *stalled_loop(void)
{
	int n = atomic_load(&g.num_loops);
	for (int i = 0; i < n; i++)
		if (atomic_load_explicit(&g.loops[i].beats, memory_order_relaxed) ==
		    g.loops[i].at_ping)
			return &g.loops[i];
	return NULL;
}

static void *watchdog_main(void *arg)
{
	uint64_t check_ns = g.watchdog_usec * 1000ull / 4;
	int64_t last_ping_ms = monotonic_ms();
	bool stalled = false;
	pthread_mutex_lock(&g.lock);
	while (!g.stop) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		uint64_t ns = (uint64_t)until.tv_nsec + check_ns;
		until.tv_sec += (time_t)(ns / 1000000000ull);
		until.tv_nsec = (long)(ns % 1000000000ull);
		while (!g.stop && pthread_cond_timedwait(&g.wake, &g.lock, &until) != ETIMEDOUT)
			;
		if (g.stop || g.stopping)
			continue;
		struct sdw_loop *l = stalled_loop();
		char status[320];
		if (!l) {
			int n = atomic_load(&g.num_loops);
			for (int i = 0; i < n; i++)
				g.loops[i].at_ping = atomic_load(&g.loops[i].beats);
			last_ping_ms = monotonic_ms();
			snprintf(status, sizeof(status), "WATCHDOG=1%s%s", stalled ? "\nSTATUS=" : "",
				 stalled ? g.status : "");
			if (stalled)
				log_info(g.who, "msg=\"watchdog: every loop makes progress again\"");
			stalled = false;
		} else {
			double s = (double)(monotonic_ms() - last_ping_ms) / 1000.0;
			if (!stalled)
				log_warn(g.who, "msg=\"watchdog: a loop makes no progress; not pinging\" "
					 "loop=%s for_s=%.1f", l->name, s);
			stalled = true;
			snprintf(status, sizeof(status), "STATUS=watchdog withheld: %s has made no "
				 "progress for %.1f s", l->name, s);
		}
		pthread_mutex_unlock(&g.lock);
		notify(status);
		pthread_mutex_lock(&g.lock);
	}
	pthread_mutex_unlock(&g.lock);
	return arg;
}

int sdw_watchdog_start(void)
{
	if (!g.enabled || !g.watchdog_usec || g.running)
		return 0;
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&g.wake, &attr);
	pthread_condattr_destroy(&attr);
	int rc = pthread_create(&g.thread, NULL, watchdog_main, NULL);
	if (rc != 0) {
		log_error(g.who, "msg=\"cannot start the watchdog thread\" error=\"%s\"",
			  strerror(rc));
		return -rc;
	}
	g.running = true;
	log_info(g.who, "msg=\"watchdog armed\" interval_ms=%llu loops=%d",
		 (unsigned long long)(g.watchdog_usec / 1000), atomic_load(&g.num_loops));
	return 0;
}

void sdw_watchdog_stop(void)
{
	if (!g.running)
		return;
	pthread_mutex_lock(&g.lock);
	g.stop = true;
	pthread_cond_signal(&g.wake);
	pthread_mutex_unlock(&g.lock);
	pthread_join(g.thread, NULL);
	g.running = false;
}

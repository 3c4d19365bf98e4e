/* log.c — the logger of every Berth daemon: one line per event, written with a single
 * write(2) so that lines from several threads never interleave, stamped with the UTC time
 * unless the journal (which stamps it itself) or a terminal reads it. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int current_level = -1;
static _Atomic int timestamps = -1;          /* -1: not decided yet */

static const char *const level_names[] = { "debug", "info", "warn", "error" };

int log_parse_level(const char *s, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void log_set_level(enum log_level level)
{
	atomic_store(&current_level, (int)level);
}

enum log_level log_get_level(void)
{
	int level = atomic_load(&current_level);
	if (level < 0) {
		enum log_level parsed = LOG_INFO;
		const char *env = getenv("BERTH_LOG_LEVEL");
		if (env)
			log_parse_level(env, &parsed);
		level = (int)parsed;
		atomic_store(&current_level, level);
	}
	return (enum log_level)level;
}

void log_set_timestamps(bool on)
{
	atomic_store(&timestamps, on ? 1 : 0);
}

static bool want_timestamps(void)
{
	int t = atomic_load(&timestamps);
	if (t < 0) {
		t = !getenv("JOURNAL_STREAM") && !isatty(STDERR_FILENO);
		atomic_store(&timestamps, t);
	}
	return t;
}

/* "2026-12-02T05:10:03.123Z ", or "" when the clock cannot be read. */
static void format_time(char *out, size_t len)
{
	struct timespec ts;
	struct tm tm;
	out[0] = '\0';
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || !gmtime_r(&ts.tv_sec, &tm))
		return;
	char sec[32];
	if (strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return;
	snprintf(out, len, "%.19s.%03dZ ", sec, (int)(ts.tv_nsec / 1000000) % 1000);
}

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
{
	if (level < log_get_level())
		return;

	char stamp[40] = "";
	if (want_timestamps())
		format_time(stamp, sizeof(stamp));
	char line[2048];
	int n = snprintf(line, sizeof(line), "%s%s %s ", stamp, level_names[level], component);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;

	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;   /* truncated: still one line */
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

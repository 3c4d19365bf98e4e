/* log.c — the logger of every Berth daemon: one line per event, written with a single
 * write(2) so that lines from several threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static _Atomic int current_level = -1;

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

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
{
	if (level < log_get_level())
		return;

	char line[2048];
	int n = snprintf(line, sizeof(line), "%s %s ", level_names[level], component);
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

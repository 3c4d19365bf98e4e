/* log.h — one line per event, "[time] level component key=value ...", to stderr. */
#ifndef BERTH_LOG_H
#define BERTH_LOG_H

#include <stdbool.h>

/* LOG_OFF is a level to set, never one to log at: every message is dropped. */
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* Messages below this level are dropped (default LOG_INFO; BERTH_LOG_LEVEL=debug|info|warn|error
 * in the environment sets it at the first log call). */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
int log_parse_level(const char *s, enum log_level *out);
/* Whether each line starts with its UTC time ("2026-12-02T05:10:03.123Z "). By default yes,
 * unless stderr is the journal (JOURNAL_STREAM is set: journald adds the time) or a terminal. */
void log_set_timestamps(bool on);

/* fmt is the key=value part, e.g. log_msg(LOG_WARN, "blockd", "msg=\"bad request\" fd=%d", fd) */
void log_msg(enum log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_debug(comp, ...) log_msg(LOG_DEBUG, comp, __VA_ARGS__)
#define log_info(comp, ...)  log_msg(LOG_INFO, comp, __VA_ARGS__)
#define log_warn(comp, ...)  log_msg(LOG_WARN, comp, __VA_ARGS__)
#define log_error(comp, ...) log_msg(LOG_ERROR, comp, __VA_ARGS__)

#endif

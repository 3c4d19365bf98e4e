/* events.c — diskengine's event sink (see events.h). */
#include "events.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"

static int g_events_fd = -1;

void events_open(const char *root)
{
	char path[BERTH_PATH_LEN];
	paths_diskengine_events(path, sizeof(path), root);
	g_events_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

void event_emit(const char *level, const char *kind, json_t *fields)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	if (!fields)
		fields = json_object();
	json_object_set_new(fields, "event", json_string(kind));
	json_object_set_new(fields, "level", json_string(level));
	json_object_set_new(fields, "time_ms",
			    json_integer((json_int_t)tv.tv_sec * 1000 + tv.tv_usec / 1000));
	char *line = json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(fields);
	if (!line)
		return;
	enum log_level lv = !strcmp(level, "error") ? LOG_ERROR
			    : !strcmp(level, "warn") ? LOG_WARN : LOG_INFO;
	log_msg(lv, "diskengine", "event=%s %s", kind, line);
	if (g_events_fd >= 0) {
		size_t len = strlen(line);
		line[len] = '\n';
		if (write(g_events_fd, line, len + 1) < 0)
			log_warn("diskengine", "msg=\"cannot append to events.jsonl\"");
	}
	free(line);
}

/* events.h — what diskengine tells operators: one log line, and one JSON line appended to
 * <root>/diskengine/events.jsonl (a single O_APPEND write, so both loops append without a
 * lock). The store's events table takes this role later; `berth doctor` reads it. */
#ifndef DISKENGINE_EVENTS_H
#define DISKENGINE_EVENTS_H

#include <jansson.h>

void events_open(const char *root);
/* kind: "volume_created", "wedge", ...; fields (stolen) hold the details. */
void event_emit(const char *level, const char *kind, json_t *fields);

#endif

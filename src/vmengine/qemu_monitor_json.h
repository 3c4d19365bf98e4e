/* qemu_monitor_json.h — the JSON side of the QEMU monitor (qemu_monitor.h): command arguments
 * built, replies and events parsed into the monitor's types. Pure functions: no socket, no
 * global state, no logging, so every case is unit-testable.
 *
 * Replies are checked strictly: a reply that is not what the command returns (not an object,
 * a member missing or of the wrong type) is -EBADMSG with err saying which, never a guess.
 * Events are taken as long as they name themselves: a data member missing or of the wrong
 * type leaves that field at its default, because a SHUTDOWN with an odd reason is still a
 * SHUTDOWN. Unknown enum strings map to the UNKNOWN values. */
#ifndef VMENGINE_QEMU_MONITOR_JSON_H
#define VMENGINE_QEMU_MONITOR_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "qemu_monitor.h"

/* QEMU's spelling of s; "unknown" for QEMU_RUN_STATE_UNKNOWN or a value out of range. */
const char *qemu_monitor_json_run_state_name(enum qemu_run_state s);
/* The run state QEMU spells name; QEMU_RUN_STATE_UNKNOWN for NULL or an unknown string. */
enum qemu_run_state qemu_monitor_json_run_state_parse(const char *name);

const char *qemu_monitor_json_migration_status_name(enum qemu_migration_status s);
enum qemu_migration_status qemu_monitor_json_migration_status_parse(const char *name);

/* query-status's return value ({"status": "running", "running": true, ...}) into *state.
 * 0, or -EBADMSG with err set (ret NULL or not an object, "status" missing or not a
 * string). */
int qemu_monitor_json_parse_status(const json_t *ret, enum qemu_run_state *state, char *err,
				   size_t errlen);

/* query-migrate's return value into *status: {} (no migration yet) is QEMU_MIGRATION_NONE.
 * 0, or -EBADMSG with err set (not an object, "status" not a string). */
int qemu_monitor_json_parse_migrate_info(const json_t *ret, enum qemu_migration_status *status,
					 char *err, size_t errlen);

/* query-migrate's return value in full (qemu_monitor.h's struct qemu_migrate_info): {} is
 * QEMU_MIGRATION_NONE; "ram" read when it is an object; "blocked-reasons" (a list of
 * strings) joined. -EBADMSG with err set as for parse_migrate_info, or when a present "ram"
 * member or a number of it, or "blocked-reasons", has the wrong type. */
int qemu_monitor_json_parse_migrate_full(const json_t *ret, struct qemu_migrate_info *info,
					 char *err, size_t errlen);

/* migrate-set-capabilities' arguments for one capability, a new reference; NULL when the
 * name is NULL or empty. */
json_t *qemu_monitor_json_capability_args(const char *capability, bool on);

/* migrate's (and migrate-incoming's) arguments ({"uri": uri}), a new reference; NULL when uri is NULL or empty, or on
 * ENOMEM. */
json_t *qemu_monitor_json_migrate_args(const char *uri);

/* query-chardev's return value (a list of {"label", "filename", "frontend-open"}): the
 * character device `label` into *info. Its connection is read from "filename": QEMU 7.2 prefixes
 * a socket chardev's filename with "disconnected:" while it has no peer ("frontend-open"
 * stays true for a vhost-user device whose backend went away). 0; -ENOENT when no chardev
 * has that label; -EBADMSG with err set (not a list, an entry without a string "label" or
 * "filename"). */
int qemu_monitor_json_parse_chardev(const json_t *ret, const char *label,
				    struct qemu_chardev_info *info, char *err, size_t errlen);

/* An event object ({"event": "SHUTDOWN", "data": {...}, "timestamp": {...}}) into *ev (all of
 * it set). 0, or -EBADMSG with err set when ev is not an object or has no string "event". */
int qemu_monitor_json_parse_event(const json_t *event, struct qemu_monitor_event *ev,
				  char *err, size_t errlen);

#endif

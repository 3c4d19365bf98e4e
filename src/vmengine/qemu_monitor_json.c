/* qemu_monitor_json.c — QMP arguments built and replies/events parsed for the QEMU monitor
 * (see qemu_monitor_json.h). Pure functions over jansson values. */
#include "qemu_monitor_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

static const char *const run_state_names[QEMU_RUN_STATE__MAX] = {
	[QEMU_RUN_STATE_UNKNOWN] = "unknown",
	[QEMU_RUN_STATE_DEBUG] = "debug",
	[QEMU_RUN_STATE_INMIGRATE] = "inmigrate",
	[QEMU_RUN_STATE_INTERNAL_ERROR] = "internal-error",
	[QEMU_RUN_STATE_IO_ERROR] = "io-error",
	[QEMU_RUN_STATE_PAUSED] = "paused",
	[QEMU_RUN_STATE_POSTMIGRATE] = "postmigrate",
	[QEMU_RUN_STATE_PRELAUNCH] = "prelaunch",
	[QEMU_RUN_STATE_FINISH_MIGRATE] = "finish-migrate",
	[QEMU_RUN_STATE_RESTORE_VM] = "restore-vm",
	[QEMU_RUN_STATE_RUNNING] = "running",
	[QEMU_RUN_STATE_SAVE_VM] = "save-vm",
	[QEMU_RUN_STATE_SHUTDOWN] = "shutdown",
	[QEMU_RUN_STATE_SUSPENDED] = "suspended",
	[QEMU_RUN_STATE_WATCHDOG] = "watchdog",
	[QEMU_RUN_STATE_GUEST_PANICKED] = "guest-panicked",
	[QEMU_RUN_STATE_COLO] = "colo",
	[QEMU_RUN_STATE_PRECONFIG] = "preconfig",
};

static const char *const migration_names[QEMU_MIGRATION__MAX] = {
	[QEMU_MIGRATION_UNKNOWN] = "unknown",
	[QEMU_MIGRATION_NONE] = "none",
	[QEMU_MIGRATION_SETUP] = "setup",
	[QEMU_MIGRATION_CANCELLING] = "cancelling",
	[QEMU_MIGRATION_CANCELLED] = "cancelled",
	[QEMU_MIGRATION_ACTIVE] = "active",
	[QEMU_MIGRATION_POSTCOPY_ACTIVE] = "postcopy-active",
	[QEMU_MIGRATION_POSTCOPY_PAUSED] = "postcopy-paused",
	[QEMU_MIGRATION_POSTCOPY_RECOVER] = "postcopy-recover",
	[QEMU_MIGRATION_COMPLETED] = "completed",
	[QEMU_MIGRATION_FAILED] = "failed",
	[QEMU_MIGRATION_COLO] = "colo",
	[QEMU_MIGRATION_PRE_SWITCHOVER] = "pre-switchover",
	[QEMU_MIGRATION_DEVICE] = "device",
	[QEMU_MIGRATION_WAIT_UNPLUG] = "wait-unplug",
};

/* Index of name in names[1..n-1] (0, the UNKNOWN slot, when absent). */
static int lookup(const char *const *names, int n, const char *name)
{
	if (!name)
		return 0;
	for (int i = 1; i < n; i++)
		if (names[i] && !strcmp(names[i], name))
			return i;
	return 0;
}

const char *qemu_monitor_json_run_state_name(enum qemu_run_state s)
{
	return (int)s > 0 && s < QEMU_RUN_STATE__MAX ? run_state_names[s] : "unknown";
}

enum qemu_run_state qemu_monitor_json_run_state_parse(const char *name)
{
	return (enum qemu_run_state)lookup(run_state_names, QEMU_RUN_STATE__MAX, name);
}

const char *qemu_monitor_json_migration_status_name(enum qemu_migration_status s)
{
	return (int)s > 0 && s < QEMU_MIGRATION__MAX ? migration_names[s] : "unknown";
}

enum qemu_migration_status qemu_monitor_json_migration_status_parse(const char *name)
{
	return (enum qemu_migration_status)lookup(migration_names, QEMU_MIGRATION__MAX, name);
}

static int bad(char *err, size_t errlen, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", what);
	return -EBADMSG;
}

int qemu_monitor_json_parse_status(const json_t *ret, enum qemu_run_state *state, char *err,
				   size_t errlen)
{
	*state = QEMU_RUN_STATE_UNKNOWN;
	if (!json_is_object(ret))
		return bad(err, errlen, "query-status: the reply is not an object");
	const json_t *status = json_object_get(ret, "status");
	if (!status)
		return bad(err, errlen, "query-status: no \"status\" in the reply");
	if (!json_is_string(status))
		return bad(err, errlen, "query-status: \"status\" is not a string");
	*state = qemu_monitor_json_run_state_parse(json_string_value(status));
	return 0;
}

int qemu_monitor_json_parse_migrate_info(const json_t *ret, enum qemu_migration_status *status,
					 char *err, size_t errlen)
{
	*status = QEMU_MIGRATION_UNKNOWN;
	if (!json_is_object(ret))
		return bad(err, errlen, "query-migrate: the reply is not an object");
	const json_t *s = json_object_get(ret, "status");
	if (!s) {
		*status = QEMU_MIGRATION_NONE;   /* QEMU's answer before any migration */
		return 0;
	}
	if (!json_is_string(s))
		return bad(err, errlen, "query-migrate: \"status\" is not a string");
	*status = qemu_monitor_json_migration_status_parse(json_string_value(s));
	return 0;
}

/* A non-negative integer member: 0 absent (*out untouched), 1 read, -1 wrong type. */
static int get_uint(const json_t *obj, const char *key, uint64_t *out)
{
	const json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 1;
}

static int get_ms(const json_t *obj, const char *key, int64_t *out)
{
	uint64_t v;
	int rc = get_uint(obj, key, &v);
	if (rc == 1)
		*out = v > INT64_MAX ? INT64_MAX : (int64_t)v;
	return rc;
}

int qemu_monitor_json_parse_migrate_full(const json_t *ret, struct qemu_migrate_info *info,
					 char *err, size_t errlen)
{
	*info = (struct qemu_migrate_info){ .total_time_ms = -1, .downtime_ms = -1,
					    .setup_time_ms = -1 };
	int rc = qemu_monitor_json_parse_migrate_info(ret, &info->status, err, errlen);
	if (rc < 0)
		return rc;
	if (get_ms(ret, "total-time", &info->total_time_ms) < 0 ||
	    get_ms(ret, "downtime", &info->downtime_ms) < 0 ||
	    get_ms(ret, "setup-time", &info->setup_time_ms) < 0)
		return bad(err, errlen, "query-migrate: a time is not a non-negative integer");
	const json_t *ram = json_object_get(ret, "ram");
	if (ram) {
		if (!json_is_object(ram))
			return bad(err, errlen, "query-migrate: \"ram\" is not an object");
		if (get_uint(ram, "transferred", &info->ram_transferred) < 0 ||
		    get_uint(ram, "remaining", &info->ram_remaining) < 0 ||
		    get_uint(ram, "total", &info->ram_total) < 0)
			return bad(err, errlen, "query-migrate: a \"ram\" number is not a "
				   "non-negative integer");
		info->has_ram = true;
	}
	const json_t *blocked = json_object_get(ret, "blocked-reasons");
	if (blocked) {
		if (!json_is_array(blocked))
			return bad(err, errlen, "query-migrate: \"blocked-reasons\" is not a list");
		size_t i, used = 0;
		const json_t *r;
		json_array_foreach(blocked, i, r) {
			const char *text = json_string_value(r);
			if (!text)
				return bad(err, errlen, "query-migrate: a blocked reason is not a "
					   "string");
			int n = snprintf(info->blocked + used, sizeof(info->blocked) - used, "%s%s",
					 used ? "; " : "", text);
			used = n < 0 ? used : used + (size_t)n >= sizeof(info->blocked)
						       ? sizeof(info->blocked) - 1 : used + (size_t)n;
		}
	}
	const char *desc = json_string_value(json_object_get(ret, "error-desc"));
	snprintf(info->error, sizeof(info->error), "%s", desc ? desc : "");
	return 0;
}

json_t *qemu_monitor_json_capability_args(const char *capability, bool on)
{
	if (!capability || !capability[0])
		return NULL;
	return json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability", capability, "state",
			 on);
}

json_t *qemu_monitor_json_migrate_args(const char *uri)
{
	if (!uri || !uri[0])
		return NULL;
	return json_pack("{s:s}", "uri", uri);
}

int qemu_monitor_json_parse_chardev(const json_t *ret, const char *label,
				    struct qemu_chardev_info *info, char *err, size_t errlen)
{
	*info = (struct qemu_chardev_info){ 0 };
	if (!json_is_array(ret))
		return bad(err, errlen, "query-chardev: the reply is not a list");
	size_t i;
	const json_t *dev;
	json_array_foreach(ret, i, dev) {
		const char *l = json_string_value(json_object_get(dev, "label"));
		const char *f = json_string_value(json_object_get(dev, "filename"));
		if (!l || !f)
			return bad(err, errlen, "query-chardev: an entry without a string "
				   "\"label\" and \"filename\"");
		if (!label || strcmp(l, label))
			continue;
		info->connected = strncmp(f, "disconnected:", 13) != 0;
		info->frontend_open = json_is_true(json_object_get(dev, "frontend-open"));
		return 0;
	}
	if (err && errlen)
		snprintf(err, errlen, "query-chardev: no chardev \"%s\"", label ? label : "");
	return -ENOENT;
}

static const struct {
	const char *name;
	enum qemu_monitor_event_kind kind;
} event_kinds[] = {
	{ "SHUTDOWN", QEMU_EVENT_SHUTDOWN },
	{ "GUEST_PANICKED", QEMU_EVENT_GUEST_PANICKED },
	{ "STOP", QEMU_EVENT_STOP },
	{ "RESUME", QEMU_EVENT_RESUME },
	{ "MIGRATION", QEMU_EVENT_MIGRATION },
};

int qemu_monitor_json_parse_event(const json_t *event, struct qemu_monitor_event *ev,
				  char *err, size_t errlen)
{
	*ev = (struct qemu_monitor_event){ .kind = QEMU_EVENT_OTHER };
	if (!json_is_object(event))
		return bad(err, errlen, "event: not an object");
	const char *name = json_string_value(json_object_get(event, "event"));
	if (!name)
		return bad(err, errlen, "event: no string \"event\"");
	snprintf(ev->name, sizeof(ev->name), "%s", name);
	for (size_t i = 0; i < sizeof(event_kinds) / sizeof(event_kinds[0]); i++)
		if (!strcmp(name, event_kinds[i].name))
			ev->kind = event_kinds[i].kind;
	const json_t *data = json_object_get(event, "data");   /* NULL unless an object */
	switch (ev->kind) {
	case QEMU_EVENT_SHUTDOWN: {
		const char *reason = json_string_value(json_object_get(data, "reason"));
		snprintf(ev->shutdown_reason, sizeof(ev->shutdown_reason), "%s",
			 reason ? reason : "");
		ev->shutdown_guest = json_is_true(json_object_get(data, "guest"));
		break;
	}
	case QEMU_EVENT_MIGRATION:
		ev->migration_status = qemu_monitor_json_migration_status_parse(
			json_string_value(json_object_get(data, "status")));
		break;
	default:
		break;
	}
	return 0;
}

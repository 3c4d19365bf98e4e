/* daemon_status.c — what `berth status` says of each daemon: the supervisor's record
 * (run/supervisor.json) for the daemons it runs, and for the others whether a process holds
 * the daemon's lock on the root (run/<daemon>.lock, daemon_lock.h) — a daemon started by
 * hand is running, not "down". The metrics endpoint ([metrics] listen) only when it runs or
 * the supervisor runs it. */
#include <string.h>

#include "cli.h"
#include "daemon_lock.h"

static json_t *supervised_entry(json_t *state, const char *name)
{
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(state, "daemons"), i, d)
		if (!strcmp(json_string_value(json_object_get(d, "name")) ?: "", name))
			return d;
	return NULL;
}

json_t *cli_daemons_status(struct cli *c, json_t *state)
{
	static const char *const names[] = { "blockd", "diskengine", "vmengine", "metrics" };
	json_t *out = json_array();
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		json_t *d = state ? supervised_entry(state, names[i]) : NULL;
		/* The metrics endpoint is listed only where it runs or is configured to. */
		if (!strcmp(names[i], "metrics") && !d && daemon_lock_holder(c->root, names[i]) < 0)
			continue;
		json_int_t pid = d ? json_integer_value(json_object_get(d, "pid")) : 0;
		if (d && pid > 0) {
			json_t *e = json_deep_copy(d);
			json_object_set_new(e, "running", json_true());
			json_object_set_new(e, "supervised", json_true());
			json_array_append_new(out, e);
			continue;
		}
		/* Not running under the supervisor: whoever holds its lock runs it. */
		int holder = daemon_lock_holder(c->root, names[i]);
		json_t *e = d ? json_deep_copy(d) : json_pack("{s:s}", "name", names[i]);
		json_object_set_new(e, "pid", json_integer(holder > 0 ? holder : 0));
		json_object_set_new(e, "running", json_boolean(holder >= 0));
		json_object_set_new(e, "supervised", json_false());
		json_array_append_new(out, e);
	}
	return out;
}

/* rpc_config.c — save_config's registry: each subsystem (bdev, vhost_blk ...) registers a
 * writer of its {"method", "params"} entries; the snapshot lists subsystems in registration
 * order. Used by the save_config method and by persistence, with the lookups the dispatcher
 * and the modules' undo need (an object's entry; the configuration without it). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "rpc.h"

static struct {
	const char *subsystem;
	rpc_config_writer write;
	void *arg;
} g_writers[RPC_MAX_CONFIG_WRITERS];
static unsigned g_num_writers;

int rpc_register_config(const char *subsystem, rpc_config_writer write, void *arg)
{
	for (unsigned i = 0; i < g_num_writers; i++)
		if (strcmp(g_writers[i].subsystem, subsystem) == 0)
			return 0;
	if (g_num_writers == RPC_MAX_CONFIG_WRITERS)
		return -ENOSPC;
	g_writers[g_num_writers].subsystem = subsystem;
	g_writers[g_num_writers].write = write;
	g_writers[g_num_writers].arg = arg;
	g_num_writers++;
	return 0;
}

json_t *rpc_config_snapshot(void)
{
	json_t *subsystems = json_array();
	if (!subsystems)
		return NULL;
	for (unsigned i = 0; i < g_num_writers; i++) {
		json_t *config = json_array();
		if (config)
			g_writers[i].write(config, g_writers[i].arg);
		json_t *sub = json_pack("{s:s, s:o}", "subsystem", g_writers[i].subsystem,
					"config", config);
		if (!sub) {
			json_decref(subsystems);
			return NULL;
		}
		json_array_append_new(subsystems, sub);
	}
	return json_pack("{s:o}", "subsystems", subsystems);
}

const char *rpc_config_object_name(const json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	return name ? name : json_string_value(json_object_get(params, "ctrlr"));
}

static bool entry_is(const json_t *entry, const char *method, const char *name)
{
	const char *m = json_string_value(json_object_get(entry, "method"));
	const char *n = rpc_config_object_name(json_object_get(entry, "params"));
	return n && strcmp(n, name) == 0 && (!method || (m && strcmp(m, method) == 0));
}

const json_t *rpc_config_find(const json_t *config, const char *method, const char *name)
{
	size_t i, j;
	json_t *sub, *entry;
	json_array_foreach(json_object_get(config, "subsystems"), i, sub)
		json_array_foreach(json_object_get(sub, "config"), j, entry)
			if (entry_is(entry, method, name))
				return json_object_get(entry, "params");
	return NULL;
}

/* True when v is name, or an array holding name. */
static bool names(const json_t *v, const char *name)
{
	if (json_is_string(v))
		return strcmp(json_string_value(v), name) == 0;
	size_t i;
	json_t *x;
	json_array_foreach(v, i, x)
		if (json_is_string(x) && strcmp(json_string_value(x), name) == 0)
			return true;
	return false;
}

bool rpc_config_referenced(const json_t *config, const char *name)
{
	if (!name)
		return false;
	size_t i, j;
	json_t *sub, *entry;
	json_array_foreach(json_object_get(config, "subsystems"), i, sub) {
		json_array_foreach(json_object_get(sub, "config"), j, entry) {
			const json_t *params = json_object_get(entry, "params");
			const char *key;
			json_t *v;
			json_object_foreach((json_t *)params, key, v)
				if (strcmp(key, "name") && strcmp(key, "ctrlr") && strcmp(key, "uuid") &&
				    names(v, name))
					return true;
		}
	}
	return false;
}

json_t *rpc_config_without(const json_t *config, const char *name)
{
	if (!name || !rpc_config_find(config, NULL, name))
		return NULL;
	json_t *copy = json_deep_copy(config);
	size_t i;
	json_t *sub;
	json_array_foreach(json_object_get(copy, "subsystems"), i, sub) {
		json_t *entries = json_object_get(sub, "config");
		for (size_t j = json_array_size(entries); j-- > 0;)
			if (entry_is(json_array_get(entries, j), NULL, name))
				json_array_remove(entries, j);
	}
	return copy;
}

/* config.c — parsing of diskengine's [diskengine] configuration section (see config.h). */
#include "config.h"

#include "conf.h"
#include "jsonrpc_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In enum order. */
static const char *const g_layouts[] = { "raid1", "raid0", "single", NULL };
static const char *const g_wedge_actions[] = { "report", "restart-target", NULL };

const char *volume_layout_name(enum volume_layout l)
{
	return g_layouts[l];
}

int volume_layout_parse(const char *name, enum volume_layout *out)
{
	int i;
	if (conf_parse_choice(name, g_layouts, &i) < 0)
		return -EINVAL;
	*out = (enum volume_layout)i;
	return 0;
}

unsigned volume_layout_bases(enum volume_layout l)
{
	return l == LAYOUT_SINGLE ? 1 : 2;
}

static int set_key(void *obj, const char *key, const char *v)
{
	struct diskengine_config *c = obj;
	int rc = paths_target_set_key(&c->target, key, v);
	if (rc != -ENOENT)
		return rc;
	if (!strcmp(key, "volumes_dir"))
		return v[0] == '/' ? conf_copy_string(c->volumes_dir, sizeof(c->volumes_dir), v)
				   : -EINVAL;
	if (!strcmp(key, "rpc_timeout"))
		return conf_parse_seconds(v, 0.05, 3600, &c->rpc_timeout_ms);
	if (!strcmp(key, "tick"))
		return conf_parse_seconds(v, 0.01, 3600, &c->tick_ms);
	if (!strcmp(key, "backoff_max"))
		return conf_parse_seconds(v, 0.01, 3600, &c->backoff_max_ms);
	if (!strcmp(key, "wedge_after"))
		return conf_parse_seconds(v, 0, 86400, &c->wedge_after_ms);
	if (!strcmp(key, "max_calls_in_flight")) {
		char *end;
		unsigned long n = strtoul(v, &end, 10);
		if (*end || !*v || n < 1 || n > 64)
			return -EINVAL;
		c->max_calls_in_flight = (unsigned)n;
		return 0;
	}
	if (!strcmp(key, "restart_target_command"))
		return conf_copy_string(c->restart_target_command, sizeof(c->restart_target_command), v);
	int choice;
	if (!strcmp(key, "wedge_action")) {
		if (conf_parse_choice(v, g_wedge_actions, &choice) < 0)
			return -EINVAL;
		c->wedge_action = (enum wedge_action)choice;
		return 0;
	}
	if (!strcmp(key, "layout"))
		return volume_layout_parse(v, &c->layout);
	if (!strcmp(key, "strip_size_kb")) {
		char *end;
		unsigned long kb = strtoul(v, &end, 10);
		if (*end || !*v || kb < 4 || kb > 1024 || (kb & (kb - 1)))
			return -EINVAL;
		c->strip_size_kb = (uint32_t)kb;
		return 0;
	}
	if (!strcmp(key, "desired_source"))
		return conf_parse_desired_source(v, &c->desired_from_dir);
	return -ENOENT;
}

int diskengine_config_load(struct diskengine_config *c, const char *root, const char *path,
			   char *err, size_t errlen)
{
	*c = (struct diskengine_config){
		.rpc_timeout_ms = JRPC_DEFAULT_TIMEOUT_MS, .tick_ms = 1000, .backoff_max_ms = 30000,
		.wedge_after_ms = 300000, .max_calls_in_flight = 4,
		.wedge_action = WEDGE_REPORT, .layout = LAYOUT_RAID1,
		.strip_size_kb = 64,
	};
	if (conf_copy_string(c->root, sizeof(c->root), root) < 0 ||
	    paths_target_defaults(&c->target, root) < 0 ||
	    paths_volumes_dir(c->volumes_dir, sizeof(c->volumes_dir), root) < 0) {
		snprintf(err, errlen, "root path too long");
		return -EINVAL;
	}
	return conf_load_section(path, "diskengine", set_key, c, err, errlen);
}

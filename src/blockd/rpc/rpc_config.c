/* rpc_config.c — save_config's registry: each subsystem (bdev, vhost_blk ...) registers a
 * writer of its {"method", "params"} entries; the snapshot lists subsystems in registration
 * order. Used by the save_config method and by persistence. */
#include <errno.h>
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

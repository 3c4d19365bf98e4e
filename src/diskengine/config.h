/* config.h — diskengine's host configuration: the [diskengine] section of <root>/berth.conf
 * (INI, read with inih). Every key is optional; a bad value is an error naming the key. */
#ifndef DISKENGINE_CONFIG_H
#define DISKENGINE_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "paths.h"

enum volume_layout { LAYOUT_RAID1, LAYOUT_RAID0, LAYOUT_SINGLE };
enum wedge_action { WEDGE_REPORT, WEDGE_RESTART_TARGET };

struct diskengine_config {
	char root[PATH_MAX];
	struct target_endpoints target;  /* rpc_socket, vhost_dir (where exports appear) */
	char volumes_dir[PATH_MAX];    /* volumes_dir = <root>/volumes: the base files (shared
					* by two hosts on shared storage) */
	uint64_t rpc_timeout_ms;       /* rpc_timeout = 30 (s) */
	uint64_t tick_ms;              /* tick = 1 (s) */
	uint64_t backoff_max_ms;       /* backoff_max = 30 (s) */
	uint64_t wedge_after_ms;       /* wedge_after = 300 (s) */
	unsigned max_calls_in_flight;  /* max_calls_in_flight = 4: each loop's workers */
	enum wedge_action wedge_action;           /* wedge_action = report | restart-target */
	char restart_target_command[PATH_MAX];    /* run (sh -c) when restart-target fires */
	enum volume_layout layout;     /* layout = raid1 | raid0 | single */
	uint32_t strip_size_kb;        /* strip_size_kb = 64 (raid0) */
	bool desired_from_dir;         /* desired_source = store | dir (tests, tools) */
};

int diskengine_config_load(struct diskengine_config *c, const char *root, const char *path,
			   char *err, size_t errlen);

const char *volume_layout_name(enum volume_layout l);
/* "raid1", "raid0", "single". 0 or -EINVAL. */
int volume_layout_parse(const char *name, enum volume_layout *out);
unsigned volume_layout_bases(enum volume_layout l);

#endif

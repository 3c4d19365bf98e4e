/* config.c — parsing of vmengine's [vmengine] configuration section (see config.h). */
#include "config.h"

#include "conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const g_accels[] = { "tcg", "kvm", NULL };

static int set_key(void *obj, const char *key, const char *v)
{
	struct vmengine_config *c = obj;
	int choice;
	if (!strcmp(key, "qemu"))
		return conf_copy_string(c->qemu, sizeof(c->qemu), v);
	if (!strcmp(key, "accel"))
		return conf_parse_choice(v, g_accels, &choice) < 0
			       ? -EINVAL : conf_copy_string(c->accel, sizeof(c->accel), v);
	if (!strcmp(key, "machine"))
		return conf_copy_string(c->machine, sizeof(c->machine), v);
	if (!strcmp(key, "tick"))
		return conf_parse_seconds(v, 0.01, 3600, &c->tick_ms);
	if (!strcmp(key, "powerdown_grace"))
		return conf_parse_seconds(v, 0, 86400, &c->powerdown_grace_ms);
	if (!strcmp(key, "quit_grace"))
		return conf_parse_seconds(v, 0, 86400, &c->quit_grace_ms);
	if (!strcmp(key, "term_grace"))
		return conf_parse_seconds(v, 0, 86400, &c->term_grace_ms);
	if (!strcmp(key, "qmp_timeout"))
		return conf_parse_seconds(v, 0.01, 3600, &c->qmp_timeout_ms);
	if (!strcmp(key, "launch_timeout"))
		return conf_parse_seconds(v, 0.1, 3600, &c->launch_timeout_ms);
	if (!strcmp(key, "target_restart_policy")) {
		return target_restart_policy_parse(v, &c->target_restart_policy);
	}
	if (!strcmp(key, "desired_source"))
		return conf_parse_desired_source(v, &c->desired_from_dir);
	return -ENOENT;
}

int vmengine_config_load(struct vmengine_config *c, const char *root, const char *path,
			 char *err, size_t errlen)
{
	*c = (struct vmengine_config){
		.tick_ms = 1000,
		.powerdown_grace_ms = 30000,
		.quit_grace_ms = 10000,
		.term_grace_ms = 10000,
		.qmp_timeout_ms = 5000,
		.launch_timeout_ms = 30000,
		.target_restart_policy = TARGET_RESTART_RECONNECT,
	};
	snprintf(c->qemu, sizeof(c->qemu), "qemu-system-x86_64");
	snprintf(c->accel, sizeof(c->accel), "tcg");
	snprintf(c->machine, sizeof(c->machine), "pc");
	if (conf_copy_string(c->root, sizeof(c->root), root) < 0) {
		snprintf(err, errlen, "root path too long");
		return -EINVAL;
	}
	return conf_load_section(path, "vmengine", set_key, c, err, errlen);
}

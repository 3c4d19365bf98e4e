/* config.c — parsing of vmengine's [vmengine] configuration section (see config.h). */
#include "config.h"

#include "conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const g_accels[] = { "tcg", "kvm", NULL };
static const char *const g_failures[] = { "resume-source", "restart-on-destination", NULL };
static const char *const g_backends[] = { "memfd", "memfd-hugetlb", NULL };

static int parse_count(const char *v, unsigned long lo, unsigned long hi, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || n < lo || n > hi)
		return -EINVAL;
	*out = (unsigned)n;
	return 0;
}

uint64_t vmengine_migrate_timeout_ms(const struct vmengine_config *c, unsigned memory_mb)
{
	if (c->migrate_timeout_ms)
		return c->migrate_timeout_ms;
	return 60000 + (uint64_t)memory_mb * 20000 / 1024;
}

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
	if (!strcmp(key, "migrate_progress_timeout"))
		return conf_parse_seconds(v, 0.1, 86400, &c->migrate_progress_timeout_ms);
	if (!strcmp(key, "migrate_timeout"))
		return !strcmp(v, "auto") ? (c->migrate_timeout_ms = 0, 0)
					  : conf_parse_seconds(v, 0.1, 86400, &c->migrate_timeout_ms);
	if (!strcmp(key, "migrate_switchover_timeout"))
		return conf_parse_seconds(v, 0.1, 86400, &c->migrate_switchover_timeout_ms);
	if (!strcmp(key, "migrate_cancel_timeout"))
		return conf_parse_seconds(v, 0.1, 3600, &c->migrate_cancel_timeout_ms);
	if (!strcmp(key, "migrate_failure")) {
		if (conf_parse_choice(v, g_failures, &choice) < 0)
			return -EINVAL;
		c->migrate_failure = (enum migrate_failure)choice;
		return 0;
	}
	if (!strcmp(key, "max_memory_mb"))
		return parse_count(v, 64, 1u << 30, &c->max_memory_mb);
	if (!strcmp(key, "max_vcpus"))
		return parse_count(v, 1, 1024, &c->max_vcpus);
	if (!strcmp(key, "memory_backend"))
		return conf_parse_choice(v, g_backends, &choice) < 0
			       ? -EINVAL
			       : conf_copy_string(c->memory_backend, sizeof(c->memory_backend), v);
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
		.migrate_progress_timeout_ms = 30000,
		.migrate_switchover_timeout_ms = 10000,
		.migrate_cancel_timeout_ms = 10000,
		.max_vcpus = 64,
	};
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
	uint64_t mem_mb = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page >> 20 : 0;
	c->max_memory_mb = mem_mb > UINT32_MAX ? UINT32_MAX : (unsigned)mem_mb;
	snprintf(c->memory_backend, sizeof(c->memory_backend), "memfd");
	snprintf(c->qemu, sizeof(c->qemu), "qemu-system-x86_64");
	snprintf(c->accel, sizeof(c->accel), "tcg");
	snprintf(c->machine, sizeof(c->machine), "pc");
	if (conf_copy_string(c->root, sizeof(c->root), root) < 0) {
		snprintf(err, errlen, "root path too long");
		return -EINVAL;
	}
	return conf_load_section(path, "vmengine", set_key, c, err, errlen);
}

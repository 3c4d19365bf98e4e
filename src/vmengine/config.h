/* config.h — vmengine's host configuration: the [vmengine] section of <root>/berth.conf
 * (INI, read with inih). Every key is optional; a bad value is an error that names the key. */
#ifndef VMENGINE_CONFIG_H
#define VMENGINE_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "target_restart.h"


/* What a migration the watchdog failed does when the source does not run again after
 * migrate_cancel (docs/vmengine.md, Live migration). */
enum migrate_failure { MIGRATE_FAILURE_RESUME_SOURCE, MIGRATE_FAILURE_RESTART_ON_DESTINATION };

struct vmengine_config {
	char root[PATH_MAX];
	char qemu[PATH_MAX];           /* qemu = qemu-system-x86_64 */
	char accel[16];                /* accel = tcg | kvm */
	char machine[32];              /* machine = pc */
	uint64_t tick_ms;              /* tick = 1 (s) */
	uint64_t powerdown_grace_ms;   /* powerdown_grace = 30 (s) */
	uint64_t quit_grace_ms;        /* quit_grace = 10 (s) */
	uint64_t term_grace_ms;        /* term_grace = 10 (s) */
	uint64_t qmp_timeout_ms;       /* qmp_timeout = 5 (s) */
	uint64_t launch_timeout_ms;    /* launch_timeout = 30 (s) */
	enum target_restart_policy target_restart_policy;  /* reconnect | restart-vms */
	bool desired_from_dir;         /* desired_source = store | dir (tests, tools) */
	/* live migration (docs/vmengine.md) */
	uint64_t migrate_progress_timeout_ms;   /* migrate_progress_timeout = 30 (s) */
	uint64_t migrate_timeout_ms;   /* migrate_timeout = auto (0): 60 s + 20 s per GiB */
	uint64_t migrate_switchover_timeout_ms; /* migrate_switchover_timeout = 10 (s) */
	uint64_t migrate_cancel_timeout_ms;     /* migrate_cancel_timeout = 10 (s) */
	enum migrate_failure migrate_failure;   /* resume-source | restart-on-destination */
	/* what this host takes (published in the store for the preflight of a migration) */
	unsigned max_memory_mb;        /* max_memory_mb = the machine's memory */
	unsigned max_vcpus;            /* max_vcpus = 64 */
	char memory_backend[32];       /* memory_backend = memfd | memfd-hugetlb */
};

/* A migration's total bound for a VM of memory_mb: migrate_timeout, or with auto 60 s + 20 s
 * per GiB. */
uint64_t vmengine_migrate_timeout_ms(const struct vmengine_config *c, unsigned memory_mb);

/* Defaults, then the [vmengine] section of path (a missing file is fine: defaults).
 * 0, or -EINVAL with a message in err naming the bad line. */
int vmengine_config_load(struct vmengine_config *c, const char *root, const char *path,
			 char *err, size_t errlen);

#endif

/* fuzz_conf.c — libFuzzer target: <root>/berth.conf, every section a Berth program reads.
 * The input is the file. It is written to the scratch directory (the root) as berth.conf and
 * read by each loader in turn: [berth] (common/berth_conf.c, the CLI and every daemon),
 * [vmengine] (vmengine/config.c), [diskengine] (diskengine/config.c and the target endpoints
 * of common/paths.c), and [supervisor] (the CLI's supervisor reads it with conf_load_section
 * and conf_parse_seconds, the same two calls made here: its key table lives in the berth
 * executable, which has a main of its own). Checks: a loader that fails says why; one that
 * succeeds leaves NUL-terminated strings. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth_conf.h"
#include "conf.h"
#include "../../src/diskengine/config.h"
#include "fuzz_util.h"
#include "paths.h"
#include "../../src/vmengine/config.h"

static const char *const g_daemons[] = { "blockd", "diskengine", "vmengine" };

struct supervisor_conf {
	uint64_t restart_ms[3];
};

/* [supervisor] <daemon>_restart_sec, as src/cli/supervisor.c parses it. */
static int supervisor_key(void *obj, const char *key, const char *value)
{
	struct supervisor_conf *s = obj;
	for (int i = 0; i < 3; i++) {
		char name[48];
		snprintf(name, sizeof(name), "%s_restart_sec", g_daemons[i]);
		if (!strcmp(key, name))
			return conf_parse_seconds(value, 0, 3600, &s->restart_ms[i]);
	}
	return -ENOENT;
}

static void check_string(const char *s, size_t size)
{
	if (!memchr(s, '\0', size))
		abort();
}

static void check_error(int rc, const char *err)
{
	if (rc < 0 && !err[0])
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	if (!quiet) {
		fuzz_quiet_logs();
		quiet = true;
	}
	if (fuzz_write_scratch("berth.conf", data, size) < 0)
		abort();
	const char *root = fuzz_scratch_dir();
	char path[PATH_MAX + 64];
	fuzz_scratch_file("berth.conf", path, sizeof(path));
	char err[512];
	int rc;

	static struct berth_conf bc;
	err[0] = '\0';
	rc = berth_conf_load(&bc, root, err, sizeof(err));
	check_error(rc, err);
	if (rc == 0) {
		check_string(bc.store, sizeof(bc.store));
		check_string(bc.host, sizeof(bc.host));
		check_string(bc.guest_kernel, sizeof(bc.guest_kernel));
		check_string(bc.guest_initrd, sizeof(bc.guest_initrd));
	}

	static struct vmengine_config vc;
	err[0] = '\0';
	rc = vmengine_config_load(&vc, root, path, err, sizeof(err));
	check_error(rc, err);
	if (rc == 0) {
		check_string(vc.qemu, sizeof(vc.qemu));
		check_string(vc.accel, sizeof(vc.accel));
		check_string(vc.machine, sizeof(vc.machine));
	}

	static struct diskengine_config dc;
	err[0] = '\0';
	rc = diskengine_config_load(&dc, root, path, err, sizeof(err));
	check_error(rc, err);
	if (rc == 0) {
		check_string(dc.target.rpc_socket, sizeof(dc.target.rpc_socket));
		check_string(dc.target.vhost_dir, sizeof(dc.target.vhost_dir));
		check_string(dc.restart_target_command, sizeof(dc.restart_target_command));
		(void)volume_layout_name(dc.layout);
	}

	static struct target_endpoints te;
	err[0] = '\0';
	rc = paths_target_load(&te, root, path, err, sizeof(err));
	check_error(rc, err);

	struct supervisor_conf sc = { { 0 } };
	err[0] = '\0';
	rc = conf_load_section(path, "supervisor", supervisor_key, &sc, err, sizeof(err));
	check_error(rc, err);
	return 0;
}

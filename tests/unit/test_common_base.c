/* test_common_base.c — the small shared base of src/common: paths, target restart markers
 * and policy, clock, UUIDs, backoff, status files, cleanup attributes, array growth. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array.h"
#include "atomic_file.h"
#include "backoff.h"
#include "cleanup.h"
#include "clock.h"
#include "paths.h"
#include "status_file.h"
#include "target_restart.h"
#include "uuid.h"

static char g_root[] = "/tmp/berth-base-XXXXXX";

static void make_root(void)
{
	cr_assert_not_null(mkdtemp(g_root));
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

Test(paths, layout)
{
	char p[BERTH_PATH_LEN];
	cr_assert_eq(paths_vm_state(p, sizeof(p), "/r", 7), 0);
	cr_assert_str_eq(p, "/r/vmengine/vms/7/vm.state");
	paths_vm_operator_monitor(p, sizeof(p), "/r", 7);
	cr_assert_str_eq(p, "/r/vmengine/vms/7/qmp-operator.sock");
	paths_diskengine_status(p, sizeof(p), "/r", "attach");
	cr_assert_str_eq(p, "/r/diskengine/attach.json");
	paths_volumes_dir(p, sizeof(p), "/r");
	cr_assert_str_eq(p, "/r/volumes");
	paths_volume_base(p, sizeof(p), "/shared/volumes", 3, 1);   /* [diskengine] volumes_dir */
	cr_assert_str_eq(p, "/shared/volumes/vol3/base1.img");
	paths_supervisor_state(p, sizeof(p), "/r");
	cr_assert_str_eq(p, "/r/run/supervisor.json");
	char small[8];
	cr_assert_eq(paths_blockd_rpc_sock(small, sizeof(small), "/r"), -ENAMETOOLONG);
}

Test(paths, target_endpoints_from_conf, .init = make_root)
{
	struct target_endpoints t;
	char conf[BERTH_PATH_LEN], err[256], want[BERTH_PATH_LEN];
	paths_conf(conf, sizeof(conf), g_root);
	cr_assert_eq(paths_target_load(&t, g_root, conf, err, sizeof(err)), 0, "%s", err);
	snprintf(want, sizeof(want), "%s/blockd/rpc.sock", g_root);
	cr_assert_str_eq(t.rpc_socket, want);
	write_text(conf, "[diskengine]\nrpc_socket = /run/x/rpc.sock\nvhost_dir = /run/x/vhost\n"
			 "tick = 0.5\n[vmengine]\nrpc_socket = ignored\n");
	cr_assert_eq(paths_target_load(&t, g_root, conf, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(t.rpc_socket, "/run/x/rpc.sock");
	cr_assert_str_eq(t.vhost_dir, "/run/x/vhost");
}

Test(target_restart, markers_written_then_consumed_once, .init = make_root)
{
	cr_assert(!target_restart_pending(g_root, TARGET_RESTART_VMENGINE));
	cr_assert(target_restart_on_exit(g_root, TARGET_EXIT_CRASH));
	cr_assert(target_restart_on_exit(g_root, TARGET_EXIT_RESTART_REQUESTED));
	cr_assert(!target_restart_on_exit(g_root, TARGET_EXIT_STOP_REQUESTED));
	cr_assert(target_restart_pending(g_root, TARGET_RESTART_VMENGINE));
	cr_assert(target_restart_pending(g_root, TARGET_RESTART_DISKENGINE));
	cr_assert(target_restart_consume(g_root, TARGET_RESTART_VMENGINE));
	cr_assert(!target_restart_consume(g_root, TARGET_RESTART_VMENGINE));
	cr_assert(target_restart_pending(g_root, TARGET_RESTART_DISKENGINE));
}

Test(target_restart, policy_and_systemd_classification)
{
	enum target_restart_policy p;
	cr_assert_eq(target_restart_policy_parse("restart-vms", &p), 0);
	cr_assert_eq(p, TARGET_RESTART_RESTART_VMS);
	cr_assert_str_eq(target_restart_policy_name(TARGET_RESTART_RECONNECT), "reconnect");
	cr_assert_eq(target_restart_policy_parse("never", &p), -EINVAL);
	cr_assert_eq(target_exit_from_systemd("signal", true), TARGET_EXIT_CRASH);
	cr_assert_eq(target_exit_from_systemd(NULL, false), TARGET_EXIT_CRASH);
	cr_assert_eq(target_exit_from_systemd("success", true), TARGET_EXIT_STOP_REQUESTED);
	cr_assert_eq(target_exit_from_systemd("success", false), TARGET_EXIT_RESTART_REQUESTED);
	const char *unit = "berth-blockd.service";
	cr_assert(target_restart_is_stop_job("9 berth-blockd.service stop running", unit));
	cr_assert(!target_restart_is_stop_job("9 berth-blockd.service restart running", unit));
	cr_assert(!target_restart_is_stop_job("4 berth-diskengine.service stop waiting", unit));
	cr_assert(!target_restart_is_stop_job("", unit));
}

Test(base, clock_uuid_backoff)
{
	int64_t a = monotonic_ms(), w = wall_ms();
	cr_assert(monotonic_ms() >= a);
	cr_assert(w > 1600000000000LL);
	char u1[UUID_TEXT_LEN + 1], u2[UUID_TEXT_LEN + 1];
	cr_assert_eq(uuid_generate_text(u1), 0);
	cr_assert_eq(uuid_generate_text(u2), 0);
	cr_assert_eq(strlen(u1), 36);
	cr_assert_eq(u1[14], '4');
	cr_assert_str_neq(u1, u2);
	cr_assert_eq(backoff_delay_ms(0, 500, 30000), 500);
	cr_assert_eq(backoff_delay_ms(3, 500, 30000), 4000);
	cr_assert_eq(backoff_delay_ms(20, 500, 30000), 30000);
	cr_assert_eq(backoff_delay_ms(0, 500, 200), 200);
}

Test(base, status_file_and_cleanup, .init = make_root)
{
	char path[BERTH_PATH_LEN];
	snprintf(path, sizeof(path), "%s/s.json", g_root);
	cr_assert_eq(status_file_write(path, json_pack("{s:i}", "a", 1)), 0);
	cr_assert_eq(status_file_write(path, NULL), -ENOMEM);
	_cleanup_free_ char *text = NULL;
	cr_assert_eq(read_file_all(path, 4096, &text, NULL), 0);
	_cleanup_json_ json_t *o = json_loads(text, 0, NULL);
	cr_assert_eq(json_integer_value(json_object_get(o, "a")), 1);
	int kept;
	{
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
		cr_assert_geq(fd, 0);
		kept = TAKE_FD(fd);
	}
	cr_assert_eq(fcntl(kept, F_GETFD), FD_CLOEXEC);   /* still open: it was taken */
	close(kept);
}

Test(array, grows_by_doubling_and_keeps_the_elements)
{
	int *v = NULL;
	size_t n = 0, cap = 0;
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(array_reserve_one(&v, &cap, n, sizeof(*v)), 0);
		cr_assert(cap > n);
		v[n++] = i * 3;
	}
	cr_assert_eq(cap, 128);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(v[i], i * 3);
	free(v);
}

Test(array, an_impossible_size_fails_and_leaves_the_array)
{
	long *v = NULL;
	size_t cap = 0;
	cr_assert_eq(array_reserve_one(&v, &cap, 0, sizeof(*v)), 0);
	v[0] = 7;
	long *before = v;
	size_t n = cap;
	cr_assert_eq(array_reserve_one(&v, &cap, n, SIZE_MAX / 4), -ENOMEM);
	cr_assert_eq(v, before);
	cr_assert_eq(cap, 16);
	cr_assert_eq(v[0], 7);
	free(v);
}

/* test_store_migration.c — the store's hosts and live migrations (store.h), on each back end
 * (store_test_env.h: SQLite, and PostgreSQL in the store_pg run): migration 5 on a store
 * made by the schema before it (a version-4 database keeps its rows and gains the columns);
 * hosts register what they take and are listed; a migration is requested only for
 * a running VM with none under way and another host; every later step is guarded by the
 * destination (a late or repeated call from another process changes nothing: -ESTALE); the
 * destination's export is recorded apart from the source's; finishing moves the VM and its
 * volume to the destination in one transaction. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"
#include "store_test_env.h"

static struct test_env g_env;
static struct store *g_s;

static void setup(void)
{
	test_env_new(&g_env, "storemig", "storemig");
	g_s = test_store_create(g_env.db.url);
}

static void teardown(void)
{
	store_close(g_s);
	g_s = NULL;
	test_env_free(&g_env);
}

static int64_t create(const char *name, const char *host)
{
	static unsigned serial;
	struct store_vm vm = { .vcpus = 1, .memory_mb = 256 };
	struct store_volume vol = { .size_mb = 64 };
	snprintf(vm.name, sizeof(vm.name), "%s", name);
	snprintf(vm.uuid, sizeof(vm.uuid), "00000000-0000-4000-8000-%012u", ++serial);
	snprintf(vm.host, sizeof(vm.host), "%s", host);
	snprintf(vm.desired, sizeof(vm.desired), "RUNNING");
	snprintf(vm.on_crash, sizeof(vm.on_crash), "stop");
	snprintf(vol.layout, sizeof(vol.layout), "raid1");
	cr_assert_eq(store_vm_create(g_s, &vm, &vol), 0, "%s", store_error(g_s));
	return vm.id;
}

static struct store_vm get(int64_t id)
{
	struct store_vm vm;
	cr_assert_eq(store_vm_get(g_s, id, &vm), 0, "%s", store_error(g_s));
	return vm;
}

static struct store_volume volume_of(int64_t id)
{
	struct store_volume vol;
	cr_assert_eq(store_volume_get(g_s, get(id).volume_id, &vol), 0, "%s", store_error(g_s));
	return vol;
}

static int64_t running(const char *name)
{
	int64_t id = create(name, "a");
	cr_assert_eq(store_vm_report(g_s, id, "RUNNING", "", 42), 0);
	return id;
}

Test(store_migration, version_4_store_gains_the_columns, .init = setup, .fini = teardown)
{
	int64_t id = create("old", "a");
	store_close(g_s);
	g_s = NULL;
	/* Back to the schema before migration 5 (SQLite >= 3.35 drops columns). */
	static const char *const cols[][2] = {
		{ "vms", "migrate_to" }, { "vms", "mig_phase" }, { "vms", "mig_started_ms" },
		{ "vms", "mig_since_ms" }, { "vms", "mig_uri" }, { "vms", "mig_info" },
		{ "vms", "mig_error" }, { "volumes", "mig_host" }, { "volumes", "mig_state" },
		{ "volumes", "mig_export_path" }, { "hosts", "max_memory_mb" },
		{ "hosts", "max_vcpus" }, { "hosts", "memory_backend" },
	};
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		char sql[128];
		snprintf(sql, sizeof(sql), "ALTER TABLE %s DROP COLUMN %s", cols[i][0], cols[i][1]);
		char msg[256];
		cr_assert_eq(test_db_sql(&g_env.db, sql, msg, sizeof(msg)), 0, "%s: %s", sql, msg);
	}
	char msg[256];
	cr_assert_eq(test_db_sql(&g_env.db, "DELETE FROM schema_migrations WHERE version = 5", msg,
				 sizeof(msg)), 0, "%s", msg);
	char err[512] = "";
	g_s = store_open(g_env.db.url, err, sizeof(err));
	cr_assert_not_null(g_s, "%s", err);
	struct store_vm vm = get(id);
	cr_assert_str_eq(vm.name, "old");
	cr_assert_str_eq(vm.mig.to, "");
	cr_assert_str_eq(vm.mig.phase, "");
	cr_assert_eq(store_vm_migrate_request(g_s, id, "b"), -EPERM);   /* the columns work */
}

Test(store_migration, hosts_register_limits_and_list, .init = setup, .fini = teardown)
{
	struct store_host h = { .vcpus = 4, .memory_mb = 4096, .max_memory_mb = 1024,
				.max_vcpus = 2 };
	snprintf(h.name, sizeof(h.name), "b");
	snprintf(h.memory_backend, sizeof(h.memory_backend), "memfd");
	cr_assert_eq(store_host_register(g_s, &h), 0, "%s", store_error(g_s));
	cr_assert_eq(store_host_seen(g_s, "a"), 0);
	struct store_host got;
	cr_assert_eq(store_host_get(g_s, "b", &got), 0);
	cr_assert_eq(got.max_memory_mb, 1024);
	cr_assert_eq(got.max_vcpus, 2);
	cr_assert_eq(got.vcpus, 4);
	cr_assert_eq(got.memory_mb, 4096);
	cr_assert_str_eq(got.memory_backend, "memfd");
	cr_assert_gt(got.seen_ms, 0);
	cr_assert_eq(store_host_get(g_s, "a", &got), 0);
	cr_assert_eq(got.max_memory_mb, 0);      /* seen, nothing reported */
	cr_assert_eq(store_host_get(g_s, "nope", &got), -ENOENT);
	struct store_host *all;
	size_t n;
	cr_assert_eq(store_host_list(g_s, &all, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(all[0].name, "a");
	free(all);
	struct store_host bad = { 0 };
	cr_assert_eq(store_host_register(g_s, &bad), -EINVAL);
}

Test(store_migration, request_only_a_running_vm_once, .init = setup, .fini = teardown)
{
	int64_t created = create("new", "a");
	cr_assert_eq(store_vm_migrate_request(g_s, created, "b"), -EPERM);   /* CREATING */
	int64_t id = running("web");
	cr_assert_eq(store_vm_migrate_request(g_s, id, "a"), -EINVAL);       /* its host */
	cr_assert_eq(store_vm_migrate_request(g_s, id, ""), -EINVAL);
	cr_assert_eq(store_vm_migrate_request(g_s, 999, "b"), -ENOENT);
	cr_assert_eq(store_vm_migrate_request(g_s, id, "b"), 0, "%s", store_error(g_s));
	struct store_vm vm = get(id);
	cr_assert_str_eq(vm.mig.to, "b");
	cr_assert_str_eq(vm.mig.phase, "requested");
	cr_assert_gt(vm.mig.started_ms, 0);
	cr_assert_eq(vm.mig.since_ms, vm.mig.started_ms);
	cr_assert_eq(store_vm_migrate_request(g_s, id, "c"), -EBUSY);
	cr_assert(strstr(store_error(g_s), "already migrating to b"));
	/* A VM the operator stops is no candidate either. */
	int64_t other = running("db");
	cr_assert_eq(store_vm_set_desired(g_s, other, "STOPPED", false), 0);
	cr_assert_eq(store_vm_migrate_request(g_s, other, "b"), -EPERM);
}

Test(store_migration, steps_are_guarded_by_the_destination, .init = setup, .fini = teardown)
{
	int64_t id = running("web");
	cr_assert_eq(store_vm_migration_phase(g_s, id, "b", "preparing", 5, NULL, NULL, false),
		     -ESTALE);                               /* none under way */
	cr_assert_eq(store_vm_migrate_request(g_s, id, "b"), 0);
	cr_assert_eq(store_vm_migration_phase(g_s, id, "c", "preparing", 5, NULL, NULL, false),
		     -ESTALE);                               /* not that destination */
	cr_assert_eq(store_vm_migration_phase(g_s, id, "b", "bogus", 5, NULL, NULL, false),
		     -EINVAL);
	cr_assert_eq(store_vm_migration_phase(g_s, id, "b", "preparing", 5, "info", NULL, false),
		     0, "%s", store_error(g_s));
	cr_assert_eq(store_vm_migration_uri(g_s, id, "c", "unix:/x"), -ESTALE);
	cr_assert_eq(store_vm_migration_uri(g_s, id, "b", "unix:/x"), 0);
	struct store_vm vm = get(id);
	cr_assert_str_eq(vm.mig.phase, "preparing");
	cr_assert_eq(vm.mig.since_ms, 5);
	cr_assert_str_eq(vm.mig.info, "info");
	cr_assert_str_eq(vm.mig.uri, "unix:/x");
	/* Failed: the destination is cleared, info kept (NULL), the error set. */
	cr_assert_eq(store_vm_migration_phase(g_s, id, "b", "failed", 9, NULL, "no progress",
					      true), 0);
	vm = get(id);
	cr_assert_str_eq(vm.mig.to, "");
	cr_assert_str_eq(vm.mig.phase, "failed");
	cr_assert_str_eq(vm.mig.info, "info");
	cr_assert_str_eq(vm.mig.error, "no progress");
	cr_assert_str_eq(vm.host, "a");
	/* Late steps of the migration that ended change nothing. */
	cr_assert_eq(store_vm_migration_phase(g_s, id, "b", "transferring", 10, NULL, NULL,
					      false), -ESTALE);
	cr_assert_eq(store_vm_migration_finish(g_s, id, "b", "completed"), -ESTALE);
	cr_assert_str_eq(get(id).host, "a");
	/* And a new one may be asked for. */
	cr_assert_eq(store_vm_migrate_request(g_s, id, "b"), 0);
	vm = get(id);
	cr_assert_str_eq(vm.mig.error, "");
	cr_assert_str_eq(vm.mig.uri, "");
}

Test(store_migration, finish_moves_vm_and_volume, .init = setup, .fini = teardown)
{
	int64_t id = running("web");
	struct store_volume vol = volume_of(id);
	cr_assert_eq(store_volume_report(g_s, vol.id, "EXPORTED", "/a/vhost/vm1", NULL), 0);
	/* No migration to b: the destination's export report is refused. */
	cr_assert_eq(store_volume_report_incoming(g_s, vol.id, "b", "EXPORTED", "/b/vhost/vm1"),
		     -ESTALE);
	cr_assert_eq(store_vm_migrate_request(g_s, id, "b"), 0);
	cr_assert_eq(store_volume_report_incoming(g_s, vol.id, "b", "BOGUS", "/b"), -EINVAL);
	cr_assert_eq(store_volume_report_incoming(g_s, vol.id, "b", "EXPORTED", "/b/vhost/vm1"),
		     0, "%s", store_error(g_s));
	vol = volume_of(id);
	cr_assert_str_eq(vol.host, "a");
	cr_assert_str_eq(vol.export_path, "/a/vhost/vm1");       /* the source's, untouched */
	cr_assert_str_eq(vol.state, "EXPORTED");
	cr_assert_str_eq(vol.mig_host, "b");
	cr_assert_str_eq(vol.mig_state, "EXPORTED");
	cr_assert_str_eq(vol.mig_export_path, "/b/vhost/vm1");
	cr_assert_eq(store_vm_migration_finish(g_s, id, "c", "completed"), -ESTALE);
	cr_assert_eq(store_vm_migration_phase(g_s, id, "b", "completed", 7, NULL, NULL, false),
		     0);
	cr_assert_eq(store_vm_migration_finish(g_s, id, "b", "completed"), 0,
		     "%s", store_error(g_s));
	struct store_vm vm = get(id);
	cr_assert_str_eq(vm.host, "b");
	cr_assert_str_eq(vm.mig.to, "");
	cr_assert_str_eq(vm.mig.phase, "completed");
	vol = volume_of(id);
	cr_assert_str_eq(vol.host, "b");
	cr_assert_str_eq(vol.export_path, "/b/vhost/vm1");
	cr_assert_str_eq(vol.state, "EXPORTED");
	cr_assert_str_eq(vol.mig_host, "");
	cr_assert_str_eq(vol.mig_export_path, "");
	/* Repeated: nothing more moves. */
	cr_assert_eq(store_vm_migration_finish(g_s, id, "b", "completed"), -ESTALE);
	cr_assert_eq(store_volume_report_incoming(g_s, vol.id, "b", "", ""), -ESTALE);
	/* Listed on b now, no longer on a. */
	struct store_vm *vms;
	size_t n;
	cr_assert_eq(store_vm_list(g_s, "a", false, &vms, &n), 0);
	cr_assert_eq(n, 0);
	free(vms);
	cr_assert_eq(store_vm_list(g_s, "b", false, &vms, &n), 0);
	cr_assert_eq(n, 1);
	free(vms);
}

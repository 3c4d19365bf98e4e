/* test_store_copy.c — store_copy (`berth store copy`), in the one store suite: a populated
 * SQLite store (hosts, VMs in several states, a migration under way, volume reports,
 * events, the identity) copied into the run's destination (the test PostgreSQL server in
 * the store_pg run, another SQLite file otherwise) reads back row for row the same through
 * the store API, and so does a copy of that back into another SQLite file; the next VM gets an id after the copied ones; a destination that is not
 * empty, or schemas of different versions, are refused with one line and nothing copied. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"
#include "store_test_env.h"

static char g_src_url[128];
static struct test_env g_env;
static struct store *g_src, *g_dst;

static void setup(void)
{
	test_env_new(&g_env, "copy", "copydst");
	snprintf(g_src_url, sizeof(g_src_url), "sqlite:%s/source.db", g_env.dir);
	g_src = test_store_create(g_src_url);
	g_dst = test_store_create(g_env.db.url);
}

static void teardown(void)
{
	store_close(g_src);
	store_close(g_dst);
	test_env_free(&g_env);
}

static int64_t add_vm(struct store *s, const char *name, const char *host, const char *append)
{
	static unsigned serial;
	struct store_vm vm = { .vcpus = 2, .memory_mb = 384 };
	struct store_volume vol = { .size_mb = 96 };
	snprintf(vm.name, sizeof(vm.name), "%s", name);
	snprintf(vm.uuid, sizeof(vm.uuid), "00000000-0000-4000-a000-%012u", ++serial);
	snprintf(vm.host, sizeof(vm.host), "%s", host);
	snprintf(vm.desired, sizeof(vm.desired), "RUNNING");
	snprintf(vm.image, sizeof(vm.image), "img");
	snprintf(vm.kernel, sizeof(vm.kernel), "/boot/vmlinuz 'quoted' \"and\" ünïcode");
	snprintf(vm.initrd, sizeof(vm.initrd), "/boot/initrd");
	snprintf(vm.append, sizeof(vm.append), "%s", append);
	snprintf(vm.on_crash, sizeof(vm.on_crash), "restart");
	snprintf(vol.layout, sizeof(vol.layout), "raid0");
	cr_assert_eq(store_vm_create(s, &vm, &vol), 0, "%s", store_error(s));
	return vm.id;
}

static void populate(struct store *s)
{
	struct store_host h = { .vcpus = 8, .memory_mb = 16384, .max_memory_mb = 4096,
				.max_vcpus = 4 };
	snprintf(h.name, sizeof(h.name), "a");
	snprintf(h.memory_backend, sizeof(h.memory_backend), "memfd");
	cr_assert_eq(store_host_register(s, &h), 0);
	snprintf(h.name, sizeof(h.name), "b");
	cr_assert_eq(store_host_register(s, &h), 0);
	cr_assert_eq(store_host_seen(s, "c"), 0);
	int64_t web = add_vm(s, "web", "a", "console=ttyS0 line\nbreak; DROP TABLE vms; --");
	int64_t db = add_vm(s, "db", "a", "");
	int64_t old = add_vm(s, "old", "b", "x");
	cr_assert_eq(store_vm_report(s, web, "RUNNING", "", 4242), 0);
	cr_assert_eq(store_vm_report_disk(s, web, "up", 1234), 0);
	cr_assert_eq(store_vm_migrate_request(s, web, "b"), 0, "%s", store_error(s));
	cr_assert_eq(store_vm_migration_phase(s, web, "b", "transferring", 99, "half", NULL,
					      false), 0, "%s", store_error(s));
	cr_assert_eq(store_vm_migration_uri(s, web, "b", "tcp:10.0.0.2:4444"), 0);
	struct store_vm v;
	cr_assert_eq(store_vm_get(s, web, &v), 0);
	cr_assert_eq(store_volume_report(s, v.volume_id, "EXPORTED", "/run/berth/vm1.sock", NULL),
		     0);
	cr_assert_eq(store_volume_report_incoming(s, v.volume_id, "b", "EXPORTED", "/run/b.sock"),
		     0, "%s", store_error(s));
	cr_assert_eq(store_vm_set_desired(s, db, "STOPPED", true), 0);
	cr_assert_eq(store_vm_report(s, db, "ERROR", "qemu exited: status 1", 0), 0);
	cr_assert_eq(store_vm_set_desired(s, old, "TERMINATED", false), 0);
	cr_assert_eq(store_vm_report(s, old, "TERMINATED", "", 0), 0);
	cr_assert_eq(store_vm_get(s, old, &v), 0);
	cr_assert_eq(store_volume_report(s, v.volume_id, "DELETED", "", "gone"), 0);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(store_event_add(s, i % 2 ? "a" : "b", "cli", i < 3 ? web : 0, "info",
					     i == 4 ? "quote ' and \\ backslash" : "event"), 0);
	char id[STORE_ID_LEN];
	cr_assert_eq(store_identity_init(s, "11111111-2222-4333-8444-555555555555", id), 0);
}

#define SAME_ROWS(type, list_call_src, list_call_dst, what)                                  \
	do {                                                                                 \
		type *a, *b;                                                                 \
		size_t na, nb;                                                               \
		cr_assert_eq(list_call_src, 0, "%s", store_error(g_src));                    \
		cr_assert_eq(list_call_dst, 0, "%s", store_error(g_dst));                    \
		cr_assert_eq(na, nb, what ": %zu rows, copied %zu", na, nb);                 \
		for (size_t i = 0; i < na; i++)                                              \
			cr_assert_eq(memcmp(&a[i], &b[i], sizeof(*a)), 0, what " row %zu "   \
				     "differs", i);                                          \
		free(a);                                                                     \
		free(b);                                                                     \
	} while (0)

Test(store, copy_every_row, .init = setup, .fini = teardown)
{
	populate(g_src);
	size_t counts[STORE_COPY_TABLES];
	char err[512] = "";
	cr_assert_eq(store_copy(g_src, g_dst, counts, err, sizeof(err)), 0, "%s", err);
	size_t want[STORE_COPY_TABLES] = { 3, 3, 3, 5, 1 };
	for (size_t i = 0; i < STORE_COPY_TABLES; i++)
		cr_assert_eq(counts[i], want[i], "%s: %zu", store_copy_tables[i], counts[i]);
	SAME_ROWS(struct store_vm, store_vm_list(g_src, NULL, true, &a, &na),
		  store_vm_list(g_dst, NULL, true, &b, &nb), "vms");
	SAME_ROWS(struct store_volume, store_volume_list(g_src, NULL, true, &a, &na),
		  store_volume_list(g_dst, NULL, true, &b, &nb), "volumes");
	SAME_ROWS(struct store_host, store_host_list(g_src, &a, &na),
		  store_host_list(g_dst, &b, &nb), "hosts");
	SAME_ROWS(struct store_event, store_event_list(g_src, 0, 0, 100, &a, &na),
		  store_event_list(g_dst, 0, 0, 100, &b, &nb), "events");
	char ida[STORE_ID_LEN], idb[STORE_ID_LEN];
	cr_assert_eq(store_identity(g_src, ida), 0);
	cr_assert_eq(store_identity(g_dst, idb), 0, "%s", store_error(g_dst));
	cr_assert_str_eq(ida, idb);
	/* and back, into another SQLite file: the same rows again */
	char back_url[160];
	snprintf(back_url, sizeof(back_url), "sqlite:%s/back.db", g_env.dir);
	struct store *back = test_store_create(back_url);
	cr_assert_eq(store_copy(g_dst, back, counts, err, sizeof(err)), 0, "%s", err);
	SAME_ROWS(struct store_vm, store_vm_list(g_src, NULL, true, &a, &na),
		  store_vm_list(back, NULL, true, &b, &nb), "vms copied back");
	SAME_ROWS(struct store_volume, store_volume_list(g_src, NULL, true, &a, &na),
		  store_volume_list(back, NULL, true, &b, &nb), "volumes copied back");
	store_close(back);
	/* the next ids follow the copied ones */
	int64_t next = add_vm(g_dst, "new", "a", "");
	cr_assert_gt(next, 3);
	cr_assert_eq(store_event_add(g_dst, "a", "cli", next, "info", "after"), 0,
		     "%s", store_error(g_dst));

	/* not empty now: refused, nothing copied */
	cr_assert_eq(store_copy(g_src, g_dst, counts, err, sizeof(err)), -EEXIST);
	cr_assert(strstr(err, "the destination is not empty (3 rows in hosts)") &&
		  !strchr(err, '\n'), "%s", err);
	struct store_vm *vms;
	size_t n;
	cr_assert_eq(store_vm_list(g_dst, NULL, true, &vms, &n), 0);
	cr_assert_eq(n, 4);
	free(vms);
}

Test(store, copy_refuses_other_schema_version, .init = setup, .fini = teardown)
{
	populate(g_src);
	sqlite3 *db;
	char path[128];
	snprintf(path, sizeof(path), "%s/source.db", g_env.dir);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "INSERT INTO schema_migrations VALUES (999, 0)", NULL, NULL,
				  NULL), SQLITE_OK);
	sqlite3_close(db);
	size_t counts[STORE_COPY_TABLES];
	char err[512] = "";
	cr_assert_eq(store_copy(g_src, g_dst, counts, err, sizeof(err)), -EPROTO);
	cr_assert(strstr(err, "schema versions differ: the source's is 999") &&
		  !strchr(err, '\n'), "%s", err);
	struct store_host *h;
	size_t n;
	cr_assert_eq(store_host_list(g_dst, &h, &n), 0);
	cr_assert_eq(n, 0, "nothing copied");
	free(h);
}

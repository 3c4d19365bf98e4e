/* test_store_placement.c — placement (store_vm_place, docs/fleet.md), in the one store suite
 * (SQLite, and PostgreSQL with BERTH_TEST_STORE=postgresql): the least loaded UP host with
 * room is chosen; DOWN, full and too-small hosts never are; a refusal is one line and creates
 * nothing; a named host is checked for room; a store no host has registered on takes the VM
 * on the fallback host; and threads racing creates against a host with room for exactly
 * PLACE_ROOM VMs create exactly that many (without the row locks they overcommit it). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"
#include "store_test_env.h"

#define PLACE_ROOM 12
#define PLACE_RACERS 4
#define DOWN_AFTER_MS 30000

static struct test_env g_env;
static struct store *g_s;
static const struct store_place g_how = { .down_after_ms = DOWN_AFTER_MS,
					  .fallback_host = "here" };

static void setup(void)
{
	test_env_new(&g_env, "place", "place");
	g_s = test_store_create(g_env.db.url);
}

static void teardown(void)
{
	store_close(g_s);
	g_s = NULL;
	test_env_free(&g_env);
}

static void make_vm(struct store_vm *vm, struct store_volume *vol, const char *name,
		    const char *host, unsigned vcpus, unsigned memory_mb)
{
	static unsigned serial;
	*vm = (struct store_vm){ .vcpus = vcpus, .memory_mb = memory_mb };
	*vol = (struct store_volume){ .size_mb = 8 };
	snprintf(vm->name, sizeof(vm->name), "%s", name);
	snprintf(vm->uuid, sizeof(vm->uuid), "00000000-0000-4000-9000-%012u",
		 __atomic_add_fetch(&serial, 1, __ATOMIC_SEQ_CST));
	snprintf(vm->host, sizeof(vm->host), "%s", host);
	snprintf(vm->desired, sizeof(vm->desired), "RUNNING");
	snprintf(vm->image, sizeof(vm->image), "img");
	snprintf(vm->on_crash, sizeof(vm->on_crash), "stop");
	snprintf(vol->layout, sizeof(vol->layout), "single");
}

/* 0 with the host chosen in *chosen, or the error. */
static int place(struct store *s, const char *name, const char *host, unsigned vcpus,
		 unsigned memory_mb, char chosen[STORE_NAME_MAX])
{
	struct store_vm vm;
	struct store_volume vol;
	make_vm(&vm, &vol, name, host, vcpus, memory_mb);
	int rc = store_vm_place(s, &vm, &vol, &g_how);
	if (rc == 0) {
		cr_assert(vm.id > 0 && vol.id > 0);
		struct store_volume got;
		cr_assert_eq(store_volume_get(s, vol.id, &got), 0);
		cr_assert_str_eq(got.host, vm.host, "the volume goes where its VM goes");
		if (chosen)
			snprintf(chosen, STORE_NAME_MAX, "%s", vm.host);
	}
	return rc;
}

static void reg(const char *name, unsigned vcpus, uint64_t memory_mb, unsigned max_vcpus)
{
	struct store_host h = { .vcpus = vcpus, .memory_mb = memory_mb, .max_vcpus = max_vcpus };
	snprintf(h.name, sizeof(h.name), "%s", name);
	cr_assert_eq(store_host_register(g_s, &h), 0, "%s", store_error(g_s));
}

static void count_rows(size_t *vms, size_t *vols)
{
	struct store_vm *v;
	struct store_volume *o;
	cr_assert_eq(store_vm_list(g_s, NULL, true, &v, vms), 0);
	cr_assert_eq(store_volume_list(g_s, NULL, true, &o, vols), 0);
	free(v);
	free(o);
}

Test(store, placement_least_loaded_up_host_with_room, .init = setup, .fini = teardown)
{
	reg("a", 4, 4096, 0);
	reg("b", 8, 4096, 0);
	reg("c", 16, 65536, 0);
	reg("d", 16, 65536, 1);                 /* takes VMs of 1 vCPU only */
	char err[256];
	cr_assert_eq(test_db_sql(&g_env.db, "UPDATE hosts SET seen_ms = 0 WHERE name = 'c'", err,
				 sizeof(err)), 0, "%s", err);   /* DOWN */
	/* by share of vCPUs in use, then of memory, then name: a b b a b b */
	const char *want[] = { "a", "b", "b", "a", "b", "b" };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char name[16], got[STORE_NAME_MAX];
		snprintf(name, sizeof(name), "v%zu", i);
		cr_assert_eq(place(g_s, name, "", 2, 256, got), 0, "%s", store_error(g_s));
		cr_assert_str_eq(got, want[i], "VM %zu went to %s, not %s", i, got, want[i]);
	}
	size_t vms, vols, vms2, vols2;
	count_rows(&vms, &vols);
	cr_assert_eq(place(g_s, "full", "", 2, 256, NULL), -ENOSPC);
	cr_assert_str_eq(store_error(g_s), "no host has room for a VM of 2 vCPUs and 256 MiB "
			 "(4 hosts: 2 full, 1 too small for it, 1 DOWN)");
	count_rows(&vms2, &vols2);
	cr_assert(vms2 == vms && vols2 == vols, "a refused create leaves nothing");
	/* d takes a VM of 1 vCPU; a terminated VM's room is free again */
	char got[STORE_NAME_MAX];
	cr_assert_eq(place(g_s, "small", "", 1, 64, got), 0, "%s", store_error(g_s));
	cr_assert_str_eq(got, "d");
	struct store_vm v0;
	cr_assert_eq(store_vm_find(g_s, "v0", &v0), 0);
	cr_assert_eq(store_vm_report(g_s, v0.id, "TERMINATED", "", 0), 0);
	cr_assert_eq(place(g_s, "again", "", 2, 256, got), 0, "%s", store_error(g_s));
	cr_assert_str_eq(got, "a");
	/* memory counts as well as vCPUs */
	reg("e", 64, 1024, 0);
	cr_assert_eq(place(g_s, "big", "", 2, 2048, NULL), -ENOSPC);
	cr_assert_eq(place(g_s, "fits", "", 2, 1024, got), 0, "%s", store_error(g_s));
	cr_assert_str_eq(got, "e");
}

Test(store, placement_on_a_named_host, .init = setup, .fini = teardown)
{
	char got[STORE_NAME_MAX];
	/* no host has registered (a new single host): the named one, or the fallback */
	cr_assert_eq(place(g_s, "n1", "", 1, 64, got), 0, "%s", store_error(g_s));
	cr_assert_str_eq(got, "here");
	cr_assert_eq(place(g_s, "n2", "elsewhere", 1, 64, got), 0, "%s", store_error(g_s));
	cr_assert_str_eq(got, "elsewhere");
	store_host_seen(g_s, "seen-only");     /* seen, never registered: no capacity */
	cr_assert_eq(place(g_s, "n3", "", 1, 64, got), 0, "%s", store_error(g_s));
	cr_assert_str_eq(got, "here");
	/* a single host (the fallback the only one registered): there, DOWN or not, if room */
	reg("here", 2, 1024, 0);
	char err0[256];
	cr_assert_eq(test_db_sql(&g_env.db, "UPDATE hosts SET seen_ms = 0 WHERE name = 'here'", err0,
				 sizeof(err0)), 0, "%s", err0);
	cr_assert_eq(place(g_s, "n4", "", 1, 64, got), -ENOSPC, "n1 and n3 took its 2 vCPUs");
	cr_assert(strstr(store_error(g_s), "host here has no room"), "%s", store_error(g_s));
	struct store_vm n1;
	cr_assert_eq(store_vm_find(g_s, "n1", &n1), 0);
	cr_assert_eq(store_vm_report(g_s, n1.id, "TERMINATED", "", 0), 0);
	cr_assert_eq(place(g_s, "n5", "", 1, 64, got), 0, "a DOWN single host: %s",
		     store_error(g_s));
	cr_assert_str_eq(got, "here");

	reg("a", 2, 1024, 0);
	reg("z", 2, 1024, 0);
	char err[256];
	cr_assert_eq(test_db_sql(&g_env.db, "UPDATE hosts SET seen_ms = 0 WHERE name = 'z'", err,
				 sizeof(err)), 0, "%s", err);
	cr_assert_eq(place(g_s, "x1", "z", 2, 512, got), 0, "a named DOWN host: %s",
		     store_error(g_s));
	cr_assert_str_eq(got, "z");
	size_t vms, vols, vms2, vols2;
	count_rows(&vms, &vols);
	cr_assert_eq(place(g_s, "x2", "z", 1, 64, NULL), -ENOSPC);
	cr_assert(strstr(store_error(g_s), "host z has no room for 1 vCPUs and 64 MiB (full"),
		  "%s", store_error(g_s));
	cr_assert_eq(place(g_s, "x3", "nowhere", 1, 64, NULL), -ENOENT);
	cr_assert(strstr(store_error(g_s), "host nowhere has not registered"), "%s",
		  store_error(g_s));
	cr_assert_eq(place(g_s, "x4", "", 3, 64, NULL), -ENOSPC);
	count_rows(&vms2, &vols2);
	cr_assert(vms2 == vms && vols2 == vols, "refused creates leave nothing");
	cr_assert_eq(place(g_s, "x5", "", 2, 512, got), 0, "%s", store_error(g_s));
	cr_assert_str_eq(got, "a");
	struct store_place bad = { .down_after_ms = 0, .fallback_host = "h" };
	struct store_vm vm;
	struct store_volume vol;
	make_vm(&vm, &vol, "x6", "", 1, 64);
	cr_assert_eq(store_vm_place(g_s, &vm, &vol, &bad), -EINVAL);
}

struct racer {
	pthread_barrier_t *start;
	const char *url;
	int id, created, refused, other;
	char err[512];
};

/* Creates VMs of 1 vCPU until the store refuses one for want of room. */
static void *create_racer(void *arg)
{
	struct racer *r = arg;
	struct store *s = store_open(r->url, r->err, sizeof(r->err));
	pthread_barrier_wait(r->start);
	for (int i = 0; s && i < PLACE_ROOM + 2; i++) {
		char name[32];
		snprintf(name, sizeof(name), "r%d-%d", r->id, i);
		int rc = place(s, name, "", 1, 64, NULL);
		if (rc == 0) {
			r->created++;
		} else if (rc == -ENOSPC) {
			r->refused++;
		} else {
			r->other++;
			snprintf(r->err, sizeof(r->err), "%d %s", rc, store_error(s));
		}
	}
	store_close(s);
	return NULL;
}

Test(store, placement_racing_creates_never_overcommit, .init = setup, .fini = teardown,
     .timeout = 120)
{
	for (int round = 0; round < 3; round++) {
		char host[16];
		snprintf(host, sizeof(host), "solo%d", round);
		reg(host, PLACE_ROOM, 1 << 20, 0);
		pthread_barrier_t start;
		pthread_barrier_init(&start, NULL, PLACE_RACERS);
		struct racer r[PLACE_RACERS];
		pthread_t th[PLACE_RACERS];
		for (int i = 0; i < PLACE_RACERS; i++) {
			r[i] = (struct racer){ .start = &start, .url = g_env.db.url,
					       .id = round * PLACE_RACERS + i };
			cr_assert_eq(pthread_create(&th[i], NULL, create_racer, &r[i]), 0);
		}
		int created = 0;
		for (int i = 0; i < PLACE_RACERS; i++) {
			pthread_join(th[i], NULL);
			cr_assert_eq(r[i].other, 0, "racer %d: %s", i, r[i].err);
			cr_assert_gt(r[i].refused, 0);
			created += r[i].created;
		}
		pthread_barrier_destroy(&start);
		struct store_host h;
		cr_assert_eq(store_host_get(g_s, host, &h), 0);
		cr_assert_eq(h.used_vcpus, PLACE_ROOM, "round %d: %u vCPUs placed on a host of %d",
			     round, h.used_vcpus, PLACE_ROOM);
		cr_assert_eq(created, PLACE_ROOM);
		/* the next round's host is the only one with room */
		char sql[128], err[256];
		snprintf(sql, sizeof(sql), "UPDATE hosts SET seen_ms = 0 WHERE name = '%s'", host);
		cr_assert_eq(test_db_sql(&g_env.db, sql, err, sizeof(err)), 0, "%s", err);
	}
}

/* ---------------------------------------------------------------- claims */

static int64_t id_of(const char *name)
{
	struct store_vm vm;
	cr_assert_eq(store_vm_find(g_s, name, &vm), 0, "%s", store_error(g_s));
	return vm.id;
}

static bool listed(const struct store_vm *vms, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (vms[i].id == id)
			return true;
	return false;
}

/* A host's vmengine reads its own VMs and those migrating to it, and writes a VM's row only
 * while the VM is its own: a report from the host a migration took the VM from changes
 * nothing. */
Test(store, claims_engine_work_and_owned_reports, .init = setup, .fini = teardown)
{
	cr_assert_eq(place(g_s, "x", "a", 1, 64, NULL), 0, "%s", store_error(g_s));
	cr_assert_eq(place(g_s, "y", "b", 1, 64, NULL), 0, "%s", store_error(g_s));
	cr_assert_eq(place(g_s, "z", "b", 1, 64, NULL), 0, "%s", store_error(g_s));
	int64_t x = id_of("x"), y = id_of("y"), z = id_of("z");
	cr_assert_eq(store_vm_report_as(g_s, "b", z, "RUNNING", "", 7), 0, "%s", store_error(g_s));
	cr_assert_eq(store_vm_migrate_request(g_s, z, "a"), 0, "%s", store_error(g_s));

	struct store_vm *vms;
	size_t n;
	cr_assert_eq(store_vm_list_work(g_s, "a", &vms, &n), 0, "%s", store_error(g_s));
	cr_assert(n == 2 && listed(vms, n, x) && listed(vms, n, z) && !listed(vms, n, y));
	free(vms);
	cr_assert_eq(store_vm_list_work(g_s, "b", &vms, &n), 0);
	cr_assert(n == 2 && listed(vms, n, y) && listed(vms, n, z));
	free(vms);
	struct store_vm zv;
	cr_assert_eq(store_vm_get(g_s, z, &zv), 0);
	struct store_volume *vols;
	cr_assert_eq(store_volume_list_work(g_s, "a", &vols, &n), 0, "%s", store_error(g_s));
	cr_assert_eq(n, 1, "before a exports z's volume: only x's");
	free(vols);
	cr_assert_eq(store_volume_report_incoming(g_s, zv.volume_id, "a", "EXPORTED", "/run/z"),
		     0, "%s", store_error(g_s));
	cr_assert_eq(store_volume_list_work(g_s, "a", &vols, &n), 0);
	cr_assert(n == 2 && (vols[0].id == zv.volume_id || vols[1].id == zv.volume_id));
	free(vols);

	/* x is a's: b's report of it is refused and changes nothing */
	cr_assert_eq(store_vm_report_as(g_s, "b", x, "STOPPED", "", 0), -ESTALE);
	cr_assert(strstr(store_error(g_s), "is on host a, not b"), "%s", store_error(g_s));
	cr_assert_eq(store_vm_report_disk_as(g_s, "b", x, "down", 5), -ESTALE);
	struct store_vm got;
	cr_assert_eq(store_vm_get(g_s, x, &got), 0);
	cr_assert(!strcmp(got.state, "CREATING") && got.disk[0] == 0);
	cr_assert_eq(store_vm_report_as(g_s, "a", x, "RUNNING", "", 42), 0);
	cr_assert_eq(store_vm_report_as(g_s, "a", 1 << 30, "RUNNING", "", 1), -ENOENT);

	/* the migration finishes: z is a's; b's late report (queued before) changes nothing */
	cr_assert_eq(store_vm_migration_finish(g_s, z, "a", "completed"), 0, "%s",
		     store_error(g_s));
	cr_assert_eq(store_vm_report_as(g_s, "a", z, "RUNNING", "", 99), 0);
	cr_assert_eq(store_vm_report_as(g_s, "b", z, "RUNNING", "", 7), -ESTALE);
	cr_assert_eq(store_vm_get(g_s, z, &got), 0);
	cr_assert(!strcmp(got.host, "a") && got.pid == 99, "%s pid %d", got.host, got.pid);
	cr_assert_eq(store_vm_list_work(g_s, "b", &vms, &n), 0);
	cr_assert(n == 1 && vms[0].id == y);
	free(vms);
	cr_assert_eq(store_vm_list_work(g_s, "", &vms, &n), -EINVAL);
}

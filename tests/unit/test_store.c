/* test_store.c — the store (store.h), one suite for every back end (store_test_env.h: SQLite,
 * or PostgreSQL with BERTH_TEST_STORE=postgresql): several processes and several threads
 * opening the same fresh store at once all succeed and apply each migration once; a schema
 * newer than the binary is refused;
 * VMs created, read back by id and by name, listed; names unique among live VMs only; the
 * desired state (a terminated VM stays terminated) and the observed one (state_since moves
 * only on a change); a volume report that leaves the export path alone; events by after_id,
 * VM and limit; a refused create leaves nothing behind; store_open never creates a store;
 * the identity is set once; a root and a store that do not belong together are refused
 * (store_root.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "store_migrations.h"
#include "store_root.h"
#include "store_test_env.h"

#define RACERS 8
#define ROUNDS (test_store_is_pg() ? 6 : 20)   /* a PostgreSQL round is a database */

static struct test_env g_env;
static struct store *g_s;

static void setup(void)
{
	test_env_new(&g_env, "store", "berth");
	g_s = NULL;
}

static void teardown(void)
{
	store_close(g_s);
	g_s = NULL;
	test_env_free(&g_env);
}

static void open_store(void)
{
	char err[512] = "";
	g_s = store_create(g_env.db.url, err, sizeof(err));
	cr_assert_not_null(g_s, "store_open: %s", err);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* A VM and its root volume as `berth vm create` fills them in. */
static void make_vm(struct store_vm *vm, struct store_volume *vol, const char *name)
{
	static unsigned serial;
	*vm = (struct store_vm){ .vcpus = 2, .memory_mb = 256 };
	*vol = (struct store_volume){ .size_mb = 64 };
	snprintf(vm->name, sizeof(vm->name), "%s", name);
	snprintf(vm->uuid, sizeof(vm->uuid), "00000000-0000-4000-8000-%012u", ++serial);
	snprintf(vm->host, sizeof(vm->host), "h1");
	snprintf(vm->desired, sizeof(vm->desired), "RUNNING");
	snprintf(vm->image, sizeof(vm->image), "img");
	snprintf(vm->kernel, sizeof(vm->kernel), "/k");
	snprintf(vm->initrd, sizeof(vm->initrd), "/i");
	snprintf(vm->append, sizeof(vm->append), "console=ttyS0");
	snprintf(vm->on_crash, sizeof(vm->on_crash), "stop");
	snprintf(vol->layout, sizeof(vol->layout), "raid1");
}

static int64_t create(const char *name)
{
	struct store_vm vm;
	struct store_volume vol;
	make_vm(&vm, &vol, name);
	int rc = store_vm_create(g_s, &vm, &vol);
	cr_assert_eq(rc, 0, "create %s: %d %s", name, rc, store_error(g_s));
	cr_assert(vm.id > 0 && vol.id > 0 && vm.volume_id == vol.id && vol.vm_id == vm.id);
	return vm.id;
}

static size_t count_vms(bool all)
{
	struct store_vm *vms;
	size_t n;
	cr_assert_eq(store_vm_list(g_s, NULL, all, &vms, &n), 0, "%s", store_error(g_s));
	free(vms);
	return n;
}

static size_t count_volumes(void)
{
	struct store_volume *vols;
	size_t n;
	cr_assert_eq(store_volume_list(g_s, NULL, true, &vols, &n), 0, "%s", store_error(g_s));
	free(vols);
	return n;
}

/* ---------------------------------------------------------------- concurrent opens */

/* Each migration is recorded once and the schema is usable; SQLite runs in WAL mode. */
static void check_migrated(const struct test_db *db)
{
	char got[512], want[64];
	cr_assert_eq(test_db_sql(db, "SELECT count(*) || ',' || count(DISTINCT version) FROM "
				     "schema_migrations", got, sizeof(got)), 0, "%s", got);
	snprintf(want, sizeof(want), "%zu,%zu", store_n_migrations, store_n_migrations);
	cr_assert_str_eq(got, want);
	if (!test_store_is_pg()) {
		cr_assert_eq(test_db_sql(db, "PRAGMA journal_mode", got, sizeof(got)), 0, "%s", got);
		cr_assert_str_eq(got, "wal");
	}
}

Test(store, concurrent_open_processes, .init = setup, .fini = teardown, .timeout = 120)
{
	for (int round = 0; round < ROUNDS; round++) {
		char name[32];
		struct test_db db;
		snprintf(name, sizeof(name), "p%d", round);
		test_db_new(&db, g_env.dir, name);
		const char *path = db.url;
		int go[2];
		cr_assert_eq(pipe(go), 0);
		pid_t pids[RACERS];
		for (int i = 0; i < RACERS; i++) {
			pids[i] = fork();
			cr_assert_geq(pids[i], 0);
			if (pids[i] == 0) {
				char c;
				close(go[1]);
				(void)!read(go[0], &c, 1);     /* all start together: EOF */
				char err[512] = "";
				struct store *s = store_create(path, err, sizeof(err));
				if (!s) {
					fprintf(stderr, "round %d racer %d: %s\n", round, i, err);
					_exit(1);
				}
				int rc = store_host_seen(s, "h1");
				if (rc < 0)
					fprintf(stderr, "round %d racer %d: host_seen: %s\n", round,
						i, store_error(s));
				store_close(s);
				_exit(rc < 0 ? 2 : 0);
			}
		}
		close(go[0]);
		close(go[1]);
		int failed = 0;
		for (int i = 0; i < RACERS; i++) {
			int status;
			cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
			failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		}
		cr_assert_eq(failed, 0, "round %d: %d of %d opens failed", round, failed, RACERS);
		check_migrated(&db);
	}
}

struct racer {
	pthread_barrier_t *start;
	const char *path;
	int rc;
	char err[512];
};

static void *open_racer(void *arg)
{
	struct racer *r = arg;
	pthread_barrier_wait(r->start);
	struct store *s = store_create(r->path, r->err, sizeof(r->err));
	r->rc = s ? store_host_seen(s, "h1") : -1;
	if (s && r->rc < 0)
		snprintf(r->err, sizeof(r->err), "host_seen: %s", store_error(s));
	store_close(s);
	return NULL;
}

Test(store, concurrent_open_threads, .init = setup, .fini = teardown, .timeout = 120)
{
	for (int round = 0; round < ROUNDS; round++) {
		char name[32];
		struct test_db db;
		snprintf(name, sizeof(name), "t%d", round);
		test_db_new(&db, g_env.dir, name);
		const char *path = db.url;
		pthread_barrier_t start;
		pthread_barrier_init(&start, NULL, RACERS);
		struct racer r[RACERS];
		pthread_t th[RACERS];
		for (int i = 0; i < RACERS; i++) {
			r[i] = (struct racer){ .start = &start, .path = path };
			cr_assert_eq(pthread_create(&th[i], NULL, open_racer, &r[i]), 0);
		}
		for (int i = 0; i < RACERS; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&start);
		for (int i = 0; i < RACERS; i++)
			cr_assert_eq(r[i].rc, 0, "round %d racer %d: %s", round, i, r[i].err);
		check_migrated(&db);
	}
}

Test(store, vm_disk_reported_and_read_back, .init = setup, .fini = teardown)
{
	open_store();
	int64_t id = create("d1");
	struct store_vm vm;
	cr_assert_eq(store_vm_get(g_s, id, &vm), 0);
	cr_assert_str_eq(vm.disk, "");                   /* unknown until vmengine says */
	cr_assert_eq(store_vm_report_disk(g_s, id, "down", 1700000000123LL), 0,
		     "%s", store_error(g_s));
	cr_assert_eq(store_vm_get(g_s, id, &vm), 0);
	cr_assert_str_eq(vm.disk, "down");
	cr_assert_eq(vm.disk_since_ms, 1700000000123LL);
	cr_assert_eq(store_vm_report_disk(g_s, id, "up", 1700000000456LL), 0);
	cr_assert_eq(store_vm_get(g_s, id, &vm), 0);
	cr_assert_str_eq(vm.disk, "up");
	cr_assert_eq(store_vm_report_disk(g_s, id, "sideways", 1), -EINVAL);
	cr_assert_eq(store_vm_report_disk(g_s, id + 1000, "up", 1), -ENOENT);
}

Test(store, reopen_keeps_data, .init = setup, .fini = teardown)
{
	open_store();
	int64_t id = create("web");
	store_close(g_s);
	open_store();
	struct store_vm vm;
	cr_assert_eq(store_vm_get(g_s, id, &vm), 0);
	cr_assert_str_eq(vm.name, "web");
}

Test(store, unsupported_url, .init = setup, .fini = teardown)
{
	char err[256] = "";
	cr_assert_null(store_open("mysql://x/y", err, sizeof(err)));
	cr_assert(strstr(err, "unsupported"), "%s", err);
}

Test(store, open_never_creates, .init = setup, .fini = teardown)
{
	char err[256] = "";
	errno = 0;
	cr_assert_null(store_open(g_env.db.url, err, sizeof(err)));
	cr_assert_eq(errno, ENOENT, "%s", err);
	if (test_store_is_pg()) {
		char got[256];
		cr_assert_eq(test_db_sql(&g_env.db, "SELECT to_regclass('schema_migrations') IS NULL",
					 got, sizeof(got)), 0, "%s", got);
		cr_assert_str_eq(got, "t", "store_open created the schema");
	} else {
		cr_assert(access(g_env.db.name, F_OK) < 0 && errno == ENOENT, "store_open created %s",
			  g_env.db.name);
	}
	errno = 0;
	cr_assert_null(store_open(g_env.db.url, err, sizeof(err)));
	cr_assert_eq(errno, ENOENT);
}

/* A store whose schema_migrations names a migration this binary does not know: refused
 * with one line, never written to. */
Test(store, schema_newer_than_binary_refused, .init = setup, .fini = teardown)
{
	open_store();
	store_close(g_s);
	g_s = NULL;
	char sql[128], err[512] = "";
	snprintf(sql, sizeof(sql), "INSERT INTO schema_migrations VALUES (%zu, 0)",
		 store_n_migrations + 1);
	cr_assert_eq(test_db_sql(&g_env.db, sql, err, sizeof(err)), 0, "%s", err);
	errno = 0;
	cr_assert_null(store_open(g_env.db.url, err, sizeof(err)));
	cr_assert_eq(errno, EPROTO, "%s", err);
	cr_assert(strstr(err, "newer than this berth") && !strchr(err, '\n'), "%s", err);
	cr_assert_null(store_create(g_env.db.url, err, sizeof(err)));
}

Test(store, identity_is_set_once, .init = setup, .fini = teardown)
{
	open_store();
	char id[STORE_ID_LEN], kept[STORE_ID_LEN];
	cr_assert_eq(store_identity(g_s, id), -ENOENT);
	cr_assert_eq(store_identity_init(g_s, "11111111-1111-4111-8111-111111111111", kept), 0);
	cr_assert_eq(store_identity_init(g_s, "22222222-2222-4222-8222-222222222222", kept), 0);
	cr_assert_str_eq(kept, "11111111-1111-4111-8111-111111111111");
	cr_assert_eq(store_identity(g_s, id), 0);
	cr_assert_str_eq(id, kept);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

Test(store, root_and_store_belong_together, .init = setup, .fini = teardown)
{
	char err[512] = "", path[256], id[STORE_ID_LEN];
	/* Empty root: plain open refused, init creates and records the identity. */
	cr_assert_null(store_open_for_root(g_env.db.url, g_env.dir, STORE_ROOT_OPEN, err, sizeof(err)));
	cr_assert(strstr(err, "berth init"), "%s", err);
	struct store *s = store_open_for_root(g_env.db.url, g_env.dir, STORE_ROOT_INIT, err, sizeof(err));
	cr_assert_not_null(s, "%s", err);
	cr_assert_eq(store_identity(s, id), 0);
	store_close(s);
	cr_assert_null(store_open_for_root(g_env.db.url, g_env.dir, STORE_ROOT_INIT, err, sizeof(err)));
	s = store_open_for_root(g_env.db.url, g_env.dir, STORE_ROOT_OPEN, err, sizeof(err));
	cr_assert_not_null(s, "%s", err);
	store_close(s);
	/* The store deleted: never re-created, whatever the mode. */
	snprintf(path, sizeof(path), "%s/vmengine/vms/1", g_env.dir);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "mkdir -p %s", path);
	cr_assert_eq(system(cmd), 0);
	test_db_destroy(&g_env.db);
	cr_assert_null(store_open_for_root(g_env.db.url, g_env.dir, STORE_ROOT_CREATE_IF_EMPTY, err,
					   sizeof(err)));
	cr_assert(strstr(err, "missing") && strstr(err, id), "%s", err);
	errno = 0;
	cr_assert_null(store_open(g_env.db.url, err, sizeof(err)));      /* still nothing there */
	cr_assert_eq(errno, ENOENT);
	/* Without store.id either, the VM directory alone is enough to refuse. */
	snprintf(path, sizeof(path), "%s/store.id", g_env.dir);
	unlink(path);
	cr_assert_null(store_open_for_root(g_env.db.url, g_env.dir, STORE_ROOT_CREATE_IF_EMPTY, err,
					   sizeof(err)));
	cr_assert(strstr(err, "vmengine/vms/1"), "%s", err);
	/* Another store in its place: refused. */
	write_text(path, "33333333-3333-4333-8333-333333333333\n");
	s = store_create(g_env.db.url, err, sizeof(err));
	cr_assert_not_null(s, "%s", err);
	cr_assert_eq(store_identity_init(s, "44444444-4444-4444-8444-444444444444", id), 0);
	store_close(s);
	cr_assert_null(store_open_for_root(g_env.db.url, g_env.dir, STORE_ROOT_OPEN, err, sizeof(err)));
	cr_assert(strstr(err, "not this root's store"), "%s", err);
}

Test(store, url_scheme_picks_the_back_end, .init = setup, .fini = teardown)
{
	char err[256] = "", url[600];
	if (test_store_is_pg()) {
		/* libpq's short scheme names the same back end and the same database */
		snprintf(url, sizeof(url), "postgres:%s", strchr(g_env.db.url, ':') + 1);
		struct store *s = store_create(url, err, sizeof(err));
		cr_assert_not_null(s, "%s", err);
		store_close(s);
		cr_assert_eq(test_db_sql(&g_env.db, "SELECT count(*) FROM schema_migrations", err,
					 sizeof(err)), 0, "%s", err);
		return;
	}
	snprintf(url, sizeof(url), "sqlite:%s", g_env.db.name);  /* the scheme names the back end */
	struct store *s = store_create(url, err, sizeof(err));
	cr_assert_not_null(s, "%s", err);
	store_close(s);
	cr_assert(access(g_env.db.name, F_OK) == 0);            /* the same file as the plain path */
}

/* ---------------------------------------------------------------- VMs */

Test(store, vm_create_get_find_list, .init = setup, .fini = teardown)
{
	open_store();
	int64_t a = create("web");
	int64_t b = create("db");
	cr_assert_neq(a, b);

	struct store_vm vm;
	cr_assert_eq(store_vm_get(g_s, a, &vm), 0, "%s", store_error(g_s));
	cr_assert_str_eq(vm.name, "web");
	cr_assert_str_eq(vm.state, "CREATING");
	cr_assert_str_eq(vm.desired, "RUNNING");
	cr_assert_str_eq(vm.host, "h1");
	cr_assert_str_eq(vm.on_crash, "stop");
	cr_assert_str_eq(vm.append, "console=ttyS0");
	cr_assert_eq(vm.vcpus, 2);
	cr_assert_eq(vm.memory_mb, 256);
	cr_assert_eq(vm.generation, 0);
	cr_assert(vm.created_ms > 0 && vm.state_since_ms == vm.created_ms);

	struct store_volume vol;
	cr_assert_eq(store_volume_get(g_s, vm.volume_id, &vol), 0);
	cr_assert_eq(vol.vm_id, a);
	cr_assert_eq(vol.size_mb, 64);
	cr_assert_str_eq(vol.layout, "raid1");
	cr_assert_str_eq(vol.state, "CREATING");

	cr_assert_eq(store_vm_find(g_s, "db", &vm), 0);
	cr_assert_eq(vm.id, b);
	cr_assert_eq(store_vm_find(g_s, "nope", &vm), -ENOENT);
	cr_assert(strstr(store_error(g_s), "nope"), "%s", store_error(g_s));
	cr_assert_eq(store_vm_get(g_s, 999, &vm), -ENOENT);

	struct store_vm *vms;
	size_t n;
	cr_assert_eq(store_vm_list(g_s, NULL, false, &vms, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert(vms[0].id == a && vms[1].id == b);
	free(vms);
	cr_assert_eq(store_vm_list(g_s, "h1", false, &vms, &n), 0);
	cr_assert_eq(n, 2);
	free(vms);
	cr_assert_eq(store_vm_list(g_s, "other", true, &vms, &n), 0);
	cr_assert_eq(n, 0);
	free(vms);
}

Test(store, incomplete_vm_refused, .init = setup, .fini = teardown)
{
	open_store();
	struct store_vm vm;
	struct store_volume vol;
	make_vm(&vm, &vol, "x");
	vm.vcpus = 0;
	cr_assert_eq(store_vm_create(g_s, &vm, &vol), -EINVAL);
	make_vm(&vm, &vol, "x");
	snprintf(vm.desired, sizeof(vm.desired), "FLYING");
	cr_assert_eq(store_vm_create(g_s, &vm, &vol), -EINVAL);
	cr_assert_eq(count_vms(true), 0);
	cr_assert_eq(count_volumes(), 0);
}

Test(store, name_unique_among_live_vms, .init = setup, .fini = teardown)
{
	open_store();
	int64_t first = create("web");
	struct store_vm vm;
	struct store_volume vol;
	make_vm(&vm, &vol, "web");
	cr_assert_eq(store_vm_create(g_s, &vm, &vol), -EEXIST);
	cr_assert(strstr(store_error(g_s), "'web' exists"), "%s", store_error(g_s));

	/* Desired TERMINATED is not enough: the name is free once the VM is terminated. */
	cr_assert_eq(store_vm_set_desired(g_s, first, "TERMINATED", false), 0);
	make_vm(&vm, &vol, "web");
	cr_assert_eq(store_vm_create(g_s, &vm, &vol), -EEXIST);
	cr_assert_eq(store_vm_report(g_s, first, "TERMINATED", "", 0), 0);
	int64_t second = create("web");
	cr_assert_neq(first, second);

	struct store_vm found;
	cr_assert_eq(store_vm_find(g_s, "web", &found), 0);
	cr_assert_eq(found.id, second);
	cr_assert_eq(store_vm_get(g_s, first, &found), 0);      /* by id: still there */
	cr_assert_str_eq(found.state, "TERMINATED");
	/* The most recent VM of a name, terminated or not: the second, then once it is
	 * terminated too, still the second (the highest id), never the first. */
	cr_assert_eq(store_vm_find_latest(g_s, "web", &found), 0);
	cr_assert_eq(found.id, second);
	cr_assert_eq(store_vm_set_desired(g_s, second, "TERMINATED", false), 0);
	cr_assert_eq(store_vm_report(g_s, second, "TERMINATED", "", 0), 0);
	cr_assert_eq(store_vm_find(g_s, "web", &found), -ENOENT);
	cr_assert_eq(store_vm_find_latest(g_s, "web", &found), 0);
	cr_assert_eq(found.id, second);
	cr_assert_str_eq(found.state, "TERMINATED");
	cr_assert_eq(store_vm_find_latest(g_s, "never", &found), -ENOENT);
	int64_t third = create("web");
	cr_assert_eq(store_vm_find_latest(g_s, "web", &found), 0);
	cr_assert_eq(found.id, third);
	cr_assert_eq(count_vms(false), 1);
	cr_assert_eq(count_vms(true), 3);
}

Test(store, failed_create_leaves_nothing, .init = setup, .fini = teardown)
{
	open_store();
	create("web");
	size_t vols = count_volumes();
	struct store_vm vm;
	struct store_volume vol;
	make_vm(&vm, &vol, "web");                    /* the name is taken */
	cr_assert_eq(store_vm_create(g_s, &vm, &vol), -EEXIST);
	cr_assert_eq(vm.id, 0);
	cr_assert_eq(vol.id, 0);
	cr_assert_eq(count_volumes(), vols, "the refused VM's volume was left behind");
	cr_assert_eq(count_vms(true), 1);

	/* The uuid is taken: the same, on the VM row's other constraint. */
	struct store_vm other;
	cr_assert_eq(store_vm_find(g_s, "web", &other), 0);
	make_vm(&vm, &vol, "api");
	memcpy(vm.uuid, other.uuid, sizeof(vm.uuid));
	cr_assert_eq(store_vm_create(g_s, &vm, &vol), -EEXIST);
	cr_assert_eq(count_volumes(), vols);
	cr_assert_eq(count_vms(true), 1);

	/* No transaction was left open: the next create works. */
	create("api");
	cr_assert_eq(count_volumes(), vols + 1);
}

Test(store, set_desired, .init = setup, .fini = teardown)
{
	open_store();
	int64_t id = create("web");
	struct store_vm vm;
	cr_assert_eq(store_vm_set_desired(g_s, id, "STOPPED", false), 0);
	cr_assert_eq(store_vm_get(g_s, id, &vm), 0);
	cr_assert_str_eq(vm.desired, "STOPPED");
	cr_assert_eq(vm.generation, 0);
	cr_assert_eq(store_vm_set_desired(g_s, id, "RUNNING", true), 0);
	cr_assert_eq(store_vm_get(g_s, id, &vm), 0);
	cr_assert_str_eq(vm.desired, "RUNNING");
	cr_assert_eq(vm.generation, 1);

	cr_assert_eq(store_vm_set_desired(g_s, id, "PAUSED", false), -EINVAL);
	cr_assert_eq(store_vm_set_desired(g_s, 999, "STOPPED", false), -ENOENT);
}

Test(store, terminated_stays_terminated, .init = setup, .fini = teardown)
{
	open_store();
	int64_t id = create("web");
	cr_assert_eq(store_vm_set_desired(g_s, id, "TERMINATED", false), 0);
	/* Desired TERMINATED, not reached yet: no way back. */
	cr_assert_eq(store_vm_set_desired(g_s, id, "RUNNING", true), -EPERM);
	cr_assert(strstr(store_error(g_s), "terminated"), "%s", store_error(g_s));
	cr_assert_eq(store_vm_set_desired(g_s, id, "STOPPED", false), -EPERM);
	cr_assert_eq(store_vm_set_desired(g_s, id, "TERMINATED", false), 0);   /* again: fine */
	struct store_vm vm;
	cr_assert_eq(store_vm_get(g_s, id, &vm), 0);
	cr_assert_str_eq(vm.desired, "TERMINATED");
	cr_assert_eq(vm.generation, 0);

	cr_assert_eq(store_vm_report(g_s, id, "TERMINATED", "", 0), 0);
	cr_assert_eq(store_vm_set_desired(g_s, id, "RUNNING", true), -EPERM);
	cr_assert_eq(store_vm_get(g_s, id, &vm), 0);
	cr_assert_str_eq(vm.desired, "TERMINATED");
}

Test(store, report_moves_state_since_on_change_only, .init = setup, .fini = teardown)
{
	open_store();
	int64_t id = create("web");
	struct store_vm before, after;
	cr_assert_eq(store_vm_report(g_s, id, "STARTING", "", 0), 0);
	cr_assert_eq(store_vm_get(g_s, id, &before), 0);
	sleep_ms(20);
	cr_assert_eq(store_vm_report(g_s, id, "STARTING", "booting", 42), 0);
	cr_assert_eq(store_vm_get(g_s, id, &after), 0);
	cr_assert_eq(after.state_since_ms, before.state_since_ms);
	cr_assert_gt(after.updated_ms, before.updated_ms);
	cr_assert_str_eq(after.reason, "booting");
	cr_assert_eq(after.pid, 42);

	sleep_ms(20);
	cr_assert_eq(store_vm_report(g_s, id, "RUNNING", NULL, 42), 0);
	cr_assert_eq(store_vm_get(g_s, id, &after), 0);
	cr_assert_str_eq(after.state, "RUNNING");
	cr_assert_str_eq(after.reason, "");
	cr_assert_gt(after.state_since_ms, before.state_since_ms);
	cr_assert_eq(after.state_since_ms, after.updated_ms);

	cr_assert_eq(store_vm_report(g_s, id, "DANCING", "", 0), -EINVAL);
	cr_assert_eq(store_vm_report(g_s, 999, "RUNNING", "", 0), -ENOENT);
}

/* ---------------------------------------------------------------- volumes */

Test(store, volume_report_keeps_what_is_null, .init = setup, .fini = teardown)
{
	open_store();
	int64_t id = create("web");
	struct store_vm vm;
	cr_assert_eq(store_vm_get(g_s, id, &vm), 0);
	struct store_volume vol;
	cr_assert_eq(store_volume_report(g_s, vm.volume_id, "EXPORTED", "/run/vm1", ""), 0);
	cr_assert_eq(store_volume_get(g_s, vm.volume_id, &vol), 0);
	cr_assert_str_eq(vol.state, "EXPORTED");
	cr_assert_str_eq(vol.export_path, "/run/vm1");

	cr_assert_eq(store_volume_report(g_s, vm.volume_id, "ERROR", NULL, "disk full"), 0);
	cr_assert_eq(store_volume_get(g_s, vm.volume_id, &vol), 0);
	cr_assert_str_eq(vol.state, "ERROR");
	cr_assert_str_eq(vol.export_path, "/run/vm1");
	cr_assert_str_eq(vol.error, "disk full");

	cr_assert_eq(store_volume_report(g_s, vm.volume_id, "ONLINE", "", NULL), 0);
	cr_assert_eq(store_volume_get(g_s, vm.volume_id, &vol), 0);
	cr_assert_str_eq(vol.export_path, "");
	cr_assert_str_eq(vol.error, "disk full");

	cr_assert_eq(store_volume_report(g_s, vm.volume_id, "GONE", NULL, NULL), -EINVAL);
	cr_assert_eq(store_volume_report(g_s, 999, "ONLINE", NULL, NULL), -ENOENT);

	cr_assert_eq(store_volume_report(g_s, vm.volume_id, "DELETED", NULL, NULL), 0);
	struct store_volume *vols;
	size_t n;
	cr_assert_eq(store_volume_list(g_s, NULL, false, &vols, &n), 0);
	cr_assert_eq(n, 0);
	free(vols);
	cr_assert_eq(store_volume_list(g_s, "h1", true, &vols, &n), 0);
	cr_assert_eq(n, 1);
	free(vols);
}

/* ---------------------------------------------------------------- events */

Test(store, events_after_vm_limit, .init = setup, .fini = teardown)
{
	open_store();
	for (int i = 1; i <= 6; i++) {
		char msg[32];
		snprintf(msg, sizeof(msg), "e%d", i);
		cr_assert_eq(store_event_add(g_s, "h1", "cli", i % 2 ? 1 : 2, "info", msg), 0);
	}
	struct store_event *ev;
	size_t n;
	cr_assert_eq(store_event_list(g_s, 0, 0, 100, &ev, &n), 0);
	cr_assert_eq(n, 6);
	for (size_t i = 0; i < n; i++) {
		char msg[32];
		snprintf(msg, sizeof(msg), "e%zu", i + 1);
		cr_assert_str_eq(ev[i].message, msg);
		cr_assert(i == 0 || ev[i].id > ev[i - 1].id, "oldest first");
	}
	int64_t third = ev[2].id;
	cr_assert_str_eq(ev[0].component, "cli");
	cr_assert_str_eq(ev[0].level, "info");
	cr_assert_str_eq(ev[0].host, "h1");
	free(ev);

	cr_assert_eq(store_event_list(g_s, third, 0, 100, &ev, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(ev[0].message, "e4");
	free(ev);

	cr_assert_eq(store_event_list(g_s, 0, 2, 100, &ev, &n), 0);
	cr_assert_eq(n, 3);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(ev[i].vm_id, 2);
	cr_assert_str_eq(ev[0].message, "e2");
	free(ev);

	/* limit: the newest ones, still oldest first */
	cr_assert_eq(store_event_list(g_s, 0, 0, 2, &ev, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(ev[0].message, "e5");
	cr_assert_str_eq(ev[1].message, "e6");
	free(ev);

	cr_assert_eq(store_event_list(g_s, third, 1, 1, &ev, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(ev[0].message, "e5");
	free(ev);

	cr_assert_eq(store_event_list(g_s, 1000, 0, 10, &ev, &n), 0);
	cr_assert_eq(n, 0);
	free(ev);
}

Test(store, host_seen, .init = setup, .fini = teardown)
{
	open_store();
	cr_assert_eq(store_host_seen(g_s, "h1"), 0);
	cr_assert_eq(store_host_seen(g_s, "h1"), 0);
	cr_assert_eq(store_host_seen(g_s, "h2"), 0);
}

static int register_host(const char *name, unsigned vcpus, uint64_t memory_mb)
{
	struct store_host h = { .vcpus = vcpus, .memory_mb = memory_mb };
	snprintf(h.name, sizeof(h.name), "%s", name);
	return store_host_register(g_s, &h);
}

/* Hosts as rows: registered with their capacity, a heartbeat that keeps it, what their live
 * VMs take; a host only seen (diskengine) has no capacity yet. */
Test(store, hosts_register_heartbeat_and_use, .init = setup, .fini = teardown)
{
	open_store();
	cr_assert_eq(register_host("h1", 4, 8192), 0, "%s", store_error(g_s));
	cr_assert_eq(store_host_seen(g_s, "h2"), 0);
	int64_t a = create("a");
	create("b");                                    /* make_vm: h1, 2 vCPUs, 256 MiB */
	cr_assert_eq(store_vm_report(g_s, a, "TERMINATED", "", 0), 0);
	struct store_host *h;
	size_t n;
	cr_assert_eq(store_host_list(g_s, &h, &n), 0, "%s", store_error(g_s));
	cr_assert_eq(n, 2);
	cr_assert_str_eq(h[0].name, "h1");
	cr_assert_eq(h[0].vcpus, 4);
	cr_assert_eq(h[0].memory_mb, 8192);
	cr_assert_eq(h[0].vms, 1);
	cr_assert_eq(h[0].used_vcpus, 2);
	cr_assert_eq(h[0].used_memory_mb, 256);
	cr_assert(h[0].registered_ms > 0 && h[0].seen_ms == h[0].registered_ms);
	cr_assert_str_eq(h[1].name, "h2");
	cr_assert_eq(h[1].vcpus, 0);
	cr_assert_eq(h[1].vms, 0);
	int64_t seen = h[0].seen_ms;
	free(h);

	sleep_ms(20);
	cr_assert_eq(store_host_seen(g_s, "h1"), 0);          /* the heartbeat */
	cr_assert_eq(register_host("h2", 2, 1024), 0);
	cr_assert_eq(store_host_list(g_s, &h, &n), 0);
	cr_assert_gt(h[0].seen_ms, seen);
	cr_assert_eq(h[0].vcpus, 4, "a heartbeat keeps the capacity");
	cr_assert_eq(h[1].vcpus, 2);
	cr_assert_eq(h[1].memory_mb, 1024);
	free(h);

	cr_assert_eq(register_host("h3", 0, 1024), -EINVAL);
	cr_assert_eq(register_host("h3", 2, 0), -EINVAL);
	cr_assert_eq(register_host("", 2, 1024), -EINVAL);
	cr_assert_eq(store_host_seen(g_s, ""), -EINVAL);
	cr_assert(strstr(store_error(g_s), "name"), "%s", store_error(g_s));
}

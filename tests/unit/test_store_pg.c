/* test_store_pg.c — what only the PostgreSQL back end has (run with BERTH_TEST_STORE=
 * postgresql, on the server store_test_env.c starts): one clear line for a bad URI, a wrong
 * password, a missing database, no server; conninfo strings and service= select it too;
 * every call ends within its deadline when the server stops answering (SIGSTOP), and the
 * store reconnects by itself after the server comes back or is restarted (pg_ctl stop -m
 * fast; start), without a statement sent twice. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "pg_server.h"
#include "store.h"
#include "store_test_env.h"

#define DEADLINE_MS 1500
#define SLACK_MS 1000           /* a loaded 2-core machine's scheduling, on top */

static char g_dir[64];
static struct test_db g_db;
static struct store *g_s;

static void setup(void)
{
	cr_assert(test_store_is_pg(), "run with BERTH_TEST_STORE=postgresql");
	snprintf(g_dir, sizeof(g_dir), "/tmp/berth-store-pg-XXXXXX");
	cr_assert_not_null(mkdtemp(g_dir));
	test_db_new(&g_db, g_dir, "pg");
	g_s = NULL;
}

/* Whatever a test did to the server, the next one finds it running. */
static void teardown(void)
{
	pg_server_thaw();
	pg_server_start_again();        /* fails harmlessly when it runs */
	store_close(g_s);
	g_s = NULL;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	(void)!system(cmd);
}

static void open_store(void)
{
	char err[512] = "";
	g_s = store_create(g_db.url, err, sizeof(err));
	cr_assert_not_null(g_s, "store_create: %s", err);
}

static int64_t create(const char *name)
{
	struct store_vm vm = { .vcpus = 1, .memory_mb = 128 };
	struct store_volume vol = { .size_mb = 64 };
	snprintf(vm.name, sizeof(vm.name), "%s", name);
	snprintf(vm.uuid, sizeof(vm.uuid), "00000000-0000-4000-8000-0000000000%02u",
		 (unsigned)(monotonic_ms() % 100));
	snprintf(vm.host, sizeof(vm.host), "h1");
	snprintf(vm.desired, sizeof(vm.desired), "RUNNING");
	snprintf(vm.on_crash, sizeof(vm.on_crash), "stop");
	snprintf(vol.layout, sizeof(vol.layout), "raid1");
	cr_assert_eq(store_vm_create(g_s, &vm, &vol), 0, "%s", store_error(g_s));
	return vm.id;
}

/* The open fails with one line that contains want (and never the password). */
static void open_fails(const char *url, const char *want)
{
	char err[512] = "";
	int64_t t0 = monotonic_ms();
	struct store *s = store_open(url, err, sizeof(err));
	int64_t took = monotonic_ms() - t0;
	cr_assert_null(s, "%s opened", url);
	cr_assert(strstr(err, want), "'%s' does not say '%s'", err, want);
	cr_assert(!strchr(err, '\n'), "more than one line: '%s'", err);
	cr_assert(!strstr(err, "wrongpass"), "the password is in the message: '%s'", err);
	cr_assert_leq(took, DEADLINE_MS + SLACK_MS, "%lld ms", (long long)took);
}

/* Calls until one succeeds (the store reconnects with backoff), within limit_ms. */
static int64_t until_ok(int64_t id, int64_t limit_ms)
{
	int64_t t0 = monotonic_ms();
	struct store_vm vm;
	while (store_vm_get(g_s, id, &vm) != 0) {
		cr_assert_lt(monotonic_ms() - t0, limit_ms, "no reconnect: %s", store_error(g_s));
		struct timespec ts = { 0, 50 * 1000000L };      /* polling, not synchronising */
		nanosleep(&ts, NULL);
	}
	cr_assert_eq(vm.id, id);
	return monotonic_ms() - t0;
}

Test(store_pg, bad_uri_is_one_line, .init = setup, .fini = teardown)
{
	open_fails("postgresql://localhost/db?bogus_option=1", "bad store URL");
	open_fails("postgresql://[::1/db", "bad store URL");
}

Test(store_pg, wrong_password_is_one_line, .init = setup, .fini = teardown)
{
	char url[700];
	snprintf(url, sizeof(url), "postgresql:///%s?host=%s&user=pwuser&password=wrongpass",
		 g_db.name, pg_server_dir());
	open_fails(url, "password authentication failed for user \"pwuser\"");
}

Test(store_pg, missing_database_is_one_line, .init = setup, .fini = teardown)
{
	char url[700];
	snprintf(url, sizeof(url), "postgresql:///no_such_db?host=%s&user=berth", pg_server_dir());
	open_fails(url, "database \"no_such_db\" does not exist");
}

Test(store_pg, no_server_is_one_line, .init = setup, .fini = teardown)
{
	char url[700];
	snprintf(url, sizeof(url), "postgresql:///x?host=%s&user=berth", g_dir);
	open_fails(url, "cannot connect to the store");
}

Test(store_pg, conninfo_and_service_select_postgresql, .init = setup, .fini = teardown)
{
	char info[700], err[512] = "", path[128];
	snprintf(info, sizeof(info), "host=%s dbname=%s user=berth", pg_server_dir(), g_db.name);
	struct store *s = store_create(info, err, sizeof(err));
	cr_assert_not_null(s, "%s", err);
	store_close(s);
	snprintf(path, sizeof(path), "%s/pg_service.conf", g_dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "[berthtest]\nhost=%s\ndbname=%s\nuser=berth\n", pg_server_dir(), g_db.name);
	fclose(f);
	setenv("PGSERVICEFILE", path, 1);
	s = store_open("service=berthtest", err, sizeof(err));
	cr_assert_not_null(s, "%s", err);
	cr_assert_eq(store_host_seen(s, "h1"), 0, "%s", store_error(s));
	store_close(s);
	open_fails("service=nosuchservice", "nosuchservice");
}

/* The server stops answering: the call in flight fails at its deadline with one line, the
 * next ones fail as fast while the store backs off; once the server answers again, a call
 * reconnects and everything is still there. */
Test(store_pg, frozen_server_fails_calls_within_deadline, .init = setup, .fini = teardown,
     .timeout = 60)
{
	cr_assert_eq(store_set_timeout_ms(DEADLINE_MS), 0);
	open_store();
	int64_t id = create("web");
	cr_assert_eq(pg_server_freeze(), 0);
	struct store_vm *vms = NULL;
	size_t n;
	int64_t t0 = monotonic_ms();
	int rc = store_vm_list(g_s, NULL, true, &vms, &n);
	int64_t took = monotonic_ms() - t0;
	cr_assert_eq(rc, -ETIMEDOUT, "%d %s", rc, store_error(g_s));
	cr_assert_geq(took, DEADLINE_MS - 50);
	cr_assert_leq(took, DEADLINE_MS + SLACK_MS, "%lld ms", (long long)took);
	cr_assert(strstr(store_error(g_s), "did not answer within 1500 ms") &&
		  !strchr(store_error(g_s), '\n'), "%s", store_error(g_s));
	/* the next calls: within the deadline too, reconnecting or backing off */
	for (int i = 0; i < 3; i++) {
		struct store_vm vm;
		t0 = monotonic_ms();
		rc = store_vm_get(g_s, id, &vm);
		took = monotonic_ms() - t0;
		cr_assert(rc == -ETIMEDOUT || rc == -ENOTCONN, "%d %s", rc, store_error(g_s));
		cr_assert_leq(took, DEADLINE_MS + SLACK_MS, "%lld ms", (long long)took);
		cr_assert(!strchr(store_error(g_s), '\n'), "%s", store_error(g_s));
	}
	cr_assert_eq(pg_server_thaw(), 0);
	until_ok(id, 20000);
	cr_assert_eq(store_vm_list(g_s, NULL, true, &vms, &n), 0, "%s", store_error(g_s));
	cr_assert_eq(n, 1);
	free(vms);
}

/* A fast restart between two calls: the next call finds its idle connection closed by the
 * server, reconnects before sending anything, and succeeds. */
Test(store_pg, restart_between_calls_reconnects, .init = setup, .fini = teardown,
     .timeout = 90)
{
	cr_assert_eq(store_set_timeout_ms(5000), 0);
	open_store();
	int64_t id = create("web");
	cr_assert_eq(pg_server_stop_fast(), 0);
	cr_assert_eq(pg_server_start_again(), 0);
	struct store_vm vm;
	cr_assert_eq(store_vm_get(g_s, id, &vm), 0, "%s", store_error(g_s));
	cr_assert_eq(store_vm_report(g_s, id, "RUNNING", "", 7), 0, "%s", store_error(g_s));
	cr_assert_eq(store_vm_get(g_s, id, &vm), 0);
	cr_assert_str_eq(vm.state, "RUNNING");
	cr_assert_eq(vm.generation, 0);
}

/* A call during an outage fails at once with one line; after the server is back, the
 * store reconnects (after its backoff) and the call succeeds. */
Test(store_pg, outage_fails_fast_then_recovers, .init = setup, .fini = teardown,
     .timeout = 90)
{
	cr_assert_eq(store_set_timeout_ms(5000), 0);
	open_store();
	int64_t id = create("web");
	cr_assert_eq(pg_server_stop_fast(), 0);
	struct store_vm vm;
	int64_t t0 = monotonic_ms();
	int rc = store_vm_get(g_s, id, &vm);
	cr_assert_eq(rc, -ENOTCONN, "%d %s", rc, store_error(g_s));
	cr_assert_leq(monotonic_ms() - t0, 5000 + SLACK_MS);
	cr_assert(strstr(store_error(g_s), "cannot connect to the store") &&
		  !strchr(store_error(g_s), '\n'), "%s", store_error(g_s));
	cr_assert_eq(pg_server_start_again(), 0);
	until_ok(id, 20000);
	cr_assert_eq(store_host_seen(g_s, "h1"), 0, "%s", store_error(g_s));
}

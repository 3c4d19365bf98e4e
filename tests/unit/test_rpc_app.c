/* test_rpc_app.c — the application and RPC-layer methods through rpc_call_local(), which
 * dispatches exactly like the socket server: spdk_get_version, rpc_get_methods,
 * framework_get_reactors, thread_get_stats and thread_get_pollers in SPDK's shapes; -32601 for
 * unknown methods; -32602 for unknown, missing and mistyped keys on every method, without
 * effect; and the fault injection methods (applied by the socket server only, never by local
 * calls). The bdev methods are in test_rpc_bdev.c, raid and save_config in
 * test_rpc_raid_config.c. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "berth_version.h"
#include "blockd.h"
#include "deadline_io.h"
#include "fault.h"
#include "jsonrpc.h"
#include "jsonrpc_client.h"
#include "reactor.h"
#include "rpc.h"
#include "rpc_harness.h"
#include "rpc_server.h"

TestSuite(rpc, .init = rpc_harness_setup, .fini = rpc_harness_teardown, .timeout = 60);

/* ---------------------------------------------------------------- helpers */

static const char *const all_methods[] = {
	"spdk_get_version", "rpc_get_methods", "framework_get_reactors", "thread_get_stats",
	"thread_get_pollers", "save_config", "bdev_get_bdevs", "bdev_get_iostat",
	"bdev_malloc_create", "bdev_malloc_delete", "bdev_null_create", "bdev_null_delete",
	"bdev_uring_create", "bdev_uring_delete", "bdev_aio_create", "bdev_aio_delete",
	"bdev_delay_create", "bdev_delay_delete", "bdev_delay_update_latency",
	"bdev_raid_create", "bdev_raid_delete", "bdev_raid_get_bdevs",
};
#define NUM_METHODS (sizeof(all_methods) / sizeof(all_methods[0]))

static bool list_has_name(const json_t *list, const char *name)
{
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e) {
		if (json_is_string(e) && !strcmp(json_string_value(e), name))
			return true;
		if (json_is_object(e) && json_is_string(json_object_get(e, "name")) &&
		    !strcmp(json_string_value(json_object_get(e, "name")), name))
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------- application methods */

Test(rpc, spdk_get_version)
{
	json_t *r = rpc_ok("spdk_get_version", NULL);
	cr_assert_str_eq(sget(r, "version"), "blockd v" BERTH_VERSION);
	json_t *f = oget(r, "fields");
	unsigned major, minor, patch;
	cr_assert_eq(sscanf(BERTH_VERSION, "%u.%u.%u", &major, &minor, &patch), 3);
	cr_assert_eq(iget(f, "major"), major);
	cr_assert_eq(iget(f, "minor"), minor);
	cr_assert_eq(iget(f, "patch"), patch);
	sget(f, "suffix");
	json_decref(r);
	/* an empty params object is the same as none */
	r = rpc_ok("spdk_get_version", "{}");
	json_decref(r);
}

Test(rpc, rpc_get_methods_lists_every_method)
{
	json_t *r = rpc_ok("rpc_get_methods", NULL);
	cr_assert(json_is_array(r));
	for (size_t i = 0; i < NUM_METHODS; i++)
		cr_assert(list_has_name(r, all_methods[i]), "%s missing", all_methods[i]);
	size_t i;
	json_t *e;
	json_array_foreach(r, i, e) {
		cr_assert(json_is_string(e));
		const char *name = json_string_value(e);
		cr_assert_not_null(rpc_find_method(name), "%s listed but not callable", name);
		for (size_t j = i + 1; j < json_array_size(r); j++)
			cr_assert_str_neq(name, json_string_value(json_array_get(r, j)),
					  "%s listed twice", name);
	}
	cr_assert_not(list_has_name(r, "blockd_fault_inject"),
		      "fault injection methods without --fault-injection");
	cr_assert_not(list_has_name(r, "blockd_fault_clear"));
	json_decref(r);

	/* SPDK's parameters are accepted */
	r = rpc_ok("rpc_get_methods", "{\"current\":true,\"include_aliases\":false}");
	cr_assert(list_has_name(r, "bdev_get_bdevs"));
	json_decref(r);
	rpc_fail(JRPC_INVALID_PARAMS, "rpc_get_methods", "{\"current\":\"yes\"}");
}

Test(rpc, rpc_get_methods_with_fault_injection)
{
	fault_set_enabled(true);
	json_t *r = rpc_ok("rpc_get_methods", NULL);
	cr_assert(list_has_name(r, "blockd_fault_inject"));
	cr_assert(list_has_name(r, "blockd_fault_clear"));
	for (size_t i = 0; i < NUM_METHODS; i++)
		cr_assert(list_has_name(r, all_methods[i]), "%s missing", all_methods[i]);
	json_decref(r);
}

static atomic_bool msg_ran;

static void mark_msg(void *arg)
{
	(void)arg;
	atomic_store(&msg_ran, true);
}

/* Makes the reactor do one piece of work and waits for it. */
static void kick_reactor(void)
{
	atomic_store(&msg_ran, false);
	cr_assert_eq(reactor_send_msg(g_blockd.reactors[0], mark_msg, NULL), 0);
	int64_t until = monotonic_ms() + RPC_HARNESS_TIMEOUT_MS;
	while (!atomic_load(&msg_ran) && monotonic_ms() < until) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	cr_assert(atomic_load(&msg_ran), "the reactor did not run a message");
	/* The reactor adds the iteration's time to its busy count after the message returns:
	 * wait for that too, or a reader may be quicker than the reactor. */
	struct reactor_stats st = { 0 };
	while (reactor_get_stats(g_blockd.reactors[0], &st), st.busy_ns == 0 &&
	       monotonic_ms() < until) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	cr_assert_gt(st.busy_ns, 0, "the reactor did not count its message as busy");
}

/* Finds the lw_thread / thread entry of the reactor; returns its parent entry. */
static json_t *find_thread(json_t *arr, const char *name, const char *sub)
{
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e) {
		if (sub) {
			size_t j;
			json_t *t;
			json_array_foreach(aget(e, sub), j, t) {
				if (!strcmp(sget(t, "name"), name))
					return e;
			}
		} else if (!strcmp(sget(e, "name"), name)) {
			return e;
		}
	}
	return NULL;
}

Test(rpc, framework_get_reactors)
{
	kick_reactor();
	json_t *r = rpc_ok("framework_get_reactors", NULL);
	cr_assert_eq(iget(r, "tick_rate"), 1000000000);
	cr_assert_eq(iget(r, "pid"), getpid());
	json_t *reactors = aget(r, "reactors");
	cr_assert_eq(json_array_size(reactors), 1 + g_blockd.num_reactors,
		     "the app thread and each reactor");
	size_t i;
	json_t *e;
	json_array_foreach(reactors, i, e) {
		cr_assert_eq(iget(e, "lcore"), (json_int_t)i);
		cr_assert_geq(iget(e, "busy"), 0);
		cr_assert_geq(iget(e, "idle"), 0);
		cr_assert_geq(iget(e, "poll_ns"), 0);
		json_t *lw = aget(e, "lw_threads");
		cr_assert_geq(json_array_size(lw), 1);
		sget(json_array_get(lw, 0), "name");
		iget(json_array_get(lw, 0), "id");
	}
	json_t *re = find_thread(reactors, "reactor_0", "lw_threads");
	cr_assert_not_null(re, "reactor_0 not reported");
	cr_assert_gt(iget(re, "busy"), 0, "the reactor's real busy ticks (it ran a message)");
	cr_assert_not_null(find_thread(reactors, "app_thread", "lw_threads"));
	json_decref(r);
	rpc_fail(JRPC_INVALID_PARAMS, "framework_get_reactors", "{\"x\":1}");
}

Test(rpc, thread_get_stats)
{
	kick_reactor();
	json_t *r = rpc_ok("thread_get_stats", NULL);
	cr_assert_eq(iget(r, "tick_rate"), 1000000000);
	json_t *threads = aget(r, "threads");
	cr_assert_eq(json_array_size(threads), 1 + g_blockd.num_reactors);
	size_t i;
	json_t *e;
	json_array_foreach(threads, i, e) {
		sget(e, "name");
		iget(e, "id");
		sget(e, "cpumask");
		cr_assert_geq(iget(e, "busy"), 0);
		cr_assert_geq(iget(e, "idle"), 0);
		cr_assert_geq(iget(e, "active_pollers_count"), 0);
		cr_assert_geq(iget(e, "timed_pollers_count"), 0);
		cr_assert_geq(iget(e, "paused_pollers_count"), 0);
	}
	json_t *t = find_thread(threads, "reactor_0", NULL);
	cr_assert_not_null(t);
	cr_assert_gt(iget(t, "busy"), 0);
	json_decref(r);
}

static int idle_poller(void *arg)
{
	(void)arg;
	return 0;
}

static bool pollers_list_has(const char *thread, const char *list, const char *poller)
{
	json_t *r = rpc_ok("thread_get_pollers", NULL);
	json_t *t = find_thread(aget(r, "threads"), thread, NULL);
	bool found = t && list_has_name(aget(t, list), poller);
	json_decref(r);
	return found;
}

Test(rpc, thread_get_pollers)
{
	json_t *r = rpc_ok("thread_get_pollers", NULL);
	cr_assert_eq(iget(r, "tick_rate"), 1000000000);
	json_t *threads = aget(r, "threads");
	cr_assert_eq(json_array_size(threads), 1 + g_blockd.num_reactors);
	size_t i;
	json_t *e;
	json_array_foreach(threads, i, e) {
		sget(e, "name");
		iget(e, "id");
		aget(e, "active_pollers");
		aget(e, "timed_pollers");
		aget(e, "paused_pollers");
	}
	cr_assert_not_null(find_thread(threads, "reactor_0", NULL));
	json_decref(r);

	/* A poller registered on the reactor shows up, in the right list. */
	struct reactor *re = g_blockd.reactors[0];
	struct reactor_poller *p = reactor_poller_register(re, "test_timed", idle_poller, NULL,
							   1000000);
	cr_assert_not_null(p);
	int64_t until = monotonic_ms() + RPC_HARNESS_TIMEOUT_MS;
	while (!pollers_list_has("reactor_0", "timed_pollers", "test_timed") &&
	       monotonic_ms() < until)
		kick_reactor();
	cr_assert(pollers_list_has("reactor_0", "timed_pollers", "test_timed"));
	cr_assert_not(pollers_list_has("reactor_0", "active_pollers", "test_timed"));
	r = rpc_ok("thread_get_pollers", NULL);
	json_t *t = find_thread(aget(r, "threads"), "reactor_0", NULL);
	json_array_foreach(aget(t, "timed_pollers"), i, e) {
		if (!strcmp(sget(e, "name"), "test_timed")) {
			cr_assert_eq(iget(e, "period_ticks"), 1000000);
			iget(e, "run_count");
			iget(e, "busy_count");
		}
	}
	json_decref(r);
	reactor_poller_unregister(re, p);
}

/* ---------------------------------------------------------------- unknown methods */

Test(rpc, unknown_method)
{
	const char *msg = rpc_fail(JRPC_METHOD_NOT_FOUND, "bdev_frobnicate", NULL);
	cr_assert(strstr(msg, "not found") || strstr(msg, "Method"), "%s", msg);
	rpc_fail(JRPC_METHOD_NOT_FOUND, "", NULL);
	rpc_fail(JRPC_METHOD_NOT_FOUND, "BDEV_GET_BDEVS", NULL);
	/* only with --fault-injection */
	rpc_fail(JRPC_METHOD_NOT_FOUND, "blockd_fault_inject",
		 "{\"method\":\"bdev_get_bdevs\",\"action\":\"error\"}");
	rpc_fail(JRPC_METHOD_NOT_FOUND, "blockd_fault_clear", NULL);
}

/* ---------------------------------------------------------------- params checking, all methods */

/* Every method refuses unknown keys and params that are not an object, without effect. */
Test(rpc, every_method_refuses_unknown_keys_and_non_object_params)
{
	fault_set_enabled(true);
	rpc_make_malloc("M", 64, 512);
	json_t *names = rpc_ok("rpc_get_methods", NULL);
	size_t i;
	json_t *e;
	json_array_foreach(names, i, e) {
		const char *m = json_string_value(e);
		const char *msg = rpc_fail(JRPC_INVALID_PARAMS, m, "{\"no_such_key_x\":1}");
		cr_assert(strstr(msg, "no_such_key_x"), "%s: message names the key: %s", m, msg);
		rpc_fail(JRPC_INVALID_PARAMS, m, "[1]");
		rpc_fail(JRPC_INVALID_PARAMS, m, "[]");
	}
	json_decref(names);
}

struct method_case {
	const char *method;
	const char *params;            /* valid */
	const char *const *required;   /* NULL-terminated */
};

static const char *const req_none[] = { NULL };
static const char *const req_malloc[] = { "num_blocks", "block_size", NULL };
static const char *const req_null[] = { "name", "num_blocks", "block_size", NULL };
static const char *const req_file[] = { "name", "filename", NULL };
static const char *const req_delay[] = { "base_bdev_name", "name", "avg_read_latency",
					 "p99_read_latency", "avg_write_latency",
					 "p99_write_latency", NULL };
static const char *const req_update[] = { "delay_bdev_name", "latency_type", "latency_us",
					  NULL };
static const char *const req_raid[] = { "name", "raid_level", "base_bdevs", NULL };
static const char *const req_category[] = { "category", NULL };
static const char *const req_name[] = { "name", NULL };

/* A value of another JSON type than v. */
static json_t *mistyped(const json_t *v)
{
	if (json_is_string(v))
		return json_integer(7);
	if (json_is_integer(v))
		return json_string("7");
	if (json_is_boolean(v))
		return json_integer(1);
	if (json_is_array(v))
		return json_string("x");
	return json_array();
}

static bool is_required(const struct method_case *c, const char *key)
{
	for (const char *const *k = c->required; *k; k++)
		if (!strcmp(*k, key))
			return true;
	return false;
}

static void call_expect_invalid(const char *method, json_t *params, const char *what)
{
	char *text = json_dumps(params, JSON_COMPACT);
	const char *msg = rpc_fail(JRPC_INVALID_PARAMS, method, "%s", text);
	cr_assert(strstr(msg, what), "%s %s: message \"%s\" does not name %s", method, text, msg,
		  what);
	free(text);
}

/* For each key of a valid call: removing it (when required) and giving it another type
 * are -32602 naming the key, with no effect; then the valid call succeeds. */
static void check_method_case(const struct method_case *c)
{
	json_t *valid = rpc_json(c->params);
	for (const char *const *k = c->required; *k; k++)
		cr_assert_not_null(json_object_get(valid, *k), "bad test case %s", c->method);
	const char *key;
	json_t *v;
	json_object_foreach(valid, key, v) {
		json_t *p = json_deep_copy(valid);
		if (is_required(c, key)) {
			json_object_del(p, key);
			call_expect_invalid(c->method, p, key);
		}
		json_object_set_new(p, key, mistyped(v));
		call_expect_invalid(c->method, p, key);
		json_object_set_new(p, key, json_null());
		call_expect_invalid(c->method, p, key);
		json_decref(p);
	}
	if (c->required[0])
		rpc_fail(JRPC_INVALID_PARAMS, c->method, NULL);
	json_t *r = rpc_ok(c->method, "%s", c->params);
	json_decref(r);
	json_decref(valid);
}

Test(rpc, missing_and_mistyped_keys_on_every_method)
{
	rpc_make_malloc("Base0", 256, 512);
	rpc_make_malloc("Base1", 256, 512);
	rpc_make_malloc("Base2", 256, 512);
	const char *f1 = rpc_tmpfile(1 << 20), *f2 = rpc_tmpfile(1 << 20);
	char uring[512], aio[512];
	snprintf(uring, sizeof(uring), "{\"name\":\"U0\",\"filename\":\"%s\",\"block_size\":512,"
		 "\"uuid\":\"0d5b7e3c-1f2a-4b3c-9d4e-5f6a7b8c9d0e\"}", f1);
	snprintf(aio, sizeof(aio), "{\"name\":\"A0\",\"filename\":\"%s\",\"block_size\":512,"
		 "\"readonly\":false,\"fallocate\":false,"
		 "\"uuid\":\"1d5b7e3c-1f2a-4b3c-9d4e-5f6a7b8c9d0e\"}", f2);
	const struct method_case cases[] = {
		{ "spdk_get_version", "{}", req_none },
		{ "rpc_get_methods", "{\"current\":false,\"include_aliases\":true}", req_none },
		{ "bdev_get_bdevs", "{\"name\":\"Base0\",\"timeout\":10}", req_none },
		{ "bdev_get_iostat", "{\"name\":\"Base0\",\"per_channel\":false}", req_none },
		{ "bdev_malloc_create", "{\"name\":\"M0\",\"num_blocks\":64,\"block_size\":512,"
		  "\"uuid\":\"6d5b7e3c-1f2a-4b3c-9d4e-5f6a7b8c9d0e\"}", req_malloc },
		{ "bdev_null_create", "{\"name\":\"N0\",\"num_blocks\":64,\"block_size\":512,"
		  "\"uuid\":\"7d5b7e3c-1f2a-4b3c-9d4e-5f6a7b8c9d0e\"}", req_null },
		{ "bdev_uring_create", uring, req_file },
		{ "bdev_aio_create", aio, req_file },
		{ "bdev_delay_create", "{\"base_bdev_name\":\"Base0\",\"name\":\"D0\","
		  "\"avg_read_latency\":1,\"p99_read_latency\":2,\"avg_write_latency\":3,"
		  "\"p99_write_latency\":4,\"uuid\":\"8d5b7e3c-1f2a-4b3c-9d4e-5f6a7b8c9d0e\"}",
		  req_delay },
		{ "bdev_delay_update_latency", "{\"delay_bdev_name\":\"D0\","
		  "\"latency_type\":\"avg_write\",\"latency_us\":5}", req_update },
		{ "bdev_raid_create", "{\"name\":\"R0\",\"raid_level\":\"raid0\","
		  "\"base_bdevs\":[\"Base1\",\"Base2\"],\"strip_size_kb\":4,"
		  "\"uuid\":\"9d5b7e3c-1f2a-4b3c-9d4e-5f6a7b8c9d0e\",\"superblock\":false}",
		  req_raid },
		{ "bdev_raid_get_bdevs", "{\"category\":\"online\"}", req_category },
		{ "bdev_raid_delete", "{\"name\":\"R0\"}", req_name },
		{ "bdev_delay_delete", "{\"name\":\"D0\"}", req_name },
		{ "bdev_aio_delete", "{\"name\":\"A0\"}", req_name },
		{ "bdev_uring_delete", "{\"name\":\"U0\"}", req_name },
		{ "bdev_null_delete", "{\"name\":\"N0\"}", req_name },
		{ "bdev_malloc_delete", "{\"name\":\"M0\"}", req_name },
		{ "framework_get_reactors", "{}", req_none },
		{ "thread_get_stats", "{}", req_none },
		{ "thread_get_pollers", "{}", req_none },
		{ "save_config", "{}", req_none },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_method_case(&cases[i]);
	cr_assert_eq(rpc_bdev_count(), 3, "every create was undone by its delete");
}

Test(rpc, unsigned_keys_refuse_negatives_and_overflow)
{
	rpc_make_malloc("Base", 64, 512);
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_malloc_create",
		 "{\"num_blocks\":64,\"block_size\":-512}");
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_malloc_create",
		 "{\"num_blocks\":64,\"block_size\":4294967296}");
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_delay_create",
		 "{\"base_bdev_name\":\"Base\",\"name\":\"D\",\"avg_read_latency\":-1,"
		 "\"p99_read_latency\":1,\"avg_write_latency\":1,\"p99_write_latency\":1}");
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_raid_create", "{\"name\":\"R\",\"raid_level\":"
		 "\"raid0\",\"strip_size_kb\":-64,\"base_bdevs\":[\"Base\"]}");
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_raid_create", "{\"name\":\"R\",\"raid_level\":"
		 "\"raid0\",\"strip_size_kb\":64,\"base_bdevs\":[\"Base\",7]}");
	/* an absurd latency is a module error, not a crash */
	rpc_fail(-EINVAL, "bdev_delay_create",
		 "{\"base_bdev_name\":\"Base\",\"name\":\"D\",\"avg_read_latency\":"
		 "9223372036854775807,\"p99_read_latency\":1,\"avg_write_latency\":1,"
		 "\"p99_write_latency\":1}");
}

/* ---------------------------------------------------------------- fault injection */

Test(rpc, fault_inject_and_clear)
{
	fault_set_enabled(true);
	json_t *r = rpc_ok("blockd_fault_inject", "{\"method\":\"bdev_get_bdevs\","
			   "\"action\":\"error\",\"error_code\":-5}");
	cr_assert(json_is_true(r));
	json_decref(r);

	/* local calls (config replay) are never subject to faults, and do not consume them */
	for (int i = 0; i < 3; i++) {
		r = rpc_ok("bdev_get_bdevs", NULL);
		cr_assert(json_is_array(r));
		json_decref(r);
	}
	/* the table holds it, as the socket server will see it */
	struct fault_hit hit = { 0 };
	cr_assert(fault_check("bdev_get_bdevs", &hit));
	cr_assert_eq(hit.action, FAULT_ERROR);
	cr_assert_eq(hit.error_code, -5);
	cr_assert(fault_check("bdev_get_bdevs", &hit), "count 0 = until cleared");
	cr_assert_not(fault_check("spdk_get_version", &hit));

	r = rpc_ok("blockd_fault_clear", "{\"method\":\"bdev_get_bdevs\"}");
	cr_assert(json_is_true(r));
	json_decref(r);
	cr_assert_not(fault_check("bdev_get_bdevs", &hit));
	rpc_fail(-ENOENT, "blockd_fault_clear", "{\"method\":\"bdev_get_bdevs\"}");
	rpc_fail(-ENOENT, "blockd_fault_clear", "{\"method\":\"spdk_get_version\"}");

	/* count, then re-arming replaces */
	r = rpc_ok("blockd_fault_inject", "{\"method\":\"bdev_malloc_create\","
		   "\"action\":\"delay\",\"delay_ms\":50,\"count\":2}");
	json_decref(r);
	r = rpc_ok("blockd_fault_inject", "{\"method\":\"spdk_get_version\",\"action\":\"hang\"}");
	json_decref(r);
	cr_assert(fault_check("bdev_malloc_create", &hit));
	cr_assert_eq(hit.action, FAULT_DELAY);
	cr_assert_eq(hit.delay_ms, 50u);
	cr_assert(fault_check("bdev_malloc_create", &hit));
	cr_assert_not(fault_check("bdev_malloc_create", &hit), "count 2 is spent");
	cr_assert(fault_check("spdk_get_version", &hit));
	cr_assert_eq(hit.action, FAULT_HANG);

	/* clear without a method clears everything */
	r = rpc_ok("blockd_fault_clear", NULL);
	json_decref(r);
	cr_assert_not(fault_check("spdk_get_version", &hit));
	r = rpc_ok("blockd_fault_clear", "{}");
	json_decref(r);
}

Test(rpc, fault_inject_errors)
{
	fault_set_enabled(true);
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_inject",
		 "{\"method\":\"bdev_get_bdevs\",\"action\":\"explode\"}");
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_inject",
		 "{\"method\":\"no_such_method\",\"action\":\"error\"}");
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_inject",
		 "{\"method\":\"blockd_fault_inject\",\"action\":\"error\"}");
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_inject",
		 "{\"method\":\"blockd_fault_clear\",\"action\":\"hang\"}");
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_inject",
		 "{\"method\":\"bdev_get_bdevs\",\"action\":\"error\",\"error_code\":5}");
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_inject",
		 "{\"method\":\"bdev_get_bdevs\",\"action\":\"delay\"}");
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_inject",
		 "{\"method\":\"bdev_get_bdevs\",\"action\":\"delay\",\"delay_ms\":3600001}");
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_inject", "{\"method\":\"bdev_get_bdevs\"}");
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_inject", "{\"action\":\"error\"}");
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_inject",
		 "{\"method\":\"bdev_get_bdevs\",\"action\":\"error\",\"count\":-1}");
	struct fault_hit hit;
	cr_assert_not(fault_check("bdev_get_bdevs", &hit), "a refused injection arms nothing");
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_clear", "{\"method\":5}");
}

/* The socket server applies the faults that local calls ignore. The server runs on its own
 * reactor thread (which is then blockd's control thread); this thread only talks to it. */
struct server_thread {
	struct rpc_server *s;
	struct reactor *app;
};

Test(rpc, socket_server_applies_faults)
{
	signal(SIGPIPE, SIG_IGN);
	fault_set_enabled(true);
	rpc_make_malloc("M", 64, 512);
	char dir[] = "/tmp/berth-rpcsrv-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/rpc.sock", dir);

	struct server_thread st = { 0 };
	st.app = reactor_create("app_thread", 100, 0);
	cr_assert_not_null(st.app);
	st.s = rpc_server_open(path, st.app);
	cr_assert_not_null(st.s);
	cr_assert_eq(reactor_start(st.app, false), 0);

	struct jrpc_client *c = jrpc_client_new(path);
	jrpc_client_set_timeout(c, 5000);
	json_t *res = NULL;
	struct jrpc_error err = { 0 };
	int rc;

	rc = jrpc_call(c, "bdev_get_bdevs", NULL, &res, &err);
	cr_expect_eq(rc, 0, "%d %s", rc, err.message);
	cr_expect_eq(json_array_size(res), 1);
	json_decref(res);
	res = NULL;

	/* a create over the socket answers the name, like the local call */
	json_t *p = json_pack("{s:s, s:i, s:i}", "name", "OverSocket", "num_blocks", 64,
			      "block_size", 512);
	rc = jrpc_call_timeout(c, "bdev_malloc_create", p, 2000, &res, &err);
	json_decref(p);
	cr_expect_eq(rc, 0, "bdev_malloc_create over the socket: %d %s", rc,
		     rc == -EREMOTEIO ? err.message : "");
	cr_expect_str_eq(json_string_value(res) ? json_string_value(res) : "(null)",
			 "OverSocket");
	json_decref(res);
	res = NULL;

	p = json_pack("{s:s, s:s, s:i}", "method", "bdev_get_bdevs", "action", "error",
			      "count", 1);
	rc = jrpc_call(c, "blockd_fault_inject", p, &res, &err);
	json_decref(p);
	cr_expect_eq(rc, 0, "%d %s", rc, err.message);
	json_decref(res);
	res = NULL;

	rc = jrpc_call(c, "bdev_get_bdevs", NULL, &res, &err);
	cr_expect_eq(rc, -EREMOTEIO, "the injected error was not applied: %d", rc);
	cr_expect_eq(err.code, -EIO, "default error_code -5, got %d", err.code);
	cr_expect(strstr(err.message, "injected"), "%s", err.message);

	rc = jrpc_call(c, "bdev_get_bdevs", NULL, &res, &err);
	cr_expect_eq(rc, 0, "count 1 is spent: %d", rc);
	json_decref(res);
	res = NULL;

	/* a hung method costs its caller the deadline; other clients are still served */
	p = json_pack("{s:s, s:s}", "method", "spdk_get_version", "action", "hang");
	rc = jrpc_call(c, "blockd_fault_inject", p, &res, &err);
	json_decref(p);
	cr_expect_eq(rc, 0);
	json_decref(res);
	res = NULL;
	int64_t t0 = monotonic_ms();
	rc = jrpc_call_timeout(c, "spdk_get_version", NULL, 300, &res, &err);
	cr_expect_eq(rc, -ETIMEDOUT, "%d", rc);
	cr_expect_lt(monotonic_ms() - t0, 3000);
	struct jrpc_client *c2 = jrpc_client_new(path);
	jrpc_client_set_timeout(c2, 5000);
	rc = jrpc_call(c2, "bdev_get_bdevs", NULL, &res, &err);
	cr_expect_eq(rc, 0, "another client is served while one request hangs: %d", rc);
	json_decref(res);
	res = NULL;
	/* and an unknown method over the socket is -32601 */
	rc = jrpc_call(c2, "no_such_method", NULL, &res, &err);
	cr_expect_eq(rc, -EREMOTEIO);
	cr_expect_eq(err.code, JRPC_METHOD_NOT_FOUND);

	jrpc_client_free(c);
	jrpc_client_free(c2);
	reactor_stop(st.app);
	rpc_server_close(st.s);
	reactor_destroy(st.app);
	cr_expect_neq(access(path, F_OK), 0, "the socket file is removed at close");
	rmdir(dir);
}

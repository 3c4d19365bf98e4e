/* test_rpc_methods.c — every blockd RPC method through rpc_call_local(), which dispatches
 * exactly like the socket server: result shapes as SPDK's (bdev_get_bdevs, bdev_raid_get_bdevs,
 * bdev_get_iostat, framework_get_reactors, thread_get_stats, thread_get_pollers,
 * spdk_get_version, rpc_get_methods, save_config), the error paths (-32602 for unknown,
 * missing and mistyped keys on every method, -32601, and the modules' -22/-17/-19/-16), that a
 * failed call changes nothing, that save_config replays to the same bdevs, and the fault
 * injection methods (applied by the socket server only, never by local calls). */
#include <criterion/criterion.h>
#include <errno.h>
#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bdev.h"
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

/* ---------------------------------------------------------------- shape helpers */

static const char *const all_methods[] = {
	"spdk_get_version", "rpc_get_methods", "framework_get_reactors", "thread_get_stats",
	"thread_get_pollers", "save_config", "bdev_get_bdevs", "bdev_get_iostat",
	"bdev_malloc_create", "bdev_malloc_delete", "bdev_null_create", "bdev_null_delete",
	"bdev_uring_create", "bdev_uring_delete", "bdev_aio_create", "bdev_aio_delete",
	"bdev_delay_create", "bdev_delay_delete", "bdev_delay_update_latency",
	"bdev_raid_create", "bdev_raid_delete", "bdev_raid_get_bdevs",
};
#define NUM_METHODS (sizeof(all_methods) / sizeof(all_methods[0]))

static bool uuid_valid(const char *s)
{
	if (!s || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !(isdigit((unsigned char)s[i]) ||
					    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

static json_int_t iget(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert(json_is_integer(v), "member %s is not an integer", key);
	return json_integer_value(v);
}

static const char *sget(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert(json_is_string(v), "member %s is not a string", key);
	return json_string_value(v);
}

static bool bget(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert(json_is_boolean(v), "member %s is not a boolean", key);
	return json_is_true(v);
}

static json_t *aget(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert(json_is_array(v), "member %s is not an array", key);
	return v;
}

static json_t *oget(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert(json_is_object(v), "member %s is not an object", key);
	return v;
}

/* Checks one bdev_get_bdevs entry against SPDK's shape. */
static void check_bdev(const json_t *b, const char *name, const char *product, uint32_t bs,
		       uint64_t nb, bool claimed)
{
	cr_assert(json_is_object(b));
	cr_assert_str_eq(sget(b, "name"), name);
	aget(b, "aliases");
	cr_assert_str_eq(sget(b, "product_name"), product, "%s", name);
	cr_assert_eq(iget(b, "block_size"), (json_int_t)bs, "%s", name);
	cr_assert_eq(iget(b, "num_blocks"), (json_int_t)nb, "%s: num_blocks %lld", name,
		     (long long)iget(b, "num_blocks"));
	cr_assert(uuid_valid(sget(b, "uuid")), "%s: uuid %s", name, sget(b, "uuid"));
	cr_assert_eq(bget(b, "claimed"), claimed, "%s claimed", name);
	if (claimed)
		sget(b, "claim_type");
	json_t *io = oget(b, "supported_io_types");
	cr_assert(json_is_boolean(json_object_get(io, "read")));
	cr_assert(json_is_boolean(json_object_get(io, "write")));
	cr_assert(json_is_boolean(json_object_get(io, "flush")));
	cr_assert(json_is_boolean(json_object_get(io, "unmap")));
	cr_assert(json_is_boolean(json_object_get(io, "write_zeroes")));
	cr_assert(bget(io, "read"), "%s reads", name);
	oget(b, "driver_specific");
}

static void expect_bdev(const char *name, const char *product, uint32_t bs, uint64_t nb,
			bool claimed)
{
	json_t *b = rpc_bdev(name);
	cr_assert_not_null(b, "bdev %s does not exist", name);
	check_bdev(b, name, product, bs, nb, claimed);
	json_decref(b);
}

static json_t *raid_entry(const char *name)
{
	json_t *list = rpc_ok("bdev_raid_get_bdevs", "{\"category\":\"all\"}");
	cr_assert(json_is_array(list));
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e) {
		if (!strcmp(sget(e, "name"), name)) {
			json_incref(e);
			json_decref(list);
			return e;
		}
	}
	json_decref(list);
	return NULL;
}

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

static char *long_name(size_t len)
{
	static char buf[256];
	cr_assert_lt(len, sizeof(buf));
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)('a' + i % 26);
	buf[len] = '\0';
	return buf;
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

/* ---------------------------------------------------------------- bdev creation, happy paths */

Test(rpc, malloc_create_and_get)
{
	json_t *r = rpc_ok("bdev_malloc_create",
			   "{\"name\":\"Malloc7\",\"num_blocks\":2048,\"block_size\":512}");
	cr_assert(json_is_string(r), "bdev_malloc_create returns the name");
	cr_assert_str_eq(json_string_value(r), "Malloc7");
	json_decref(r);
	expect_bdev("Malloc7", "Malloc disk", 512, 2048, false);

	/* no name: one is generated and returned */
	r = rpc_ok("bdev_malloc_create", "{\"num_blocks\":16,\"block_size\":4096}");
	cr_assert(json_is_string(r));
	const char *gen = json_string_value(r);
	cr_assert_eq(strncmp(gen, "Malloc", 6), 0, "generated name %s", gen);
	expect_bdev(gen, "Malloc disk", 4096, 16, false);
	json_decref(r);

	/* a given uuid is kept (canonical lower case) */
	r = rpc_ok("bdev_malloc_create", "{\"name\":\"U\",\"num_blocks\":8,\"block_size\":512,"
		   "\"uuid\":\"6D5B7E3C-1F2A-4B3C-9D4E-5F6A7B8C9D0E\"}");
	json_decref(r);
	json_t *b = rpc_bdev("U");
	cr_assert_str_eq(sget(b, "uuid"), "6d5b7e3c-1f2a-4b3c-9d4e-5f6a7b8c9d0e");
	json_decref(b);

	/* the whole list: creation order, SPDK shape */
	json_t *list = rpc_ok("bdev_get_bdevs", NULL);
	cr_assert_eq(json_array_size(list), 3);
	cr_assert_str_eq(sget(json_array_get(list, 0), "name"), "Malloc7");
	cr_assert_str_eq(sget(json_array_get(list, 2), "name"), "U");
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e)
		check_bdev(e, sget(e, "name"), "Malloc disk", (uint32_t)iget(e, "block_size"),
			   (uint64_t)iget(e, "num_blocks"), false);
	json_decref(list);

	/* with SPDK's timeout parameter */
	list = rpc_ok("bdev_get_bdevs", "{\"name\":\"U\",\"timeout\":0}");
	cr_assert_eq(json_array_size(list), 1);
	json_decref(list);
}

Test(rpc, malloc_delete)
{
	rpc_make_malloc("M", 64, 512);
	json_t *r = rpc_ok("bdev_malloc_delete", "{\"name\":\"M\"}");
	cr_assert(json_is_true(r));
	json_decref(r);
	cr_assert_null(rpc_bdev("M"));
	cr_assert_eq(rpc_bdev_count(), 0);
	/* the name is free again */
	rpc_make_malloc("M", 64, 512);
}

Test(rpc, null_create_and_delete)
{
	json_t *r = rpc_ok("bdev_null_create",
			   "{\"name\":\"Null0\",\"num_blocks\":1048576,\"block_size\":4096}");
	cr_assert_str_eq(json_string_value(r), "Null0");
	json_decref(r);
	expect_bdev("Null0", "Null disk", 4096, 1048576, false);
	r = rpc_ok("bdev_null_delete", "{\"name\":\"Null0\"}");
	cr_assert(json_is_true(r));
	json_decref(r);
	cr_assert_null(rpc_bdev("Null0"));
}

Test(rpc, uring_create_and_delete)
{
	const char *path = rpc_tmpfile(1 << 20);
	json_t *r = rpc_ok("bdev_uring_create", "{\"name\":\"Ur\",\"filename\":\"%s\"}", path);
	cr_assert_str_eq(json_string_value(r), "Ur");
	json_decref(r);
	expect_bdev("Ur", "URING bdev", 512, 2048, false);
	json_t *b = rpc_bdev("Ur");
	cr_assert_str_eq(sget(oget(oget(b, "driver_specific"), "uring"), "filename"), path);
	cr_assert(bget(oget(b, "supported_io_types"), "write"));
	json_decref(b);

	const char *path2 = rpc_tmpfile(1 << 20);
	r = rpc_ok("bdev_uring_create",
		   "{\"name\":\"Ur4k\",\"filename\":\"%s\",\"block_size\":4096}", path2);
	json_decref(r);
	expect_bdev("Ur4k", "URING bdev", 4096, 256, false);

	r = rpc_ok("bdev_uring_delete", "{\"name\":\"Ur\"}");
	cr_assert(json_is_true(r));
	json_decref(r);
	cr_assert_null(rpc_bdev("Ur"));
}

Test(rpc, uring_create_errors)
{
	rpc_fail(-ENOENT, "bdev_uring_create",
		 "{\"name\":\"X\",\"filename\":\"/nonexistent-berth-dir/f.img\"}");
	const char *tiny = rpc_tmpfile(100);
	rpc_fail(-EINVAL, "bdev_uring_create", "{\"name\":\"X\",\"filename\":\"%s\"}", tiny);
	const char *ok = rpc_tmpfile(1 << 20);
	rpc_fail(-EINVAL, "bdev_uring_create",
		 "{\"name\":\"X\",\"filename\":\"%s\",\"block_size\":500}", ok);
	rpc_fail(-EINVAL, "bdev_uring_create", "{\"name\":\"X\",\"filename\":\"\"}");
	rpc_fail(-EISDIR, "bdev_uring_create", "{\"name\":\"X\",\"filename\":\"/tmp\"}");
	rpc_fail(-EINVAL, "bdev_uring_create", "{\"name\":\"a/b\",\"filename\":\"%s\"}", ok);
}

Test(rpc, aio_create_readonly)
{
	const char *path = rpc_tmpfile(1 << 20);
	json_t *r = rpc_ok("bdev_aio_create",
			   "{\"name\":\"Aio0\",\"filename\":\"%s\",\"block_size\":4096,"
			   "\"readonly\":true}", path);
	cr_assert_str_eq(json_string_value(r), "Aio0");
	json_decref(r);
	expect_bdev("Aio0", "AIO disk", 4096, 256, false);
	json_t *b = rpc_bdev("Aio0");
	cr_assert_not(bget(oget(b, "supported_io_types"), "write"), "readonly");
	json_t *aio = oget(oget(b, "driver_specific"), "aio");
	cr_assert_str_eq(sget(aio, "filename"), path);
	cr_assert(bget(aio, "readonly"));
	json_decref(b);
	r = rpc_ok("bdev_aio_delete", "{\"name\":\"Aio0\"}");
	json_decref(r);
	cr_assert_null(rpc_bdev("Aio0"));
}

Test(rpc, delay_create_update_delete)
{
	rpc_make_malloc("Base", 256, 512);
	json_t *r = rpc_ok("bdev_delay_create",
			   "{\"base_bdev_name\":\"Base\",\"name\":\"Dly\",\"avg_read_latency\":10,"
			   "\"p99_read_latency\":20,\"avg_write_latency\":30,"
			   "\"p99_write_latency\":40}");
	cr_assert_str_eq(json_string_value(r), "Dly");
	json_decref(r);
	expect_bdev("Dly", "delay", 512, 256, false);
	expect_bdev("Base", "Malloc disk", 512, 256, true);
	json_t *b = rpc_bdev("Dly");
	json_t *d = oget(oget(b, "driver_specific"), "delay");
	cr_assert_eq(iget(d, "avg_read_latency"), 10);
	cr_assert_eq(iget(d, "p99_write_latency"), 40);
	cr_assert_str_eq(sget(d, "base_bdev_name"), "Base");
	json_decref(b);

	r = rpc_ok("bdev_delay_update_latency",
		   "{\"delay_bdev_name\":\"Dly\",\"latency_type\":\"p99_read\",\"latency_us\":99}");
	cr_assert(json_is_true(r));
	json_decref(r);
	b = rpc_bdev("Dly");
	cr_assert_eq(iget(oget(oget(b, "driver_specific"), "delay"), "p99_read_latency"), 99);
	json_decref(b);

	rpc_fail(JRPC_INVALID_PARAMS, "bdev_delay_update_latency",
		 "{\"delay_bdev_name\":\"Dly\",\"latency_type\":\"p50_read\",\"latency_us\":1}");
	rpc_fail(-ENODEV, "bdev_delay_update_latency",
		 "{\"delay_bdev_name\":\"Nope\",\"latency_type\":\"avg_read\",\"latency_us\":1}");
	rpc_fail(-ENODEV, "bdev_delay_update_latency",
		 "{\"delay_bdev_name\":\"Base\",\"latency_type\":\"avg_read\",\"latency_us\":1}");

	/* the base is claimed while the delay bdev exists */
	rpc_fail(-EBUSY, "bdev_malloc_delete", "{\"name\":\"Base\"}");
	rpc_fail(-EBUSY, "bdev_delay_create",
		 "{\"base_bdev_name\":\"Base\",\"name\":\"Dly2\",\"avg_read_latency\":1,"
		 "\"p99_read_latency\":1,\"avg_write_latency\":1,\"p99_write_latency\":1}");
	rpc_fail(-ENODEV, "bdev_delay_create",
		 "{\"base_bdev_name\":\"Nope\",\"name\":\"Dly2\",\"avg_read_latency\":1,"
		 "\"p99_read_latency\":1,\"avg_write_latency\":1,\"p99_write_latency\":1}");

	r = rpc_ok("bdev_delay_delete", "{\"name\":\"Dly\"}");
	cr_assert(json_is_true(r));
	json_decref(r);
	expect_bdev("Base", "Malloc disk", 512, 256, false);
	r = rpc_ok("bdev_malloc_delete", "{\"name\":\"Base\"}");
	json_decref(r);
}

/* ---------------------------------------------------------------- raid */

static void check_raid_entry(const json_t *e, const char *name, const char *state,
			     const char *level, json_int_t nbases, json_int_t operational)
{
	cr_assert_str_eq(sget(e, "name"), name);
	cr_assert_str_eq(sget(e, "state"), state, "%s state", name);
	cr_assert_str_eq(sget(e, "raid_level"), level);
	cr_assert_eq(iget(e, "num_base_bdevs"), nbases);
	cr_assert_eq(iget(e, "num_base_bdevs_operational"), operational);
	iget(e, "strip_size_kb");
	cr_assert(uuid_valid(sget(e, "uuid")));
	cr_assert_eq(json_array_size(aget(e, "base_bdevs_list")), (size_t)nbases);
}

Test(rpc, raid0_create_get_delete)
{
	rpc_make_malloc("B0", 1000, 512);
	rpc_make_malloc("B1", 1024, 512);
	json_t *r = rpc_ok("bdev_raid_create",
			   "{\"name\":\"R0\",\"raid_level\":\"raid0\",\"strip_size_kb\":64,"
			   "\"base_bdevs\":[\"B0\",\"B1\"]}");
	cr_assert(json_is_true(r), "bdev_raid_create returns true (SPDK)");
	json_decref(r);

	/* 64 KiB strips of 128 blocks: the smaller base (1000 blocks) gives 7 strips each */
	expect_bdev("R0", "Raid Volume", 512, 2 * 7 * 128, false);
	expect_bdev("B0", "Malloc disk", 512, 1000, true);
	expect_bdev("B1", "Malloc disk", 512, 1024, true);
	json_t *b = rpc_bdev("R0");
	json_t *ds = oget(oget(b, "driver_specific"), "raid");
	cr_assert_str_eq(sget(ds, "raid_level"), "raid0");
	json_decref(b);

	json_t *e = raid_entry("R0");
	cr_assert_not_null(e);
	check_raid_entry(e, "R0", "online", "raid0", 2, 2);
	cr_assert_eq(iget(e, "strip_size_kb"), 64);
	json_t *bases = aget(e, "base_bdevs_list");
	json_t *b0 = rpc_bdev("B0");
	cr_assert_str_eq(sget(json_array_get(bases, 0), "name"), "B0");
	cr_assert_str_eq(sget(json_array_get(bases, 0), "uuid"), sget(b0, "uuid"));
	cr_assert(bget(json_array_get(bases, 0), "is_configured"));
	cr_assert_str_eq(sget(json_array_get(bases, 1), "name"), "B1");
	json_decref(b0);
	json_decref(e);

	/* categories */
	json_t *l = rpc_ok("bdev_raid_get_bdevs", "{\"category\":\"online\"}");
	cr_assert_eq(json_array_size(l), 1);
	json_decref(l);
	l = rpc_ok("bdev_raid_get_bdevs", "{\"category\":\"offline\"}");
	cr_assert_eq(json_array_size(l), 0);
	json_decref(l);
	l = rpc_ok("bdev_raid_get_bdevs", "{\"category\":\"configuring\"}");
	cr_assert_eq(json_array_size(l), 0);
	json_decref(l);
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_raid_get_bdevs", "{\"category\":\"bogus\"}");
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_raid_get_bdevs", NULL);

	/* bases are claimed: not deletable, not usable by another raid */
	rpc_fail(-EBUSY, "bdev_malloc_delete", "{\"name\":\"B0\"}");
	rpc_make_malloc("B2", 1024, 512);
	rpc_fail(-EBUSY, "bdev_raid_create", "{\"name\":\"R1\",\"raid_level\":\"raid1\","
		 "\"base_bdevs\":[\"B2\",\"B1\"]}");

	r = rpc_ok("bdev_raid_delete", "{\"name\":\"R0\"}");
	cr_assert(json_is_true(r));
	json_decref(r);
	cr_assert_null(rpc_bdev("R0"));
	expect_bdev("B0", "Malloc disk", 512, 1000, false);
	expect_bdev("B1", "Malloc disk", 512, 1024, false);
	l = rpc_ok("bdev_raid_get_bdevs", "{\"category\":\"all\"}");
	cr_assert_eq(json_array_size(l), 0);
	json_decref(l);
}

Test(rpc, raid1_degrades_on_base_delete)
{
	rpc_make_malloc("M0", 512, 512);
	rpc_make_malloc("M1", 600, 512);
	json_t *r = rpc_ok("bdev_raid_create", "{\"name\":\"Mirror\",\"raid_level\":\"raid1\","
			   "\"base_bdevs\":[\"M0\",\"M1\"],\"strip_size_kb\":0}");
	json_decref(r);
	expect_bdev("Mirror", "Raid Volume", 512, 512, false);
	json_t *e = raid_entry("Mirror");
	check_raid_entry(e, "Mirror", "online", "raid1", 2, 2);
	cr_assert_eq(iget(e, "strip_size_kb"), 0);
	json_decref(e);

	/* one base goes: the raid1 degrades and stays online */
	r = rpc_ok("bdev_malloc_delete", "{\"name\":\"M0\"}");
	cr_assert(json_is_true(r));
	json_decref(r);
	cr_assert_null(rpc_bdev("M0"));
	e = raid_entry("Mirror");
	check_raid_entry(e, "Mirror", "online", "raid1", 2, 1);
	json_t *slot0 = json_array_get(aget(e, "base_bdevs_list"), 0);
	cr_assert_not(bget(slot0, "is_configured"));
	json_decref(e);

	/* the last operational base cannot go */
	rpc_fail(-EBUSY, "bdev_malloc_delete", "{\"name\":\"M1\"}");

	r = rpc_ok("bdev_raid_delete", "{\"name\":\"Mirror\"}");
	json_decref(r);
	expect_bdev("M1", "Malloc disk", 512, 600, false);
}

Test(rpc, concat_and_level_spellings)
{
	rpc_make_malloc("C0", 100, 512);
	rpc_make_malloc("C1", 300, 512);
	json_t *r = rpc_ok("bdev_raid_create", "{\"name\":\"Cat\",\"raid_level\":\"concat\","
			   "\"base_bdevs\":[\"C0\",\"C1\"]}");
	json_decref(r);
	expect_bdev("Cat", "Raid Volume", 512, 400, false);
	json_t *e = raid_entry("Cat");
	check_raid_entry(e, "Cat", "online", "concat", 2, 2);
	json_decref(e);

	/* SPDK also accepts "0" and "1" for the levels */
	rpc_make_malloc("D0", 256, 512);
	rpc_make_malloc("D1", 256, 512);
	r = rpc_ok("bdev_raid_create", "{\"name\":\"Z\",\"raid_level\":\"1\","
		   "\"base_bdevs\":[\"D0\",\"D1\"]}");
	json_decref(r);
	e = raid_entry("Z");
	cr_assert_str_eq(sget(e, "raid_level"), "raid1");
	json_decref(e);
}

Test(rpc, raid_errors)
{
	rpc_make_malloc("A", 256, 512);
	rpc_make_malloc("B", 256, 512);
	rpc_make_malloc("Big", 256, 4096);

	rpc_fail(-ENODEV, "bdev_raid_create", "{\"name\":\"R\",\"raid_level\":\"raid1\","
		 "\"base_bdevs\":[\"A\",\"Missing\"]}");
	rpc_fail(-EINVAL, "bdev_raid_create", "{\"name\":\"R\",\"raid_level\":\"raid1\","
		 "\"strip_size_kb\":64,\"base_bdevs\":[\"A\",\"B\"]}");
	rpc_fail(-EINVAL, "bdev_raid_create", "{\"name\":\"R\",\"raid_level\":\"raid0\","
		 "\"strip_size_kb\":0,\"base_bdevs\":[\"A\",\"B\"]}");
	rpc_fail(-EINVAL, "bdev_raid_create", "{\"name\":\"R\",\"raid_level\":\"raid0\","
		 "\"base_bdevs\":[\"A\",\"B\"]}");
	rpc_fail(-EINVAL, "bdev_raid_create", "{\"name\":\"R\",\"raid_level\":\"raid0\","
		 "\"strip_size_kb\":48,\"base_bdevs\":[\"A\",\"B\"]}");
	rpc_fail(-EINVAL, "bdev_raid_create", "{\"name\":\"R\",\"raid_level\":\"raid0\","
		 "\"strip_size_kb\":3,\"base_bdevs\":[\"A\",\"B\"]}");
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_raid_create", "{\"name\":\"R\",\"raid_level\":"
		 "\"raid5\",\"strip_size_kb\":64,\"base_bdevs\":[\"A\",\"B\"]}");
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_raid_create", "{\"name\":\"R\",\"raid_level\":"
		 "\"RAID1\",\"base_bdevs\":[\"A\",\"B\"]}");
	/* the same base twice, mixed block sizes, no bases */
	rpc_fail(-EINVAL, "bdev_raid_create", "{\"name\":\"R\",\"raid_level\":\"raid1\","
		 "\"base_bdevs\":[\"A\",\"A\"]}");
	rpc_fail(-EINVAL, "bdev_raid_create", "{\"name\":\"R\",\"raid_level\":\"raid1\","
		 "\"base_bdevs\":[\"A\",\"Big\"]}");
	rpc_fail(-EINVAL, "bdev_raid_create", "{\"name\":\"R\",\"raid_level\":\"raid1\","
		 "\"base_bdevs\":[]}");
	/* more bases than a raid takes */
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_raid_create", "{\"name\":\"R\",\"raid_level\":"
		 "\"raid1\",\"base_bdevs\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		 "\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\",\"18\",\"19\",\"20\","
		 "\"21\",\"22\",\"23\",\"24\",\"25\",\"26\",\"27\",\"28\",\"29\",\"30\",\"31\","
		 "\"32\",\"33\"]}");
	/* the name of an existing bdev */
	rpc_fail(-EEXIST, "bdev_raid_create", "{\"name\":\"A\",\"raid_level\":\"raid1\","
		 "\"base_bdevs\":[\"B\"]}");
	rpc_fail(-EINVAL, "bdev_raid_create", "{\"name\":\"a/b\",\"raid_level\":\"raid1\","
		 "\"base_bdevs\":[\"A\",\"B\"]}");
	/* superblocks are not supported: refused, not ignored */
	rpc_fail(-EOPNOTSUPP, "bdev_raid_create", "{\"name\":\"R\",\"raid_level\":\"raid1\","
		 "\"base_bdevs\":[\"A\",\"B\"],\"superblock\":true}");

	/* base claimed by another raid */
	json_t *r = rpc_ok("bdev_raid_create", "{\"name\":\"R\",\"raid_level\":\"raid1\","
			   "\"base_bdevs\":[\"A\",\"B\"]}");
	json_decref(r);
	rpc_make_malloc("C", 256, 512);
	rpc_fail(-EBUSY, "bdev_raid_create", "{\"name\":\"R2\",\"raid_level\":\"raid1\","
		 "\"base_bdevs\":[\"C\",\"A\"]}");
	rpc_fail(-EEXIST, "bdev_raid_create", "{\"name\":\"R\",\"raid_level\":\"raid1\","
		 "\"base_bdevs\":[\"C\"]}");
	/* a raid over a raid is a claim of the first */
	r = rpc_ok("bdev_raid_create", "{\"name\":\"Top\",\"raid_level\":\"concat\","
		   "\"base_bdevs\":[\"R\",\"C\"]}");
	json_decref(r);
	rpc_fail(-EBUSY, "bdev_raid_delete", "{\"name\":\"R\"}");
}

/* ---------------------------------------------------------------- creation errors */

Test(rpc, geometry_errors)
{
	/* num_blocks * block_size overflows 64 bits */
	rpc_fail(-EINVAL, "bdev_malloc_create",
		 "{\"name\":\"X\",\"num_blocks\":4611686018427387904,\"block_size\":4096}");
	rpc_fail(-EINVAL, "bdev_null_create",
		 "{\"name\":\"X\",\"num_blocks\":9223372036854775807,\"block_size\":512}");
	rpc_fail(-EINVAL, "bdev_malloc_create",
		 "{\"name\":\"X\",\"num_blocks\":64,\"block_size\":500}");
	rpc_fail(-EINVAL, "bdev_null_create",
		 "{\"name\":\"X\",\"num_blocks\":64,\"block_size\":500}");
	rpc_fail(-EINVAL, "bdev_malloc_create",
		 "{\"name\":\"X\",\"num_blocks\":64,\"block_size\":0}");
	rpc_fail(-EINVAL, "bdev_malloc_create",
		 "{\"name\":\"X\",\"num_blocks\":64,\"block_size\":256}");
	rpc_fail(-EINVAL, "bdev_malloc_create",
		 "{\"name\":\"X\",\"num_blocks\":64,\"block_size\":131072}");
	rpc_fail(-EINVAL, "bdev_malloc_create",
		 "{\"name\":\"X\",\"num_blocks\":0,\"block_size\":512}");
	rpc_fail(-EINVAL, "bdev_null_create",
		 "{\"name\":\"X\",\"num_blocks\":0,\"block_size\":512}");
	/* too large to allocate is refused up front, not attempted */
	rpc_fail(-EINVAL, "bdev_malloc_create",
		 "{\"name\":\"X\",\"num_blocks\":2251799813685248,\"block_size\":4096}");
	/* negative and non-integer sizes are not numbers of blocks */
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_malloc_create",
		 "{\"name\":\"X\",\"num_blocks\":-1,\"block_size\":512}");
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_malloc_create",
		 "{\"name\":\"X\",\"num_blocks\":64.5,\"block_size\":512}");
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_malloc_create",
		 "{\"name\":\"X\",\"num_blocks\":64,\"block_size\":4294967808}");
	cr_assert_eq(rpc_bdev_count(), 0);
}

Test(rpc, name_errors)
{
	/* 63 bytes is the longest name */
	rpc_make_malloc(long_name(63), 8, 512);
	rpc_fail(-EINVAL, "bdev_malloc_create",
		 "{\"name\":\"%s\",\"num_blocks\":8,\"block_size\":512}", long_name(64));
	rpc_fail(-EINVAL, "bdev_null_create",
		 "{\"name\":\"%s\",\"num_blocks\":8,\"block_size\":512}", long_name(200));
	rpc_fail(-EINVAL, "bdev_malloc_create",
		 "{\"name\":\"a/b\",\"num_blocks\":8,\"block_size\":512}");
	rpc_fail(-EINVAL, "bdev_null_create",
		 "{\"name\":\"/\",\"num_blocks\":8,\"block_size\":512}");
	rpc_fail(-EINVAL, "bdev_malloc_create",
		 "{\"name\":\"a\\nb\",\"num_blocks\":8,\"block_size\":512}");
	rpc_make_malloc("a", 8, 512);
	rpc_fail(-EINVAL, "bdev_delay_create",
		 "{\"base_bdev_name\":\"a\",\"name\":\"%s\",\"avg_read_latency\":1,"
		 "\"p99_read_latency\":1,\"avg_write_latency\":1,\"p99_write_latency\":1}",
		 long_name(64));
}

Test(rpc, duplicate_names_and_uuids)
{
	rpc_make_malloc("Dup", 8, 512);
	rpc_fail(-EEXIST, "bdev_malloc_create",
		 "{\"name\":\"Dup\",\"num_blocks\":8,\"block_size\":512}");
	rpc_fail(-EEXIST, "bdev_null_create",
		 "{\"name\":\"Dup\",\"num_blocks\":8,\"block_size\":512}");
	const char *path = rpc_tmpfile(1 << 20);
	rpc_fail(-EEXIST, "bdev_uring_create", "{\"name\":\"Dup\",\"filename\":\"%s\"}", path);
	rpc_fail(-EEXIST, "bdev_aio_create", "{\"name\":\"Dup\",\"filename\":\"%s\"}", path);
	rpc_make_malloc("Base", 8, 512);
	rpc_fail(-EEXIST, "bdev_delay_create",
		 "{\"base_bdev_name\":\"Base\",\"name\":\"Dup\",\"avg_read_latency\":1,"
		 "\"p99_read_latency\":1,\"avg_write_latency\":1,\"p99_write_latency\":1}");
	expect_bdev("Base", "Malloc disk", 512, 8, false);

	/* uuids */
	json_t *b = rpc_bdev("Dup");
	char uuid[64];
	snprintf(uuid, sizeof(uuid), "%s", sget(b, "uuid"));
	json_decref(b);
	rpc_fail(-EEXIST, "bdev_malloc_create",
		 "{\"name\":\"Other\",\"num_blocks\":8,\"block_size\":512,\"uuid\":\"%s\"}", uuid);
	rpc_fail(-EINVAL, "bdev_malloc_create",
		 "{\"name\":\"Other\",\"num_blocks\":8,\"block_size\":512,\"uuid\":\"not-a-uuid\"}");
	rpc_fail(-EINVAL, "bdev_null_create",
		 "{\"name\":\"Other\",\"num_blocks\":8,\"block_size\":512,"
		 "\"uuid\":\"6d5b7e3c-1f2a-4b3c-9d4e-5f6a7b8c9d0\"}");
	rpc_fail(-EINVAL, "bdev_malloc_create",
		 "{\"name\":\"Other\",\"num_blocks\":8,\"block_size\":512,"
		 "\"uuid\":\"6d5b7e3c-1f2a-4b3c-9d4e-5f6a7b8c9d0g\"}");
	rpc_fail(-EINVAL, "bdev_malloc_create",
		 "{\"name\":\"Other\",\"num_blocks\":8,\"block_size\":512,"
		 "\"uuid\":\"6d5b7e3c1f2a-4b3c-9d4e-5f6a7b8c9d0e-\"}");
}

/* ---------------------------------------------------------------- delete errors */

Test(rpc, delete_errors)
{
	rpc_make_malloc("M", 64, 512);
	rpc_make_null("N", 64, 512);
	static const char *const deletes[] = {
		"bdev_malloc_delete", "bdev_null_delete", "bdev_uring_delete", "bdev_aio_delete",
		"bdev_delay_delete", "bdev_raid_delete",
	};
	for (size_t i = 0; i < sizeof(deletes) / sizeof(deletes[0]); i++)
		rpc_fail(-ENODEV, deletes[i], "{\"name\":\"Missing\"}");
	/* the wrong module's delete */
	rpc_fail(-ENODEV, "bdev_malloc_delete", "{\"name\":\"N\"}");
	rpc_fail(-ENODEV, "bdev_null_delete", "{\"name\":\"M\"}");
	rpc_fail(-ENODEV, "bdev_raid_delete", "{\"name\":\"M\"}");
	rpc_fail(-ENODEV, "bdev_delay_delete", "{\"name\":\"M\"}");
	rpc_fail(-ENODEV, "bdev_uring_delete", "{\"name\":\"M\"}");
	rpc_fail(-ENODEV, "bdev_aio_delete", "{\"name\":\"N\"}");
	/* claimed */
	json_t *r = rpc_ok("bdev_raid_create", "{\"name\":\"R\",\"raid_level\":\"raid0\","
			   "\"strip_size_kb\":4,\"base_bdevs\":[\"M\",\"N\"]}");
	json_decref(r);
	rpc_fail(-EBUSY, "bdev_malloc_delete", "{\"name\":\"M\"}");
	rpc_fail(-EBUSY, "bdev_null_delete", "{\"name\":\"N\"}");
	cr_assert_eq(rpc_bdev_count(), 3);
}

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

Test(rpc, get_bdevs_and_iostat_of_missing_bdev)
{
	rpc_fail(-ENODEV, "bdev_get_bdevs", "{\"name\":\"Nope\"}");
	rpc_fail(-ENODEV, "bdev_get_iostat", "{\"name\":\"Nope\"}");
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_get_bdevs", "{\"timeout\":-1}");
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_get_bdevs", "{\"name\":5}");
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

/* ---------------------------------------------------------------- iostat */

struct io_ctx {
	struct bdev *b;
	char buf[4096];
	atomic_bool done;
	int status;
};

static void io_done(void *arg, int status)
{
	struct io_ctx *c = arg;
	c->status = status;
	atomic_store(&c->done, true);
}

static void io_start(void *arg)
{
	struct io_ctx *c = arg;
	int rc = bdev_write(reactor_current(), c->b, c->buf, 0, 8, io_done, c);
	if (rc < 0)
		io_done(c, rc);
}

Test(rpc, bdev_get_iostat)
{
	rpc_make_malloc("S0", 64, 512);
	rpc_make_null("S1", 64, 512);
	json_t *r = rpc_ok("bdev_get_iostat", NULL);
	cr_assert_eq(iget(r, "tick_rate"), 1000000000);
	cr_assert_gt(iget(r, "ticks"), 0);
	json_t *bdevs = aget(r, "bdevs");
	cr_assert_eq(json_array_size(bdevs), 2);
	json_t *s0 = json_array_get(bdevs, 0);
	cr_assert_str_eq(sget(s0, "name"), "S0");
	static const char *const counters[] = {
		"bytes_read", "num_read_ops", "bytes_written", "num_write_ops", "bytes_unmapped",
		"num_unmap_ops", "read_latency_ticks", "write_latency_ticks", "unmap_latency_ticks",
		"io_outstanding",
	};
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		cr_assert_eq(iget(s0, counters[i]), 0, "%s of a fresh bdev", counters[i]);
	json_int_t ticks0 = iget(r, "ticks");
	json_decref(r);

	/* one real 4 KiB write on the reactor shows in the counters */
	struct io_ctx *c = calloc(1, sizeof(*c));
	c->b = bdev_find("S0");
	cr_assert_not_null(c->b);
	memset(c->buf, 0x5a, sizeof(c->buf));
	cr_assert_eq(reactor_send_msg(g_blockd.reactors[0], io_start, c), 0);
	int64_t until = monotonic_ms() + RPC_HARNESS_TIMEOUT_MS;
	while (!atomic_load(&c->done) && monotonic_ms() < until) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	cr_assert(atomic_load(&c->done), "the write did not complete");
	cr_assert_eq(c->status, 0);
	free(c);

	r = rpc_ok("bdev_get_iostat", "{\"name\":\"S0\"}");
	bdevs = aget(r, "bdevs");
	cr_assert_eq(json_array_size(bdevs), 1);
	s0 = json_array_get(bdevs, 0);
	cr_assert_eq(iget(s0, "num_write_ops"), 1);
	cr_assert_eq(iget(s0, "bytes_written"), 4096);
	cr_assert_eq(iget(s0, "num_read_ops"), 0);
	cr_assert_gt(iget(s0, "write_latency_ticks"), 0);
	cr_assert_eq(iget(s0, "io_outstanding"), 0);
	cr_assert_geq(iget(r, "ticks"), ticks0);
	json_decref(r);

	rpc_fail(-EOPNOTSUPP, "bdev_get_iostat", "{\"per_channel\":true}");
}

/* ---------------------------------------------------------------- save_config */

static json_t *bdev_config_of(json_t *config)
{
	json_t *subsystems = aget(config, "subsystems");
	size_t i;
	json_t *s;
	json_array_foreach(subsystems, i, s) {
		if (!strcmp(sget(s, "subsystem"), "bdev"))
			return aget(s, "config");
	}
	cr_assert_fail("no bdev subsystem in save_config");
	return NULL;
}

static void build_config(void)
{
	rpc_make_malloc("Mal", 2048, 512);
	rpc_make_null("Nul", 4096, 4096);
	const char *f1 = rpc_tmpfile(1 << 20);
	json_decref(rpc_ok("bdev_uring_create", "{\"name\":\"Ur\",\"filename\":\"%s\","
			   "\"block_size\":4096}", f1));
	rpc_make_malloc("DlyBase", 1024, 512);
	json_decref(rpc_ok("bdev_delay_create", "{\"base_bdev_name\":\"DlyBase\",\"name\":"
			   "\"Dly\",\"avg_read_latency\":5,\"p99_read_latency\":6,"
			   "\"avg_write_latency\":7,\"p99_write_latency\":8}"));
	rpc_make_malloc("R0a", 1024, 512);
	rpc_make_malloc("R0b", 1024, 512);
	json_decref(rpc_ok("bdev_raid_create", "{\"name\":\"Stripe\",\"raid_level\":\"raid0\","
			   "\"strip_size_kb\":16,\"base_bdevs\":[\"R0a\",\"R0b\"]}"));
	rpc_make_malloc("R1a", 1024, 512);
	rpc_make_malloc("R1b", 1024, 512);
	json_decref(rpc_ok("bdev_raid_create", "{\"name\":\"Mirror\",\"raid_level\":\"raid1\","
			   "\"base_bdevs\":[\"R1a\",\"R1b\"]}"));
	rpc_make_malloc("Ca", 100, 512);
	json_decref(rpc_ok("bdev_raid_create", "{\"name\":\"Cat\",\"raid_level\":\"concat\","
			   "\"base_bdevs\":[\"Ca\",\"Mirror\"]}"));
}

Test(rpc, save_config_shape)
{
	json_t *cfg = rpc_ok("save_config", NULL);
	cr_assert_eq(json_array_size(bdev_config_of(cfg)), 0);
	json_decref(cfg);

	build_config();
	cfg = rpc_ok("save_config", NULL);
	json_t *entries = bdev_config_of(cfg);
	cr_assert_eq(json_array_size(entries), rpc_bdev_count(), "one entry per bdev");
	size_t i;
	json_t *e;
	json_array_foreach(entries, i, e) {
		cr_assert_eq(json_object_size(e), 2, "entries are {method, params}");
		const char *m = sget(e, "method");
		cr_assert_not_null(rpc_find_method(m), "%s is not a method", m);
		cr_assert(strstr(m, "_create"), "%s", m);
		sget(oget(e, "params"), "name");
	}
	cr_assert_str_eq(sget(json_array_get(entries, 0), "method"), "bdev_malloc_create");
	cr_assert_str_eq(sget(oget(json_array_get(entries, 0), "params"), "name"), "Mal");
	json_decref(cfg);
}

/* Drops the one field a replay may change: an aio bdev's driver_specific
 * block_size_override (the config always carries the block size, as SPDK's does, so a
 * replayed bdev reports it as given; SPDK behaves the same). */
static void drop_replay_noise(json_t *bdevs)
{
	size_t i;
	json_t *b;
	json_array_foreach(bdevs, i, b) {
		json_t *aio = json_object_get(json_object_get(b, "driver_specific"), "aio");
		if (aio)
			json_object_del(aio, "block_size_override");
	}
}

/* Takes save_config, deletes every bdev, replays the config through rpc_call_local and
 * checks that bdev_get_bdevs, bdev_raid_get_bdevs and save_config are as before. */
static void check_replay(void)
{
	json_t *bdevs_before = rpc_ok("bdev_get_bdevs", NULL);
	json_t *raids_before = rpc_ok("bdev_raid_get_bdevs", "{\"category\":\"all\"}");
	json_t *cfg = rpc_ok("save_config", NULL);

	/* delete everything, as a restart would */
	bdev_delete_all();
	int64_t until = monotonic_ms() + RPC_HARNESS_TIMEOUT_MS;
	while (monotonic_ms() < until) {
		bdev_reap();
		if (rpc_bdev_count() == 0)
			break;
	}
	cr_assert_eq(rpc_bdev_count(), 0);

	size_t i;
	json_t *e;
	json_array_foreach(bdev_config_of(cfg), i, e) {
		json_t *result = NULL;
		char err[256];
		int rc = rpc_call_local(sget(e, "method"), json_object_get(e, "params"), &result,
					err, sizeof(err));
		cr_assert_eq(rc, 0, "replay of entry %zu (%s) failed: %d %s", i,
			     sget(e, "method"), rc, err);
		json_decref(result);
	}

	json_t *bdevs_after = rpc_ok("bdev_get_bdevs", NULL);
	json_t *raids_after = rpc_ok("bdev_raid_get_bdevs", "{\"category\":\"all\"}");
	json_t *cfg_after = rpc_ok("save_config", NULL);
	drop_replay_noise(bdevs_before);
	drop_replay_noise(bdevs_after);
	cr_assert_eq(json_array_size(bdevs_after), json_array_size(bdevs_before));
	json_array_foreach(bdevs_before, i, e) {
		json_t *a = json_array_get(bdevs_after, i);
		if (!json_equal(e, a)) {
			char *x = json_dumps(e, JSON_COMPACT), *y = json_dumps(a, JSON_COMPACT);
			cr_expect_fail("bdev %zu differs after replay:\nbefore %s\nafter  %s", i, x,
				       y);
			free(x);
			free(y);
		}
	}
	cr_expect(json_equal(raids_before, raids_after), "raid list differs after replay");
	cr_expect(json_equal(cfg, cfg_after), "save_config differs after replay");
	json_decref(bdevs_before);
	json_decref(raids_before);
	json_decref(cfg);
	json_decref(bdevs_after);
	json_decref(raids_after);
	json_decref(cfg_after);
}

Test(rpc, save_config_replays_to_the_same_bdevs)
{
	build_config();
	check_replay();
}

/* The aio spelling of the file bdev: its uuid and its block size as given must survive a
 * replay too (a --persist restart goes through exactly this). */
Test(rpc, save_config_replays_aio_bdevs)
{
	const char *f = rpc_tmpfile(2 << 20);
	json_decref(rpc_ok("bdev_aio_create", "{\"name\":\"Aio\",\"filename\":\"%s\"}", f));
	const char *g = rpc_tmpfile(2 << 20);
	json_decref(rpc_ok("bdev_aio_create", "{\"name\":\"Aio4k\",\"filename\":\"%s\","
			   "\"block_size\":4096,\"readonly\":true}", g));
	check_replay();
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

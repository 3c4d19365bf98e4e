/* test_rpc_raid_config.c — the raid methods and save_config through rpc_call_local():
 * bdev_raid_create, bdev_raid_get_bdevs and bdev_raid_delete for raid0, raid1 and concat
 * (geometry, claims on the bases, a raid1 degrading when a base goes, the errors), and
 * save_config: its shape, and that replaying it after deleting every bdev (as a --persist
 * restart does) gives back the same bdevs, raids and configuration. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev.h"
#include "deadline_io.h"
#include "jsonrpc.h"
#include "rpc.h"
#include "rpc_harness.h"

TestSuite(rpc, .init = rpc_harness_setup, .fini = rpc_harness_teardown, .timeout = 60);

/* ---------------------------------------------------------------- helpers */

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
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_raid_create", "{\"name\":\"R\",\"raid_level\":\"raid1\","
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

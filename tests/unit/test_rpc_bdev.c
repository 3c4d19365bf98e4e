/* test_rpc_bdev.c — the bdev module methods through rpc_call_local(): create, get and delete
 * of malloc, null, uring, aio and delay bdevs (bdev_get_bdevs in SPDK's shape, generated names,
 * given uuids), bdev_delay_update_latency, bdev_get_iostat counting a real write, and the
 * modules' errors (-22 geometry and names, -17 duplicates, -19 missing or the wrong module,
 * -16 claimed), each of which changes nothing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bdev.h"
#include "blockd.h"
#include "deadline_io.h"
#include "jsonrpc.h"
#include "reactor.h"
#include "rpc_harness.h"

TestSuite(rpc, .init = rpc_harness_setup, .fini = rpc_harness_teardown, .timeout = 60);

/* ---------------------------------------------------------------- helpers */

static char *long_name(size_t len)
{
	static char buf[256];
	cr_assert_lt(len, sizeof(buf));
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)('a' + i % 26);
	buf[len] = '\0';
	return buf;
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

Test(rpc, get_bdevs_and_iostat_of_missing_bdev)
{
	rpc_fail(-ENODEV, "bdev_get_bdevs", "{\"name\":\"Nope\"}");
	rpc_fail(-ENODEV, "bdev_get_iostat", "{\"name\":\"Nope\"}");
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_get_bdevs", "{\"timeout\":-1}");
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_get_bdevs", "{\"name\":5}");
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

	/* per-channel statistics are not kept: refused naming the key */
	const char *msg = rpc_fail(JRPC_INVALID_PARAMS, "bdev_get_iostat", "{\"per_channel\":true}");
	cr_assert(strstr(msg, "per_channel"), "%s", msg);
}

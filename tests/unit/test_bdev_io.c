/* test_bdev_io.c — the bdev layer on malloc, null and delay bdevs: creation rules (names,
 * sizes, uuids), data round trips, bounds, deferred callbacks, iostat, the IO pool, delay
 * holding IO, and deleting a bdev with IO in flight. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_harness.h"
#include "bdev_module.h"
#include "bdev_delay.h"
#include "bdev_malloc.h"
#include "bdev_null.h"

TestSuite(bdev_io, .init = harness_setup, .fini = harness_teardown, .timeout = 60);

static struct bdev *make_malloc(const char *name, uint64_t blocks, uint32_t bs)
{
	struct bdev *b = NULL;
	int rc = bdev_malloc_create(name, blocks, bs, NULL, &b);
	cr_assert_eq(rc, 0, "malloc create %s: %d", name ? name : "(gen)", rc);
	return b;
}

Test(bdev_io, generated_names_and_uuids)
{
	struct bdev *a = make_malloc(NULL, 16, 512);
	struct bdev *b = make_malloc("", 16, 512);
	cr_expect_str_eq(bdev_name(a), "Malloc0");
	cr_expect_str_eq(bdev_name(b), "Malloc1");
	struct bdev *n = NULL;
	cr_assert_eq(bdev_null_create(NULL, 8, 4096, NULL, &n), 0);
	cr_expect_str_eq(bdev_name(n), "Null0");
	cr_expect_str_eq(bdev_module(a), "malloc");
	cr_expect_str_eq(bdev_product_name(a), "Malloc disk");
	const char *u = bdev_uuid(a);
	cr_assert_eq(strlen(u), 36);
	cr_expect_eq(u[14], '4', "uuid version 4: %s", u);
	cr_expect(strchr("89ab", u[19]) != NULL, "uuid variant: %s", u);
	cr_expect_str_neq(bdev_uuid(a), bdev_uuid(b));
	/* a user name that looks generated is skipped by the generator */
	make_malloc("Malloc2", 16, 512);
	cr_expect_str_eq(bdev_name(make_malloc(NULL, 16, 512)), "Malloc3");
}

Test(bdev_io, creation_is_validated)
{
	struct bdev *b = NULL;
	cr_expect_eq(bdev_malloc_create("m", 16, 500, NULL, &b), -EINVAL);
	cr_expect_eq(bdev_malloc_create("m", 16, 256, NULL, &b), -EINVAL);
	cr_expect_eq(bdev_malloc_create("m", 16, 131072, NULL, &b), -EINVAL);
	cr_expect_eq(bdev_malloc_create("m", 0, 512, NULL, &b), -EINVAL);
	cr_expect_eq(bdev_malloc_create("m", UINT64_MAX / 256, 512, NULL, &b), -EINVAL);
	cr_expect_eq(bdev_malloc_create("m", (65ull << 30) / 512, 512, NULL, &b), -EINVAL);
	cr_expect_eq(bdev_null_create("n", UINT64_MAX / 256, 512, NULL, &b), -EINVAL);
	cr_expect_eq(bdev_malloc_create("a/b", 16, 512, NULL, &b), -EINVAL);
	cr_expect_eq(bdev_malloc_create("tab\there", 16, 512, NULL, &b), -EINVAL);
	char longname[70];
	memset(longname, 'x', sizeof(longname));
	longname[64] = '\0';
	cr_expect_eq(bdev_malloc_create(longname, 16, 512, NULL, &b), -EINVAL);
	longname[63] = '\0';
	cr_expect_eq(bdev_malloc_create(longname, 16, 512, NULL, &b), 0);
	cr_expect_eq(bdev_malloc_create("bad-uuid", 16, 512, "not-a-uuid", &b), -EINVAL);
	cr_expect_eq(bdev_malloc_create("bad-uuid", 16, 512,
					"1234567g-1234-1234-1234-123456789abc", &b), -EINVAL);
	cr_assert_eq(bdev_malloc_create("u1", 16, 512, "ABCDEF01-2345-4789-8abc-def012345678",
					&b), 0);
	cr_expect_str_eq(bdev_uuid(b), "abcdef01-2345-4789-8abc-def012345678");
	cr_expect_eq(bdev_malloc_create("u2", 16, 512, "abcdef01-2345-4789-8abc-def012345678",
					&b), -EEXIST);
	cr_expect_eq(bdev_malloc_create("u1", 16, 512, NULL, &b), -EEXIST);
	cr_expect_eq(bdev_null_create("u1", 16, 512, NULL, &b), -EEXIST);
	/* a large malloc bdev costs only address space */
	cr_expect_eq(bdev_malloc_create("big", (64ull << 30) / 4096, 4096, NULL, &b), 0);
}

Test(bdev_io, malloc_round_trip_and_scatter)
{
	struct bdev *b = make_malloc("m0", 64, 512);
	char *w = malloc(8 * 512), *r = calloc(8, 512);
	harness_pattern(w, 8 * 512, 1);
	cr_assert_eq(harness_write(b, w, 10, 8), 0);
	cr_assert_eq(harness_read(b, r, 10, 8), 0);
	cr_expect_arr_eq(w, r, 8 * 512);

	/* the same data read back through 5 uneven segments */
	char *parts = calloc(1, 8 * 512);
	size_t cuts[] = { 1, 511, 1024, 1000, 8 * 512 - 2536 };
	struct iovec iov[5];
	size_t off = 0;
	for (int i = 0; i < 5; i++) {
		iov[i].iov_base = parts + off;
		iov[i].iov_len = cuts[i];
		off += cuts[i];
	}
	cr_assert_eq(harness_io(b, BDEV_IO_READ, 10, 8, iov, 5), 0);
	cr_expect_arr_eq(parts, w, 8 * 512);

	/* unwritten blocks read as zeros; write-zeroes and unmap zero; flush succeeds */
	cr_assert_eq(harness_read(b, r, 0, 8), 0);
	cr_expect(harness_all_zero(r, 8 * 512));
	cr_assert_eq(harness_io(b, BDEV_IO_WRITE_ZEROES, 12, 2, NULL, 0), 0);
	cr_assert_eq(harness_io(b, BDEV_IO_UNMAP, 16, 2, NULL, 0), 0);
	cr_assert_eq(harness_io(b, BDEV_IO_FLUSH, 0, 0, NULL, 0), 0);
	cr_assert_eq(harness_read(b, r, 10, 8), 0);
	cr_expect_arr_eq(r, w, 1024);
	cr_expect(harness_all_zero(r + 1024, 1024));
	cr_expect_arr_eq(r + 2048, w + 2048, 1024);
	cr_expect(harness_all_zero(r + 3072, 1024));
	free(w);
	free(r);
	free(parts);
}

Test(bdev_io, malloc_large_unmap_drops_pages)
{
	struct bdev *b = make_malloc("m0", 1024, 4096);   /* 4 MiB */
	size_t len = 1024 * 4096;
	char *w = malloc(len), *r = malloc(len);
	harness_pattern(w, len, 9);
	cr_assert_eq(harness_write(b, w, 0, 1024), 0);
	cr_assert_eq(harness_io(b, BDEV_IO_UNMAP, 1, 1000, NULL, 0), 0);
	cr_assert_eq(harness_read(b, r, 0, 1024), 0);
	cr_expect_arr_eq(r, w, 4096);
	cr_expect(harness_all_zero(r + 4096, 1000 * 4096));
	cr_expect_arr_eq(r + 1001 * 4096, w + 1001 * 4096, 23 * 4096);
	free(w);
	free(r);
}

Test(bdev_io, bounds_and_arguments)
{
	struct reactor *re = harness_reactor();
	struct bdev *b = make_malloc("m0", 64, 512);
	char buf[1024];
	struct harness_io io = { 0 };
	struct iovec iov = { buf, 1024 };
	cr_expect_eq(bdev_submit(re, b, BDEV_IO_READ, 63, 2, &iov, 1, harness_io_cb, &io), -EINVAL);
	cr_expect_eq(bdev_submit(re, b, BDEV_IO_READ, 64, 1, &iov, 1, harness_io_cb, &io), -EINVAL);
	cr_expect_eq(bdev_submit(re, b, BDEV_IO_READ, 0, 0, &iov, 1, harness_io_cb, &io), -EINVAL);
	cr_expect_eq(bdev_submit(re, b, BDEV_IO_READ, UINT64_MAX, 2, &iov, 1, harness_io_cb, &io),
		     -EINVAL);
	cr_expect_eq(bdev_submit(re, b, BDEV_IO_READ, 0, 1, &iov, 1, harness_io_cb, &io), -EINVAL,
		     "iov longer than the IO");
	cr_expect_eq(bdev_submit(re, b, BDEV_IO_READ, 0, 2, NULL, 0, harness_io_cb, &io), -EINVAL);
	cr_expect_eq(bdev_submit(re, b, BDEV_IO_READ, 0, 2, &iov, BDEV_IO_MAX_IOV + 1,
				 harness_io_cb, &io), -EINVAL);
	cr_expect_eq(bdev_submit(re, b, BDEV_IO_TYPE_COUNT, 0, 2, &iov, 1, harness_io_cb, &io),
		     -EINVAL);
	cr_expect_eq(bdev_submit(re, b, BDEV_IO_UNMAP, 60, 5, NULL, 0, harness_io_cb, &io), -EINVAL);
	cr_expect_eq(bdev_submit(re, b, BDEV_IO_READ, 0, 2, &iov, 1, NULL, NULL), -EINVAL);
	cr_expect_eq(harness_io(b, BDEV_IO_FLUSH, 0, 64, NULL, 0), 0);
	cr_expect_eq(harness_io(b, BDEV_IO_FLUSH, 10, 64, NULL, 0), -EINVAL);
	cr_expect_not(io.done, "no callback for a refused IO");
	cr_expect_eq(bdev_io_outstanding(b), 0);
	for (int t = 0; t < BDEV_IO_TYPE_COUNT; t++)
		cr_expect(bdev_io_type_supported(b, (enum bdev_io_type)t));
}

Test(bdev_io, callback_never_inline)
{
	struct bdev *b = make_malloc("m0", 64, 512);
	char buf[512];
	struct harness_io io = { 0 };
	cr_assert_eq(bdev_read(harness_reactor(), b, buf, 0, 1, harness_io_cb, &io), 0);
	cr_expect_not(io.done, "callback ran inside bdev_read");
	cr_expect_eq(bdev_io_outstanding(b), 1);
	cr_assert(harness_wait(&io, HARNESS_TIMEOUT_MS));
	cr_expect_eq(io.status, 0);
	cr_expect_eq(io.calls, 1);
	cr_expect_eq(bdev_io_outstanding(b), 0);
}

/* A callback that submits the next IO: a long chain must not recurse. */
struct chain {
	struct bdev *b;
	char buf[512];
	unsigned left, completed;
	int status;
};

static void chain_cb(void *arg, int status)
{
	struct chain *c = arg;
	c->completed++;
	if (status)
		c->status = status;
	if (c->left == 0)
		return;
	c->left--;
	int rc = bdev_read(harness_reactor(), c->b, c->buf, c->left % 64, 1, chain_cb, c);
	if (rc)
		c->status = rc;
}

static bool chain_done(void *arg)
{
	struct chain *c = arg;
	return c->left == 0 && c->completed == 100001;
}

Test(bdev_io, resubmit_from_callback)
{
	struct chain c = { .b = make_malloc("m0", 64, 512), .left = 100000 };
	cr_assert_eq(bdev_read(harness_reactor(), c.b, c.buf, 0, 1, chain_cb, &c), 0);
	cr_assert(harness_poll_until(chain_done, &c, 30000));
	cr_expect_eq(c.status, 0);
}

Test(bdev_io, null_touches_nothing)
{
	struct bdev *b = NULL;
	cr_assert_eq(bdev_null_create("n0", 1 << 20, 4096, NULL, &b), 0);
	char buf[8192];
	memset(buf, 0xa5, sizeof(buf));
	cr_assert_eq(harness_read(b, buf, 100, 2), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		cr_assert_eq((unsigned char)buf[i], 0xa5);
	cr_assert_eq(harness_write(b, buf, 100, 2), 0);
	cr_assert_eq(harness_io(b, BDEV_IO_UNMAP, 0, 1 << 20, NULL, 0), 0);
	struct bdev_iostat st;
	bdev_get_iostat(b, &st);
	cr_expect_eq(st.num_read_ops, 1);
	cr_expect_eq(st.bytes_read, 8192);
	cr_expect_eq(st.bytes_unmapped, (uint64_t)4096 << 20);
	json_t *cfg = bdev_config_json(b);
	cr_assert(cfg);
	cr_expect_str_eq(json_string_value(json_object_get(cfg, "method")), "bdev_null_create");
	json_t *p = json_object_get(cfg, "params");
	cr_expect_eq(json_integer_value(json_object_get(p, "num_blocks")), 1 << 20);
	cr_expect_eq(json_integer_value(json_object_get(p, "block_size")), 4096);
	cr_expect_str_eq(json_string_value(json_object_get(p, "uuid")), bdev_uuid(b));
	json_decref(cfg);
}

Test(bdev_io, iostat_counts_everything)
{
	struct bdev *b = make_malloc("m0", 64, 4096);
	char buf[3 * 4096] = { 0 };
	for (int i = 0; i < 3; i++)
		cr_assert_eq(harness_write(b, buf, (uint64_t)i, 3), 0);
	cr_assert_eq(harness_read(b, buf, 0, 2), 0);
	cr_assert_eq(harness_io(b, BDEV_IO_UNMAP, 0, 4, NULL, 0), 0);
	cr_assert_eq(harness_io(b, BDEV_IO_WRITE_ZEROES, 0, 5, NULL, 0), 0);
	cr_assert_eq(harness_io(b, BDEV_IO_FLUSH, 0, 0, NULL, 0), 0);
	struct bdev_iostat st;
	bdev_get_iostat(b, &st);
	cr_expect_eq(st.num_write_ops, 3);
	cr_expect_eq(st.bytes_written, 9 * 4096);
	cr_expect_eq(st.num_read_ops, 1);
	cr_expect_eq(st.bytes_read, 2 * 4096);
	cr_expect_eq(st.num_unmap_ops, 1);
	cr_expect_eq(st.bytes_unmapped, 4 * 4096);
	cr_expect_eq(st.num_write_zeroes_ops, 1);
	cr_expect_eq(st.bytes_write_zeroes, 5 * 4096);
	cr_expect_eq(st.num_flush_ops, 1);
	cr_expect_eq(st.num_io_errors, 0);
	cr_expect_gt(st.min_write_latency_ns, 0);
	cr_expect_leq(st.min_write_latency_ns, st.max_write_latency_ns);
	cr_expect_geq(st.write_latency_ns, st.max_write_latency_ns);
	cr_expect_leq(st.write_latency_ns, 3 * st.max_write_latency_ns);
	cr_expect_eq(st.read_latency_ns, st.max_read_latency_ns);
	cr_expect_eq(st.min_read_latency_ns, st.max_read_latency_ns);
	cr_expect_gt(st.unmap_latency_ns, 0);
}

/* A round of completions is counted per bdev in plain memory and added to the shared counters
 * once per run of one bdev's IO: interleaved IO of two bdevs in one round is counted exactly,
 * and a bdev stays counted as busy (io_outstanding) while its finished IO's callbacks run. */
struct interleave {
	struct bdev *b;
	unsigned done;
	unsigned busy_in_callback;
};

static void interleave_cb(void *arg, int status)
{
	struct interleave *x = arg;
	cr_expect_eq(status, 0);
	if (bdev_io_outstanding(x->b) > 0)
		x->busy_in_callback++;
	x->done++;
}

static bool interleave_done(void *arg)
{
	struct interleave *x = arg;
	return x[0].done == 40 && x[1].done == 40;
}

Test(bdev_io, iostat_of_interleaved_rounds)
{
	struct interleave x[2] = { { .b = make_malloc("ma", 64, 512) },
				   { .b = make_malloc("mb", 64, 4096) } };
	static char buf[4096];
	for (int i = 0; i < 40; i++) {
		for (int k = 0; k < 2; k++) {
			int rc = (i % 2) ? bdev_read(harness_reactor(), x[k].b, buf, 1, 1,
						     interleave_cb, &x[k])
					 : bdev_write(harness_reactor(), x[k].b, buf, 2, 1,
						      interleave_cb, &x[k]);
			cr_assert_eq(rc, 0);
		}
	}
	cr_assert(harness_poll_until(interleave_done, x, HARNESS_TIMEOUT_MS));
	for (int k = 0; k < 2; k++) {
		struct bdev_iostat st;
		bdev_get_iostat(x[k].b, &st);
		uint32_t bs = bdev_block_size(x[k].b);
		cr_expect_eq(st.num_write_ops, 20);
		cr_expect_eq(st.num_read_ops, 20);
		cr_expect_eq(st.bytes_written, 20 * bs);
		cr_expect_eq(st.bytes_read, 20 * bs);
		cr_expect_gt(st.min_read_latency_ns, 0);
		cr_expect_leq(st.min_read_latency_ns, st.max_read_latency_ns);
		cr_expect_leq(st.min_write_latency_ns, st.max_write_latency_ns);
		cr_expect_geq(st.write_latency_ns, 20 * st.min_write_latency_ns);
		cr_expect_leq(st.write_latency_ns, 20 * st.max_write_latency_ns);
		cr_expect_eq(x[k].busy_in_callback, 40);
		cr_expect_eq(bdev_io_outstanding(x[k].b), 0);
	}
}

static unsigned g_pool_done;

static void count_cb(void *arg, int status)
{
	(void)arg;
	cr_expect_eq(status, 0);
	g_pool_done++;
}

static bool pool_all_done(void *arg)
{
	return g_pool_done == *(unsigned *)arg;
}

Test(bdev_io, pool_exhaustion_is_enomem)
{
	struct bdev *b = NULL;
	cr_assert_eq(bdev_null_create("n0", 1024, 512, NULL, &b), 0);
	static char buf[512];
	unsigned submitted = 0;
	int rc;
	while ((rc = bdev_read(harness_reactor(), b, buf, 0, 1, count_cb, NULL)) == 0)
		submitted++;
	cr_expect_eq(rc, -ENOMEM);
	cr_expect_eq(submitted, BDEV_IO_POOL_SIZE - BDEV_IO_POOL_RESERVE);
	cr_expect_eq(bdev_io_outstanding(b), submitted);
	cr_assert(harness_poll_until(pool_all_done, &submitted, HARNESS_TIMEOUT_MS));
	cr_expect_eq(bdev_io_outstanding(b), 0);
	cr_expect_eq(harness_read(b, buf, 0, 1), 0, "the pool refills");
}

static struct bdev *make_delay(const char *name, struct bdev *base, uint64_t us)
{
	struct bdev *d = NULL;
	int rc = bdev_delay_create(name, bdev_name(base), us, us, us, us, NULL, &d);
	cr_assert_eq(rc, 0, "delay create: %d", rc);
	return d;
}

Test(bdev_io, delay_holds_io_and_updates)
{
	struct bdev *m = make_malloc("m0", 64, 512);
	struct bdev *d = make_delay("d0", m, 200000);       /* 200 ms */
	cr_expect_str_eq(bdev_claimed_by(m), "delay");
	cr_expect_eq(bdev_delete("m0", NULL), -EBUSY);
	cr_expect_eq(bdev_num_blocks(d), 64);
	char buf[512];
	harness_pattern(buf, sizeof(buf), 3);
	struct harness_io io = { 0 };
	uint64_t t0 = monotonic_ns();
	cr_assert_eq(bdev_write(harness_reactor(), d, buf, 5, 1, harness_io_cb, &io), 0);
	cr_expect_not(harness_wait(&io, 50), "completed before its latency");
	cr_expect_eq(bdev_io_outstanding(d), 1);
	cr_assert(harness_wait(&io, HARNESS_TIMEOUT_MS));
	cr_expect_geq(monotonic_ns() - t0, 200000000ull);
	cr_expect_eq(io.status, 0);

	/* new latency applies to new IOs */
	cr_assert_eq(bdev_delay_update_latency("d0", "avg_write", 0), 0);
	cr_assert_eq(bdev_delay_update_latency("d0", "p99_write", 0), 0);
	t0 = monotonic_ns();
	cr_expect_eq(harness_write(d, buf, 6, 1), 0);
	cr_expect_lt(monotonic_ns() - t0, 150000000ull);
	cr_expect_eq(bdev_delay_update_latency("d0", "bogus", 1), -EINVAL);
	cr_expect_eq(bdev_delay_update_latency("m0", "avg_read", 1), -ENODEV);
	cr_expect_eq(bdev_delay_update_latency("nope", "avg_read", 1), -ENODEV);

	char back[512];
	cr_assert_eq(bdev_delay_update_latency("d0", "avg_read", 1000), 0);
	cr_expect_eq(harness_read(d, back, 5, 1), 0);
	cr_expect_arr_eq(back, buf, 512);

	json_t *ds = json_object();
	bdev_dump_driver_specific(d, ds);
	json_t *dj = json_object_get(ds, "delay");
	cr_assert(dj);
	cr_expect_str_eq(json_string_value(json_object_get(dj, "base_bdev_name")), "m0");
	cr_expect_str_eq(json_string_value(json_object_get(dj, "name")), "d0");
	cr_expect_eq(json_integer_value(json_object_get(dj, "avg_read_latency")), 1000);
	cr_expect_eq(json_integer_value(json_object_get(dj, "p99_read_latency")), 200000);
	json_decref(ds);
	json_t *cfg = bdev_config_json(d);
	cr_expect_str_eq(json_string_value(json_object_get(cfg, "method")), "bdev_delay_create");
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(cfg, "params"), "uuid")),
			 bdev_uuid(d));
	json_decref(cfg);

	/* deleting the delay bdev releases its base */
	cr_assert_eq(bdev_delete("d0", "delay"), 0);
	cr_expect_null(bdev_claimed_by(m));
	cr_expect_eq(bdev_delete("m0", "malloc"), 0);
}

Test(bdev_io, delete_with_io_in_flight)
{
	struct bdev *m = make_malloc("m0", 64, 512);
	struct bdev *d = make_delay("d0", m, 100000);
	char buf[4][512];
	struct harness_io io[4] = { 0 };
	for (int i = 0; i < 4; i++)
		cr_assert_eq(bdev_read(harness_reactor(), d, buf[i], (uint64_t)i, 1, harness_io_cb,
				       &io[i]), 0);
	cr_expect_eq(bdev_delete("d0", "malloc"), -ENODEV, "module must match");
	cr_assert_eq(bdev_delete("d0", NULL), 0);
	cr_expect_null(bdev_find("d0"));
	cr_expect_eq(bdev_graveyard_size(), 1, "kept while IO is in flight");
	cr_expect_eq(bdev_read(harness_reactor(), d, buf[0], 0, 1, harness_io_cb, &io[0]),
		     -ENODEV);
	/* the name is free at once, and so is the base */
	struct bdev *d2 = make_delay("d0", m, 0);
	cr_expect_neq(d2, d);
	bdev_reap();
	cr_expect_eq(bdev_graveyard_size(), 1);
	for (int i = 0; i < 4; i++) {
		cr_assert(harness_wait(&io[i], HARNESS_TIMEOUT_MS));
		cr_expect_eq(io[i].status, 0);
	}
	bdev_reap();
	cr_expect_eq(bdev_graveyard_size(), 0);
	cr_expect_eq(harness_read(d2, buf[0], 0, 1), 0);
	cr_expect_eq(bdev_delete("nope", NULL), -ENODEV);
}

static int collect_name(struct bdev *b, void *arg)
{
	json_array_append_new(arg, json_string(bdev_name(b)));
	return json_array_size(arg) == 2;       /* stop after two */
}

Test(bdev_io, foreach_in_creation_order)
{
	const char *names[] = { "c", "a", "b" };
	for (int i = 0; i < 3; i++)
		make_malloc(names[i], 8, 512);
	json_t *seen = json_array();
	bdev_foreach(collect_name, seen);
	cr_assert_eq(json_array_size(seen), 2);
	cr_expect_str_eq(json_string_value(json_array_get(seen, 0)), "c");
	cr_expect_str_eq(json_string_value(json_array_get(seen, 1)), "a");
	json_decref(seen);
	cr_expect_eq(bdev_find("b"), bdev_find("b"));
	cr_expect_null(bdev_find("d"));
	cr_expect_null(bdev_find(NULL));
}

/* test_bdev_raid.c — raid0, raid1 and concat over malloc bases: every block written through
 * the raid is found at the expected place of the expected base, IO is split at strip and
 * base boundaries, raid1 mirrors writes and spreads reads, degrades when a base is deleted,
 * and claims keep raid0/concat bases from going away. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_harness.h"
#include "bdev_module.h"
#include "bdev_delay.h"
#include "bdev_malloc.h"
#include "bdev_raid.h"

TestSuite(bdev_raid, .init = harness_setup, .fini = harness_teardown, .timeout = 120);

#define BS 512u

static struct bdev *make_malloc(const char *name, uint64_t blocks)
{
	struct bdev *b = NULL;
	int rc = bdev_malloc_create(name, blocks, BS, NULL, &b);
	cr_assert_eq(rc, 0, "malloc %s: %d", name, rc);
	return b;
}

static struct bdev *make_raid(const char *name, enum raid_level level, uint32_t strip_kb,
			      const char *const *bases, unsigned n)
{
	struct bdev *r = NULL;
	int rc = bdev_raid_create(name, level, strip_kb, bases, n, NULL, &r);
	cr_assert_eq(rc, 0, "raid %s: %d", name, rc);
	return r;
}

/* Reads one block of a base directly. */
static void base_block(struct bdev *b, uint64_t lba, char *out)
{
	cr_assert_eq(harness_read(b, out, lba, 1), 0);
}

/* Writes a distinct pattern over the whole raid, then checks each raid block against the
 * base block map() says it lives on. */
static void check_mapping(struct bdev *raid, struct bdev **bases,
			  void (*map)(uint64_t lba, unsigned *base, uint64_t *base_lba))
{
	uint64_t n = bdev_num_blocks(raid);
	char *data = malloc(n * BS), *blk = malloc(BS);
	harness_pattern(data, n * BS, 77);
	/* in uneven pieces so that IOs straddle strips and bases */
	for (uint64_t off = 0; off < n;) {
		uint64_t len = 1 + (off * 7) % 23;
		if (off + len > n)
			len = n - off;
		cr_assert_eq(harness_write(raid, data + off * BS, off, len), 0);
		off += len;
	}
	for (uint64_t lba = 0; lba < n; lba++) {
		unsigned bi;
		uint64_t blba;
		map(lba, &bi, &blba);
		base_block(bases[bi], blba, blk);
		cr_assert_arr_eq(blk, data + lba * BS, BS, "raid block %llu -> base %u block %llu",
				 (unsigned long long)lba, bi, (unsigned long long)blba);
	}
	/* and one read of everything through the raid */
	char *back = malloc(n * BS);
	cr_assert_eq(harness_read(raid, back, 0, n), 0);
	cr_assert_arr_eq(back, data, n * BS);
	free(back);
	free(data);
	free(blk);
}

/* raid0, 3 bases, strip 4 KiB = 8 blocks */
static void raid0_map(uint64_t lba, unsigned *base, uint64_t *base_lba)
{
	uint64_t strip = lba / 8;
	*base = (unsigned)(strip % 3);
	*base_lba = (strip / 3) * 8 + lba % 8;
}

Test(bdev_raid, raid0_mapping)
{
	struct bdev *bases[3] = { make_malloc("b0", 100), make_malloc("b1", 90),
				  make_malloc("b2", 120) };
	const char *names[] = { "b0", "b1", "b2" };
	struct bdev *r = make_raid("r0", RAID0, 4, names, 3);
	cr_expect_eq(bdev_num_blocks(r), 88 * 3, "min base rounded down to the strip, times 3");
	cr_expect_str_eq(bdev_module(r), "raid");
	cr_expect_str_eq(bdev_product_name(r), "Raid Volume");
	check_mapping(r, bases, raid0_map);
}

Test(bdev_raid, raid0_splits_at_strips)
{
	make_malloc("b0", 64);
	make_malloc("b1", 64);
	const char *names[] = { "b0", "b1" };
	struct bdev *r = make_raid("r0", RAID0, 4, names, 2);
	char buf[20 * BS];
	harness_pattern(buf, sizeof(buf), 5);
	/* blocks 5..24: strips 0 (5-7, b0), 1 (8-15, b1), 2 (16-23, b0), 3 (24, b1) */
	cr_assert_eq(harness_write(r, buf, 5, 20), 0);
	struct bdev_iostat s0, s1, sr;
	bdev_get_iostat(bdev_find("b0"), &s0);
	bdev_get_iostat(bdev_find("b1"), &s1);
	bdev_get_iostat(r, &sr);
	cr_expect_eq(s0.num_write_ops, 2);
	cr_expect_eq(s1.num_write_ops, 2);
	cr_expect_eq(s0.bytes_written, 11 * BS);
	cr_expect_eq(s1.bytes_written, 9 * BS);
	cr_expect_eq(sr.num_write_ops, 1);
	cr_expect_eq(sr.bytes_written, 20 * BS);
	/* a write inside one strip is one child */
	cr_assert_eq(harness_write(r, buf, 8, 8), 0);
	bdev_get_iostat(bdev_find("b1"), &s1);
	cr_expect_eq(s1.num_write_ops, 3);
	/* unmap splits the same way and zeroes */
	cr_assert_eq(harness_io(r, BDEV_IO_UNMAP, 6, 4, NULL, 0), 0);
	char back[20 * BS];
	cr_assert_eq(harness_read(r, back, 5, 20), 0);
	cr_expect_arr_eq(back, buf, BS);
	cr_expect(harness_all_zero(back + BS, 4 * BS));
	/* flush reaches every base */
	cr_assert_eq(harness_io(r, BDEV_IO_FLUSH, 0, 0, NULL, 0), 0);
	bdev_get_iostat(bdev_find("b0"), &s0);
	cr_expect_eq(s0.num_flush_ops, 1);
}

/* Many more children than the pool holds: the split waits for the pool, not fails. */
Test(bdev_raid, raid0_huge_io_waits_for_pool)
{
	make_malloc("b0", 16384);
	make_malloc("b1", 16384);
	const char *names[] = { "b0", "b1" };
	struct bdev *r = make_raid("r0", RAID0, 4, names, 2);   /* 4096 strips of 8 blocks */
	uint64_t n = bdev_num_blocks(r);
	char *w = malloc(n * BS), *back = calloc(n, BS);
	harness_pattern(w, n * BS, 11);
	cr_assert_eq(harness_write(r, w, 0, n), 0);
	cr_assert_eq(harness_read(r, back, 0, n), 0);
	cr_expect_arr_eq(back, w, n * BS);
	struct bdev_iostat s0;
	bdev_get_iostat(bdev_find("b0"), &s0);
	cr_expect_eq(s0.num_write_ops, 2048);
	free(w);
	free(back);
}

/* concat of 10, 20 and 30 blocks */
static void concat_map(uint64_t lba, unsigned *base, uint64_t *base_lba)
{
	static const uint64_t start[] = { 0, 10, 30 };
	*base = lba < 10 ? 0 : lba < 30 ? 1 : 2;
	*base_lba = lba - start[*base];
}

Test(bdev_raid, concat_mapping)
{
	struct bdev *bases[3] = { make_malloc("b0", 10), make_malloc("b1", 20),
				  make_malloc("b2", 30) };
	const char *names[] = { "b0", "b1", "b2" };
	struct bdev *r = make_raid("c0", RAID_CONCAT, 0, names, 3);
	cr_expect_eq(bdev_num_blocks(r), 60);
	check_mapping(r, bases, concat_map);
	json_t *info = bdev_raid_info_json(r);
	cr_expect_str_eq(json_string_value(json_object_get(info, "raid_level")), "concat");
	json_decref(info);
}

static void mirror_map(uint64_t lba, unsigned *base, uint64_t *base_lba)
{
	*base = 0;
	*base_lba = lba;
}

static void mirror_map1(uint64_t lba, unsigned *base, uint64_t *base_lba)
{
	*base = 1;
	*base_lba = lba;
}

Test(bdev_raid, raid1_mirrors_writes_spreads_reads)
{
	struct bdev *bases[2] = { make_malloc("b0", 64), make_malloc("b1", 80) };
	const char *names[] = { "b0", "b1" };
	struct bdev *r = make_raid("m0", RAID1, 0, names, 2);
	cr_expect_eq(bdev_num_blocks(r), 64);
	check_mapping(r, bases, mirror_map);
	check_mapping(r, bases, mirror_map1);

	struct bdev_iostat a0, a1, b0, b1;
	bdev_get_iostat(bases[0], &a0);
	bdev_get_iostat(bases[1], &a1);
	char buf[BS];
	for (int i = 0; i < 10; i++)
		cr_assert_eq(harness_read(r, buf, (uint64_t)i, 1), 0);
	bdev_get_iostat(bases[0], &b0);
	bdev_get_iostat(bases[1], &b1);
	uint64_t d0 = b0.num_read_ops - a0.num_read_ops, d1 = b1.num_read_ops - a1.num_read_ops;
	cr_expect_eq(d0 + d1, 10, "each raid read is one base read");
	cr_expect_gt(d0, 0);
	cr_expect_gt(d1, 0);
	cr_assert_eq(harness_write(r, buf, 3, 1), 0);
	bdev_get_iostat(bases[0], &a0);
	bdev_get_iostat(bases[1], &a1);
	cr_expect_eq(a0.num_write_ops, b0.num_write_ops + 1);
	cr_expect_eq(a1.num_write_ops, b1.num_write_ops + 1);
}

static const char *base_name_at(json_t *info, size_t i)
{
	json_t *e = json_array_get(json_object_get(info, "base_bdevs_list"), i);
	return json_string_value(json_object_get(e, "name"));
}

Test(bdev_raid, raid1_degrades_when_a_base_is_deleted)
{
	make_malloc("b0", 64);
	make_malloc("b1", 64);
	make_malloc("b2", 64);
	const char *names[] = { "b0", "b1", "b2" };
	struct bdev *r = make_raid("m0", RAID1, 0, names, 3);
	char w[4 * BS], back[4 * BS];
	harness_pattern(w, sizeof(w), 8);
	cr_assert_eq(harness_write(r, w, 0, 4), 0);

	cr_assert_eq(bdev_delete("b0", "malloc"), 0);
	cr_expect_null(bdev_find("b0"));
	json_t *info = bdev_raid_info_json(r);
	cr_assert(info);
	cr_expect_str_eq(json_string_value(json_object_get(info, "name")), "m0");
	cr_expect_str_eq(json_string_value(json_object_get(info, "state")), "online");
	cr_expect_eq(json_integer_value(json_object_get(info, "num_base_bdevs")), 3);
	cr_expect_eq(json_integer_value(json_object_get(info, "num_base_bdevs_discovered")), 2);
	cr_expect_eq(json_integer_value(json_object_get(info, "num_base_bdevs_operational")), 2);
	json_t *slot0 = json_array_get(json_object_get(info, "base_bdevs_list"), 0);
	cr_expect(json_is_null(json_object_get(slot0, "name")));
	cr_expect(json_is_false(json_object_get(slot0, "is_configured")));
	cr_expect_str_eq(base_name_at(info, 1), "b1");
	json_decref(info);

	/* still reads and writes, on what is left */
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(harness_read(r, back, 0, 4), 0);
		cr_assert_arr_eq(back, w, sizeof(w));
	}
	harness_pattern(w, sizeof(w), 9);
	cr_assert_eq(harness_write(r, w, 0, 4), 0);
	cr_assert_eq(harness_read(bdev_find("b2"), back, 0, 4), 0);
	cr_expect_arr_eq(back, w, sizeof(w));

	/* the name of the deleted base is free again, and not part of the raid */
	struct bdev *again = make_malloc("b0", 64);
	cr_expect_null(bdev_claimed_by(again));

	cr_assert_eq(bdev_delete("b1", NULL), 0);
	cr_expect_eq(bdev_delete("b2", NULL), -EBUSY, "last operational base of a raid1");
	cr_expect_str_eq(bdev_raid_state(r), "online");
	cr_assert_eq(harness_read(r, back, 0, 4), 0);
	cr_expect_arr_eq(back, w, sizeof(w));

	json_t *cfg = bdev_config_json(r);
	json_t *p = json_object_get(cfg, "params");
	cr_expect_str_eq(json_string_value(json_object_get(cfg, "method")), "bdev_raid_create");
	cr_expect_str_eq(json_string_value(json_object_get(p, "raid_level")), "raid1");
	cr_assert_eq(json_array_size(json_object_get(p, "base_bdevs")), 1);
	cr_expect_str_eq(json_string_value(json_array_get(json_object_get(p, "base_bdevs"), 0)),
			 "b2");
	json_decref(cfg);

	/* deleting the raid lets the last base go */
	cr_assert_eq(bdev_delete("m0", "raid"), 0);
	cr_expect_eq(bdev_delete("b2", NULL), 0);
}

Test(bdev_raid, raid1_degrade_with_io_in_flight)
{
	make_malloc("b0", 64);
	make_malloc("b1", 64);
	struct bdev *d = NULL;
	cr_assert_eq(bdev_delay_create("d1", "b1", 50000, 50000, 50000, 50000, NULL, &d), 0);
	const char *names[] = { "b0", "d1" };
	struct bdev *r = make_raid("m0", RAID1, 0, names, 2);
	char w[BS];
	harness_pattern(w, sizeof(w), 4);
	struct harness_io io[8] = { 0 };
	for (int i = 0; i < 8; i++)
		cr_assert_eq(bdev_write(harness_reactor(), r, w, (uint64_t)i, 1, harness_io_cb,
					&io[i]), 0);
	reactor_poll(harness_reactor(), 0);     /* the children reach the delay bdev */
	cr_expect_gt(bdev_io_outstanding(d), 0);
	cr_assert_eq(bdev_delete("d1", NULL), 0);       /* degraded with writes in flight */
	for (int i = 0; i < 8; i++) {
		cr_assert(harness_wait(&io[i], HARNESS_TIMEOUT_MS));
		cr_expect_eq(io[i].status, 0);
	}
	char back[BS];
	cr_assert_eq(harness_read(r, back, 7, 1), 0);
	cr_expect_arr_eq(back, w, BS);
	cr_expect_null(bdev_claimed_by(bdev_find("b1")), "the delay bdev let its base go");
}

Test(bdev_raid, raid0_and_concat_bases_cannot_be_deleted)
{
	make_malloc("b0", 64);
	make_malloc("b1", 64);
	make_malloc("b2", 64);
	make_malloc("b3", 64);
	const char *n0[] = { "b0", "b1" }, *n1[] = { "b2", "b3" };
	make_raid("r0", RAID0, 4, n0, 2);
	make_raid("c0", RAID_CONCAT, 0, n1, 2);
	cr_expect_eq(bdev_delete("b0", NULL), -EBUSY);
	cr_expect_eq(bdev_delete("b3", "malloc"), -EBUSY);
	cr_expect_not_null(bdev_find("b0"));
	cr_expect_str_eq(bdev_claimed_by(bdev_find("b0")), "raid");
	cr_expect_eq(bdev_delete("r0", "malloc"), -ENODEV);
	cr_assert_eq(bdev_delete("r0", "raid"), 0);
	cr_expect_null(bdev_claimed_by(bdev_find("b0")));
	cr_expect_eq(bdev_delete("b0", NULL), 0);
}

Test(bdev_raid, claims_and_validation)
{
	make_malloc("b0", 64);
	make_malloc("b1", 64);
	make_malloc("b2", 64);
	struct bdev *k = NULL;
	cr_assert_eq(bdev_malloc_create("k4", 64, 4096, NULL, &k), 0);
	const char *two[] = { "b0", "b1" };
	struct bdev *r = NULL;
	cr_expect_eq(bdev_raid_create("x", RAID0, 0, two, 2, NULL, &r), -EINVAL, "strip 0");
	cr_expect_eq(bdev_raid_create("x", RAID0, 3, two, 2, NULL, &r), -EINVAL, "strip 3");
	cr_expect_eq(bdev_raid_create("x", RAID1, 64, two, 2, NULL, &r), -EINVAL);
	cr_expect_eq(bdev_raid_create("x", RAID_CONCAT, 6, two, 2, NULL, &r), -EINVAL);
	cr_expect_eq(bdev_raid_create("x", (enum raid_level)7, 0, two, 2, NULL, &r), -EINVAL);
	cr_expect_eq(bdev_raid_create("x", RAID0, 4, two, 0, NULL, &r), -EINVAL);
	const char *missing[] = { "b0", "nope" };
	cr_expect_eq(bdev_raid_create("x", RAID1, 0, missing, 2, NULL, &r), -ENODEV);
	const char *dup[] = { "b0", "b0" };
	cr_expect_eq(bdev_raid_create("x", RAID1, 0, dup, 2, NULL, &r), -EINVAL);
	const char *mixed[] = { "b0", "k4" };
	cr_expect_eq(bdev_raid_create("x", RAID1, 0, mixed, 2, NULL, &r), -EINVAL);
	const char *k4[] = { "k4" };
	cr_expect_eq(bdev_raid_create("x", RAID0, 2, k4, 1, NULL, &r), -EINVAL,
		     "strip smaller than a block");
	cr_expect_eq(bdev_raid_create("x/y", RAID1, 0, two, 2, NULL, &r), -EINVAL);
	cr_expect_null(bdev_claimed_by(bdev_find("b0")), "failed creates claim nothing");

	r = make_raid("r1", RAID1, 0, two, 2);
	cr_expect_str_eq(bdev_claimed_by(bdev_find("b0")), "raid");
	cr_expect_eq(bdev_raid_create("r1", RAID1, 0, (const char *[]){ "b2" }, 1, NULL, &k),
		     -EEXIST);
	const char *again[] = { "b2", "b1" };
	cr_expect_eq(bdev_raid_create("r2", RAID1, 0, again, 2, NULL, &k), -EBUSY);
	cr_expect_null(bdev_claimed_by(bdev_find("b2")));
	cr_expect_eq(bdev_delay_create("d", "b0", 0, 0, 0, 0, NULL, &k), -EBUSY);
	cr_expect_eq(bdev_claim(bdev_find("b1"), "vhost_blk", NULL), -EBUSY);
	cr_assert_eq(bdev_claim(r, "vhost_blk", NULL), 0);
	cr_expect_eq(bdev_delete("r1", NULL), -EBUSY, "claimed by a controller");
	bdev_release(r);

	json_t *ds = json_object();
	bdev_dump_driver_specific(r, ds);
	json_t *raid = json_object_get(ds, "raid");
	cr_assert(raid);
	cr_expect_str_eq(json_string_value(json_object_get(raid, "raid_level")), "raid1");
	cr_expect_str_eq(json_string_value(json_object_get(raid, "uuid")), bdev_uuid(r));
	cr_expect(json_is_false(json_object_get(raid, "superblock")));
	cr_expect_eq(json_integer_value(json_object_get(raid, "strip_size_kb")), 0);
	json_t *e = json_array_get(json_object_get(raid, "base_bdevs_list"), 1);
	cr_expect_str_eq(json_string_value(json_object_get(e, "name")), "b1");
	cr_expect_str_eq(json_string_value(json_object_get(e, "uuid")),
			 bdev_uuid(bdev_find("b1")));
	cr_expect(json_is_true(json_object_get(e, "is_configured")));
	cr_expect_eq(json_integer_value(json_object_get(e, "data_size")), 64);
	json_decref(ds);
	cr_expect_null(bdev_raid_info_json(bdev_find("b2")));
}

/* raid1 over two raid0s: the layers compose */
Test(bdev_raid, nested_raid)
{
	const char *bases[] = { "b0", "b1", "b2", "b3" };
	for (int i = 0; i < 4; i++)
		make_malloc(bases[i], 64);
	const char *s0[] = { "b0", "b1" }, *s1[] = { "b2", "b3" }, *top[] = { "s0", "s1" };
	make_raid("s0", RAID0, 8, s0, 2);
	make_raid("s1", RAID0, 4, s1, 2);
	struct bdev *m = make_raid("top", RAID1, 0, top, 2);
	cr_expect_eq(bdev_num_blocks(m), 128);
	char *w = malloc(128 * BS), *back = malloc(128 * BS);
	harness_pattern(w, 128 * BS, 21);
	cr_assert_eq(harness_write(m, w, 0, 128), 0);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(harness_read(m, back, 0, 128), 0);
		cr_assert_arr_eq(back, w, 128 * BS);
	}
	/* block 20 of s1 (strip 8 blocks): strip 2 -> b2, block 1*8 + 4 */
	cr_assert_eq(harness_read(bdev_find("b2"), back, 12, 1), 0);
	cr_expect_arr_eq(back, w + 20 * BS, BS);
	free(w);
	free(back);
}

/* IO runs on a reactor thread while the control thread (the test) degrades the raid1: no
 * IO fails, and the removed bases are freed once the reactor let go of them. */
struct loop_slot;

struct io_loop {
	struct reactor *r;
	struct bdev *raid;
	_Atomic bool stop;
	_Atomic unsigned inflight;
	_Atomic uint64_t done, errors;
};

struct loop_slot {
	struct io_loop *loop;
	unsigned n;
	char buf[4 * BS];
};

static void loop_cb(void *arg, int status);

static void loop_submit(struct loop_slot *s)
{
	uint64_t lba = (s->n * 7) % 60;
	int rc = (s->n++ % 2) ? bdev_read(s->loop->r, s->loop->raid, s->buf, lba, 4, loop_cb, s)
			      : bdev_write(s->loop->r, s->loop->raid, s->buf, lba, 4, loop_cb, s);
	if (rc) {
		atomic_fetch_add(&s->loop->errors, 1);
		atomic_fetch_sub(&s->loop->inflight, 1);
	}
}

static void loop_cb(void *arg, int status)
{
	struct loop_slot *s = arg;
	atomic_fetch_add(&s->loop->done, 1);
	if (status)
		atomic_fetch_add(&s->loop->errors, 1);
	if (atomic_load(&s->loop->stop))
		atomic_fetch_sub(&s->loop->inflight, 1);
	else
		loop_submit(s);
}

static struct loop_slot g_slots[8];

static void loop_start(void *arg)
{
	struct io_loop *l = arg;
	for (int i = 0; i < 8; i++) {
		g_slots[i] = (struct loop_slot){ .loop = l, .n = (unsigned)i };
		atomic_fetch_add(&l->inflight, 1);
		loop_submit(&g_slots[i]);
	}
}

static void wait_done(struct io_loop *l, uint64_t at_least)
{
	uint64_t deadline = monotonic_ns() + 10000000000ull;
	while (atomic_load(&l->done) < at_least)
		cr_assert_lt(monotonic_ns(), deadline, "IO stalled at %llu",
			     (unsigned long long)atomic_load(&l->done));
}

Test(bdev_raid, raid1_degrades_under_io_from_a_reactor_thread)
{
	make_malloc("b0", 64);
	make_malloc("b1", 64);
	make_malloc("b2", 64);
	const char *names[] = { "b0", "b1", "b2" };
	static struct io_loop l;
	l.raid = make_raid("m0", RAID1, 0, names, 3);
	l.r = reactor_create("io", 1, 0);
	cr_assert(l.r);
	cr_assert_eq(reactor_start(l.r, false), 0);
	cr_assert_eq(reactor_send_msg(l.r, loop_start, &l), 0);
	wait_done(&l, 2000);
	cr_assert_eq(bdev_delete("b0", NULL), 0);
	wait_done(&l, atomic_load(&l.done) + 2000);
	cr_assert_eq(bdev_delete("b1", NULL), 0);
	wait_done(&l, atomic_load(&l.done) + 2000);
	cr_expect_eq(bdev_delete("b2", NULL), -EBUSY);
	bdev_reap();
	atomic_store(&l.stop, true);
	uint64_t deadline = monotonic_ns() + 10000000000ull;
	while (atomic_load(&l.inflight) > 0)
		cr_assert_lt(monotonic_ns(), deadline);
	bdev_reap();
	cr_expect_eq(bdev_graveyard_size(), 0);
	cr_expect_eq(atomic_load(&l.errors), 0);
	reactor_stop(l.r);
	reactor_destroy(l.r);
}

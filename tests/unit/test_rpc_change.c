/* test_rpc_change.c — a configuration change whose save fails, through rpc_call_local() with a
 * change hook that refuses as persistence does on a full disk: every create and update is
 * taken back and fails with the hook's errno, a delete is not done at all (its configuration
 * without the object is refused before it runs), a delete of an object another entry names
 * is not saved first, and each failed call changes nothing (rpc_fail compares the whole
 * configuration before and after). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "rpc.h"
#include "rpc_harness.h"
#include "vhost_fake_frontend.h"

static int g_fail;              /* the errno the hooks answer with (0: accept) */
static unsigned g_before_calls, g_after_calls;
static json_t *g_expected;      /* the last configuration before_change was given */

static int refuse_before(const struct rpc_method *m, const json_t *expected, void *arg)
{
	g_before_calls++;
	json_decref(g_expected);
	g_expected = json_deep_copy(expected);
	return g_fail;
}

static int refuse_after(const struct rpc_method *m, void *arg)
{
	g_after_calls++;
	return g_fail;
}

static const struct rpc_hooks refusing_hooks = {
	.before_change = refuse_before,
	.after_change = refuse_after,
};

static void setup(void)
{
	vh_setup();     /* rpc_harness_setup and a vhost dir */
	cr_assert_eq(rpc_register_hooks(&refusing_hooks, NULL), 0);
}

static void teardown(void)
{
	json_decref(g_expected);
	g_expected = NULL;
	g_fail = 0;
	vh_teardown();
}

TestSuite(rpc_change, .init = setup, .fini = teardown, .timeout = 60);

static void make_world(void)
{
	rpc_make_malloc("m0", 64, 512);
	rpc_make_malloc("b0", 64, 512);
	rpc_make_malloc("b1", 64, 512);
	rpc_make_malloc("spare", 64, 512);
	json_decref(rpc_ok("bdev_raid_create", "{\"name\":\"r0\",\"raid_level\":\"raid0\","
			   "\"strip_size_kb\":4,\"base_bdevs\":[\"b0\",\"b1\"]}"));
	json_decref(rpc_ok("bdev_delay_create", "{\"name\":\"d0\",\"base_bdev_name\":\"m0\","
			   "\"avg_read_latency\":5,\"p99_read_latency\":5,"
			   "\"avg_write_latency\":5,\"p99_write_latency\":5}"));
	json_decref(rpc_ok("vhost_create_blk_controller", "{\"ctrlr\":\"c0\",\"dev_name\":\"d0\"}"));
	json_decref(rpc_ok("bdev_uring_create", "{\"name\":\"u0\",\"filename\":\"%s\"}",
			   rpc_tmpfile(1 << 20)));
}

Test(rpc_change, a_create_or_update_not_saved_is_taken_back)
{
	make_world();
	g_fail = -ENOSPC;
	const char *msg = rpc_fail(-ENOSPC, "bdev_malloc_create",
				   "{\"name\":\"new\",\"num_blocks\":64,\"block_size\":512}");
	cr_assert_str_eq(msg, "Cannot save the configuration: No space left on device");
	rpc_fail(-ENOSPC, "bdev_malloc_create", "{\"num_blocks\":64,\"block_size\":512}");
	rpc_fail(-ENOSPC, "bdev_null_create",
		 "{\"name\":\"new\",\"num_blocks\":64,\"block_size\":512}");
	rpc_fail(-ENOSPC, "bdev_aio_create", "{\"name\":\"new\",\"filename\":\"%s\"}",
		 rpc_tmpfile(1 << 20));
	rpc_fail(-ENOSPC, "bdev_delay_create", "{\"name\":\"dn\",\"base_bdev_name\":\"spare\","
		 "\"avg_read_latency\":1,\"p99_read_latency\":1,\"avg_write_latency\":1,"
		 "\"p99_write_latency\":1}");
	rpc_fail(-ENOSPC, "bdev_raid_create", "{\"name\":\"rn\",\"raid_level\":\"concat\","
		 "\"strip_size_kb\":4,\"base_bdevs\":[\"spare\"]}");
	rpc_fail(-ENOSPC, "vhost_create_blk_controller", "{\"ctrlr\":\"cn\",\"dev_name\":\"spare\"}");
	rpc_fail(-ENOSPC, "bdev_delay_update_latency", "{\"delay_bdev_name\":\"d0\","
		 "\"latency_type\":\"p99_write\",\"latency_us\":77}");
	/* A call that fails on its own is not saved at all. */
	unsigned after = g_after_calls;
	rpc_fail(-EEXIST, "bdev_malloc_create",
		 "{\"name\":\"m0\",\"num_blocks\":64,\"block_size\":512}");
	cr_assert_eq(g_after_calls, after);
	/* With the disk back, the same create is saved and kept. */
	g_fail = 0;
	json_decref(rpc_ok("bdev_malloc_create",
			   "{\"name\":\"new\",\"num_blocks\":64,\"block_size\":512}"));
	json_t *b = rpc_bdev("new");
	cr_assert_not_null(b);
	json_decref(b);
}

Test(rpc_change, a_delete_not_saved_is_not_done)
{
	make_world();
	g_fail = -EIO;
	unsigned before = g_before_calls;
	const char *msg = rpc_fail(-EIO, "bdev_uring_delete", "{\"name\":\"u0\"}");
	cr_assert_str_eq(msg, "Cannot save the configuration: Input/output error");
	cr_assert_eq(g_before_calls, before + 1);
	cr_assert_null(rpc_config_find(g_expected, NULL, "u0"), "u0 still in what was saved");
	cr_assert_not_null(rpc_config_find(g_expected, NULL, "spare"));
	rpc_fail(-EIO, "vhost_delete_controller", "{\"ctrlr\":\"c0\"}");
	rpc_fail(-EIO, "bdev_malloc_delete", "{\"name\":\"spare\"}");
	/* r0 is named by no other entry: saved first, refused. */
	rpc_fail(-EIO, "bdev_raid_delete", "{\"name\":\"r0\"}");
}

Test(rpc_change, a_delete_of_an_object_another_entry_names_is_not_saved_first)
{
	make_world();
	g_fail = -ENOSPC;
	unsigned before = g_before_calls;
	/* b0 is r0's base, d0 is c0's bdev, m0 is d0's base: refused as claimed, nothing saved. */
	rpc_fail(-EBUSY, "bdev_malloc_delete", "{\"name\":\"b0\"}");
	rpc_fail(-EBUSY, "bdev_delay_delete", "{\"name\":\"d0\"}");
	rpc_fail(-EBUSY, "bdev_malloc_delete", "{\"name\":\"m0\"}");
	cr_assert_eq(g_before_calls, before);
	/* A missing object: nothing to save either. */
	rpc_fail(-ENODEV, "bdev_malloc_delete", "{\"name\":\"nope\"}");
	cr_assert_eq(g_before_calls, before);
}

Test(rpc_change, a_delete_saved_first_then_refused_is_saved_back)
{
	make_world();
	unsigned after = g_after_calls;
	/* spare is a malloc: the null module's delete refuses it after the save. */
	rpc_fail(-ENODEV, "bdev_null_delete", "{\"name\":\"spare\"}");
	cr_assert_eq(g_after_calls, after + 1, "the file was not rewritten as it was");
}

/* test_rpc_spdk_params.c — SPDK's documented parameters a handler does not take
 * (rpc_params.c): rpc_params_filter on a table of every kind (at the honoured value, at
 * another, mistyped, "any value", "or the value of another key"), then through the real
 * methods: a create with every SPDK parameter at its default makes the same bdev and the same
 * save_config entry as one without them, refusals change nothing, unknown keys stay refused,
 * and save_config's subsystems come back through framework_get_subsystems/_config. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "jsonrpc.h"
#include "rpc.h"
#include "rpc_harness.h"

static const struct rpc_spdk_param test_params[] = {
	{ "flag", JP_BOOL, "false", NULL },
	{ "size", JP_UINT32, "0", "block_size" },
	{ "node", JP_INT32, "-1", NULL },
	{ "mode", JP_STRING, "\"none\"", NULL },
	{ "anything", JP_BOOL, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct rpc_method test_method = {
	"test_method", NULL, 0, NULL, test_params,
};

/* Filters params given as JSON text: 0 with *out (NULL: nothing taken out), or -EINVAL with
 * the message in err. */
static int filter(const char *text, json_t **out, char *err, size_t errlen)
{
	json_t *params = rpc_json(text);
	err[0] = '\0';
	int rc = rpc_params_filter(&test_method, params, out, err, errlen);
	json_decref(params);
	return rc;
}

static void expect_refused(const char *text, const char *key)
{
	char err[160];
	json_t *out = NULL;
	cr_assert_eq(filter(text, &out, err, sizeof(err)), -EINVAL, "%s", text);
	cr_assert_null(out);
	cr_assert(strstr(err, key), "%s: %s", text, err);
	cr_assert_null(strchr(err, '\n'), "%s", err);
}

Test(spdk_params, accepted_values_are_taken_out_and_the_rest_kept)
{
	char err[160];
	json_t *out = NULL;
	cr_assert_eq(filter("{\"name\":\"x\"}", &out, err, sizeof(err)), 0);
	cr_assert_null(out, "nothing to take out: the params are used as they are");

	cr_assert_eq(filter("{\"name\":\"x\",\"flag\":false,\"size\":0,\"node\":-1,"
			    "\"mode\":\"none\",\"anything\":true}", &out, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_not_null(out);
	cr_assert_eq(json_object_size(out), 1);
	cr_assert_str_eq(json_string_value(json_object_get(out, "name")), "x");
	json_decref(out);

	/* the value of the named other key is honoured too */
	cr_assert_eq(filter("{\"block_size\":4096,\"size\":4096}", &out, err, sizeof(err)), 0);
	cr_assert_eq(json_object_size(out), 1);
	json_decref(out);

	/* not an object: left to the handler's decoding */
	cr_assert_eq(filter("[1]", &out, err, sizeof(err)), 0);
	cr_assert_null(out);
	cr_assert_eq(rpc_params_filter(&test_method, NULL, &out, err, sizeof(err)), 0);
	cr_assert_null(out);
}

Test(spdk_params, other_values_and_types_are_refused_naming_the_key)
{
	expect_refused("{\"flag\":true}", "'flag'");
	expect_refused("{\"size\":8}", "'size'");
	expect_refused("{\"block_size\":512,\"size\":4096}", "'size'");
	expect_refused("{\"node\":0}", "'node'");
	expect_refused("{\"mode\":\"all\"}", "'mode'");
	/* of the wrong type, or out of the type's range */
	expect_refused("{\"flag\":0}", "'flag'");
	expect_refused("{\"size\":\"0\"}", "'size'");
	expect_refused("{\"size\":-1}", "'size'");
	expect_refused("{\"size\":4294967296}", "'size'");
	expect_refused("{\"node\":2147483648}", "'node'");
	expect_refused("{\"mode\":null}", "'mode'");
	expect_refused("{\"anything\":\"yes\"}", "'anything'");
	/* a long value is cut short in the message, which stays one line */
	expect_refused("{\"mode\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		       "aaaaaaaaaaaaaaaaaaaaaa\\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}",
		       "'mode'");
}

TestSuite(spdk_rpc, .init = rpc_harness_setup, .fini = rpc_harness_teardown, .timeout = 60);

Test(spdk_rpc, a_create_with_every_default_is_a_create_without_them)
{
	json_t *r = rpc_ok("bdev_malloc_create", "{\"num_blocks\":64,\"block_size\":512,"
			   "\"name\":\"A\",\"uuid\":\"2b7f3e4a-0c1d-4e5f-8a9b-0c1d2e3f4a5b\"}");
	json_decref(r);
	json_t *plain = rpc_ok("save_config", NULL);
	r = rpc_ok("bdev_malloc_delete", "{\"name\":\"A\"}");
	json_decref(r);
	r = rpc_ok("bdev_malloc_create", "{\"num_blocks\":64,\"block_size\":512,"
		   "\"physical_block_size\":512,\"name\":\"A\","
		   "\"uuid\":\"2b7f3e4a-0c1d-4e5f-8a9b-0c1d2e3f4a5b\",\"optimal_io_boundary\":0,"
		   "\"md_size\":0,\"md_interleave\":false,\"dif_type\":0,"
		   "\"dif_is_head_of_md\":false,\"dif_pi_format\":0,\"numa_id\":-1}");
	cr_assert_str_eq(json_string_value(r), "A");
	json_decref(r);
	json_t *full = rpc_ok("save_config", NULL);
	cr_assert(json_equal(plain, full), "SPDK's defaults leave no trace in save_config");
	json_decref(plain);
	json_decref(full);
	expect_bdev("A", "Malloc disk", 512, 64, false);
}

Test(spdk_rpc, refusals_change_nothing_and_unknown_keys_stay_refused)
{
	rpc_make_malloc("B0", 64, 512);
	rpc_make_malloc("B1", 64, 512);
	const char *msg = rpc_fail(JRPC_INVALID_PARAMS, "bdev_malloc_create",
				   "{\"num_blocks\":64,\"block_size\":512,\"name\":\"X\","
				   "\"md_size\":8}");
	cr_assert(strstr(msg, "md_size"), "%s", msg);
	msg = rpc_fail(JRPC_INVALID_PARAMS, "bdev_null_create", "{\"num_blocks\":64,"
		       "\"block_size\":512,\"name\":\"X\",\"optimal_write_size\":8}");
	cr_assert(strstr(msg, "optimal_write_size"), "%s", msg);
	msg = rpc_fail(JRPC_INVALID_PARAMS, "bdev_raid_create", "{\"name\":\"R\","
		       "\"raid_level\":\"raid1\",\"base_bdevs\":[\"B0\",\"B1\"],\"superblock\":true}");
	cr_assert(strstr(msg, "superblock"), "%s", msg);
	msg = rpc_fail(JRPC_INVALID_PARAMS, "vhost_create_blk_controller",
		       "{\"ctrlr\":\"c\",\"dev_name\":\"B0\",\"packed_ring\":true}");
	cr_assert(strstr(msg, "packed_ring"), "%s", msg);
	/* a parameter SPDK documents for another method only is still unknown here */
	msg = rpc_fail(JRPC_INVALID_PARAMS, "bdev_uring_create",
		       "{\"name\":\"U\",\"filename\":\"/nonexistent\",\"nowait\":false}");
	cr_assert(strstr(msg, "unknown key 'nowait'"), "%s", msg);
	msg = rpc_fail(JRPC_INVALID_PARAMS, "bdev_malloc_create",
		       "{\"num_blocks\":64,\"block_size\":512,\"md_size\":0,\"bogus\":1}");
	cr_assert(strstr(msg, "unknown key 'bogus'"), "%s", msg);

	/* accepted at the default, or at any value when it is a no-op */
	json_t *r = rpc_ok("bdev_raid_create", "{\"name\":\"R\",\"raid_level\":\"1\","
			   "\"base_bdevs\":[\"B0\",\"B1\"],\"superblock\":false}");
	json_decref(r);
	r = rpc_ok("bdev_raid_delete", "{\"name\":\"R\",\"clear_sb\":true}");
	json_decref(r);
}

Test(spdk_rpc, iostat_by_names_and_the_subsystems_of_save_config)
{
	rpc_make_malloc("S0", 64, 512);
	rpc_make_malloc("S1", 64, 512);
	json_t *r = rpc_ok("bdev_get_iostat", "{\"names\":[\"S1\",\"S0\"],\"per_channel\":false,"
			   "\"reset_mode\":\"none\"}");
	json_t *bdevs = aget(r, "bdevs");
	cr_assert_eq(json_array_size(bdevs), 2);
	cr_assert_str_eq(sget(json_array_get(bdevs, 0), "name"), "S1");
	json_decref(r);
	rpc_fail(-ENODEV, "bdev_get_iostat", "{\"names\":[\"S0\",\"nope\"]}");
	rpc_fail(JRPC_INVALID_PARAMS, "bdev_get_iostat", "{\"names\":[1]}");

	json_t *subs = rpc_ok("framework_get_subsystems", NULL);
	cr_assert_eq(json_array_size(subs), 2);
	cr_assert_str_eq(sget(json_array_get(subs, 0), "subsystem"), "bdev");
	cr_assert_eq(json_array_size(aget(json_array_get(subs, 0), "depends_on")), 0);
	cr_assert_str_eq(sget(json_array_get(subs, 1), "subsystem"), "vhost_blk");
	json_t *deps = aget(json_array_get(subs, 1), "depends_on");
	cr_assert_eq(json_array_size(deps), 1);
	cr_assert_str_eq(json_string_value(json_array_get(deps, 0)), "bdev");
	json_decref(subs);

	json_t *whole = rpc_ok("save_config", NULL);
	json_t *bdev = rpc_ok("framework_get_config", "{\"name\":\"bdev\",\"with_batches\":true}");
	cr_assert(json_equal(bdev, json_object_get(json_array_get(
		json_object_get(whole, "subsystems"), 0), "config")));
	json_decref(bdev);
	json_decref(whole);
	const char *msg = rpc_fail(JRPC_INVALID_PARAMS, "framework_get_config",
				   "{\"name\":\"nope\"}");
	cr_assert(strstr(msg, "nope"), "%s", msg);
	rpc_fail(JRPC_INVALID_PARAMS, "framework_get_config", "{}");
	rpc_fail(JRPC_INVALID_PARAMS, "framework_get_subsystems", "{\"x\":1}");
}

/* bdev_rpc.c — the bdev layer's RPC side: the core methods (bdev_get_bdevs, bdev_get_iostat)
 * with SPDK's names and shapes, the bdev subsystem of save_config (each bdev's module writes
 * its entry), module registration (a module's own methods become callable), and the helpers
 * the modules' create/delete methods share. Decoding and answers only: the policy is in
 * bdev.c and the modules.
 * Owns the rule "Introspection safety (target)" of docs/architecture.md (bug class 5).
 */
#include <errno.h>
#include <string.h>

#include "bdev.h"
#include "bdev_module.h"
#include "bdev_rpc.h"
#include "json_util.h"
#include "rpc.h"

#define TICK_RATE 1000000000ULL
#define BDEV_IOSTAT_MAX_NAMES 1024      /* SPDK's limit on bdev_get_iostat's names */

/* ---------------------------------------------------------------- helpers for modules */

void bdev_rpc_reply_created(struct rpc_request *req, int rc, struct bdev *b)
{
	if (rc < 0)
		return rpc_reply_errno(req, rc);
	rpc_reply(req, json_string(bdev_name(b)));
}

void bdev_rpc_reply_done(struct rpc_request *req, int rc)
{
	if (rc < 0)
		return rpc_reply_errno(req, rc);
	rpc_reply(req, json_true());
}

void bdev_rpc_create_sized(struct rpc_request *req, const json_t *params, bool name_required,
			   bdev_sized_create_fn create)
{
	const char *name = NULL, *uuid = NULL;
	uint64_t num_blocks = 0;
	uint32_t block_size = 0;
	struct jparam spec[] = {
		{ "name", JP_STRING, name_required, &name, NULL },
		{ "num_blocks", JP_UINT64, true, &num_blocks, NULL },
		{ "block_size", JP_UINT32, true, &block_size, NULL },
		{ "uuid", JP_STRING, false, &uuid, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	struct bdev *b = NULL;
	int rc = create(name, num_blocks, block_size, uuid, &b);
	bdev_rpc_reply_created(req, rc, b);
}

void bdev_rpc_delete(struct rpc_request *req, const json_t *params, const char *module)
{
	const char *name = NULL;
	struct jparam spec[] = {
		{ "name", JP_STRING, true, &name, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	bdev_rpc_reply_done(req, bdev_delete(name, module));
}

void bdev_rpc_undo_create(const json_t *params, const json_t *result, const json_t *before)
{
	const char *name = json_string_value(result);
	if (!name)
		name = json_string_value(json_object_get(params, "name"));
	if (name)
		bdev_delete(name, NULL);
}

/* ---------------------------------------------------------------- introspection */

static json_t *supported_io_types(const struct bdev *b)
{
	return json_pack("{s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b}",
			 "read", bdev_io_type_supported(b, BDEV_IO_READ),
			 "write", bdev_io_type_supported(b, BDEV_IO_WRITE),
			 "unmap", bdev_io_type_supported(b, BDEV_IO_UNMAP),
			 "flush", bdev_io_type_supported(b, BDEV_IO_FLUSH),
			 "reset", false,
			 "nvme_admin", false,
			 "nvme_io", false,
			 "write_zeroes", bdev_io_type_supported(b, BDEV_IO_WRITE_ZEROES),
			 "zcopy", false,
			 "compare", false,
			 "compare_and_write", false,
			 "abort", false);
}

static json_t *bdev_info_json(const struct bdev *b)
{
	json_t *driver_specific = json_object();
	bdev_dump_driver_specific(b, driver_specific);
	const char *claimer = bdev_claimed_by(b);
	json_t *info = json_pack(
		"{s:s, s:[], s:s, s:i, s:I, s:s, s:{s:i, s:i, s:i, s:i}, s:b}",
		"name", bdev_name(b), "aliases", "product_name", bdev_product_name(b),
		"block_size", (int)bdev_block_size(b), "num_blocks",
		(json_int_t)bdev_num_blocks(b), "uuid", bdev_uuid(b),
		"assigned_rate_limits", "rw_ios_per_sec", 0, "rw_mbytes_per_sec", 0,
		"r_mbytes_per_sec", 0, "w_mbytes_per_sec", 0,
		"claimed", claimer != NULL);
	if (!info) {
		json_decref(driver_specific);
		return NULL;
	}
	if (claimer) {
		json_object_set_new(info, "claim_type", json_string("exclusive_write"));
		json_object_set_new(info, "claimed_by", json_string(claimer));
	}
	json_object_set_new(info, "zoned", json_false());
	json_object_set_new(info, "supported_io_types", supported_io_types(b));
	json_object_set_new(info, "driver_specific", driver_specific);
	return info;
}

static int add_bdev_info(struct bdev *b, void *arg)
{
	json_t *info = bdev_info_json(b);
	if (info)
		json_array_append_new(arg, info);
	return 0;
}

/* bdev_get_bdevs is safe at any moment: it runs on the control thread, which alone changes the
 * registry, and a bdev being torn down is either still registered (whole) or gone. */
static void rpc_bdev_get_bdevs(struct rpc_request *req, const json_t *params)
{
	const char *name = NULL;
	uint64_t timeout = 0;
	struct jparam spec[] = {
		{ "name", JP_STRING, false, &name, NULL },
		{ "timeout", JP_UINT64, false, &timeout, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	json_t *list = json_array();
	if (name) {
		struct bdev *b = bdev_find(name);
		if (!b) {
			json_decref(list);
			return rpc_reply_errno(req, -ENODEV);
		}
		add_bdev_info(b, list);
	} else {
		bdev_foreach(add_bdev_info, list);
	}
	rpc_reply(req, list);
}

static json_t *iostat_json(const struct bdev *b)
{
	struct bdev_iostat s;
	bdev_get_iostat(b, &s);
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			 " s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "name", bdev_name(b),
			 "bytes_read", (json_int_t)s.bytes_read,
			 "num_read_ops", (json_int_t)s.num_read_ops,
			 "bytes_written", (json_int_t)s.bytes_written,
			 "num_write_ops", (json_int_t)s.num_write_ops,
			 "bytes_unmapped", (json_int_t)s.bytes_unmapped,
			 "num_unmap_ops", (json_int_t)s.num_unmap_ops,
			 "num_flush_ops", (json_int_t)s.num_flush_ops,
			 "num_write_zeroes_ops", (json_int_t)s.num_write_zeroes_ops,
			 "read_latency_ticks", (json_int_t)s.read_latency_ns,
			 "max_read_latency_ticks", (json_int_t)s.max_read_latency_ns,
			 "min_read_latency_ticks", (json_int_t)s.min_read_latency_ns,
			 "write_latency_ticks", (json_int_t)s.write_latency_ns,
			 "max_write_latency_ticks", (json_int_t)s.max_write_latency_ns,
			 "min_write_latency_ticks", (json_int_t)s.min_write_latency_ns,
			 "unmap_latency_ticks", (json_int_t)s.unmap_latency_ns,
			 "max_unmap_latency_ticks", (json_int_t)s.max_unmap_latency_ns,
			 "min_unmap_latency_ticks", (json_int_t)s.min_unmap_latency_ns,
			 "io_outstanding", (json_int_t)bdev_io_outstanding(b),
			 "num_io_errors", (json_int_t)s.num_io_errors,
			 "bytes_write_zeroes", (json_int_t)s.bytes_write_zeroes);
}

static int add_iostat(struct bdev *b, void *arg)
{
	json_t *st = iostat_json(b);
	if (st)
		json_array_append_new(arg, st);
	return 0;
}

/* Appends the statistics of the bdev called name; -ENODEV when there is none. */
static int add_iostat_of(const char *name, json_t *list)
{
	struct bdev *b = bdev_find(name);
	if (!b)
		return -ENODEV;
	add_iostat(b, list);
	return 0;
}

/* All bdevs, or those "names" lists (SPDK's current clients) and "name" gives (older ones),
 * in that order. */
static void rpc_bdev_get_iostat(struct rpc_request *req, const json_t *params)
{
	const char *name = NULL;
	const char *items[BDEV_IOSTAT_MAX_NAMES];
	struct jstring_array names = { items, BDEV_IOSTAT_MAX_NAMES, 0 };
	struct jparam spec[] = {
		{ "name", JP_STRING, false, &name, NULL },
		{ "names", JP_STRING_ARRAY, false, &names, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	json_t *list = json_array();
	int rc = 0;
	for (size_t i = 0; i < names.count && rc == 0; i++)
		rc = add_iostat_of(items[i], list);
	if (rc == 0 && name)
		rc = add_iostat_of(name, list);
	if (rc < 0) {
		json_decref(list);
		return rpc_reply_errno(req, rc);
	}
	if (!name && names.count == 0)
		bdev_foreach(add_iostat, list);
	rpc_reply(req, json_pack("{s:I, s:I, s:o}", "tick_rate", (json_int_t)TICK_RATE,
				 "ticks", (json_int_t)monotonic_ns(), "bdevs", list));
}

/* Statistics are kept for the bdev as a whole and never reset by a read of them. */
static const struct rpc_spdk_param iostat_spdk_params[] = {
	{ "per_channel", JP_BOOL, "false", NULL },
	{ "reset_mode", JP_STRING, "\"none\"", NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct rpc_method bdev_methods[] = {
	{ "bdev_get_bdevs", rpc_bdev_get_bdevs, 0, NULL, NULL },
	{ "bdev_get_iostat", rpc_bdev_get_iostat, 0, NULL, iostat_spdk_params },
	{ NULL, NULL, 0, NULL, NULL },
};

int bdev_module_register(const struct bdev_module *m)
{
	return m->rpc_methods ? rpc_register_methods(m->rpc_methods) : 0;
}

static int add_config(struct bdev *b, void *arg)
{
	json_t *entry = bdev_config_json(b);
	if (entry)
		json_array_append_new(arg, entry);
	return 0;
}

static void write_config(json_t *config, void *arg)
{
	bdev_foreach(add_config, config);
}

int bdev_rpc_register(void)
{
	int rc = rpc_register_methods(bdev_methods);
	return rc < 0 ? rc : rpc_register_config("bdev", write_config, NULL);
}

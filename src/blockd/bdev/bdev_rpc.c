/* rpc_bdev.c — the bdev RPCs, with SPDK's names, parameters and result shapes: create/delete
 * for malloc, null, uring (and its aio alias module), delay and raid, plus bdev_get_bdevs,
 * bdev_get_iostat and bdev_raid_get_bdevs. Decoding and answers only: the policy is bdev*.c. */
#include <errno.h>
#include <string.h>

#include "bdev.h"
#include "json_util.h"
#include "bdev_rpc.h"
#include "rpc.h"

#define TICK_RATE 1000000000ULL

/* Answers a creation: the new bdev's name, or the module's errno. */
static void reply_created(struct rpc_request *req, int rc, struct bdev *b)
{
	if (rc < 0)
		return rpc_reply_errno(req, rc);
	rpc_reply(req, json_string(bdev_name(b)));
}

static void reply_deleted(struct rpc_request *req, int rc)
{
	if (rc < 0)
		return rpc_reply_errno(req, rc);
	rpc_reply(req, json_true());
}

/* ---------------------------------------------------------------- malloc, null */

/* bdev_malloc_create and bdev_null_create take the same parameters; null requires a name
 * (SPDK's spelling). */
static void memory_bdev_create(struct rpc_request *req, const json_t *params, bool null)
{
	const char *name = NULL, *uuid = NULL;
	uint64_t num_blocks = 0;
	uint32_t block_size = 0;
	struct jparam spec[] = {
		{ "name", JP_STRING, null, &name, NULL },
		{ "num_blocks", JP_UINT64, true, &num_blocks, NULL },
		{ "block_size", JP_UINT32, true, &block_size, NULL },
		{ "uuid", JP_STRING, false, &uuid, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	struct bdev *b = NULL;
	int rc = null ? bdev_null_create(name, num_blocks, block_size, uuid, &b)
		      : bdev_malloc_create(name, num_blocks, block_size, uuid, &b);
	reply_created(req, rc, b);
}

static void rpc_bdev_malloc_create(struct rpc_request *req, const json_t *params)
{
	memory_bdev_create(req, params, false);
}

static void rpc_bdev_null_create(struct rpc_request *req, const json_t *params)
{
	memory_bdev_create(req, params, true);
}

/* bdev_malloc_delete, bdev_null_delete, bdev_uring_delete, ...: {"name": ...} */
static void delete_of_module(struct rpc_request *req, const json_t *params, const char *module)
{
	const char *name = NULL;
	struct jparam spec[] = {
		{ "name", JP_STRING, true, &name, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	reply_deleted(req, bdev_delete(name, module));
}

static void rpc_bdev_malloc_delete(struct rpc_request *req, const json_t *params)
{
	delete_of_module(req, params, "malloc");
}

static void rpc_bdev_null_delete(struct rpc_request *req, const json_t *params)
{
	delete_of_module(req, params, "null");
}

/* ---------------------------------------------------------------- uring, aio */

/* bdev_uring_create and SPDK's bdev_aio_create make the same file bdev; aio also takes
 * readonly and fallocate (accepted for SPDK users' scripts; files are never preallocated). */
static void file_bdev_create(struct rpc_request *req, const json_t *params, bool aio)
{
	const char *name = NULL, *filename = NULL, *uuid = NULL;
	uint32_t block_size = 0;
	bool readonly = false, fallocate = false;
	struct jparam spec[] = {
		{ "name", JP_STRING, true, &name, NULL },
		{ "filename", JP_STRING, true, &filename, NULL },
		{ "block_size", JP_UINT32, false, &block_size, NULL },
		{ "uuid", JP_STRING, false, &uuid, NULL },
		{ "readonly", JP_BOOL, false, &readonly, NULL },     /* aio only, from here */
		{ "fallocate", JP_BOOL, false, &fallocate, NULL },
	};
	char err[160];
	if (json_decode_params(params, spec, aio ? 6 : 4, err, sizeof(err)) < 0)
		return rpc_reply_invalid_params(req, err);
	struct bdev *b = NULL;
	int rc = bdev_uring_create(name, filename, block_size, readonly, uuid,
				   aio ? "aio" : "uring", &b);
	reply_created(req, rc, b);
}

static void rpc_bdev_uring_create(struct rpc_request *req, const json_t *params)
{
	file_bdev_create(req, params, false);
}

static void rpc_bdev_uring_delete(struct rpc_request *req, const json_t *params)
{
	delete_of_module(req, params, "uring");
}

static void rpc_bdev_aio_create(struct rpc_request *req, const json_t *params)
{
	file_bdev_create(req, params, true);
}

static void rpc_bdev_aio_delete(struct rpc_request *req, const json_t *params)
{
	delete_of_module(req, params, "aio");
}

/* ---------------------------------------------------------------- delay */

static void rpc_bdev_delay_create(struct rpc_request *req, const json_t *params)
{
	const char *name = NULL, *base = NULL, *uuid = NULL;
	uint64_t avg_read = 0, p99_read = 0, avg_write = 0, p99_write = 0;
	struct jparam spec[] = {
		{ "base_bdev_name", JP_STRING, true, &base, NULL },
		{ "name", JP_STRING, true, &name, NULL },
		{ "avg_read_latency", JP_UINT64, true, &avg_read, NULL },
		{ "p99_read_latency", JP_UINT64, true, &p99_read, NULL },
		{ "avg_write_latency", JP_UINT64, true, &avg_write, NULL },
		{ "p99_write_latency", JP_UINT64, true, &p99_write, NULL },
		{ "uuid", JP_STRING, false, &uuid, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	struct bdev *b = NULL;
	int rc = bdev_delay_create(name, base, avg_read, p99_read, avg_write,
					     p99_write, uuid, &b);
	reply_created(req, rc, b);
}

static void rpc_bdev_delay_delete(struct rpc_request *req, const json_t *params)
{
	delete_of_module(req, params, "delay");
}

static void rpc_bdev_delay_update_latency(struct rpc_request *req, const json_t *params)
{
	const char *name = NULL, *type = NULL;
	uint64_t latency_us = 0;
	struct jparam spec[] = {
		{ "delay_bdev_name", JP_STRING, true, &name, NULL },
		{ "latency_type", JP_STRING, true, &type, NULL },
		{ "latency_us", JP_UINT64, true, &latency_us, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	if (strcmp(type, "avg_read") && strcmp(type, "p99_read") && strcmp(type, "avg_write") &&
	    strcmp(type, "p99_write"))
		return rpc_reply_invalid_params(
			req, "latency_type must be avg_read, p99_read, avg_write or p99_write");
	reply_deleted(req, bdev_delay_update_latency(name, type, latency_us));
}

/* ---------------------------------------------------------------- raid */

static int parse_raid_level(const char *s, enum raid_level *out)
{
	if (!strcmp(s, "raid0") || !strcmp(s, "0"))
		*out = RAID0;
	else if (!strcmp(s, "raid1") || !strcmp(s, "1"))
		*out = RAID1;
	else if (!strcmp(s, "concat"))
		*out = RAID_CONCAT;
	else
		return -EINVAL;
	return 0;
}

static void rpc_bdev_raid_create(struct rpc_request *req, const json_t *params)
{
	const char *name = NULL, *level = NULL, *uuid = NULL;
	const char *bases[BDEV_RAID_MAX_BASES];
	struct jstring_array base_list = { bases, BDEV_RAID_MAX_BASES, 0 };
	uint32_t strip_size_kb = 0;
	bool superblock = false;
	struct jparam spec[] = {
		{ "name", JP_STRING, true, &name, NULL },
		{ "raid_level", JP_STRING, true, &level, NULL },
		{ "base_bdevs", JP_STRING_ARRAY, true, &base_list, NULL },
		{ "strip_size_kb", JP_UINT32, false, &strip_size_kb, NULL },
		{ "uuid", JP_STRING, false, &uuid, NULL },
		{ "superblock", JP_BOOL, false, &superblock, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	enum raid_level lvl;
	if (parse_raid_level(level, &lvl) < 0)
		return rpc_reply_invalid_params(req, "raid_level must be raid0, raid1 or concat");
	if (superblock)
		return rpc_reply_errno(req, -EOPNOTSUPP);
	struct bdev *b = NULL;
	int rc = bdev_raid_create(name, lvl, strip_size_kb, bases, (unsigned)base_list.count,
				  uuid, &b);
	if (rc < 0)
		return rpc_reply_errno(req, rc);
	rpc_reply(req, json_true());
}

static void rpc_bdev_raid_delete(struct rpc_request *req, const json_t *params)
{
	delete_of_module(req, params, "raid");
}

struct raid_filter {
	const char *category;
	json_t *out;
};

static int add_raid(struct bdev *b, void *arg)
{
	struct raid_filter *f = arg;
	json_t *info = bdev_raid_info_json(b);
	if (!info)
		return 0;
	if (strcmp(f->category, "all") == 0 || strcmp(f->category, bdev_raid_state(b)) == 0)
		json_array_append_new(f->out, info);
	else
		json_decref(info);
	return 0;
}

static void rpc_bdev_raid_get_bdevs(struct rpc_request *req, const json_t *params)
{
	const char *category = NULL;
	struct jparam spec[] = {
		{ "category", JP_STRING, true, &category, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	if (strcmp(category, "all") && strcmp(category, "online") &&
	    strcmp(category, "configuring") && strcmp(category, "offline"))
		return rpc_reply_invalid_params(
			req, "category must be all, online, configuring or offline");
	struct raid_filter f = { category, json_array() };
	bdev_foreach(add_raid, &f);
	rpc_reply(req, f.out);
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
	uint32_t timeout = 0;
	struct jparam spec[] = {
		{ "name", JP_STRING, false, &name, NULL },
		{ "timeout", JP_UINT32, false, &timeout, NULL },
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

static void rpc_bdev_get_iostat(struct rpc_request *req, const json_t *params)
{
	const char *name = NULL;
	bool per_channel = false;
	struct jparam spec[] = {
		{ "name", JP_STRING, false, &name, NULL },
		{ "per_channel", JP_BOOL, false, &per_channel, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	if (per_channel)
		return rpc_reply_errno(req, -EOPNOTSUPP);
	json_t *list = json_array();
	if (name) {
		struct bdev *b = bdev_find(name);
		if (!b) {
			json_decref(list);
			return rpc_reply_errno(req, -ENODEV);
		}
		add_iostat(b, list);
	} else {
		bdev_foreach(add_iostat, list);
	}
	rpc_reply(req, json_pack("{s:I, s:I, s:o}", "tick_rate", (json_int_t)TICK_RATE,
				 "ticks", (json_int_t)monotonic_ns(), "bdevs", list));
}

static const struct rpc_method bdev_methods[] = {
	{ "bdev_get_bdevs", rpc_bdev_get_bdevs, 0 },
	{ "bdev_get_iostat", rpc_bdev_get_iostat, 0 },
	{ "bdev_malloc_create", rpc_bdev_malloc_create, RPC_MUTATES },
	{ "bdev_malloc_delete", rpc_bdev_malloc_delete, RPC_MUTATES },
	{ "bdev_null_create", rpc_bdev_null_create, RPC_MUTATES },
	{ "bdev_null_delete", rpc_bdev_null_delete, RPC_MUTATES },
	{ "bdev_uring_create", rpc_bdev_uring_create, RPC_MUTATES },
	{ "bdev_uring_delete", rpc_bdev_uring_delete, RPC_MUTATES },
	{ "bdev_aio_create", rpc_bdev_aio_create, RPC_MUTATES },
	{ "bdev_aio_delete", rpc_bdev_aio_delete, RPC_MUTATES },
	{ "bdev_delay_create", rpc_bdev_delay_create, RPC_MUTATES },
	{ "bdev_delay_delete", rpc_bdev_delay_delete, RPC_MUTATES },
	{ "bdev_delay_update_latency", rpc_bdev_delay_update_latency, RPC_MUTATES },
	{ "bdev_raid_create", rpc_bdev_raid_create, RPC_MUTATES },
	{ "bdev_raid_delete", rpc_bdev_raid_delete, RPC_MUTATES },
	{ "bdev_raid_get_bdevs", rpc_bdev_raid_get_bdevs, 0 },
	{ NULL, NULL, 0 },
};

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

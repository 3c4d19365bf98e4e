/* bdev_null.c — the null bdev: every IO succeeds without touching data (reads leave the
 * buffer as it is). It measures the data path alone. */
#include <errno.h>
#include <stdlib.h>

#include "bdev_module.h"
#include "bdev_rpc.h"
#include "bdev_null.h"
#include "rpc.h"

struct null_bdev {
	struct bdev bdev;
};

static unsigned g_null_counter;

static void null_submit(struct bdev_io *io)
{
	bdev_io_complete(io, 0);
}

static void null_destruct(struct bdev *b)
{
	free((struct null_bdev *)(void *)b);
}

static json_t *null_config_json(const struct bdev *b)
{
	return bdev_config_wrap("bdev_null_create",
				json_pack("{s:s, s:I, s:i, s:s}", "name", b->name,
					  "num_blocks", (json_int_t)b->num_blocks,
					  "block_size", (int)b->block_size, "uuid", b->uuid));
}

/* ---- RPC methods (SPDK requires a name for a null bdev) */

static void rpc_bdev_null_create(struct rpc_request *req, const json_t *params)
{
	bdev_rpc_create_sized(req, params, true, bdev_null_create);
}

static void rpc_bdev_null_delete(struct rpc_request *req, const json_t *params)
{
	bdev_rpc_delete(req, params, "null");
}

/* SPDK's create parameters a null bdev without metadata or protection information, which
 * advertises no preferred or optimal IO sizes, honours only at their default. */
static const struct rpc_spdk_param null_create_spdk_params[] = {
	{ "physical_block_size", JP_UINT32, "0", "block_size" },
	{ "md_size", JP_UINT32, "0", NULL },
	{ "dif_type", JP_INT32, "0", NULL },
	{ "dif_pi_format", JP_UINT32, "0", NULL },
	{ "dif_is_head_of_md", JP_BOOL, "false", NULL },
	{ "preferred_write_granularity", JP_UINT32, "0", NULL },
	{ "preferred_write_alignment", JP_UINT32, "0", NULL },
	{ "optimal_write_size", JP_UINT32, "0", NULL },
	{ "preferred_unmap_granularity", JP_UINT32, "0", NULL },
	{ "preferred_unmap_alignment", JP_UINT32, "0", NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct rpc_method null_rpc_methods[] = {
	{ "bdev_null_create", rpc_bdev_null_create, RPC_MUTATES, bdev_rpc_undo_create,
	  null_create_spdk_params },
	{ "bdev_null_delete", rpc_bdev_null_delete, RPC_MUTATES | RPC_DELETES, NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL },
};

const struct bdev_module bdev_null_module = {
	.rpc_methods = null_rpc_methods,
	.name = "null",
	.product_name = "Null disk",
	.submit = null_submit,
	.destruct = null_destruct,
	.config_json = null_config_json,
};

int bdev_null_create(const char *name, uint64_t num_blocks, uint32_t block_size,
		     const char *uuid, struct bdev **out)
{
	int rc = bdev_check_geometry(block_size, num_blocks);
	if (rc < 0)
		return rc;
	char bname[BDEV_NAME_MAX + 1];
	rc = bdev_pick_name(name, "Null", &g_null_counter, bname);
	if (rc < 0)
		return rc;
	struct null_bdev *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	rc = bdev_setup(&n->bdev, &bdev_null_module, bname, block_size, num_blocks,
			(1u << BDEV_IO_TYPE_COUNT) - 1, uuid);
	if (rc == 0)
		rc = bdev_register(&n->bdev);
	if (rc < 0) {
		free(n);
		return rc;
	}
	if (out)
		*out = &n->bdev;
	return 0;
}

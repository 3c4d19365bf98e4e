/* vhost_blk_rpc.c — the vhost RPCs with SPDK's names and shapes: vhost_create_blk_controller
 * (SPDK's packed_ring and transport at their default only), vhost_delete_controller (plus
 * blockd's force) and vhost_get_controllers, and the vhost_blk
 * subsystem of save_config. Decoding and answers only: the policy is in vhost_blk.c. */
#include <errno.h>

#include "rpc.h"
#include "vhost_blk.h"
#include "vhost_blk_rpc.h"

static void rpc_vhost_create_blk_controller(struct rpc_request *req, const json_t *params)
{
	const char *ctrlr = NULL, *dev_name = NULL, *cpumask = NULL;
	bool readonly = false;
	struct jparam spec[] = {
		{ "ctrlr", JP_STRING, true, &ctrlr, NULL },
		{ "dev_name", JP_STRING, true, &dev_name, NULL },
		{ "readonly", JP_BOOL, false, &readonly, NULL },
		{ "cpumask", JP_STRING, false, &cpumask, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	int rc = vhost_blk_create(ctrlr, dev_name, readonly, cpumask);
	if (rc < 0)
		return rpc_reply_errno(req, rc);
	rpc_reply(req, json_true());
}

static void rpc_vhost_delete_controller(struct rpc_request *req, const json_t *params)
{
	const char *ctrlr = NULL;
	bool force = false;
	struct jparam spec[] = {
		{ "ctrlr", JP_STRING, true, &ctrlr, NULL },
		{ "force", JP_BOOL, false, &force, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	int rc = vhost_blk_delete(ctrlr, force);
	if (rc < 0)
		return rpc_reply_errno(req, rc);
	rpc_reply(req, json_true());
}

static void add_info(struct vhost_blk_ctrlr *c, void *arg)
{
	json_t *info = vhost_blk_info_json(c);
	if (info)
		json_array_append_new(arg, info);
}

static void rpc_vhost_get_controllers(struct rpc_request *req, const json_t *params)
{
	const char *name = NULL;
	struct jparam spec[] = {
		{ "name", JP_STRING, false, &name, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	json_t *list = json_array();
	if (name) {
		struct vhost_blk_ctrlr *c = vhost_blk_find(name);
		if (!c) {
			json_decref(list);
			return rpc_reply_errno(req, -ENODEV);
		}
		add_info(c, list);
	} else {
		vhost_blk_foreach(add_info, list);
	}
	rpc_reply(req, list);
}

/* The undo of a create: the controller goes (no front-end can be attached yet). */
static void undo_create(const json_t *params, const json_t *result, const json_t *before)
{
	const char *ctrlr = json_string_value(json_object_get(params, "ctrlr"));
	if (ctrlr)
		vhost_blk_delete(ctrlr, true);
}

/* A controller is a vhost-user-blk socket with split rings. */
static const struct rpc_spdk_param create_spdk_params[] = {
	{ "packed_ring", JP_BOOL, "false", NULL },
	{ "transport", JP_STRING, "\"vhost_user_blk\"", NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct rpc_method vhost_methods[] = {
	{ "vhost_create_blk_controller", rpc_vhost_create_blk_controller, RPC_MUTATES,
	  undo_create, create_spdk_params },
	{ "vhost_delete_controller", rpc_vhost_delete_controller, RPC_MUTATES | RPC_DELETES, NULL,
	  NULL },
	{ "vhost_get_controllers", rpc_vhost_get_controllers, 0, NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL },
};

static void add_config(struct vhost_blk_ctrlr *c, void *arg)
{
	json_t *entry = vhost_blk_config_json(c);
	if (entry)
		json_array_append_new(arg, entry);
}

static void write_config(json_t *config, void *arg)
{
	vhost_blk_foreach(add_config, config);
}

int vhost_blk_rpc_register(void)
{
	int rc = rpc_register_methods(vhost_methods);
	return rc < 0 ? rc : rpc_register_config("vhost_blk", write_config, NULL);
}

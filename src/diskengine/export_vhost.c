/* export_vhost.c — the vhost-user-blk export driver (export_driver.h): a controller
 * "vm<id>" on "raid_vol<vol>", its socket in the target's vhost directory. Listing uses
 * vhost_get_controllers only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_driver.h"
#include "target.h"

static int vhost_list(struct target *t, struct actual_export **out, size_t *n)
{
	json_t *res = NULL;
	int rc = target_call(t, "vhost_get_controllers", NULL, &res);
	if (rc < 0)
		return rc;
	size_t count = json_is_array(res) ? json_array_size(res) : 0;
	*out = calloc(count ? count : 1, sizeof(**out));
	*n = 0;
	if (!*out) {
		json_decref(res);
		return -ENOMEM;
	}
	size_t i;
	json_t *c;
	json_array_foreach(res, i, c) {
		unsigned vm, vol = 0;
		if (!target_parse_id(json_string_value(json_object_get(c, "ctrlr")), "vm", &vm))
			continue;
		json_t *block = json_object_get(json_object_get(c, "backend_specific"), "block");
		target_parse_id(json_string_value(json_object_get(block, "bdev")), "raid_vol", &vol);
		json_t *sessions = json_object_get(c, "sessions");
		(*out)[(*n)++] = (struct actual_export){
			.vm = vm, .vol = vol,
			.connected = json_is_array(sessions) && json_array_size(sessions) > 0,
		};
	}
	json_decref(res);
	return 0;
}

static int vhost_create(struct target *t, unsigned vm, unsigned vol)
{
	char ctrlr[32], bdev[32];
	snprintf(ctrlr, sizeof(ctrlr), "vm%u", vm);
	snprintf(bdev, sizeof(bdev), "raid_vol%u", vol);
	int rc = target_call(t, "vhost_create_blk_controller",
			     json_pack("{s:s, s:s}", "ctrlr", ctrlr, "dev_name", bdev), NULL);
	return rc == -EEXIST ? 0 : rc;
}

static int vhost_remove(struct target *t, unsigned vm)
{
	char ctrlr[32];
	snprintf(ctrlr, sizeof(ctrlr), "vm%u", vm);
	int rc = target_call(t, "vhost_delete_controller", json_pack("{s:s}", "ctrlr", ctrlr),
			     NULL);
	return rc == -ENODEV ? 0 : rc;
}

static void vhost_address(const struct target *t, unsigned vm, char *out, size_t len)
{
	paths_export_socket(out, len, t->cfg->target.vhost_dir, vm);
}

const struct export_driver export_vhost_blk = {
	.kind = "vhost-blk",
	.list = vhost_list,
	.create = vhost_create,
	.remove = vhost_remove,
	.address = vhost_address,
};

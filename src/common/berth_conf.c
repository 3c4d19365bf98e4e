/* berth_conf.c — the shared [berth] configuration section (see berth_conf.h). */
#include "berth_conf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "paths.h"

static bool valid_host(const char *v)
{
	if (!*v || strlen(v) >= 64)
		return false;
	for (; *v; v++)
		if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
		      (*v >= '0' && *v <= '9') || *v == '-' || *v == '.' || *v == '_'))
			return false;
	return true;
}

static int set_key(void *obj, const char *key, const char *v)
{
	struct berth_conf *c = obj;
	if (!strcmp(key, "store"))
		return conf_copy_string(c->store, sizeof(c->store), v);
	if (!strcmp(key, "store_timeout"))
		return conf_parse_seconds(v, 0.1, 3600, &c->store_timeout_ms);
	if (!strcmp(key, "host"))
		return valid_host(v) ? conf_copy_string(c->host, sizeof(c->host), v) : -EINVAL;
	if (!strcmp(key, "guest_kernel"))
		return v[0] == '/' ? conf_copy_string(c->guest_kernel, sizeof(c->guest_kernel), v)
				   : -EINVAL;
	if (!strcmp(key, "guest_initrd"))
		return v[0] == '/' ? conf_copy_string(c->guest_initrd, sizeof(c->guest_initrd), v)
				   : -EINVAL;
	return -ENOENT;
}

int berth_conf_load(struct berth_conf *c, const char *root, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	if (conf_copy_string(c->root, sizeof(c->root), root) < 0) {
		snprintf(err, errlen, "root path too long");
		return -EINVAL;
	}
	paths_store(c->store, sizeof(c->store), root);
	c->store_timeout_ms = 10000;
	if (gethostname(c->host, sizeof(c->host)) < 0 || !valid_host(c->host))
		snprintf(c->host, sizeof(c->host), "localhost");
	char path[BERTH_PATH_LEN];
	paths_conf(path, sizeof(path), root);
	return conf_load_section(path, "berth", set_key, c, err, errlen);
}

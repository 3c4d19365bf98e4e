/* berth_conf.c — the shared [berth] configuration section (see berth_conf.h). */
#include "berth_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

/* A whole decimal number in 1..max. */
static int parse_count(const char *v, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || v[0] == '+' || n == 0 || n > max)
		return -EINVAL;
	*out = n;
	return 0;
}

static int set_key(void *obj, const char *key, const char *v)
{
	struct berth_conf *c = obj;
	if (!strcmp(key, "store"))
		return conf_copy_string(c->store, sizeof(c->store), v);
	if (!strcmp(key, "store_timeout"))
		return conf_parse_seconds(v, 0.1, 3600, &c->store_timeout_ms);
	if (!strcmp(key, "host_vcpus")) {
		uint64_t n;
		if (parse_count(v, 65536, &n) < 0)
			return -EINVAL;
		c->host_vcpus = (unsigned)n;
		return 0;
	}
	if (!strcmp(key, "host_memory_mb"))
		return parse_count(v, UINT64_C(1) << 40, &c->host_memory_mb);
	if (!strcmp(key, "host_down_after"))
		return conf_parse_seconds(v, 10, 86400, &c->host_down_after_ms);
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
	long cpus = sysconf(_SC_NPROCESSORS_ONLN), pages = sysconf(_SC_PHYS_PAGES),
	     page = sysconf(_SC_PAGESIZE);
	/* vCPUs are time-shared: by default a host offers 16 per online CPU (placement counts
	 * against it; memory is not overcommitted) */
	c->host_vcpus = cpus > 0 ? (unsigned)cpus * HOST_VCPUS_PER_CPU : HOST_VCPUS_PER_CPU;
	c->host_memory_mb = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page >> 20 : 1;
	c->host_down_after_ms = 30000;
	if (gethostname(c->host, sizeof(c->host)) < 0 || !valid_host(c->host))
		snprintf(c->host, sizeof(c->host), "localhost");
	char path[BERTH_PATH_LEN];
	paths_conf(path, sizeof(path), root);
	return conf_load_section(path, "berth", set_key, c, err, errlen);
}

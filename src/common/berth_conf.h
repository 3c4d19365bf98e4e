/* berth_conf.h — the [berth] section of <root>/berth.conf, shared by every daemon and the
 * CLI: where the store is, this host's name, and the guest image VMs boot by default. */
#ifndef BERTH_BERTH_CONF_H
#define BERTH_BERTH_CONF_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOST_VCPUS_PER_CPU 16          /* host_vcpus's default, per online CPU */

struct berth_conf {
	char root[PATH_MAX];
	char store[PATH_MAX + 16];      /* store = <root>/store.db (an SQLite file), or a
					 * PostgreSQL URI / conninfo (docs/fleet.md) */
	uint64_t store_timeout_ms;      /* store_timeout = 10: a networked store call's deadline */
	char host[64];                  /* host = this machine's hostname */
	unsigned host_vcpus;            /* host_vcpus = 16 x online CPUs: the capacity it registers */
	uint64_t host_memory_mb;        /* host_memory_mb = physical memory, MiB */
	uint64_t host_down_after_ms;    /* host_down_after = 30: no heartbeat for this long: DOWN */
	char guest_kernel[PATH_MAX];    /* guest_kernel = (none): the image `berth vm create` */
	char guest_initrd[PATH_MAX];    /* guest_initrd = (none)   boots unless told otherwise */
};

/* Defaults, then the [berth] section of <root>/berth.conf. 0 or -errno with err set. */
int berth_conf_load(struct berth_conf *c, const char *root, char *err, size_t errlen);

#endif

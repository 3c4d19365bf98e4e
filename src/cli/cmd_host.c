/* cmd_host.c — `berth host list [--json]`: the fleet's hosts as the store has them (each
 * host's vmengine registers it with its capacity and sends a heartbeat, desired_vms.h), what
 * their live VMs take, and UP or DOWN: DOWN when the last heartbeat is older than
 * [berth] host_down_after (default 30 s), or the host never registered its capacity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clock.h"

static const char *host_status(const struct cli *c, const struct store_host *h, int64_t now)
{
	if (!h->vcpus)
		return "UNREGISTERED";
	return now - h->seen_ms > (int64_t)c->conf.host_down_after_ms ? "DOWN" : "UP";
}

int cmd_host(struct cli *c, int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[1], "list"))
		return cli_usage("berth host list [--json]");
	struct store *s = cli_store(c);
	if (!s)
		return 1;
	struct store_host *hosts;
	size_t n;
	if (store_host_list(s, &hosts, &n) < 0)
		return cli_fail("%s", store_error(s));
	int64_t now = wall_ms();
	if (c->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			const struct store_host *h = &hosts[i];
			json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, "
							     "s:I, s:I}",
				"name", h->name, "status", host_status(c, h, now),
				"vcpus", (json_int_t)h->vcpus, "memory_mb", (json_int_t)h->memory_mb,
				"vms", (json_int_t)h->vms, "used_vcpus", (json_int_t)h->used_vcpus,
				"used_memory_mb", (json_int_t)h->used_memory_mb,
				"registered_ms", (json_int_t)h->registered_ms,
				"seen_ms", (json_int_t)h->seen_ms,
				"seen_age_ms", (json_int_t)(now - h->seen_ms)));
		}
		cli_print_json(arr);
		free(hosts);
		return 0;
	}
	static const char *const cols[] = { "NAME", "STATUS", "VMS", "VCPUS", "MEMORY",
					    "HEARTBEAT" };
	struct table *t = table_new(cols, 6);
	for (size_t i = 0; i < n; i++) {
		const struct store_host *h = &hosts[i];
		char vms[16], cpus[32], mem[64], seen[32];
		snprintf(vms, sizeof(vms), "%u", h->vms);
		snprintf(cpus, sizeof(cpus), "%u/%u", h->used_vcpus, h->vcpus);
		snprintf(mem, sizeof(mem), "%llu/%llu MiB", (unsigned long long)h->used_memory_mb,
			 (unsigned long long)h->memory_mb);
		cli_age(h->seen_ms, seen, sizeof(seen));
		strncat(seen, " ago", sizeof(seen) - strlen(seen) - 1);
		table_row(t, h->name, host_status(c, h, now), vms, cpus, mem, seen);
	}
	table_print(t);
	table_free(t);
	free(hosts);
	return 0;
}

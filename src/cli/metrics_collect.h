/* metrics_collect.h — what the metrics endpoint exports (docs/metrics.md), collected at
 * each scrape from where each part of Berth keeps it: the store (VMs by state and host),
 * run/supervisor.json (daemons up, restarts), vmengine's and diskengine's status files
 * (their counters), and blockd's read-only RPCs (metrics_target.h). One deadline for the
 * whole collection: a source that does not answer in time is exported as
 * berth_probe_up{source="..."} 0 and its series are left out; nothing waits past it.
 * Formatting is metrics_text.h's; serving it metrics_http.h's. One caller at a time. */
#ifndef BERTH_METRICS_COLLECT_H
#define BERTH_METRICS_COLLECT_H

#include <stddef.h>

struct metrics_collector;

/* root's sources: the store at store_url, this host's name (host), blockd at rpc_socket;
 * deadline_ms bounds each collection. */
struct metrics_collector *metrics_collector_new(const char *root, const char *store_url,
						const char *host, const char *rpc_socket,
						int deadline_ms);
void metrics_collector_free(struct metrics_collector *mc);

/* The exposition, malloc'd and NUL-terminated (*len without the NUL); NULL when out of
 * memory. */
char *metrics_collect(struct metrics_collector *mc, size_t *len);

#endif

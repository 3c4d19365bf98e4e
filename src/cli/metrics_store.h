/* metrics_store.h — the metrics endpoint's probe of the store: how many VMs are in each
 * state on each host. The query runs on a thread of its own with its own connection, so a
 * store that stays locked (SQLite's busy timeout is 5 s) costs a scrape no more than the
 * deadline it gives: the probe then reports a timeout, and the query still running is the
 * one the next scrape waits for (never two at once). The store is opened as the daemons do
 * (STORE_ROOT_OPEN): never created. */
#ifndef BERTH_METRICS_STORE_H
#define BERTH_METRICS_STORE_H

#include <stddef.h>

struct vm_count {
	char host[64];
	char state[16];
	unsigned count;
};

struct metrics_store;

struct metrics_store *metrics_store_new(const char *root, const char *store_url);
/* Leaves a query still running to finish on its own (its thread is detached). */
void metrics_store_free(struct metrics_store *m);

/* VM counts by host and state (every VM the store holds, terminated ones included), in
 * *out (malloc'd, *n entries). 0, -ETIMEDOUT (not done within timeout_ms), or -errno with
 * a one-line reason in err. */
int metrics_store_vm_counts(struct metrics_store *m, int timeout_ms, struct vm_count **out,
			    size_t *n, char *err, size_t errlen);

#endif

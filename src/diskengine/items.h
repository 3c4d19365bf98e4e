/* items.h — what a loop knows of each of its items: one per volume, plus the pseudo item
 * "target" (the loop's listing of the target). An item has at most one attempt in flight
 * (workers.h), is retried with capped exponential backoff after a failure, and this file
 * owns wedges: an item that has made no progress for wedge_after, counted from the start
 * of its first failing attempt (or of the attempt still in flight), is raised as a wedge
 * (event "wedge") — also while its call still hangs — and with wedge_action =
 * restart-target the target restart is asked for; "wedge_cleared" follows when the item
 * makes progress or is no longer wanted. Only the loop's own thread touches its items. */
#ifndef DISKENGINE_ITEMS_H
#define DISKENGINE_ITEMS_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "backoff.h"
#include "config.h"
#include "desired_volumes.h"
#include "plan.h"

struct item {
	unsigned vol, vm;
	enum action_kind action;        /* of the attempt in flight, or the last failed */
	struct backoff retry;
	int64_t attempt_ms;             /* wall clock: start of the attempt in flight */
	int64_t failing_since_ms;       /* wall clock: start of the first failing attempt
					 * since the last progress; 0 when not failing */
	bool busy;                      /* an attempt is in flight */
	bool wedged, seen;
	char rpc[48], error[PATH_MAX + 768];
};

struct item_set {
	const struct diskengine_config *cfg;
	const char *loop;               /* "attach" or "detach" */
	struct desired_volumes *desired;   /* for the store's events; may have no event() */
	struct item *items;
	size_t n, cap;
	struct item target;             /* the pseudo item "target" (vol 0) */
	/* For the metrics endpoint (docs/metrics.md), in the loop's status file and carried
	 * over diskengine's restarts (items_counters_restore): wedges raised, and failed
	 * target calls by method ({"bdev_raid_create": 3, ...}). */
	uint64_t wedges;
	json_t *rpc_failures;
};

/* An event for operators: events.jsonl + log, and the store's events table. */
void items_emit(struct item_set *s, const char *level, const char *kind, unsigned vm,
		json_t *fields);

/* vol's item, created when missing (NULL when out of memory). */
struct item *items_get(struct item_set *s, unsigned vol);
struct item *items_find(struct item_set *s, unsigned vol);
/* After a pass: items neither seen by it nor in flight are resolved and forgotten (a wedged
 * one is cleared); the others' seen flags are reset. */
void items_sweep(struct item_set *s);
void items_free(struct item_set *s);
/* {"wedges": n, "rpc_failures": {method: n}} (a new reference). */
json_t *items_counters_json(const struct item_set *s);
/* A call to the target failed (counted by method; the loop's own verdicts, the gate, are
 * not calls). */
void items_rpc_failed(struct item_set *s, const char *rpc);
/* Goes on from what items_counters_json gave before (NULL or malformed parts ignored). */
void items_counters_restore(struct item_set *s, const json_t *saved);

/* An attempt of action (for vm) starts now. */
void item_started(struct item *it, enum action_kind action, unsigned vm);
/* The attempt made progress: the item's failures, backoff and wedge are over. */
void item_progressed(struct item_set *s, struct item *it);
/* The attempt ended without a verdict (the target went away under the listing). */
void item_ended(struct item *it);
/* The attempt failed with rc in rpc (error: why; NULL: strerror). Backs the item off,
 * logs and raises the wedge when it is due. Returns the backoff delay. */
int64_t item_failed(struct item_set *s, struct item *it, int rc, const char *rpc,
		    const char *error);
/* The wedge rule for the items whose attempt is still in flight (rpc: the method it waits
 * for, updated by the caller). */
void items_check_in_flight(struct item_set *s);

#endif

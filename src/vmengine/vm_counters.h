/* vm_counters.h — what vmengine counts for the metrics endpoint (docs/metrics.md): the
 * escalation steps it took, by step; how long each terminate took, from TERMINATING to
 * TERMINATED; how long each VM's vhost-user disk stayed down before it reconnected, and how
 * often it went down. Kept in <root>/vmengine/status.json ("counters", written every tick
 * and at exit) and carried over vmengine's restarts: at start the counters go on from what
 * the last status.json holds, so a restart neither resets nor repeats them (a crash loses
 * at most what one tick counted). Thread-safe: the VMs' workers count, the engine writes. */
#ifndef VMENGINE_VM_COUNTERS_H
#define VMENGINE_VM_COUNTERS_H

#include <stdint.h>
#include <jansson.h>

#include "vm_state.h"

void vm_counters_escalation(enum vm_escalation step);
/* A VM reached TERMINATED ms after it began TERMINATING. */
void vm_counters_terminated(int64_t ms);
void vm_counters_disk_disconnected(void);
/* A VM's disk came back after being down for ms. */
void vm_counters_disk_reconnected(int64_t ms);

/* {"escalations": {"powerdown": n, "quit": n, "term": n, "kill": n},
 *  "terminate_seconds": HIST, "disk_reconnect_seconds": HIST, "disk_disconnects": n}
 * where HIST is {"le": [bounds], "buckets": [per bucket, one more than le], "sum": s}. */
json_t *vm_counters_json(void);
/* Goes on from saved (what vm_counters_json gave before; NULL or malformed parts are
 * ignored, a histogram whose bounds changed starts again). */
void vm_counters_restore(const json_t *saved);
void vm_counters_reset(void);       /* tests */

#endif

/* engine.h — vmengine's table of VM workers: one per VM it knows, from the desired state
 * (desired_vms.h) and from the VMs found under <root>/vmengine/vms at start; the
 * target-restart marker taken at start; the status file written each tick. */
#ifndef VMENGINE_ENGINE_H
#define VMENGINE_ENGINE_H

#include "config.h"
#include "desired_vms.h"

struct engine;

/* cfg and desired are borrowed for the engine's life. NULL when out of memory. */
struct engine *engine_new(const struct vmengine_config *cfg, struct desired_vms *desired);
/* At start: re-adopts every VM with a local directory. When the target restarted while
 * vmengine was away (its TARGET_RESTART marker), applies target_restart_policy first —
 * restart-vms marks every active VM for relaunch in its vm.state — then consumes the marker
 * (target_restart.h). */
void engine_adopt(struct engine *e);
/* One pass: workers follow the desired state; finished VMs no longer desired are retired. */
void engine_sync(struct engine *e);
/* <root>/vmengine/status.json: every VM's state and last reconcile. */
void engine_write_status(struct engine *e);
/* Stops every worker (the VMs keep running) and frees the engine. */
void engine_free(struct engine *e);

#endif

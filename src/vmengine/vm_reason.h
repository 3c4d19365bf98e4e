/* vm_reason.h — the words vm.state records for why a VM's QEMU stopped when no SHUTDOWN event
 * said it (docs/vmengine.md, "the reason a stopped VM records"): what a run state found after
 * a reconnect means, and what the last step of a stop explains. Pure functions. */
#ifndef VMENGINE_VM_REASON_H
#define VMENGINE_VM_REASON_H

#include "qemu_monitor.h"
#include "vm_state.h"

/* The exit reason a run state left behind by an event vmengine did not see
 * ("guest-shutdown", "guest-panic", "internal-error"), or NULL. */
const char *vm_reason_of_run_state(enum qemu_run_state status);

/* Why QEMU (pid, 0 when none was known) went away after `done`, the last step vmengine took
 * in `state`: "host-qmp-quit", "killed by SIGINT" (a target restart's quit), "killed by
 * SIGTERM", "killed by SIGKILL"; "no QEMU" without a pid; "lost" when nothing vmengine did
 * explains it (a crash, a kill from outside, QEMU gone while vmengine was away). */
const char *vm_reason_of_step(enum vm_state_kind state, enum vm_escalation done, int pid);

#endif

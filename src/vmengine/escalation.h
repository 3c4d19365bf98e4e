/* escalation.h — when each step of a stop is due, and how long a QMP call may take meanwhile.
 *
 * Owner of the rule "a stop or a terminate always finishes" (bug class 2 of
 * docs/architecture.md: a VM stuck TERMINATING behind one unanswered system_powerdown). The
 * schedule counts from the persisted *_since stamp of vm.state, so it survives a vmengine
 * restart: system_powerdown at since; QMP quit after powerdown_grace; SIGTERM after quit_grace
 * more; SIGKILL after term_grace more (a target restart's RESTARTING starts at quit, which is
 * SIGINT there). A QMP call made during a stop gets a deadline that ends no later than the
 * next step, so a monitor that never answers delays nothing. Pure functions of the
 * configuration, the state and the clock: vm_worker.c takes the steps. */
#ifndef VMENGINE_ESCALATION_H
#define VMENGINE_ESCALATION_H

#include "config.h"
#include "vm_state.h"
#include <stdbool.h>
#include <stdint.h>

/* Wall-clock time at which `step` is due for a VM in `state` (STOPPING, TERMINATING or
 * RESTARTING) whose stop began at since_ms. */
int64_t escalation_step_due(const struct vmengine_config *c, enum vm_state_kind state,
			    int64_t since_ms, enum vm_escalation step);

/* The furthest step due at now_ms (ESC_NONE when none). */
enum vm_escalation escalation_due(const struct vmengine_config *c, enum vm_state_kind state,
				  int64_t since_ms, int64_t now_ms);

/* The time a QMP call may take at now_ms when `done` is the last step taken: until the next
 * step is due, at most qmp_timeout, at least floor_ms (the monitor's minimum). */
int escalation_call_budget_ms(const struct vmengine_config *c, enum vm_state_kind state,
			      int64_t since_ms, enum vm_escalation done, int64_t now_ms,
			      int floor_ms);

/* The stamp the schedule of a VM in st->state counts from: terminating_since_ms while
 * TERMINATING, stopping_since_ms while STOPPING or RESTARTING; 0 in any other state. */
int64_t escalation_since(const struct vm_state *st);

/* The step after st->escalation and when it is due (for operators: `berth vm show`).
 * false when st is not stopping or its last step (kill) is taken. */
bool escalation_next(const struct vmengine_config *c, const struct vm_state *st,
		     enum vm_escalation *next, int64_t *due_ms);

#endif

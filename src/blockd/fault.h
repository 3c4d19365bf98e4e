/* fault.h — injected RPC faults (blockd --fault-injection only): the scenario tests' way to
 * reproduce a wedged RPC (hang), a failing one (error), a slow one (delay) or a target crash. */
#ifndef BLOCKD_FAULT_H
#define BLOCKD_FAULT_H

#include <stdbool.h>
#include <stdint.h>

enum fault_action { FAULT_NONE, FAULT_HANG, FAULT_ERROR, FAULT_DELAY, FAULT_CRASH };

struct fault_hit {
	enum fault_action action;
	int error_code;
	uint32_t delay_ms;
};

/* Registers the fault RPCs and the hooks that apply faults to clients' requests. */
int fault_register(void);

void fault_set_enabled(bool enabled);
bool fault_enabled(void);
/* Is a fault armed for method? Consumes one of its count. */
bool fault_check(const char *method, struct fault_hit *hit);
void fault_clear_all(void);

#endif

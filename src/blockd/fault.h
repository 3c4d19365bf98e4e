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
/* Every fault of every kind: the RPC faults here, then each kind registered with
 * fault_on_clear (reactor spins, bdev delays, held vhost-user messages). */
void fault_clear_all(void);
/* A fault kind of its own file (fault_reactor.c, ...) asks to be cleared with the rest by
 * blockd_fault_clear without a method. Control thread; at most FAULT_CLEAR_MAX kinds. */
#define FAULT_CLEAR_MAX 8
int fault_on_clear(void (*clear)(void));

#endif

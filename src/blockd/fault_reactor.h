/* fault_reactor.h — injected reactor faults (blockd --fault-injection only): a poller that
 * burns its thread, so that `berth doctor` can be shown a runaway reactor. */
#ifndef BLOCKD_FAULT_REACTOR_H
#define BLOCKD_FAULT_REACTOR_H

struct blockd;

/* Registers blockd_fault_reactor; bd (its threads) must outlive it. 0 or -errno. */
int fault_reactor_register(struct blockd *bd);

#endif

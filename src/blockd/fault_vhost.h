/* fault_vhost.h — injected vhost-user faults (blockd --fault-injection only): a message of a
 * front-end (GET_VRING_BASE, ...) held on one controller for a while or until cleared, so
 * that a scenario can make a migration's switchover hang in the storage target. */
#ifndef BLOCKD_FAULT_VHOST_H
#define BLOCKD_FAULT_VHOST_H

/* Registers blockd_fault_vhost and the vhost sessions' hold hook. 0 or -errno. */
int fault_vhost_register(void);

#endif

/* fault_bdev.h — injected IO delays on a bdev (blockd --fault-injection only): a slow
 * backend, so that `berth doctor` can be shown a saturated bdev under an idle reactor. */
#ifndef BLOCKD_FAULT_BDEV_H
#define BLOCKD_FAULT_BDEV_H

/* Registers blockd_fault_bdev (the bdev layer's IO delay hook is installed by the first
 * fault). 0 or -errno. */
int fault_bdev_register(void);

#endif

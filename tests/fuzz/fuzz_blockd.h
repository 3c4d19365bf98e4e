/* fuzz_blockd.h — blockd in-process for the fuzz targets that drive it (persist replay,
 * vhost-user sessions): the process state blockd's main() sets up (g_blockd with one IO
 * reactor thread, the calling thread as the control reactor, every area registered, the
 * vhost dir in the scratch directory), a per-input reset back to an empty target, and a
 * guard that keeps fuzzed file names away from the host's files. */
#ifndef BERTH_FUZZ_BLOCKD_H
#define BERTH_FUZZ_BLOCKD_H

#include "blockd.h"

extern struct blockd g_blockd;

/* Once per process (later calls do nothing). */
void fuzz_blockd_setup(void);
/* Deletes every controller and bdev, waits for them to be freed, clears injected faults:
 * the next input starts from an empty target. */
void fuzz_blockd_reset(void);

#endif

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
/* Lets the IO reactor run a turn of its loop (a message there and back) and the control
 * reactor (the calling thread) handle what is pending: the harness's wait for the other
 * thread, instead of a fixed pause. Aborts after 10 s without an answer. */
void fuzz_blockd_sync(void);
/* Deletes every controller and bdev, waits for them to be freed, clears injected faults:
 * the next input starts from an empty target. */
void fuzz_blockd_reset(void);

#endif

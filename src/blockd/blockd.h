/* blockd.h — process-wide state of the storage target: its options and its reactors. */
#ifndef BLOCKD_BLOCKD_H
#define BLOCKD_BLOCKD_H

#include <stdbool.h>
#include <stdint.h>

#include "reactor.h"

#define BLOCKD_MAX_REACTORS 16

struct blockd_options {
	const char *rpc_socket;
	const char *vhost_dir;
	const char *persist_path;   /* NULL: no persistence */
	unsigned num_reactors;
	bool busy_poll;
	bool fault_injection;
};

struct blockd {
	struct blockd_options opts;
	/* The control thread's reactor ("app_thread"): RPCs, vhost-user messages, bdev
	 * registry changes. Driven by main(). */
	struct reactor *app;
	/* IO reactors: virtqueues and bdev IO. */
	struct reactor *reactors[BLOCKD_MAX_REACTORS];
	unsigned num_reactors;
	uint64_t start_ns;
};

extern struct blockd g_blockd;

#endif

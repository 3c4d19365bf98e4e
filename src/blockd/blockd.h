/* blockd.h — the storage target as a process: its options, its reactors, and the app-level
 * start-up steps (options.c, app.c). One struct blockd is owned by main() (or a test
 * harness) and handed to the areas that need it when they are registered. */
#ifndef BLOCKD_BLOCKD_H
#define BLOCKD_BLOCKD_H

#include <stdbool.h>
#include <stdint.h>

#include "reactor.h"

#define BLOCKD_MAX_REACTORS 16
/* Event mode's adaptive polling bound (--poll-max-us); QEMU's IOThreads default to 32 µs. */
#define BLOCKD_POLL_MAX_US_DEFAULT 32

struct blockd_options {
	const char *rpc_socket;
	const char *vhost_dir;
	const char *persist_path;   /* NULL: no persistence */
	unsigned num_reactors;
	unsigned rpc_idle_timeout_s;  /* RPC clients idle this long are closed */
	unsigned drain_timeout_ms;    /* a draining virtqueue's deadline (0: the default) */
	unsigned poll_max_us;         /* event mode's adaptive polling bound (0: none) */
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

/* options.c: fills o from the command line (-h and -V print and exit). 0, or -1 after
 * printing what is wrong. */
int blockd_parse_options(int argc, char **argv, struct blockd_options *o);

/* app.c: registers every area of blockd in order (the RPC methods, bdev modules, vhost,
 * fault injection and persistence hooks); bd must outlive them. 0 or -errno. */
int blockd_register(struct blockd *bd);
/* Creates dir if needed and removes the sockets a previous run left in it. 0 or -1 (logged). */
int blockd_prepare_vhost_dir(const char *dir);
/* Starts bd->opts.num_reactors IO reactors; 0 or -1 (logged). */
int blockd_start_reactors(struct blockd *bd);
void blockd_stop_reactors(struct blockd *bd);

#endif

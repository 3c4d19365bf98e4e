/* loop.h — diskengine's two reconcile loops, attach and detach, each on its own thread with
 * its own target connection (its listing), its own workers (workers.h: every other call,
 * off the loop's thread, so a hung call costs only its own item) and its own view of the
 * desired state: no lock is shared between them (one atomic stamp keeps both from asking
 * for the same target restart), so a detach wedged on a target RPC never delays an attach
 * (bug class 1 of docs/architecture.md: a storage RPC without a deadline wedged the create
 * path). Items, their backoff and their wedges: items.h. */
#ifndef DISKENGINE_LOOP_H
#define DISKENGINE_LOOP_H

#include "config.h"

enum loop_kind { LOOP_ATTACH, LOOP_DETACH };

struct loop;

/* Also registers the loop with sd_notify_watchdog (it beats once per iteration). */
struct loop *loop_start(const struct diskengine_config *cfg, enum loop_kind kind);
/* Readable (an eventfd) once the loop's first pass is done: its listing taken or failed,
 * its status file written. */
int loop_passed_fd(const struct loop *l);
/* Stops the loop (after its listing if one is under way, bounded by rpc_timeout) and its
 * idle workers; a worker's call in flight is not waited for (workers_stop). */
void loop_stop(struct loop *l);

#endif

/* loop.h — diskengine's two reconcile loops, attach and detach, each on its own thread with
 * its own target connection and its own view of the desired state: no lock is shared
 * between them (one atomic stamp keeps both from asking for the same target restart), so
 * a detach wedged on a target RPC never delays an attach (bug class 1 of
 * docs/architecture.md: a storage RPC without a deadline wedged the create path). Each
 * failing item is retried with capped exponential backoff and raised as a wedge once it has
 * failed for wedge_after. */
#ifndef DISKENGINE_LOOP_H
#define DISKENGINE_LOOP_H

#include "config.h"

enum loop_kind { LOOP_ATTACH, LOOP_DETACH };

struct loop;

struct loop *loop_start(const struct diskengine_config *cfg, enum loop_kind kind);
/* Asks the loop to stop after its current call (bounded by rpc_timeout) and joins it. */
void loop_stop(struct loop *l);

#endif

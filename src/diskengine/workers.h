/* workers.h — a loop's calls to the target, off the loop's thread: a small pool of
 * max_calls_in_flight workers, each a thread with its own target connection (every call
 * with rpc_timeout). A call that hangs holds its worker and its item until its deadline —
 * never the loop, another item or the other loop (each loop has its own pool; nothing is
 * shared between the pools). The loop hands a job (one item's actions, run in order up to
 * the first failure) to an idle worker and collects it once finished; it never waits for
 * a call. The loop keeps one job per item at most (items.h). */
#ifndef DISKENGINE_WORKERS_H
#define DISKENGINE_WORKERS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "plan.h"
#include "volume_spec.h"

#define JOB_MAX_ACTIONS 4

struct job {
	struct action acts[JOB_MAX_ACTIONS];   /* all of one volume (acts[0].vol) */
	size_t n;
	struct volume_spec spec;     /* the volume, for ACT_CREATE_VOLUME */
	/* The outcome: */
	size_t done;                 /* how many actions succeeded, in order */
	int rc;                      /* of acts[done] when done < n; else 0 */
	char rpc[48];                /* the call that failed */
	char error[PATH_MAX + 768];
	char address[PATH_MAX + 32]; /* of the export created (ACT_CREATE_EXPORT) */
};

struct workers;

/* n workers for the loop named loop (threads started). NULL on failure. */
struct workers *workers_start(const struct diskengine_config *cfg, const char *loop,
			      size_t n);
/* Readable when a job has finished. */
int workers_done_fd(const struct workers *w);
/* Hands job to an idle worker: false when every worker is busy. */
bool workers_submit(struct workers *w, const struct job *job);
/* Moves up to max finished jobs to out; drains the done fd. */
size_t workers_collect(struct workers *w, struct job *out, size_t max);
/* The method the call in flight for vol waits for, into rpc; false: none in flight. */
bool workers_calling(struct workers *w, unsigned vol, char *rpc, size_t len);
/* What kind of export the workers create (export_driver.h). */
const char *workers_export_kind(const struct workers *w);
/* Stops the idle workers and joins them; a worker still in a call is not waited for: it
 * is left to its deadline (or the process's exit) and the pool is not freed. */
void workers_stop(struct workers *w);

#endif

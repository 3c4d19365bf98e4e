/* migration.h — a VM's live migration, the policy of both sides (docs/vmengine.md, Live
 * migration): the source's state machine (preparing, transferring, switchover, completing,
 * failing) with the watchdog that fails a migration that stopped moving, ran too long or
 * hangs at switchover, and the destination's (a QEMU started with -incoming defer that
 * resumes only once the store says the source's QEMU is gone, or is killed when the
 * migration ended without it). The phases and their since-times live in vm.state
 * (struct vm_migration) and the store; a restarted vmengine goes on from them.
 *
 * vm_worker.c calls in once per tick while migration_takes() says so; this file reaches the
 * worker only through struct mig_host's callbacks, and QEMU through the typed monitor. */
#ifndef VMENGINE_MIGRATION_H
#define VMENGINE_MIGRATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "qemu_monitor.h"
#include "qemu_proc.h"
#include "vm_spec.h"
#include "vm_state.h"

/* ---------------------------------------------------------------- the watchdog (pure) */

struct mig_bounds {
	int64_t progress_ms;            /* migrate_progress_timeout */
	int64_t total_ms;               /* migrate_timeout (for this VM's memory) */
	int64_t switchover_ms;          /* migrate_switchover_timeout */
};

enum mig_verdict {
	MIG_GO_ON,                      /* moving, within every bound */
	MIG_DONE,                       /* QEMU says completed */
	MIG_FAIL_NO_PROGRESS,           /* ram.transferred and ram.remaining unchanged too long */
	MIG_FAIL_NO_CONVERGENCE,        /* ram.remaining fell too slowly over a whole
					 * migrate_progress_timeout to be done within migrate_timeout */
	MIG_FAIL_TOTAL,                 /* the whole migration ran too long */
	MIG_FAIL_SWITCHOVER,            /* the source paused (device, pre-switchover) too long, or
					 * silent that long (stopping the VM) */
	MIG_FAIL_QEMU,                  /* QEMU says failed or cancelled */
};

/* The bounds for cfg and a VM of memory_mb. */
struct mig_bounds migration_bounds(const struct vmengine_config *cfg, unsigned memory_mb);

/* One look at a transferring migration m at wall time now: info is query-migrate's answer,
 * or NULL when QEMU did not answer in time (the clocks run on, and a silence is bounded like
 * a switchover: QEMU holds its lock while it stops the VM). Updates m's progress clock
 * and samples, and its phase between transferring and switchover (since_ms set when it
 * changes); why gets the reason of a failure, in one line. */
enum mig_verdict migration_watch(struct vm_migration *m, const struct mig_bounds *b,
				 const struct qemu_migrate_info *info, int64_t now, char *why,
				 size_t len);

/* The time a monitor call may take now: qmp_timeout, but no later than the first bound of m
 * that can fire (at least floor_ms). */
int migration_call_budget_ms(const struct vm_migration *m, const struct mig_bounds *b,
			     int64_t qmp_timeout_ms, int64_t cancel_timeout_ms, int64_t now,
			     int floor_ms);

/* ---------------------------------------------------------------- the state machine */

/* The worker's side, for the state machine. */
struct mig_host {
	void *ctx;
	const struct vmengine_config *cfg;
	unsigned id;
	struct vm_state *st;            /* the worker's; persisted by save() */
	const struct qemu_paths *paths;
	/* The monitor, connected before deadline (NULL when QEMU cannot be reached). */
	struct qemu_monitor *(*monitor)(void *ctx, int64_t deadline);
	/* Takes in the events a call read, and drops a connection it lost. */
	void (*after_call)(void *ctx);
	/* Persists vm.state and reports it (kind). */
	void (*save)(void *ctx, enum vm_report_kind kind);
};

enum mig_outcome {
	MIG_OUT_BUSY,                   /* under way: call again next tick */
	MIG_OUT_HERE,                   /* over; the VM runs here (st RUNNING, no migration) */
	MIG_OUT_GONE,                   /* over; nothing of the VM is left here: forget it */
	MIG_OUT_LAUNCH,                 /* start the VM fresh here now (st says why) */
};

/* The VM takes part in a migration this tick: vm.state says so, or the spec asks for one
 * (requested for a running VM here, or incoming to this host). */
bool migration_takes(const struct vm_state *st, const struct vm_spec *spec);

/* One tick of the VM's migration. spec may be NULL (no longer listed here). */
enum mig_outcome migration_step(const struct mig_host *h, const struct vm_spec *spec);

/* The extra arguments of a destination's QEMU ("-incoming", "defer"), NULL-terminated. */
extern const char *const migration_incoming_argv[];

/* How long the worker may sleep now (at most the tick): the next bound to check. */
int migration_wait_ms(const struct vm_state *st, const struct vmengine_config *cfg);

#endif

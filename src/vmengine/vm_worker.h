/* vm_worker.h — one VM's supervisor: a thread that reconciles the VM towards its desired
 * state once per tick (launch, re-adopt, stop/terminate escalation, crash handling), so a
 * VM whose QEMU or monitor hangs never delays another VM. */
#ifndef VMENGINE_VM_WORKER_H
#define VMENGINE_VM_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "vm_spec.h"
#include "vm_state.h"

struct vm_worker;

/* Starts the worker of VM id. Its vm.state, when one exists, is loaded first and wins: a
 * running QEMU is re-adopted, an escalation continues from its persisted start, and a
 * restart_pending flag (target restart, policy restart-vms) stops the QEMU (SIGINT, then
 * escalation) and launches it again. */
/* report(ctx, st, kind) is called after every write of vm.state (may be NULL). */
typedef void (*vm_report_fn)(void *ctx, const struct vm_state *st, enum vm_report_kind kind);
struct vm_worker *vm_worker_start(const struct vmengine_config *cfg, unsigned id,
				  vm_report_fn report, void *report_ctx);

/* The latest desired spec (NULL: the VM is no longer in the desired state; it is then left
 * as it is). Wakes the worker. */
void vm_worker_set_spec(struct vm_worker *w, const struct vm_spec *spec);

/* Stops the thread (the VM itself keeps running) and frees the worker. */
void vm_worker_stop(struct vm_worker *w);

struct vm_worker_status {
	unsigned id;
	enum vm_state_kind state;
	int pid;
	enum vm_escalation escalation;
	int64_t last_reconcile_ms;      /* wall clock */
	char reason[128];
	bool known;                     /* vm.state exists: vmengine has taken the VM on */
	enum vm_disk disk;              /* its vhost-user disk's connection */
	int64_t disk_since_ms;
	enum vm_mig_role mig_role;      /* its part in a live migration, and the phase */
	enum vm_mig_phase mig_phase;
	int64_t mig_since_ms;
};
void vm_worker_status(struct vm_worker *w, struct vm_worker_status *out);

unsigned vm_worker_id(const struct vm_worker *w);

#endif

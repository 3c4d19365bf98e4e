/* vm_worker_core.h — inside a VM's worker (vm_worker.c, its policy): the worker itself, and
 * the layer under the policy (vm_worker_core.c): vm.state written and reported, the status
 * published, and the monitor connected, called and drained with deadlines no later than the
 * next escalation step. Nothing here decides what happens to the VM. */
#ifndef VMENGINE_VM_WORKER_CORE_H
#define VMENGINE_VM_WORKER_CORE_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "qemu_monitor.h"
#include "qemu_proc.h"
#include "vm_worker.h"

struct vm_worker {
	unsigned id;
	const struct vmengine_config *cfg;
	struct qemu_paths paths;
	char state_path[PATH_MAX + 16];
	pthread_t thread;

	pthread_mutex_t lock;            /* guards the fields down to `stop` */
	pthread_cond_t wake;
	struct vm_spec spec;
	bool has_spec, woken, stop;

	/* the worker thread's own */
	struct vm_state st;
	struct qemu_monitor *mon;       /* NULL while not connected */
	char exit_reason[64];            /* what QEMU said before it went away */
	int64_t next_launch_ms;          /* monotonic */
	unsigned launch_failures;
	bool warned_no_spec, waiting_for_disk;
	bool state_known;                /* vm.state exists */
	bool vhost_disk;                 /* the spec's disk is a vhost-user socket */

	vm_report_fn report;
	void *report_ctx;

	/* for status (any thread) */
	pthread_mutex_t status_lock;
	struct vm_worker_status status;
};

void publish_status(struct vm_worker *w);
/* Writes vm.state and reports it (kind); the status follows. */
void save_state_kind(struct vm_worker *w, enum vm_report_kind kind);
void save_state(struct vm_worker *w);
void enter_state(struct vm_worker *w, enum vm_state_kind k, const char *reason);
/* A live QEMU of this VM whose pid vm.state does not hold: its pid, or 0. */
int find_qemu(struct vm_worker *w);
void take_pid(struct vm_worker *w, int pid, const char *why);

void mon_drop(struct vm_worker *w);
/* Takes in what QEMU sent, then drops a connection that is gone. */
void drain_events(struct vm_worker *w);
/* The deadline of a monitor call given timeout_ms (at least the monitor's floor). */
int64_t mon_deadline(int timeout_ms);
/* The since-time of the stop under way (terminating or stopping). */
int64_t *since_of(struct vm_worker *w);
int time_to_next_step_ms(struct vm_worker *w);
/* The time any monitor call may take now. */
int mon_budget_ms(struct vm_worker *w);
/* Connects the monitor when it is not, before deadline (then asks query-status). */
int mon_ensure(struct vm_worker *w, int64_t deadline);
/* After a monitor call: drops a connection the call lost and takes in its events. */
int mon_done(struct vm_worker *w, int rc);
/* One command with a deadline, connecting first if needed. */
int mon_command(struct vm_worker *w, int (*cmd)(struct qemu_monitor *, int64_t), int timeout_ms);

/* migration.h's struct mig_host callbacks (ctx: the worker). */
struct qemu_monitor *mig_monitor(void *ctx, int64_t deadline);
void mig_after_call(void *ctx);
void mig_save(void *ctx, enum vm_report_kind kind);

#endif

/* states.h — the one vocabulary of states: a VM's state, its desired state and a volume's
 * state, each an enum with its name and parser. The store validates with it, the engines
 * write it, the CLI reads and checks it; the names are what the store, vm.state, status files
 * and `berth` print. */
#ifndef BERTH_STATES_H
#define BERTH_STATES_H

#include <stdbool.h>

/* A VM's state. The first eight are what vmengine writes in vm.state (zero, STARTING, is the
 * value of a fresh record); CREATING (before vmengine has it) and MIGRATING are the store's. */
enum vm_state_kind {
	VM_STARTING, VM_RUNNING, VM_STOPPING, VM_STOPPED, VM_RESTARTING, VM_TERMINATING,
	VM_TERMINATED, VM_ERROR, VM_CREATING, VM_MIGRATING, VM_STATE_COUNT,
};

/* What the operator wants of a VM. (The count is not an enumerator: switches over the
 * desired state stay exhaustive without it.) */
enum vm_desired { DESIRED_RUNNING, DESIRED_STOPPED, DESIRED_TERMINATED };
#define DESIRED_COUNT 3

/* A volume's state, as diskengine reports it. */
enum volume_state {
	VOLUME_CREATING, VOLUME_ONLINE, VOLUME_EXPORTED, VOLUME_DELETED, VOLUME_ERROR,
	VOLUME_STATE_COUNT,
};

/* A live migration's phase (the store's vms.mig_phase, vm.state's mig_phase; docs/vmengine.md):
 * "" none; requested (by `berth vm migrate`); preparing (the source took it; the destination's
 * export and incoming QEMU are being made ready); transferring (precopy); switchover (the
 * source paused); completing (the source QEMU finished sending and is being removed);
 * completed (the source QEMU is gone: the destination resumes); failing (migrate_cancel under
 * way); failed (the VM stays where it was, or was started fresh on the destination);
 * restart-dest (failed, the source killed: the destination starts the VM fresh). */
enum vm_mig_phase {
	MIG_NONE, MIG_REQUESTED, MIG_PREPARING, MIG_TRANSFERRING, MIG_SWITCHOVER, MIG_COMPLETING,
	MIG_COMPLETED, MIG_FAILING, MIG_FAILED, MIG_RESTART_DEST, MIG_PHASE_COUNT,
};

/* Names ("RUNNING", ...); "?" out of range. Parsers: 0, or -EINVAL for an unknown name. */
const char *vm_state_name(enum vm_state_kind k);
int vm_state_parse(const char *name, enum vm_state_kind *out);
const char *vm_desired_name(enum vm_desired d);
int vm_desired_parse(const char *name, enum vm_desired *out);
const char *volume_state_name(enum volume_state s);
int volume_state_parse(const char *name, enum volume_state *out);
const char *vm_mig_phase_name(enum vm_mig_phase p);      /* MIG_NONE: "" */
int vm_mig_phase_parse(const char *name, enum vm_mig_phase *out);

/* "CREATING, STARTING, ..." in a form for messages: every VM state's name. */
const char *vm_state_names_list(void);

#endif

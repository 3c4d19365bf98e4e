/* vm_reason.c — why a VM's QEMU stopped, in vm.state's words (see vm_reason.h). */
#include "vm_reason.h"

const char *vm_reason_of_run_state(enum qemu_run_state status)
{
	switch (status) {
	case QEMU_RUN_STATE_SHUTDOWN: return "guest-shutdown";
	case QEMU_RUN_STATE_GUEST_PANICKED: return "guest-panic";
	case QEMU_RUN_STATE_INTERNAL_ERROR: return "internal-error";
	default: return NULL;
	}
}

const char *vm_reason_of_step(enum vm_state_kind state, enum vm_escalation done, int pid)
{
	if (pid <= 0)
		return "no QEMU";
	switch (done) {
	case ESC_KILL: return "killed by SIGKILL";
	case ESC_TERM: return "killed by SIGTERM";
	case ESC_QUIT: return state == VM_RESTARTING ? "killed by SIGINT" : "host-qmp-quit";
	default: return "lost";
	}
}

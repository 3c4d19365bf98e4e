/* states.c — the names of the states (see states.h). */
#include "states.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* In enum order. */
static const char *const g_vm_states[VM_STATE_COUNT] = {
	"STARTING", "RUNNING", "STOPPING", "STOPPED", "RESTARTING", "TERMINATING",
	"TERMINATED", "ERROR", "CREATING", "MIGRATING",
};
static const char *const g_desired[DESIRED_COUNT] = { "RUNNING", "STOPPED", "TERMINATED" };
static const char *const g_volume_states[VOLUME_STATE_COUNT] = {
	"CREATING", "ONLINE", "EXPORTED", "DELETED", "ERROR",
};

static const char *const g_mig_phases[MIG_PHASE_COUNT] = {
	"", "requested", "preparing", "transferring", "switchover", "completing", "completed",
	"failing", "failed", "restart-dest",
};

static int lookup(const char *const *names, int n, const char *name)
{
	for (int i = 0; name && i < n; i++)
		if (!strcmp(names[i], name))
			return i;
	return -EINVAL;
}

const char *vm_state_name(enum vm_state_kind k)
{
	return (unsigned)k < VM_STATE_COUNT ? g_vm_states[k] : "?";
}

int vm_state_parse(const char *name, enum vm_state_kind *out)
{
	int i = lookup(g_vm_states, VM_STATE_COUNT, name);
	if (i < 0)
		return i;
	*out = (enum vm_state_kind)i;
	return 0;
}

const char *vm_desired_name(enum vm_desired d)
{
	return (unsigned)d < DESIRED_COUNT ? g_desired[d] : "?";
}

int vm_desired_parse(const char *name, enum vm_desired *out)
{
	int i = lookup(g_desired, DESIRED_COUNT, name);
	if (i < 0)
		return i;
	*out = (enum vm_desired)i;
	return 0;
}

const char *volume_state_name(enum volume_state s)
{
	return (unsigned)s < VOLUME_STATE_COUNT ? g_volume_states[s] : "?";
}

int volume_state_parse(const char *name, enum volume_state *out)
{
	int i = lookup(g_volume_states, VOLUME_STATE_COUNT, name);
	if (i < 0)
		return i;
	*out = (enum volume_state)i;
	return 0;
}

const char *vm_mig_phase_name(enum vm_mig_phase p)
{
	return (unsigned)p < MIG_PHASE_COUNT ? g_mig_phases[p] : "?";
}

int vm_mig_phase_parse(const char *name, enum vm_mig_phase *out)
{
	int i = lookup(g_mig_phases, MIG_PHASE_COUNT, name);
	if (i < 0)
		return i;
	*out = (enum vm_mig_phase)i;
	return 0;
}

const char *vm_state_names_list(void)
{
	return "CREATING, STARTING, RUNNING, STOPPING, STOPPED, RESTARTING, TERMINATING, "
	       "TERMINATED, MIGRATING, ERROR";
}

/* escalation.c — the stop/terminate schedule (see escalation.h, which states the rule).
 * Owns the rule "Terminate escalation" of docs/architecture.md (bug class 2).
 */
#include "escalation.h"

int64_t escalation_step_due(const struct vmengine_config *c, enum vm_state_kind state,
			    int64_t since_ms, enum vm_escalation step)
{
	/* A target restart starts at "quit" (SIGINT): there is no ACPI step. */
	int64_t pg = state == VM_RESTARTING ? 0 : (int64_t)c->powerdown_grace_ms;
	switch (step) {
	case ESC_NONE:
	case ESC_POWERDOWN: return since_ms;
	case ESC_QUIT: return since_ms + pg;
	case ESC_TERM: return since_ms + pg + (int64_t)c->quit_grace_ms;
	default: return since_ms + pg + (int64_t)c->quit_grace_ms + (int64_t)c->term_grace_ms;
	}
}

enum vm_escalation escalation_due(const struct vmengine_config *c, enum vm_state_kind state,
				  int64_t since_ms, int64_t now_ms)
{
	enum vm_escalation due = ESC_NONE;
	for (enum vm_escalation s = ESC_POWERDOWN; s <= ESC_KILL; s++)
		if (now_ms >= escalation_step_due(c, state, since_ms, s))
			due = s;
	if (state == VM_RESTARTING && due < ESC_QUIT)
		due = ESC_QUIT;
	return due;
}

int escalation_call_budget_ms(const struct vmengine_config *c, enum vm_state_kind state,
			      int64_t since_ms, enum vm_escalation done, int64_t now_ms,
			      int floor_ms)
{
	int64_t left = (int64_t)c->qmp_timeout_ms;
	if (done < ESC_KILL) {
		int64_t due = escalation_step_due(c, state, since_ms,
						  (enum vm_escalation)(done + 1));
		if (due - now_ms < left)
			left = due - now_ms;
	}
	return left < floor_ms ? floor_ms : (int)left;
}

int64_t escalation_since(const struct vm_state *st)
{
	switch (st->state) {
	case VM_TERMINATING: return st->terminating_since_ms;
	case VM_STOPPING:
	case VM_RESTARTING: return st->stopping_since_ms;
	default: return 0;
	}
}

bool escalation_next(const struct vmengine_config *c, const struct vm_state *st,
		     enum vm_escalation *next, int64_t *due_ms)
{
	int64_t since = escalation_since(st);
	if (!since || st->escalation >= ESC_KILL)
		return false;
	*next = (enum vm_escalation)(st->escalation + 1);
	if (st->state == VM_RESTARTING && *next < ESC_QUIT)
		*next = ESC_QUIT;
	*due_ms = escalation_step_due(c, st->state, since, *next);
	return true;
}

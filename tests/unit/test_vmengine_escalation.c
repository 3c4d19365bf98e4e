/* test_vmengine_escalation.c — the stop/terminate schedule (escalation.h): each step due at
 * since + the graces before it, a target restart's RESTARTING starting at quit, and a QMP
 * call's budget never reaching past the next step. */
#include <criterion/criterion.h>

#include "escalation.h"

static struct vmengine_config cfg(void)
{
	struct vmengine_config c = { 0 };
	c.powerdown_grace_ms = 30000;
	c.quit_grace_ms = 10000;
	c.term_grace_ms = 5000;
	c.qmp_timeout_ms = 5000;
	return c;
}

Test(escalation, steps_due_after_the_graces_before_them)
{
	struct vmengine_config c = cfg();
	int64_t t0 = 1000000;
	cr_assert_eq(escalation_step_due(&c, VM_TERMINATING, t0, ESC_POWERDOWN), t0);
	cr_assert_eq(escalation_step_due(&c, VM_TERMINATING, t0, ESC_QUIT), t0 + 30000);
	cr_assert_eq(escalation_step_due(&c, VM_TERMINATING, t0, ESC_TERM), t0 + 40000);
	cr_assert_eq(escalation_step_due(&c, VM_TERMINATING, t0, ESC_KILL), t0 + 45000);
	cr_assert_eq(escalation_step_due(&c, VM_STOPPING, t0, ESC_KILL), t0 + 45000);
}

Test(escalation, furthest_step_due_at_each_moment)
{
	struct vmengine_config c = cfg();
	int64_t t0 = 1000000;
	cr_assert_eq(escalation_due(&c, VM_STOPPING, t0, t0 - 1), ESC_NONE);
	cr_assert_eq(escalation_due(&c, VM_STOPPING, t0, t0), ESC_POWERDOWN);
	cr_assert_eq(escalation_due(&c, VM_STOPPING, t0, t0 + 29999), ESC_POWERDOWN);
	cr_assert_eq(escalation_due(&c, VM_STOPPING, t0, t0 + 30000), ESC_QUIT);
	cr_assert_eq(escalation_due(&c, VM_STOPPING, t0, t0 + 40000), ESC_TERM);
	/* A vmengine back after a long absence jumps straight to the step that is due. */
	cr_assert_eq(escalation_due(&c, VM_TERMINATING, t0, t0 + 3600000), ESC_KILL);
}

Test(escalation, target_restart_starts_at_quit_without_acpi)
{
	struct vmengine_config c = cfg();
	int64_t t0 = 1000000;
	cr_assert_eq(escalation_due(&c, VM_RESTARTING, t0, t0), ESC_QUIT);
	cr_assert_eq(escalation_step_due(&c, VM_RESTARTING, t0, ESC_TERM), t0 + 10000);
	cr_assert_eq(escalation_due(&c, VM_RESTARTING, t0, t0 + 15000), ESC_KILL);
}

Test(escalation, a_qmp_call_never_outlives_the_next_step)
{
	struct vmengine_config c = cfg();
	int64_t t0 = 1000000;
	/* Far from the next step: the configured QMP deadline. */
	cr_assert_eq(escalation_call_budget_ms(&c, VM_TERMINATING, t0, ESC_POWERDOWN, t0, 100),
		     5000);
	/* 1.2 s before quit is due: 1.2 s. */
	cr_assert_eq(escalation_call_budget_ms(&c, VM_TERMINATING, t0, ESC_POWERDOWN,
					       t0 + 28800, 100), 1200);
	/* The step is overdue: the monitor's floor, never zero or negative. */
	cr_assert_eq(escalation_call_budget_ms(&c, VM_TERMINATING, t0, ESC_POWERDOWN,
					       t0 + 31000, 100), 100);
	/* After the last step there is no next one: the QMP deadline. */
	cr_assert_eq(escalation_call_budget_ms(&c, VM_TERMINATING, t0, ESC_KILL, t0 + 99000,
					       100), 5000);
}

Test(escalation, the_next_step_for_operators)
{
	struct vmengine_config c = cfg();
	int64_t t0 = 1000000, due = 0;
	enum vm_escalation next = ESC_NONE;
	struct vm_state st = { .state = VM_TERMINATING, .terminating_since_ms = t0,
			       .escalation = ESC_POWERDOWN };
	cr_assert(escalation_next(&c, &st, &next, &due));
	cr_assert_eq(next, ESC_QUIT);
	cr_assert_eq(due, t0 + 30000);
	st.escalation = ESC_TERM;
	cr_assert(escalation_next(&c, &st, &next, &due));
	cr_assert_eq(next, ESC_KILL);
	cr_assert_eq(due, t0 + 45000);
	st.escalation = ESC_KILL;          /* the last step: nothing follows */
	cr_assert_not(escalation_next(&c, &st, &next, &due));
	/* A stop counts from stopping_since; a running VM has no schedule. */
	st = (struct vm_state){ .state = VM_STOPPING, .stopping_since_ms = t0 };
	cr_assert(escalation_next(&c, &st, &next, &due));
	cr_assert_eq(next, ESC_POWERDOWN);
	cr_assert_eq(due, t0);
	st = (struct vm_state){ .state = VM_RESTARTING, .stopping_since_ms = t0 };
	cr_assert(escalation_next(&c, &st, &next, &due));
	cr_assert_eq(next, ESC_QUIT);
	st = (struct vm_state){ .state = VM_RUNNING, .stopping_since_ms = t0 };
	cr_assert_not(escalation_next(&c, &st, &next, &due));
}

/* test_vmengine_escalation.c — the stop/terminate schedule (escalation.h): each step due at
 * since + the graces before it, a target restart's RESTARTING starting at quit, and a QMP
 * call's budget never reaching past the next step; the reasons recorded when QEMU went away
 * without a SHUTDOWN event (vm_reason.h). */
#include <criterion/criterion.h>
#include <string.h>

#include "escalation.h"
#include "vm_reason.h"

static struct vmengine_config cfg(void)
{
	struct vmengine_config c = { 0 };
	c.powerdown_grace_ms = 30000;
	c.quit_grace_ms = 10000;
	c.term_grace_ms = 5000;
	c.qmp_timeout_ms = 5000;
	c.tick_ms = 1000;
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

Test(escalation, a_worker_sleeps_no_longer_than_the_next_step)
{
	struct vmengine_config c = cfg();
	int64_t t0 = 1000000;
	cr_assert_eq(escalation_wait_ms(&c, VM_RUNNING, 0, ESC_NONE, t0), 1000);
	cr_assert_eq(escalation_wait_ms(&c, VM_TERMINATING, t0, ESC_POWERDOWN, t0 + 29700), 300);
	cr_assert_eq(escalation_wait_ms(&c, VM_TERMINATING, t0, ESC_POWERDOWN, t0 + 31000), 10);
	cr_assert_eq(escalation_wait_ms(&c, VM_TERMINATING, t0, ESC_KILL, t0 + 99000), 1000);
	cr_assert_eq(escalation_wait_ms(&c, VM_RESTARTING, t0, ESC_QUIT, t0 + 9500), 500);
}

Test(escalation, reasons_say_what_ended_qemu)
{
	cr_assert_str_eq(vm_reason_of_step(VM_TERMINATING, ESC_QUIT, 42), "host-qmp-quit");
	cr_assert_str_eq(vm_reason_of_step(VM_RESTARTING, ESC_QUIT, 42), "killed by SIGINT");
	cr_assert_str_eq(vm_reason_of_step(VM_STOPPING, ESC_TERM, 42), "killed by SIGTERM");
	cr_assert_str_eq(vm_reason_of_step(VM_TERMINATING, ESC_KILL, 42), "killed by SIGKILL");
	cr_assert_str_eq(vm_reason_of_step(VM_RUNNING, ESC_NONE, 42), "lost");
	cr_assert_str_eq(vm_reason_of_step(VM_STOPPING, ESC_POWERDOWN, 42), "lost");
	cr_assert_str_eq(vm_reason_of_step(VM_TERMINATING, ESC_KILL, 0), "no QEMU");
	cr_assert_str_eq(vm_reason_of_run_state(QEMU_RUN_STATE_SHUTDOWN), "guest-shutdown");
	cr_assert_str_eq(vm_reason_of_run_state(QEMU_RUN_STATE_GUEST_PANICKED), "guest-panic");
	cr_assert_null(vm_reason_of_run_state(QEMU_RUN_STATE_RUNNING));
}

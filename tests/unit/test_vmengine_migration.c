/* test_vmengine_migration.c — a live migration's policy (migration.h): the watchdog's verdicts
 * on query-migrate samples (progress resets its clock, no progress / total time / a long
 * switchover fail it, QEMU's own failure and completion are taken as they are, a sample that
 * never came lets the clocks run on), the deadline of a monitor call never reaching past the
 * next bound, the bounds themselves; vm.state's migration object; and the state machine
 * against a fake QEMU (qmp_fake_server.c) and a process that stands for QEMU: a blocker
 * refuses the migration before anything starts; a completed one removes the source QEMU
 * before the store hears `completed`; a peer that never answers migrate_cancel, or never
 * answers at all, costs each call its deadline and the migration its bounds, no more, and
 * ends with the source QEMU killed and the VM restarted where migrate_failure says; a
 * destination whose migration ended without it kills its QEMU and forgets the VM. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "deadline_io.h"
#include "migration.h"
#include "qmp_fake_server.h"
#include "vmengine_test_util.h"

/* ---------------------------------------------------------------- the watchdog */

static const struct mig_bounds B = { .progress_ms = 1000, .total_ms = 10000,
				     .switchover_ms = 500 };

static struct vm_migration transferring(int64_t t0)
{
	return (struct vm_migration){ .role = MIG_ROLE_SOURCE, .phase = MIG_TRANSFERRING,
				      .started_ms = t0, .since_ms = t0, .progress_ms = t0,
				      .downtime_ms = -1, .total_ms = -1 };
}

static struct qemu_migrate_info sample(enum qemu_migration_status s, uint64_t xfer,
				       uint64_t rem)
{
	return (struct qemu_migrate_info){ .status = s, .has_ram = true, .ram_transferred = xfer,
					   .ram_remaining = rem, .downtime_ms = -1,
					   .total_time_ms = -1 };
}

/* Bounds whose total is far: only the clock under test fires. */
static const struct mig_bounds FAR = { .progress_ms = 1000, .total_ms = 1000000,
				       .switchover_ms = 500 };

Test(migration_watch, progress_resets_the_clock)
{
	const struct mig_bounds b = FAR;
	struct vm_migration m = transferring(0);
	char why[160] = "";
	struct qemu_migrate_info i = sample(QEMU_MIGRATION_ACTIVE, 100, 900);
	cr_assert_eq(migration_watch(&m, &b, &i, 900, why, sizeof(why)), MIG_GO_ON);
	cr_assert_eq(m.progress_ms, 900);
	/* Only transferred moving is progress too; so is only remaining. */
	i = sample(QEMU_MIGRATION_ACTIVE, 200, 900);
	cr_assert_eq(migration_watch(&m, &b, &i, 1800, why, sizeof(why)), MIG_GO_ON);
	i = sample(QEMU_MIGRATION_ACTIVE, 200, 800);
	cr_assert_eq(migration_watch(&m, &b, &i, 2700, why, sizeof(why)), MIG_GO_ON);
	cr_assert_eq(m.progress_ms, 2700);
	/* Stuck: the same numbers until the bound. */
	cr_assert_eq(migration_watch(&m, &b, &i, 3700, why, sizeof(why)), MIG_GO_ON);
	cr_assert_eq(migration_watch(&m, &b, &i, 3701, why, sizeof(why)), MIG_FAIL_NO_PROGRESS);
	cr_assert(strstr(why, "no progress for 1001 ms"), "%s", why);
}

Test(migration_watch, no_answer_lets_the_clock_run)
{
	struct vm_migration m = transferring(0);
	char why[160] = "";
	cr_assert_eq(migration_watch(&m, &B, NULL, 999, why, sizeof(why)), MIG_GO_ON);
	cr_assert_eq(migration_watch(&m, &B, NULL, 1001, why, sizeof(why)), MIG_FAIL_NO_PROGRESS);
	cr_assert(strstr(why, "did not answer"), "%s", why);
}

Test(migration_watch, a_silent_source_is_bounded_like_a_switchover)
{
	struct vm_migration m = transferring(0);
	char why[160] = "";
	struct qemu_migrate_info i = sample(QEMU_MIGRATION_ACTIVE, 100, 900);
	cr_assert_eq(migration_watch(&m, &B, NULL, 100, why, sizeof(why)), MIG_GO_ON);
	cr_assert_eq(m.silent_since_ms, 100);
	cr_assert_eq(migration_watch(&m, &B, &i, 400, why, sizeof(why)), MIG_GO_ON);  /* answered */
	cr_assert_eq(m.silent_since_ms, 0);
	cr_assert_eq(migration_watch(&m, &B, NULL, 500, why, sizeof(why)), MIG_GO_ON);
	cr_assert_eq(migration_call_budget_ms(&m, &B, 5000, 3000, 500, 100), 500);
	cr_assert_eq(migration_watch(&m, &B, NULL, 1001, why, sizeof(why)), MIG_FAIL_SWITCHOVER);
	cr_assert(strstr(why, "has not answered for 501 ms"), "%s", why);
}

Test(migration_watch, total_time_bound)
{
	/* a convergence window longer than the test: only the total bound */
	const struct mig_bounds b = { .progress_ms = 100000, .total_ms = 10000,
				      .switchover_ms = 500 };
	struct vm_migration m = transferring(0);
	char why[160] = "";
	uint64_t x = 0;
	for (int64_t t = 500; t <= 10000; t += 500) {
		struct qemu_migrate_info i = sample(QEMU_MIGRATION_ACTIVE, x += 10, 5);
		cr_assert_eq(migration_watch(&m, &b, &i, t, why, sizeof(why)), MIG_GO_ON, "%lld",
			     (long long)t);
	}
	struct qemu_migrate_info i = sample(QEMU_MIGRATION_ACTIVE, x + 10, 5);
	cr_assert_eq(migration_watch(&m, &b, &i, 10001, why, sizeof(why)), MIG_FAIL_TOTAL);
	cr_assert(strstr(why, "migrate_timeout"), "%s", why);
}

Test(migration_watch, precopy_that_does_not_converge)
{
	/* Sending all the time (transferred moves: progress), but ram.remaining does not fall:
	 * it fails once a whole window (migrate_progress_timeout) is seen, not at
	 * migrate_timeout. */
	struct vm_migration m = transferring(0);
	char why[200] = "";
	uint64_t x = 0;
	cr_assert_eq(migration_watch(&m, &B, (struct qemu_migrate_info[]){
		sample(QEMU_MIGRATION_ACTIVE, x += 4096, 256 << 20) }, 100, why, sizeof(why)),
		MIG_GO_ON);
	cr_assert_eq(m.window_ms, 100);
	for (int64_t t = 200; t <= 1200; t += 100) {
		struct qemu_migrate_info i = sample(QEMU_MIGRATION_ACTIVE, x += 4096,
						    (256u << 20) - (uint64_t)t);
		cr_assert_eq(migration_watch(&m, &B, &i, t, why, sizeof(why)), MIG_GO_ON);
	}
	struct qemu_migrate_info i = sample(QEMU_MIGRATION_ACTIVE, x += 4096, 255u << 20);
	cr_assert_eq(migration_watch(&m, &B, &i, 1300, why, sizeof(why)),
		     MIG_FAIL_NO_CONVERGENCE);
	cr_assert(strstr(why, "not converging: 255 MiB remaining"), "%s", why);
}

Test(migration_watch, a_sawing_plateau_fails_within_a_window_and_two_steps)
{
	/* The first pass falls fast (256 -> 16 MiB in 2 s), then every sync puts back about
	 * as much as a pass sends: remaining saws between 16 and 64 MiB, every 150 ms, with no
	 * trend. Judged by each step's peak, it fails within migrate_progress_timeout and two
	 * steps (125 ms each) of the plateau's start, whatever the saw's phase at the
	 * window's ends (a snapshot at a window's ends saw "down" when the window began on a
	 * peak and ended in a trough, and went on for another window). */
	for (int64_t phase = 0; phase < 300; phase += 50) {
		struct vm_migration m = transferring(0);
		char why[200] = "";
		uint64_t x = 0;
		enum mig_verdict v = MIG_GO_ON;
		int64_t t;
		for (t = 50; t <= 6000 && v == MIG_GO_ON; t += 50) {
			uint64_t rem = t <= 2000 ? (256u << 20) - (uint64_t)t * (120u << 10)
			       : ((t + phase) / 150) % 2 ? 64u << 20 : 16u << 20;
			struct qemu_migrate_info i = sample(QEMU_MIGRATION_ACTIVE, x += 1 << 20, rem);
			v = migration_watch(&m, &B, &i, t, why, sizeof(why));
		}
		cr_assert_eq(v, MIG_FAIL_NO_CONVERGENCE, "phase %lld: %s", (long long)phase, why);
		cr_assert_leq(t - 50, 2000 + 1000 + 2 * 125 + 50, "phase %lld: failed at %lld",
			      (long long)phase, (long long)(t - 50));
		cr_assert(strstr(why, "not converging: 64 MiB remaining"), "%s", why);
	}
}

Test(migration_watch, converging_precopy_goes_on_across_passes)
{
	/* Pass 1 falls fast; a new pass puts dirty pages back (remaining up), yet over the
	 * window it fell enough to finish in time. */
	struct vm_migration m = transferring(0);
	char why[200] = "";
	uint64_t rem[] = { 256u << 20, 128u << 20, 8u << 20, 40u << 20, 20u << 20, 2u << 20 };
	for (int k = 0; k < 6; k++) {
		struct qemu_migrate_info i = sample(QEMU_MIGRATION_ACTIVE, (uint64_t)k + 1, rem[k]);
		cr_assert_eq(migration_watch(&m, &B, &i, 100 + 400 * k, why, sizeof(why)),
			     MIG_GO_ON, "step %d: %s", k, why);
	}
}

Test(migration_watch, switchover_bound_and_back)
{
	struct vm_migration m = transferring(0);
	char why[160] = "";
	struct qemu_migrate_info i = sample(QEMU_MIGRATION_DEVICE, 10, 0);
	cr_assert_eq(migration_watch(&m, &B, &i, 100, why, sizeof(why)), MIG_GO_ON);
	cr_assert_eq(m.phase, MIG_SWITCHOVER);
	cr_assert_eq(m.since_ms, 100);
	i = sample(QEMU_MIGRATION_ACTIVE, 20, 0);          /* back to precopy */
	cr_assert_eq(migration_watch(&m, &B, &i, 300, why, sizeof(why)), MIG_GO_ON);
	cr_assert_eq(m.phase, MIG_TRANSFERRING);
	i = sample(QEMU_MIGRATION_PRE_SWITCHOVER, 30, 0);
	cr_assert_eq(migration_watch(&m, &B, &i, 400, why, sizeof(why)), MIG_GO_ON);
	cr_assert_eq(m.since_ms, 400);
	i = sample(QEMU_MIGRATION_PRE_SWITCHOVER, 40, 0);    /* moving, but paused too long */
	cr_assert_eq(migration_watch(&m, &B, &i, 901, why, sizeof(why)), MIG_FAIL_SWITCHOVER);
	cr_assert(strstr(why, "switchover"), "%s", why);
}

Test(migration_watch, qemu_says_done_or_failed)
{
	struct vm_migration m = transferring(0);
	char why[160] = "";
	struct qemu_migrate_info i = sample(QEMU_MIGRATION_FAILED, 0, 0);
	snprintf(i.error, sizeof(i.error), "Unable to write to socket");
	cr_assert_eq(migration_watch(&m, &B, &i, 10, why, sizeof(why)), MIG_FAIL_QEMU);
	cr_assert(strstr(why, "failed: Unable to write"), "%s", why);
	i = sample(QEMU_MIGRATION_CANCELLED, 0, 0);
	cr_assert_eq(migration_watch(&m, &B, &i, 10, why, sizeof(why)), MIG_FAIL_QEMU);
	i = sample(QEMU_MIGRATION_COMPLETED, 0, 0);
	i.downtime_ms = 17;
	i.total_time_ms = 700;
	/* Completed wins even past every bound. */
	cr_assert_eq(migration_watch(&m, &B, &i, 99999, why, sizeof(why)), MIG_DONE);
	cr_assert_eq(m.downtime_ms, 17);
	cr_assert_eq(m.total_ms, 700);
}

Test(migration_watch, call_budget_ends_before_the_next_bound)
{
	struct vm_migration m = transferring(0);
	cr_assert_eq(migration_call_budget_ms(&m, &B, 5000, 3000, 0, 100), 1000);
	cr_assert_eq(migration_call_budget_ms(&m, &B, 300, 3000, 0, 100), 300);
	cr_assert_eq(migration_call_budget_ms(&m, &B, 5000, 3000, 950, 100), 100);   /* floor */
	m.phase = MIG_SWITCHOVER;
	m.since_ms = 200;
	cr_assert_eq(migration_call_budget_ms(&m, &B, 5000, 3000, 300, 100), 400);
	m.phase = MIG_FAILING;
	m.since_ms = 2000;
	cr_assert_eq(migration_call_budget_ms(&m, &B, 5000, 3000, 2500, 100), 2500);
}

Test(migration_watch, bounds_scale_with_memory)
{
	struct vmengine_config cfg;
	char err[256];
	cr_assert_eq(vmengine_config_load(&cfg, "/r", "/nonexistent", err, sizeof(err)), 0);
	struct mig_bounds b = migration_bounds(&cfg, 256);
	cr_assert_eq(b.total_ms, 65000);                     /* 60 s + 20 s/GiB */
	cr_assert_eq(migration_bounds(&cfg, 2048).total_ms, 100000);
	cr_assert_eq(b.progress_ms, 30000);
	cr_assert_eq(b.switchover_ms, 10000);
	cfg.migrate_timeout_ms = 5000;
	cr_assert_eq(migration_bounds(&cfg, 2048).total_ms, 5000);
}

Test(migration_watch, vm_state_keeps_the_migration, .init = vmtest_setup,
     .fini = vmtest_teardown)
{
	struct vm_state st = { .id = 7, .state = VM_MIGRATING, .pid = 42, .since_ms = 5 };
	st.mig = transferring(1000);
	st.mig.transferred = 1ull << 33;
	st.mig.downtime_ms = 12;
	snprintf(st.mig.peer, sizeof(st.mig.peer), "b");
	snprintf(st.mig.uri, sizeof(st.mig.uri), "unix:/x");
	cr_assert_eq(vm_state_save(g_state, &st), 0);
	struct vm_state back;
	char err[256];
	cr_assert_eq(vm_state_load(g_state, &back, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(back.state, VM_MIGRATING);
	cr_assert_eq(back.mig.role, MIG_ROLE_SOURCE);
	cr_assert_eq(back.mig.phase, MIG_TRANSFERRING);
	cr_assert_eq(back.mig.transferred, 1ull << 33);
	cr_assert_eq(back.mig.downtime_ms, 12);
	cr_assert_eq(back.mig.total_ms, -1);
	cr_assert_str_eq(back.mig.peer, "b");
	cr_assert_str_eq(back.mig.uri, "unix:/x");
	/* MIGRATING without the migration, or a migration with an unknown phase: refused. */
	write_str(g_state, "{\"id\": 7, \"state\": \"MIGRATING\"}");
	cr_assert_eq(vm_state_load(g_state, &back, err, sizeof(err)), -EINVAL);
	write_str(g_state, "{\"id\": 7, \"state\": \"MIGRATING\", \"migration\": {\"role\": "
		  "\"source\", \"phase\": \"flying\"}}");
	cr_assert_eq(vm_state_load(g_state, &back, err, sizeof(err)), -EINVAL);
	/* And a file from before has none. */
	write_str(g_state, "{\"id\": 7, \"state\": \"RUNNING\"}");
	cr_assert_eq(vm_state_load(g_state, &back, err, sizeof(err)), 0);
	cr_assert_eq(back.mig.role, MIG_ROLE_NONE);
}

/* ---------------------------------------------------------------- the state machine */

static struct vmengine_config g_cfg;
static struct qemu_paths g_paths;
static struct vm_state g_st;
static struct qemu_monitor *g_mon;
static enum vm_mig_phase g_reported[64];   /* the phase of each VM_REPORT_MIGRATION */
static int g_n_reported;

static struct qemu_monitor *fake_monitor(void *ctx, int64_t deadline)
{
	(void)ctx;
	if (!g_mon)
		g_mon = qemu_monitor_open(srv.path, 7, deadline, NULL);
	return g_mon;
}

static void fake_after_call(void *ctx)
{
	(void)ctx;
	struct qemu_monitor_event ev;
	while (g_mon && qemu_monitor_next_event(g_mon, &ev))
		;
	if (g_mon && !qemu_monitor_connected(g_mon)) {
		qemu_monitor_close(g_mon);
		g_mon = NULL;
	}
}

static void fake_save(void *ctx, enum vm_report_kind kind)
{
	(void)ctx;
	if (kind == VM_REPORT_MIGRATION && g_n_reported < 64)
		g_reported[g_n_reported++] = g_st.mig.phase;
}

static struct mig_host host(void)
{
	return (struct mig_host){ NULL, &g_cfg, 7, &g_st, &g_paths, fake_monitor,
				  fake_after_call, fake_save };
}

/* A process that stands for VM 7's QEMU (its cmdline names it). */
static pid_t spawn_vm7(void)
{
	int in[2];
	cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		execl("/bin/sh", "sh", "-c", "read x", "-name", "vm7,debug-threads=on",
		      (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	g_stdin_w = in[1];
	g_child = pid;
	int64_t deadline = deadline_after_ms(5000);
	while (!qemu_pid_matches(pid, 7) && deadline_remaining_ms(deadline) > 0)
		usleep(1000);      /* until it has exec'd: bounded polling of /proc, not a sync */
	cr_assert(qemu_pid_matches(pid, 7));
	return pid;
}

/* Reaps the stand-in once killed, so that /proc no longer shows it. */
static void reap_if_dead(void)
{
	if (g_child > 0 && waitpid(g_child, NULL, WNOHANG) == g_child)
		g_child = -1;
}

static void machine_setup(void)
{
	vmtest_setup();
	char err[256];
	cr_assert_eq(vmengine_config_load(&g_cfg, g_dir, "/nonexistent", err, sizeof(err)), 0);
	g_cfg.tick_ms = 50;
	g_cfg.qmp_timeout_ms = 300;
	g_cfg.migrate_progress_timeout_ms = 600;
	g_cfg.migrate_switchover_timeout_ms = 400;
	g_cfg.migrate_cancel_timeout_ms = 500;
	g_cfg.migrate_timeout_ms = 5000;
	qemu_paths_init(&g_paths, g_dir, 7);
	g_st = (struct vm_state){ .id = 7, .state = VM_RUNNING };
	g_mon = NULL;
	g_n_reported = 0;
}

static void machine_teardown(void)
{
	qemu_monitor_close(g_mon);
	g_mon = NULL;
	srv_stop();
	vmtest_teardown();
}

static struct vm_spec requested(const char *uri)
{
	struct vm_spec spec = { .id = 7, .memory_mb = 256, .desired = DESIRED_RUNNING };
	spec.mig.phase = MIG_REQUESTED;
	snprintf(spec.mig.to, sizeof(spec.mig.to), "b");
	spec.mig.started_ms = wall_ms();
	snprintf(spec.mig.uri, sizeof(spec.mig.uri), "%s", uri);
	return spec;
}

static bool reported(enum vm_mig_phase p)
{
	for (int i = 0; i < g_n_reported; i++)
		if (g_reported[i] == p)
			return true;
	return false;
}

Test(migration_machine, a_blocker_refuses_before_anything_starts, .init = machine_setup,
     .fini = machine_teardown)
{
	srv_start(GREETING, 0);
	srv_set(&srv.migrate_info, "{\"blocked-reasons\": [\"Migration disabled: vhost lacks "
		"VHOST_F_LOG_ALL feature.\"]}");
	g_st.pid = spawn_vm7();
	struct vm_spec spec = requested("unix:/dest.sock");
	cr_assert(migration_takes(&g_st, &spec));
	struct mig_host h = host();
	cr_assert_eq(migration_step(&h, &spec), MIG_OUT_HERE);
	cr_assert_eq(g_st.state, VM_RUNNING);
	cr_assert_eq(g_st.mig.role, MIG_ROLE_NONE);
	cr_assert(reported(MIG_FAILED));
	cr_assert_not(reported(MIG_TRANSFERRING));
	cr_assert_eq(g_n_reported, 1, "only the refusal: %d reports", g_n_reported);
}

Test(migration_machine, completed_removes_the_source_qemu_first, .init = machine_setup,
     .fini = machine_teardown)
{
	srv_start(GREETING, 0);
	g_st.pid = spawn_vm7();
	struct vm_spec spec = requested("");
	struct mig_host h = host();
	/* The destination does not listen yet: preparing. */
	cr_assert_eq(migration_step(&h, &spec), MIG_OUT_BUSY);
	cr_assert_eq(g_st.state, VM_MIGRATING);
	cr_assert_eq(g_st.mig.phase, MIG_PREPARING);
	snprintf(spec.mig.uri, sizeof(spec.mig.uri), "unix:/dest.sock");
	spec.mig.phase = MIG_PREPARING;
	cr_assert_eq(migration_step(&h, &spec), MIG_OUT_BUSY);
	cr_assert_eq(g_st.mig.phase, MIG_TRANSFERRING);
	srv_set(&srv.migrate_info, "{\"status\": \"completed\", \"downtime\": 21, \"total-time\": "
		"733, \"ram\": {\"transferred\": 5, \"remaining\": 0, \"total\": 5}}");
	/* Completed: the source QEMU is asked to quit; it stays until it is gone. */
	cr_assert_eq(migration_step(&h, &spec), MIG_OUT_BUSY);
	cr_assert_eq(g_st.mig.phase, MIG_COMPLETING);
	cr_assert_eq(g_st.mig.downtime_ms, 21);
	cr_assert_not(reported(MIG_COMPLETED));
	kill(g_child, SIGKILL);
	waitpid(g_child, NULL, 0);
	g_child = -1;
	cr_assert_eq(migration_step(&h, &spec), MIG_OUT_BUSY);
	cr_assert_eq(g_st.mig.phase, MIG_COMPLETED);
	cr_assert_eq(g_st.pid, 0);
	cr_assert(reported(MIG_COMPLETED));
	/* Until the store moved the VM, the source keeps its record; then forgets it. */
	spec.mig.phase = MIG_COMPLETED;
	cr_assert_eq(migration_step(&h, &spec), MIG_OUT_BUSY);
	cr_assert_eq(migration_step(&h, NULL), MIG_OUT_GONE);
}

/* Runs steps until the outcome is not BUSY (or the source handed the VM to the destination:
 * restart-dest) or the time is up; returns it, with the longest single step in
 * *longest_ms. */
static enum mig_outcome run_until_decided(struct mig_host *h, const struct vm_spec *spec,
					  int64_t limit_ms, int64_t *longest_ms)
{
	int64_t deadline = deadline_after_ms(limit_ms);
	*longest_ms = 0;
	for (;;) {
		int64_t t0 = monotonic_ms();
		enum mig_outcome o = migration_step(h, spec);
		int64_t took = monotonic_ms() - t0;
		if (took > *longest_ms)
			*longest_ms = took;
		reap_if_dead();
		if (o != MIG_OUT_BUSY || g_st.mig.phase == MIG_RESTART_DEST ||
		    deadline_remaining_ms(deadline) == 0)
			return o;
		struct timespec ts = { 0, (long)migration_wait_ms(&g_st, &g_cfg) * 1000000L };
		nanosleep(&ts, NULL);   /* the worker's tick */
	}
}

static void stuck_transfer(unsigned flags, const char *silent, enum migrate_failure policy,
			   enum mig_outcome want, enum vm_mig_phase last)
{
	srv_start(GREETING, flags);
	if (silent)
		srv_set(&srv.silent_cmd, silent);
	/* Never moves, never completes, and the source stays paused after a cancel. */
	srv_set(&srv.migrate_info, "{\"status\": \"active\", \"ram\": {\"transferred\": 1, "
		"\"remaining\": 9, \"total\": 10}}");
	srv.status = "{\"status\": \"finish-migrate\", \"running\": false}";
	g_cfg.migrate_failure = policy;
	g_st.pid = spawn_vm7();
	int64_t now = wall_ms();
	g_st.state = VM_MIGRATING;
	g_st.mig = (struct vm_migration){ .role = MIG_ROLE_SOURCE, .phase = MIG_TRANSFERRING,
					  .started_ms = now, .since_ms = now, .progress_ms = now,
					  .downtime_ms = -1, .total_ms = -1 };
	snprintf(g_st.mig.peer, sizeof(g_st.mig.peer), "b");
	struct vm_spec spec = requested("unix:/dest.sock");
	spec.mig.phase = MIG_TRANSFERRING;
	struct mig_host h = host();
	int64_t t0 = monotonic_ms(), longest;
	enum mig_outcome o = run_until_decided(&h, &spec, 10000, &longest);
	int64_t took = monotonic_ms() - t0;
	cr_assert_eq(o, want, "outcome %d", o);
	/* progress bound + cancel bound + a tick and a call of slack, no more */
	int64_t bound = (int64_t)(g_cfg.migrate_progress_timeout_ms +
				  g_cfg.migrate_cancel_timeout_ms + g_cfg.qmp_timeout_ms) + 400;
	cr_assert_leq(took, bound, "took %lld ms, bound %lld", (long long)took, (long long)bound);
	cr_assert_leq(longest, (int64_t)g_cfg.qmp_timeout_ms * 3 + 300,
		      "one step took %lld ms", (long long)longest);
	cr_assert(reported(MIG_FAILING));
	cr_assert(reported(last));
	cr_assert(g_child < 0 || !qemu_pid_matches(g_child, 7), "the source QEMU is gone");
}

Test(migration_machine, silent_cancel_resume_source_restarts_on_the_source,
     .init = machine_setup, .fini = machine_teardown, .timeout = 30)
{
	stuck_transfer(0, "migrate_cancel", MIGRATE_FAILURE_RESUME_SOURCE, MIG_OUT_LAUNCH,
		       MIG_FAILED);
	cr_assert_eq(g_st.mig.role, MIG_ROLE_NONE);
	cr_assert_eq(g_st.pid, 0);
}

Test(migration_machine, silent_peer_restart_on_destination, .init = machine_setup,
     .fini = machine_teardown, .timeout = 30)
{
	stuck_transfer(SRV_SILENT, NULL, MIGRATE_FAILURE_RESTART_ON_DESTINATION, MIG_OUT_BUSY,
		       MIG_RESTART_DEST);
	/* Waits for the destination to take the VM over, then forgets it. */
	cr_assert_eq(g_st.mig.phase, MIG_RESTART_DEST);
	cr_assert_eq(g_st.pid, 0);
	struct mig_host h = host();
	cr_assert_eq(migration_step(&h, NULL), MIG_OUT_GONE);
}

Test(migration_machine, a_cancelled_migration_leaves_the_source_running,
     .init = machine_setup, .fini = machine_teardown, .timeout = 30)
{
	srv_start(GREETING, 0);
	srv_set(&srv.migrate_info, "{\"status\": \"active\", \"ram\": {\"transferred\": 1, "
		"\"remaining\": 9, \"total\": 10}}");
	g_st.pid = spawn_vm7();
	int64_t now = wall_ms();
	g_st.state = VM_MIGRATING;
	g_st.mig = (struct vm_migration){ .role = MIG_ROLE_SOURCE, .phase = MIG_TRANSFERRING,
					  .started_ms = now, .since_ms = now, .progress_ms = now,
					  .downtime_ms = -1, .total_ms = -1 };
	snprintf(g_st.mig.peer, sizeof(g_st.mig.peer), "b");
	struct vm_spec spec = requested("unix:/dest.sock");
	spec.mig.phase = MIG_TRANSFERRING;
	struct mig_host h = host();
	int64_t longest;
	cr_assert_eq(run_until_decided(&h, &spec, 5000, &longest), MIG_OUT_HERE);
	cr_assert_eq(g_st.state, VM_RUNNING);
	cr_assert_eq(g_st.mig.role, MIG_ROLE_NONE);
	cr_assert_gt(g_st.pid, 0);
	cr_assert(qemu_pid_matches(g_st.pid, 7), "the source QEMU is left running");
	cr_assert(reported(MIG_FAILING) && reported(MIG_FAILED));
}

Test(migration_machine, destination_lets_go_when_the_migration_ended, .init = machine_setup,
     .fini = machine_teardown, .timeout = 30)
{
	srv_start(GREETING, SRV_SILENT);        /* a stuck incoming QEMU */
	g_st.pid = spawn_vm7();
	g_st.state = VM_MIGRATING;
	g_st.mig = (struct vm_migration){ .role = MIG_ROLE_DEST, .phase = MIG_PREPARING,
					  .started_ms = wall_ms(), .downtime_ms = -1,
					  .total_ms = -1 };
	struct mig_host h = host();
	int64_t longest;
	cr_assert_eq(run_until_decided(&h, NULL, 5000, &longest), MIG_OUT_GONE);
	cr_assert_lt(longest, 200, "no monitor call: %lld ms", (long long)longest);
	cr_assert(g_child < 0 || !qemu_pid_matches(g_child, 7));
}

Test(migration_machine, destination_resumes_only_on_completed_and_waits_for_its_load,
     .init = machine_setup, .fini = machine_teardown, .timeout = 30)
{
	srv_start(GREETING, 0);
	srv_set(&srv.migrate_info, "{\"status\": \"active\"}");     /* still loading */
	g_st.pid = spawn_vm7();
	g_st.state = VM_MIGRATING;
	g_st.mig = (struct vm_migration){ .role = MIG_ROLE_DEST, .phase = MIG_PREPARING,
					  .started_ms = wall_ms() - 60000, .since_ms =
					  wall_ms() - 60000, .downtime_ms = -1, .total_ms = -1 };
	snprintf(g_st.mig.uri, sizeof(g_st.mig.uri), "unix:/x");
	struct vm_spec spec = requested("unix:/x");
	spec.mig.incoming = true;
	spec.mig.phase = MIG_TRANSFERRING;
	struct mig_host h = host();
	/* The source is still sending: nothing happens here. */
	cr_assert_eq(migration_step(&h, &spec), MIG_OUT_BUSY);
	cr_assert_eq(g_st.state, VM_MIGRATING);
	/* The store says completed while QEMU still loads: it waits (its own clock, not the
	 * phase's old since-time), then resumes. */
	spec.mig.phase = MIG_COMPLETED;
	cr_assert_eq(migration_step(&h, &spec), MIG_OUT_BUSY);
	cr_assert_eq(g_st.state, VM_MIGRATING);
	cr_assert(qemu_pid_matches(g_st.pid, 7), "not restarted");
	srv_set(&srv.migrate_info, "{\"status\": \"completed\"}");
	cr_assert_eq(migration_step(&h, &spec), MIG_OUT_BUSY);
	cr_assert_eq(g_st.state, VM_RUNNING);
	cr_assert(reported(MIG_COMPLETED));
	/* The store moved the VM here: an ordinary running VM. */
	spec.mig.incoming = false;
	spec.mig.to[0] = '\0';
	cr_assert_eq(migration_step(&h, &spec), MIG_OUT_HERE);
	cr_assert_eq(g_st.mig.role, MIG_ROLE_NONE);
	cr_assert(qemu_pid_matches(g_st.pid, 7));
}

/* An incoming QEMU that died once the source is sending (its stream broke) is not replaced:
 * the source fails the migration, and a new incoming QEMU would only wait, unanswered, for
 * an export that the failure removes (seen in CI: a relaunch hung in its launch for 30 s). */
Test(migration_machine, destination_does_not_relaunch_once_the_source_sends,
     .init = machine_setup, .fini = machine_teardown, .timeout = 30)
{
	g_cfg.launch_timeout_ms = 500;
	g_st.pid = spawn_vm7();
	g_st.state = VM_MIGRATING;
	g_st.mig = (struct vm_migration){ .role = MIG_ROLE_DEST, .phase = MIG_PREPARING,
					  .started_ms = wall_ms(), .downtime_ms = -1,
					  .total_ms = -1 };
	snprintf(g_st.mig.uri, sizeof(g_st.mig.uri), "unix:/x");
	struct vm_spec spec = requested("unix:/x");
	spec.mig.incoming = true;
	spec.disk_ready = true;
	char mk[PATH_MAX + 16];
	snprintf(mk, sizeof(mk), "mkdir -p '%s'", g_paths.dir);   /* where a launch writes */
	cr_assert_eq(system(mk), 0);
	struct mig_host h = host();
	kill(g_child, SIGKILL);
	int64_t deadline = deadline_after_ms(5000);
	while (g_child > 0 && deadline_remaining_ms(deadline) > 0)
		reap_if_dead();         /* waitpid WNOHANG until the kill landed: bounded */
	cr_assert_lt(g_child, 0, "the stand-in did not die");
	enum vm_mig_phase sending[] = { MIG_TRANSFERRING, MIG_SWITCHOVER, MIG_FAILING };
	for (size_t i = 0; i < sizeof(sending) / sizeof(sending[0]); i++) {
		spec.mig.phase = sending[i];
		for (int step = 0; step < 3; step++)
			cr_assert_eq(migration_step(&h, &spec), MIG_OUT_BUSY);
		cr_assert_eq(g_st.pid, 0, "phase %d: a new incoming QEMU", sending[i]);
		cr_assert_neq(access(g_paths.argv_file, F_OK), 0,
			      "phase %d: an incoming QEMU was launched", sending[i]);
	}
	cr_assert_eq(g_st.launches, 0);
}

/* test_reactor.c — the reactor on its own: messages from other threads run on the reactor,
 * timers fire in due order (ties in arming order) and can be cancelled, pollers (active and
 * timed) run on a reactor thread that stops cleanly and runs nothing once stopped (work
 * posted afterwards is dropped, context slots' destructors run), io_uring requests complete,
 * idle waits are bounded and cut short by messages, and the statistics add up. */
#include <criterion/criterion.h>
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "reactor.h"

#define DEADLINE_NS (10ull * 1000000000ull)

static bool poll_until(struct reactor *r, bool (*cond)(void *), void *arg)
{
	uint64_t deadline = monotonic_ns() + DEADLINE_NS;
	while (!cond(arg)) {
		if (monotonic_ns() > deadline)
			return false;
		if (r)
			reactor_poll(r, 1);
		else
			sched_yield();
	}
	return true;
}

/* ---- messages */

struct msg_test {
	struct reactor *r;
	_Atomic unsigned ran;
	_Atomic unsigned wrong_thread;
};

static void count_msg(void *arg)
{
	struct msg_test *t = arg;
	if (reactor_current() != t->r)
		atomic_fetch_add(&t->wrong_thread, 1);
	atomic_fetch_add(&t->ran, 1);
}

static void *sender(void *arg)
{
	struct msg_test *t = arg;
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(reactor_send_msg(t->r, count_msg, t), 0);
	return NULL;
}

static bool all_msgs(void *arg)
{
	return atomic_load(&((struct msg_test *)arg)->ran) == 4000;
}

Test(reactor, messages_from_other_threads)
{
	struct msg_test t = { .r = reactor_create("msg", 3, 0) };
	cr_assert(t.r);
	cr_expect_eq(reactor_id(t.r), 3);
	cr_expect_str_eq(reactor_name(t.r), "msg");
	cr_expect_null(reactor_current());
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, sender, &t), 0);
	cr_assert(poll_until(t.r, all_msgs, &t));
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	cr_expect_eq(atomic_load(&t.wrong_thread), 0);
	cr_expect_null(reactor_current(), "reset after reactor_poll");
	reactor_destroy(t.r);
}

/* ---- timers */

struct timer_log {
	int order[8];
	int n;
};

struct timer_case {
	struct reactor_timer t;
	struct timer_log *log;
	int id;
};

static void timer_fired(void *arg)
{
	struct timer_case *c = arg;
	c->log->order[c->log->n++] = c->id;
}

static bool timers_done(void *arg)
{
	return ((struct timer_log *)arg)->n == 6;
}

Test(reactor, timers_fire_in_order)
{
	struct reactor *r = reactor_create("tmr", 0, 0);
	struct timer_log log = { .n = 0 };
	/* index: delay in ms; 5 is cancelled */
	struct timer_case c[7];
	const uint64_t delay_ms[7] = { 40, 10, 25, 25, 0, 15, 60 };
	for (int i = 0; i < 7; i++) {
		c[i].log = &log;
		c[i].id = i;
	}
	uint64_t t0 = monotonic_ns();
	for (int i = 0; i < 7; i++)     /* 3 is armed after 2 with the same delay */
		reactor_timer_arm(r, &c[i].t, delay_ms[i] * 1000000ull, timer_fired, &c[i]);
	reactor_timer_cancel(r, &c[5].t);
	reactor_timer_cancel(r, &c[5].t);       /* twice is harmless */
	cr_assert(poll_until(r, timers_done, &log));
	cr_expect_geq(monotonic_ns() - t0, 60000000ull, "the last timer waited 60 ms");
	int want[6] = { 4, 1, 2, 3, 0, 6 };
	for (int i = 0; i < 6; i++)
		cr_expect_eq(log.order[i], want[i], "position %d: %d", i, log.order[i]);
	/* nothing else fires */
	reactor_poll(r, 20);
	cr_expect_eq(log.n, 6);
	reactor_destroy(r);
}

/* A timer that re-arms itself from its callback runs once per iteration at most. */
struct rearm {
	struct reactor *r;
	struct reactor_timer t;
	int runs;
};

static void rearm_fired(void *arg)
{
	struct rearm *x = arg;
	if (++x->runs < 50)
		reactor_timer_arm(x->r, &x->t, 0, rearm_fired, x);
}

static bool rearm_done(void *arg)
{
	return ((struct rearm *)arg)->runs == 50;
}

Test(reactor, timer_rearms_from_its_callback)
{
	struct rearm x = { .r = reactor_create("rearm", 0, 0) };
	reactor_timer_arm(x.r, &x.t, 0, rearm_fired, &x);
	reactor_poll(x.r, 0);
	cr_expect_eq(x.runs, 1);
	cr_assert(poll_until(x.r, rearm_done, &x));
	reactor_destroy(x.r);
}

/* ---- pollers on a reactor thread */

struct poller_test {
	struct reactor *r;
	_Atomic unsigned active_runs, timed_runs, wrong_thread, still_runs;
};

/* Stays registered across reactor_stop: it must not run once stop returned. */
static int still_poller(void *arg)
{
	struct poller_test *t = arg;
	atomic_fetch_add(&t->still_runs, 1);
	return 0;
}

/* Sequencing for work posted after reactor_stop returned: every event takes the next
 * number, so the test sees what happened and in which order. */
struct after_stop {
	_Atomic unsigned seq;
	_Atomic unsigned late_msg_seq;    /* 0: the late message never ran */
	_Atomic unsigned late_poller_runs;
	_Atomic unsigned dtor_seq;        /* the context slot's destructor (reactor_destroy) */
	unsigned stop_seq;
};

static struct after_stop g_after_stop;

static void late_msg(void *arg)
{
	struct after_stop *a = arg;
	atomic_store(&a->late_msg_seq, atomic_fetch_add(&a->seq, 1) + 1);
}

static int late_poller(void *arg)
{
	struct after_stop *a = arg;
	atomic_fetch_add(&a->late_poller_runs, 1);
	return 0;
}

static void after_stop_dtor(struct reactor *r, void *ctx)
{
	struct after_stop *a = ctx;
	atomic_store(&a->dtor_seq, atomic_fetch_add(&a->seq, 1) + 1);
}

static bool late_work_ran(void *arg)
{
	struct after_stop *a = arg;
	return atomic_load(&a->late_msg_seq) != 0 || atomic_load(&a->late_poller_runs) != 0;
}

static int active_poller(void *arg)
{
	struct poller_test *t = arg;
	if (reactor_current() != t->r)
		atomic_fetch_add(&t->wrong_thread, 1);
	atomic_fetch_add(&t->active_runs, 1);
	return 0;
}

static int timed_poller(void *arg)
{
	struct poller_test *t = arg;
	atomic_fetch_add(&t->timed_runs, 1);
	return 1;
}

static bool still_ran_again(void *arg)
{
	/* "still" keeps running after "active" left: the thread is alive before the stop */
	static unsigned seen;
	struct poller_test *t = arg;
	unsigned n = atomic_load(&t->still_runs);
	if (!seen) {
		seen = n;
		return false;
	}
	return n > seen + 10;
}

static bool pollers_ran(void *arg)
{
	struct poller_test *t = arg;
	return atomic_load(&t->active_runs) >= 100 && atomic_load(&t->timed_runs) >= 5;
}

struct poller_list {
	unsigned n;
	bool saw_timed;
};

static void list_poller(const struct reactor_poller_stats *s, void *arg)
{
	struct poller_list *l = arg;
	l->n++;
	if (strcmp(s->name, "timed") == 0) {
		l->saw_timed = true;
		cr_expect_eq(s->period_ns, 2000000ull);
		cr_expect_geq(s->run_count, 5);
		cr_expect_eq(s->busy_count, s->run_count);
	}
}

static void run_poller_thread(bool busy)
{
	struct poller_test t = { .r = reactor_create("pollers", 1, 0) };
	cr_assert(t.r);
	struct reactor_poller *a = reactor_poller_register(t.r, "active", active_poller, &t, 0);
	cr_assert(a);
	cr_assert_eq(reactor_start(t.r, busy), 0);
	cr_expect_eq(reactor_start(t.r, busy), -EALREADY);
	/* registered from another thread while the reactor runs */
	struct reactor_poller *p = reactor_poller_register(t.r, "timed", timed_poller, &t,
							   2000000ull);
	cr_assert(p);
	cr_assert(poll_until(NULL, pollers_ran, &t));
	struct reactor_stats st;
	reactor_get_stats(t.r, &st);
	cr_expect_eq(st.active_pollers, 1);
	cr_expect_eq(st.timed_pollers, 1);
	cr_expect_gt(st.busy_ns + st.idle_ns, 0);
	cr_expect_gt(st.busy_ns, 0, "the timed poller reports work");
	struct poller_list l = { 0 };
	reactor_foreach_poller(t.r, list_poller, &l);
	cr_expect_eq(l.n, 2);
	cr_expect(l.saw_timed);

	reactor_poller_unregister(t.r, a);
	reactor_stop(t.r);
	reactor_get_stats(t.r, &st);
	cr_expect_eq(st.active_pollers, 0);
	cr_expect_eq(atomic_load(&t.wrong_thread), 0);
	reactor_destroy(t.r);
}

/* Nothing runs once reactor_stop returned: a poller registered before keeps still, and work
 * posted after it (a message, a poller) never runs, not even at reactor_destroy, which takes
 * the cleanup path instead (a context slot's destructor). The checks happen while the
 * reactor still exists, with time for a thread that did not stop to run that work. */
static void run_stop_test(bool busy)
{
	struct poller_test t = { .r = reactor_create("stopping", 1, 0) };
	cr_assert(t.r);
	cr_assert(reactor_poller_register(t.r, "still", still_poller, &t, 0));
	cr_assert_eq(reactor_start(t.r, busy), 0);
	cr_assert(poll_until(NULL, still_ran_again, &t));
	reactor_stop(t.r);
	unsigned still_after = atomic_load(&t.still_runs);

	struct after_stop *as = &g_after_stop;
	as->stop_seq = atomic_fetch_add(&as->seq, 1) + 1;
	cr_assert_eq(reactor_send_msg(t.r, late_msg, as), 0);
	cr_assert(reactor_poller_register(t.r, "late", late_poller, as, 0));
	int slot = reactor_ctx_register(after_stop_dtor);
	cr_assert_geq(slot, 0);
	reactor_ctx_set(t.r, slot, as);
	uint64_t until = monotonic_ns() + 100000000ull;   /* 100 ms */
	while (monotonic_ns() < until && !late_work_ran(as))
		sched_yield();
	cr_expect_eq(atomic_load(&t.still_runs), still_after, "no poller runs once stopped");
	cr_expect_eq(atomic_load(&as->late_msg_seq), 0, "a message sent after stop never runs");
	cr_expect_eq(atomic_load(&as->late_poller_runs), 0, "a poller added after stop never runs");
	reactor_destroy(t.r);
	cr_expect_eq(atomic_load(&as->late_msg_seq), 0, "reactor_destroy does not run late work");
	cr_expect_eq(atomic_load(&as->late_poller_runs), 0);
	cr_expect_gt(atomic_load(&as->dtor_seq), as->stop_seq,
		     "the context destructor ran at reactor_destroy");
}

Test(reactor, nothing_runs_once_stopped_sleeping_mode)
{
	run_stop_test(false);
}

Test(reactor, nothing_runs_once_stopped_busy_mode)
{
	run_stop_test(true);
}

Test(reactor, thread_runs_pollers_and_stops_sleeping_mode)
{
	run_poller_thread(false);
}

Test(reactor, thread_runs_pollers_and_stops_busy_mode)
{
	run_poller_thread(true);
}

/* A sleeping reactor thread wakes for a message long before its idle timeout. */
static void note_msg(void *arg)
{
	atomic_store((_Atomic uint64_t *)arg, monotonic_ns());
}

static bool msg_seen(void *arg)
{
	return atomic_load((_Atomic uint64_t *)arg) != 0;
}

Test(reactor, message_wakes_a_sleeping_thread)
{
	struct reactor *r = reactor_create("sleepy", 0, 0);
	cr_assert_eq(reactor_start(r, false), 0);
	_Atomic uint64_t seen = 0;
	/* give the thread time to go to sleep: wait until it reports idle time */
	struct reactor_stats st;
	uint64_t deadline = monotonic_ns() + DEADLINE_NS;
	do {
		reactor_get_stats(r, &st);
	} while (st.idle_ns == 0 && monotonic_ns() < deadline);
	uint64_t t0 = monotonic_ns();
	cr_assert_eq(reactor_send_msg(r, note_msg, &seen), 0);
	cr_assert(poll_until(NULL, msg_seen, &seen));
	cr_expect_lt(atomic_load(&seen) - t0, 500000000ull, "woken, not timed out");
	reactor_stop(r);
	reactor_stop(r);        /* idempotent */
	reactor_destroy(r);
}

/* Sends one message and waits until it ran (the reactor's thread woke for it, or was still
 * polling). */
static void ping(struct reactor *r)
{
	_Atomic uint64_t seen = 0;
	cr_assert_eq(reactor_send_msg(r, note_msg, &seen), 0);
	cr_assert(poll_until(NULL, msg_seen, &seen));
}

static uint64_t window_of(struct reactor *r)
{
	struct reactor_stats st;
	reactor_get_stats(r, &st);
	return st.poll_ns;
}

/* The reactor's polling window once it satisfies cmp against ref (the reactor adapts it just
 * after the message that woke it ran), or whatever it is at the deadline. */
static uint64_t window_until(struct reactor *r, bool (*cmp)(uint64_t w, uint64_t ref),
			     uint64_t ref)
{
	uint64_t deadline = monotonic_ns() + DEADLINE_NS, w;
	while (!cmp(w = window_of(r), ref) && monotonic_ns() < deadline)
		sched_yield();
	return w;
}

static bool above(uint64_t w, uint64_t ref) { return w > ref; }
static bool below(uint64_t w, uint64_t ref) { return w < ref; }

/* Event mode's adaptive polling: none without a bound; with one, work that keeps coming back
 * soon after the reactor went to sleep opens a polling window (at most the bound), and a
 * sleep longer than the bound shrinks it. */
Test(reactor, adaptive_polling_window)
{
	struct reactor *r = reactor_create("nopoll", 0, 0);
	cr_assert_eq(reactor_start(r, false), 0);
	for (int i = 0; i < 20; i++)
		ping(r);
	cr_assert_eq(window_of(r), 0, "no window without a bound");
	reactor_stop(r);
	reactor_destroy(r);

	r = reactor_create("adaptive", 0, 0);
	reactor_set_poll_max(r, 1000000);      /* 1 ms */
	cr_assert_eq(reactor_start(r, false), 0);
	for (int i = 0; i < 20; i++)
		ping(r);
	uint64_t window = window_until(r, above, 0);
	cr_assert_gt(window, 0, "messages coming back within the bound open a window");
	cr_assert_leq(window, 1000000);
	/* idle for longer than the bound (it polls at most 1 ms, then sleeps), then woken: the
	 * window shrinks */
	uint64_t until = monotonic_ns() + 20000000ull;
	while (monotonic_ns() < until)
		sched_yield();
	window = window_of(r);
	ping(r);
	uint64_t after = window_until(r, below, window);
	cr_assert_lt(after, window, "a sleep longer than the bound halves the window (%lu -> %lu)",
		     (unsigned long)window, (unsigned long)after);
	reactor_stop(r);
	reactor_destroy(r);
}

Test(reactor, poll_waits_at_most_its_timeout)
{
	struct reactor *r = reactor_create("idle", 0, 0);
	uint64_t t0 = monotonic_ns();
	cr_expect_eq(reactor_poll(r, 30), 0);
	uint64_t dt = monotonic_ns() - t0;
	cr_expect_geq(dt, 25000000ull);
	cr_expect_lt(dt, 2000000000ull);
	t0 = monotonic_ns();
	cr_expect_eq(reactor_poll(r, 0), 0);
	cr_expect_lt(monotonic_ns() - t0, 20000000ull, "0 does not wait");
	reactor_destroy(r);
}

/* ---- io_uring */

struct nop_req {
	struct reactor_uring_req req;
	int res;
	bool done;
};

static void nop_done(struct reactor_uring_req *req, int res)
{
	struct nop_req *n = (struct nop_req *)req;
	n->res = res;
	n->done = true;
}

static bool nops_done(void *arg)
{
	struct nop_req *n = arg;
	for (int i = 0; i < 600; i++) {
		if (!n[i].done)
			return false;
	}
	return true;
}

Test(reactor, uring_requests_complete)
{
	struct reactor *r = reactor_create("ring", 0, 64);
	cr_assert(reactor_uring(r));
	static struct nop_req nops[600];        /* more than the SQ holds: get_sqe flushes */
	for (int i = 0; i < 600; i++) {
		nops[i] = (struct nop_req){ .req.complete = nop_done, .res = -1 };
		struct io_uring_sqe *sqe = reactor_get_sqe(r);
		cr_assert(sqe);
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data(sqe, &nops[i].req);
	}
	cr_assert(poll_until(r, nops_done, nops));
	for (int i = 0; i < 600; i++)
		cr_expect_eq(nops[i].res, 0);
	reactor_destroy(r);
}

/* An idle reactor sleeps until its ring has a completion, not until its timeout. */
Test(reactor, uring_completion_wakes_a_sleeping_poll)
{
	struct reactor *r = reactor_create("ringwait", 0, 0);
	struct nop_req n = { .req.complete = nop_done, .res = 1 };
	struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 30000000 };     /* 30 ms */
	struct io_uring_sqe *sqe = reactor_get_sqe(r);
	cr_assert(sqe);
	io_uring_prep_timeout(sqe, &ts, 0, 0);
	io_uring_sqe_set_data(sqe, &n.req);
	uint64_t t0 = monotonic_ns();
	cr_expect_gt(reactor_poll(r, 5000), 0, "the first iteration submits");
	while (!n.done && monotonic_ns() - t0 < DEADLINE_NS)
		reactor_poll(r, 5000);
	uint64_t dt = monotonic_ns() - t0;
	cr_assert(n.done);
	cr_expect_eq(n.res, -ETIME);
	cr_expect_geq(dt, 25000000ull);
	cr_expect_lt(dt, 2000000000ull, "woken by the completion");
	reactor_destroy(r);
}

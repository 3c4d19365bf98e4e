/* reactor.c — blockd's event loop: one per IO thread. Each iteration runs cross-thread
 * messages, io_uring completions, expired timers and pollers, then submits the io_uring
 * SQEs queued meanwhile in one batch; when idle it sleeps in epoll on its message eventfd
 * and its ring until the next timer. It also keeps the global list of reactors that the
 * grace periods (reactor_epoch_*) look at, and the per-reactor context slots. */
#include "reactor.h"

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define REACTOR_DEFAULT_ENTRIES 256
#define REACTOR_CQE_BATCH 64
#define REACTOR_IDLE_EPOCH UINT64_MAX
#define REACTOR_THREAD_WAIT_MS 1000

struct reactor_poller {
	char name[64];
	uint64_t id;
	reactor_poller_fn fn;
	void *arg;
	uint64_t period_ns, next_run_ns;
	_Atomic uint64_t run_count, busy_count;
	bool dead;
	struct reactor_poller *next;
};

struct reactor_msg {
	reactor_msg_fn fn;
	void *arg;
	struct reactor_msg *next;
};

struct reactor {
	char name[64];
	unsigned id;
	struct io_uring ring;
	int evfd, epfd;

	pthread_mutex_t msg_lock;
	struct reactor_msg *msg_head, *msg_tail;

	pthread_mutex_t poller_lock;    /* taken to change the list and by foreach */
	struct reactor_poller *pollers;
	bool pollers_dirty;

	struct reactor_timer *timers, *timer_tail;

	pthread_t thread;
	_Atomic bool started;
	bool busy_poll;
	_Atomic bool stop;

	_Atomic uint64_t busy_ns, idle_ns;
	uint64_t now_ns;             /* when this iteration began (reactor_now_ns) */
	/* Adaptive polling before a sleep (event mode; reactor_set_poll_max): how long it
	 * keeps polling after the last work, its upper bound, and when the last work was. */
	_Atomic uint64_t poll_ns;     /* read by reactor_get_stats */
	uint64_t poll_max_ns, last_work_ns;
	_Atomic unsigned active_pollers, timed_pollers;
	_Atomic uint64_t epoch_seen;    /* epoch at iteration start, or REACTOR_IDLE_EPOCH */
	void *ctx[REACTOR_CTX_SLOTS];   /* context slots (reactor_ctx_register) */
	struct reactor *next_all;

	struct reactor_fd *fds;         /* watched file descriptors */
	unsigned num_fds;
	uint64_t last_fd_check_ns;
};

/* epoll tags: the reactor's own fds; anything else is a struct reactor_fd pointer. */
#define EPOLL_TAG_MSG 1
#define EPOLL_TAG_RING 2
#define REACTOR_FD_CHECK_NS 50000   /* a busy reactor still looks at its fds this often */

struct reactor_fd {
	int fd;
	uint32_t events;
	reactor_fd_fn fn;
	void *arg;
	bool dead;
	struct reactor_fd *next;
};

static _Thread_local struct reactor *tls_current;
static void reactor_fd_collect(struct reactor *r);
static int reactor_wait_events(struct reactor *r, uint64_t ns);
static void reactor_link_poller_msg(void *arg);
static pthread_mutex_t g_reactors_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reactor *g_reactors;
static _Atomic uint64_t g_epoch = 1;
static _Atomic uint64_t g_poller_ids = 1;
static pthread_mutex_t g_ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static reactor_ctx_dtor g_ctx_dtors[REACTOR_CTX_SLOTS];
static int g_ctx_slots;

uint64_t reactor_now_ns(void)
{
	return tls_current ? tls_current->now_ns : monotonic_ns();
}

uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- creation and teardown */

static int reactor_init_fds(struct reactor *r, unsigned uring_entries)
{
	/* Completions are not pushed onto the reactor with an interrupt (by default the kernel
	 * signals the thread for each, which costs a busy-polling reactor an IPI and a kernel
	 * entry per IO): the reactor picks them up when it next enters the ring, which
	 * io_uring_peek_batch_cqe does when the TASKRUN flag says some are waiting (make bench,
	 * file on disk, busy-poll: QD1 12-14K -> 18-19K, QD32 58-79K -> 65-98K; kernel 5.19+,
	 * a plain ring before it). */
	unsigned entries = uring_entries ? uring_entries : REACTOR_DEFAULT_ENTRIES;
	int rc = io_uring_queue_init(entries, &r->ring,
				     IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
	if (rc == -EINVAL)
		rc = io_uring_queue_init(entries, &r->ring, 0);
	if (rc < 0)
		return rc;
	r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->evfd < 0 || r->epfd < 0)
		return -errno;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EPOLL_TAG_MSG };
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->evfd, &ev) < 0)
		return -errno;
	ev.data.u64 = EPOLL_TAG_RING;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->ring.ring_fd, &ev) < 0)
		return -errno;
	return 0;
}

static void reactor_close_fds(struct reactor *r)
{
	if (r->ring.ring_fd > 0)
		io_uring_queue_exit(&r->ring);
	if (r->evfd >= 0)
		close(r->evfd);
	if (r->epfd >= 0)
		close(r->epfd);
}

struct reactor *reactor_create(const char *name, unsigned id, unsigned uring_entries)
{
	struct reactor *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	snprintf(r->name, sizeof(r->name), "%s", name ? name : "reactor");
	r->id = id;
	r->evfd = r->epfd = -1;
	r->ring.ring_fd = -1;
	atomic_init(&r->epoch_seen, REACTOR_IDLE_EPOCH);
	int rc = reactor_init_fds(r, uring_entries);
	if (rc < 0) {
		log_error("blockd", "msg=\"reactor create failed\" reactor=%s err=\"%s\"",
			  r->name, strerror(-rc));
		reactor_close_fds(r);
		free(r);
		return NULL;
	}
	pthread_mutex_init(&r->msg_lock, NULL);
	pthread_mutex_init(&r->poller_lock, NULL);

	pthread_mutex_lock(&g_reactors_lock);
	r->next_all = g_reactors;
	g_reactors = r;
	pthread_mutex_unlock(&g_reactors_lock);
	return r;
}

static void reactor_unlist(struct reactor *r)
{
	pthread_mutex_lock(&g_reactors_lock);
	for (struct reactor **pp = &g_reactors; *pp; pp = &(*pp)->next_all) {
		if (*pp == r) {
			*pp = r->next_all;
			break;
		}
	}
	pthread_mutex_unlock(&g_reactors_lock);
}

/* Runs the destructor of every slot that holds a context. */
static void reactor_ctx_destroy_all(struct reactor *r)
{
	pthread_mutex_lock(&g_ctx_lock);
	int n = g_ctx_slots;
	reactor_ctx_dtor dtors[REACTOR_CTX_SLOTS];
	memcpy(dtors, g_ctx_dtors, sizeof(dtors));
	pthread_mutex_unlock(&g_ctx_lock);
	for (int i = 0; i < n; i++) {
		void *ctx = r->ctx[i];
		r->ctx[i] = NULL;
		if (ctx && dtors[i])
			dtors[i](r, ctx);
	}
}

void reactor_destroy(struct reactor *r)
{
	if (!r)
		return;
	reactor_stop(r);
	reactor_ctx_destroy_all(r);
	reactor_unlist(r);
	while (r->msg_head) {   /* never run; a poller still waiting to be linked is freed */
		struct reactor_msg *m = r->msg_head;
		r->msg_head = m->next;
		if (m->fn == reactor_link_poller_msg)
			free(m->arg);
		free(m);
	}
	while (r->pollers) {
		struct reactor_poller *p = r->pollers;
		r->pollers = p->next;
		free(p);
	}
	for (struct reactor_fd *w = r->fds; w; w = w->next)
		w->dead = true;
	reactor_fd_collect(r);
	reactor_close_fds(r);
	pthread_mutex_destroy(&r->msg_lock);
	pthread_mutex_destroy(&r->poller_lock);
	free(r);
}

/* ---- thread */

static void *reactor_thread_main(void *arg)
{
	struct reactor *r = arg;
	tls_current = r;
	r->now_ns = monotonic_ns();
	while (!atomic_load(&r->stop)) {
		int work = reactor_poll(r, r->busy_poll ? 0 : REACTOR_THREAD_WAIT_MS);
		/* Busy-poll, nothing to do: let whatever shares the CPU run (another reactor,
		 * io_uring's worker threads); returns at once when nothing else is runnable. */
		if (r->busy_poll && work == 0)
			sched_yield();
	}
	reactor_poll(r, 0);     /* messages sent before the stop still run */
	tls_current = NULL;
	return NULL;
}

void reactor_set_poll_max(struct reactor *r, uint64_t ns)
{
	r->poll_max_ns = ns;
	atomic_store_explicit(&r->poll_ns, 0, memory_order_relaxed);
}

int reactor_start(struct reactor *r, bool busy_poll)
{
	if (atomic_load(&r->started))
		return -EALREADY;
	r->busy_poll = busy_poll;
	atomic_store(&r->stop, false);
	atomic_store(&r->started, true);        /* from here on, others go through messages */
	int rc = pthread_create(&r->thread, NULL, reactor_thread_main, r);
	if (rc != 0) {
		atomic_store(&r->started, false);
		log_error("blockd", "msg=\"reactor thread failed\" reactor=%s err=\"%s\"",
			  r->name, strerror(rc));
		return -rc;
	}
	char tname[16];         /* the kernel keeps 15 bytes */
	memcpy(tname, r->name, sizeof(tname) - 1);
	tname[sizeof(tname) - 1] = '\0';
	pthread_setname_np(r->thread, tname);
	return 0;
}

static void reactor_wake(struct reactor *r)
{
	uint64_t one = 1;
	ssize_t n = write(r->evfd, &one, sizeof(one));
	(void)n;   /* EAGAIN: the counter is already non-zero, the reactor will wake */
}

void reactor_stop(struct reactor *r)
{
	if (!atomic_load(&r->started))
		return;
	atomic_store(&r->stop, true);
	reactor_wake(r);
	pthread_join(r->thread, NULL);
	atomic_store(&r->started, false);
}

/* The calling thread may change r's lists directly: it runs r, or r has no thread. */
static bool reactor_is_owner(struct reactor *r)
{
	return tls_current == r || !atomic_load(&r->started);
}

/* ---- messages */

int reactor_send_msg(struct reactor *r, reactor_msg_fn fn, void *arg)
{
	struct reactor_msg *m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fn = fn;
	m->arg = arg;
	m->next = NULL;
	pthread_mutex_lock(&r->msg_lock);
	if (r->msg_tail)
		r->msg_tail->next = m;
	else
		r->msg_head = m;
	r->msg_tail = m;
	pthread_mutex_unlock(&r->msg_lock);
	reactor_wake(r);
	return 0;
}

static int reactor_run_msgs(struct reactor *r)
{
	pthread_mutex_lock(&r->msg_lock);
	struct reactor_msg *m = r->msg_head;
	r->msg_head = r->msg_tail = NULL;
	pthread_mutex_unlock(&r->msg_lock);
	int n = 0;
	while (m) {
		struct reactor_msg *next = m->next;
		m->fn(m->arg);
		free(m);
		m = next;
		n++;
	}
	return n;
}

/* ---- io_uring */

struct io_uring *reactor_uring(struct reactor *r)
{
	return &r->ring;
}

static void reactor_submit_sqes(struct reactor *r)
{
	if (io_uring_sq_ready(&r->ring) == 0)
		return;
	int rc = io_uring_submit(&r->ring);
	if (rc < 0 && rc != -EBUSY && rc != -EAGAIN && rc != -EINTR)
		log_error("blockd", "msg=\"io_uring submit failed\" reactor=%s err=\"%s\"",
			  r->name, strerror(-rc));
	/* EBUSY/EAGAIN: completions must be reaped first; the next iteration retries. */
}

struct io_uring_sqe *reactor_get_sqe(struct reactor *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	if (sqe)
		return sqe;
	reactor_submit_sqes(r);
	return io_uring_get_sqe(&r->ring);
}

static int reactor_reap_cqes(struct reactor *r)
{
	int total = 0;
	for (;;) {
		struct io_uring_cqe *cqes[REACTOR_CQE_BATCH];
		struct reactor_uring_req *reqs[REACTOR_CQE_BATCH];
		int res[REACTOR_CQE_BATCH];
		unsigned n = io_uring_peek_batch_cqe(&r->ring, cqes, REACTOR_CQE_BATCH);
		if (n == 0)
			break;
		for (unsigned i = 0; i < n; i++) {
			reqs[i] = io_uring_cqe_get_data(cqes[i]);
			res[i] = cqes[i]->res;
		}
		io_uring_cq_advance(&r->ring, n);
		for (unsigned i = 0; i < n; i++) {
			if (reqs[i])
				reqs[i]->complete(reqs[i], res[i]);
		}
		total += (int)n;
		if (n < REACTOR_CQE_BATCH)
			break;
	}
	return total;
}

/* ---- timers: a list sorted by due time, ties in arming order */

void reactor_timer_arm(struct reactor *r, struct reactor_timer *t, uint64_t delay_ns,
		       reactor_timer_fn fn, void *arg)
{
	t->due_ns = monotonic_ns() + delay_ns;
	t->fn = fn;
	t->arg = arg;
	t->next = NULL;
	if (!r->timers) {
		r->timers = r->timer_tail = t;
		return;
	}
	if (t->due_ns >= r->timer_tail->due_ns) {   /* the common case: constant delays */
		r->timer_tail->next = t;
		r->timer_tail = t;
		return;
	}
	struct reactor_timer **pp = &r->timers;
	while (*pp && (*pp)->due_ns <= t->due_ns)
		pp = &(*pp)->next;
	t->next = *pp;
	*pp = t;
}

void reactor_timer_cancel(struct reactor *r, struct reactor_timer *t)
{
	struct reactor_timer *prev = NULL;
	for (struct reactor_timer *cur = r->timers; cur; prev = cur, cur = cur->next) {
		if (cur != t)
			continue;
		if (prev)
			prev->next = cur->next;
		else
			r->timers = cur->next;
		if (r->timer_tail == cur)
			r->timer_tail = prev;
		t->next = NULL;
		return;
	}
}

static int reactor_run_timers(struct reactor *r, uint64_t now)
{
	/* Detach the expired ones first so that a timer re-armed by its callback waits for
	 * the next iteration. */
	struct reactor_timer *expired = NULL, **tail = &expired;
	while (r->timers && r->timers->due_ns <= now) {
		struct reactor_timer *t = r->timers;
		r->timers = t->next;
		t->next = NULL;
		*tail = t;
		tail = &t->next;
	}
	if (!r->timers)
		r->timer_tail = NULL;
	int n = 0;
	while (expired) {
		struct reactor_timer *t = expired;
		expired = t->next;
		t->next = NULL;
		t->fn(t->arg);
		n++;
	}
	return n;
}

/* ---- pollers */

static void reactor_link_poller(struct reactor *r, struct reactor_poller *p)
{
	pthread_mutex_lock(&r->poller_lock);
	struct reactor_poller **pp = &r->pollers;
	while (*pp)
		pp = &(*pp)->next;
	*pp = p;
	pthread_mutex_unlock(&r->poller_lock);
}

static void reactor_link_poller_msg(void *arg)
{
	struct reactor_poller *p = arg;
	reactor_link_poller(tls_current, p);
}

struct reactor_poller *reactor_poller_register(struct reactor *r, const char *name,
					       reactor_poller_fn fn, void *arg, uint64_t period_ns)
{
	struct reactor_poller *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	snprintf(p->name, sizeof(p->name), "%s", name ? name : "poller");
	p->id = atomic_fetch_add(&g_poller_ids, 1);
	p->fn = fn;
	p->arg = arg;
	p->period_ns = period_ns;
	p->next_run_ns = monotonic_ns() + period_ns;
	if (period_ns)
		atomic_fetch_add(&r->timed_pollers, 1);
	else
		atomic_fetch_add(&r->active_pollers, 1);
	if (reactor_is_owner(r)) {
		reactor_link_poller(r, p);
	} else if (reactor_send_msg(r, reactor_link_poller_msg, p) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

static void reactor_mark_poller_dead(struct reactor *r, struct reactor_poller *p)
{
	pthread_mutex_lock(&r->poller_lock);   /* foreach reads dead from other threads */
	p->dead = true;
	pthread_mutex_unlock(&r->poller_lock);
	r->pollers_dirty = true;
	if (p->period_ns)
		atomic_fetch_sub(&r->timed_pollers, 1);
	else
		atomic_fetch_sub(&r->active_pollers, 1);
}

static void reactor_unregister_msg(void *arg)
{
	struct reactor_poller *p = arg;
	reactor_mark_poller_dead(tls_current, p);
}

void reactor_poller_unregister(struct reactor *r, struct reactor_poller *p)
{
	if (!p)
		return;
	if (reactor_is_owner(r)) {
		reactor_mark_poller_dead(r, p);
	} else if (reactor_send_msg(r, reactor_unregister_msg, p) < 0) {
		log_error("blockd", "msg=\"poller unregister lost\" reactor=%s poller=%s",
			  r->name, p->name);
	}
}

static void reactor_sweep_pollers(struct reactor *r)
{
	if (!r->pollers_dirty)
		return;
	pthread_mutex_lock(&r->poller_lock);
	struct reactor_poller **pp = &r->pollers;
	while (*pp) {
		struct reactor_poller *p = *pp;
		if (p->dead) {
			*pp = p->next;
			free(p);
		} else {
			pp = &p->next;
		}
	}
	r->pollers_dirty = false;
	pthread_mutex_unlock(&r->poller_lock);
}

static int reactor_run_pollers(struct reactor *r, uint64_t now)
{
	int work = 0;
	for (struct reactor_poller *p = r->pollers; p; p = p->next) {
		if (p->dead)
			continue;
		if (p->period_ns) {
			if (now < p->next_run_ns)
				continue;
			p->next_run_ns = now + p->period_ns;
		}
		int rc = p->fn(p->arg);
		atomic_fetch_add_explicit(&p->run_count, 1, memory_order_relaxed);
		if (rc > 0) {
			atomic_fetch_add_explicit(&p->busy_count, 1, memory_order_relaxed);
			work += rc;
		}
	}
	reactor_sweep_pollers(r);
	return work;
}

/* ---- the iteration */

static void reactor_epoch_enter(struct reactor *r)
{
	atomic_store(&r->epoch_seen, atomic_load(&g_epoch));
}

static void reactor_epoch_leave(struct reactor *r)
{
	atomic_store(&r->epoch_seen, REACTOR_IDLE_EPOCH);
}

static int reactor_run_once(struct reactor *r, uint64_t now)
{
	r->now_ns = now;
	int work = reactor_run_msgs(r);
	if (r->num_fds && now - r->last_fd_check_ns >= REACTOR_FD_CHECK_NS)
		work += reactor_wait_events(r, 0);
	work += reactor_reap_cqes(r);
	work += reactor_run_timers(r, now);
	work += reactor_run_pollers(r, now);
	if (io_uring_sq_ready(&r->ring)) {
		reactor_submit_sqes(r);
		work++;
	}
	return work;
}

/* How long the reactor may sleep: up to timeout_ms (< 0: no limit but the thread's),
 * and no later than the next timer or timed poller. */
static uint64_t reactor_sleep_ns(struct reactor *r, int timeout_ms, uint64_t now)
{
	uint64_t limit = timeout_ms < 0 ? (uint64_t)REACTOR_THREAD_WAIT_MS * 1000000ull
					: (uint64_t)timeout_ms * 1000000ull;
	uint64_t until = now + limit;
	if (r->timers && r->timers->due_ns < until)
		until = r->timers->due_ns;
	for (struct reactor_poller *p = r->pollers; p; p = p->next) {
		if (!p->dead && p->period_ns && p->next_run_ns < until)
			until = p->next_run_ns;
	}
	return until > now ? until - now : 0;
}

/* Frees watchers removed while their events may still have been pending. */
static void reactor_fd_collect(struct reactor *r)
{
	for (struct reactor_fd **pp = &r->fds; *pp;) {
		struct reactor_fd *w = *pp;
		if (w->dead) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

/* Waits up to ns (0: only looks) and runs the callbacks of watched fds that are ready.
 * Returns how many were run. */
static int reactor_wait_events(struct reactor *r, uint64_t ns)
{
	struct epoll_event evs[32];
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };
	int n = epoll_pwait2(r->epfd, evs, 32, &ts, NULL);
	int work = 0;
	for (int i = 0; i < n; i++) {
		uint64_t tag = evs[i].data.u64;
		if (tag == EPOLL_TAG_MSG) {
			uint64_t v;
			ssize_t got = read(r->evfd, &v, sizeof(v));
			(void)got;
		} else if (tag != EPOLL_TAG_RING) {
			struct reactor_fd *w = (struct reactor_fd *)(uintptr_t)tag;
			if (!w->dead) {
				w->fn(w->arg, evs[i].events);
				work++;
			}
		}
	}
	reactor_fd_collect(r);
	r->last_fd_check_ns = monotonic_ns();
	return work;
}

static void reactor_sleep(struct reactor *r, uint64_t ns)
{
	if (ns == 0 || io_uring_sq_ready(&r->ring))
		return;
	reactor_wait_events(r, ns);
}

struct reactor_fd *reactor_fd_add(struct reactor *r, int fd, uint32_t events, reactor_fd_fn fn,
				  void *arg)
{
	struct reactor_fd *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	*w = (struct reactor_fd){ .fd = fd, .events = events, .fn = fn, .arg = arg };
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)(uintptr_t)w };
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		free(w);
		return NULL;
	}
	w->next = r->fds;
	r->fds = w;
	r->num_fds++;
	return w;
}

int reactor_fd_modify(struct reactor *r, struct reactor_fd *w, uint32_t events)
{
	if (w->events == events)
		return 0;
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)(uintptr_t)w };
	if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
		return -errno;
	w->events = events;
	return 0;
}

void reactor_fd_remove(struct reactor *r, struct reactor_fd *w)
{
	if (!w || w->dead)
		return;
	epoll_ctl(r->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->dead = true;
	r->num_fds--;
}

/* A reactor that found nothing to do keeps polling (does not sleep) while its last work is
 * less than poll_ns ago. */
static bool reactor_keep_polling(const struct reactor *r, uint64_t now)
{
	uint64_t poll = atomic_load_explicit(&r->poll_ns, memory_order_relaxed);
	return poll && now - r->last_work_ns < poll;
}

#define REACTOR_POLL_START_NS 4000ull

/* After a sleep of slept ns that followed poll_ns of polling (QEMU's IOThread polling does
 * the same): when the sleep ended in work and the idle gap was within poll_max_ns, polling
 * longer would have found it without a wake-up, so poll_ns doubles (from 4 µs, up to
 * poll_max_ns); when the sleep alone was longer than poll_max_ns, the polling was wasted, so
 * it halves (below 4 µs: 0). A wake-up without work (a message eventfd left set by messages
 * run while polling) says nothing about how soon work comes. */
static void reactor_adapt_poll(struct reactor *r, uint64_t slept, bool work)
{
	if (!r->poll_max_ns)
		return;
	uint64_t poll = atomic_load_explicit(&r->poll_ns, memory_order_relaxed);
	if (slept > r->poll_max_ns) {
		poll /= 2;
		if (poll < REACTOR_POLL_START_NS)
			poll = 0;
	} else if (work && poll + slept <= r->poll_max_ns && poll < r->poll_max_ns) {
		poll = poll ? poll * 2 : REACTOR_POLL_START_NS;
		if (poll > r->poll_max_ns)
			poll = r->poll_max_ns;
	}
	atomic_store_explicit(&r->poll_ns, poll, memory_order_relaxed);
}

int reactor_poll(struct reactor *r, int timeout_ms)
{
	struct reactor *prev = tls_current;
	tls_current = r;
	reactor_epoch_enter(r);
	uint64_t t0 = monotonic_ns();
	int work = reactor_run_once(r, t0);
	uint64_t t1 = monotonic_ns();
	atomic_fetch_add_explicit(work ? &r->busy_ns : &r->idle_ns, t1 - t0,
				  memory_order_relaxed);
	if (work)
		r->last_work_ns = t1;
	if (work == 0 && timeout_ms != 0 && !atomic_load(&r->stop) &&
	    !reactor_keep_polling(r, t1)) {
		uint64_t ns = reactor_sleep_ns(r, timeout_ms, t1);
		reactor_epoch_leave(r);
		reactor_sleep(r, ns);
		reactor_epoch_enter(r);
		uint64_t t2 = monotonic_ns();
		atomic_fetch_add_explicit(&r->idle_ns, t2 - t1, memory_order_relaxed);
		work = reactor_run_once(r, t2);
		reactor_adapt_poll(r, t2 - t1, work > 0);
		if (work)
			r->last_work_ns = t2;
		atomic_fetch_add_explicit(work ? &r->busy_ns : &r->idle_ns, monotonic_ns() - t2,
					  memory_order_relaxed);
	}
	reactor_epoch_leave(r);
	tls_current = prev;
	return work;
}

/* ---- introspection */

struct reactor *reactor_current(void)
{
	return tls_current;
}

unsigned reactor_id(const struct reactor *r)
{
	return r->id;
}

const char *reactor_name(const struct reactor *r)
{
	return r->name;
}

void reactor_get_stats(struct reactor *r, struct reactor_stats *out)
{
	out->name = r->name;
	out->id = r->id;
	out->busy_ns = atomic_load_explicit(&r->busy_ns, memory_order_relaxed);
	out->idle_ns = atomic_load_explicit(&r->idle_ns, memory_order_relaxed);
	out->active_pollers = atomic_load_explicit(&r->active_pollers, memory_order_relaxed);
	out->timed_pollers = atomic_load_explicit(&r->timed_pollers, memory_order_relaxed);
	out->poll_ns = atomic_load_explicit(&r->poll_ns, memory_order_relaxed);
}

void reactor_foreach_poller(struct reactor *r,
			    void (*fn)(const struct reactor_poller_stats *s, void *arg), void *arg)
{
	pthread_mutex_lock(&r->poller_lock);
	for (struct reactor_poller *p = r->pollers; p; p = p->next) {
		if (p->dead)
			continue;
		struct reactor_poller_stats s = {
			.name = p->name,
			.id = p->id,
			.run_count = atomic_load_explicit(&p->run_count, memory_order_relaxed),
			.busy_count = atomic_load_explicit(&p->busy_count, memory_order_relaxed),
			.period_ns = p->period_ns,
		};
		fn(&s, arg);
	}
	pthread_mutex_unlock(&r->poller_lock);
}

/* ---- context slots and grace periods, for the layers above */

int reactor_ctx_register(reactor_ctx_dtor dtor)
{
	pthread_mutex_lock(&g_ctx_lock);
	int slot = g_ctx_slots < REACTOR_CTX_SLOTS ? g_ctx_slots++ : -1;
	if (slot >= 0)
		g_ctx_dtors[slot] = dtor;
	pthread_mutex_unlock(&g_ctx_lock);
	return slot;
}

void *reactor_ctx_get(struct reactor *r, int slot)
{
	return slot >= 0 && slot < REACTOR_CTX_SLOTS ? r->ctx[slot] : NULL;
}

void reactor_ctx_set(struct reactor *r, int slot, void *ctx)
{
	if (slot >= 0 && slot < REACTOR_CTX_SLOTS)
		r->ctx[slot] = ctx;
}

uint64_t reactor_epoch_begin(void)
{
	return atomic_fetch_add(&g_epoch, 1) + 1;
}

bool reactor_epoch_passed(uint64_t epoch)
{
	bool passed = true;
	pthread_mutex_lock(&g_reactors_lock);
	for (struct reactor *r = g_reactors; r; r = r->next_all) {
		uint64_t seen = atomic_load(&r->epoch_seen);
		if (seen != REACTOR_IDLE_EPOCH && seen < epoch) {
			passed = false;
			break;
		}
	}
	pthread_mutex_unlock(&g_reactors_lock);
	return passed;
}

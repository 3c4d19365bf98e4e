/* reactor.h — an event loop that owns IO: cross-thread messages, pollers, timers and one
 * io_uring per reactor. Work submitted on a reactor completes (its callback runs) on that
 * same reactor. A reactor can run on its own thread (reactor_start) or be
 * driven by the calling thread (reactor_poll), which is what the unit tests do. The reactor
 * knows nothing of what runs on it: layers above keep per-reactor state in context slots. */
#ifndef BLOCKD_REACTOR_H
#define BLOCKD_REACTOR_H

#include <stdbool.h>
#include <stdint.h>

struct reactor;
struct io_uring;

typedef void (*reactor_msg_fn)(void *arg);
/* A poller returns > 0 when it did work, 0 when it found nothing to do. */
typedef int (*reactor_poller_fn)(void *arg);
typedef void (*reactor_timer_fn)(void *arg);

struct reactor_poller;

struct reactor_timer {
	uint64_t due_ns;                /* CLOCK_MONOTONIC */
	reactor_timer_fn fn;
	void *arg;
	struct reactor_timer *next;     /* owned by the reactor while armed */
};

/* Poller statistics, as thread_get_pollers reports them. */
struct reactor_poller_stats {
	const char *name;
	uint64_t id;
	uint64_t run_count;
	uint64_t busy_count;
	uint64_t period_ns;             /* 0 for an active (every-iteration) poller */
};

struct reactor_stats {
	const char *name;
	unsigned id;
	uint64_t busy_ns, idle_ns;
	unsigned active_pollers, timed_pollers;
	uint64_t poll_ns;               /* event mode's adaptive polling window now */
};

/* Creates a reactor; no thread yet. uring_entries: size of its io_uring SQ (0 = default 256). */
struct reactor *reactor_create(const char *name, unsigned id, unsigned uring_entries);
/* Runs reactor_poll in a loop on a new thread until reactor_stop. busy_poll: spin instead of
 * sleeping in epoll when idle. */
int reactor_start(struct reactor *r, bool busy_poll);
/* Event mode's adaptive polling (before reactor_start; 0, the default: none): after work, an
 * idle reactor keeps polling for a while before it sleeps, adapted between 0 and ns, so that
 * a request which follows a completion within microseconds does not wait for a wake-up. */
void reactor_set_poll_max(struct reactor *r, uint64_t ns);
void reactor_stop(struct reactor *r);          /* asks the thread to leave and joins it */
void reactor_destroy(struct reactor *r);        /* after stop; frees everything */

/* Thread-safe: fn(arg) runs on the reactor's thread at its next iteration. */
int reactor_send_msg(struct reactor *r, reactor_msg_fn fn, void *arg);
/* One iteration on the calling thread: messages, io_uring completions, expired timers,
 * pollers, then submits queued io_uring SQEs in one batch. Waits at most timeout_ms for work
 * when there is none (0 = do not wait). Returns the amount of work done. */
int reactor_poll(struct reactor *r, int timeout_ms);

struct reactor *reactor_current(void);          /* the reactor this thread is running, or NULL */
unsigned reactor_id(const struct reactor *r);
const char *reactor_name(const struct reactor *r);

/* The reactor's io_uring. SQEs obtained from it are submitted at the end of the iteration
 * (batched); io_uring_sqe_set_data must point at a struct reactor_uring_req. */
struct io_uring *reactor_uring(struct reactor *r);
struct reactor_uring_req {
	void (*complete)(struct reactor_uring_req *req, int res);
};
/* Get an SQE, flushing the batch first if the SQ is full. NULL only when the ring is wedged. */
struct io_uring_sqe *reactor_get_sqe(struct reactor *r);

struct reactor_poller *reactor_poller_register(struct reactor *r, const char *name,
					       reactor_poller_fn fn, void *arg, uint64_t period_ns);
void reactor_poller_unregister(struct reactor *r, struct reactor_poller *p);

/* Watched file descriptors: fn(arg, epoll events) runs on the reactor when fd is ready.
 * Only from the reactor's own thread (or before it starts). A watcher removed from inside
 * a callback is freed safely after the current round of events. */
struct reactor_fd;
typedef void (*reactor_fd_fn)(void *arg, uint32_t events);
struct reactor_fd *reactor_fd_add(struct reactor *r, int fd, uint32_t events, reactor_fd_fn fn,
				  void *arg);
int reactor_fd_modify(struct reactor *r, struct reactor_fd *w, uint32_t events);
void reactor_fd_remove(struct reactor *r, struct reactor_fd *w);

/* Timers: only from the reactor's own thread. */
void reactor_timer_arm(struct reactor *r, struct reactor_timer *t, uint64_t delay_ns,
		       reactor_timer_fn fn, void *arg);
void reactor_timer_cancel(struct reactor *r, struct reactor_timer *t);

/* Snapshot of statistics; safe from any thread (values read with relaxed atomics). */
void reactor_get_stats(struct reactor *r, struct reactor_stats *out);
/* Calls fn for every poller; only valid while the reactor is not concurrently (un)registering
 * pollers, i.e. pollers are registered at setup. */
void reactor_foreach_poller(struct reactor *r,
			    void (*fn)(const struct reactor_poller_stats *s, void *arg), void *arg);

/* Per-reactor context slots: how a layer above (the bdev layer's IO pools) keeps state per
 * reactor without the reactor knowing it. reactor_ctx_register reserves a slot in every
 * reactor, present and future, and returns its index (or -1 when all REACTOR_CTX_SLOTS are
 * taken); reactor_destroy calls dtor(r, ctx) for a slot holding a non-NULL ctx, after the
 * reactor's thread stopped and before its pollers are freed. get/set from the reactor's own
 * thread (or while it does not run). */
#define REACTOR_CTX_SLOTS 8
typedef void (*reactor_ctx_dtor)(struct reactor *r, void *ctx);
int reactor_ctx_register(reactor_ctx_dtor dtor);
void *reactor_ctx_get(struct reactor *r, int slot);
void reactor_ctx_set(struct reactor *r, int slot, void *ctx);

/* Grace periods: after unpublishing a pointer, take an epoch; once reactor_epoch_passed
 * says so, no reactor can still be using what it read before (each reactor is idle or
 * started a new iteration since). */
uint64_t reactor_epoch_begin(void);
bool reactor_epoch_passed(uint64_t epoch);

uint64_t monotonic_ns(void);
/* On a reactor's thread, when its current iteration began (one clock read per iteration, not
 * one per IO: the IO path's timestamps are this coarse, within one iteration's length);
 * elsewhere monotonic_ns(). */
uint64_t reactor_now_ns(void);

#endif

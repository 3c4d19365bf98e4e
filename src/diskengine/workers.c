/* workers.c — a loop's pool of workers, each with its own target connection (see
 * workers.h). One mutex and one condition per pool, held only to hand jobs over — never
 * across a call. */
#include "workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "export_driver.h"
#include "log.h"
#include "target.h"

enum worker_state { W_IDLE, W_ASSIGNED, W_FINISHED };

struct worker {
	struct workers *pool;
	pthread_t thread;
	bool started;
	struct target target;
	enum worker_state state;
	struct job job;
	char calling[48];            /* the method of the call in flight; "" when none */
};

struct workers {
	const char *loop;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
	int done_fd;
	size_t n;
	struct worker *w;
	const struct export_driver *exports;
};

/* target_call's hook: which call the worker waits for, for the loop's wedge reports. */
static void on_call(void *arg, const char *method)
{
	struct worker *w = arg;
	pthread_mutex_lock(&w->pool->lock);
	snprintf(w->calling, sizeof(w->calling), "%s", method);
	pthread_mutex_unlock(&w->pool->lock);
}

static int run_action(struct target *t, struct job *job, const struct action *a)
{
	switch (a->kind) {
	case ACT_CREATE_VOLUME:
		return job->spec.id == a->vol ? target_create_volume(t, &job->spec) : -ENOENT;
	case ACT_CREATE_EXPORT: {
		int rc = t->exports->create(t, a->vm, a->vol);
		if (rc == 0)
			t->exports->address(t, a->vm, job->address, sizeof(job->address));
		return rc;
	}
	case ACT_DELETE_EXPORT:
		return t->exports->remove(t, a->vm);
	case ACT_DELETE_VOLUME:
	case ACT_RELEASE_VOLUME:
		return target_delete_volume(t, a->vol, a->kind == ACT_RELEASE_VOLUME);
	default:
		return -EINVAL;       /* the loop's own (the gate, conflicts): no call */
	}
}

static void run_job(struct target *t, struct job *job)
{
	job->done = 0;
	job->rc = 0;
	for (; job->done < job->n; job->done++) {
		t->last_error[0] = '\0';
		int rc = run_action(t, job, &job->acts[job->done]);
		if (rc < 0) {
			job->rc = rc;
			snprintf(job->rpc, sizeof(job->rpc), "%s", t->last_method);
			snprintf(job->error, sizeof(job->error), "%s",
				 t->last_error[0] ? t->last_error : strerror(-rc));
			return;
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct workers *p = w->pool;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stopping && w->state != W_ASSIGNED)
			pthread_cond_wait(&p->wake, &p->lock);
		if (p->stopping)
			break;
		pthread_mutex_unlock(&p->lock);
		run_job(&w->target, &w->job);       /* every call with rpc_timeout */
		pthread_mutex_lock(&p->lock);
		w->calling[0] = '\0';
		w->state = W_FINISHED;
		eventfd_write(p->done_fd, 1);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct workers *workers_start(const struct diskengine_config *cfg, const char *loop,
			      size_t n)
{
	struct workers *p = calloc(1, sizeof(*p));
	struct worker *ws = calloc(n, sizeof(*ws));
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!p || !ws || fd < 0) {
		free(p);
		free(ws);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	*p = (struct workers){ .loop = loop, .done_fd = fd, .n = n, .w = ws,
			       .exports = &export_vhost_blk };
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	for (size_t i = 0; i < n; i++) {
		struct worker *w = &ws[i];
		w->pool = p;
		int rc = target_init(&w->target, cfg, p->exports);
		if (rc == 0) {
			/* A worker idles between jobs longer than blockd keeps an idle client. */
			jrpc_client_set_replace_closed(w->target.rpc, true);
			w->target.on_call = on_call;
			w->target.on_call_arg = w;
			rc = -pthread_create(&w->thread, NULL, worker_main, w);
			w->started = rc == 0;
		}
		if (rc < 0) {
			log_error("diskengine", "loop=%s msg=\"cannot start a worker\" error=\"%s\"",
				  loop, strerror(-rc));
			workers_stop(p);
			return NULL;
		}
	}
	return p;
}

int workers_done_fd(const struct workers *p)
{
	return p->done_fd;
}

const char *workers_export_kind(const struct workers *p)
{
	return p->exports->kind;
}

bool workers_submit(struct workers *p, const struct job *job)
{
	bool taken = false;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n && !taken; i++) {
		struct worker *w = &p->w[i];
		if (w->state != W_IDLE)
			continue;
		w->job = *job;
		w->state = W_ASSIGNED;
		taken = true;
	}
	if (taken)
		pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	return taken;
}

size_t workers_collect(struct workers *p, struct job *out, size_t max)
{
	eventfd_t drained;
	eventfd_read(p->done_fd, &drained);     /* non-blocking: EAGAIN when none */
	size_t n = 0;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n && n < max; i++) {
		struct worker *w = &p->w[i];
		if (w->state != W_FINISHED)
			continue;
		out[n++] = w->job;
		w->state = W_IDLE;
	}
	pthread_mutex_unlock(&p->lock);
	return n;
}

bool workers_calling(struct workers *p, unsigned vol, char *rpc, size_t len)
{
	bool found = false;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n && !found; i++) {
		struct worker *w = &p->w[i];
		if (w->state == W_ASSIGNED && w->job.n && w->job.acts[0].vol == vol) {
			snprintf(rpc, len, "%s", w->calling);
			found = true;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return found;
}

void workers_stop(struct workers *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->wake);
	/* A worker in a call (ASSIGNED) sees stopping once its call is over. */
	bool abandoned = false;
	for (size_t i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];
		if (w->started && w->state == W_ASSIGNED) {
			pthread_detach(w->thread);
			w->started = false;
			abandoned = true;
			log_warn("diskengine", "loop=%s msg=\"not waiting for a call in flight\" "
				 "vol=%u rpc=%s", p->loop, w->job.acts[0].vol, w->calling);
		}
	}
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->n; i++)
		if (p->w[i].started)
			pthread_join(p->w[i].thread, NULL);   /* idle: they exit at once */
	if (abandoned)
		return;         /* a worker may still touch the pool: it goes with the process */
	for (size_t i = 0; i < p->n; i++)
		target_fini(&p->w[i].target);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	close(p->done_fd);
	free(p->w);
	free(p);
}

/* metrics_store.c — the store probe of the metrics endpoint, on a thread of its own with a
 * deadline for its caller (metrics_store.h). */
#include "metrics_store.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "array.h"
#include "clock.h"
#include "store.h"
#include "store_root.h"

struct metrics_store {
	pthread_mutex_t lock;
	pthread_cond_t wake, done;
	pthread_t thread;
	bool started, asked, busy, stopping;
	char root[4096], url[4096 + 16];
	/* the last query's answer */
	int rc;
	char err[256];
	struct vm_count *counts;
	size_t n;
};

static int add_count(struct vm_count **counts, size_t *n, size_t *cap, const char *host,
		     const char *state)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*counts)[i].host, host) && !strcmp((*counts)[i].state, state)) {
			(*counts)[i].count++;
			return 0;
		}
	if (array_reserve_one(counts, cap, *n, sizeof(**counts)) < 0)
		return -ENOMEM;
	struct vm_count *c = &(*counts)[(*n)++];
	snprintf(c->host, sizeof(c->host), "%s", host);
	snprintf(c->state, sizeof(c->state), "%s", state);
	c->count = 1;
	return 0;
}

/* One query on the thread's connection (opened, and re-opened after a failure). */
static int query(struct store **s, const char *root, const char *url, struct vm_count **out,
		 size_t *n, char *err, size_t errlen)
{
	if (!*s && !(*s = store_open_for_root(url, root, STORE_ROOT_OPEN, err, errlen)))
		return errno ? -errno : -EIO;
	struct store_vm *vms = NULL;
	size_t nvms = 0, cap = 0;
	int rc = store_vm_list(*s, NULL, true, &vms, &nvms);
	if (rc < 0) {
		snprintf(err, errlen, "%s", store_error(*s));
		store_close(*s);
		*s = NULL;
		return rc;
	}
	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < nvms && rc == 0; i++)
		rc = add_count(out, n, &cap, vms[i].host, vms[i].state);
	free(vms);
	return rc;
}

static void *probe_main(void *arg)
{
	struct metrics_store *m = arg;
	struct store *s = NULL;
	pthread_mutex_lock(&m->lock);
	for (;;) {
		while (!m->asked && !m->stopping)
			pthread_cond_wait(&m->wake, &m->lock);
		if (m->stopping)
			break;
		m->asked = false;
		pthread_mutex_unlock(&m->lock);
		struct vm_count *counts = NULL;
		size_t n = 0;
		char err[256] = "";
		int rc = query(&s, m->root, m->url, &counts, &n, err, sizeof(err));
		pthread_mutex_lock(&m->lock);
		free(m->counts);
		m->counts = counts;
		m->n = n;
		m->rc = rc;
		snprintf(m->err, sizeof(m->err), "%s", err);
		m->busy = false;
		pthread_cond_broadcast(&m->done);
		if (m->stopping)
			break;
	}
	pthread_mutex_unlock(&m->lock);
	store_close(s);
	return NULL;
}

struct metrics_store *metrics_store_new(const char *root, const char *store_url)
{
	struct metrics_store *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->done, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&m->wake, NULL);
	snprintf(m->root, sizeof(m->root), "%s", root);
	snprintf(m->url, sizeof(m->url), "%s", store_url);
	return m;
}

void metrics_store_free(struct metrics_store *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	bool busy = m->busy, started = m->started;
	m->stopping = true;
	pthread_cond_signal(&m->wake);
	pthread_mutex_unlock(&m->lock);
	if (busy) {             /* a query stuck in the store: it finishes on its own */
		pthread_detach(m->thread);
		return;          /* m stays with the thread, which exits after the query */
	}
	if (started)
		pthread_join(m->thread, NULL);
	free(m->counts);
	free(m);
}

int metrics_store_vm_counts(struct metrics_store *m, int timeout_ms, struct vm_count **out,
			    size_t *n, char *err, size_t errlen)
{
	struct timespec until = monotonic_after_ms(timeout_ms);
	pthread_mutex_lock(&m->lock);
	if (!m->started) {
		int rc = -pthread_create(&m->thread, NULL, probe_main, m);
		if (rc < 0) {
			pthread_mutex_unlock(&m->lock);
			snprintf(err, errlen, "cannot start the store probe: %s", strerror(-rc));
			return rc;
		}
		m->started = true;
	}
	if (!m->busy) {              /* else: the query still running is this one's */
		m->busy = m->asked = true;
		pthread_cond_signal(&m->wake);
	}
	int rc = 0;
	while (m->busy && rc == 0)
		rc = pthread_cond_timedwait(&m->done, &m->lock, &until);
	if (m->busy) {
		pthread_mutex_unlock(&m->lock);
		snprintf(err, errlen, "the store did not answer within %d ms", timeout_ms);
		return -ETIMEDOUT;
	}
	rc = m->rc;
	snprintf(err, errlen, "%s", m->err);
	*out = NULL;
	*n = 0;
	if (rc == 0 && m->n) {
		*out = malloc(m->n * sizeof(**out));
		if (!*out)
			rc = -ENOMEM;
		else
			memcpy(*out, m->counts, m->n * sizeof(**out));
		*n = *out ? m->n : 0;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

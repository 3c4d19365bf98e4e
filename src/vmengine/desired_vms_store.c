/* desired_vms_store.c — vmengine's desired-state source backed by the store (see
 * desired_vms.h). Two connections, one per thread that uses it (store.h): the main
 * thread's for snapshots, and the reporter thread's for reports. A VM's worker only puts its
 * report in a bounded queue, so a slow or locked store never holds up a worker (no lock is
 * held across I/O); the reporter also registers the host and sends its heartbeat. When the
 * queue is full the oldest report that is not notable is dropped (it only refreshed the VM's
 * row, which the VM's next report sets whole).
 * destroy() lets the reporter drain the queue, for at most DRAIN_MAX_MS, then stops it. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deadline_io.h"
#include "desired_vms.h"
#include "log.h"
#include "vm_disk.h"
#include "store.h"

#define REPORT_QUEUE_MAX 1024
#define DRAIN_MAX_MS 10000

struct report {
	struct vm_state st;
	bool notable;
	bool disk_event;                 /* the disk's connection changed */
	bool migration_event;            /* a migration's phase changed */
};

struct desired_store {
	struct desired_vms ops;
	struct store *store;             /* the main thread's */
	char host[STORE_NAME_MAX];
	struct store_host self;          /* what the host registers: capacity and limits */
	bool registered;
	int64_t heartbeat_ms;            /* monotonic: the last heartbeat sent */

	struct store *rstore;            /* the reporter thread's */
	pthread_t reporter;
	pthread_mutex_t lock;            /* guards the queue and `stopping`; never held over I/O */
	pthread_cond_t wake;
	struct report queue[REPORT_QUEUE_MAX];   /* a ring: head, n */
	size_t head, n;
	bool stopping;
	unsigned long dropped;
};

/* Its export for this host: the volume's own, or the one made here for an incoming
 * migration. */
static void disk_from_export(const char *path, bool exported, struct vm_spec *s)
{
	/* A socket path longer than sun_path could not be connected to: not ready. */
	bool fits = path[0] && strlen(path) < sizeof(s->disk_vhost);
	if (fits)
		memcpy(s->disk_vhost, path, strlen(path) + 1);
	s->disk_ready = fits && exported;
}

static void spec_from_rows(const struct store_vm *vm, const struct store_volume *vol,
			   const char *host, struct vm_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->id = (unsigned)vm->id;
	snprintf(s->name, sizeof(s->name), "%s", vm->name);
	memcpy(s->uuid, vm->uuid, sizeof(s->uuid));
	s->vcpus = vm->vcpus;
	s->memory_mb = vm->memory_mb;
	snprintf(s->kernel, sizeof(s->kernel), "%s", vm->kernel);
	snprintf(s->initrd, sizeof(s->initrd), "%s", vm->initrd);
	snprintf(s->append, sizeof(s->append), "%s", vm->append);
	s->num_queues = 1;
	if (vm_desired_parse(vm->desired, &s->desired) < 0)
		s->desired = DESIRED_TERMINATED;       /* the store validates it; never launch */
	s->on_crash = !strcmp(vm->on_crash, "restart") ? ON_CRASH_RESTART : ON_CRASH_STOP;
	s->generation = vm->generation;
	struct vm_spec_migration *m = &s->mig;
	if (vm_mig_phase_parse(vm->mig.phase, &m->phase) < 0)
		m->phase = MIG_FAILED;               /* the store validates it */
	snprintf(m->to, sizeof(m->to), "%s", vm->mig.to);
	m->incoming = vm->mig.to[0] && !strcmp(vm->mig.to, host) && strcmp(vm->host, host);
	m->started_ms = vm->mig.started_ms;
	snprintf(m->uri, sizeof(m->uri), "%s", vm->mig.uri);
	if (!vol)
		return;
	if (m->incoming)
		disk_from_export(vol->mig_export_path, !strcmp(vol->mig_host, host) &&
				 !strcmp(vol->mig_state, volume_state_name(VOLUME_EXPORTED)), s);
	else
		disk_from_export(vol->export_path,
				 !strcmp(vol->state, volume_state_name(VOLUME_EXPORTED)), s);
}

static int store_snapshot(struct desired_vms *src, struct vm_spec **specs, size_t *n)
{
	struct desired_store *d = (struct desired_store *)src;
	struct store_vm *vms = NULL;
	struct store_volume *vols = NULL;
	size_t nvms = 0, nvols = 0;
	/* This host's VMs and those migrating to it, with their volumes: selected by host in
	 * the store, not the fleet's every row each tick. */
	int rc = store_vm_list_work(d->store, d->host, &vms, &nvms);
	if (rc == 0)
		rc = store_volume_list_work(d->store, d->host, &vols, &nvols);
	if (rc < 0) {
		log_warn("vmengine", "msg=\"store unavailable; keeping the last desired state\" "
			 "error=\"%s\"", store_error(d->store));
		free(vms);
		return rc;
	}
	*specs = calloc(nvms ? nvms : 1, sizeof(**specs));
	*n = 0;
	for (size_t i = 0; *specs && i < nvms; i++) {
		if (strcmp(vms[i].host, d->host) && strcmp(vms[i].mig.to, d->host))
			continue;
		const struct store_volume *vol = NULL;
		for (size_t j = 0; j < nvols && !vol; j++)
			if (vols[j].id == vms[i].volume_id)
				vol = &vols[j];
		spec_from_rows(&vms[i], vol, d->host, &(*specs)[(*n)++]);
	}
	free(vms);
	free(vols);
	return *specs ? 0 : -ENOMEM;
}

static int store_change_fd(struct desired_vms *src)
{
	return -1;      /* polled every tick */
}

static void store_changed(struct desired_vms *src)
{
}

static void add_event(struct desired_store *d, unsigned id, const char *level, const char *msg)
{
	if (store_event_add(d->rstore, d->host, "vmengine", id, level, msg) < 0)
		log_warn("vmengine", "vm=%u msg=\"cannot add an event to the store\" error=\"%s\"",
			 id, store_error(d->rstore));
}

/* A migration's step in the store (docs/vmengine.md): the source writes its phases (failed
 * ends the migration), the destination where it listens and, once its QEMU runs, that it
 * took the VM over (the VM and its volume move to this host). Each phase is an event with
 * its time since the migration's start. */
static void report_migration(struct desired_store *d, const struct vm_state *st, bool step)
{
	const struct vm_migration *m = &st->mig;
	char info[256] = "";
	if (m->downtime_ms >= 0)
		snprintf(info, sizeof(info), "total %lld ms, downtime %lld ms",
			 (long long)m->total_ms, (long long)m->downtime_ms);
	else if (m->transferred || m->remaining)
		snprintf(info, sizeof(info), "transferred %llu MiB, remaining %llu MiB",
			 (unsigned long long)(m->transferred >> 20),
			 (unsigned long long)(m->remaining >> 20));
	int rc = 0;
	const char *what = "";
	if (m->role == MIG_ROLE_SOURCE) {
		what = "phase";
		rc = store_vm_migration_phase(d->rstore, st->id, m->peer, vm_mig_phase_name(m->phase),
					      m->since_ms, info[0] ? info : NULL,
					      m->error[0] ? m->error : NULL,
					      m->phase == MIG_FAILED);
	} else if (m->role == MIG_ROLE_DEST && st->state == VM_RUNNING) {
		what = "finish";
		rc = store_vm_migration_finish(d->rstore, st->id, d->host,
					       m->phase == MIG_RESTART_DEST ? "failed" : "completed");
	} else if (m->role == MIG_ROLE_DEST && m->uri[0]) {
		what = "uri";
		rc = store_vm_migration_uri(d->rstore, st->id, d->host, m->uri);
	}
	if (rc < 0)
		log_warn("vmengine", "vm=%u msg=\"cannot report the migration to the store\" "
			 "step=%s error=\"%s\"", st->id, what, store_error(d->rstore));
	if (!step)
		return;
	char msg[512];
	double t = (double)(m->since_ms - m->started_ms) / 1000.0;
	snprintf(msg, sizeof(msg), "migration %s%s%s%s (%s, at %.1f s)%s%s%s%s",
		 m->role == MIG_ROLE_DEST && st->state == VM_RUNNING ? "taken over: "
		 : "", vm_mig_phase_name(m->phase),
		 m->role == MIG_ROLE_SOURCE ? " to " : "",
		 m->role == MIG_ROLE_SOURCE ? m->peer : "", vm_mig_role_name(m->role),
		 t < 0 ? 0.0 : t, info[0] ? ", " : "", info, m->error[0] ? ": " : "", m->error);
	add_event(d, st->id, m->phase == MIG_FAILED || m->phase == MIG_FAILING ||
		  m->phase == MIG_RESTART_DEST ? "warn" : "info", msg);
}

/* The reporter thread: one report at a time, the lock released around the store calls. */
static void send_report(struct desired_store *d, const struct report *r)
{
	const struct vm_state *st = &r->st;
	if (st->mig.role != MIG_ROLE_NONE)
		report_migration(d, st, r->migration_event);
	/* The destination's QEMU is not the VM's until it took the VM over: the row stays the
	 * source's; and once the source's QEMU is gone (completed, restart-dest) the row is the
	 * destination's to write. */
	if (st->mig.role == MIG_ROLE_DEST ||
	    (st->mig.role == MIG_ROLE_SOURCE &&
	     (st->mig.phase == MIG_COMPLETED || st->mig.phase == MIG_RESTART_DEST)))
		return;
	/* Written only while the VM is this host's: a report still queued when a migration
	 * moved the VM away changes nothing (-ESTALE, docs/fleet.md *Claims*). */
	int rc = store_vm_report_as(d->rstore, d->host, st->id, vm_state_name(st->state),
				    st->reason, st->pid);
	if (rc == -ESTALE) {
		log_info("vmengine", "vm=%u msg=\"report dropped: the VM is no longer this "
			 "host's\" detail=\"%s\"", st->id, store_error(d->rstore));
		return;
	}
	if (rc < 0)
		log_warn("vmengine", "vm=%u msg=\"cannot report to the store\" error=\"%s\"", st->id,
			 store_error(d->rstore));
	const char *disk = st->disk == VM_DISK_UP ? "up" : st->disk == VM_DISK_DOWN ? "down" : "";
	rc = store_vm_report_disk_as(d->rstore, d->host, st->id, disk, st->disk_since_ms);
	if (rc < 0 && rc != -ESTALE)
		log_warn("vmengine", "vm=%u msg=\"cannot report the disk to the store\" "
			 "error=\"%s\"", st->id, store_error(d->rstore));
	if (r->disk_event) {
		bool up = st->disk == VM_DISK_UP;
		add_event(d, st->id, up ? "info" : "warn", vm_disk_event_name(st->disk));
		return;
	}
	if (!r->notable || r->migration_event)
		return;
	char msg[256];
	snprintf(msg, sizeof(msg), "%s%s%s%s%s", vm_state_name(st->state),
		 st->escalation != ESC_NONE ? " escalation=" : "",
		 st->escalation != ESC_NONE ? vm_escalation_name(st->escalation) : "",
		 st->reason[0] ? " reason=" : "", st->reason);
	bool bad = st->state == VM_ERROR || st->escalation >= ESC_TERM;
	add_event(d, st->id, bad ? "warn" : "info", msg);
}

/* The host's row, on the reporter's connection (a slow or locked store never holds up the
 * main loop): registered with its capacity until that succeeds once, then its heartbeat;
 * failures only logged (the store may be down; `berth host list` then shows the host DOWN,
 * which is what it looks like from there). */
static void heartbeat(struct desired_store *d)
{
	d->heartbeat_ms = monotonic_ms();
	int rc = d->registered ? store_host_seen(d->rstore, d->host)
			       : store_host_register(d->rstore, &d->self);
	if (rc < 0)
		log_warn("vmengine", "msg=\"cannot %s the host in the store\" error=\"%s\"",
			 d->registered ? "send the heartbeat of" : "register", store_error(d->rstore));
	else
		d->registered = true;
}

/* Sends the heartbeat when it is due, also between reports, then waits for a report or
 * for the next heartbeat, whichever comes first (the lock held, released around I/O). */
static void wait_work(struct desired_store *d)
{
	for (;;) {
		int64_t due = d->heartbeat_ms + HOST_HEARTBEAT_MS, now = monotonic_ms();
		if (now >= due && !d->stopping) {
			pthread_mutex_unlock(&d->lock);
			heartbeat(d);
			pthread_mutex_lock(&d->lock);
			continue;
		}
		if (d->n > 0 || d->stopping)
			return;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t ns = ts.tv_nsec + (due - now) * 1000000;
		ts.tv_sec += ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		pthread_cond_timedwait(&d->wake, &d->lock, &ts);
	}
}

static void *reporter_main(void *arg)
{
	struct desired_store *d = arg;
	int64_t drain_deadline = 0;
	pthread_mutex_lock(&d->lock);
	for (;;) {
		wait_work(d);
		if (d->stopping && !drain_deadline)
			drain_deadline = deadline_after_ms(DRAIN_MAX_MS);
		if (d->n == 0)
			break;
		if (drain_deadline && deadline_remaining_ms(drain_deadline) <= 0) {
			log_warn("vmengine", "msg=\"reports left unsent at exit\" count=%zu", d->n);
			d->n = 0;
			break;
		}
		struct report r = d->queue[d->head];
		d->head = (d->head + 1) % REPORT_QUEUE_MAX;
		d->n--;
		pthread_mutex_unlock(&d->lock);
		send_report(d, &r);
		pthread_mutex_lock(&d->lock);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* Queue slot i (0: the oldest). */
static struct report *slot(struct desired_store *d, size_t i)
{
	return &d->queue[(d->head + i) % REPORT_QUEUE_MAX];
}

/* Called by the VMs' workers: never waits for the store. */
static void store_report(struct desired_vms *src, const struct vm_state *st,
			 enum vm_report_kind kind)
{
	struct desired_store *d = (struct desired_store *)src;
	bool dropped = false, victim_notable = false;
	unsigned victim_id = 0;
	unsigned long dropped_total = 0;
	pthread_mutex_lock(&d->lock);
	if (d->n == REPORT_QUEUE_MAX) {
		size_t victim = 0;       /* the oldest not notable; the oldest of all if none */
		for (size_t i = 0; i < d->n; i++) {
			if (!slot(d, i)->notable) {
				victim = i;
				break;
			}
		}
		victim_id = slot(d, victim)->st.id;
		victim_notable = slot(d, victim)->notable;
		for (size_t i = victim; i + 1 < d->n; i++)
			*slot(d, i) = *slot(d, i + 1);
		d->n--;
		dropped = true;
		dropped_total = ++d->dropped;
	}
	*slot(d, d->n) = (struct report){ .st = *st, .notable = kind != VM_REPORT_REFRESH,
					  .disk_event = kind == VM_REPORT_DISK,
					  .migration_event = kind == VM_REPORT_MIGRATION };
	d->n++;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
	if (dropped)
		log_warn("vmengine", "vm=%u msg=\"report queue full; a report dropped\" notable=%d "
			 "dropped_total=%lu", victim_id, victim_notable, dropped_total);
}

static void store_destroy(struct desired_vms *src)
{
	struct desired_store *d = (struct desired_store *)src;
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->reporter, NULL);
	store_close(d->rstore);
	store_close(d->store);
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

struct desired_vms *desired_vms_store_open(const char *url, const char *host, unsigned vcpus,
					  uint64_t memory_mb, const struct vmengine_config *cfg,
					  char *err, size_t errlen)
{
	struct desired_store *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->store = store_open(url, err, errlen);
	if (!d->store) {
		free(d);
		return NULL;
	}
	d->rstore = store_open(url, err, errlen);
	if (!d->rstore) {
		store_close(d->store);
		free(d);
		return NULL;
	}
	d->ops = (struct desired_vms){ store_snapshot, store_change_fd, store_changed,
					  store_report, store_destroy };
	snprintf(d->host, sizeof(d->host), "%s", host);
	snprintf(d->self.name, sizeof(d->self.name), "%s", host);
	d->self.vcpus = vcpus;
	d->self.memory_mb = memory_mb;
	if (cfg) {
		d->self.max_memory_mb = cfg->max_memory_mb;
		d->self.max_vcpus = cfg->max_vcpus;
		snprintf(d->self.memory_backend, sizeof(d->self.memory_backend), "%s",
			 cfg->memory_backend);
	}
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);    /* the heartbeat's timed waits */
	pthread_cond_init(&d->wake, &ca);
	pthread_condattr_destroy(&ca);
	int rc = pthread_create(&d->reporter, NULL, reporter_main, d);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the reporter thread: %s", strerror(rc));
		pthread_cond_destroy(&d->wake);
		pthread_mutex_destroy(&d->lock);
		store_close(d->rstore);
		store_close(d->store);
		free(d);
		return NULL;
	}
	return &d->ops;                  /* the reporter registers the host first thing */
}

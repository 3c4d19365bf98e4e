/* metrics_collect.c — one collection of the metrics endpoint's series (metrics_collect.h):
 * the status files first (local reads), then the store (on its probe thread) and blockd
 * (RPCs), each given what is left of the deadline; the probes' verdicts last. */
#include "metrics_collect.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomic_file.h"
#include "clock.h"
#include "deadline_io.h"
#include "log.h"
#include "metrics_store.h"
#include "metrics_target.h"
#include "metrics_text.h"
#include "paths.h"
#include "states.h"

#define STATUS_MAX_BYTES (16 << 20)
#define HIST_MAX 32

enum source { SRC_SUPERVISOR, SRC_VMENGINE, SRC_DISKENGINE, SRC_STORE, SRC_BLOCKD, NSOURCES };
static const char *const g_sources[NSOURCES] = { "supervisor", "vmengine", "diskengine",
						 "store", "blockd" };

struct metrics_collector {
	char root[4096], host[64], rpc_socket[108];
	int deadline_ms;
	struct metrics_store *store;
	struct reactor_history reactors;
};

struct probe {
	bool up;
	double seconds;
};

struct metrics_collector *metrics_collector_new(const char *root, const char *store_url,
						const char *host, const char *rpc_socket,
						int deadline_ms)
{
	struct metrics_collector *mc = calloc(1, sizeof(*mc));
	if (!mc)
		return NULL;
	snprintf(mc->root, sizeof(mc->root), "%s", root);
	snprintf(mc->host, sizeof(mc->host), "%s", host);
	snprintf(mc->rpc_socket, sizeof(mc->rpc_socket), "%s", rpc_socket);
	mc->deadline_ms = deadline_ms;
	mc->store = metrics_store_new(root, store_url);
	if (!mc->store) {
		free(mc);
		return NULL;
	}
	return mc;
}

void metrics_collector_free(struct metrics_collector *mc)
{
	if (!mc)
		return;
	metrics_store_free(mc->store);
	free(mc);
}

static json_t *load_status(const char *path)
{
	char *text = NULL;
	if (read_file_all(path, STATUS_MAX_BYTES, &text, NULL) < 0)
		return NULL;
	json_t *o = json_loads(text, 0, NULL);
	free(text);
	return o;
}

static double num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

/* ---------------------------------------------------------------- supervisor */

static void write_daemons(struct prom *p, const json_t *state)
{
	const json_t *daemons = json_object_get(state, "daemons");
	size_t i;
	json_t *d;
	prom_family(p, "berth_daemon_up", PROM_GAUGE,
		    "1 while berth up's supervisor has the daemon running.");
	json_array_foreach(daemons, i, d)
		prom_sample(p, num(d, "pid") > 0, PROM_LABELS("daemon",
				json_string_value(json_object_get(d, "name")) ?: "?"));
	prom_family(p, "berth_daemon_restarts_total", PROM_COUNTER,
		    "Restarts of a daemon by berth up's supervisor since it started "
		    "(daemon=\"blockd\": the target restarts).");
	json_array_foreach(daemons, i, d)
		prom_sample(p, num(d, "restarts"), PROM_LABELS("daemon",
				json_string_value(json_object_get(d, "name")) ?: "?"));
}

/* ---------------------------------------------------------------- vmengine */

/* {"le": [...], "buckets": [...], "sum": s} as vmengine keeps it (vm_counters.h). */
static void write_saved_histogram(struct prom *p, const json_t *h)
{
	const json_t *le = json_object_get(h, "le"), *buckets = json_object_get(h, "buckets");
	size_t n = json_array_size(le);
	if (!n || n > HIST_MAX || json_array_size(buckets) != n + 1)
		return;
	double bounds[HIST_MAX];
	uint64_t counts[HIST_MAX + 1];
	for (size_t i = 0; i < n; i++)
		bounds[i] = json_number_value(json_array_get(le, i));
	for (size_t i = 0; i <= n; i++)
		counts[i] = (uint64_t)json_integer_value(json_array_get(buckets, i));
	struct prom_histogram hist = { .n = n, .le = bounds, .counts = counts,
				       .sum = num(h, "sum") };
	prom_histogram(p, &hist, PROM_NO_LABELS);
}

static void write_vmengine(struct prom *p, const json_t *status)
{
	static const char *const steps[] = { "powerdown", "quit", "term", "kill" };
	const json_t *counters = json_object_get(status, "counters");
	const json_t *esc = json_object_get(counters, "escalations");
	prom_family(p, "berth_vm_escalation_steps_total", PROM_COUNTER,
		    "Escalation steps vmengine took to stop or terminate VMs, by step "
		    "(powerdown, quit, term, kill).");
	for (size_t i = 0; counters && i < 4; i++)
		prom_sample(p, num(esc, steps[i]), PROM_LABELS("step", steps[i]));
	prom_family(p, "berth_vm_terminate_duration_seconds", PROM_HISTOGRAM,
		    "Time from a VM's TERMINATING to its TERMINATED.");
	write_saved_histogram(p, json_object_get(counters, "terminate_seconds"));
	prom_family(p, "berth_vm_disk_reconnect_duration_seconds", PROM_HISTOGRAM,
		    "Time a VM's vhost-user disk stayed disconnected before it reconnected "
		    "(a target restart).");
	write_saved_histogram(p, json_object_get(counters, "disk_reconnect_seconds"));
	prom_family(p, "berth_vm_disk_disconnects_total", PROM_COUNTER,
		    "Times a VM's vhost-user disk was seen disconnected.");
	if (counters)
		prom_sample(p, num(counters, "disk_disconnects"), PROM_NO_LABELS);
}

/* ---------------------------------------------------------------- diskengine */

static void write_diskengine(struct prom *p, json_t *const loops[2])
{
	static const char *const names[2] = { "attach", "detach" };
	prom_family(p, "berth_diskengine_wedges_total", PROM_COUNTER,
		    "Wedges diskengine raised (an item without progress for wedge_after), by "
		    "loop.");
	for (int l = 0; l < 2; l++)
		if (loops[l])
			prom_sample(p, num(json_object_get(loops[l], "counters"), "wedges"),
				    PROM_LABELS("loop", names[l]));
	prom_family(p, "berth_diskengine_rpc_failures_total", PROM_COUNTER,
		    "Calls from diskengine to the target that failed (error or deadline), by "
		    "loop and method.");
	for (int l = 0; l < 2; l++) {
		const json_t *f = json_object_get(json_object_get(loops[l], "counters"),
						  "rpc_failures");
		const char *method;
		json_t *n;
		json_object_foreach((json_t *)f, method, n)
			prom_sample(p, json_number_value(n),
				    PROM_LABELS("loop", names[l], "method", method));
	}
}

/* ---------------------------------------------------------------- store */

/* Was host already written (this one, or a host of counts[0..upto))? */
static bool host_done(const char *host, const char *self, const struct vm_count *counts,
		      size_t upto)
{
	if (!strcmp(host, self))
		return true;
	for (size_t k = 0; k < upto; k++)
		if (!strcmp(counts[k].host, host))
			return true;
	return false;
}

static void write_host(struct prom *p, const char *host, const struct vm_count *counts,
		       size_t n)
{
	for (int s = 0; s < VM_STATE_COUNT; s++) {
		unsigned count = 0;
		for (size_t k = 0; k < n; k++)
			if (!strcmp(counts[k].host, host) && !strcmp(counts[k].state, vm_state_name(s)))
				count = counts[k].count;
		prom_sample(p, count, PROM_LABELS("host", host, "state", vm_state_name(s)));
	}
}

/* Every state of every host the store names, and of this one: a state no VM is in is 0. */
static void write_vms(struct prom *p, const char *self, const struct vm_count *counts, size_t n)
{
	prom_family(p, "berth_vms", PROM_GAUGE,
		    "VMs the store holds, by host and state (terminated ones included).");
	write_host(p, self, counts, n);
	for (size_t h = 0; h < n; h++)
		if (!host_done(counts[h].host, self, counts, h))
			write_host(p, counts[h].host, counts, n);
}

/* ---------------------------------------------------------------- collection */

static void write_probes(struct prom *p, const struct probe probes[NSOURCES])
{
	prom_family(p, "berth_probe_up", PROM_GAUGE,
		    "1 when the source answered this scrape within its deadline (status files: "
		    "present and readable).");
	for (int i = 0; i < NSOURCES; i++)
		prom_sample(p, probes[i].up, PROM_LABELS("source", g_sources[i]));
	prom_family(p, "berth_probe_duration_seconds", PROM_GAUGE,
		    "Time this scrape spent on the source.");
	for (int i = 0; i < NSOURCES; i++)
		prom_sample(p, probes[i].seconds, PROM_LABELS("source", g_sources[i]));
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

char *metrics_collect(struct metrics_collector *mc, size_t *len)
{
	int64_t deadline = deadline_after_ms(mc->deadline_ms);
	struct probe probes[NSOURCES] = { 0 };
	struct prom *p = prom_new();
	if (!p)
		return NULL;
	char path[BERTH_PATH_LEN], err[256];
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	paths_supervisor_state(path, sizeof(path), mc->root);
	json_t *sup = load_status(path);
	probes[SRC_SUPERVISOR] = (struct probe){ sup != NULL, seconds_since(&t0) };
	write_daemons(p, sup);
	json_decref(sup);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	paths_vmengine_status(path, sizeof(path), mc->root);
	json_t *vme = load_status(path);
	probes[SRC_VMENGINE] = (struct probe){ vme != NULL, seconds_since(&t0) };
	write_vmengine(p, vme);
	json_decref(vme);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	json_t *loops[2];
	paths_diskengine_status(path, sizeof(path), mc->root, "attach");
	loops[0] = load_status(path);
	paths_diskengine_status(path, sizeof(path), mc->root, "detach");
	loops[1] = load_status(path);
	probes[SRC_DISKENGINE] = (struct probe){ loops[0] && loops[1], seconds_since(&t0) };
	write_diskengine(p, loops);
	json_decref(loops[0]);
	json_decref(loops[1]);

	/* The store may take at most half of what is left; blockd gets the rest. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct vm_count *counts = NULL;
	size_t n = 0;
	int left = deadline_remaining_ms(deadline);
	int rc = metrics_store_vm_counts(mc->store, left / 2 > 0 ? left / 2 : 1, &counts, &n, err,
					 sizeof(err));
	probes[SRC_STORE] = (struct probe){ rc == 0, seconds_since(&t0) };
	if (rc < 0)
		log_warn("metrics", "source=store msg=\"probe failed\" error=\"%s\"", err);
	if (rc == 0)
		write_vms(p, mc->host, counts, n);
	else               /* unknown is not zero: no series */
		prom_family(p, "berth_vms", PROM_GAUGE,
			    "VMs the store holds, by host and state (terminated ones included).");
	free(counts);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct target_sample ts;
	rc = metrics_target_probe(mc->rpc_socket, deadline, &ts, err, sizeof(err));
	probes[SRC_BLOCKD] = (struct probe){ rc == 0, seconds_since(&t0) };
	if (rc < 0)
		log_warn("metrics", "source=blockd msg=\"probe failed\" error=\"%s\"", err);
	metrics_target_write(p, &ts, &mc->reactors);
	metrics_target_sample_free(&ts);

	write_probes(p, probes);
	const char *text = prom_text(p, len);
	char *out = text ? strdup(text) : NULL;
	prom_free(p);
	return out;
}

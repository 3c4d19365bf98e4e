/* doctor_classify.c — the judgements `berth doctor` makes on blockd's own answers, taken
 * DOCTOR_SAMPLE_INTERVAL_MS apart: a reactor pinned while another thread idles
 * (reactor-busy), the poller or the RPC thread that pins it (poller-pinned), a request in
 * flight far longer than any handler runs (rpc-hung, bug class 1), and a bdev whose IO
 * queues up while its reactor idles — the backend, not the target (bdev-saturated). Pure
 * functions of the samples (no I/O), unit-tested in tests/unit/test_doctor.c. */
#include "doctor.h"
#include "json_util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define RESTART_TARGET "berth doctor --fix (restarts the target through the supervisor; " \
	"VMs reconnect)"

static const char *thread_name(const json_t *reactor)
{
	json_t *lw = json_array_get(json_object_get(reactor, "lw_threads"), 0);
	return lw ? json_str_at(lw, "name") : "?";
}

int doctor_busy_pct(const json_t *a, const json_t *b, size_t i)
{
	json_t *ra = json_array_get(json_object_get(a, "reactors"), i);
	json_t *rb = json_array_get(json_object_get(b, "reactors"), i);
	if (!ra || !rb)
		return -1;
	json_int_t busy = json_int_at(rb, "busy") - json_int_at(ra, "busy");
	json_int_t idle = json_int_at(rb, "idle") - json_int_at(ra, "idle");
	if (busy < 0 || idle < 0)
		return -1;
	if (busy + idle == 0)
		return 0;      /* an interrupt-mode thread asleep through the whole sample */
	return (int)(busy * 100 / (busy + idle));
}

static bool same_target(const json_t *a, const json_t *b)
{
	return a && b && json_int_at(a, "pid") == json_int_at(b, "pid") &&
	       json_array_size(json_object_get(a, "reactors")) ==
		       json_array_size(json_object_get(b, "reactors"));
}

void doctor_classify_reactors(struct doctor_report *r, const json_t *a, const json_t *b)
{
	if (!same_target(a, b)) {
		doctor_add(r, "reactor-busy", DOCTOR_SKIP, 0, NULL, NULL,
			   "not sampled: the target restarted or did not answer between samples");
		return;
	}
	size_t n = json_array_size(json_object_get(b, "reactors"));
	json_t *threads = json_array();
	int hot = -1, hot_pct = -1, cold = -1, cold_pct = 101;
	for (size_t i = 0; i < n; i++) {
		int pct = doctor_busy_pct(a, b, i);
		json_t *rb = json_array_get(json_object_get(b, "reactors"), i);
		json_array_append_new(threads, json_pack("{s:I, s:s, s:i}", "lcore", json_int_at(rb, "lcore"),
							 "thread", thread_name(rb), "busy_pct", pct));
		if (pct > hot_pct) {
			hot_pct = pct;
			hot = (int)i;
		}
		if (pct >= 0 && pct < cold_pct) {
			cold_pct = pct;
			cold = (int)i;
		}
	}
	json_t *ev = json_pack("{s:o, s:i}", "threads", threads, "interval_ms",
			       DOCTOR_SAMPLE_INTERVAL_MS);
	if (hot < 0) {
		doctor_add(r, "reactor-busy", DOCTOR_PASS, 0, ev, NULL, "no thread sampled");
		return;
	}
	json_t *h = json_array_get(json_object_get(b, "reactors"), (size_t)hot);
	json_t *c = json_array_get(json_object_get(b, "reactors"), (size_t)cold);
	if (hot_pct >= DOCTOR_BUSY_PCT && cold >= 0 && cold != hot && cold_pct < DOCTOR_IDLE_PCT) {
		json_object_set_new(ev, "lcore", json_integer(json_int_at(h, "lcore")));
		json_object_set_new(ev, "thread", json_string(thread_name(h)));
		json_object_set_new(ev, "busy_pct", json_integer(hot_pct));
		doctor_add(r, "reactor-busy", DOCTOR_FAIL, 0, ev, RESTART_TARGET,
			   "%s (lcore %lld) is %d%% busy while %s is %d%%: something burns that "
			   "thread (see poller-pinned)", thread_name(h), (long long)json_int_at(h, "lcore"),
			   hot_pct, thread_name(c), cold_pct)->fix = FIX_RESTART_TARGET;
	} else if (hot_pct >= DOCTOR_BUSY_PCT) {
		json_object_set_new(ev, "busy_pct", json_integer(hot_pct));
		doctor_add(r, "reactor-busy", DOCTOR_WARN, 0, ev,
			   "more IO than the reactors take: add --reactors, or spread the load",
			   "every thread of the target is at least %d%% busy", cold_pct);
	} else {
		doctor_add(r, "reactor-busy", DOCTOR_PASS, 0, ev, NULL,
			   "busiest thread %s at %d%%", thread_name(h), hot_pct);
	}
}

/* The poller of thread b (thread_get_pollers) with the same id in thread a, or NULL. */
static const json_t *poller_in(const json_t *thread, json_int_t id)
{
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(thread, "active_pollers"), i, p)
		if (json_int_at(p, "id") == id)
			return p;
	json_array_foreach(json_object_get(thread, "timed_pollers"), i, p)
		if (json_int_at(p, "id") == id)
			return p;
	return NULL;
}

void doctor_classify_pollers(struct doctor_report *r, const json_t *pa, const json_t *pb,
			     const json_t *ra, const json_t *rb)
{
	if (!pa || !pb || !same_target(ra, rb)) {
		doctor_add(r, "poller-pinned", DOCTOR_SKIP, 0, NULL, NULL,
			   "not sampled: the target restarted or did not answer between samples");
		return;
	}
	json_t *ta_all = json_object_get(pa, "threads"), *tb_all = json_object_get(pb, "threads");
	size_t i;
	json_t *tb;
	json_array_foreach(tb_all, i, tb) {
		int pct = doctor_busy_pct(ra, rb, i);
		json_t *ta = json_array_get(ta_all, i);
		if (!ta || pct < DOCTOR_BUSY_PCT)
			continue;
		/* The poller that reported work on (nearly) every run of this sample. */
		const json_t *worst = NULL;
		json_int_t worst_busy = 0, worst_runs = 0;
		const char *lists[] = { "active_pollers", "timed_pollers" };
		for (int l = 0; l < 2; l++) {
			size_t j;
			json_t *p;
			json_array_foreach(json_object_get(tb, lists[l]), j, p) {
				const json_t *old = poller_in(ta, json_int_at(p, "id"));
				if (!old)
					continue;
				json_int_t runs = json_int_at(p, "run_count") - json_int_at(old, "run_count");
				json_int_t busy = json_int_at(p, "busy_count") - json_int_at(old, "busy_count");
				if (runs > 0 && busy * 10 >= runs * 9 && busy > worst_busy) {
					worst = p;
					worst_busy = busy;
					worst_runs = runs;
				}
			}
		}
		json_t *ev = json_pack("{s:s, s:i, s:i}", "thread", json_str_at(tb, "name"),
				       "lcore", (int)i, "busy_pct", pct);
		if (worst) {
			json_object_set_new(ev, "poller", json_string(json_str_at(worst, "name")));
			json_object_set_new(ev, "poller_id", json_integer(json_int_at(worst, "id")));
			json_object_set_new(ev, "runs", json_integer(worst_runs));
			json_object_set_new(ev, "busy_runs", json_integer(worst_busy));
			doctor_add(r, "poller-pinned", DOCTOR_FAIL, 0, ev, RESTART_TARGET,
				   "poller %s on %s reported work on %lld of its %lld runs while the "
				   "thread was %d%% busy", json_str_at(worst, "name"), json_str_at(tb, "name"),
				   (long long)worst_busy, (long long)worst_runs,
				   pct)->fix = FIX_RESTART_TARGET;
		} else if (i == 0) {
			doctor_add(r, "poller-pinned", DOCTOR_FAIL, 0, ev, RESTART_TARGET,
				   "the RPC thread %s is %d%% busy: a handler is pinned",
				   json_str_at(tb, "name"), pct)->fix = FIX_RESTART_TARGET;
		} else {
			doctor_add(r, "poller-pinned", DOCTOR_WARN, 0, ev, NULL,
				   "%s is %d%% busy, spread over its pollers (load, not one runaway)",
				   json_str_at(tb, "name"), pct);
		}
		return;
	}
	doctor_add(r, "poller-pinned", DOCTOR_PASS, 0, NULL, NULL,
		   "no thread pinned by a poller or the RPC handler");
}

void doctor_classify_requests(struct doctor_report *r, const json_t *requests)
{
	size_t n = json_array_size(requests);
	json_t *oldest = json_array_get(requests, 0);
	if (!oldest || json_int_at(oldest, "age_ms") < DOCTOR_HUNG_RPC_MS) {
		doctor_add(r, "rpc-hung", DOCTOR_PASS, 0, json_pack("{s:i}", "in_flight", (int)n),
			   NULL, "%zu request(s) in flight, none older than %d ms", n,
			   DOCTOR_HUNG_RPC_MS);
		return;
	}
	size_t hung = 0;
	for (size_t i = 0; i < n; i++)
		if (json_int_at(json_array_get(requests, i), "age_ms") >= DOCTOR_HUNG_RPC_MS)
			hung++;
	json_t *ev = json_pack("{s:s, s:O?, s:I, s:I, s:I, s:i, s:i}", "method",
			       json_str_at(oldest, "method"), "id", json_object_get(oldest, "id"),
			       "client_pid", json_int_at(oldest, "client_pid"), "conn", json_int_at(oldest, "conn"),
			       "age_ms", json_int_at(oldest, "age_ms"), "hung", (int)hung,
			       "in_flight", (int)n);
	doctor_add(r, "rpc-hung", DOCTOR_FAIL, 1, ev, RESTART_TARGET,
		   "%s from pid %lld has waited %.1f s for an answer while blockd answers other "
		   "calls (%zu hung)", json_str_at(oldest, "method"), (long long)json_int_at(oldest, "client_pid"),
		   (double)json_int_at(oldest, "age_ms") / 1000.0, hung)->fix = FIX_RESTART_TARGET;
}

static json_int_t ops_of(const json_t *s)
{
	return json_int_at(s, "num_read_ops") + json_int_at(s, "num_write_ops") + json_int_at(s, "num_unmap_ops") +
	       json_int_at(s, "num_flush_ops") + json_int_at(s, "num_write_zeroes_ops");
}

static json_int_t latency_of(const json_t *s)
{
	return json_int_at(s, "read_latency_ticks") + json_int_at(s, "write_latency_ticks") +
	       json_int_at(s, "unmap_latency_ticks");
}

static const json_t *bdev_in(const json_t *iostat, const char *name)
{
	size_t i;
	json_t *b;
	json_array_foreach(json_object_get(iostat, "bdevs"), i, b)
		if (!strcmp(json_str_at(b, "name"), name))
			return b;
	return NULL;
}

void doctor_classify_iostat(struct doctor_report *r, const json_t *ia, const json_t *ib,
			    const json_t *ra, const json_t *rb)
{
	if (!ia || !ib) {
		doctor_add(r, "bdev-saturated", DOCTOR_SKIP, 0, NULL, NULL,
			   "not sampled: bdev_get_iostat did not answer");
		return;
	}
	/* The IO reactors' busiest share (lcore 0 is the RPC thread). */
	int io_pct = -1;
	size_t nr = json_array_size(json_object_get(rb, "reactors"));
	for (size_t i = 1; i < nr && same_target(ra, rb); i++) {
		int pct = doctor_busy_pct(ra, rb, i);
		if (pct > io_pct)
			io_pct = pct;
	}
	json_t *slow = json_array();
	const char *first = NULL;
	double first_ms = 0;
	json_int_t first_q = 0, first_done = 0;
	size_t i;
	json_t *b;
	json_array_foreach(json_object_get(ib, "bdevs"), i, b) {
		const json_t *a = bdev_in(ia, json_str_at(b, "name"));
		if (!a)
			continue;
		json_int_t q = json_int_at(b, "io_outstanding");
		json_int_t dops = ops_of(b) - ops_of(a);
		double mean_ms = dops > 0 ? (double)(latency_of(b) - latency_of(a)) / (double)dops /
						    1e6 : 0;
		bool stuck = q > 0 && json_int_at(a, "io_outstanding") > 0 && dops <= 0;
		if (q <= 0 || (!stuck && mean_ms < DOCTOR_SLOW_IO_MS))
			continue;
		json_array_append_new(slow, json_pack("{s:s, s:I, s:I, s:f}", "bdev",
			json_str_at(b, "name"), "queue_depth", q, "completed", dops, "mean_latency_ms",
			mean_ms));
		/* Name the lowest one: a base bdev's delay shows in the raid above it too. */
		if (!first || strncmp(json_str_at(b, "name"), "raid_", 5) != 0) {
			if (!first || strncmp(first, "raid_", 5) == 0) {
				first = json_str_at(b, "name");
				first_ms = mean_ms;
				first_q = q;
				first_done = dops;
			}
		}
	}
	if (!json_array_size(slow)) {
		json_decref(slow);
		doctor_add(r, "bdev-saturated", DOCTOR_PASS, 0, NULL, NULL,
			   "no bdev with IO queued at more than %d ms", DOCTOR_SLOW_IO_MS);
		return;
	}
	json_t *ev = json_pack("{s:s, s:I, s:f, s:i, s:o}", "bdev", first, "queue_depth", first_q,
			       "mean_latency_ms", first_ms, "reactor_busy_pct", io_pct, "bdevs", slow);
	char lat[64];
	if (first_done > 0)
		snprintf(lat, sizeof(lat), "%.0f ms each", first_ms);
	else
		snprintf(lat, sizeof(lat), "none completed in %d ms", DOCTOR_SAMPLE_INTERVAL_MS);
	if (io_pct >= 0 && io_pct < DOCTOR_IDLE_PCT)
		doctor_add(r, "bdev-saturated", DOCTOR_WARN, 0, ev,
			   "the backing storage is slow (check the device under the bdev's file: "
			   "iostat -x); blockd is not the bottleneck",
			   "%s: %lld IO queued, %s, while its reactor is %d%% busy: the "
			   "backend, not the target", first, (long long)first_q, lat, io_pct);
	else
		doctor_add(r, "bdev-saturated", DOCTOR_WARN, 0, ev,
			   "see reactor-busy: the target itself is loaded",
			   "%s: %lld IO queued, %s; its reactor is busy too (%d%%)", first,
			   (long long)first_q, lat, io_pct);
}

int doctor_last_line_with(const char *text, const char *needle, char *out, size_t len)
{
	const char *hit = NULL;
	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		hit = p;
	if (!hit)
		return -ENOENT;
	const char *start = hit;
	while (start > text && start[-1] != '\n')
		start--;
	const char *end = strchr(hit, '\n');
	size_t n = end ? (size_t)(end - start) : strlen(start);
	snprintf(out, len, "%.*s", (int)n, start);
	return 0;
}

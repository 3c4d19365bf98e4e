/* metrics_target.c — the storage target's probe and series for the metrics endpoint
 * (metrics_target.h). Reads only what blockd's read-only RPCs answer. */
#include "metrics_target.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "deadline_io.h"
#include "jsonrpc_client.h"

#define RPC_BUCKETS_MAX 32

int metrics_target_probe(const char *rpc_socket, int64_t deadline, struct target_sample *out,
			 char *err, size_t errlen)
{
	static const char *const methods[] = { "blockd_get_rpc_stats", "bdev_get_iostat",
					       "framework_get_reactors", "vhost_get_controllers" };
	json_t **slots[] = { &out->rpc_stats, &out->iostat, &out->reactors, &out->controllers };
	memset(out, 0, sizeof(*out));
	struct jrpc_client *c = jrpc_client_new(rpc_socket);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = 0;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]) && rc == 0; i++) {
		int64_t left = deadline_remaining_ms(deadline);
		if (left <= 0) {
			rc = -ETIMEDOUT;
			snprintf(err, errlen, "%s: no time left", methods[i]);
			break;
		}
		struct jrpc_error e = { 0 };
		rc = jrpc_call_timeout(c, methods[i], NULL, (int)left, slots[i], &e);
		if (rc == -EREMOTEIO)
			snprintf(err, errlen, "%s: %d %s", methods[i], e.code, e.message);
		else if (rc < 0)
			snprintf(err, errlen, "%s: %s", methods[i], strerror(-rc));
	}
	jrpc_client_free(c);
	return rc;
}

void metrics_target_sample_free(struct target_sample *s)
{
	json_decref(s->rpc_stats);
	json_decref(s->iostat);
	json_decref(s->reactors);
	json_decref(s->controllers);
	memset(s, 0, sizeof(*s));
}

static double num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* A tick rate that makes sense (blockd's is 1e9), else nanoseconds. */
static double tick_rate(const json_t *o)
{
	double r = num(o, "tick_rate");
	return r >= 1 ? r : 1e9;
}

static void write_rpc(struct prom *p, const json_t *stats)
{
	double rate = tick_rate(stats);
	const json_t *bounds = json_object_get(stats, "latency_bounds_ticks");
	const json_t *methods = json_object_get(stats, "methods");
	size_t nb = json_array_size(bounds), i;
	double le[RPC_BUCKETS_MAX];
	if (nb > RPC_BUCKETS_MAX)
		nb = 0;                         /* not blockd's shape: no histogram */
	for (size_t b = 0; b < nb; b++)
		le[b] = json_number_value(json_array_get(bounds, b)) / rate;
	json_t *m;
	prom_family(p, "berth_blockd_rpc_duration_seconds", PROM_HISTOGRAM,
		    "Time blockd took to answer its clients' requests (arrival to answer), by "
		    "method.");
	json_array_foreach(methods, i, m) {
		const json_t *buckets = json_object_get(m, "latency_buckets");
		uint64_t counts[RPC_BUCKETS_MAX + 1];
		if (!nb || json_array_size(buckets) != nb + 1)
			continue;
		for (size_t b = 0; b <= nb; b++)
			counts[b] = (uint64_t)json_integer_value(json_array_get(buckets, b));
		struct prom_histogram h = { .n = nb, .le = le, .counts = counts,
					    .sum = num(m, "latency_ticks") / rate };
		prom_histogram(p, &h, PROM_LABELS("method", str(m, "method")));
	}
	prom_family(p, "berth_blockd_rpc_errors_total", PROM_COUNTER,
		    "Requests blockd answered with an error, by method.");
	json_array_foreach(methods, i, m)
		prom_sample(p, num(m, "errors"), PROM_LABELS("method", str(m, "method")));
	prom_family(p, "berth_blockd_rpc_unanswered_total", PROM_COUNTER,
		    "Requests whose client went away before blockd answered (a hung call), by "
		    "method.");
	json_array_foreach(methods, i, m)
		prom_sample(p, num(m, "unanswered"), PROM_LABELS("method", str(m, "method")));
}

static void write_bdevs(struct prom *p, const json_t *iostat)
{
	static const char *const ops[][3] = {       /* op, ops key, bytes key */
		{ "read", "num_read_ops", "bytes_read" },
		{ "write", "num_write_ops", "bytes_written" },
		{ "unmap", "num_unmap_ops", "bytes_unmapped" },
	};
	double rate = tick_rate(iostat);
	const json_t *bdevs = json_object_get(iostat, "bdevs");
	size_t i;
	json_t *b;
	prom_family(p, "berth_blockd_bdev_ops_total", PROM_COUNTER,
		    "IO operations completed by a bdev, by operation.");
	json_array_foreach(bdevs, i, b)
		for (size_t o = 0; o < 3; o++)
			prom_sample(p, num(b, ops[o][1]),
				    PROM_LABELS("bdev", str(b, "name"), "op", ops[o][0]));
	prom_family(p, "berth_blockd_bdev_bytes_total", PROM_COUNTER,
		    "Bytes a bdev read, wrote or unmapped, by operation.");
	json_array_foreach(bdevs, i, b)
		for (size_t o = 0; o < 3; o++)
			prom_sample(p, num(b, ops[o][2]),
				    PROM_LABELS("bdev", str(b, "name"), "op", ops[o][0]));
	prom_family(p, "berth_blockd_bdev_latency_seconds_total", PROM_COUNTER,
		    "Time a bdev's IO operations took, summed, by operation (divide its rate by "
		    "berth_blockd_bdev_ops_total's for the mean latency).");
	json_array_foreach(bdevs, i, b) {
		prom_sample(p, num(b, "read_latency_ticks") / rate,
			    PROM_LABELS("bdev", str(b, "name"), "op", "read"));
		prom_sample(p, num(b, "write_latency_ticks") / rate,
			    PROM_LABELS("bdev", str(b, "name"), "op", "write"));
	}
}

static void write_reactors(struct prom *p, const json_t *reactors, struct reactor_history *h)
{
	double rate = tick_rate(reactors);
	const json_t *list = json_object_get(reactors, "reactors");
	size_t i;
	json_t *r;
	char lcore[16];
	prom_family(p, "berth_blockd_reactor_busy_seconds_total", PROM_COUNTER,
		    "Time a blockd thread spent doing work (lcore 0: the RPC thread, 1..: the IO "
		    "reactors).");
	json_array_foreach(list, i, r) {
		snprintf(lcore, sizeof(lcore), "%lld", (long long)num(r, "lcore"));
		prom_sample(p, num(r, "busy") / rate, PROM_LABELS("lcore", lcore));
	}
	prom_family(p, "berth_blockd_reactor_idle_seconds_total", PROM_COUNTER,
		    "Time a blockd thread spent idle.");
	json_array_foreach(list, i, r) {
		snprintf(lcore, sizeof(lcore), "%lld", (long long)num(r, "lcore"));
		prom_sample(p, num(r, "idle") / rate, PROM_LABELS("lcore", lcore));
	}
	prom_family(p, "berth_blockd_reactor_busy_ratio", PROM_GAUGE,
		    "Share of a blockd thread's time spent busy since the previous scrape of this "
		    "endpoint (since blockd started at the first one).");
	json_array_foreach(list, i, r) {
		json_int_t core = json_integer_value(json_object_get(r, "lcore"));
		uint64_t busy = (uint64_t)num(r, "busy"), idle = (uint64_t)num(r, "idle");
		uint64_t db = busy, di = idle;
		if (core >= 0 && core < METRICS_MAX_REACTORS) {
			/* counters that went back: blockd restarted, count from its start */
			if (h->known[core] && busy >= h->busy[core] && idle >= h->idle[core]) {
				db = busy - h->busy[core];
				di = idle - h->idle[core];
			}
			h->busy[core] = busy;
			h->idle[core] = idle;
			h->known[core] = true;
		}
		snprintf(lcore, sizeof(lcore), "%lld", (long long)core);
		prom_sample(p, db + di ? (double)db / (double)(db + di) : 0,
			    PROM_LABELS("lcore", lcore));
	}
}

static void write_vhost(struct prom *p, const json_t *controllers)
{
	size_t i;
	json_t *c;
	prom_family(p, "berth_blockd_vhost_sessions", PROM_GAUGE,
		    "Front-ends (QEMUs) connected to a vhost-user-blk controller.");
	json_array_foreach(controllers, i, c) {
		const json_t *blk = json_object_get(json_object_get(c, "backend_specific"), "block");
		prom_sample(p, (double)json_array_size(json_object_get(c, "sessions")),
			    PROM_LABELS("ctrlr", str(c, "ctrlr"), "bdev", str(blk, "bdev")));
	}
}

void metrics_target_write(struct prom *p, const struct target_sample *s,
			  struct reactor_history *h)
{
	write_rpc(p, s->rpc_stats);
	write_bdevs(p, s->iostat);
	write_reactors(p, s->reactors, h);
	write_vhost(p, s->controllers);
}

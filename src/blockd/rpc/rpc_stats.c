/* rpc_stats.c — per-method request counts and latency histograms, and
 * blockd_get_rpc_stats (rpc_stats.h). A fixed table: one entry per method blockd serves
 * (looked up when first seen) plus "other"; the method never intercepts (RPC_NO_FAULT) and
 * reads nothing but this table, so it answers while any other method hangs. */
#include "rpc_stats.h"

#include <stdio.h>
#include <string.h>

#include "rpc.h"

#define RPC_STATS_MAX 128             /* methods tracked; more go to "other" */

/* 50 µs .. 30 s */
static const uint64_t g_bounds_ns[RPC_STATS_BUCKETS] = {
	50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000,
	50000000, 100000000, 250000000, 1000000000, 5000000000, 10000000000, 30000000000,
};

struct method_stats {
	char method[64];
	uint64_t calls, errors, unanswered, latency_ns;
	uint64_t buckets[RPC_STATS_BUCKETS + 1];
};

static struct method_stats g_stats[RPC_STATS_MAX];
static unsigned g_count;

static struct method_stats *entry(const char *method)
{
	const char *name = method && rpc_find_method(method) ? method : "other";
	for (unsigned i = 0; i < g_count; i++)
		if (!strcmp(g_stats[i].method, name))
			return &g_stats[i];
	if (g_count == RPC_STATS_MAX)   /* never: blockd serves fewer methods than this */
		return &g_stats[RPC_STATS_MAX - 1];
	struct method_stats *m = &g_stats[g_count++];
	memset(m, 0, sizeof(*m));
	snprintf(m->method, sizeof(m->method), "%s", name);
	return m;
}

void rpc_stats_answered(const char *method, uint64_t latency_ns, bool failed)
{
	struct method_stats *m = entry(method);
	m->calls++;
	m->errors += failed;
	m->latency_ns += latency_ns;
	unsigned b = 0;
	while (b < RPC_STATS_BUCKETS && latency_ns > g_bounds_ns[b])
		b++;
	m->buckets[b]++;
}

void rpc_stats_unanswered(const char *method)
{
	entry(method)->unanswered++;
}

json_t *rpc_stats_json(void)
{
	json_t *bounds = json_array(), *methods = json_array();
	for (unsigned b = 0; b < RPC_STATS_BUCKETS; b++)
		json_array_append_new(bounds, json_integer((json_int_t)g_bounds_ns[b]));
	for (unsigned i = 0; i < g_count; i++) {
		const struct method_stats *m = &g_stats[i];
		json_t *buckets = json_array();
		for (unsigned b = 0; b <= RPC_STATS_BUCKETS; b++)
			json_array_append_new(buckets, json_integer((json_int_t)m->buckets[b]));
		json_array_append_new(methods, json_pack("{s:s, s:I, s:I, s:I, s:I, s:o}",
			"method", m->method, "calls", (json_int_t)m->calls,
			"errors", (json_int_t)m->errors, "unanswered", (json_int_t)m->unanswered,
			"latency_ticks", (json_int_t)m->latency_ns, "latency_buckets", buckets));
	}
	return json_pack("{s:I, s:o, s:o}", "tick_rate", (json_int_t)1000000000,
			 "latency_bounds_ticks", bounds, "methods", methods);
}

void rpc_stats_reset(void)
{
	g_count = 0;
}

static void rpc_blockd_get_rpc_stats(struct rpc_request *req, const json_t *params)
{
	char err[160];
	if (json_decode_params(params, NULL, 0, err, sizeof(err)) < 0)
		return rpc_reply_invalid_params(req, err);
	rpc_reply(req, rpc_stats_json());
}

static const struct rpc_method stats_methods[] = {
	{ "blockd_get_rpc_stats", rpc_blockd_get_rpc_stats, RPC_NO_FAULT, NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL },
};

int rpc_stats_register(void)
{
	return rpc_register_methods(stats_methods);
}

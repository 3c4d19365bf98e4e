/* rpc_inflight.c — the requests in flight and blockd_get_requests (rpc_inflight.h): what a
 * wedged target is doing, for `berth doctor` (bug class 1: one hung call while others still
 * work). Entries are kept in arrival order, so the list is oldest first without sorting; the
 * method never intercepts (RPC_NO_FAULT) and reads nothing but this table. */
#include "rpc_inflight.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "rpc.h"
#include "rpc_stats.h"

struct inflight {
	uint64_t token;
	char method[64];
	json_t *id;
	unsigned conn;
	int client_pid;
	int64_t received_ms;
	struct timespec start;       /* CLOCK_MONOTONIC at arrival: its latency (rpc_stats.h) */
};

static struct inflight g_table[RPC_INFLIGHT_MAX];
static unsigned g_count;
static uint64_t g_next_token = 1;

uint64_t rpc_inflight_begin(const char *method, const json_t *id, unsigned conn, int client_pid,
			    int64_t received_ms)
{
	if (g_count == RPC_INFLIGHT_MAX)
		return 0;
	struct inflight *e = &g_table[g_count++];
	e->token = g_next_token++;
	snprintf(e->method, sizeof(e->method), "%s", method ? method : "");
	e->id = id ? json_deep_copy(id) : NULL;
	e->conn = conn;
	e->client_pid = client_pid;
	e->received_ms = received_ms;
	clock_gettime(CLOCK_MONOTONIC, &e->start);
	return e->token;
}

static void remove_at(unsigned i)
{
	json_decref(g_table[i].id);
	memmove(&g_table[i], &g_table[i + 1], (g_count - i - 1) * sizeof(g_table[0]));
	g_count--;
}

static int find(uint64_t token)
{
	if (!token)
		return -1;
	for (unsigned i = g_count; i-- > 0;)       /* the newest are the likeliest */
		if (g_table[i].token == token)
			return (int)i;
	return -1;
}

void rpc_inflight_end(uint64_t token)
{
	int i = find(token);
	if (i < 0)
		return;
	rpc_stats_unanswered(g_table[i].method);
	remove_at((unsigned)i);
}

void rpc_inflight_answered(uint64_t token, bool failed)
{
	int i = find(token);
	if (i < 0)
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ns = (int64_t)(now.tv_sec - g_table[i].start.tv_sec) * 1000000000 +
		     (now.tv_nsec - g_table[i].start.tv_nsec);
	rpc_stats_answered(g_table[i].method, ns > 0 ? (uint64_t)ns : 0, failed);
	remove_at((unsigned)i);
}

void rpc_inflight_drop_conn(unsigned conn)
{
	for (unsigned i = 0; i < g_count;) {
		if (g_table[i].conn == conn) {
			rpc_stats_unanswered(g_table[i].method);
			remove_at(i);
		}
		else
			i++;
	}
}

json_t *rpc_inflight_list(int64_t now_ms)
{
	json_t *arr = json_array();
	for (unsigned i = 0; i < g_count; i++) {
		const struct inflight *e = &g_table[i];
		if (!strcmp(e->method, "blockd_get_requests"))
			continue;        /* the call asking: always in flight while it runs */
		int64_t age = now_ms - e->received_ms;
		json_array_append_new(arr, json_pack("{s:s, s:O?, s:i, s:i, s:I}", "method",
			e->method, "id", e->id, "client_pid", e->client_pid, "conn", (int)e->conn,
			"age_ms", (json_int_t)(age > 0 ? age : 0)));
	}
	return arr;
}

void rpc_inflight_reset(void)
{
	while (g_count)
		remove_at(g_count - 1);
}

static void rpc_blockd_get_requests(struct rpc_request *req, const json_t *params)
{
	char err[160];
	if (json_decode_params(params, NULL, 0, err, sizeof(err)) < 0)
		return rpc_reply_invalid_params(req, err);
	rpc_reply(req, rpc_inflight_list(monotonic_ms()));
}

static const struct rpc_method inflight_methods[] = {
	{ "blockd_get_requests", rpc_blockd_get_requests, RPC_NO_FAULT, NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL },
};

int rpc_inflight_register(void)
{
	return rpc_register_methods(inflight_methods);
}

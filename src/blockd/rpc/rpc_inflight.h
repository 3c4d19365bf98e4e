/* rpc_inflight.h — the table of client requests in flight (received, not yet answered: being
 * run, held by an injected fault, or deferred), and the method that lists it,
 * blockd_get_requests. The transport (rpc_server.c) records each request it hands to the
 * dispatcher and forgets it once answered or once its connection closes; the method answers
 * from the table alone, so it is safe at any moment. Control thread only. */
#ifndef BLOCKD_RPC_INFLIGHT_H
#define BLOCKD_RPC_INFLIGHT_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#define RPC_INFLIGHT_MAX 1024          /* beyond this, requests are counted, not listed */

/* Records a request; id is borrowed (copied). Returns a token (never 0 for a recorded one). */
uint64_t rpc_inflight_begin(const char *method, const json_t *id, unsigned conn, int client_pid,
			    int64_t received_ms);
/* The request was answered (failed: with an error); its latency goes to rpc_stats.h.
 * Unknown or 0 tokens are ignored. */
void rpc_inflight_answered(uint64_t token, bool failed);
/* The request was dropped without an answer (counted as unanswered). */
void rpc_inflight_end(uint64_t token);
/* Its connection closed: whatever it had in flight will never be answered. */
void rpc_inflight_drop_conn(unsigned conn);
/* [{method, id, client_pid, conn, age_ms}], oldest first (blockd_get_requests itself left
 * out); now_ms a monotonic time. */
json_t *rpc_inflight_list(int64_t now_ms);
/* Forgets everything (tests, shutdown). */
void rpc_inflight_reset(void);

/* Registers blockd_get_requests. 0 or -ENOSPC. */
int rpc_inflight_register(void);

#endif

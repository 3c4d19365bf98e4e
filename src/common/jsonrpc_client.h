/* jsonrpc_client.h — the JSON-RPC client every Berth daemon and the CLI use to talk to the
 * storage target. Every call has a deadline (default 30 s); a missed deadline closes the
 * connection (a late reply can never be taken for the next call's) and returns -ETIMEDOUT.
 * The connection is opened lazily and re-opened by the next call after any failure.
 * One client is not thread-safe: give each thread its own. */
#ifndef BERTH_JSONRPC_CLIENT_H
#define BERTH_JSONRPC_CLIENT_H

#include <stdbool.h>
#include <jansson.h>

#define JRPC_DEFAULT_TIMEOUT_MS 30000
#define JRPC_REPLY_MAX (64 * 1024 * 1024)

struct jrpc_client;

struct jrpc_error {
	int code;             /* the JSON-RPC error code from the server */
	char message[512];
};

struct jrpc_client *jrpc_client_new(const char *socket_path);
void jrpc_client_free(struct jrpc_client *c);
void jrpc_client_set_timeout(struct jrpc_client *c, int timeout_ms);
int jrpc_client_timeout(const struct jrpc_client *c);
void jrpc_client_close(struct jrpc_client *c);
/* Whether a kept connection that the server closed while it was idle (blockd drops idle
 * clients) is replaced before the next request instead of failing it. Off by default: a
 * client that calls all the time (diskengine's loop) must see a connection that went away as
 * the target going away; one that idles between jobs (diskengine's workers) turns it on. */
void jrpc_client_set_replace_closed(struct jrpc_client *c, bool on);

/* Calls method with params (borrowed; NULL to leave params out).
 * 0: *result holds the result (a new reference).
 * -EREMOTEIO: the server answered an error, described in *err (if err is not NULL).
 * -ETIMEDOUT: the deadline passed (connection closed).
 * -EPROTO: the reply was not valid JSON-RPC (connection closed).
 * other -errno: connect/read/write failure (connection closed). */
int jrpc_call(struct jrpc_client *c, const char *method, json_t *params, json_t **result,
	      struct jrpc_error *err);
/* The same with a deadline for this call only. */
int jrpc_call_timeout(struct jrpc_client *c, const char *method, json_t *params,
		      int timeout_ms, json_t **result, struct jrpc_error *err);

#endif

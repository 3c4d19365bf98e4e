/* jsonrpc.h — JSON-RPC 2.0 messages in SPDK's dialect: request envelope validation and reply
 * encoding (compact JSON followed by '\n'). Transport-free: the framing is jsonrpc_frame.h,
 * the server loop belongs to the daemon, the client is jsonrpc_client.h. */
#ifndef BERTH_JSONRPC_H
#define BERTH_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#define JRPC_PARSE_ERROR      (-32700)
#define JRPC_INVALID_REQUEST  (-32600)
#define JRPC_METHOD_NOT_FOUND (-32601)
#define JRPC_INVALID_PARAMS   (-32602)
#define JRPC_INTERNAL_ERROR   (-32603)

struct jrpc_request {
	json_t *id;          /* borrowed; NULL for a notification */
	const char *method;  /* borrowed */
	json_t *params;      /* borrowed; NULL when absent */
};

/* Validates a decoded value as a request. flags are jsonrpc_frame.h's JRPC_VALUE_*.
 * Returns 0, or a JSON-RPC error code with *errmsg set; req->id is filled whenever the id could
 * be read, so the error can carry it. */
int jrpc_request_parse(json_t *value, unsigned flags, struct jrpc_request *req,
		       const char **errmsg);

/* Encodes {"jsonrpc":"2.0","id":id,"result":result}\n. Steals result. NULL on ENOMEM. */
char *jrpc_encode_result(json_t *id, json_t *result, size_t *len);
/* Encodes {"jsonrpc":"2.0","id":id,"error":{"code":code,"message":message}}\n. */
char *jrpc_encode_error(json_t *id, int code, const char *message, size_t *len);
/* Encodes a request; params may be NULL (left out, as SPDK's rpc.py does). */
char *jrpc_encode_request(const char *method, json_t *params, long long id, size_t *len);

#endif

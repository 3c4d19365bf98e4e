/* jsonrpc.c — JSON-RPC 2.0 envelope validation and encoding (see jsonrpc.h). */
#include "jsonrpc.h"
#include "jsonrpc_frame.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool id_is_valid(json_t *id)
{
	if (json_is_string(id) || json_is_integer(id) || json_is_null(id))
		return true;
	/* An id decoded as real because another integer overflowed: keep it when integral. */
	if (json_is_real(id)) {
		double d = json_real_value(id);
		return d == floor(d) && fabs(d) < 9.0e15;
	}
	return false;
}

int jrpc_request_parse(json_t *value, unsigned flags, struct jrpc_request *req,
		       const char **errmsg)
{
	memset(req, 0, sizeof(*req));
	if (json_is_array(value)) {
		*errmsg = "Invalid request: batch requests are not supported";
		return JRPC_INVALID_REQUEST;
	}
	if (!json_is_object(value)) {
		*errmsg = "Invalid request";
		return JRPC_INVALID_REQUEST;
	}

	json_t *id = json_object_get(value, "id");
	if (id) {
		if (!id_is_valid(id)) {
			*errmsg = "Invalid request: id must be a string, an integer or null";
			return JRPC_INVALID_REQUEST;
		}
		req->id = id;
	}

	const char *key;
	json_t *member;
	json_object_foreach(value, key, member) {
		if (strcmp(key, "jsonrpc") && strcmp(key, "method") && strcmp(key, "params") &&
		    strcmp(key, "id")) {
			*errmsg = "Invalid request: unknown member";
			return JRPC_INVALID_REQUEST;
		}
	}

	json_t *version = json_object_get(value, "jsonrpc");
	if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0) {
		*errmsg = "Invalid request: jsonrpc must be \"2.0\"";
		return JRPC_INVALID_REQUEST;
	}
	json_t *method = json_object_get(value, "method");
	if (!json_is_string(method) || json_string_length(method) == 0) {
		*errmsg = "Invalid request: method must be a non-empty string";
		return JRPC_INVALID_REQUEST;
	}
	req->method = json_string_value(method);

	json_t *params = json_object_get(value, "params");
	if (params && !json_is_object(params) && !json_is_array(params)) {
		*errmsg = "Invalid request: params must be an object or an array";
		return JRPC_INVALID_REQUEST;
	}
	req->params = params;

	if (flags & JRPC_VALUE_DUP_KEY) {
		*errmsg = "Invalid parameters: duplicate key";
		return JRPC_INVALID_PARAMS;
	}
	if (flags & JRPC_VALUE_BIG_INT) {
		*errmsg = "Invalid parameters: integer out of range";
		return JRPC_INVALID_PARAMS;
	}
	return 0;
}

static json_t *id_for_reply(json_t *id)
{
	if (!id)
		return json_null();
	if (json_is_real(id))
		return json_integer((json_int_t)json_real_value(id));
	return json_incref(id);
}

static char *encode_line(json_t *msg, size_t *len)
{
	if (!msg)
		return NULL;
	char *text = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(msg);
	if (!text)
		return NULL;
	size_t n = strlen(text);
	char *line = realloc(text, n + 2);
	if (!line) {
		free(text);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
	return line;
}

char *jrpc_encode_result(json_t *id, json_t *result, size_t *len)
{
	if (!result)
		return NULL;
	json_t *msg = json_pack("{s:s, s:o, s:o}", "jsonrpc", "2.0", "id", id_for_reply(id),
				"result", result);
	return encode_line(msg, len);
}

char *jrpc_encode_error(json_t *id, int code, const char *message, size_t *len)
{
	json_t *msg = json_pack("{s:s, s:o, s:{s:i, s:s}}", "jsonrpc", "2.0", "id",
				id_for_reply(id), "error", "code", code, "message", message);
	return encode_line(msg, len);
}

char *jrpc_encode_request(const char *method, json_t *params, long long id, size_t *len)
{
	json_t *msg = json_pack("{s:s, s:s, s:I}", "jsonrpc", "2.0", "method", method,
				"id", (json_int_t)id);
	if (msg && params)
		json_object_set(msg, "params", params);
	return encode_line(msg, len);
}

/* jsonrpc_client.c — a JSON-RPC client with a deadline on every call (see the header).
 * Owns the rule "RPC deadline" of docs/architecture.md (bug class 1).
 */
#include "jsonrpc_client.h"
#include "cleanup.h"

#include <errno.h>
#include <sys/socket.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deadline_io.h"
#include "jsonrpc.h"
#include "jsonrpc_frame.h"

struct jrpc_client {
	char *path;
	int fd;
	int timeout_ms;
	long long next_id;
	struct jrpc_frame frame;
};

struct jrpc_client *jrpc_client_new(const char *socket_path)
{
	_cleanup_free_ struct jrpc_client *c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(socket_path)))
		return NULL;
	c->fd = -1;
	c->timeout_ms = JRPC_DEFAULT_TIMEOUT_MS;
	c->next_id = 1;
	jrpc_frame_init(&c->frame, JRPC_REPLY_MAX);
	return TAKE_PTR(c);
}

void jrpc_client_close(struct jrpc_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	jrpc_frame_free(&c->frame);
	jrpc_frame_init(&c->frame, JRPC_REPLY_MAX);
}

void jrpc_client_free(struct jrpc_client *c)
{
	if (!c)
		return;
	jrpc_client_close(c);
	jrpc_frame_free(&c->frame);
	free(c->path);
	free(c);
}

void jrpc_client_set_timeout(struct jrpc_client *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : JRPC_DEFAULT_TIMEOUT_MS;
}

int jrpc_client_timeout(const struct jrpc_client *c)
{
	return c->timeout_ms;
}

static bool id_matches(json_t *reply, long long id)
{
	json_t *rid = json_object_get(reply, "id");
	return json_is_integer(rid) && json_integer_value(rid) == id;
}

/* Reads values until the reply to id arrives; replies to other ids (left over from an
 * earlier call whose caller gave up) are dropped. */
static int read_reply(struct jrpc_client *c, long long id, int64_t deadline, json_t **reply)
{
	char buf[65536];
	for (;;) {
		json_t *v;
		unsigned flags;
		char err[160];
		int rc = jrpc_frame_next(&c->frame, &v, &flags, err, sizeof(err));
		if (rc < 0)
			return -EPROTO;
		if (rc == 1) {
			if (json_is_object(v) && id_matches(v, id)) {
				*reply = v;
				return 0;
			}
			json_decref(v);
			continue;
		}
		ssize_t n = dio_read_some(c->fd, buf, sizeof(buf), deadline);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return (int)n;
		rc = jrpc_frame_feed(&c->frame, buf, (size_t)n);
		if (rc < 0)
			return -EPROTO;
	}
}

static int take_result(json_t *reply, json_t **result, struct jrpc_error *err)
{
	json_t *error = json_object_get(reply, "error");
	if (error) {
		if (err) {
			json_t *code = json_object_get(error, "code");
			json_t *msg = json_object_get(error, "message");
			err->code = json_is_integer(code) ? (int)json_integer_value(code) : 0;
			snprintf(err->message, sizeof(err->message), "%s",
				 json_is_string(msg) ? json_string_value(msg) : "(no message)");
		}
		return -EREMOTEIO;
	}
	json_t *res = json_object_get(reply, "result");
	if (!res)
		return -EPROTO;
	*result = json_incref(res);
	return 0;
}

/* A kept connection the server has closed meanwhile (blockd drops idle clients): readable with
 * nothing to read, or hung up. Checked before a request is sent, so a request never goes to
 * a connection the server gave up; a reply left over from an abandoned call is not a close. */
static bool connection_closed(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 0) <= 0)
		return false;
	if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
		return true;
	char byte;
	return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

int jrpc_call_timeout(struct jrpc_client *c, const char *method, json_t *params,
		      int timeout_ms, json_t **result, struct jrpc_error *err)
{
	*result = NULL;
	int64_t deadline = deadline_after_ms(timeout_ms > 0 ? timeout_ms : c->timeout_ms);
	long long id = c->next_id++;
	size_t len;
	char *line = jrpc_encode_request(method, params, id, &len);
	if (!line)
		return -ENOMEM;

	int rc = 0;
	if (c->fd >= 0 && connection_closed(c->fd))
		jrpc_client_close(c);
	if (c->fd < 0) {
		int fd = dio_connect_unix(c->path, deadline);
		if (fd < 0) {
			rc = fd;
			goto out;
		}
		c->fd = fd;
	}
	rc = dio_write_all(c->fd, line, len, deadline);
	json_t *reply = NULL;
	if (rc == 0)
		rc = read_reply(c, id, deadline, &reply);
	if (rc == 0) {
		rc = take_result(reply, result, err);
		json_decref(reply);
	}
out:
	free(line);
	if (rc < 0 && rc != -EREMOTEIO)
		jrpc_client_close(c);
	return rc;
}

int jrpc_call(struct jrpc_client *c, const char *method, json_t *params, json_t **result,
	      struct jrpc_error *err)
{
	return jrpc_call_timeout(c, method, params, 0, result, err);
}

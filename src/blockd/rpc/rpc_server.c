/* rpc_server.c — the JSON-RPC transport on the control thread's reactor ("app_thread"):
 * accepts clients on the RPC socket (at most RPC_MAX_CONNECTIONS: at the limit the longest idle
 * one makes room; an idle one is closed after the idle timeout), splits their byte streams
 * into requests (jsonrpc_frame, with its size limit), validates envelopes (jsonrpc), hands
 * each request to the dispatcher, holds back the ones a hook deferred, and writes replies
 * without ever blocking on a client. Everything runs on that one thread, so methods and
 * introspection never race each other. */
#include "rpc_server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "deadline_io.h"
#include "jsonrpc.h"
#include "jsonrpc_frame.h"
#include "log.h"
#include "reactor.h"
#include "rpc_inflight.h"
#include "rpc_request.h"
#include "sock_file.h"

struct rpc_conn {
	struct rpc_server *server;
	int fd;
	struct reactor_fd *watch;
	unsigned serial;             /* identifies the connection for delayed requests */
	struct jrpc_frame frame;
	char *out;
	size_t out_len, out_off;
	int64_t partial_since_ms;    /* 0 when no request is half-received */
	int64_t active_ms;           /* when a byte last came in or went out */
	unsigned deferred;           /* its requests a hook deferred, not yet run */
	int peer_pid;                /* SO_PEERCRED, for the debug log of calls */
	bool close_after_flush;
};

/* A request a hook deferred (an injected delay). */
struct delayed_request {
	struct delayed_request *next;
	struct reactor_timer timer;
	struct rpc_server *server;
	unsigned conn_serial;
	json_t *value;
	uint64_t inflight;           /* its entry in rpc_inflight.h's table */
};

struct rpc_server {
	struct reactor *reactor;
	int listen_fd;
	struct reactor_fd *listen_watch;
	struct reactor_poller *silent_check;
	char *path;
	struct sock_file bound;         /* unlinked at close only if still ours */
	struct rpc_conn *conns[RPC_MAX_CONNECTIONS];
	unsigned next_serial;
	unsigned idle_timeout_ms;
	struct delayed_request *delayed;
};

static struct rpc_server *g_server;

/* ---------------------------------------------------------------- output */

static size_t conn_out_pending(const struct rpc_conn *c)
{
	return c->out_len - c->out_off;
}

/* Requests are taken from a client only while its answers waiting to go out stay under the
 * cap: one that does not read them is not read either (EPOLLIN disarmed, so it costs no
 * wake-up), until they drain. */
static bool conn_may_read(const struct rpc_conn *c)
{
	return !c->close_after_flush && conn_out_pending(c) < RPC_OUTPUT_CAP;
}

static void conn_update_events(struct rpc_server *s, struct rpc_conn *c)
{
	uint32_t ev = (conn_may_read(c) ? EPOLLIN : 0) | (conn_out_pending(c) ? EPOLLOUT : 0);
	reactor_fd_modify(s->reactor, c->watch, ev);
}

/* Writes what the socket takes now; the rest waits for EPOLLOUT. -1 when the peer is gone. */
static int conn_flush(struct rpc_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return -1;
		c->out_off += (size_t)n;
		c->active_ms = monotonic_ms();
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
	} else if (c->out_off > 65536) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	return 0;
}

static void conn_queue(struct rpc_conn *c, char *line, size_t len)
{
	if (!line)
		return;
	char *nb = realloc(c->out, c->out_len + len);
	if (!nb) {
		c->close_after_flush = true;
		free(line);
		return;
	}
	memcpy(nb + c->out_len, line, len);
	c->out = nb;
	c->out_len += len;
	free(line);
	conn_flush(c);
}

/* The request's deliver callback: queues an answer line on the connection. */
static void conn_deliver(void *arg, char *line, size_t len)
{
	conn_queue(arg, line, len);
}

/* ---------------------------------------------------------------- requests */

static void conn_event(void *arg, uint32_t events);

static struct rpc_conn *conn_by_serial(struct rpc_server *s, unsigned serial)
{
	for (unsigned i = 0; i < RPC_MAX_CONNECTIONS; i++)
		if (s->conns[i] && s->conns[i]->serial == serial)
			return s->conns[i];
	return NULL;
}

static void run_delayed_request(void *arg);

static void delay_request(struct rpc_server *s, struct rpc_conn *c, json_t *value,
			  uint32_t delay_ms, uint64_t inflight)
{
	struct delayed_request *d = calloc(1, sizeof(*d));
	if (!d) {
		rpc_inflight_end(inflight);
		return;
	}
	d->inflight = inflight;
	d->server = s;
	d->conn_serial = c->serial;
	d->value = json_incref(value);
	d->next = s->delayed;
	s->delayed = d;
	c->deferred++;
	reactor_timer_arm(s->reactor, &d->timer, (uint64_t)delay_ms * 1000000ull,
			  run_delayed_request, d);
}

/* Handles one decoded value; inflight is the entry of a deferred request that comes back
 * (it is not intercepted again), 0 for a new one. */
static void handle_value(struct rpc_server *s, struct rpc_conn *c, json_t *value,
			 unsigned flags, uint64_t inflight)
{
	bool intercepted = inflight != 0;
	struct jrpc_request jr;
	const char *errmsg;
	struct rpc_request req = { .deliver = conn_deliver, .deliver_arg = c };
	int code = jrpc_request_parse(value, flags, &jr, &errmsg);
	req.id = jr.id;
	req.notification = jr.id == NULL;
	if (code != 0) {
		rpc_reply_error(&req, code, "%s", errmsg);
		return;
	}

	/* The call log an operator (and a test) reads to see who asked what. */
	log_debug("rpc", "method=%s conn=%u peer_pid=%d", jr.method, c->serial, c->peer_pid);
	/* In flight from here until answered (a hung one: until its connection closes). */
	if (!inflight)
		inflight = rpc_inflight_begin(jr.method, jr.id, c->serial, c->peer_pid,
					      monotonic_ms());
	uint32_t delay_ms = rpc_dispatch_client(&req, jr.method, jr.params, intercepted);
	if (delay_ms)
		delay_request(s, c, value, delay_ms, inflight);
	else if (req.answered)
		rpc_inflight_answered(inflight, req.failed);
}

/* ---------------------------------------------------------------- connections */

static void conn_close(struct rpc_server *s, struct rpc_conn *c)
{
	rpc_inflight_drop_conn(c->serial);
	for (unsigned i = 0; i < RPC_MAX_CONNECTIONS; i++)
		if (s->conns[i] == c)
			s->conns[i] = NULL;
	reactor_fd_remove(s->reactor, c->watch);
	close(c->fd);
	jrpc_frame_free(&c->frame);
	free(c->out);
	free(c);
}

/* Nothing in progress: no half request, no answer waiting to go out, none deferred. */
static bool conn_idle(const struct rpc_conn *c)
{
	return !c->partial_since_ms && c->out_off == c->out_len && c->deferred == 0;
}

/* Every slot is taken: closes the client idle the longest, if any is idle. Returns its slot,
 * or RPC_MAX_CONNECTIONS. */
static unsigned evict_longest_idle(struct rpc_server *s)
{
	unsigned victim = RPC_MAX_CONNECTIONS;
	for (unsigned i = 0; i < RPC_MAX_CONNECTIONS; i++) {
		struct rpc_conn *c = s->conns[i];
		if (c && conn_idle(c) && (victim == RPC_MAX_CONNECTIONS ||
					  c->active_ms < s->conns[victim]->active_ms))
			victim = i;
	}
	if (victim < RPC_MAX_CONNECTIONS) {
		log_warn("blockd", "msg=\"RPC clients at the limit; closing the longest idle one "
			 "to admit a new one\" max=%d idle_ms=%lld peer_pid=%d", RPC_MAX_CONNECTIONS,
			 (long long)(monotonic_ms() - s->conns[victim]->active_ms),
			 s->conns[victim]->peer_pid);
		conn_close(s, s->conns[victim]);
	}
	return victim;
}

static void accept_clients(struct rpc_server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		unsigned slot;
		for (slot = 0; slot < RPC_MAX_CONNECTIONS && s->conns[slot]; slot++)
			;
		if (slot == RPC_MAX_CONNECTIONS)
			slot = evict_longest_idle(s);
		if (slot == RPC_MAX_CONNECTIONS) {
			log_warn("blockd", "msg=\"too many busy RPC clients; refusing one\" max=%d",
				 RPC_MAX_CONNECTIONS);
			close(fd);
			continue;
		}
		struct rpc_conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->serial = ++s->next_serial;
		c->active_ms = monotonic_ms();
		struct ucred cred;
		socklen_t len = sizeof(cred);
		c->peer_pid = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.pid
											: -1;
		c->server = s;
		jrpc_frame_init(&c->frame, JRPC_REQUEST_MAX);
		c->watch = reactor_fd_add(s->reactor, fd, EPOLLIN, conn_event, c);
		if (!c->watch) {
			jrpc_frame_free(&c->frame);
			free(c);
			close(fd);
			continue;
		}
		s->conns[slot] = c;
	}
}

static void conn_parse_error(struct rpc_conn *c, int rc, const char *err)
{
	struct rpc_request req = { .deliver = conn_deliver, .deliver_arg = c };
	const char *why = rc == -EMSGSIZE ? "request too large" : err;
	rpc_reply_error(&req, JRPC_PARSE_ERROR, "Parse error: %s", why);
	log_warn("blockd", "msg=\"closing RPC client\" reason=\"%s\"", why);
	c->close_after_flush = true;
}

/* Handles the complete requests received, while the client's answers stay under the cap
 * (the rest wait in the frame buffer until they drain). */
static void conn_process(struct rpc_server *s, struct rpc_conn *c)
{
	while (conn_may_read(c)) {
		json_t *value = NULL;
		unsigned flags = 0;
		char err[160] = "";
		int rc = jrpc_frame_next(&c->frame, &value, &flags, err, sizeof(err));
		if (rc == 1) {
			handle_value(s, c, value, flags, 0);
			json_decref(value);
			continue;
		}
		if (rc < 0)
			conn_parse_error(c, rc, err);
		break;
	}
	if (jrpc_frame_partial(&c->frame)) {
		if (!c->partial_since_ms)
			c->partial_since_ms = monotonic_ms();
	} else {
		c->partial_since_ms = 0;
	}
}

/* Reads and handles what the client sent. Returns -1 when the connection must close. */
static int conn_read(struct rpc_server *s, struct rpc_conn *c)
{
	char buf[65536];
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n == 0)
		return -1;
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	c->active_ms = monotonic_ms();
	int rc = jrpc_frame_feed(&c->frame, buf, (size_t)n);
	if (rc < 0)
		conn_parse_error(c, rc, "");
	else
		conn_process(s, c);
	return 0;
}

static void conn_event(void *arg, uint32_t events)
{
	struct rpc_conn *c = arg;
	struct rpc_server *s = c->server;
	if (conn_flush(c) < 0) {
		conn_close(s, c);
		return;
	}
	/* Requests held back while the answers were over the cap come first. */
	conn_process(s, c);
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && conn_may_read(c)) {
		if (conn_read(s, c) < 0) {
			conn_close(s, c);
			return;
		}
	}
	if (conn_flush(c) < 0 || (c->close_after_flush && c->out_len == 0)) {
		conn_close(s, c);
		return;
	}
	conn_update_events(s, c);
}

/* ---------------------------------------------------------------- timers */

static void run_delayed_request(void *arg)
{
	struct delayed_request *d = arg;
	struct rpc_server *s = d->server;
	for (struct delayed_request **pp = &s->delayed; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	struct rpc_conn *c = conn_by_serial(s, d->conn_serial);
	if (!c)
		rpc_inflight_end(d->inflight);
	if (c) {
		c->deferred--;
		handle_value(s, c, d->value, 0, d->inflight ? d->inflight : UINT64_MAX);
		if (conn_flush(c) < 0 || (c->close_after_flush && c->out_len == 0))
			conn_close(s, c);
		else
			conn_update_events(s, c);
	}
	json_decref(d->value);
	free(d);
}

static int drop_silent_clients(void *arg)
{
	struct rpc_server *s = arg;
	int64_t now = monotonic_ms(), limit = s->idle_timeout_ms;
	int dropped = 0;
	for (unsigned i = 0; i < RPC_MAX_CONNECTIONS; i++) {
		struct rpc_conn *c = s->conns[i];
		if (!c)
			continue;
		if (c->partial_since_ms && now - c->partial_since_ms > limit) {
			log_warn("blockd", "msg=\"RPC client sent half a request and went silent; "
				 "closing\" waited_ms=%lld", (long long)(now - c->partial_since_ms));
		} else if (c->deferred == 0 && now - c->active_ms > limit) {
			log_warn("blockd", "msg=\"RPC client idle; closing\" idle_ms=%lld "
				 "peer_pid=%d", (long long)(now - c->active_ms), c->peer_pid);
		} else {
			continue;
		}
		conn_close(s, c);
		dropped++;
	}
	return dropped;
}

static void listen_event(void *arg, uint32_t events)
{
	accept_clients(arg);
}

/* ---------------------------------------------------------------- lifecycle */

struct rpc_server *rpc_server_open(const char *path, struct reactor *app)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_error("blockd", "msg=\"RPC socket path too long\" path=%s", path);
		return NULL;
	}
	strcpy(addr.sun_path, path);

	struct rpc_server *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->reactor = app;
	s->idle_timeout_ms = RPC_IDLE_TIMEOUT_MS;
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	s->path = strdup(path);
	if (s->listen_fd < 0 || !s->path)
		goto fail;
	unlink(path);
	mode_t old = umask(0177);
	int rc = bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	sock_file_note(&s->bound, path);
	if (rc < 0 || listen(s->listen_fd, 128) < 0) {
		log_error("blockd", "msg=\"cannot listen on RPC socket\" path=%s error=\"%s\"",
			  path, strerror(errno));
		goto fail;
	}
	s->listen_watch = reactor_fd_add(app, s->listen_fd, EPOLLIN, listen_event, s);
	s->silent_check = reactor_poller_register(app, "rpc_silent_clients", drop_silent_clients,
						  s, 1000000000ull);
	if (!s->listen_watch || !s->silent_check)
		goto fail;
	g_server = s;
	return s;
fail:
	if (s->listen_watch)
		reactor_fd_remove(app, s->listen_watch);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	free(s->path);
	free(s);
	return NULL;
}

void rpc_server_set_idle_timeout(struct rpc_server *s, unsigned ms)
{
	if (ms > 0)
		s->idle_timeout_ms = ms;
}

void rpc_server_close(struct rpc_server *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < RPC_MAX_CONNECTIONS; i++)
		if (s->conns[i])
			conn_close(s, s->conns[i]);
	while (s->delayed) {
		struct delayed_request *d = s->delayed;
		s->delayed = d->next;
		reactor_timer_cancel(s->reactor, &d->timer);
		rpc_inflight_end(d->inflight);
		json_decref(d->value);
		free(d);
	}
	reactor_poller_unregister(s->reactor, s->silent_check);
	reactor_fd_remove(s->reactor, s->listen_watch);
	close(s->listen_fd);
	sock_file_unlink(&s->bound, s->path);
	free(s->path);
	if (g_server == s)
		g_server = NULL;
	free(s);
}

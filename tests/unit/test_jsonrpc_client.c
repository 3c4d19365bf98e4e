/* test_jsonrpc_client.c — the JSON-RPC client (src/common/jsonrpc_client.c) and the deadline
 * I/O under it (src/common/deadline_io.c), against a fake server run by this test: a thread
 * with a listening Unix socket in a temporary directory whose behaviour is chosen by the
 * method called (answer, error, never answer, answer in two halves, stale ids first, close
 * mid-reply, garbage). Checks results, error replies, deadlines (a silent server costs the
 * configured deadline, not more, and the connection is dropped and re-opened), and that no
 * failure hangs. Synchronisation is by condition variables and socket state, never sleeps. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "clock.h"
#include "deadline_io.h"
#include "sock_util.h"
#include "jsonrpc.h"
#include "jsonrpc_client.h"
#include "jsonrpc_frame.h"

/* ---------------------------------------------------------------- the fake server */

struct fake_server {
	char dir[64];
	char path[128];
	int listen_fd;
	int stop_pipe[2];
	pthread_t thread;
	bool running;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	int accepts;          /* connections accepted */
	int eofs;             /* connections the client closed */
	int closes;           /* connections the server closed */
	int requests;         /* requests received */
	long long last_id;
};

static struct fake_server srv;

static void srv_bump(int *counter)
{
	pthread_mutex_lock(&srv.lock);
	(*counter)++;
	pthread_cond_broadcast(&srv.cond);
	pthread_mutex_unlock(&srv.lock);
}

/* Waits until *counter >= want, at most timeout_ms. Returns the value seen. */
static int srv_wait(int *counter, int want, int timeout_ms)
{
	struct timespec until = monotonic_after_ms(timeout_ms);
	pthread_mutex_lock(&srv.lock);
	while (*counter < want) {
		if (pthread_cond_timedwait(&srv.cond, &srv.lock, &until) == ETIMEDOUT)
			break;
	}
	int v = *counter;
	pthread_mutex_unlock(&srv.lock);
	return v;
}

static int srv_get(int *counter)
{
	pthread_mutex_lock(&srv.lock);
	int v = *counter;
	pthread_mutex_unlock(&srv.lock);
	return v;
}

/* Waits (at most 10 s) for fd to be readable; false on stop or timeout. */
static bool srv_wait_readable(int fd)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
			       { .fd = srv.stop_pipe[0], .events = POLLIN } };
	int64_t deadline = deadline_after_ms(10000);
	for (;;) {
		int rc = poll(p, 2, deadline_remaining_ms(deadline));
		if (rc < 0 && errno == EINTR)
			continue;
		return rc > 0 && !(p[1].revents & POLLIN);
	}
}

static char *reply_result(long long id, json_t *result)
{
	json_t *jid = json_integer(id);
	size_t len;
	char *line = jrpc_encode_result(jid, result, &len);
	json_decref(jid);
	return line;
}

/* Handles one request; returns false when the connection must be closed. */
static bool srv_handle(int fd, json_t *req)
{
	const char *method = json_string_value(json_object_get(req, "method"));
	json_t *params = json_object_get(req, "params");
	json_t *jid = json_object_get(req, "id");
	long long id = json_integer_value(jid);
	pthread_mutex_lock(&srv.lock);
	srv.last_id = id;
	srv.requests++;
	pthread_cond_broadcast(&srv.cond);
	pthread_mutex_unlock(&srv.lock);
	if (!method)
		return false;

	if (!strcmp(method, "echo")) {
		json_t *res = json_pack("{s:s}", "method", method);
		if (params)
			json_object_set(res, "params", params);
		char *line = reply_result(id, res);
		sock_send_str(fd, line);
		free(line);
	} else if (!strcmp(method, "fail")) {
		size_t len;
		char *line = jrpc_encode_error(jid, -19, "No such device", &len);
		sock_send_all(fd, line, len);
		free(line);
	} else if (!strcmp(method, "silent")) {
		/* never answers */
	} else if (!strcmp(method, "halves")) {
		char *line = reply_result(id, json_string("first half|second half"));
		size_t n = strlen(line), half = strstr(line, "|") - line;
		sock_send_all(fd, line, half);
		sock_wait_drained(fd, srv.stop_pipe[0]);   /* the client has the first half and waits for more */
		sock_send_all(fd, line + half, n - half);
		free(line);
	} else if (!strcmp(method, "stale")) {
		char *a = reply_result(id - 1, json_string("stale"));
		char *b = reply_result(id + 1000, json_string("future"));
		char buf[256];
		snprintf(buf, sizeof(buf), "{\"jsonrpc\":\"2.0\",\"id\":\"%lld\",\"result\":\"str\"}"
			 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
			 "\"message\":\"x\"}}", id);
		char *c = reply_result(id, json_string("right"));
		sock_send_str(fd, a);           /* alone */
		sock_wait_drained(fd, srv.stop_pipe[0]);
		sock_send_str(fd, b);           /* then the rest in one write */
		char all[1024];
		snprintf(all, sizeof(all), "%s%s", buf, c);
		sock_send_str(fd, all);
		free(a);
		free(b);
		free(c);
	} else if (!strcmp(method, "close_mid")) {
		char *line = reply_result(id, json_string("never complete"));
		sock_send_all(fd, line, strlen(line) / 2);
		free(line);
		return false;
	} else if (!strcmp(method, "answer_then_close")) {
		/* As a server that drops an idle client: the answer, then the connection closes. */
		char *line = reply_result(id, json_string("bye"));
		sock_send_str(fd, line);
		free(line);
		return false;
	} else if (!strcmp(method, "garbage")) {
		sock_send_str(fd, "hello\n");
	} else if (!strcmp(method, "no_result")) {
		char buf[128];
		snprintf(buf, sizeof(buf), "{\"jsonrpc\":\"2.0\",\"id\":%lld}\n", id);
		sock_send_str(fd, buf);
	} else if (!strcmp(method, "big")) {
		size_t n = (size_t)json_integer_value(json_object_get(params, "size"));
		char *s = malloc(n + 1);
		memset(s, 'b', n);
		s[n] = '\0';
		char *line = reply_result(id, json_string(s));
		sock_send_str(fd, line);
		free(line);
		free(s);
	} else {
		size_t len;
		char *line = jrpc_encode_error(jid, JRPC_METHOD_NOT_FOUND, "Method not found", &len);
		sock_send_all(fd, line, len);
		free(line);
	}
	return true;
}

static void srv_serve(int fd)
{
	struct jrpc_frame f;
	jrpc_frame_init(&f, JRPC_REQUEST_MAX);
	char buf[4096];
	for (;;) {
		if (!srv_wait_readable(fd))
			break;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			srv_bump(&srv.eofs);
			break;
		}
		if (jrpc_frame_feed(&f, buf, (size_t)n) < 0)
			break;
		json_t *v;
		unsigned flags;
		char err[160];
		int rc;
		bool keep = true;
		while (keep && (rc = jrpc_frame_next(&f, &v, &flags, err, sizeof(err))) == 1) {
			keep = srv_handle(fd, v);
			json_decref(v);
		}
		if (!keep || rc < 0)
			break;
	}
	jrpc_frame_free(&f);
}

static void *srv_main(void *arg)
{
	(void)arg;
	for (;;) {
		if (!srv_wait_readable(srv.listen_fd))
			break;
		int fd = accept4(srv.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		srv_bump(&srv.accepts);
		srv_serve(fd);
		close(fd);
		srv_bump(&srv.closes);
	}
	return NULL;
}

static void srv_start(void)
{
	memset(&srv, 0, sizeof(srv));
	snprintf(srv.dir, sizeof(srv.dir), "/tmp/berth-rpcc-XXXXXX");
	cr_assert_not_null(mkdtemp(srv.dir));
	snprintf(srv.path, sizeof(srv.path), "%s/rpc.sock", srv.dir);

	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv.cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&srv.lock, NULL);

	cr_assert_eq(pipe2(srv.stop_pipe, O_CLOEXEC), 0);
	srv.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(srv.listen_fd, 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strcpy(addr.sun_path, srv.path);
	cr_assert_eq(bind(srv.listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	cr_assert_eq(listen(srv.listen_fd, 8), 0);
	cr_assert_eq(pthread_create(&srv.thread, NULL, srv_main, NULL), 0);
	srv.running = true;
}

static void srv_stop(void)
{
	if (srv.running) {
		ssize_t w = write(srv.stop_pipe[1], "x", 1);
		(void)w;
		pthread_join(srv.thread, NULL);
		srv.running = false;
	}
	close(srv.listen_fd);
	close(srv.stop_pipe[0]);
	close(srv.stop_pipe[1]);
	unlink(srv.path);
	rmdir(srv.dir);
	pthread_mutex_destroy(&srv.lock);
	pthread_cond_destroy(&srv.cond);
}

/* ---------------------------------------------------------------- client tests */

static struct jrpc_client *cli;

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	srv_start();
	cli = jrpc_client_new(srv.path);
	cr_assert_not_null(cli);
}

static void teardown(void)
{
	jrpc_client_free(cli);
	cli = NULL;
	srv_stop();
}

TestSuite(client, .init = setup, .fini = teardown, .timeout = 60);

Test(client, normal_call_returns_result)
{
	json_t *params = json_pack("{s:s, s:i}", "name", "Malloc0", "n", 3);
	json_t *result = NULL;
	struct jrpc_error err = { 0 };
	cr_assert_eq(jrpc_call(cli, "echo", params, &result, &err), 0);
	cr_assert_not_null(result);
	cr_assert_str_eq(json_string_value(json_object_get(result, "method")), "echo");
	cr_assert(json_equal(json_object_get(result, "params"), params),
		  "the params reached the server unchanged");
	cr_assert_eq(params->refcount, 1, "params are borrowed");
	json_decref(result);
	json_decref(params);
}

Test(client, params_left_out_when_null)
{
	json_t *result = NULL;
	cr_assert_eq(jrpc_call(cli, "echo", NULL, &result, NULL), 0);
	cr_assert_null(json_object_get(result, "params"), "no params member was sent");
	json_decref(result);
}

Test(client, calls_reuse_the_connection_with_fresh_ids)
{
	long long ids[3];
	for (int i = 0; i < 3; i++) {
		json_t *result = NULL;
		cr_assert_eq(jrpc_call(cli, "echo", NULL, &result, NULL), 0);
		json_decref(result);
		pthread_mutex_lock(&srv.lock);
		ids[i] = srv.last_id;
		pthread_mutex_unlock(&srv.lock);
	}
	cr_assert_eq(srv_get(&srv.accepts), 1, "one connection for three calls");
	cr_assert_neq(ids[0], ids[1]);
	cr_assert_neq(ids[1], ids[2]);
	cr_assert_neq(ids[0], ids[2]);
}

Test(client, error_reply_fills_code_and_message)
{
	json_t *result = (json_t *)0x1;
	struct jrpc_error err = { 0 };
	cr_assert_eq(jrpc_call(cli, "fail", NULL, &result, &err), -EREMOTEIO);
	cr_assert_null(result);
	cr_assert_eq(err.code, -19);
	cr_assert_str_eq(err.message, "No such device");
	/* The connection stays usable after an error reply. */
	cr_assert_eq(jrpc_call(cli, "echo", NULL, &result, NULL), 0);
	json_decref(result);
	cr_assert_eq(srv_get(&srv.accepts), 1);

	/* err may be NULL */
	cr_assert_eq(jrpc_call(cli, "fail", NULL, &result, NULL), -EREMOTEIO);
	err.code = 0;
	cr_assert_eq(jrpc_call(cli, "no_such_method", NULL, &result, &err), -EREMOTEIO);
	cr_assert_eq(err.code, JRPC_METHOD_NOT_FOUND);
}

Test(client, silent_server_times_out_then_reconnects)
{
	jrpc_client_set_timeout(cli, 300);
	cr_assert_eq(jrpc_client_timeout(cli), 300);
	json_t *result = (json_t *)0x1;
	int64_t t0 = monotonic_ms();
	int rc = jrpc_call(cli, "silent", NULL, &result, NULL);
	int64_t took = monotonic_ms() - t0;
	cr_assert_eq(rc, -ETIMEDOUT, "rc %d", rc);
	cr_assert_null(result);
	cr_assert_geq(took, 250, "gave up after %lld ms", (long long)took);
	cr_assert_leq(took, 3000, "took %lld ms", (long long)took);
	cr_assert_eq(srv_get(&srv.requests), 1, "the request did reach the server");

	/* The client closed the connection: the server sees end of stream. */
	cr_assert_eq(srv_wait(&srv.eofs, 1, 5000), 1, "the connection was not closed");

	/* The next call opens a new connection and works. */
	cr_assert_eq(jrpc_call(cli, "echo", NULL, &result, NULL), 0);
	cr_assert_str_eq(json_string_value(json_object_get(result, "method")), "echo");
	json_decref(result);
	cr_assert_eq(srv_get(&srv.accepts), 2);
}

Test(client, per_call_deadline)
{
	/* default 30 s, this call only 200 ms */
	json_t *result;
	int64_t t0 = monotonic_ms();
	cr_assert_eq(jrpc_call_timeout(cli, "silent", NULL, 200, &result, NULL), -ETIMEDOUT);
	int64_t took = monotonic_ms() - t0;
	cr_assert_geq(took, 150);
	cr_assert_leq(took, 3000);
	cr_assert_eq(jrpc_client_timeout(cli), JRPC_DEFAULT_TIMEOUT_MS);
}

Test(client, set_timeout_zero_means_default)
{
	jrpc_client_set_timeout(cli, 0);
	cr_assert_eq(jrpc_client_timeout(cli), JRPC_DEFAULT_TIMEOUT_MS);
	jrpc_client_set_timeout(cli, -5);
	cr_assert_eq(jrpc_client_timeout(cli), JRPC_DEFAULT_TIMEOUT_MS);
}

Test(client, reply_in_two_halves)
{
	jrpc_client_set_timeout(cli, 5000);
	json_t *result = NULL;
	cr_assert_eq(jrpc_call(cli, "halves", NULL, &result, NULL), 0);
	cr_assert_str_eq(json_string_value(result), "first half|second half");
	json_decref(result);
}

Test(client, stale_ids_are_skipped)
{
	jrpc_client_set_timeout(cli, 5000);
	json_t *result = NULL;
	cr_assert_eq(jrpc_call(cli, "stale", NULL, &result, NULL), 0);
	cr_assert_str_eq(json_string_value(result), "right");
	json_decref(result);
	/* and the connection is still in step */
	cr_assert_eq(jrpc_call(cli, "echo", NULL, &result, NULL), 0);
	cr_assert_str_eq(json_string_value(json_object_get(result, "method")), "echo");
	json_decref(result);
}

Test(client, large_reply)
{
	jrpc_client_set_timeout(cli, 10000);
	json_t *params = json_pack("{s:i}", "size", 3 * 1024 * 1024);
	json_t *result = NULL;
	cr_assert_eq(jrpc_call(cli, "big", params, &result, NULL), 0);
	cr_assert_eq(json_string_length(result), 3u * 1024 * 1024);
	json_decref(result);
	json_decref(params);
}

Test(client, server_closes_mid_reply)
{
	jrpc_client_set_timeout(cli, 20000);
	json_t *result = (json_t *)0x1;
	int64_t t0 = monotonic_ms();
	int rc = jrpc_call(cli, "close_mid", NULL, &result, NULL);
	int64_t took = monotonic_ms() - t0;
	cr_assert_lt(rc, 0);
	cr_assert_neq(rc, -ETIMEDOUT, "a closed connection is not a timeout");
	cr_assert_neq(rc, -EREMOTEIO);
	cr_assert_null(result);
	cr_assert_lt(took, 3000, "took %lld ms", (long long)took);
	/* the next call reconnects */
	cr_assert_eq(jrpc_call(cli, "echo", NULL, &result, NULL), 0);
	json_decref(result);
	cr_assert_eq(srv_get(&srv.accepts), 2);
}

Test(client, garbage_reply_is_eproto)
{
	jrpc_client_set_timeout(cli, 5000);
	json_t *result = (json_t *)0x1;
	cr_assert_eq(jrpc_call(cli, "garbage", NULL, &result, NULL), -EPROTO);
	cr_assert_null(result);
	cr_assert_eq(srv_wait(&srv.eofs, 1, 5000), 1, "connection closed after garbage");
	cr_assert_eq(jrpc_call(cli, "echo", NULL, &result, NULL), 0);
	json_decref(result);
}

Test(client, reply_without_result_is_eproto)
{
	jrpc_client_set_timeout(cli, 5000);
	json_t *result = (json_t *)0x1;
	cr_assert_eq(jrpc_call(cli, "no_result", NULL, &result, NULL), -EPROTO);
	cr_assert_null(result);
}

Test(client, server_gone_between_calls)
{
	json_t *result = NULL;
	cr_assert_eq(jrpc_call(cli, "echo", NULL, &result, NULL), 0);
	json_decref(result);
	srv_stop();   /* closes the connection and the listening socket, removes the file */
	int64_t t0 = monotonic_ms();
	int rc = jrpc_call(cli, "echo", NULL, &result, NULL);
	cr_assert_lt(rc, 0);
	cr_assert_neq(rc, -ETIMEDOUT);
	cr_assert_lt(monotonic_ms() - t0, 3000);
	/* teardown stops it again: make that harmless */
	srv_start();
}

/* A server may close a connection that stayed idle (blockd does after its idle timeout): the
 * next call must not fail for it. The client sees the close before it sends and connects
 * again, so no request is ever sent on a connection the server has already given up. */
Test(client, a_connection_the_server_closed_while_idle_is_replaced)
{
	json_t *result = NULL;
	jrpc_client_set_replace_closed(cli, true);
	cr_assert_eq(jrpc_call(cli, "answer_then_close", NULL, &result, NULL), 0);
	json_decref(result);
	cr_assert_eq(srv_wait(&srv.closes, 1, 2000), 1, "the server closed the connection");
	cr_assert_eq(jrpc_call(cli, "echo", NULL, &result, NULL), 0, "a stale connection failed the call");
	json_decref(result);
	cr_assert_eq(srv_get(&srv.accepts), 2, "the client connected again");
}

/* Without the option, a connection the server closed fails the next call: a client that
 * calls all the time learns that way that the server went away. */
Test(client, a_closed_connection_fails_the_next_call_unless_asked_otherwise)
{
	json_t *result = NULL;
	cr_assert_eq(jrpc_call(cli, "answer_then_close", NULL, &result, NULL), 0);
	json_decref(result);
	cr_assert_eq(srv_wait(&srv.closes, 1, 2000), 1, "the server closed the connection");
	cr_assert_lt(jrpc_call(cli, "echo", NULL, &result, NULL), 0);
	cr_assert_eq(jrpc_call(cli, "echo", NULL, &result, NULL), 0, "the call after connects");
	json_decref(result);
}

/* ---------------------------------------------------------------- connect failures */

Test(connect, missing_socket)
{
	struct jrpc_client *c = jrpc_client_new("/tmp/berth-no-such-dir-x/rpc.sock");
	cr_assert_not_null(c);
	json_t *result = (json_t *)0x1;
	int64_t t0 = monotonic_ms();
	int rc = jrpc_call(c, "echo", NULL, &result, NULL);
	cr_assert(rc == -ENOENT || rc == -ECONNREFUSED, "rc %d", rc);
	cr_assert_lt(monotonic_ms() - t0, 1000);
	cr_assert_null(result);
	jrpc_client_free(c);
}

Test(connect, socket_file_without_listener)
{
	char dir[] = "/tmp/berth-rpcc-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/dead.sock", dir);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strcpy(addr.sun_path, path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);   /* the file stays, nobody listens: what a crashed target leaves */

	struct jrpc_client *c = jrpc_client_new(path);
	json_t *result;
	int64_t t0 = monotonic_ms();
	int rc = jrpc_call(c, "echo", NULL, &result, NULL);
	cr_assert(rc == -ECONNREFUSED || rc == -ENOENT, "rc %d", rc);
	cr_assert_lt(monotonic_ms() - t0, 1000);
	jrpc_client_free(c);
	unlink(path);
	rmdir(dir);
}

Test(connect, path_too_long)
{
	char path[200];
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	cr_assert_eq(dio_connect_unix(path, deadline_after_ms(1000)), -ENAMETOOLONG);
	struct jrpc_client *c = jrpc_client_new(path);
	json_t *result;
	cr_assert_eq(jrpc_call(c, "echo", NULL, &result, NULL), -ENAMETOOLONG);
	jrpc_client_free(c);
}

Test(connect, listener_with_full_backlog)
{
	/* A server that stopped accepting (a wedged control thread): once its backlog is full a
	 * connect must either succeed for real or fail, within the deadline; it must never hand
	 * back a socket that is not connected. */
	char dir[] = "/tmp/berth-rpcc-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/full.sock", dir);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strcpy(addr.sun_path, path);
	cr_assert_eq(bind(l, (struct sockaddr *)&addr, sizeof(addr)), 0);
	cr_assert_eq(listen(l, 0), 0);
	int fds[4];
	for (int i = 0; i < 4; i++) {
		int64_t t0 = monotonic_ms();
		fds[i] = dio_connect_unix(path, deadline_after_ms(300));
		int64_t took = monotonic_ms() - t0;
		cr_assert_lt(took, 3000, "connect %d took %lld ms", i, (long long)took);
		if (fds[i] >= 0) {
			struct sockaddr_un peer;
			socklen_t len = sizeof(peer);
			cr_expect_eq(getpeername(fds[i], (struct sockaddr *)&peer, &len), 0,
				     "connect %d returned fd %d that is not connected (%s)", i, fds[i],
				     strerror(errno));
		}
	}
	for (int i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	close(l);
	unlink(path);
	rmdir(dir);
}

/* ---------------------------------------------------------------- deadline_io */

Test(deadline_io, deadlines)
{
	int64_t now = monotonic_ms();
	int64_t d = deadline_after_ms(1000);
	cr_assert_geq(d, now + 1000);
	cr_assert_leq(d, monotonic_ms() + 1000);
	int left = deadline_remaining_ms(d);
	cr_assert(left > 900 && left <= 1000, "left %d", left);
	cr_assert_eq(deadline_remaining_ms(now - 5), 0);
	cr_assert_leq(deadline_after_ms(-50), monotonic_ms(), "a negative delay is now");
	cr_assert_eq(deadline_remaining_ms(INT64_MAX / 2), INT_MAX, "clamped for poll(2)");
}

static void nb_socketpair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(fd_set_nonblocking(sv[0]), 0);
	cr_assert(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
}

Test(deadline_io, read_times_out)
{
	int sv[2];
	nb_socketpair(sv);
	char buf[16];
	int64_t t0 = monotonic_ms();
	cr_assert_eq(dio_read_some(sv[0], buf, sizeof(buf), deadline_after_ms(150)), -ETIMEDOUT);
	int64_t took = monotonic_ms() - t0;
	cr_assert(took >= 140 && took < 3000, "took %lld", (long long)took);
	/* a deadline already passed: no wait at all */
	t0 = monotonic_ms();
	cr_assert_eq(dio_read_some(sv[0], buf, sizeof(buf), monotonic_ms() - 1), -ETIMEDOUT);
	cr_assert_lt(monotonic_ms() - t0, 100);
	close(sv[0]);
	close(sv[1]);
}

Test(deadline_io, read_data_and_eof)
{
	int sv[2];
	nb_socketpair(sv);
	cr_assert_eq(write(sv[1], "abc", 3), 3);
	char buf[16];
	cr_assert_eq(dio_read_some(sv[0], buf, sizeof(buf), deadline_after_ms(1000)), 3);
	cr_assert_eq(memcmp(buf, "abc", 3), 0);
	close(sv[1]);
	cr_assert_eq(dio_read_some(sv[0], buf, sizeof(buf), deadline_after_ms(1000)), 0);
	close(sv[0]);
}

Test(deadline_io, write_to_a_peer_that_does_not_read_times_out)
{
	int sv[2];
	nb_socketpair(sv);
	size_t n = 16 * 1024 * 1024;
	char *big = calloc(1, n);
	int64_t t0 = monotonic_ms();
	cr_assert_eq(dio_write_all(sv[0], big, n, deadline_after_ms(200)), -ETIMEDOUT);
	int64_t took = monotonic_ms() - t0;
	cr_assert(took >= 190 && took < 3000, "took %lld", (long long)took);
	free(big);
	close(sv[0]);
	close(sv[1]);
}

Test(deadline_io, write_to_a_closed_peer_is_epipe)
{
	signal(SIGPIPE, SIG_DFL);   /* must not be raised: MSG_NOSIGNAL */
	int sv[2];
	nb_socketpair(sv);
	close(sv[1]);
	cr_assert_eq(dio_write_all(sv[0], "x", 1, deadline_after_ms(1000)), -EPIPE);
	close(sv[0]);
}

Test(deadline_io, write_all_and_read_back)
{
	int sv[2];
	nb_socketpair(sv);
	cr_assert_eq(dio_write_all(sv[0], "hello", 5, deadline_after_ms(1000)), 0);
	char buf[8];
	cr_assert_eq(read(sv[1], buf, sizeof(buf)), 5);
	cr_assert_eq(memcmp(buf, "hello", 5), 0);
	close(sv[0]);
	close(sv[1]);
}

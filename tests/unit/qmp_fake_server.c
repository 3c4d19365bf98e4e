/* qmp_fake_server.c — the fake QEMU QMP server used by test_qmp.c and test_qemu_monitor.c
 * (see qmp_fake_server.h). */
#include "qmp_fake_server.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "deadline_io.h"
#include "sock_util.h"
#include "qmp.h"

struct fake_server srv;

/* Waits for fd to be readable, at most timeout_ms; false on stop or timeout. */
static bool srv_wait_readable(int fd, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
			       { .fd = srv.stop_pipe[0], .events = POLLIN } };
	int64_t deadline = deadline_after_ms(timeout_ms);
	for (;;) {
		int rc = poll(p, 2, deadline_remaining_ms(deadline));
		if (rc < 0 && errno == EINTR)
			continue;
		return rc > 0 && !(p[1].revents & POLLIN);
	}
}

/* Reads one request line (a byte at a time: never past it) and parses it. NULL at end of
 * stream (counted), on stop, or after 10 s. */
static json_t *srv_read_request(int fd)
{
	char line[4096];
	size_t n = 0;
	for (;;) {
		if (!srv_wait_readable(fd, 10000))
			return NULL;
		char ch;
		ssize_t r = recv(fd, &ch, 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			pthread_mutex_lock(&srv.lock);
			srv.eofs++;
			pthread_mutex_unlock(&srv.lock);
			return NULL;
		}
		if (ch == '\n')
			break;
		if (n < sizeof(line) - 1)
			line[n++] = ch;
	}
	json_t *req = json_loadb(line, n, 0, NULL);
	pthread_mutex_lock(&srv.lock);
	srv.requests++;
	json_decref(srv.last);
	srv.last = json_incref(req);
	pthread_mutex_unlock(&srv.lock);
	return req;
}

static long long req_id(json_t *req)
{
	return json_integer_value(json_object_get(req, "id"));
}

static const char *req_cmd(json_t *req)
{
	return json_string_value(json_object_get(req, "execute"));
}

static void srv_return(int fd, json_t *req, const char *value)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "{\"return\": %s, \"id\": %lld}\r\n", value, req_id(req));
	sock_send_str(fd, buf);
}

static void srv_event(int fd, const char *name, const char *data)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 1}, "
		 "\"event\": \"%s\", \"data\": %s}\r\n", name, data);
	sock_send_str(fd, buf);
}

/* Greeting and qmp_capabilities, as QEMU does. false when the client went away. */
static bool srv_negotiate(int fd)
{
	json_t *req = srv_read_request(fd);
	if (!req)
		return false;
	bool ok = req_cmd(req) && !strcmp(req_cmd(req), "qmp_capabilities") &&
		  json_is_integer(json_object_get(req, "id")) && !json_object_get(req, "arguments");
	pthread_mutex_lock(&srv.lock);
	srv.negotiated = ok;
	pthread_mutex_unlock(&srv.lock);
	srv_return(fd, req, "{}");
	json_decref(req);
	return true;
}

/* Streams {"return": "bbbb...", "id": N} of exactly total bytes plus "\r\n", from a small
 * buffer: the fake never holds the line. */
static void srv_send_long_line(int fd, json_t *req, size_t total)
{
	static char chunk[65536];
	memset(chunk, 'b', sizeof(chunk));
	const char *head = "{\"return\": \"";
	char tail[64];
	snprintf(tail, sizeof(tail), "\", \"id\": %lld}", req_id(req));
	size_t body = total - strlen(head) - strlen(tail);
	sock_send_str(fd, head);
	while (body > 0) {
		size_t n = body < sizeof(chunk) ? body : sizeof(chunk);
		ssize_t w = send(fd, chunk, n, MSG_NOSIGNAL);
		if (w <= 0 && errno != EINTR)
			return;   /* the client gave up */
		if (w > 0)
			body -= (size_t)w;
	}
	sock_send_str(fd, tail);
	sock_send_str(fd, "\r\n");
}

/* Acts on one command; false to close the connection. */
static bool srv_handle(int fd, json_t *req)
{
	const char *cmd = req_cmd(req);
	char buf[2048];
	if (!cmd)
		return false;
	pthread_mutex_lock(&srv.lock);
	const char *silent = srv.silent_cmd, *info = srv.migrate_info;
	pthread_mutex_unlock(&srv.lock);
	if (silent && !strcmp(cmd, silent)) {
		/* never answered */
	} else if (!strcmp(cmd, "query-migrate") && info) {
		srv_return(fd, req, info);
	} else if (!strcmp(cmd, "migrate_cancel") || !strcmp(cmd, "migrate-set-capabilities") ||
		   !strcmp(cmd, "migrate-incoming")) {
		srv_return(fd, req, "{}");
	} else if (!strcmp(cmd, "query-status") && srv.status) {
		srv_return(fd, req, srv.status);
	} else if (!strcmp(cmd, "cont")) {             /* as QEMU: RESUME, then the answer */
		srv_event(fd, "RESUME", "{}");
		srv_return(fd, req, "{}");
	} else if (!strcmp(cmd, "system_powerdown")) {
		srv_return(fd, req, "{}");
		srv_event(fd, "POWERDOWN", "{}");
	} else if (!strcmp(cmd, "migrate")) {
		srv_return(fd, req, "{}");
		srv_event(fd, "MIGRATION", "{\"status\": \"setup\"}");
	} else if (!strcmp(cmd, "query-migrate")) {
		srv_return(fd, req, "{\"status\": \"active\", \"total-time\": 12}");
	} else if (!strcmp(cmd, "echo") || !strcmp(cmd, "query-status")) {
		char *args = json_dumps(json_object_get(req, "arguments"), JSON_ENCODE_ANY);
		snprintf(buf, sizeof(buf), "{\"status\": \"running\", \"arguments\": %s}",
			 args ? args : "null");
		free(args);
		srv_return(fd, req, buf);
	} else if (!strcmp(cmd, "fail")) {
		snprintf(buf, sizeof(buf), "{\"id\": %lld, \"error\": {\"class\": \"DeviceNotFound\", "
			 "\"desc\": \"Device 'disk9' not found\"}}\r\n", req_id(req));
		sock_send_str(fd, buf);
	} else if (!strcmp(cmd, "noid_error")) {
		sock_send_str(fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\n");
	} else if (!strcmp(cmd, "events")) {
		srv_event(fd, "STOP", "{}");
		srv_event(fd, "RESUME", "{}");
		srv_event(fd, "SHUTDOWN", "{\"guest\": true, \"reason\": \"guest-shutdown\"}");
		srv_return(fd, req, "{}");
	} else if (!strcmp(cmd, "bytewise")) {
		char ev[256];
		snprintf(ev, sizeof(ev), "{\"event\": \"STOP\", \"data\": {}, \"timestamp\": "
			 "{\"seconds\": 1, \"microseconds\": 2}}\r\n");
		snprintf(buf, sizeof(buf), "%s{\"return\": {\"answer\": 42, \"s\": \"a\\nb\"}, "
			 "\"id\": %lld}\r\n", ev, req_id(req));
		for (size_t i = 0; buf[i]; i++) {
			sock_send_all(fd, buf + i, 1);
			sock_wait_drained(fd, -1);
		}
	} else if (!strcmp(cmd, "stale")) {
		long long id = req_id(req);
		snprintf(buf, sizeof(buf),
			 "{\"return\": \"stale\", \"id\": %lld}\r\n"
			 "{\"return\": \"string id\", \"id\": \"%lld\"}\r\n"
			 "{\"error\": {\"class\": \"GenericError\", \"desc\": \"x\"}, \"id\": %lld}\r\n"
			 "{\"return\": \"right\", \"id\": %lld}\r\n", id - 1, id, id + 1000, id);
		sock_send_str(fd, buf);
	} else if (!strcmp(cmd, "silent")) {
		/* never answers: the next read blocks until the client closes or the test ends */
	} else if (!strcmp(cmd, "close_mid")) {
		snprintf(buf, sizeof(buf), "{\"return\": {\"status\": \"running\"}, \"id\": %lld}\r\n",
			 req_id(req));
		sock_send_all(fd, buf, strlen(buf) / 2);
		return false;
	} else if (!strcmp(cmd, "garbage")) {
		sock_send_str(fd, "hello\r\n[1, 2]\r\n{\"bad json\r\n\"str\"\r\n\r\n   \r\n"
			     "{\"foo\": 1}\r\n42\n");
		srv_return(fd, req, "\"after garbage\"");
	} else if (!strcmp(cmd, "garbage_flood")) {
		for (int i = 0; i <= QMP_GARBAGE_MAX; i++)
			sock_send_str(fd, "not json at all\r\n");
		srv_return(fd, req, "\"too late\"");
	} else if (!strcmp(cmd, "huge")) {
		srv_send_long_line(fd, req, 10u * 1024 * 1024);
	} else if (!strcmp(cmd, "at_max")) {
		srv_send_long_line(fd, req, QMP_MSG_MAX);
	} else if (!strcmp(cmd, "over_max")) {
		srv_send_long_line(fd, req, QMP_MSG_MAX + 1);
	} else if (!strcmp(cmd, "lf_only")) {
		snprintf(buf, sizeof(buf), "{\"event\": \"RESUME\", \"data\": {}}\n"
			 "{\"return\": \"lf\", \"id\": %lld}\n", req_id(req));
		sock_send_str(fd, buf);
	} else if (!strcmp(cmd, "uint64")) {
		snprintf(buf, sizeof(buf), "{\"return\": {\"max\": 18446744073709551615}, "
			 "\"id\": %lld}\r\n", req_id(req));
		sock_send_str(fd, buf);
	} else if (!strcmp(cmd, "flood")) {
		int n = (int)json_integer_value(json_object_get(json_object_get(req, "arguments"), "n"));
		for (int i = 0; i < n; i++) {
			char seq[32];
			snprintf(seq, sizeof(seq), "{\"seq\": %d}", i);
			srv_event(fd, "BLOCK_JOB_PENDING", seq);
		}
		srv_return(fd, req, "{}");
	} else if (!strcmp(cmd, "reply_and_event")) {   /* in one write */
		snprintf(buf, sizeof(buf), "{\"return\": {}, \"id\": %lld}\r\n"
			 "{\"event\": \"RESUME\", \"data\": {}}\r\n", req_id(req));
		sock_send_str(fd, buf);
	} else if (!strcmp(cmd, "emit_later")) {
		srv_return(fd, req, "{}");
		sock_wait_drained(fd, -1);
		srv_event(fd, "STOP", "{}");
		srv_event(fd, "RESUME", "{}");
	} else if (!strcmp(cmd, "quit")) {
		/* what QEMU 7.2 does: SHUTDOWN, the answer, then the socket closes */
		srv_event(fd, "SHUTDOWN", "{\"guest\": false, \"reason\": \"host-qmp-quit\"}");
		srv_return(fd, req, "{}");
		return false;
	} else if (!strcmp(cmd, "quit_early")) {
		return false;   /* closes before answering */
	} else {
		snprintf(buf, sizeof(buf), "{\"id\": %lld, \"error\": {\"class\": \"CommandNotFound\", "
			 "\"desc\": \"The command %s has not been found\"}}\r\n", req_id(req), cmd);
		sock_send_str(fd, buf);
	}
	return true;
}

/* Stays silent until the client closes or the test ends. */
static void srv_hold(int fd)
{
	json_t *req = srv_read_request(fd);
	json_decref(req);
}

/* What the fake does with a connection, set by srv_start's arguments. */
static void srv_serve(int fd)
{
	if (!srv.greeting)
		return;                      /* closes at once */
	for (size_t i = 0; srv.greeting[i] && (srv.flags & SRV_BYTEWISE); i++) {
		sock_send_all(fd, srv.greeting + i, 1);
		sock_wait_drained(fd, -1);
	}
	if (!(srv.flags & SRV_BYTEWISE))
		sock_send_str(fd, srv.greeting);
	if (strcmp(srv.greeting, GREETING) != 0 || (srv.flags & SRV_REFUSE_CAPS)) {
		json_t *req = srv_read_request(fd);
		if (req && (srv.flags & SRV_REFUSE_CAPS)) {
			char buf[256];
			snprintf(buf, sizeof(buf), "{\"id\": %lld, \"error\": {\"class\": "
				 "\"CommandNotFound\", \"desc\": \"Capabilities negotiation is already "
				 "complete\"}}\r\n", req_id(req));
			sock_send_str(fd, buf);
		}
		json_decref(req);
		srv_hold(fd);
		return;
	}
	if (!srv_negotiate(fd))
		return;
	while (srv.flags & SRV_SILENT) {
		json_t *req = srv_read_request(fd);
		if (!req)
			return;
		json_decref(req);
	}
	for (;;) {
		json_t *req = srv_read_request(fd);
		if (!req)
			return;
		bool keep = srv_handle(fd, req);
		json_decref(req);
		if (!keep)
			return;
	}
}

static void *srv_main(void *arg)
{
	(void)arg;
	if (!srv_wait_readable(srv.listen_fd, 30000))
		return NULL;
	int fd = accept4(srv.listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	srv_serve(fd);
	close(fd);
	return NULL;
}

void srv_start(const char *greeting, unsigned flags)
{
	memset(&srv, 0, sizeof(srv));
	srv.greeting = greeting;
	srv.flags = flags;
	snprintf(srv.dir, sizeof(srv.dir), "/tmp/berth-qmp-XXXXXX");
	cr_assert_not_null(mkdtemp(srv.dir));
	snprintf(srv.path, sizeof(srv.path), "%s/qmp.sock", srv.dir);
	pthread_mutex_init(&srv.lock, NULL);
	cr_assert_eq(pipe2(srv.stop_pipe, O_CLOEXEC), 0);
	srv.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(srv.listen_fd, 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strcpy(addr.sun_path, srv.path);
	cr_assert_eq(bind(srv.listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	cr_assert_eq(listen(srv.listen_fd, 4), 0);
	cr_assert_eq(pthread_create(&srv.thread, NULL, srv_main, NULL), 0);
	srv.running = true;
}

void srv_stop(void)
{
	if (!srv.running)
		return;
	ssize_t w = write(srv.stop_pipe[1], "x", 1);
	(void)w;
	pthread_join(srv.thread, NULL);
	srv.running = false;
	close(srv.listen_fd);
	close(srv.stop_pipe[0]);
	close(srv.stop_pipe[1]);
	unlink(srv.path);
	rmdir(srv.dir);
	json_decref(srv.last);
	pthread_mutex_destroy(&srv.lock);
}

void srv_set(const char **field, const char *value)
{
	pthread_mutex_lock(&srv.lock);
	*field = value;
	pthread_mutex_unlock(&srv.lock);
}

int srv_get(int *field)
{
	pthread_mutex_lock(&srv.lock);
	int v = *field;
	pthread_mutex_unlock(&srv.lock);
	return v;
}

/* Waits until the fake saw the client close (bounded). */
bool srv_wait_eof(int timeout_ms)
{
	int64_t until = monotonic_ms() + timeout_ms;
	while (srv_get(&srv.eofs) == 0 && monotonic_ms() < until) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return srv_get(&srv.eofs) > 0;
}

/* test_qmp.c — the QMP client (src/common/qmp.c) against a fake QEMU run by this test: a thread
 * with a listening Unix socket in a temporary directory that greets, negotiates and then acts
 * on the command name (answer, error, events first, byte by byte, stale ids, silence, close
 * mid-reply, garbage, a 10 MB line, ...). Also greeting failures, connect errors, the event
 * queue, and a real QEMU (-machine none) when qemu-system-x86_64 is installed.
 * Every wait is bounded; synchronisation is by socket state and mutexes, never fixed sleeps. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "deadline_io.h"
#include "qmp.h"

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, " \
	"\"package\": \"fake\"}, \"capabilities\": [\"oob\"]}}\r\n"

/* ---------------------------------------------------------------- the fake QEMU */

enum { SRV_BYTEWISE = 1, SRV_REFUSE_CAPS = 2 };

struct fake_server {
	char dir[64];
	char path[128];
	int listen_fd;
	int stop_pipe[2];
	pthread_t thread;
	bool running;
	const char *greeting;    /* NULL: close at once; "": say nothing */
	unsigned flags;

	pthread_mutex_t lock;
	int requests;            /* requests read, qmp_capabilities included */
	int eofs;                /* times the client closed its end */
	bool negotiated;         /* the first request was a bare qmp_capabilities with an id */
	json_t *last;            /* last request */
};

static struct fake_server srv;
static struct qmp_client *cli;
static pid_t qemu_pid;           /* the real QEMU, killed by teardown if still there */
static char qemu_dir[64];

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

static void srv_send(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void srv_send_str(int fd, const char *s)
{
	srv_send(fd, s, strlen(s));
}

/* Waits until the client has read everything sent so far (bounded: 5 s). */
static void srv_wait_drained(int fd)
{
	int64_t until = monotonic_ms() + 5000;
	while (monotonic_ms() < until) {
		int outq = 0;
		if (ioctl(fd, SIOCOUTQ, &outq) < 0 || outq == 0)
			return;
		struct timespec ts = { 0, 200000 };
		nanosleep(&ts, NULL);
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
	srv_send_str(fd, buf);
}

static void srv_event(int fd, const char *name, const char *data)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 1}, "
		 "\"event\": \"%s\", \"data\": %s}\r\n", name, data);
	srv_send_str(fd, buf);
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
	srv_send_str(fd, head);
	while (body > 0) {
		size_t n = body < sizeof(chunk) ? body : sizeof(chunk);
		ssize_t w = send(fd, chunk, n, MSG_NOSIGNAL);
		if (w <= 0 && errno != EINTR)
			return;   /* the client gave up */
		if (w > 0)
			body -= (size_t)w;
	}
	srv_send_str(fd, tail);
	srv_send_str(fd, "\r\n");
}

/* Acts on one command; false to close the connection. */
static bool srv_handle(int fd, json_t *req)
{
	const char *cmd = req_cmd(req);
	char buf[2048];
	if (!cmd)
		return false;
	if (!strcmp(cmd, "echo") || !strcmp(cmd, "query-status")) {
		char *args = json_dumps(json_object_get(req, "arguments"), JSON_ENCODE_ANY);
		snprintf(buf, sizeof(buf), "{\"status\": \"running\", \"arguments\": %s}",
			 args ? args : "null");
		free(args);
		srv_return(fd, req, buf);
	} else if (!strcmp(cmd, "fail")) {
		snprintf(buf, sizeof(buf), "{\"id\": %lld, \"error\": {\"class\": \"DeviceNotFound\", "
			 "\"desc\": \"Device 'disk9' not found\"}}\r\n", req_id(req));
		srv_send_str(fd, buf);
	} else if (!strcmp(cmd, "noid_error")) {
		srv_send_str(fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\n");
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
			srv_send(fd, buf + i, 1);
			srv_wait_drained(fd);
		}
	} else if (!strcmp(cmd, "stale")) {
		long long id = req_id(req);
		snprintf(buf, sizeof(buf),
			 "{\"return\": \"stale\", \"id\": %lld}\r\n"
			 "{\"return\": \"string id\", \"id\": \"%lld\"}\r\n"
			 "{\"error\": {\"class\": \"GenericError\", \"desc\": \"x\"}, \"id\": %lld}\r\n"
			 "{\"return\": \"right\", \"id\": %lld}\r\n", id - 1, id, id + 1000, id);
		srv_send_str(fd, buf);
	} else if (!strcmp(cmd, "silent")) {
		/* never answers: the next read blocks until the client closes or the test ends */
	} else if (!strcmp(cmd, "close_mid")) {
		snprintf(buf, sizeof(buf), "{\"return\": {\"status\": \"running\"}, \"id\": %lld}\r\n",
			 req_id(req));
		srv_send(fd, buf, strlen(buf) / 2);
		return false;
	} else if (!strcmp(cmd, "garbage")) {
		srv_send_str(fd, "hello\r\n[1, 2]\r\n{\"bad json\r\n\"str\"\r\n\r\n   \r\n"
			     "{\"foo\": 1}\r\n42\n");
		srv_return(fd, req, "\"after garbage\"");
	} else if (!strcmp(cmd, "garbage_flood")) {
		for (int i = 0; i <= QMP_GARBAGE_MAX; i++)
			srv_send_str(fd, "not json at all\r\n");
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
		srv_send_str(fd, buf);
	} else if (!strcmp(cmd, "uint64")) {
		snprintf(buf, sizeof(buf), "{\"return\": {\"max\": 18446744073709551615}, "
			 "\"id\": %lld}\r\n", req_id(req));
		srv_send_str(fd, buf);
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
		srv_send_str(fd, buf);
	} else if (!strcmp(cmd, "emit_later")) {
		srv_return(fd, req, "{}");
		srv_wait_drained(fd);
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
		srv_send_str(fd, buf);
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
		srv_send(fd, srv.greeting + i, 1);
		srv_wait_drained(fd);
	}
	if (!(srv.flags & SRV_BYTEWISE))
		srv_send_str(fd, srv.greeting);
	if (strcmp(srv.greeting, GREETING) != 0 || (srv.flags & SRV_REFUSE_CAPS)) {
		json_t *req = srv_read_request(fd);
		if (req && (srv.flags & SRV_REFUSE_CAPS)) {
			char buf[256];
			snprintf(buf, sizeof(buf), "{\"id\": %lld, \"error\": {\"class\": "
				 "\"CommandNotFound\", \"desc\": \"Capabilities negotiation is already "
				 "complete\"}}\r\n", req_id(req));
			srv_send_str(fd, buf);
		}
		json_decref(req);
		srv_hold(fd);
		return;
	}
	if (!srv_negotiate(fd))
		return;
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

static void srv_start(const char *greeting, unsigned flags)
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

static void srv_stop(void)
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

static int srv_get(int *field)
{
	pthread_mutex_lock(&srv.lock);
	int v = *field;
	pthread_mutex_unlock(&srv.lock);
	return v;
}

/* Waits until the fake saw the client close (bounded). */
static bool srv_wait_eof(int timeout_ms)
{
	int64_t until = monotonic_ms() + timeout_ms;
	while (srv_get(&srv.eofs) == 0 && monotonic_ms() < until) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return srv_get(&srv.eofs) > 0;
}

static void connect_to(unsigned flags)
{
	srv_start(GREETING, flags);
	int err = 1;
	cli = qmp_connect(srv.path, 3000, &err);
	cr_assert_not_null(cli, "qmp_connect: %d", err);
}

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	cli = NULL;
}

static bool find_in_path(const char *name, char *out, size_t outlen)
{
	const char *p = getenv("PATH");
	if (!p)
		p = "/usr/bin:/bin";
	while (*p) {
		size_t n = strcspn(p, ":");
		snprintf(out, outlen, "%.*s/%s", (int)n, p, name);
		if (access(out, X_OK) == 0)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

/* waitpid with a deadline; true when the child exited. */
static bool wait_child(pid_t pid, int timeout_ms)
{
	int64_t until = monotonic_ms() + timeout_ms;
	for (;;) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			return true;
		if (monotonic_ms() >= until)
			return false;
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
}

static void teardown(void)
{
	qmp_close(cli);   /* first: the fake sees end of stream */
	cli = NULL;
	srv_stop();
	if (qemu_pid > 0 && !wait_child(qemu_pid, 0)) {
		kill(qemu_pid, SIGKILL);
		wait_child(qemu_pid, 5000);
	}
	if (qemu_dir[0]) {
		char path[128];
		snprintf(path, sizeof(path), "%s/qmp.sock", qemu_dir);
		unlink(path);
		rmdir(qemu_dir);
	}
}

TestSuite(qmp, .init = setup, .fini = teardown, .timeout = 30);

/* ---------------------------------------------------------------- commands */

Test(qmp, greeting_and_negotiation)
{
	connect_to(0);
	cr_assert_geq(qmp_fd(cli), 0);
	cr_assert_eq(srv_get(&srv.requests), 1);
	pthread_mutex_lock(&srv.lock);
	bool negotiated = srv.negotiated;
	pthread_mutex_unlock(&srv.lock);
	cr_assert(negotiated, "a bare qmp_capabilities with an id was sent");
	cr_assert_null(qmp_next_event(cli));
}

Test(qmp, command_returns_value)
{
	connect_to(0);
	json_t *args = json_pack("{s:s, s:i}", "id", "disk0", "size", 4096);
	json_incref(args);   /* keep one reference to check the steal */
	json_t *ret = NULL;
	char desc[256] = "x";
	cr_assert_eq(qmp_execute(cli, "echo", args, 0, &ret, desc, sizeof(desc)), 0);
	cr_assert_eq(args->refcount, 1, "args were stolen");
	cr_assert_str_eq(desc, "");
	cr_assert_str_eq(json_string_value(json_object_get(ret, "status")), "running");
	cr_assert(json_equal(json_object_get(ret, "arguments"), args), "arguments reached QEMU");
	json_decref(ret);
	json_decref(args);

	/* no arguments: the member is left out; ret and err_desc may be NULL */
	cr_assert_eq(qmp_execute(cli, "echo", NULL, 1000, NULL, NULL, 0), 0);
	pthread_mutex_lock(&srv.lock);
	cr_assert_null(json_object_get(srv.last, "arguments"));
	long long id2 = json_integer_value(json_object_get(srv.last, "id"));
	pthread_mutex_unlock(&srv.lock);
	cr_assert_eq(qmp_execute(cli, "echo", NULL, 1000, NULL, NULL, 0), 0);
	pthread_mutex_lock(&srv.lock);
	long long id3 = json_integer_value(json_object_get(srv.last, "id"));
	pthread_mutex_unlock(&srv.lock);
	cr_assert_neq(id2, id3, "each command has its own id");
}

Test(qmp, api_misuse)
{
	qmp_close(NULL);
	cr_assert_eq(qmp_fd(NULL), -1);
	cr_assert_null(qmp_next_event(NULL));
	cr_assert_eq(qmp_poll_events(NULL, 0), -EINVAL);
	cr_assert_eq(qmp_execute(NULL, "quit", json_object(), 0, NULL, NULL, 0), -EINVAL);
	cr_assert_null(qmp_event_name(NULL));
	cr_assert_null(qmp_shutdown_reason(NULL));

	connect_to(0);
	json_t *arr = json_array();
	json_incref(arr);
	cr_assert_eq(qmp_execute(cli, "echo", arr, 0, NULL, NULL, 0), -EINVAL);
	cr_assert_eq(arr->refcount, 1, "stolen even when refused");
	json_decref(arr);
	cr_assert_eq(qmp_execute(cli, NULL, NULL, 0, NULL, NULL, 0), -EINVAL);
	cr_assert_eq(qmp_execute(cli, "echo", NULL, 0, NULL, NULL, 0), 0, "connection kept");
}

Test(qmp, error_reply)
{
	connect_to(0);
	json_t *ret = (json_t *)0x1;
	char desc[256];
	cr_assert_eq(qmp_execute(cli, "fail", NULL, 0, &ret, desc, sizeof(desc)), -EREMOTEIO);
	cr_assert_null(ret);
	cr_assert_str_eq(desc, "DeviceNotFound: Device 'disk9' not found");
	cr_assert_eq(qmp_execute(cli, "nope", NULL, 0, NULL, desc, sizeof(desc)), -EREMOTEIO);
	cr_assert_str_eq(desc, "CommandNotFound: The command nope has not been found");
	/* an error without id answers the pending command */
	cr_assert_eq(qmp_execute(cli, "noid_error", NULL, 0, NULL, desc, sizeof(desc)), -EREMOTEIO);
	cr_assert_str_eq(desc, "GenericError: JSON parse error");
	/* tiny buffer: truncated, still terminated */
	char small[8];
	cr_assert_eq(qmp_execute(cli, "fail", NULL, 0, NULL, small, sizeof(small)), -EREMOTEIO);
	cr_assert_str_eq(small, "DeviceN");
	/* the connection stays usable */
	cr_assert_eq(qmp_execute(cli, "echo", NULL, 0, NULL, NULL, 0), 0);
}

Test(qmp, events_before_reply_are_queued_in_order)
{
	connect_to(0);
	cr_assert_eq(qmp_execute(cli, "events", NULL, 0, NULL, NULL, 0), 0);
	const char *want[] = { "STOP", "RESUME", "SHUTDOWN" };
	for (int i = 0; i < 3; i++) {
		json_t *ev = qmp_next_event(cli);
		cr_assert_not_null(ev, "event %d", i);
		cr_assert_str_eq(qmp_event_name(ev), want[i]);
		cr_assert_not_null(json_object_get(ev, "timestamp"));
		if (i == 2)
			cr_assert_str_eq(qmp_shutdown_reason(ev), "guest-shutdown");
		else
			cr_assert_null(qmp_shutdown_reason(ev));
		json_decref(ev);
	}
	cr_assert_null(qmp_next_event(cli));
}

Test(qmp, greeting_and_reply_split_byte_by_byte)
{
	connect_to(SRV_BYTEWISE);   /* the greeting too */
	json_t *ret = NULL;
	cr_assert_eq(qmp_execute(cli, "bytewise", NULL, 5000, &ret, NULL, 0), 0);
	cr_assert_eq(json_integer_value(json_object_get(ret, "answer")), 42);
	cr_assert_str_eq(json_string_value(json_object_get(ret, "s")), "a\nb");
	json_decref(ret);
	json_t *ev = qmp_next_event(cli);
	cr_assert_str_eq(qmp_event_name(ev), "STOP");
	json_decref(ev);
}

Test(qmp, stale_ids_dropped)
{
	connect_to(0);
	json_t *ret = NULL;
	cr_assert_eq(qmp_execute(cli, "stale", NULL, 0, &ret, NULL, 0), 0);
	cr_assert_str_eq(json_string_value(ret), "right");
	json_decref(ret);
	cr_assert_null(qmp_next_event(cli), "replies are not events");
	cr_assert_eq(qmp_execute(cli, "echo", NULL, 0, &ret, NULL, 0), 0, "still in step");
	cr_assert_str_eq(json_string_value(json_object_get(ret, "status")), "running");
	json_decref(ret);
}

Test(qmp, silent_server_times_out_then_enotconn)
{
	connect_to(0);
	json_t *ret = (json_t *)0x1;
	char desc[128];
	int64_t t0 = monotonic_ms();
	int rc = qmp_execute(cli, "silent", NULL, 300, &ret, desc, sizeof(desc));
	int64_t took = monotonic_ms() - t0;
	cr_assert_eq(rc, -ETIMEDOUT, "rc %d", rc);
	cr_assert_null(ret);
	cr_assert_geq(took, 290, "gave up after %lld ms", (long long)took);
	cr_assert_leq(took, 1000, "took %lld ms", (long long)took);
	cr_assert_str_eq(desc, "no reply to silent within 300 ms");
	cr_assert_eq(qmp_fd(cli), -1);
	cr_assert(srv_wait_eof(5000), "the connection was closed");

	t0 = monotonic_ms();
	cr_assert_eq(qmp_execute(cli, "echo", json_object(), 0, &ret, desc, sizeof(desc)), -ENOTCONN);
	cr_assert_null(ret);
	cr_assert_eq(qmp_poll_events(cli, 1000), -ENOTCONN);
	cr_assert_lt(monotonic_ms() - t0, 100, "no waiting once closed");
}

Test(qmp, default_timeouts)
{
	const char *heavy[] = { "quit", "migrate", "device_del", "blockdev-del", "system_reset" };
	for (size_t i = 0; i < sizeof(heavy) / sizeof(heavy[0]); i++)
		cr_assert_eq(qmp_default_timeout_ms(heavy[i]), QMP_HEAVY_TIMEOUT_MS, "%s", heavy[i]);
	cr_assert_eq(qmp_default_timeout_ms("query-status"), QMP_DEFAULT_TIMEOUT_MS);
	cr_assert_eq(qmp_default_timeout_ms("device_add"), QMP_DEFAULT_TIMEOUT_MS);
}

Test(qmp, close_mid_reply_is_econnreset)
{
	connect_to(0);
	json_t *ret = (json_t *)0x1;
	int64_t t0 = monotonic_ms();
	cr_assert_eq(qmp_execute(cli, "close_mid", NULL, 10000, &ret, NULL, 0), -ECONNRESET);
	cr_assert_lt(monotonic_ms() - t0, 2000);
	cr_assert_null(ret);
	cr_assert_eq(qmp_fd(cli), -1);
	cr_assert_eq(qmp_execute(cli, "echo", NULL, 0, NULL, NULL, 0), -ENOTCONN);
}

Test(qmp, garbage_lines_skipped_up_to_a_limit)
{
	connect_to(0);
	json_t *ret = NULL;
	cr_assert_eq(qmp_execute(cli, "garbage", NULL, 0, &ret, NULL, 0), 0);
	cr_assert_str_eq(json_string_value(ret), "after garbage");
	json_decref(ret);
	cr_assert_null(qmp_next_event(cli));
	cr_assert_eq(qmp_execute(cli, "echo", NULL, 0, NULL, NULL, 0), 0, "still in step");
	/* more than QMP_GARBAGE_MAX in a row: -EPROTO, connection closed */
	ret = (json_t *)0x1;
	cr_assert_eq(qmp_execute(cli, "garbage_flood", NULL, 0, &ret, NULL, 0), -EPROTO);
	cr_assert_null(ret);
	cr_assert_eq(qmp_fd(cli), -1);
	cr_assert_eq(qmp_execute(cli, "echo", NULL, 0, NULL, NULL, 0), -ENOTCONN);
}

static long maxrss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

Test(qmp, huge_reply_refused_with_bounded_memory)
{
	connect_to(0);
	long before = maxrss_kb();
	json_t *ret = (json_t *)0x1;
	char desc[128];
	int64_t t0 = monotonic_ms();
	int rc = qmp_execute(cli, "huge", NULL, 10000, &ret, desc, sizeof(desc));
	cr_assert_eq(rc, -EMSGSIZE, "rc %d", rc);
	cr_assert_lt(monotonic_ms() - t0, 5000);
	cr_assert_null(ret);
	cr_assert_str_eq(desc, "message from QEMU longer than 1048576 bytes");
	long grew = maxrss_kb() - before;
	cr_assert_lt(grew, 6 * 1024, "peak memory grew by %ld KiB for a 10 MB line", grew);
	cr_assert_eq(qmp_fd(cli), -1);
	cr_assert_eq(qmp_execute(cli, "echo", NULL, 0, NULL, NULL, 0), -ENOTCONN);
}

Test(qmp, size_limit_exact)
{
	connect_to(0);
	json_t *ret = NULL;
	cr_assert_eq(qmp_execute(cli, "at_max", NULL, 10000, &ret, NULL, 0), 0);
	cr_assert_gt(json_string_length(ret), (size_t)QMP_MSG_MAX - 100);
	json_decref(ret);
	cr_assert_eq(qmp_execute(cli, "echo", NULL, 0, NULL, NULL, 0), 0);
	/* one byte more is refused */
	ret = (json_t *)0x1;
	cr_assert_eq(qmp_execute(cli, "over_max", NULL, 10000, &ret, NULL, 0), -EMSGSIZE);
	cr_assert_null(ret);
	cr_assert_eq(qmp_fd(cli), -1);
}

Test(qmp, crlf_and_lf_line_endings)
{
	/* the fake uses "\r\n" throughout like QEMU; lf_only answers with bare "\n" */
	connect_to(0);
	json_t *ret = NULL;
	cr_assert_eq(qmp_execute(cli, "lf_only", NULL, 0, &ret, NULL, 0), 0);
	cr_assert_str_eq(json_string_value(ret), "lf");
	json_decref(ret);
	json_t *ev = qmp_next_event(cli);
	cr_assert_str_eq(qmp_event_name(ev), "RESUME");
	json_decref(ev);
	cr_assert_eq(qmp_execute(cli, "echo", NULL, 0, &ret, NULL, 0), 0);
	cr_assert_str_eq(json_string_value(json_object_get(ret, "status")), "running");
	json_decref(ret);
}

Test(qmp, uint64_values_still_delivered)
{
	connect_to(0);
	json_t *ret = NULL;
	cr_assert_eq(qmp_execute(cli, "uint64", NULL, 0, &ret, NULL, 0), 0);
	cr_assert(json_is_real(json_object_get(ret, "max")));
	cr_assert_gt(json_real_value(json_object_get(ret, "max")), 1.8e19);
	json_decref(ret);
}

/* ---------------------------------------------------------------- events */

Test(qmp, poll_events)
{
	connect_to(0);
	int64_t t0 = monotonic_ms();
	cr_assert_eq(qmp_poll_events(cli, 0), 0, "nothing yet");
	cr_assert_lt(monotonic_ms() - t0, 100);
	t0 = monotonic_ms();
	cr_assert_eq(qmp_poll_events(cli, 100), 0);
	cr_assert_geq(monotonic_ms() - t0, 95);

	cr_assert_eq(qmp_execute(cli, "emit_later", NULL, 0, NULL, NULL, 0), 0);
	int got = 0;
	int64_t until = monotonic_ms() + 3000;
	while (got < 2 && monotonic_ms() < until) {
		int n = qmp_poll_events(cli, 3000);
		cr_assert_geq(n, 0);
		got = n;
	}
	cr_assert_eq(got, 2);
	json_t *a = qmp_next_event(cli), *b = qmp_next_event(cli);
	cr_assert_str_eq(qmp_event_name(a), "STOP");
	cr_assert_str_eq(qmp_event_name(b), "RESUME");
	json_decref(a);
	json_decref(b);
	cr_assert_null(qmp_next_event(cli));

	/* an event read together with a reply is queued at once: no fd wake-up will come */
	cr_assert_eq(qmp_execute(cli, "reply_and_event", NULL, 0, NULL, NULL, 0), 0);
	a = qmp_next_event(cli);
	cr_assert_str_eq(qmp_event_name(a), "RESUME");
	json_decref(a);
	struct pollfd p = { .fd = qmp_fd(cli), .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 0), 0, "nothing left unread on the socket");
}

Test(qmp, event_queue_bounded_drops_oldest)
{
	connect_to(0);
	int n = QMP_EVENT_QUEUE_MAX + 76;
	cr_assert_eq(qmp_execute(cli, "flood", json_pack("{s:i}", "n", n), 10000, NULL, NULL, 0), 0);
	cr_assert_eq(qmp_poll_events(cli, 0), QMP_EVENT_QUEUE_MAX);
	for (int i = 76; i < n; i++) {
		json_t *ev = qmp_next_event(cli);
		cr_assert_not_null(ev);
		int seq = (int)json_integer_value(json_object_get(json_object_get(ev, "data"), "seq"));
		cr_assert_eq(seq, i);
		json_decref(ev);
	}
	cr_assert_null(qmp_next_event(cli));
}

Test(qmp, quit_answered_then_closed)
{
	connect_to(0);
	cr_assert_eq(qmp_execute(cli, "quit", NULL, 0, NULL, NULL, 0), 0);
	json_t *ev = qmp_next_event(cli);
	cr_assert_str_eq(qmp_shutdown_reason(ev), "host-qmp-quit");
	json_decref(ev);
	/* then QEMU closes: poll reports it, the connection is gone */
	cr_assert_eq(qmp_poll_events(cli, 2000), -ECONNRESET);
	cr_assert_eq(qmp_fd(cli), -1);
}

Test(qmp, quit_closed_before_answer)
{
	connect_to(0);
	char desc[128];
	cr_assert_eq(qmp_execute(cli, "quit_early", NULL, 0, NULL, desc, sizeof(desc)), -ECONNRESET);
	cr_assert_str_eq(desc, "QEMU closed the connection during quit_early");
	cr_assert_eq(qmp_execute(cli, "quit", NULL, 0, NULL, NULL, 0), -ENOTCONN);
}

/* ---------------------------------------------------------------- connect failures */

static void expect_connect_fails(const char *greeting, unsigned flags, int timeout_ms, int want)
{
	srv_start(greeting, flags);
	int err = 0;
	int64_t t0 = monotonic_ms();
	struct qmp_client *c = qmp_connect(srv.path, timeout_ms, &err);
	int64_t took = monotonic_ms() - t0;
	cr_assert_null(c);
	cr_assert_eq(err, want, "err %d, want %d", err, want);
	cr_assert_leq(took, timeout_ms < 1000 ? timeout_ms + 500 : 1000, "took %lld ms",
		      (long long)took);
	cr_assert(srv_wait_eof(5000), "the socket was closed");
	srv_stop();
}

Test(qmp, greeting_failures)
{
	int64_t t0 = monotonic_ms();
	expect_connect_fails("", 0, 300, -ETIMEDOUT);   /* accepts, never greets */
	cr_assert_geq(monotonic_ms() - t0, 290);
	expect_connect_fails("{\"hello\": \"world\"}\r\n", 0, 3000, -EPROTO);
	expect_connect_fails("QEMU 7.2.0 monitor - type 'help' for more information\r\n", 0, 3000,
			     -EPROTO);
	expect_connect_fails(GREETING, SRV_REFUSE_CAPS, 3000, -EPROTO);
	srv_start(NULL, 0);   /* closes before greeting */
	int err = 0;
	cr_assert_null(qmp_connect(srv.path, 3000, &err));
	cr_assert_eq(err, -ECONNRESET);
}

Test(qmp, nothing_listening)
{
	int err = 0;
	cr_assert_null(qmp_connect("/tmp/berth-no-such-dir-qmp/qmp.sock", 1000, &err));
	cr_assert_eq(err, -ENOENT);
	cr_assert_null(qmp_connect("/tmp/berth-no-such-dir-qmp/qmp.sock", 1000, NULL));

	char dir[] = "/tmp/berth-qmp-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/dead.sock", dir);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strcpy(addr.sun_path, path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);   /* the file stays, nobody listens: what a dead QEMU leaves */
	cr_assert_null(qmp_connect(path, 1000, &err));
	cr_assert_eq(err, -ECONNREFUSED);
	unlink(path);
	rmdir(dir);
}

/* ---------------------------------------------------------------- real QEMU */

Test(qmp, real_qemu)
{
	char qemu[512];
	if (!find_in_path("qemu-system-x86_64", qemu, sizeof(qemu)))
		cr_skip_test("qemu-system-x86_64 not installed");
	snprintf(qemu_dir, sizeof(qemu_dir), "/tmp/berth-qmp-XXXXXX");
	cr_assert_not_null(mkdtemp(qemu_dir));
	char path[128], arg[192];
	snprintf(path, sizeof(path), "%s/qmp.sock", qemu_dir);
	snprintf(arg, sizeof(arg), "unix:%s,server=on,wait=off", path);
	qemu_pid = fork();
	cr_assert_geq(qemu_pid, 0);
	if (qemu_pid == 0) {
		int null = open("/dev/null", O_RDWR);
		for (int fd = 0; fd < 3; fd++)
			dup2(null, fd);
		execl(qemu, qemu, "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
		      "-qmp", arg, "-machine", "none", (char *)NULL);
		_exit(127);
	}

	/* QEMU creates the socket shortly after start: retry, bounded. */
	int err = -ENOENT;
	int64_t until = monotonic_ms() + 10000;
	while (!cli && (err == -ENOENT || err == -ECONNREFUSED) && monotonic_ms() < until) {
		struct timespec ts = { 0, 10000000 };
		if (!(cli = qmp_connect(path, 2000, &err)))
			nanosleep(&ts, NULL);
	}
	cr_assert_not_null(cli, "could not connect to QEMU: %d", err);

	json_t *ret = NULL;
	char desc[256];
	cr_assert_eq(qmp_execute(cli, "query-status", NULL, 0, &ret, desc, sizeof(desc)), 0, "%s",
		     desc);
	cr_assert_str_eq(json_string_value(json_object_get(ret, "status")), "prelaunch");
	cr_assert(json_is_false(json_object_get(ret, "running")));
	json_decref(ret);
	cr_assert_eq(qmp_execute(cli, "no-such-command", NULL, 0, NULL, desc, sizeof(desc)),
		     -EREMOTEIO);
	cr_assert_str_eq(desc, "CommandNotFound: The command no-such-command has not been found");

	/* quit: 0 (answered) or -ECONNRESET (closed first); the process tells the rest */
	int rc = qmp_execute(cli, "quit", NULL, 0, NULL, desc, sizeof(desc));
	cr_assert(rc == 0 || rc == -ECONNRESET, "quit: %d %s", rc, desc);
	if (rc == 0) {
		/* QEMU 7.2 emits SHUTDOWN before answering quit */
		json_t *ev = qmp_next_event(cli);
		const char *reason = qmp_shutdown_reason(ev);
		cr_expect(reason && !strcmp(reason, "host-qmp-quit"), "reason %s", reason);
		json_decref(ev);
	}
	cr_assert(wait_child(qemu_pid, 10000), "QEMU exited after quit");
	qemu_pid = 0;
}

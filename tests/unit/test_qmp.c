/* test_qmp.c — the QMP client (src/common/qmp.c) against a fake QEMU (qmp_fake_server.c: a
 * thread with a listening Unix socket that greets, negotiates and then acts on the command
 * name). Commands, errors, events, byte-by-byte replies, stale ids, silence, close mid-reply,
 * garbage, a 10 MB line; also greeting failures, connect errors, the event queue, and a real
 * QEMU (-machine none) when qemu-system-x86_64 is installed.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deadline_io.h"
#include "qmp.h"
#include "qmp_fake_server.h"

static struct qmp_client *cli;
static pid_t qemu_pid;           /* the real QEMU, killed by teardown if still there */
static char qemu_dir[64];

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

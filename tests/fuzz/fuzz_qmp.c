/* fuzz_qmp.c — libFuzzer target: the QMP client (common/qmp.c: line framing, JSON parsing,
 * reply and event routing, greeting and capability negotiation) and vmengine's typed monitor
 * on top of it (vmengine/qemu_monitor.c, qemu_monitor_json.c), talking to a fake QEMU. The
 * input is everything that QEMU sends: a thread of the harness accepts the monitor's
 * connection on a socket in the scratch directory, writes the input, shuts its side down and
 * reads until the monitor hangs up, so no call ever waits for a deadline. The monitor
 * connects (greeting, qmp_capabilities = id 1), then runs query-status (2), query-migrate
 * (3), cont (4), polls events and takes every queued one, and quits (5). Every line of the
 * input is also handed straight to the JSON parsers of qemu_monitor_json.c, so their checks
 * see arbitrary values even where the client would not deliver them. Checks: no crash, no
 * leak, event names and reasons NUL-terminated, enum values in range. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <jansson.h>

#include "deadline_io.h"
#include "fuzz_util.h"
#include "qemu_monitor.h"
#include "qemu_monitor_json.h"

static int g_listen = -1;
static char g_path[PATH_MAX + 64];

struct peer {
	const uint8_t *data;
	size_t size;
};

static void setup(void)
{
	fuzz_quiet_logs();
	fuzz_scratch_file("qmp.sock", g_path, sizeof(g_path));
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(g_path) >= sizeof(addr.sun_path))
		abort();
	strcpy(addr.sun_path, g_path);
	g_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(g_path);
	if (g_listen < 0 || bind(g_listen, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(g_listen, 4) < 0)
		abort();
}

/* The fake QEMU: one connection, the input, then end of stream. */
static void *serve(void *arg)
{
	struct peer *p = arg;
	int fd = accept4(g_listen, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t off = 0;
	while (off < p->size) {
		ssize_t n = send(fd, p->data + off, p->size - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	char buf[4096];
	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
	close(fd);
	return NULL;
}

static void check_event(const struct qemu_monitor_event *ev)
{
	if (!memchr(ev->name, '\0', sizeof(ev->name)) ||
	    !memchr(ev->shutdown_reason, '\0', sizeof(ev->shutdown_reason)) ||
	    ev->migration_status >= QEMU_MIGRATION__MAX)
		abort();
}

/* Each line of the input, parsed on its own, through the pure parsers. */
static void parse_lines(const uint8_t *data, size_t size)
{
	size_t start = 0;
	for (size_t i = 0; i <= size; i++) {
		if (i < size && data[i] != '\n')
			continue;
		json_t *v = json_loadb((const char *)data + start, i - start,
				       0, NULL);
		start = i + 1;
		if (!v)
			continue;
		char err[256];
		enum qemu_run_state st = QEMU_RUN_STATE_UNKNOWN;
		if (qemu_monitor_json_parse_status(json_object_get(v, "return"), &st, err,
						   sizeof(err)) == 0 && st >= QEMU_RUN_STATE__MAX)
			abort();
		(void)qemu_monitor_json_run_state_name(st);
		enum qemu_migration_status ms;
		if (qemu_monitor_json_parse_migrate_info(json_object_get(v, "return"), &ms, err,
							 sizeof(err)) == 0 &&
		    ms >= QEMU_MIGRATION__MAX)
			abort();
		struct qemu_monitor_event ev;
		if (qemu_monitor_json_parse_event(v, &ev, err, sizeof(err)) == 0)
			check_event(&ev);
		json_decref(v);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (g_listen < 0)
		setup();
	parse_lines(data, size);

	struct peer p = { data, size };
	pthread_t t;
	if (pthread_create(&t, NULL, serve, &p) != 0)
		abort();
	int err = 0;
	struct qemu_monitor *mon = qemu_monitor_open(g_path, 1, deadline_after_ms(5000), &err);
	if (mon) {
		enum qemu_run_state st;
		if (qemu_monitor_query_status(mon, deadline_after_ms(5000), &st) == 0 &&
		    st >= QEMU_RUN_STATE__MAX)
			abort();
		enum qemu_migration_status ms;
		if (qemu_monitor_query_migrate(mon, deadline_after_ms(5000), &ms) == 0 &&
		    ms >= QEMU_MIGRATION__MAX)
			abort();
		(void)qemu_monitor_cont(mon, deadline_after_ms(5000));
		(void)qemu_monitor_poll_events(mon, deadline_after_ms(0));
		struct qemu_monitor_event ev;
		while (qemu_monitor_next_event(mon, &ev))
			check_event(&ev);
		(void)qemu_monitor_quit(mon, deadline_after_ms(5000));
		while (qemu_monitor_next_event(mon, &ev))
			check_event(&ev);
		qemu_monitor_close(mon);
	} else {
		/* The server thread may still wait in accept if the connect itself failed. */
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_un addr = { .sun_family = AF_UNIX };
		strcpy(addr.sun_path, g_path);
		if (err == -ENOENT || err == -ECONNREFUSED)
			(void)!connect(fd, (struct sockaddr *)&addr, sizeof(addr));
		close(fd);
	}
	pthread_join(t, NULL);
	return 0;
}

/* test_qemu_monitor.c — vmengine's typed QEMU monitor: qemu_monitor_json's pure parsing and
 * building (every run state and migration status, unknown strings, malformed replies and
 * events: a clear error, never a crash), and qemu_monitor's API against the fake QEMU
 * (qmp_fake_server.c): typed replies and events, and a monitor that never answers costing
 * exactly the deadline given. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "deadline_io.h"
#include "qemu_monitor.h"
#include "qemu_monitor_json.h"
#include "qmp_fake_server.h"

/* ---------------------------------------------------------------- qemu_monitor_json */

/* QEMU's RunState list (qapi/run-state.json), spelled out so a typo in the table shows. */
static const struct {
	const char *name;
	enum qemu_run_state state;
} run_states[] = {
	{ "debug", QEMU_RUN_STATE_DEBUG }, { "inmigrate", QEMU_RUN_STATE_INMIGRATE },
	{ "internal-error", QEMU_RUN_STATE_INTERNAL_ERROR },
	{ "io-error", QEMU_RUN_STATE_IO_ERROR }, { "paused", QEMU_RUN_STATE_PAUSED },
	{ "postmigrate", QEMU_RUN_STATE_POSTMIGRATE }, { "prelaunch", QEMU_RUN_STATE_PRELAUNCH },
	{ "finish-migrate", QEMU_RUN_STATE_FINISH_MIGRATE },
	{ "restore-vm", QEMU_RUN_STATE_RESTORE_VM }, { "running", QEMU_RUN_STATE_RUNNING },
	{ "save-vm", QEMU_RUN_STATE_SAVE_VM }, { "shutdown", QEMU_RUN_STATE_SHUTDOWN },
	{ "suspended", QEMU_RUN_STATE_SUSPENDED }, { "watchdog", QEMU_RUN_STATE_WATCHDOG },
	{ "guest-panicked", QEMU_RUN_STATE_GUEST_PANICKED }, { "colo", QEMU_RUN_STATE_COLO },
	{ "preconfig", QEMU_RUN_STATE_PRECONFIG },
};

Test(qemu_monitor_json, every_run_state_parses)
{
	size_t n = sizeof(run_states) / sizeof(run_states[0]);
	cr_assert_eq(n, QEMU_RUN_STATE__MAX - 1, "every known state is listed here");
	for (size_t i = 0; i < n; i++) {
		json_t *ret = json_pack("{s:s, s:b, s:s}", "status", run_states[i].name,
					"running", 0, "extra", "ignored");
		enum qemu_run_state st = QEMU_RUN_STATE__MAX;
		char err[128] = "";
		cr_assert_eq(qemu_monitor_json_parse_status(ret, &st, err, sizeof(err)), 0,
			     "%s: %s", run_states[i].name, err);
		cr_assert_eq(st, run_states[i].state, "%s", run_states[i].name);
		cr_assert_str_eq(qemu_monitor_json_run_state_name(st), run_states[i].name);
		json_decref(ret);
	}
}

Test(qemu_monitor_json, unknown_run_state_is_unknown)
{
	const char *odd[] = { "hibernating", "", "RUNNING", "running ", "unknown" };
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		json_t *ret = json_pack("{s:s}", "status", odd[i]);
		enum qemu_run_state st = QEMU_RUN_STATE_RUNNING;
		cr_assert_eq(qemu_monitor_json_parse_status(ret, &st, NULL, 0), 0, "%s", odd[i]);
		cr_assert_eq(st, QEMU_RUN_STATE_UNKNOWN, "'%s'", odd[i]);
		json_decref(ret);
	}
	cr_assert_eq(qemu_monitor_json_run_state_parse(NULL), QEMU_RUN_STATE_UNKNOWN);
	cr_assert_str_eq(qemu_monitor_json_run_state_name(QEMU_RUN_STATE_UNKNOWN), "unknown");
	cr_assert_str_eq(qemu_monitor_json_run_state_name(QEMU_RUN_STATE__MAX), "unknown");
	cr_assert_str_eq(qemu_monitor_json_run_state_name((enum qemu_run_state)-1), "unknown");
	cr_assert_str_eq(qemu_monitor_run_state_name(QEMU_RUN_STATE_GUEST_PANICKED),
			 "guest-panicked");
}

Test(qemu_monitor_json, malformed_status_replies_are_ebadmsg)
{
	const char *bad[] = { "[]", "\"running\"", "42", "null", "{}", "{\"running\": true}",
			      "{\"status\": 3}", "{\"status\": null}", "{\"status\": {}}",
			      "{\"status\": [\"running\"]}", "{\"Status\": \"running\"}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *ret = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		cr_assert_not_null(ret, "%s", bad[i]);
		enum qemu_run_state st = QEMU_RUN_STATE_RUNNING;
		char err[128] = "";
		cr_assert_eq(qemu_monitor_json_parse_status(ret, &st, err, sizeof(err)), -EBADMSG,
			     "%s", bad[i]);
		cr_assert_eq(st, QEMU_RUN_STATE_UNKNOWN, "%s", bad[i]);
		cr_assert(strstr(err, "query-status") && (strstr(err, "status") ||
			  strstr(err, "object")), "a clear error for %s: '%s'", bad[i], err);
		json_decref(ret);
	}
	enum qemu_run_state st;
	char err[8];   /* too short: truncated, never overflowed */
	cr_assert_eq(qemu_monitor_json_parse_status(NULL, &st, err, sizeof(err)), -EBADMSG);
	cr_assert_eq(strlen(err), sizeof(err) - 1);
	cr_assert_eq(qemu_monitor_json_parse_status(NULL, &st, NULL, 0), -EBADMSG);
}

Test(qemu_monitor_json, migration_statuses)
{
	const char *names[] = { "none", "setup", "cancelling", "cancelled", "active",
				"postcopy-active", "postcopy-paused", "postcopy-recover",
				"completed", "failed", "colo", "pre-switchover", "device",
				"wait-unplug" };
	cr_assert_eq(sizeof(names) / sizeof(names[0]), QEMU_MIGRATION__MAX - 1);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		json_t *ret = json_pack("{s:s}", "status", names[i]);
		enum qemu_migration_status s;
		cr_assert_eq(qemu_monitor_json_parse_migrate_info(ret, &s, NULL, 0), 0);
		cr_assert_eq((int)s, (int)i + 1, "%s", names[i]);
		cr_assert_str_eq(qemu_monitor_migration_status_name(s), names[i]);
		json_decref(ret);
	}
	enum qemu_migration_status s;
	json_t *empty = json_object();   /* QEMU's answer before any migration */
	cr_assert_eq(qemu_monitor_json_parse_migrate_info(empty, &s, NULL, 0), 0);
	cr_assert_eq(s, QEMU_MIGRATION_NONE);
	json_decref(empty);
	json_t *odd = json_pack("{s:s}", "status", "teleporting");
	cr_assert_eq(qemu_monitor_json_parse_migrate_info(odd, &s, NULL, 0), 0);
	cr_assert_eq(s, QEMU_MIGRATION_UNKNOWN);
	json_decref(odd);
	char err[128] = "";
	json_t *wrong = json_pack("{s:i}", "status", 1);
	cr_assert_eq(qemu_monitor_json_parse_migrate_info(wrong, &s, err, sizeof(err)), -EBADMSG);
	cr_assert(strstr(err, "status"), "%s", err);
	json_decref(wrong);
	json_t *arr = json_array();
	cr_assert_eq(qemu_monitor_json_parse_migrate_info(arr, &s, err, sizeof(err)), -EBADMSG);
	cr_assert_eq(qemu_monitor_json_parse_migrate_info(NULL, &s, err, sizeof(err)), -EBADMSG);
	json_decref(arr);
	cr_assert_str_eq(qemu_monitor_json_migration_status_name(QEMU_MIGRATION__MAX), "unknown");
}

Test(qemu_monitor_json, chardev_connection_from_its_filename)
{
	/* QEMU 7.2's answers for a vhost-user disk with its backend away, and back. */
	json_t *ret = json_loads("[{\"frontend-open\": true, \"filename\": "
		"\"disconnected:unix:/r/blockd/vhost/vm1\", \"label\": \"disk0\"}, "
		"{\"frontend-open\": true, \"filename\": \"file\", \"label\": \"console0\"}]",
		0, NULL);
	struct qemu_chardev_info info;
	char err[128] = "";
	cr_assert_eq(qemu_monitor_json_parse_chardev(ret, "disk0", &info, err, sizeof(err)), 0);
	cr_assert(!info.connected && info.frontend_open);
	cr_assert_eq(qemu_monitor_json_parse_chardev(ret, "console0", &info, err, sizeof(err)), 0);
	cr_assert(info.connected);
	cr_assert_eq(qemu_monitor_json_parse_chardev(ret, "disk1", &info, err, sizeof(err)),
		     -ENOENT);
	json_decref(ret);
	ret = json_loads("[{\"frontend-open\": true, \"filename\": \"unix:\", "
			 "\"label\": \"disk0\"}]", 0, NULL);
	cr_assert_eq(qemu_monitor_json_parse_chardev(ret, "disk0", &info, err, sizeof(err)), 0);
	cr_assert(info.connected);
	json_decref(ret);
	const char *bad[] = { "{}", "[{\"label\": \"disk0\"}]", "[{\"filename\": 3}]", "[1]" };
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		ret = json_loads(bad[k], JSON_DECODE_ANY, NULL);
		err[0] = '\0';
		cr_assert_eq(qemu_monitor_json_parse_chardev(ret, "disk0", &info, err, sizeof(err)),
			     -EBADMSG, "%s", bad[k]);
		cr_assert(err[0], "%s", bad[k]);
		json_decref(ret);
	}
}

Test(qemu_monitor_json, migrate_args)
{
	json_t *a = qemu_monitor_json_migrate_args("unix:/run/m.sock");
	cr_assert(json_is_object(a));
	cr_assert_eq(json_object_size(a), 1);
	cr_assert_str_eq(json_string_value(json_object_get(a, "uri")), "unix:/run/m.sock");
	json_decref(a);
	cr_assert_null(qemu_monitor_json_migrate_args(NULL));
	cr_assert_null(qemu_monitor_json_migrate_args(""));
}

static struct qemu_monitor_event parse_ok(const char *text)
{
	json_t *o = json_loads(text, 0, NULL);
	cr_assert_not_null(o, "%s", text);
	struct qemu_monitor_event ev;
	char err[128] = "";
	cr_assert_eq(qemu_monitor_json_parse_event(o, &ev, err, sizeof(err)), 0, "%s: %s", text,
		     err);
	json_decref(o);
	return ev;
}

Test(qemu_monitor_json, typed_events)
{
	struct qemu_monitor_event ev = parse_ok("{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": "
		"true, \"reason\": \"guest-shutdown\"}, \"timestamp\": {\"seconds\": 1, "
		"\"microseconds\": 2}}");
	cr_assert_eq(ev.kind, QEMU_EVENT_SHUTDOWN);
	cr_assert_str_eq(ev.name, "SHUTDOWN");
	cr_assert_str_eq(ev.shutdown_reason, "guest-shutdown");
	cr_assert(ev.shutdown_guest);

	ev = parse_ok("{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, "
		      "\"reason\": \"host-qmp-quit\"}}");
	cr_assert_str_eq(ev.shutdown_reason, "host-qmp-quit");
	cr_assert_not(ev.shutdown_guest);

	ev = parse_ok("{\"event\": \"GUEST_PANICKED\", \"data\": {\"action\": \"pause\"}}");
	cr_assert_eq(ev.kind, QEMU_EVENT_GUEST_PANICKED);
	cr_assert_str_eq(ev.shutdown_reason, "");
	cr_assert_eq(parse_ok("{\"event\": \"STOP\"}").kind, QEMU_EVENT_STOP);
	cr_assert_eq(parse_ok("{\"event\": \"RESUME\", \"data\": {}}").kind, QEMU_EVENT_RESUME);

	ev = parse_ok("{\"event\": \"MIGRATION\", \"data\": {\"status\": \"completed\"}}");
	cr_assert_eq(ev.kind, QEMU_EVENT_MIGRATION);
	cr_assert_eq(ev.migration_status, QEMU_MIGRATION_COMPLETED);

	ev = parse_ok("{\"event\": \"BLOCK_JOB_READY\", \"data\": {\"device\": \"d\"}}");
	cr_assert_eq(ev.kind, QEMU_EVENT_OTHER);
	cr_assert_str_eq(ev.name, "BLOCK_JOB_READY");
}

Test(qemu_monitor_json, odd_event_data_keeps_the_event)
{
	/* A SHUTDOWN is a SHUTDOWN whatever its data looks like: the fields keep defaults. */
	const char *odd[] = { "{\"event\": \"SHUTDOWN\"}", "{\"event\": \"SHUTDOWN\", \"data\": 7}",
			      "{\"event\": \"SHUTDOWN\", \"data\": {\"reason\": 5, \"guest\": 1}}",
			      "{\"event\": \"SHUTDOWN\", \"data\": null}" };
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		struct qemu_monitor_event ev = parse_ok(odd[i]);
		cr_assert_eq(ev.kind, QEMU_EVENT_SHUTDOWN, "%s", odd[i]);
		cr_assert_str_eq(ev.shutdown_reason, "", "%s", odd[i]);
		cr_assert_not(ev.shutdown_guest, "%s", odd[i]);
	}
	struct qemu_monitor_event ev = parse_ok("{\"event\": \"MIGRATION\", \"data\": "
						"{\"status\": 3}}");
	cr_assert_eq(ev.migration_status, QEMU_MIGRATION_UNKNOWN);

	/* A name longer than the field: truncated, still NUL-terminated, still typed. */
	char text[512];
	char longname[300];
	memset(longname, 'E', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	snprintf(text, sizeof(text), "{\"event\": \"%s\"}", longname);
	ev = parse_ok(text);
	cr_assert_eq(strlen(ev.name), QEMU_EVENT_NAME_MAX - 1);
	cr_assert_eq(ev.kind, QEMU_EVENT_OTHER);

	char reason[300];
	memset(reason, 'r', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	snprintf(text, sizeof(text), "{\"event\": \"SHUTDOWN\", \"data\": {\"reason\": \"%s\"}}",
		 reason);
	ev = parse_ok(text);
	cr_assert_eq(strlen(ev.shutdown_reason), QEMU_SHUTDOWN_REASON_MAX - 1);
}

Test(qemu_monitor_json, nameless_events_are_ebadmsg)
{
	const char *bad[] = { "[]", "\"SHUTDOWN\"", "{}", "{\"event\": 1}", "{\"event\": null}",
			      "{\"data\": {\"reason\": \"guest-shutdown\"}}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *o = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		cr_assert_not_null(o, "%s", bad[i]);
		struct qemu_monitor_event ev;
		char err[128] = "";
		cr_assert_eq(qemu_monitor_json_parse_event(o, &ev, err, sizeof(err)), -EBADMSG,
			     "%s", bad[i]);
		cr_assert(strstr(err, "event"), "%s: '%s'", bad[i], err);
		cr_assert_eq(ev.kind, QEMU_EVENT_OTHER);
		json_decref(o);
	}
	struct qemu_monitor_event ev;
	cr_assert_eq(qemu_monitor_json_parse_event(NULL, &ev, NULL, 0), -EBADMSG);
}

/* ---------------------------------------------------------------- qemu_monitor */

static struct qemu_monitor *mon;

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	mon = NULL;
}

static void teardown(void)
{
	qemu_monitor_close(mon);
	srv_stop();
}

static void open_fake(unsigned flags, const char *status)
{
	srv_start(GREETING, flags);
	srv.status = status;
	int err = 1;
	mon = qemu_monitor_open(srv.path, 7, deadline_after_ms(3000), &err);
	cr_assert_not_null(mon, "qemu_monitor_open: %d", err);
	cr_assert(qemu_monitor_connected(mon));
}

TestSuite(qemu_monitor, .init = setup, .fini = teardown);

Test(qemu_monitor, query_status_is_typed)
{
	open_fake(0, NULL);
	enum qemu_run_state st;
	cr_assert_eq(qemu_monitor_query_status(mon, deadline_after_ms(3000), &st), 0);
	cr_assert_eq(st, QEMU_RUN_STATE_RUNNING);
}

Test(qemu_monitor, paused_and_unknown_states)
{
	open_fake(0, "{\"status\": \"guest-panicked\", \"running\": false}");
	enum qemu_run_state st;
	cr_assert_eq(qemu_monitor_query_status(mon, deadline_after_ms(3000), &st), 0);
	cr_assert_eq(st, QEMU_RUN_STATE_GUEST_PANICKED);
	srv.status = "{\"status\": \"teleporting\", \"running\": false}";
	cr_assert_eq(qemu_monitor_query_status(mon, deadline_after_ms(3000), &st), 0);
	cr_assert_eq(st, QEMU_RUN_STATE_UNKNOWN);
}

Test(qemu_monitor, malformed_reply_is_ebadmsg_and_keeps_the_connection)
{
	open_fake(0, "{\"running\": true}");
	enum qemu_run_state st = QEMU_RUN_STATE_RUNNING;
	cr_assert_eq(qemu_monitor_query_status(mon, deadline_after_ms(3000), &st), -EBADMSG);
	cr_assert_eq(st, QEMU_RUN_STATE_UNKNOWN);
	cr_assert(qemu_monitor_connected(mon));
	cr_assert_eq(qemu_monitor_cont(mon, deadline_after_ms(3000)), 0, "still usable");
}

Test(qemu_monitor, commands_and_their_events)
{
	open_fake(0, NULL);
	cr_assert_eq(qemu_monitor_cont(mon, deadline_after_ms(3000)), 0);
	cr_assert_str_eq(json_string_value(json_object_get(srv.last, "execute")), "cont");
	struct qemu_monitor_event ev;
	cr_assert(qemu_monitor_next_event(mon, &ev), "RESUME came before cont's answer");
	cr_assert_eq(ev.kind, QEMU_EVENT_RESUME);
	cr_assert_not(qemu_monitor_next_event(mon, &ev));

	cr_assert_eq(qemu_monitor_system_powerdown(mon, deadline_after_ms(3000)), 0);
	cr_assert_gt(qemu_monitor_poll_events(mon, deadline_after_ms(3000)), 0);
	cr_assert(qemu_monitor_next_event(mon, &ev));
	cr_assert_eq(ev.kind, QEMU_EVENT_OTHER);
	cr_assert_str_eq(ev.name, "POWERDOWN");

	cr_assert_eq(qemu_monitor_migrate(mon, "unix:/tmp/x.sock", deadline_after_ms(3000)), 0);
	pthread_mutex_lock(&srv.lock);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(srv.last, "arguments"),
							   "uri")), "unix:/tmp/x.sock");
	pthread_mutex_unlock(&srv.lock);
	cr_assert_gt(qemu_monitor_poll_events(mon, deadline_after_ms(3000)), 0);
	cr_assert(qemu_monitor_next_event(mon, &ev));
	cr_assert_eq(ev.kind, QEMU_EVENT_MIGRATION);
	cr_assert_eq(ev.migration_status, QEMU_MIGRATION_SETUP);
	cr_assert_eq(qemu_monitor_migrate(mon, "", deadline_after_ms(3000)), -EINVAL);

	enum qemu_migration_status ms;
	cr_assert_eq(qemu_monitor_query_migrate(mon, deadline_after_ms(3000), &ms), 0);
	cr_assert_eq(ms, QEMU_MIGRATION_ACTIVE);

	int rc = qemu_monitor_quit(mon, deadline_after_ms(3000));
	cr_assert(rc == 0 || rc == -ECONNRESET, "quit: %d", rc);
	qemu_monitor_poll_events(mon, 0);
	cr_assert(qemu_monitor_next_event(mon, &ev), "SHUTDOWN queued before the close");
	cr_assert_eq(ev.kind, QEMU_EVENT_SHUTDOWN);
	cr_assert_str_eq(ev.shutdown_reason, "host-qmp-quit");
	cr_assert_not(ev.shutdown_guest);
}

Test(qemu_monitor, no_events_returns_at_once)
{
	open_fake(0, NULL);
	int64_t t0 = monotonic_ms();
	cr_assert_eq(qemu_monitor_poll_events(mon, 0), 0);
	struct qemu_monitor_event ev;
	cr_assert_not(qemu_monitor_next_event(mon, &ev));
	cr_assert_lt(monotonic_ms() - t0, 50);
}

/* A monitor that never answers costs the caller exactly its deadline, then is closed. */
static void expect_costs_deadline(int (*call)(struct qemu_monitor *, int64_t), int ms)
{
	open_fake(SRV_SILENT, NULL);
	int64_t t0 = monotonic_ms();
	cr_assert_eq(call(mon, t0 + ms), -ETIMEDOUT);
	int64_t took = monotonic_ms() - t0;
	cr_assert_geq(took, ms - 2, "took %lld ms of %d", (long long)took, ms);
	cr_assert_lt(took, ms + 150, "took %lld ms of %d", (long long)took, ms);
	cr_assert_not(qemu_monitor_connected(mon), "a missed deadline closes the connection");
	t0 = monotonic_ms();
	cr_assert_eq(call(mon, t0 + 1000), -ENOTCONN);
	cr_assert_lt(monotonic_ms() - t0, 50, "no waiting once closed");
}

static int query_status(struct qemu_monitor *m, int64_t deadline)
{
	enum qemu_run_state st;
	return qemu_monitor_query_status(m, deadline, &st);
}

Test(qemu_monitor, silent_query_status_costs_its_deadline)
{
	expect_costs_deadline(query_status, 300);
}

Test(qemu_monitor, silent_quit_costs_its_deadline)
{
	expect_costs_deadline(qemu_monitor_quit, 250);
}

Test(qemu_monitor, silent_powerdown_costs_its_deadline)
{
	expect_costs_deadline(qemu_monitor_system_powerdown, 200);
}

Test(qemu_monitor, passed_deadline_still_gets_the_floor)
{
	open_fake(SRV_SILENT, NULL);
	int64_t t0 = monotonic_ms();
	cr_assert_eq(qemu_monitor_cont(mon, t0 - 5000), -ETIMEDOUT);
	int64_t took = monotonic_ms() - t0;
	cr_assert_geq(took, QEMU_MONITOR_MIN_TIMEOUT_MS - 2, "took %lld", (long long)took);
	cr_assert_lt(took, QEMU_MONITOR_MIN_TIMEOUT_MS + 150, "took %lld", (long long)took);
}

Test(qemu_monitor, open_failures)
{
	int err = 0;
	int64_t t0 = monotonic_ms();
	cr_assert_null(qemu_monitor_open("/nonexistent/berth/monitor.sock", 7,
					 deadline_after_ms(3000), &err));
	cr_assert_eq(err, -ENOENT);
	cr_assert_lt(monotonic_ms() - t0, 100);

	srv_start("", 0);                /* accepts, never greets */
	t0 = monotonic_ms();
	cr_assert_null(qemu_monitor_open(srv.path, 7, t0 + 300, &err));
	int64_t took = monotonic_ms() - t0;
	cr_assert_eq(err, -ETIMEDOUT);
	cr_assert_geq(took, 298);
	cr_assert_lt(took, 450);
}

Test(qemu_monitor, null_monitor)
{
	enum qemu_run_state st;
	enum qemu_migration_status ms;
	struct qemu_monitor_event ev;
	cr_assert_not(qemu_monitor_connected(NULL));
	cr_assert_eq(qemu_monitor_query_status(NULL, 0, &st), -ENOTCONN);
	cr_assert_eq(qemu_monitor_cont(NULL, 0), -ENOTCONN);
	cr_assert_eq(qemu_monitor_system_powerdown(NULL, 0), -ENOTCONN);
	cr_assert_eq(qemu_monitor_quit(NULL, 0), -ENOTCONN);
	cr_assert_eq(qemu_monitor_migrate(NULL, "unix:/x", 0), -ENOTCONN);
	cr_assert_eq(qemu_monitor_query_migrate(NULL, 0, &ms), -ENOTCONN);
	cr_assert_eq(qemu_monitor_poll_events(NULL, 0), -ENOTCONN);
	cr_assert_not(qemu_monitor_next_event(NULL, &ev));
	qemu_monitor_close(NULL);
}

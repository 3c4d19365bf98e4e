/* test_doctor.c — the pure parts of `berth doctor`: the judgements on blockd's samples
 * (a reactor pinned while another idles, the poller that pins it, a hung request, a bdev
 * whose IO queues while its reactor idles) and the report (levels, exit status, JSON
 * shape). The samples are blockd's own shapes, written by hand. */
#include <criterion/criterion.h>
#include <string.h>

#include "doctor.h"

static struct doctor_report g_r;

static void fini(void)
{
	doctor_report_free(&g_r);
}

TestSuite(doctor, .fini = fini);

static json_t *js(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);
	cr_assert_not_null(v, "%s: %s", text, e.text);
	return v;
}

static json_t *reactors(long long app_busy, long long app_idle, long long r_busy,
			long long r_idle)
{
	char text[512];
	snprintf(text, sizeof(text), "{\"tick_rate\":1000000000,\"pid\":42,\"reactors\":["
		 "{\"lcore\":0,\"busy\":%lld,\"idle\":%lld,\"lw_threads\":[{\"name\":\"app_thread\"}]},"
		 "{\"lcore\":1,\"busy\":%lld,\"idle\":%lld,\"lw_threads\":[{\"name\":\"reactor_0\"}]}]}",
		 app_busy, app_idle, r_busy, r_idle);
	return js(text);
}

static json_t *pollers(long long runs, long long busy)
{
	char text[512];
	snprintf(text, sizeof(text), "{\"threads\":[{\"name\":\"app_thread\",\"id\":1,"
		 "\"active_pollers\":[],\"timed_pollers\":[{\"name\":\"rpc_silent_clients\",\"id\":1,"
		 "\"run_count\":%lld,\"busy_count\":0}]},{\"name\":\"reactor_0\",\"id\":2,"
		 "\"active_pollers\":[{\"name\":\"fault_spin\",\"id\":7,\"run_count\":%lld,"
		 "\"busy_count\":%lld}],\"timed_pollers\":[]}]}", runs, runs, busy);
	return js(text);
}

static const struct doctor_check *only(void)
{
	cr_assert_eq(g_r.n, 1);
	return &g_r.checks[0];
}

Test(doctor, reactor_pinned_while_another_idles)
{
	json_t *a = reactors(0, 0, 0, 0), *b = reactors(10, 290, 297, 3);
	doctor_classify_reactors(&g_r, a, b);
	const struct doctor_check *c = only();
	cr_expect_eq(c->level, DOCTOR_FAIL);
	cr_expect_str_eq(c->id, "reactor-busy");
	cr_expect_eq(json_integer_value(json_object_get(c->evidence, "lcore")), 1);
	cr_expect_eq(c->fix, FIX_RESTART_TARGET);
	json_decref(a);
	json_decref(b);
}

Test(doctor, reactors_idle_or_all_busy)
{
	json_t *a = reactors(0, 0, 0, 0), *b = reactors(10, 290, 30, 270);
	doctor_classify_reactors(&g_r, a, b);
	cr_expect_eq(only()->level, DOCTOR_PASS);
	doctor_report_free(&g_r);
	json_t *c = reactors(295, 5, 299, 1);
	doctor_classify_reactors(&g_r, a, c);
	cr_expect_eq(only()->level, DOCTOR_WARN, "saturated, not a runaway");
	doctor_report_free(&g_r);
	json_t *other = js("{\"pid\":43,\"reactors\":[]}");
	doctor_classify_reactors(&g_r, a, other);
	cr_expect_eq(only()->level, DOCTOR_SKIP, "another target between the samples");
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(other);
}

Test(doctor, poller_pinned_is_named)
{
	json_t *ra = reactors(0, 0, 0, 0), *rb = reactors(10, 290, 297, 3);
	json_t *pa = pollers(100, 100), *pb = pollers(115, 115);
	doctor_classify_pollers(&g_r, pa, pb, ra, rb);
	const struct doctor_check *c = only();
	cr_expect_eq(c->level, DOCTOR_FAIL);
	cr_expect_str_eq(json_string_value(json_object_get(c->evidence, "poller")), "fault_spin");
	cr_expect_str_eq(json_string_value(json_object_get(c->evidence, "thread")), "reactor_0");
	doctor_report_free(&g_r);
	/* the same thread at 10 %: nothing pinned */
	json_t *calm = reactors(10, 290, 30, 270);
	doctor_classify_pollers(&g_r, pa, pb, ra, calm);
	cr_expect_eq(only()->level, DOCTOR_PASS);
	json_decref(ra);
	json_decref(rb);
	json_decref(pa);
	json_decref(pb);
	json_decref(calm);
}

Test(doctor, oldest_hung_request_is_named)
{
	json_t *req = js("[{\"method\":\"vhost_delete_controller\",\"id\":7,\"client_pid\":321,"
			 "\"conn\":4,\"age_ms\":12000},{\"method\":\"bdev_raid_get_bdevs\",\"id\":8,"
			 "\"client_pid\":322,\"conn\":5,\"age_ms\":50}]");
	doctor_classify_requests(&g_r, req);
	const struct doctor_check *c = only();
	cr_expect_eq(c->level, DOCTOR_FAIL);
	cr_expect_eq(c->bug_class, 1);
	cr_expect_str_eq(json_string_value(json_object_get(c->evidence, "method")),
			 "vhost_delete_controller");
	cr_expect_eq(json_integer_value(json_object_get(c->evidence, "client_pid")), 321);
	cr_expect_eq(json_integer_value(json_object_get(c->evidence, "hung")), 1);
	doctor_report_free(&g_r);
	json_t *young = js("[{\"method\":\"x\",\"id\":1,\"client_pid\":1,\"conn\":1,\"age_ms\":20}]");
	doctor_classify_requests(&g_r, young);
	cr_expect_eq(only()->level, DOCTOR_PASS);
	json_decref(req);
	json_decref(young);
}

static json_t *iostat(long long ops, long long lat_ns, long long queued)
{
	char text[512];
	snprintf(text, sizeof(text), "{\"bdevs\":[{\"name\":\"vol1_base0\",\"num_read_ops\":%lld,"
		 "\"num_write_ops\":0,\"read_latency_ticks\":%lld,\"write_latency_ticks\":0,"
		 "\"io_outstanding\":%lld}]}", ops, lat_ns, queued);
	return js(text);
}

Test(doctor, slow_backend_while_reactor_idles)
{
	json_t *ra = reactors(0, 0, 0, 0), *rb = reactors(10, 290, 6, 294);
	json_t *ia = iostat(10, 100000000, 8), *ib = iostat(14, 100000000 + 4 * 250000000LL, 8);
	doctor_classify_iostat(&g_r, ia, ib, ra, rb);
	const struct doctor_check *c = only();
	cr_expect_eq(c->level, DOCTOR_WARN);
	cr_expect_str_eq(json_string_value(json_object_get(c->evidence, "bdev")), "vol1_base0");
	cr_expect(strstr(c->summary, "the backend, not the target"), "%s", c->summary);
	doctor_report_free(&g_r);
	json_t *fast = iostat(1000, 100000000 + 990 * 100000LL, 1);
	doctor_classify_iostat(&g_r, ia, fast, ra, rb);
	cr_expect_eq(only()->level, DOCTOR_PASS);
	json_decref(ra);
	json_decref(rb);
	json_decref(ia);
	json_decref(ib);
	json_decref(fast);
}

Test(doctor, exit_status_and_json)
{
	doctor_add(&g_r, "a", DOCTOR_PASS, 0, NULL, NULL, "fine");
	doctor_add(&g_r, "m", DOCTOR_INFO, 4, NULL, NULL, "n/a");
	cr_expect_eq(doctor_exit_status(&g_r), 0);
	doctor_add(&g_r, "b", DOCTOR_WARN, 0, json_pack("{s:i}", "x", 1), "do y", "hm");
	cr_expect_eq(doctor_exit_status(&g_r), 1);
	doctor_add(&g_r, "c", DOCTOR_FAIL, 2, NULL, "do z", "bad %d", 3);
	cr_expect_eq(doctor_exit_status(&g_r), 2);
	json_t *o = doctor_report_json(&g_r, "/r", 12);
	cr_expect_str_eq(json_string_value(json_object_get(o, "status")), "FAIL");
	json_t *checks = json_object_get(o, "checks");
	cr_assert_eq(json_array_size(checks), 4);
	json_t *c = json_array_get(checks, 3);
	cr_expect_str_eq(json_string_value(json_object_get(c, "id")), "c");
	cr_expect_str_eq(json_string_value(json_object_get(c, "level")), "FAIL");
	cr_expect_str_eq(json_string_value(json_object_get(c, "summary")), "bad 3");
	cr_expect_str_eq(json_string_value(json_object_get(c, "recovery")), "do z");
	cr_expect_eq(json_integer_value(json_object_get(c, "bug_class")), 2);
	cr_expect(json_is_object(json_object_get(c, "evidence")));
	cr_expect(json_is_null(json_object_get(json_array_get(checks, 0), "bug_class")));
	json_decref(o);
}

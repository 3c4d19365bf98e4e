/* test_rpc_stats.c — blockd_get_rpc_stats: per-method calls, errors, unanswered requests and
 * latency buckets; methods blockd does not serve counted under "other"; over a real socket
 * server, a client's calls are counted with their latency (an injected delay included), an
 * error answer as an error, and a hung request as unanswered once its client goes away. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fault.h"
#include "jsonrpc.h"
#include "jsonrpc_client.h"
#include "reactor.h"
#include "rpc.h"
#include "rpc_harness.h"
#include "rpc_inflight.h"
#include "rpc_server.h"
#include "rpc_stats.h"
#include "sock_util.h"

static void setup(void)
{
	rpc_harness_setup();
	rpc_stats_reset();
}

static void teardown(void)
{
	rpc_stats_reset();
	rpc_harness_teardown();
}

TestSuite(rpc_stats, .init = setup, .fini = teardown, .timeout = 60);

static json_t *method_entry(json_t *stats, const char *method)
{
	size_t i;
	json_t *m;
	json_array_foreach(aget(stats, "methods"), i, m)
		if (!strcmp(sget(m, "method"), method))
			return m;
	return NULL;
}

static json_int_t bucket_sum(json_t *m)
{
	json_int_t n = 0;
	size_t i;
	json_t *b;
	json_array_foreach(aget(m, "latency_buckets"), i, b)
		n += json_integer_value(b);
	return n;
}

static int raw_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%.*s", (int)sizeof(a.sun_path) - 1, path);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Polls (bounded) until method_of's entry for method has `key` == want; returns the stats. */
static json_t *wait_stat(struct jrpc_client *c, const char *method, const char *key,
			 json_int_t want)
{
	int64_t deadline = monotonic_ms() + 5000;
	for (;;) {
		json_t *s = NULL;
		cr_assert_eq(jrpc_call(c, "blockd_get_rpc_stats", NULL, &s, NULL), 0);
		json_t *m = method_entry(s, method);
		if ((m && json_integer_value(json_object_get(m, key)) == want) ||
		    monotonic_ms() > deadline)
			return s;
		json_decref(s);
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

Test(rpc_stats, counts_buckets_and_other)
{
	rpc_stats_answered("spdk_get_version", 10000, false);          /* 10 µs: first bucket */
	rpc_stats_answered("spdk_get_version", 2000000, true);         /* 2 ms */
	rpc_stats_answered("no_such_method", 1000, true);
	rpc_stats_answered("another_unknown", 1000, false);
	rpc_stats_unanswered("bdev_get_bdevs");
	json_t *s = rpc_ok("blockd_get_rpc_stats", NULL);
	cr_expect_eq(iget(s, "tick_rate"), 1000000000);
	json_t *bounds = aget(s, "latency_bounds_ticks");
	cr_assert_eq(json_array_size(bounds), RPC_STATS_BUCKETS);
	for (size_t i = 1; i < json_array_size(bounds); i++)
		cr_expect_gt(json_integer_value(json_array_get(bounds, i)),
			     json_integer_value(json_array_get(bounds, i - 1)));
	json_t *v = method_entry(s, "spdk_get_version");
	cr_assert_not_null(v);
	cr_expect_eq(iget(v, "calls"), 2);
	cr_expect_eq(iget(v, "errors"), 1);
	cr_expect_eq(iget(v, "unanswered"), 0);
	cr_expect_eq(iget(v, "latency_ticks"), 2010000);
	cr_assert_eq(json_array_size(aget(v, "latency_buckets")), RPC_STATS_BUCKETS + 1);
	cr_expect_eq(json_integer_value(json_array_get(aget(v, "latency_buckets"), 0)), 1);
	cr_expect_eq(bucket_sum(v), 2);
	json_t *o = method_entry(s, "other");
	cr_assert_not_null(o, "unknown methods are counted as other");
	cr_expect_eq(iget(o, "calls"), 2);
	cr_expect_eq(iget(o, "errors"), 1);
	cr_expect_null(method_entry(s, "no_such_method"));
	cr_expect_eq(iget(method_entry(s, "bdev_get_bdevs"), "unanswered"), 1);
	json_decref(s);
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_get_rpc_stats", "{\"x\":1}");
}

Test(rpc_stats, client_calls_over_a_socket)
{
	signal(SIGPIPE, SIG_IGN);
	fault_set_enabled(true);
	char dir[] = "/tmp/berth-rpcstats-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/rpc.sock", dir);
	struct reactor *app = reactor_create("app_thread", 100, 0);
	struct rpc_server *srv = rpc_server_open(path, app);
	cr_assert_not_null(srv);
	cr_assert_eq(reactor_start(app, false), 0);
	struct jrpc_client *c = jrpc_client_new(path);
	jrpc_client_set_timeout(c, 5000);
	json_t *res = NULL;
	cr_assert_eq(jrpc_call(c, "spdk_get_version", NULL, &res, NULL), 0);
	json_decref(res);
	res = NULL;
	json_t *p = json_pack("{s:s}", "name", "nope");
	cr_assert_eq(jrpc_call(c, "bdev_get_bdevs", p, &res, NULL), -EREMOTEIO);
	json_decref(p);
	p = json_pack("{s:s, s:s, s:i, s:i}", "method", "bdev_raid_get_bdevs", "action", "delay",
		      "delay_ms", 200, "count", 1);
	cr_assert_eq(jrpc_call(c, "blockd_fault_inject", p, &res, NULL), 0);
	json_decref(p);
	json_decref(res);
	p = json_pack("{s:s}", "category", "all");
	cr_assert_eq(jrpc_call(c, "bdev_raid_get_bdevs", p, &res, NULL), 0);
	json_decref(res);
	json_decref(p);
	p = json_pack("{s:s, s:s}", "method", "save_config", "action", "hang");
	cr_assert_eq(jrpc_call(c, "blockd_fault_inject", p, &res, NULL), 0);
	json_decref(p);
	json_decref(res);
	int hung = raw_connect(path);
	sock_send_str(hung, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"save_config\"}");
	/* Held: not counted until its client goes away, then unanswered. */
	json_t *s = wait_stat(c, "blockd_fault_inject", "calls", 2);
	json_decref(s);
	close(hung);
	s = wait_stat(c, "save_config", "unanswered", 1);
	cr_assert_eq(iget(method_entry(s, "save_config"), "unanswered"), 1, "%s",
		     json_dumps(s, 0));
	json_t *v = method_entry(s, "spdk_get_version");
	cr_assert_not_null(v);
	cr_expect_eq(iget(v, "calls"), 1);
	cr_expect_eq(iget(v, "errors"), 0);
	cr_expect_eq(iget(method_entry(s, "bdev_get_bdevs"), "errors"), 1);
	json_t *r = method_entry(s, "bdev_raid_get_bdevs");
	cr_expect_eq(iget(r, "calls"), 1);
	cr_expect_geq(iget(r, "latency_ticks"), 200000000, "the injected delay counts");
	cr_expect_eq(iget(method_entry(s, "save_config"), "calls"), 0);
	json_decref(s);

	jrpc_client_free(c);
	reactor_stop(app);
	rpc_server_close(srv);
	reactor_destroy(app);
	rpc_inflight_reset();
	unlink(path);
	rmdir(dir);
}

/* test_rpc_requests.c — blockd_get_requests, the requests in flight: over a real socket
 * server, a request a fault holds (hang) and one it defers (delay) are listed with their
 * method, id, client pid, connection and age, oldest first, while other clients are served;
 * an answered request leaves the list, and a hung one leaves it when its client goes away.
 * The method takes no parameters and exists without --fault-injection. */
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
#include "sock_util.h"

TestSuite(rpc_requests, .init = rpc_harness_setup, .fini = rpc_harness_teardown,
	  .timeout = 60);

static int raw_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static json_t *requests(struct jrpc_client *c)
{
	json_t *res = NULL;
	struct jrpc_error err = { 0 };
	int rc = jrpc_call(c, "blockd_get_requests", NULL, &res, &err);
	cr_assert_eq(rc, 0, "blockd_get_requests: %d %s", rc, err.message);
	cr_assert(json_is_array(res));
	return res;
}

/* Polls (bounded) until the list has n entries; returns it. */
static json_t *wait_requests(struct jrpc_client *c, size_t n)
{
	int64_t deadline = monotonic_ms() + 5000;
	for (;;) {
		json_t *r = requests(c);
		if (json_array_size(r) == n || monotonic_ms() > deadline)
			return r;
		json_decref(r);
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

Test(rpc_requests, local_shape_and_params)
{
	json_t *r = rpc_ok("blockd_get_requests", NULL);
	cr_expect(json_is_array(r));
	cr_expect_eq(json_array_size(r), 0, "a local call is not a client's request");
	json_decref(r);
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_get_requests", "{\"x\":1}");
}

Test(rpc_requests, lists_held_requests_oldest_first)
{
	signal(SIGPIPE, SIG_IGN);
	fault_set_enabled(true);
	char dir[] = "/tmp/berth-rpcreq-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/rpc.sock", dir);
	struct reactor *app = reactor_create("app_thread", 100, 0);
	struct rpc_server *s = rpc_server_open(path, app);
	cr_assert_not_null(s);
	cr_assert_eq(reactor_start(app, false), 0);

	struct jrpc_client *c = jrpc_client_new(path);
	jrpc_client_set_timeout(c, 5000);
	json_t *res = NULL;
	json_t *p = json_pack("{s:s, s:s}", "method", "bdev_raid_get_bdevs", "action", "hang");
	cr_assert_eq(jrpc_call(c, "blockd_fault_inject", p, &res, NULL), 0);
	json_decref(p);
	json_decref(res);
	p = json_pack("{s:s, s:s, s:i}", "method", "spdk_get_version", "action", "delay",
		      "delay_ms", 3000);
	cr_assert_eq(jrpc_call(c, "blockd_fault_inject", p, &res, NULL), 0);
	json_decref(p);
	json_decref(res);

	int hung = raw_connect(path);
	sock_send_str(hung, "{\"jsonrpc\":\"2.0\",\"id\":41,\"method\":\"bdev_raid_get_bdevs\","
			    "\"params\":{\"category\":\"all\"}}");
	json_t *r = wait_requests(c, 1);
	cr_assert_eq(json_array_size(r), 1, "%s", json_dumps(r, 0));
	json_decref(r);
	struct timespec ts = { 0, 30 * 1000000L };    /* so the two ages differ */
	nanosleep(&ts, NULL);
	int slow = raw_connect(path);
	sock_send_str(slow, "{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"method\":\"spdk_get_version\"}");
	r = wait_requests(c, 2);
	cr_assert_eq(json_array_size(r), 2, "%s", json_dumps(r, 0));
	json_t *a = json_array_get(r, 0), *b = json_array_get(r, 1);
	cr_expect_str_eq(sget(a, "method"), "bdev_raid_get_bdevs");
	cr_expect_eq(iget(a, "id"), 41);
	cr_expect_eq(iget(a, "client_pid"), getpid());
	cr_expect_str_eq(sget(b, "method"), "spdk_get_version");
	cr_expect_str_eq(sget(b, "id"), "s1");
	cr_expect_neq(iget(a, "conn"), iget(b, "conn"));
	cr_expect_geq(iget(a, "age_ms"), iget(b, "age_ms"), "oldest first");
	json_decref(r);

	/* the deferred one is answered after its delay and leaves the list */
	char buf[512];
	struct timeval tv = { 10, 0 };
	setsockopt(slow, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_expect_gt(recv(slow, buf, sizeof(buf), 0), 0, "the delayed request is answered");
	r = wait_requests(c, 1);
	cr_expect_eq(json_array_size(r), 1);
	cr_expect_str_eq(sget(json_array_get(r, 0), "method"), "bdev_raid_get_bdevs");
	json_decref(r);
	/* the hung one leaves with its client */
	close(hung);
	r = wait_requests(c, 0);
	cr_expect_eq(json_array_size(r), 0, "%s", json_dumps(r, 0));
	json_decref(r);

	close(slow);
	jrpc_client_free(c);
	reactor_stop(app);
	rpc_server_close(s);
	reactor_destroy(app);
	rpc_inflight_reset();
	rmdir(dir);
}

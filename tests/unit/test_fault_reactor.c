/* test_fault_reactor.c — the fault kinds doctor needs. blockd_fault_reactor:
 * method-not-found without fault injection; "spin" puts a "fault_spin" poller on the chosen thread that keeps it busy (its busy
 * count grows with its run count, the reactor's busy time with the wall clock), "stop"
 * takes it away; bad lcores and actions are -32602. blockd_fault_bdev: refused without fault
 * injection, for an unknown bdev and out-of-range delays. blockd_fault_clear without a method
 * clears every kind (spins, bdev delays, held vhost-user messages, RPC faults). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fault.h"
#include "jsonrpc.h"
#include "reactor.h"
#include "rpc_harness.h"

TestSuite(fault_reactor, .init = rpc_harness_setup, .fini = rpc_harness_teardown,
	  .timeout = 60);

static json_t *spin_poller(void)
{
	json_t *r = rpc_ok("thread_get_pollers", NULL);
	json_t *found = NULL;
	size_t i, j;
	json_t *t, *p;
	json_array_foreach(aget(r, "threads"), i, t)
		json_array_foreach(aget(t, "active_pollers"), j, p)
			if (!strcmp(sget(p, "name"), "fault_spin"))
				found = json_incref(p);
	json_decref(r);
	return found;
}

static uint64_t reactor_busy(unsigned lcore, uint64_t *idle)
{
	json_t *r = rpc_ok("framework_get_reactors", NULL);
	json_t *e = json_array_get(aget(r, "reactors"), lcore);
	uint64_t busy = (uint64_t)iget(e, "busy");
	*idle = (uint64_t)iget(e, "idle");
	json_decref(r);
	return busy;
}

Test(fault_reactor, refused_without_fault_injection)
{
	rpc_fail(JRPC_METHOD_NOT_FOUND, "blockd_fault_reactor",
		 "{\"lcore\":1,\"action\":\"spin\"}");
}

Test(fault_reactor, spin_and_stop)
{
	fault_set_enabled(true);
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_reactor", "{\"lcore\":9,\"action\":\"spin\"}");
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_reactor", "{\"lcore\":1,\"action\":\"x\"}");
	cr_assert_null(spin_poller());
	json_decref(rpc_ok("blockd_fault_reactor", "{\"lcore\":1,\"action\":\"spin\","
			   "\"spin_ms\":5}"));
	uint64_t idle0, idle1;
	uint64_t busy0 = reactor_busy(1, &idle0);
	struct timespec ts = { 0, 300 * 1000000L };
	nanosleep(&ts, NULL);
	uint64_t busy1 = reactor_busy(1, &idle1);
	double share = (double)(busy1 - busy0) / (double)(busy1 - busy0 + idle1 - idle0 + 1);
	cr_expect_gt(share, 0.8, "busy share %.2f", share);
	json_t *p = spin_poller();
	cr_assert_not_null(p);
	cr_expect_gt(iget(p, "busy_count"), 10);
	cr_expect_geq(iget(p, "run_count"), iget(p, "busy_count"));
	json_decref(p);
	json_decref(rpc_ok("blockd_fault_reactor", "{\"lcore\":1,\"action\":\"stop\"}"));
	/* the poller goes at the reactor's next iteration */
	for (int i = 0; i < 100 && (p = spin_poller()); i++) {
		json_decref(p);
		struct timespec t = { 0, 20 * 1000000L };
		nanosleep(&t, NULL);
	}
	cr_expect_null(spin_poller());
}

Test(fault_reactor, bdev_delay_refusals)
{
	rpc_fail(JRPC_METHOD_NOT_FOUND, "blockd_fault_bdev", "{\"bdev\":\"M\",\"delay_ms\":5}");
	fault_set_enabled(true);
	rpc_make_malloc("M", 64, 512);
	rpc_fail(-19, "blockd_fault_bdev", "{\"bdev\":\"nope\",\"delay_ms\":5}");
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_bdev", "{\"bdev\":\"M\",\"delay_ms\":10001}");
	rpc_fail(JRPC_INVALID_PARAMS, "blockd_fault_bdev", "{\"bdev\":\"M\"}");
	json_decref(rpc_ok("blockd_fault_bdev", "{\"bdev\":\"M\",\"delay_ms\":50}"));
	json_decref(rpc_ok("blockd_fault_bdev", "{\"bdev\":\"M\",\"delay_ms\":0}"));
}

Test(fault_reactor, fault_clear_clears_every_kind)
{
	/* blockd_fault_clear without a method: spins, bdev delays and held vhost-user
	 * messages go too, not only the RPC faults. */
	fault_set_enabled(true);
	json_decref(rpc_ok("blockd_fault_reactor", "{\"lcore\":1,\"action\":\"spin\"}"));
	for (int i = 0; i < 16; i++) {
		char name[16];
		snprintf(name, sizeof(name), "M%d", i);
		rpc_make_malloc(name, 64, 512);
		json_decref(rpc_ok("blockd_fault_bdev", "{\"bdev\":\"%s\",\"delay_ms\":50}", name));
	}
	rpc_make_malloc("M16", 64, 512);
	rpc_fail(-28, "blockd_fault_bdev", "{\"bdev\":\"M16\",\"delay_ms\":50}");
	json_decref(rpc_ok("blockd_fault_vhost", "{\"ctrlr\":\"c1\",\"action\":\"hold\","
			   "\"message\":\"GET_VRING_BASE\"}"));
	json_decref(rpc_ok("blockd_fault_inject", "{\"method\":\"bdev_get_bdevs\","
			   "\"action\":\"error\"}"));

	json_decref(rpc_ok("blockd_fault_clear", "{}"));

	json_decref(rpc_ok("bdev_get_bdevs", NULL));
	rpc_fail(-2, "blockd_fault_vhost", "{\"ctrlr\":\"c1\",\"action\":\"clear\"}");
	json_decref(rpc_ok("blockd_fault_bdev", "{\"bdev\":\"M16\",\"delay_ms\":50}"));
	json_t *p;
	for (int i = 0; i < 100 && (p = spin_poller()); i++) {
		json_decref(p);
		struct timespec t = { 0, 20 * 1000000L };
		nanosleep(&t, NULL);
	}
	cr_expect_null(spin_poller(), "the spin poller must be gone");
}

/* fault_reactor.c — blockd_fault_reactor {lcore, action: spin | stop, spin_ms}: "spin" adds
 * an active poller named "fault_spin" to the thread framework_get_reactors calls lcore
 * (0: app_thread, 1..: the IO reactors) that busy-waits spin_ms (default 20) on every call
 * and reports work, as a runaway poller would; "stop" removes it. Available only with
 * --fault-injection (the RPC_FAULT_INJECTION flag, which fault.c's hook enforces). */
#include "fault_reactor.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "blockd.h"
#include "json_util.h"
#include "log.h"
#include "reactor.h"
#include "rpc.h"

struct spin {
	struct reactor_poller *poller;   /* control thread only */
	_Atomic uint64_t spin_ns;        /* read by the poller on its own thread */
};

static struct blockd *g_bd;
/* Never freed: a poller being unregistered may still run once on its thread. */
static struct spin g_spins[BLOCKD_MAX_REACTORS + 1];

static int spin_poll(void *arg)
{
	struct spin *sp = arg;
	uint64_t until = monotonic_ns() + atomic_load_explicit(&sp->spin_ns, memory_order_relaxed);
	while (monotonic_ns() < until)
		;
	return 1;
}

static struct reactor *thread_of(unsigned lcore)
{
	if (lcore == 0)
		return g_bd->app;
	return lcore <= g_bd->num_reactors ? g_bd->reactors[lcore - 1] : NULL;
}

static void rpc_blockd_fault_reactor(struct rpc_request *req, const json_t *params)
{
	uint32_t lcore = 0, spin_ms = 20;
	const char *action = NULL;
	struct jparam spec[] = {
		{ "lcore", JP_UINT32, true, &lcore, NULL },
		{ "action", JP_STRING, true, &action, NULL },
		{ "spin_ms", JP_UINT32, false, &spin_ms, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	struct reactor *r = thread_of(lcore);
	if (!r)
		return rpc_reply_invalid_params(req, "no such lcore");
	if (spin_ms == 0 || spin_ms > 1000)
		return rpc_reply_invalid_params(req, "spin_ms must be 1..1000");
	struct spin *sp = &g_spins[lcore];
	if (!strcmp(action, "spin")) {
		atomic_store(&sp->spin_ns, (uint64_t)spin_ms * 1000000ull);
		if (!sp->poller)
			sp->poller = reactor_poller_register(r, "fault_spin", spin_poll, sp, 0);
		if (!sp->poller)
			return rpc_reply_errno(req, -ENOMEM);
	} else if (!strcmp(action, "stop")) {
		reactor_poller_unregister(r, sp->poller);
		sp->poller = NULL;
	} else {
		return rpc_reply_invalid_params(req, "action must be spin or stop");
	}
	log_warn("blockd", "msg=\"reactor fault\" lcore=%u action=%s spin_ms=%u", lcore, action,
		 spin_ms);
	rpc_reply(req, json_true());
}

static const struct rpc_method fault_reactor_methods[] = {
	{ "blockd_fault_reactor", rpc_blockd_fault_reactor,
	  RPC_FAULT_INJECTION | RPC_NO_FAULT, NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL },
};

int fault_reactor_register(struct blockd *bd)
{
	g_bd = bd;
	return rpc_register_methods(fault_reactor_methods);
}

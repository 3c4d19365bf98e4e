/* fault_reactor.c — blockd_fault_reactor {lcore, action: spin | stop | wedge, spin_ms,
 * wedge_ms}: "spin" adds an active poller named "fault_spin" to the thread
 * framework_get_reactors calls lcore (0: app_thread, 1..: the IO reactors) that busy-waits
 * spin_ms (default 20) on every call and reports work, as a runaway poller would; "stop"
 * removes it. "wedge" holds that thread in one call for wedge_ms (default 60000): it does
 * not iterate, so on lcore 0 no RPC is answered and no vhost-user message read until it
 * ends — a wedged control thread, what systemd's watchdog must catch (the answer is sent
 * before the wedge starts). Available only with --fault-injection (the RPC_FAULT_INJECTION
 * flag, which fault.c's hook enforces). */
#include "fault_reactor.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "blockd.h"
#include "fault.h"
#include "json_util.h"
#include "log.h"
#include "reactor.h"
#include "rpc.h"

struct spin {
	struct reactor_poller *poller;   /* control thread only */
	_Atomic uint64_t spin_ns;        /* read by the poller on its own thread */
	_Atomic uint64_t wedge_ns;       /* read by the wedge message on its own thread */
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

/* Runs on the wedged thread: sleeps out the wedge (absolute deadline, EINTR resumed). */
static void wedge_msg(void *arg)
{
	struct spin *sp = arg;
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	uint64_t ns = (uint64_t)until.tv_nsec + atomic_load(&sp->wedge_ns);
	until.tv_sec += (time_t)(ns / 1000000000ull);
	until.tv_nsec = (long)(ns % 1000000000ull);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
		;
}

static struct reactor *thread_of(unsigned lcore)
{
	if (lcore == 0)
		return g_bd->app;
	return lcore <= g_bd->num_reactors ? g_bd->reactors[lcore - 1] : NULL;
}

static void rpc_blockd_fault_reactor(struct rpc_request *req, const json_t *params)
{
	uint32_t lcore = 0, spin_ms = 20, wedge_ms = 60000;
	const char *action = NULL;
	struct jparam spec[] = {
		{ "lcore", JP_UINT32, true, &lcore, NULL },
		{ "action", JP_STRING, true, &action, NULL },
		{ "spin_ms", JP_UINT32, false, &spin_ms, NULL },
		{ "wedge_ms", JP_UINT32, false, &wedge_ms, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	struct reactor *r = thread_of(lcore);
	if (!r)
		return rpc_reply_invalid_params(req, "no such lcore");
	if (spin_ms == 0 || spin_ms > 1000)
		return rpc_reply_invalid_params(req, "spin_ms must be 1..1000");
	if (wedge_ms == 0 || wedge_ms > 600000)
		return rpc_reply_invalid_params(req, "wedge_ms must be 1..600000");
	struct spin *sp = &g_spins[lcore];
	if (!strcmp(action, "wedge")) {
		atomic_store(&sp->wedge_ns, (uint64_t)wedge_ms * 1000000ull);
		if (reactor_send_msg(r, wedge_msg, sp) < 0)
			return rpc_reply_errno(req, -ENOMEM);
		log_warn("blockd", "msg=\"reactor fault\" lcore=%u action=wedge wedge_ms=%u",
			 lcore, wedge_ms);
		return rpc_reply(req, json_true());
	}
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
		return rpc_reply_invalid_params(req, "action must be spin, stop or wedge");
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

/* blockd_fault_clear: every spin stops (a wedge in progress runs out its wedge_ms). */
static void clear_spins(void)
{
	for (unsigned lcore = 0; lcore <= g_bd->num_reactors; lcore++) {
		struct spin *sp = &g_spins[lcore];
		if (sp->poller)
			reactor_poller_unregister(thread_of(lcore), sp->poller);
		sp->poller = NULL;
	}
}

int fault_reactor_register(struct blockd *bd)
{
	g_bd = bd;
	int rc = fault_on_clear(clear_spins);
	return rc < 0 ? rc : rpc_register_methods(fault_reactor_methods);
}

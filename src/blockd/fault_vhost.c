/* fault_vhost.c — blockd_fault_vhost {ctrlr, message, action, hold_ms}: "hold" makes the
 * controller's sessions hold every such vhost-user message for hold_ms before handling it
 * (absent: until cleared), with the connection's input behind it, as a back-end that does not
 * answer; "clear" removes the fault (message absent: every one of the controller) and
 * releases what it holds. At most FAULT_VHOST_MAX faults at once. Available only with
 * --fault-injection (RPC_FAULT_INJECTION). Control thread only: the RPCs and the sessions'
 * hook both run there. */
#include "fault_vhost.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fault.h"
#include "json_util.h"
#include "log.h"
#include "reactor.h"
#include "rpc.h"
#include "vhost_blk.h"
#include "vhost_session.h"
#include "vhost_user_msg.h"

#define FAULT_VHOST_MAX 16
#define FAULT_VHOST_MAX_MS 3600000u

static struct {
	char ctrlr[VHOST_CTRLR_NAME_MAX + 1];
	uint32_t request;
	uint32_t hold_ms;              /* 0: until cleared */
} g_faults[FAULT_VHOST_MAX];
static unsigned g_num_faults;

static int find(const char *ctrlr, uint32_t request)
{
	for (unsigned i = 0; i < g_num_faults; i++)
		if (g_faults[i].request == request && strcmp(g_faults[i].ctrlr, ctrlr) == 0)
			return (int)i;
	return -1;
}

static uint64_t hold_until(const char *ctrlr, uint32_t request)
{
	int i = find(ctrlr, request);
	if (i < 0)
		return 0;
	if (g_faults[i].hold_ms == 0)
		return UINT64_MAX;
	return monotonic_ns() + (uint64_t)g_faults[i].hold_ms * 1000000ull;
}

static void remove_at(unsigned i)
{
	g_faults[i] = g_faults[--g_num_faults];
}

static void rpc_blockd_fault_vhost(struct rpc_request *req, const json_t *params)
{
	const char *ctrlr = NULL, *message = NULL, *action = NULL;
	uint32_t hold_ms = 0;
	bool have_ms = false;
	struct jparam spec[] = {
		{ "ctrlr", JP_STRING, true, &ctrlr, NULL },
		{ "message", JP_STRING, false, &message, NULL },
		{ "action", JP_STRING, true, &action, NULL },
		{ "hold_ms", JP_UINT32, false, &hold_ms, &have_ms },
	};
	DECODE_OR_REPLY(req, params, spec);
	if (strlen(ctrlr) == 0 || strlen(ctrlr) > VHOST_CTRLR_NAME_MAX)
		return rpc_reply_invalid_params(req, "ctrlr must be a controller name");
	int request = message ? vhost_user_request_parse(message) : -1;
	if (message && request < 0)
		return rpc_reply_invalid_params(req, "message is not a vhost-user request blockd "
						"handles (GET_VRING_BASE, ...)");
	if (strcmp(action, "clear") == 0) {
		if (have_ms)
			return rpc_reply_invalid_params(req, "hold_ms goes with action hold");
		unsigned removed = 0;
		for (unsigned i = g_num_faults; i-- > 0;)
			if (strcmp(g_faults[i].ctrlr, ctrlr) == 0 &&
			    (!message || g_faults[i].request == (uint32_t)request)) {
				remove_at(i);
				removed++;
			}
		if (removed == 0)
			return rpc_reply_errno(req, -ENOENT);
		log_warn("blockd", "msg=\"vhost fault cleared\" ctrlr=%s message=%s", ctrlr,
			 message ? message : "*");
		vhost_blk_recheck_holds();
		return rpc_reply(req, json_true());
	}
	if (strcmp(action, "hold") != 0)
		return rpc_reply_invalid_params(req, "action must be hold or clear");
	if (!message)
		return rpc_reply_invalid_params(req, "missing key 'message'");
	if (have_ms && (hold_ms == 0 || hold_ms > FAULT_VHOST_MAX_MS))
		return rpc_reply_invalid_params(req, "hold_ms must be 1..3600000 (absent: until "
						"cleared)");
	int i = find(ctrlr, (uint32_t)request);
	if (i < 0) {
		if (g_num_faults == FAULT_VHOST_MAX)
			return rpc_reply_errno(req, -ENOSPC);
		i = (int)g_num_faults++;
		snprintf(g_faults[i].ctrlr, sizeof(g_faults[i].ctrlr), "%s", ctrlr);
		g_faults[i].request = (uint32_t)request;
	}
	g_faults[i].hold_ms = have_ms ? hold_ms : 0;
	log_warn("blockd", "msg=\"vhost fault armed\" ctrlr=%s message=%s hold_ms=%u%s", ctrlr,
		 vhost_user_request_name((uint32_t)request), g_faults[i].hold_ms,
		 have_ms ? "" : " (until cleared)");
	rpc_reply(req, json_true());
}

static const struct rpc_method fault_vhost_methods[] = {
	{ "blockd_fault_vhost", rpc_blockd_fault_vhost, RPC_FAULT_INJECTION | RPC_NO_FAULT, NULL,
	  NULL },
	{ NULL, NULL, 0, NULL, NULL },
};

/* blockd_fault_clear: nothing is held any more; what was held is handled now. */
static void clear_holds(void)
{
	if (g_num_faults == 0)
		return;
	g_num_faults = 0;
	vhost_blk_recheck_holds();
}

int fault_vhost_register(void)
{
	g_num_faults = 0;
	vhost_session_set_hold_hook(hold_until);
	int rc = fault_on_clear(clear_holds);
	return rc < 0 ? rc : rpc_register_methods(fault_vhost_methods);
}

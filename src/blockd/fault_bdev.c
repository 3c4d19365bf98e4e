/* fault_bdev.c — blockd_fault_bdev {bdev, delay_ms}: every IO to that bdev waits delay_ms
 * before its module sees it (0 clears; at most FAULT_BDEV_MAX bdevs at once). Works on any
 * bdev, including a volume's base under its raid, without changing the configuration (unlike
 * a delay bdev, which must be stacked when the volume is built). Available only with
 * --fault-injection (RPC_FAULT_INJECTION). The table is written by the control thread and
 * read by the IO reactors through the bdev layer's delay hook, both with atomics. */
#include "fault_bdev.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bdev.h"
#include "fault.h"
#include "json_util.h"
#include "log.h"
#include "rpc.h"

#define FAULT_BDEV_MAX 16
#define FAULT_BDEV_MAX_MS 10000

static struct {
	_Atomic(const struct bdev *) bdev;
	_Atomic uint64_t delay_ns;
} g_delays[FAULT_BDEV_MAX];

static uint64_t delay_of(const struct bdev *b)
{
	for (int i = 0; i < FAULT_BDEV_MAX; i++)
		if (atomic_load_explicit(&g_delays[i].bdev, memory_order_acquire) == b)
			return atomic_load_explicit(&g_delays[i].delay_ns, memory_order_relaxed);
	return 0;
}

static void rpc_blockd_fault_bdev(struct rpc_request *req, const json_t *params)
{
	const char *name = NULL;
	uint32_t delay_ms = 0;
	struct jparam spec[] = {
		{ "bdev", JP_STRING, true, &name, NULL },
		{ "delay_ms", JP_UINT32, true, &delay_ms, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	if (delay_ms > FAULT_BDEV_MAX_MS)
		return rpc_reply_invalid_params(req, "delay_ms must be 0..10000");
	const struct bdev *b = bdev_find(name);
	if (!b)
		return rpc_reply_errno(req, -ENODEV);
	int slot = -1, free_slot = -1;
	for (int i = 0; i < FAULT_BDEV_MAX; i++) {
		const struct bdev *cur = atomic_load(&g_delays[i].bdev);
		if (cur == b)
			slot = i;
		else if (!cur && free_slot < 0)
			free_slot = i;
	}
	if (delay_ms == 0) {
		if (slot >= 0) {
			atomic_store(&g_delays[slot].delay_ns, 0);
			atomic_store(&g_delays[slot].bdev, NULL);
		}
	} else {
		if (slot < 0 && free_slot < 0)
			return rpc_reply_errno(req, -ENOSPC);
		if (slot < 0)
			slot = free_slot;
		bdev_set_io_delay_hook(delay_of);    /* from the first fault on: no cost before */
		atomic_store(&g_delays[slot].delay_ns, (uint64_t)delay_ms * 1000000ull);
		atomic_store_explicit(&g_delays[slot].bdev, b, memory_order_release);
	}
	log_warn("blockd", "msg=\"bdev fault\" bdev=%s delay_ms=%u", name, delay_ms);
	rpc_reply(req, json_true());
}

static const struct rpc_method fault_bdev_methods[] = {
	{ "blockd_fault_bdev", rpc_blockd_fault_bdev,
	  RPC_FAULT_INJECTION | RPC_NO_FAULT, NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL },
};

/* blockd_fault_clear: no bdev is delayed any more. */
static void clear_delays(void)
{
	for (int i = 0; i < FAULT_BDEV_MAX; i++) {
		atomic_store(&g_delays[i].delay_ns, 0);
		atomic_store(&g_delays[i].bdev, NULL);
	}
}

int fault_bdev_register(void)
{
	int rc = fault_on_clear(clear_delays);
	return rc < 0 ? rc : rpc_register_methods(fault_bdev_methods);
}

/* bdev_delay.c — the delay bdev: passes each IO to its base and holds the completion on a
 * reactor timer for the configured latency (the average one, the p99 one for one IO in a
 * hundred). Reads use the read latencies, every other type the write ones. It is how tests
 * keep IO in flight. Latencies are given in microseconds and may change at any time; a
 * change applies to IOs whose base part completes afterwards. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_module.h"
#include "bdev_rpc.h"
#include "bdev_delay.h"
#include "rpc.h"
#include "log.h"

#define DELAY_MAX_US (24ull * 3600 * 1000000)   /* one day */

enum delay_kind { AVG_READ, P99_READ, AVG_WRITE, P99_WRITE, DELAY_KINDS };

static const char *const g_kind_names[DELAY_KINDS] = {
	"avg_read", "p99_read", "avg_write", "p99_write",
};

struct delay_bdev {
	struct bdev bdev;
	struct bdev *base;
	char base_name[BDEV_NAME_MAX + 1];
	_Atomic uint64_t latency_us[DELAY_KINDS];
};

struct delay_io {
	struct reactor_timer timer;
	int status;
	bool armed;          /* the base part is done; the completion waits on the timer */
	bool aborted;
};

static unsigned g_delay_counter;

static struct delay_bdev *to_delay(const struct bdev *b)
{
	return (struct delay_bdev *)(void *)b;
}

static uint64_t delay_pick_ns(struct bdev_io *io)
{
	struct delay_bdev *d = to_delay(io->bdev);
	bool p99 = bdev_io_seq(io) % 100 == 99;
	enum delay_kind k = io->type == BDEV_IO_READ ? (p99 ? P99_READ : AVG_READ)
						     : (p99 ? P99_WRITE : AVG_WRITE);
	return atomic_load_explicit(&d->latency_us[k], memory_order_relaxed) * 1000;
}

static void delay_timer_fired(void *arg)
{
	struct bdev_io *io = arg;
	struct delay_io *dio = BDEV_IO_CTX(io, struct delay_io);
	dio->armed = false;
	bdev_io_complete(io, dio->status);
}

static void delay_base_done(struct bdev_io *io, uint32_t tag, int status)
{
	struct delay_io *dio = BDEV_IO_CTX(io, struct delay_io);
	uint64_t ns = delay_pick_ns(io);
	if (dio->aborted || ns == 0) {
		bdev_io_complete(io, dio->aborted ? -ECANCELED : status);
		return;
	}
	dio->status = status;
	dio->armed = true;
	reactor_timer_arm(io->reactor, &dio->timer, ns, delay_timer_fired, io);
}

static void delay_submit_base(struct bdev_io *io)
{
	struct delay_bdev *d = to_delay(io->bdev);
	if (BDEV_IO_CTX(io, struct delay_io)->aborted) {
		bdev_io_complete(io, -ECANCELED);
		return;
	}
	int rc = bdev_child_submit(io, d->base, io->type, io->offset_blocks, io->num_blocks,
				   io->iov, io->iovcnt, 0, 0, delay_base_done);
	if (rc == -ENOMEM)
		bdev_io_wait_pool(io, delay_submit_base);
	else if (rc < 0)
		bdev_io_complete(io, rc);
}

static void delay_submit(struct bdev_io *io)
{
	*BDEV_IO_CTX(io, struct delay_io) = (struct delay_io){ .armed = false };
	delay_submit_base(io);
}

/* An IO held on its timer finishes now; one still in the base finishes when the base
 * answers, without the delay. */
static void delay_abort(struct bdev_io *io)
{
	struct delay_io *dio = BDEV_IO_CTX(io, struct delay_io);
	dio->aborted = true;
	if (dio->armed) {
		reactor_timer_cancel(io->reactor, &dio->timer);
		dio->armed = false;
		bdev_io_complete(io, -ECANCELED);
	}
}

static void delay_remove(struct bdev *b)
{
	bdev_release(to_delay(b)->base);
}

static void delay_destruct(struct bdev *b)
{
	struct delay_bdev *d = to_delay(b);
	bdev_unhold(d->base);
	free(d);
}

static json_t *delay_params(const struct delay_bdev *d)
{
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "name", d->bdev.name,
			 "base_bdev_name", d->base_name,
			 "avg_read_latency", (json_int_t)atomic_load(&d->latency_us[AVG_READ]),
			 "p99_read_latency", (json_int_t)atomic_load(&d->latency_us[P99_READ]),
			 "avg_write_latency", (json_int_t)atomic_load(&d->latency_us[AVG_WRITE]),
			 "p99_write_latency", (json_int_t)atomic_load(&d->latency_us[P99_WRITE]));
}

static void delay_dump(const struct bdev *b, json_t *ds)
{
	json_t *info = delay_params(to_delay(b));
	if (info)
		json_object_set_new(ds, "delay", info);
}

static json_t *delay_config_json(const struct bdev *b)
{
	json_t *params = delay_params(to_delay(b));
	if (params)
		json_object_set_new(params, "uuid", json_string(b->uuid));
	return bdev_config_wrap("bdev_delay_create", params);
}

/* ---- RPC methods */

static void rpc_bdev_delay_create(struct rpc_request *req, const json_t *params)
{
	const char *name = NULL, *base = NULL, *uuid = NULL;
	uint64_t avg_read = 0, p99_read = 0, avg_write = 0, p99_write = 0;
	struct jparam spec[] = {
		{ "base_bdev_name", JP_STRING, true, &base, NULL },
		{ "name", JP_STRING, true, &name, NULL },
		{ "avg_read_latency", JP_UINT64, true, &avg_read, NULL },
		{ "p99_read_latency", JP_UINT64, true, &p99_read, NULL },
		{ "avg_write_latency", JP_UINT64, true, &avg_write, NULL },
		{ "p99_write_latency", JP_UINT64, true, &p99_write, NULL },
		{ "uuid", JP_STRING, false, &uuid, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	struct bdev *b = NULL;
	int rc = bdev_delay_create(name, base, avg_read, p99_read, avg_write,
					     p99_write, uuid, &b);
	bdev_rpc_reply_created(req, rc, b);
}

static void rpc_bdev_delay_delete(struct rpc_request *req, const json_t *params)
{
	bdev_rpc_delete(req, params, "delay");
}

static void rpc_bdev_delay_update_latency(struct rpc_request *req, const json_t *params)
{
	const char *name = NULL, *type = NULL;
	uint64_t latency_us = 0;
	struct jparam spec[] = {
		{ "delay_bdev_name", JP_STRING, true, &name, NULL },
		{ "latency_type", JP_STRING, true, &type, NULL },
		{ "latency_us", JP_UINT64, true, &latency_us, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	if (strcmp(type, "avg_read") && strcmp(type, "p99_read") && strcmp(type, "avg_write") &&
	    strcmp(type, "p99_write"))
		return rpc_reply_invalid_params(
			req, "latency_type must be avg_read, p99_read, avg_write or p99_write");
	bdev_rpc_reply_done(req, bdev_delay_update_latency(name, type, latency_us));
}

/* Puts back the latency the configuration had before the update. */
static void undo_update_latency(const json_t *params, const json_t *result, const json_t *before)
{
	const char *name = json_string_value(json_object_get(params, "delay_bdev_name"));
	const char *type = json_string_value(json_object_get(params, "latency_type"));
	const json_t *old = rpc_config_find(before, "bdev_delay_create", name ? name : "");
	char key[32];
	snprintf(key, sizeof(key), "%s_latency", type ? type : "");
	json_t *us = json_object_get(old, key);
	if (json_is_integer(us))
		bdev_delay_update_latency(name, type, (uint64_t)json_integer_value(us));
}

static const struct rpc_method delay_rpc_methods[] = {
	{ "bdev_delay_create", rpc_bdev_delay_create, RPC_MUTATES, bdev_rpc_undo_create,
	  NULL },
	{ "bdev_delay_delete", rpc_bdev_delay_delete, RPC_MUTATES | RPC_DELETES, NULL, NULL },
	{ "bdev_delay_update_latency", rpc_bdev_delay_update_latency, RPC_MUTATES,
	  undo_update_latency, NULL },
	{ NULL, NULL, 0, NULL, NULL },
};

const struct bdev_module bdev_delay_module = {
	.rpc_methods = delay_rpc_methods,
	.name = "delay",
	.product_name = "delay",
	.submit = delay_submit,
	.abort = delay_abort,
	.remove = delay_remove,
	.destruct = delay_destruct,
	.dump_driver_specific = delay_dump,
	.config_json = delay_config_json,
};

int bdev_delay_create(const char *name, const char *base_name, uint64_t avg_read_us,
		      uint64_t p99_read_us, uint64_t avg_write_us, uint64_t p99_write_us,
		      const char *uuid, struct bdev **out)
{
	uint64_t lat[DELAY_KINDS] = { avg_read_us, p99_read_us, avg_write_us, p99_write_us };
	for (int k = 0; k < DELAY_KINDS; k++) {
		if (lat[k] > DELAY_MAX_US)
			return -EINVAL;
	}
	char bname[BDEV_NAME_MAX + 1];
	int rc = bdev_pick_name(name, "Delay", &g_delay_counter, bname);
	if (rc < 0)
		return rc;
	struct bdev *base = bdev_find(base_name);
	if (!base)
		return -ENODEV;
	if (base->claim_module)
		return -EBUSY;
	struct delay_bdev *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->base = base;
	snprintf(d->base_name, sizeof(d->base_name), "%s", base->name);
	for (int k = 0; k < DELAY_KINDS; k++)
		atomic_init(&d->latency_us[k], lat[k]);
	rc = bdev_setup(&d->bdev, &bdev_delay_module, bname, base->block_size, base->num_blocks,
			base->io_types, uuid);
	if (rc == 0)
		rc = bdev_register(&d->bdev);
	if (rc < 0) {
		free(d);
		return rc;
	}
	bdev_claim(base, "delay", d);   /* cannot fail: checked above, same thread */
	bdev_hold(base);
	if (out)
		*out = &d->bdev;
	return 0;
}

int bdev_delay_update_latency(const char *name, const char *type, uint64_t latency_us)
{
	struct bdev *b = bdev_find(name);
	if (!b || strcmp(bdev_module(b), "delay") != 0)
		return -ENODEV;
	for (int k = 0; k < DELAY_KINDS; k++) {
		if (type && strcmp(type, g_kind_names[k]) == 0) {
			if (latency_us > DELAY_MAX_US)
				return -EINVAL;
			atomic_store(&to_delay(b)->latency_us[k], latency_us);
			log_info("blockd", "msg=\"delay latency updated\" bdev=%s type=%s us=%llu",
				 name, type, (unsigned long long)latency_us);
			return 0;
		}
	}
	return -EINVAL;
}

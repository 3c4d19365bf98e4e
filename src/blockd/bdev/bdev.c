/* bdev.c — the module-independent half of the bdev layer: the registry of named bdevs
 * (names, uuids, claims, holds), delete with its graveyard and reap, the per-reactor IO
 * context (bdev_io pool, completion queue drained by a poller so that callbacks never run
 * inside bdev_submit, queue of IOs waiting for the pool), submission and completion with
 * iostat accounting, and the iovec helpers the modules share. */
#include "bdev.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_module.h"
#include "log.h"
#include "uuid.h"

static struct bdev *g_head, *g_tail;    /* registry, creation order */
static struct bdev *g_graveyard;        /* deleted, waiting for bdev_reap */

/* ---- names, uuids, geometry */

static bool bdev_name_valid(const char *name)
{
	size_t len = strnlen(name, BDEV_NAME_MAX + 1);
	if (len == 0 || len > BDEV_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c > 0x7e || c == '/')
			return false;
	}
	return true;
}

int bdev_pick_name(const char *name, const char *prefix, unsigned *counter, char *out)
{
	if (name && name[0]) {
		if (!bdev_name_valid(name))
			return -EINVAL;
		if (bdev_find(name))
			return -EEXIST;
		snprintf(out, BDEV_NAME_MAX + 1, "%s", name);
		return 0;
	}
	for (unsigned tries = 0; tries < 1000000; tries++) {
		snprintf(out, BDEV_NAME_MAX + 1, "%s%u", prefix, (*counter)++);
		if (!bdev_find(out))
			return 0;
	}
	return -EEXIST;
}

int bdev_check_geometry(uint32_t block_size, uint64_t num_blocks)
{
	if (block_size < 512 || block_size > 65536 || (block_size & (block_size - 1)))
		return -EINVAL;
	if (num_blocks == 0 || num_blocks > UINT64_MAX / block_size)
		return -EINVAL;
	return 0;
}

int bdev_setup(struct bdev *b, const struct bdev_module *m, const char *name,
	       uint32_t block_size, uint64_t num_blocks, uint32_t io_types, const char *uuid)
{
	if (!bdev_name_valid(name) || bdev_check_geometry(block_size, num_blocks) < 0)
		return -EINVAL;
	int rc = uuid ? uuid_parse_text(uuid, b->uuid) : uuid_generate_text(b->uuid);
	if (rc < 0)
		return rc;
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->module = m;
	b->module_name = m->name;
	b->block_size = block_size;
	b->num_blocks = num_blocks;
	b->io_types = io_types;
	atomic_init(&b->deleted, false);
	atomic_init(&b->io_outstanding, 0);
	atomic_init(&b->stat.min_read_latency_ns, UINT64_MAX);
	atomic_init(&b->stat.min_write_latency_ns, UINT64_MAX);
	atomic_init(&b->stat.min_unmap_latency_ns, UINT64_MAX);
	return 0;
}

/* ---- registry */

struct bdev *bdev_find(const char *name)
{
	if (!name)
		return NULL;
	for (struct bdev *b = g_head; b; b = b->next) {
		if (strcmp(b->name, name) == 0)
			return b;
	}
	return NULL;
}

static struct bdev *bdev_find_uuid(const char *uuid)
{
	for (struct bdev *b = g_head; b; b = b->next) {
		if (strcmp(b->uuid, uuid) == 0)
			return b;
	}
	return NULL;
}

int bdev_register(struct bdev *b)
{
	if (bdev_find(b->name) || bdev_find_uuid(b->uuid))
		return -EEXIST;
	b->prev = g_tail;
	b->next = NULL;
	if (g_tail)
		g_tail->next = b;
	else
		g_head = b;
	g_tail = b;
	log_info("blockd", "msg=\"bdev created\" bdev=%s module=%s block_size=%u num_blocks=%llu "
		 "uuid=%s", b->name, b->module_name, b->block_size,
		 (unsigned long long)b->num_blocks, b->uuid);
	return 0;
}

static void bdev_unlink(struct bdev *b)
{
	if (b->prev)
		b->prev->next = b->next;
	else
		g_head = b->next;
	if (b->next)
		b->next->prev = b->prev;
	else
		g_tail = b->prev;
	b->prev = b->next = NULL;
}

void bdev_foreach(int (*fn)(struct bdev *b, void *arg), void *arg)
{
	for (struct bdev *b = g_head, *next; b; b = next) {
		next = b->next;
		if (fn(b, arg))
			return;
	}
}

const char *bdev_name(const struct bdev *b) { return b->name; }
const char *bdev_module(const struct bdev *b) { return b->module_name; }
const char *bdev_product_name(const struct bdev *b) { return b->module->product_name; }
const char *bdev_uuid(const struct bdev *b) { return b->uuid; }
uint32_t bdev_block_size(const struct bdev *b) { return b->block_size; }
uint64_t bdev_num_blocks(const struct bdev *b) { return b->num_blocks; }
const char *bdev_claimed_by(const struct bdev *b) { return b->claim_module; }

bool bdev_io_type_supported(const struct bdev *b, enum bdev_io_type t)
{
	return (unsigned)t < BDEV_IO_TYPE_COUNT && (b->io_types & (1u << t));
}

uint64_t bdev_io_outstanding(const struct bdev *b)
{
	return atomic_load(&b->io_outstanding);
}

void bdev_dump_driver_specific(const struct bdev *b, json_t *driver_specific)
{
	if (b->module->dump_driver_specific)
		b->module->dump_driver_specific(b, driver_specific);
}

json_t *bdev_config_json(const struct bdev *b)
{
	return b->module->config_json(b);
}

json_t *bdev_config_wrap(const char *method, json_t *params)
{
	if (!params)
		return NULL;
	return json_pack("{s:s, s:o}", "method", method, "params", params);
}

/* ---- claims and holds */

int bdev_claim_ext(struct bdev *b, const char *claimer_module, void *claimer,
		   int (*on_remove)(void *claimer, struct bdev *b))
{
	if (b->claim_module)
		return -EBUSY;
	b->claim_module = claimer_module;
	b->claimer = claimer;
	b->on_remove = on_remove;
	return 0;
}

int bdev_claim(struct bdev *b, const char *claimer_module, void *claimer)
{
	return bdev_claim_ext(b, claimer_module, claimer, NULL);
}

void bdev_release(struct bdev *b)
{
	b->claim_module = NULL;
	b->claimer = NULL;
	b->on_remove = NULL;
}

void bdev_hold(struct bdev *b)
{
	b->holders++;
}

void bdev_unhold(struct bdev *b)
{
	b->holders--;
}

/* ---- delete, graveyard, reap */

/* NULL matches any; so does the module's name or the alias it declares. */
static bool bdev_module_matches(const struct bdev *b, const char *module)
{
	if (!module || strcmp(module, b->module_name) == 0)
		return true;
	return b->module->alias && strcmp(module, b->module->alias) == 0;
}

static void bdev_bury(struct bdev *b)
{
	if (b->module->remove)
		b->module->remove(b);
	bdev_unlink(b);
	atomic_store(&b->deleted, true);
	b->grace_epoch = reactor_epoch_begin();
	b->next = g_graveyard;
	g_graveyard = b;
	log_info("blockd", "msg=\"bdev deleted\" bdev=%s module=%s io_outstanding=%llu",
		 b->name, b->module_name, (unsigned long long)atomic_load(&b->io_outstanding));
}

int bdev_delete(const char *name, const char *module)
{
	struct bdev *b = bdev_find(name);
	if (!b || !bdev_module_matches(b, module))
		return -ENODEV;
	if (b->claim_module) {
		if (!b->on_remove)
			return -EBUSY;
		int rc = b->on_remove(b->claimer, b);
		if (rc < 0)
			return rc;
		bdev_release(b);
	}
	bdev_bury(b);
	bdev_reap();
	return 0;
}

static bool bdev_reapable(const struct bdev *b)
{
	return atomic_load(&b->io_outstanding) == 0 && b->holders == 0 &&
	       reactor_epoch_passed(b->grace_epoch);
}

void bdev_reap(void)
{
	bool progress = true;
	while (progress) {      /* a reaped raid or delay may free the hold on a base */
		progress = false;
		struct bdev **pp = &g_graveyard;
		while (*pp) {
			struct bdev *b = *pp;
			if (!bdev_reapable(b)) {
				pp = &b->next;
				continue;
			}
			*pp = b->next;
			b->module->destruct(b);
			progress = true;
		}
	}
}

unsigned bdev_graveyard_size(void)
{
	unsigned n = 0;
	for (struct bdev *b = g_graveyard; b; b = b->next)
		n++;
	return n;
}

void bdev_delete_all(void)
{
	while (g_tail) {
		struct bdev *victim = NULL;
		for (struct bdev *b = g_tail; b && !victim; b = b->prev) {
			if (!b->claim_module)
				victim = b;
		}
		if (!victim) {          /* claimed by something outside the bdev layer */
			victim = g_tail;
			log_warn("blockd", "msg=\"releasing claim at shutdown\" bdev=%s claimed_by=%s",
				 victim->name, victim->claim_module);
			bdev_release(victim);
		}
		bdev_bury(victim);
	}
	bdev_reap();
}

void bdev_reap_final(void)
{
	bdev_reap();
	for (struct bdev *b = g_graveyard; b; b = b->next)
		log_warn("blockd", "msg=\"bdev not freed at shutdown\" bdev=%s io_outstanding=%llu "
			 "holders=%u", b->name, (unsigned long long)atomic_load(&b->io_outstanding),
			 b->holders);
}

/* ---- iostat */

static void stat_min(_Atomic uint64_t *v, uint64_t x)
{
	uint64_t cur = atomic_load_explicit(v, memory_order_relaxed);
	while (x < cur && !atomic_compare_exchange_weak_explicit(v, &cur, x, memory_order_relaxed,
								  memory_order_relaxed))
		;
}

static void stat_max(_Atomic uint64_t *v, uint64_t x)
{
	uint64_t cur = atomic_load_explicit(v, memory_order_relaxed);
	while (x > cur && !atomic_compare_exchange_weak_explicit(v, &cur, x, memory_order_relaxed,
								  memory_order_relaxed))
		;
}

/* A round of completions (bdev_ctx_poll) is counted in plain memory, one bdev at a time, and
 * added to the bdev's shared counters once per run of that bdev's IO: a locked add per IO
 * and counter cost about a third of the null path's time (make bench). */
struct stat_batch {
	struct bdev *b;              /* NULL: empty */
	uint64_t ios;                /* finished IOs still counted in b->io_outstanding */
	struct bdev_iostat s;        /* min_* start at UINT64_MAX */
};

static void batch_reset(struct stat_batch *sb, struct bdev *b)
{
	sb->b = b;
	sb->ios = 0;
	sb->s = (struct bdev_iostat){ .min_read_latency_ns = UINT64_MAX,
				      .min_write_latency_ns = UINT64_MAX,
				      .min_unmap_latency_ns = UINT64_MAX };
}

static void batch_latency(uint64_t *sum, uint64_t *max, uint64_t *min, uint64_t lat)
{
	*sum += lat;
	if (lat > *max)
		*max = lat;
	if (lat < *min)
		*min = lat;
}

static void batch_account(struct stat_batch *sb, const struct bdev_io *io, int status,
			  uint64_t now)
{
	struct bdev_iostat *st = &sb->s;
	uint64_t lat = now > io->start_ns ? now - io->start_ns : 0;
	uint64_t bytes = io->num_blocks * sb->b->block_size;
	sb->ios++;
	if (status != 0) {
		st->num_io_errors++;
		return;
	}
	switch (io->type) {
	case BDEV_IO_READ:
		st->num_read_ops++;
		st->bytes_read += bytes;
		batch_latency(&st->read_latency_ns, &st->max_read_latency_ns,
			      &st->min_read_latency_ns, lat);
		break;
	case BDEV_IO_WRITE:
		st->num_write_ops++;
		st->bytes_written += bytes;
		batch_latency(&st->write_latency_ns, &st->max_write_latency_ns,
			      &st->min_write_latency_ns, lat);
		break;
	case BDEV_IO_UNMAP:
		st->num_unmap_ops++;
		st->bytes_unmapped += bytes;
		batch_latency(&st->unmap_latency_ns, &st->max_unmap_latency_ns,
			      &st->min_unmap_latency_ns, lat);
		break;
	case BDEV_IO_FLUSH:
		st->num_flush_ops++;
		break;
	case BDEV_IO_WRITE_ZEROES:
		st->num_write_zeroes_ops++;
		st->bytes_write_zeroes += bytes;
		break;
	default:
		break;
	}
}

#define STAT_ADD(field, x) do { \
		if (x) \
			atomic_fetch_add_explicit(&(field), (x), memory_order_relaxed); \
	} while (0)

/* Widens a bdev's [min, max] latency by a batch's, when the batch had ops of that type. */
static void stat_range(_Atomic uint64_t *max, _Atomic uint64_t *min, uint64_t ops,
		       uint64_t batch_max, uint64_t batch_min)
{
	if (!ops)
		return;
	stat_max(max, batch_max);
	stat_min(min, batch_min);
}

/* Adds the batch to its bdev's counters, then lets go of its IOs' io_outstanding (the bdev
 * may be reaped from then on). */
static void batch_flush(struct stat_batch *sb)
{
	struct bdev *b = sb->b;
	if (!b)
		return;
	struct bdev_stat_atomic *st = &b->stat;
	const struct bdev_iostat *x = &sb->s;
	STAT_ADD(st->num_read_ops, x->num_read_ops);
	STAT_ADD(st->bytes_read, x->bytes_read);
	STAT_ADD(st->read_latency_ns, x->read_latency_ns);
	STAT_ADD(st->num_write_ops, x->num_write_ops);
	STAT_ADD(st->bytes_written, x->bytes_written);
	STAT_ADD(st->write_latency_ns, x->write_latency_ns);
	STAT_ADD(st->num_unmap_ops, x->num_unmap_ops);
	STAT_ADD(st->bytes_unmapped, x->bytes_unmapped);
	STAT_ADD(st->unmap_latency_ns, x->unmap_latency_ns);
	STAT_ADD(st->num_flush_ops, x->num_flush_ops);
	STAT_ADD(st->num_write_zeroes_ops, x->num_write_zeroes_ops);
	STAT_ADD(st->bytes_write_zeroes, x->bytes_write_zeroes);
	STAT_ADD(st->num_io_errors, x->num_io_errors);
	stat_range(&st->max_read_latency_ns, &st->min_read_latency_ns, x->num_read_ops,
		   x->max_read_latency_ns, x->min_read_latency_ns);
	stat_range(&st->max_write_latency_ns, &st->min_write_latency_ns, x->num_write_ops,
		   x->max_write_latency_ns, x->min_write_latency_ns);
	stat_range(&st->max_unmap_latency_ns, &st->min_unmap_latency_ns, x->num_unmap_ops,
		   x->max_unmap_latency_ns, x->min_unmap_latency_ns);
	atomic_fetch_sub(&b->io_outstanding, sb->ios);  /* b may be reaped from here on */
	sb->b = NULL;
}

#define STAT_GET(field) atomic_load_explicit(&(field), memory_order_relaxed)

static uint64_t stat_get_min(const _Atomic uint64_t *v)
{
	uint64_t x = atomic_load_explicit(v, memory_order_relaxed);
	return x == UINT64_MAX ? 0 : x;
}

void bdev_get_iostat(const struct bdev *b, struct bdev_iostat *out)
{
	const struct bdev_stat_atomic *st = &b->stat;
	*out = (struct bdev_iostat){
		.bytes_read = STAT_GET(st->bytes_read),
		.num_read_ops = STAT_GET(st->num_read_ops),
		.bytes_written = STAT_GET(st->bytes_written),
		.num_write_ops = STAT_GET(st->num_write_ops),
		.bytes_unmapped = STAT_GET(st->bytes_unmapped),
		.num_unmap_ops = STAT_GET(st->num_unmap_ops),
		.num_flush_ops = STAT_GET(st->num_flush_ops),
		.num_write_zeroes_ops = STAT_GET(st->num_write_zeroes_ops),
		.bytes_write_zeroes = STAT_GET(st->bytes_write_zeroes),
		.read_latency_ns = STAT_GET(st->read_latency_ns),
		.max_read_latency_ns = STAT_GET(st->max_read_latency_ns),
		.min_read_latency_ns = stat_get_min(&st->min_read_latency_ns),
		.write_latency_ns = STAT_GET(st->write_latency_ns),
		.max_write_latency_ns = STAT_GET(st->max_write_latency_ns),
		.min_write_latency_ns = stat_get_min(&st->min_write_latency_ns),
		.unmap_latency_ns = STAT_GET(st->unmap_latency_ns),
		.max_unmap_latency_ns = STAT_GET(st->max_unmap_latency_ns),
		.min_unmap_latency_ns = stat_get_min(&st->min_unmap_latency_ns),
		.num_io_errors = STAT_GET(st->num_io_errors),
	};
}

/* ---- per-reactor context: the bdev_io pool and the completion poller */

struct bdev_reactor_ctx {
	struct reactor *reactor;
	struct bdev_io *ios;            /* BDEV_IO_POOL_SIZE entries, touched lazily */
	unsigned never_used;            /* ios[never_used..] were never handed out */
	unsigned in_use;
	struct bdev_io *free_list;
	struct bdev_io *done_head, *done_tail;
	struct bdev_io *wait_head, *wait_tail;
	unsigned wait_count;
	struct reactor_poller *poller;
	uint32_t seq;
};

static struct bdev_io *pool_get(struct bdev_reactor_ctx *ctx)
{
	struct bdev_io *io = ctx->free_list;
	if (io)
		ctx->free_list = io->link;
	else if (ctx->never_used < BDEV_IO_POOL_SIZE)
		io = &ctx->ios[ctx->never_used++];
	else
		return NULL;
	ctx->in_use++;
	return io;
}

static void pool_put(struct bdev_reactor_ctx *ctx, struct bdev_io *io)
{
	io->link = ctx->free_list;
	ctx->free_list = io;
	ctx->in_use--;
}

/* Counts io in sb (flushing sb first when it holds another bdev's), frees it and runs its
 * callback: io's bdev stays counted as busy until sb is flushed. */
static void bdev_io_finish(struct stat_batch *sb, struct bdev_io *io, uint64_t now)
{
	struct bdev *b = io->bdev;
	int status = io->status;
	if (sb->b != b) {
		batch_flush(sb);
		batch_reset(sb, b);
	}
	batch_account(sb, io, status, now);
	struct bdev_io *parent = io->parent;
	bdev_child_done_fn done = io->child_done;
	uint32_t tag = io->tag;
	bdev_io_cb cb = io->cb;
	void *cb_arg = io->cb_arg;
	pool_put(io->ctx, io);
	if (parent)
		done(parent, tag, status);
	else
		cb(cb_arg, status);
}

static int bdev_ctx_poll(void *arg)
{
	struct bdev_reactor_ctx *ctx = arg;
	int n = 0;
	struct bdev_io *io = ctx->done_head;
	if (io) {
		/* Completions queued by these callbacks wait for the next round. */
		ctx->done_head = ctx->done_tail = NULL;
		uint64_t now = monotonic_ns();   /* once a round; a start is its iteration's */
		struct stat_batch sb = { .b = NULL };
		while (io) {
			struct bdev_io *next = io->link;
			bdev_io_finish(&sb, io, now);
			io = next;
			n++;
		}
		batch_flush(&sb);
	}
	for (unsigned k = ctx->wait_count; k > 0 && ctx->in_use < BDEV_IO_POOL_SIZE; k--) {
		struct bdev_io *w = ctx->wait_head;
		ctx->wait_head = w->link;
		if (!ctx->wait_head)
			ctx->wait_tail = NULL;
		ctx->wait_count--;
		w->resume(w);
		n++;
	}
	return n;
}

/* The reactor context slot that holds each reactor's bdev_reactor_ctx (taken once). */
static pthread_once_t bdev_ctx_slot_once = PTHREAD_ONCE_INIT;
static int bdev_ctx_slot = -1;

static void bdev_reactor_fini(struct reactor *r, void *arg);

static void bdev_ctx_slot_init(void)
{
	bdev_ctx_slot = reactor_ctx_register(bdev_reactor_fini);
	if (bdev_ctx_slot < 0)
		log_error("blockd", "msg=\"no reactor context slot for the bdev layer\"");
}

static struct bdev_reactor_ctx *bdev_ctx_get(struct reactor *r)
{
	pthread_once(&bdev_ctx_slot_once, bdev_ctx_slot_init);
	if (bdev_ctx_slot < 0)
		return NULL;
	struct bdev_reactor_ctx *ctx = reactor_ctx_get(r, bdev_ctx_slot);
	if (ctx)
		return ctx;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return NULL;
	ctx->reactor = r;
	ctx->ios = calloc(BDEV_IO_POOL_SIZE, sizeof(*ctx->ios));
	if (ctx->ios)
		ctx->poller = reactor_poller_register(r, "bdev_complete", bdev_ctx_poll, ctx, 0);
	if (!ctx->poller) {
		log_error("blockd", "msg=\"bdev io pool allocation failed\" reactor=%s",
			  reactor_name(r));
		free(ctx->ios);
		free(ctx);
		return NULL;
	}
	reactor_ctx_set(r, bdev_ctx_slot, ctx);
	return ctx;
}

/* The slot's destructor: reactor_destroy calls it once the reactor's thread stopped. */
static void bdev_reactor_fini(struct reactor *r, void *arg)
{
	struct bdev_reactor_ctx *ctx = arg;
	if (ctx->in_use)
		log_warn("blockd", "msg=\"reactor destroyed with IO in flight\" reactor=%s ios=%u",
			 reactor_name(r), ctx->in_use);
	reactor_poller_unregister(r, ctx->poller);
	free(ctx->ios);
	free(ctx);
}

/* ---- submission */

static int bdev_check_range(const struct bdev *b, enum bdev_io_type type, uint64_t offset,
			    uint64_t num)
{
	if ((unsigned)type >= BDEV_IO_TYPE_COUNT || !(b->io_types & (1u << type)))
		return -EINVAL;
	if (type == BDEV_IO_FLUSH && offset == 0 && num == 0)
		return 0;
	if (num == 0 || offset > b->num_blocks || num > b->num_blocks - offset)
		return -EINVAL;
	return 0;
}

static bool bdev_has_data(enum bdev_io_type type)
{
	return type == BDEV_IO_READ || type == BDEV_IO_WRITE;
}

/* Takes an io from ctx's pool for b; counts it as outstanding unless b is deleted. */
static int bdev_io_start(struct bdev_reactor_ctx *ctx, struct bdev *b,
			 enum bdev_io_type type, uint64_t offset, uint64_t num,
			 struct bdev_io **out)
{
	atomic_fetch_add(&b->io_outstanding, 1);
	if (atomic_load(&b->deleted)) {
		atomic_fetch_sub(&b->io_outstanding, 1);
		return -ENODEV;
	}
	struct bdev_io *io = pool_get(ctx);
	io->bdev = b;
	io->ctx = ctx;
	io->reactor = ctx->reactor;
	io->type = type;
	io->status = 0;
	io->offset_blocks = offset;
	io->num_blocks = num;
	io->iov = NULL;
	io->iovcnt = 0;
	io->start_ns = reactor_now_ns();
	io->cb = NULL;
	io->cb_arg = NULL;
	io->parent = NULL;
	io->child_done = NULL;
	io->tag = 0;
	io->link = NULL;
	io->resume = NULL;
	io->delayed = false;
	*out = io;
	return 0;
}

/* ---- an injected IO delay, in front of every module (bdev.h) */

static uint64_t (*_Atomic g_io_delay)(const struct bdev *b);

void bdev_set_io_delay_hook(uint64_t (*fn)(const struct bdev *b))
{
	atomic_store(&g_io_delay, fn);
}

static void bdev_delayed_submit(void *arg)
{
	struct bdev_io *io = arg;
	io->delayed = false;
	io->bdev->module->submit(io);
}

/* Hands io to its module, after the injected delay if there is one. */
static void bdev_module_submit(struct bdev_io *io)
{
	uint64_t (*delay)(const struct bdev *b) = atomic_load(&g_io_delay);
	uint64_t ns = delay ? delay(io->bdev) : 0;
	io->delayed = ns > 0;
	if (ns)
		reactor_timer_arm(io->reactor, &io->delay_timer, ns, bdev_delayed_submit, io);
	else
		io->bdev->module->submit(io);
}

/* iov, or else buf as one segment (kept in the io so that it outlives the caller). */
static int bdev_submit_top(struct reactor *r, struct bdev *b, enum bdev_io_type type,
			   uint64_t offset, uint64_t num, const struct iovec *iov, int iovcnt,
			   void *buf, bdev_io_cb cb, void *cb_arg, struct bdev_io **io_out)
{
	if (!r || !b || !cb)
		return -EINVAL;
	if (atomic_load(&b->deleted))
		return -ENODEV;
	int rc = bdev_check_range(b, type, offset, num);
	if (rc < 0)
		return rc;
	if (bdev_has_data(type) && !buf &&
	    (!iov || iovcnt < 1 || iovcnt > BDEV_IO_MAX_IOV ||
	     iov_total(iov, iovcnt) != num * b->block_size))
		return -EINVAL;
	struct bdev_reactor_ctx *ctx = bdev_ctx_get(r);
	if (!ctx || ctx->in_use >= BDEV_IO_POOL_SIZE - BDEV_IO_POOL_RESERVE)
		return -ENOMEM;
	struct bdev_io *io;
	rc = bdev_io_start(ctx, b, type, offset, num, &io);
	if (rc < 0)
		return rc;
	if (bdev_has_data(type) && buf) {
		io->iov_buf[0].iov_base = buf;
		io->iov_buf[0].iov_len = num * b->block_size;
		io->iov = io->iov_buf;
		io->iovcnt = 1;
	} else if (bdev_has_data(type)) {
		io->iov = iov;
		io->iovcnt = iovcnt;
	}
	io->cb = cb;
	io->cb_arg = cb_arg;
	if (io_out)
		*io_out = io;
	bdev_module_submit(io);
	return 0;
}

int bdev_submit(struct reactor *r, struct bdev *b, enum bdev_io_type type,
		uint64_t offset_blocks, uint64_t num_blocks, const struct iovec *iov, int iovcnt,
		bdev_io_cb cb, void *cb_arg)
{
	return bdev_submit_top(r, b, type, offset_blocks, num_blocks, iov, iovcnt, NULL, cb,
			       cb_arg, NULL);
}

int bdev_submit_tracked(struct reactor *r, struct bdev *b, enum bdev_io_type type,
			uint64_t offset_blocks, uint64_t num_blocks, const struct iovec *iov,
			int iovcnt, bdev_io_cb cb, void *cb_arg, struct bdev_io **io_out)
{
	return bdev_submit_top(r, b, type, offset_blocks, num_blocks, iov, iovcnt, NULL, cb,
			       cb_arg, io_out);
}

void bdev_io_abort(struct bdev_io *io)
{
	if (io->delayed) {           /* held by an injected delay: the module never saw it */
		reactor_timer_cancel(io->reactor, &io->delay_timer);
		io->delayed = false;
		bdev_io_complete(io, -ECANCELED);
		return;
	}
	if (io->bdev->module->abort)
		io->bdev->module->abort(io);
}

int bdev_read(struct reactor *r, struct bdev *b, void *buf, uint64_t offset_blocks,
	      uint64_t num_blocks, bdev_io_cb cb, void *cb_arg)
{
	if (!buf)
		return -EINVAL;
	return bdev_submit_top(r, b, BDEV_IO_READ, offset_blocks, num_blocks, NULL, 0, buf, cb,
			       cb_arg, NULL);
}

int bdev_write(struct reactor *r, struct bdev *b, const void *buf, uint64_t offset_blocks,
	       uint64_t num_blocks, bdev_io_cb cb, void *cb_arg)
{
	if (!buf)
		return -EINVAL;
	return bdev_submit_top(r, b, BDEV_IO_WRITE, offset_blocks, num_blocks, NULL, 0,
			       (void *)buf, cb, cb_arg, NULL);
}

int bdev_child_submit(struct bdev_io *parent, struct bdev *base, enum bdev_io_type type,
		      uint64_t offset_blocks, uint64_t num_blocks, const struct iovec *iov,
		      int iovcnt, size_t iov_skip, uint32_t tag, bdev_child_done_fn done)
{
	struct bdev_reactor_ctx *ctx = parent->ctx;
	int rc = bdev_check_range(base, type, offset_blocks, num_blocks);
	if (rc < 0)
		return rc;
	if (ctx->in_use >= BDEV_IO_POOL_SIZE)
		return -ENOMEM;
	struct bdev_io *io;
	rc = bdev_io_start(ctx, base, type, offset_blocks, num_blocks, &io);
	if (rc < 0)
		return rc;
	io->parent = parent;
	io->child_done = done;
	io->tag = tag;
	if (bdev_has_data(type)) {
		size_t len = num_blocks * base->block_size;
		if (iov_skip == 0 && iov_total(iov, iovcnt) == len) {
			io->iov = iov;
			io->iovcnt = iovcnt;
		} else {
			int n = iov_slice(iov, iovcnt, iov_skip, len, io->iov_buf, BDEV_IO_MAX_IOV);
			if (n < 0) {    /* the parent's mapping is wrong: a bug, fail the child */
				bdev_io_complete(io, -EINVAL);
				return 0;
			}
			io->iov = io->iov_buf;
			io->iovcnt = n;
		}
	}
	bdev_module_submit(io);
	return 0;
}

void bdev_io_complete(struct bdev_io *io, int status)
{
	struct bdev_reactor_ctx *ctx = io->ctx;
	io->status = status;
	io->link = NULL;
	if (ctx->done_tail)
		ctx->done_tail->link = io;
	else
		ctx->done_head = io;
	ctx->done_tail = io;
}

void bdev_io_wait_pool(struct bdev_io *io, void (*resume)(struct bdev_io *io))
{
	struct bdev_reactor_ctx *ctx = io->ctx;
	io->resume = resume;
	io->link = NULL;
	if (ctx->wait_tail)
		ctx->wait_tail->link = io;
	else
		ctx->wait_head = io;
	ctx->wait_tail = io;
	ctx->wait_count++;
}

uint32_t bdev_io_seq(struct bdev_io *io)
{
	return io->ctx->seq++;
}

/* ---- iovec helpers */

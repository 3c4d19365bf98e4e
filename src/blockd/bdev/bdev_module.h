/* bdev_module.h — what the bdev layer (bdev.c) shares with its modules: the struct bdev every
 * module embeds, the bdev_io that travels through them, and the module descriptor (name, ops,
 * RPC methods, save_config writer) a module registers. Users of bdev.h never see this.
 *
 * Lifecycle of a bdev: a module allocates its own struct with a struct bdev as first member,
 * fills it with bdev_setup, and publishes it with bdev_register. bdev_delete calls the
 * module's remove (let go of bases), unlinks it and parks it on the graveyard; bdev_reap
 * calls destruct (free everything) once no IO is outstanding, no other bdev holds it
 * (bdev_hold) and every reactor went through a quiescent point since the delete. */
#ifndef BLOCKD_BDEV_INTERNAL_H
#define BLOCKD_BDEV_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <jansson.h>

#include "bdev.h"
#include "iov.h"
#include "reactor.h"
#include "uuid.h"

#define BDEV_UUID_LEN UUID_TEXT_LEN
#define BDEV_IO_POOL_SIZE 4096          /* bdev_io entries per reactor */
#define BDEV_IO_POOL_RESERVE 512        /* kept for children: top-level submits stop here */

struct rpc_method;

struct bdev_module {
	const char *name;               /* "malloc", "raid" ...: bdev_module() of its bdevs */
	const char *product_name;       /* "Malloc disk" ... */
	/* Optional: another module name whose delete also deletes this module's bdevs (one
	 * module under two names, each the other's alias). */
	const char *alias;
	/* Optional: the module's RPC methods, terminated by { NULL } (bdev_module_register). */
	const struct rpc_method *rpc_methods;
	/* Starts io (already validated and counted); finish with bdev_io_complete, never by
	 * calling the user's callback. */
	void (*submit)(struct bdev_io *io);
	/* Optional: finish io early with -ECANCELED if the module is holding it (bdev.h). */
	void (*abort)(struct bdev_io *io);
	/* At delete, control thread: let go of bases (release claims). Optional. */
	void (*remove)(struct bdev *b);
	/* At reap, control thread: free the module's state and b itself. */
	void (*destruct)(struct bdev *b);
	/* Optional: adds {"<module>": {...}} to driver_specific. */
	void (*dump_driver_specific)(const struct bdev *b, json_t *ds);
	/* The save_config writer: {"method": ..., "params": {...}} that re-creates b. */
	json_t *(*config_json)(const struct bdev *b);
};

/* Atomic counters behind struct bdev_iostat (relaxed; min latencies start at UINT64_MAX). */
struct bdev_stat_atomic {
	_Atomic uint64_t bytes_read, num_read_ops;
	_Atomic uint64_t bytes_written, num_write_ops;
	_Atomic uint64_t bytes_unmapped, num_unmap_ops;
	_Atomic uint64_t num_flush_ops, num_write_zeroes_ops, bytes_write_zeroes;
	_Atomic uint64_t read_latency_ns, max_read_latency_ns, min_read_latency_ns;
	_Atomic uint64_t write_latency_ns, max_write_latency_ns, min_write_latency_ns;
	_Atomic uint64_t unmap_latency_ns, max_unmap_latency_ns, min_unmap_latency_ns;
	_Atomic uint64_t num_io_errors;
};

struct bdev {
	char name[BDEV_NAME_MAX + 1];
	char uuid[BDEV_UUID_LEN + 1];
	const struct bdev_module *module;
	const char *module_name;        /* module->name */
	uint32_t block_size;
	uint64_t num_blocks;
	uint32_t io_types;              /* bit (1u << enum bdev_io_type) per supported type */

	/* control thread only */
	const char *claim_module;
	void *claimer;
	int (*on_remove)(void *claimer, struct bdev *b);
	unsigned holders;               /* bdevs (raid, delay) that keep a pointer to this one */
	struct bdev *prev, *next;       /* registry, or graveyard once deleted */
	uint64_t grace_epoch;

	_Atomic bool deleted;
	_Atomic uint64_t io_outstanding;
	struct bdev_stat_atomic stat;
};

struct bdev_reactor_ctx;

/* Called on the parent's reactor when a child finishes; tag is what the parent gave. */
typedef void (*bdev_child_done_fn)(struct bdev_io *parent, uint32_t tag, int status);

struct bdev_io {
	struct bdev *bdev;
	struct bdev_reactor_ctx *ctx;
	struct reactor *reactor;
	enum bdev_io_type type;
	int status;
	uint64_t offset_blocks, num_blocks;
	const struct iovec *iov;        /* the caller's, or iov_buf for a slice */
	int iovcnt;
	uint64_t start_ns;

	bdev_io_cb cb;                  /* top-level IO */
	void *cb_arg;
	struct bdev_io *parent;         /* child IO */
	bdev_child_done_fn child_done;
	uint32_t tag;

	struct bdev_io *link;           /* free list, completion queue or pool wait queue */
	void (*resume)(struct bdev_io *io);
	/* Held by an injected IO delay (bdev_set_io_delay_hook) before its module sees it. */
	struct reactor_timer delay_timer;
	bool delayed;

	/* Scratch for the module that runs this io (see BDEV_IO_CTX). */
	union {
		uint64_t u64[16];
		void *ptr[16];
	} driver_ctx;
	struct iovec iov_buf[BDEV_IO_MAX_IOV];
};

#define BDEV_CTX_FITS(type) ((void)sizeof(char[sizeof(type) <= \
	sizeof(((struct bdev_io *)0)->driver_ctx) ? 1 : -1]))
#define BDEV_IO_CTX(io, type) (BDEV_CTX_FITS(type), (type *)(void *)&(io)->driver_ctx)

/* ---- creation helpers (control thread) */

/* Checks a user name (1..63 printable bytes, no '/') or, when name is NULL or "", makes
 * "<prefix><n>" with the first free n >= *counter and advances *counter. out holds
 * BDEV_NAME_MAX + 1 bytes. -EINVAL bad name, -EEXIST taken. */
int bdev_pick_name(const char *name, const char *prefix, unsigned *counter, char *out);
/* block_size a power of two in [512, 65536], num_blocks > 0, no uint64 overflow. */
int bdev_check_geometry(uint32_t block_size, uint64_t num_blocks);
/* Fills the common part of b (zeroed by the caller). uuid NULL = generate. -EINVAL. */
int bdev_setup(struct bdev *b, const struct bdev_module *m, const char *name,
	       uint32_t block_size, uint64_t num_blocks, uint32_t io_types, const char *uuid);
/* Publishes b in the registry. -EEXIST when its name or uuid is taken. */
int bdev_register(struct bdev *b);

/* bdev_claim with the hook bdev.h mentions: when someone deletes b, on_remove(claimer, b)
 * decides. It returns 0 once the claimer stopped using b (bdev_delete then releases the
 * claim and deletes b), or a negative errno (-EBUSY) that bdev_delete returns. */
int bdev_claim_ext(struct bdev *b, const char *claimer_module, void *claimer,
		   int (*on_remove)(void *claimer, struct bdev *b));
/* How many deleted bdevs wait for bdev_reap (tests, shutdown). */
unsigned bdev_graveyard_size(void);
/* Keep b's memory alive (even once deleted) until the matching bdev_unhold. */
void bdev_hold(struct bdev *b);
void bdev_unhold(struct bdev *b);

/* Makes a module's RPC methods callable (bdev_rpc.c); its bdevs' config_json already feeds
 * save_config. Called from the app's registration list. 0 or -errno. */
int bdev_module_register(const struct bdev_module *m);

/* Wraps params into {"method": method, "params": params} (steals params). */
json_t *bdev_config_wrap(const char *method, json_t *params);

/* ---- IO helpers (the io's reactor) */

/* Finishes io with status; the callback runs from the reactor's completion poller. */
void bdev_io_complete(struct bdev_io *io, int status);
/* Submits a child of parent to base, on parent's reactor, from the same pool (no reserve).
 * Data: bytes [iov_skip, iov_skip + num_blocks * block_size) of iov. 0, -ENOMEM (pool
 * empty: see bdev_io_wait_pool), -ENODEV (base deleted), -EINVAL. */
int bdev_child_submit(struct bdev_io *parent, struct bdev *base, enum bdev_io_type type,
		      uint64_t offset_blocks, uint64_t num_blocks, const struct iovec *iov,
		      int iovcnt, size_t iov_skip, uint32_t tag, bdev_child_done_fn done);
/* Calls resume(io) from the completion poller once the pool has a free entry. */
void bdev_io_wait_pool(struct bdev_io *io, void (*resume)(struct bdev_io *io));
/* A per-reactor counter, for round robin and sampling. */
uint32_t bdev_io_seq(struct bdev_io *io);

#endif

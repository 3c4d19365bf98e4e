/* bdev.h — blockd's block device layer: the registry of named bdevs, claims, and the IO API
 * that the vhost-blk front-end and the unit tests use.
 *
 * Threads: the registry (create, delete, lookup, claims, iteration, info) belongs to the
 * control thread (the RPC thread) and is not locked. IO is submitted on a reactor and its
 * callback runs on that same reactor; the IO path takes no lock and allocates nothing (IOs
 * come from a per-reactor pool). A deleted bdev leaves the registry at once but its memory
 * is freed only once no IO is outstanding on it (bdev_reap), so introspection and in-flight
 * IO never touch freed memory. */
#ifndef BLOCKD_BDEV_H
#define BLOCKD_BDEV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <jansson.h>

#include "reactor.h"

#define BDEV_NAME_MAX 63           /* bytes, without the NUL; names have no '/' */
#define BDEV_IO_MAX_IOV 130        /* seg_max 128 + header + status */

struct bdev;
struct bdev_io;

enum bdev_io_type {
	BDEV_IO_READ,
	BDEV_IO_WRITE,
	BDEV_IO_FLUSH,
	BDEV_IO_UNMAP,
	BDEV_IO_WRITE_ZEROES,
	BDEV_IO_TYPE_COUNT,
};

/* status: 0 on success, negative errno on failure (-EIO, -EINVAL, -ENODEV ...). */
typedef void (*bdev_io_cb)(void *cb_arg, int status);

/* Counters of one bdev, as bdev_get_iostat reports them. Latencies in ns. */
struct bdev_iostat {
	uint64_t bytes_read, num_read_ops;
	uint64_t bytes_written, num_write_ops;
	uint64_t bytes_unmapped, num_unmap_ops;
	uint64_t num_flush_ops, num_write_zeroes_ops, bytes_write_zeroes;
	uint64_t read_latency_ns, max_read_latency_ns, min_read_latency_ns;
	uint64_t write_latency_ns, max_write_latency_ns, min_write_latency_ns;
	uint64_t unmap_latency_ns, max_unmap_latency_ns, min_unmap_latency_ns;
	uint64_t num_io_errors;
};

/* ---- creation: each module declares its own creation function in its own header. They run
 * on the control thread and return 0 and set *out, or a negative errno: -EEXIST name taken,
 * -EINVAL bad name/size/parameter, -ENODEV base missing, -EBUSY base claimed, -ENOMEM, or
 * the errno of open/fstat. A NULL or empty name asks for a generated one (the module's
 * prefix and a number). uuid may be NULL (one is generated); a given one is validated. */

/* Deletes the bdev of that module (its name, or an alias the module declares; NULL = any).
 * -ENODEV when there is none (or it is of another module). -EBUSY when it is claimed, unless
 * the claimer agrees to let it go (a claimer's on_remove hook, bdev_module.h: a mirror with
 * another operational base drops it and degrades). Deleting a bdev that claims bases
 * releases them. */
int bdev_delete(const char *name, const char *module);

/* Frees deleted bdevs whose outstanding IO has drained. Called by the control thread's loop. */
void bdev_reap(void);
/* Deletes everything (shutdown), in dependency order; a bdev with IO in flight, or deleted
 * within the reactors' grace period, is freed later, by bdev_reap or bdev_reap_final. */
void bdev_delete_all(void);
/* At shutdown, once the reactors have stopped: frees every deleted bdev it can and warns of
 * each one it cannot (IO outstanding or a holder left: a leak). */
void bdev_reap_final(void);

/* ---- registry (control thread) */
struct bdev *bdev_find(const char *name);
/* In creation order; fn returns non-zero to stop. */
void bdev_foreach(int (*fn)(struct bdev *b, void *arg), void *arg);

const char *bdev_name(const struct bdev *b);
const char *bdev_module(const struct bdev *b);          /* the module's name */
const char *bdev_product_name(const struct bdev *b);    /* the module's product name */
const char *bdev_uuid(const struct bdev *b);            /* canonical 36-char string */
uint32_t bdev_block_size(const struct bdev *b);
uint64_t bdev_num_blocks(const struct bdev *b);
bool bdev_io_type_supported(const struct bdev *b, enum bdev_io_type t);
/* NULL when unclaimed; otherwise the claimer's name (a module's, or "vhost_blk"). */
const char *bdev_claimed_by(const struct bdev *b);
uint64_t bdev_io_outstanding(const struct bdev *b);
void bdev_get_iostat(const struct bdev *b, struct bdev_iostat *out);

/* Adds the module's description under driver_specific (SPDK's shape: {"<module>": {...}});
 * nothing for modules without one. */
void bdev_dump_driver_specific(const struct bdev *b, json_t *driver_specific);
/* The RPC that re-creates this bdev: {"method": "bdev_<module>_create", "params": {...}}. */
json_t *bdev_config_json(const struct bdev *b);

/* ---- claims (control thread). A claimed bdev cannot be claimed again (-EBUSY).
 * on_remove, if set, is how a claimer that can lose the bdev (raid1) is told. */
int bdev_claim(struct bdev *b, const char *claimer_module, void *claimer);
void bdev_release(struct bdev *b);

/* ---- IO (any reactor thread; the callback runs on the submitting reactor).
 * Returns 0 when submitted (cb will be called exactly once, never inline from this call),
 * -EINVAL for a range outside the bdev or an unsupported type, -ENOMEM when the reactor's IO
 * pool is empty (retry later), -ENODEV when the bdev is deleted. iov must stay valid until cb.
 * Offsets and lengths are in blocks; FLUSH takes offset 0 / num_blocks 0 or a range. */
int bdev_submit(struct reactor *r, struct bdev *b, enum bdev_io_type type,
		uint64_t offset_blocks, uint64_t num_blocks, const struct iovec *iov, int iovcnt,
		bdev_io_cb cb, void *cb_arg);

/* bdev_submit that also hands back the IO (valid until cb runs), for bdev_io_abort. */
int bdev_submit_tracked(struct reactor *r, struct bdev *b, enum bdev_io_type type,
			uint64_t offset_blocks, uint64_t num_blocks, const struct iovec *iov,
			int iovcnt, bdev_io_cb cb, void *cb_arg, struct bdev_io **io_out);
/* On the IO's reactor, before its cb ran: asks the module to finish it early with
 * -ECANCELED. A module that holds IO (one that delays it) does so at once; IO already
 * with the kernel or
 * a device finishes normally. Either way cb still runs exactly once. It is how a client
 * that went away stops counting against a bdev. */
void bdev_io_abort(struct bdev_io *io);

/* Injected IO delay (fault injection only): fn(b), on the IO's reactor, returns how long an
 * IO to b waits before its module sees it (0: not at all). NULL removes the hook. A held IO
 * is aborted like one a module holds. */
void bdev_set_io_delay_hook(uint64_t (*fn)(const struct bdev *b));

/* Convenience wrappers over bdev_submit with one buffer. */
int bdev_read(struct reactor *r, struct bdev *b, void *buf, uint64_t offset_blocks,
	      uint64_t num_blocks, bdev_io_cb cb, void *cb_arg);
int bdev_write(struct reactor *r, struct bdev *b, const void *buf, uint64_t offset_blocks,
	       uint64_t num_blocks, bdev_io_cb cb, void *cb_arg);

#endif

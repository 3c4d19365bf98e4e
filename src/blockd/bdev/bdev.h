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
#define BDEV_RAID_MAX_BASES 32

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

/* ---- creation (control thread); each returns 0 and sets *out, or a negative errno:
 * -EEXIST name taken, -EINVAL bad name/size/level, -ENODEV base missing, -EBUSY base claimed,
 * -ENOMEM, or the errno of open/fstat. A NULL or empty name asks for a generated one
 * ("Malloc0", "Null0" ...). uuid may be NULL (one is generated); a given one is validated. */
int bdev_malloc_create(const char *name, uint64_t num_blocks, uint32_t block_size,
		       const char *uuid, struct bdev **out);
int bdev_null_create(const char *name, uint64_t num_blocks, uint32_t block_size,
		     const char *uuid, struct bdev **out);
/* File bdev through the reactor's io_uring. block_size 0 = 512. The file must exist and be
 * at least one block; num_blocks = size / block_size. module_name is "uring" or "aio" (the
 * same code; the name is what bdev_get_bdevs and save_config report). */
int bdev_uring_create(const char *name, const char *filename, uint32_t block_size,
		      bool readonly, const char *uuid, const char *module_name, struct bdev **out);
/* Latencies in microseconds. Claims its base. */
int bdev_delay_create(const char *name, const char *base_name, uint64_t avg_read_us,
		      uint64_t p99_read_us, uint64_t avg_write_us, uint64_t p99_write_us,
		      const char *uuid, struct bdev **out);
/* type: "avg_read", "p99_read", "avg_write", "p99_write". -ENODEV if no such delay bdev. */
int bdev_delay_update_latency(const char *name, const char *type, uint64_t latency_us);

enum raid_level { RAID0, RAID1, RAID_CONCAT };
/* Claims every base. strip_size_kb: power of two, required > 0 for raid0, must be 0 for
 * raid1, ignored (0 ok) for concat. All bases must share a block size. */
int bdev_raid_create(const char *name, enum raid_level level, uint32_t strip_size_kb,
		     const char *const *base_names, unsigned num_bases, const char *uuid,
		     struct bdev **out);

/* Deletes the bdev of that module ("malloc", "null", "uring"/"aio", "delay", "raid"; NULL =
 * any). -ENODEV when there is none (or it is of another module). -EBUSY when it is claimed,
 * except by a raid1 with another operational base: then the raid1 drops it and degrades.
 * Deleting a raid releases its bases; deleting a delay bdev releases its base. */
int bdev_delete(const char *name, const char *module);

/* Frees deleted bdevs whose outstanding IO has drained. Called by the control thread's loop. */
void bdev_reap(void);
/* Deletes everything (shutdown), in dependency order. */
void bdev_delete_all(void);

/* ---- registry (control thread) */
struct bdev *bdev_find(const char *name);
/* In creation order; fn returns non-zero to stop. */
void bdev_foreach(int (*fn)(struct bdev *b, void *arg), void *arg);

const char *bdev_name(const struct bdev *b);
const char *bdev_module(const struct bdev *b);          /* "malloc", "raid", ... */
const char *bdev_product_name(const struct bdev *b);    /* "Malloc disk", "Raid Volume" ... */
const char *bdev_uuid(const struct bdev *b);            /* canonical 36-char string */
uint32_t bdev_block_size(const struct bdev *b);
uint64_t bdev_num_blocks(const struct bdev *b);
bool bdev_io_type_supported(const struct bdev *b, enum bdev_io_type t);
/* NULL when unclaimed; otherwise the claiming module's name ("raid", "delay", "vhost_blk"). */
const char *bdev_claimed_by(const struct bdev *b);
uint64_t bdev_io_outstanding(const struct bdev *b);
void bdev_get_iostat(const struct bdev *b, struct bdev_iostat *out);

/* Adds the module's description under driver_specific (SPDK shape: {"raid": {...}},
 * {"delay": {...}}, {"uring": {"filename": ...}}); nothing for malloc/null. */
void bdev_dump_driver_specific(const struct bdev *b, json_t *driver_specific);
/* The RPC that re-creates this bdev: {"method": "bdev_malloc_create", "params": {...}}. A
 * raid lists its current (operational) bases. */
json_t *bdev_config_json(const struct bdev *b);

/* Raid introspection for bdev_raid_get_bdevs: SPDK's entry shape (name, uuid, strip_size_kb,
 * state, raid_level, superblock, num_base_bdevs, num_base_bdevs_discovered,
 * num_base_bdevs_operational, base_bdevs_list). NULL if b is not a raid. */
json_t *bdev_raid_info_json(const struct bdev *b);
/* "online", "configuring", "offline" */
const char *bdev_raid_state(const struct bdev *b);

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
 * -ECANCELED. A module that holds IO (delay) does so at once; IO already with the kernel or
 * a device finishes normally. Either way cb still runs exactly once. It is how a client
 * that went away stops counting against a bdev. */
void bdev_io_abort(struct bdev_io *io);

/* Convenience wrappers over bdev_submit with one buffer. */
int bdev_read(struct reactor *r, struct bdev *b, void *buf, uint64_t offset_blocks,
	      uint64_t num_blocks, bdev_io_cb cb, void *cb_arg);
int bdev_write(struct reactor *r, struct bdev *b, const void *buf, uint64_t offset_blocks,
	       uint64_t num_blocks, bdev_io_cb cb, void *cb_arg);

#endif

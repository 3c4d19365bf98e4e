/* bdev_malloc.c — the RAM disk: blocks live in an anonymous private mapping (reserved
 * lazily, so a large disk costs only what is written), 2 MiB aligned and advised for
 * transparent huge pages: a first write faults once per 2 MiB instead of once per 4 KiB, and
 * random IO over the disk misses the TLB far less (make bench, docs/performance.md). IO is a
 * memcpy on the submitting reactor; completion is deferred by the bdev layer like any other. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "bdev_module.h"
#include "bdev_rpc.h"
#include "bdev_malloc.h"
#include "rpc.h"
#include "log.h"

#define MALLOC_MAX_BYTES (64ull << 30)
#define MALLOC_MADVISE_MIN (1u << 20)   /* zero ranges this large by dropping pages */
#define MALLOC_HUGE (2ull << 20)        /* the transparent huge page size of x86-64 */

struct malloc_bdev {
	struct bdev bdev;
	unsigned char *data;
	size_t len;
};

static unsigned g_malloc_counter;

static struct malloc_bdev *to_malloc(const struct bdev *b)
{
	return (struct malloc_bdev *)(void *)b;
}

/* Zeroes [off, off + len): whole pages are given back to the kernel (they read back as
 * zeros), the edges are cleared by hand. */
static void malloc_zero(struct malloc_bdev *m, size_t off, size_t len)
{
	if (len >= MALLOC_MADVISE_MIN) {
		size_t page = 4096;
		size_t start = (off + page - 1) & ~(page - 1);
		size_t end = (off + len) & ~(page - 1);
		if (end > start && madvise(m->data + start, end - start, MADV_DONTNEED) == 0) {
			memset(m->data + off, 0, start - off);
			memset(m->data + end, 0, off + len - end);
			return;
		}
	}
	memset(m->data + off, 0, len);
}

/* len bytes, lazily reserved, at a 2 MiB boundary and advised for huge pages (where the
 * kernel has none, the advice fails and the mapping stays one of small pages). */
static unsigned char *map_huge_aligned(size_t len)
{
	size_t extra = len >= MALLOC_HUGE ? MALLOC_HUGE : 0;
	unsigned char *area = mmap(NULL, len + extra, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED)
		return NULL;
	if (!extra)
		return area;
	unsigned char *at = (unsigned char *)(((uintptr_t)area + MALLOC_HUGE - 1) &
					      ~(uintptr_t)(MALLOC_HUGE - 1));
	if (at > area)
		munmap(area, (size_t)(at - area));
	if (area + extra > at)
		munmap(at + len, (size_t)(area + extra - at));
	(void)madvise(at, len, MADV_HUGEPAGE);
	return at;
}

static void malloc_submit(struct bdev_io *io)
{
	struct malloc_bdev *m = to_malloc(io->bdev);
	size_t off = (size_t)io->offset_blocks * m->bdev.block_size;
	size_t len = (size_t)io->num_blocks * m->bdev.block_size;
	switch (io->type) {
	case BDEV_IO_READ:
		iov_copy_to(io->iov, io->iovcnt, 0, m->data + off, len);
		break;
	case BDEV_IO_WRITE:
		iov_copy_from(io->iov, io->iovcnt, 0, m->data + off, len);
		break;
	case BDEV_IO_UNMAP:
	case BDEV_IO_WRITE_ZEROES:
		malloc_zero(m, off, len);
		break;
	default:        /* FLUSH: nothing to do in RAM */
		break;
	}
	bdev_io_complete(io, 0);
}

static void malloc_destruct(struct bdev *b)
{
	struct malloc_bdev *m = to_malloc(b);
	if (m->data)
		munmap(m->data, m->len);
	free(m);
}

static json_t *malloc_config_json(const struct bdev *b)
{
	return bdev_config_wrap("bdev_malloc_create",
				json_pack("{s:s, s:I, s:i, s:s}", "name", b->name,
					  "num_blocks", (json_int_t)b->num_blocks,
					  "block_size", (int)b->block_size, "uuid", b->uuid));
}

/* ---- RPC methods */

static void rpc_bdev_malloc_create(struct rpc_request *req, const json_t *params)
{
	bdev_rpc_create_sized(req, params, false, bdev_malloc_create);
}

static void rpc_bdev_malloc_delete(struct rpc_request *req, const json_t *params)
{
	bdev_rpc_delete(req, params, "malloc");
}

/* SPDK's create parameters a RAM disk without metadata, protection information or IO
 * splitting honours only at their default (a physical block is the logical block; any NUMA
 * node). */
static const struct rpc_spdk_param malloc_create_spdk_params[] = {
	{ "optimal_io_boundary", JP_UINT32, "0", NULL },
	{ "md_size", JP_UINT32, "0", NULL },
	{ "md_interleave", JP_BOOL, "false", NULL },
	{ "dif_type", JP_INT32, "0", NULL },
	{ "dif_is_head_of_md", JP_BOOL, "false", NULL },
	{ "physical_block_size", JP_UINT32, "0", "block_size" },
	{ "dif_pi_format", JP_UINT32, "0", NULL },
	{ "numa_id", JP_INT32, "-1", NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct rpc_method malloc_rpc_methods[] = {
	{ "bdev_malloc_create", rpc_bdev_malloc_create, RPC_MUTATES, bdev_rpc_undo_create,
	  malloc_create_spdk_params },
	{ "bdev_malloc_delete", rpc_bdev_malloc_delete, RPC_MUTATES | RPC_DELETES, NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL },
};

const struct bdev_module bdev_malloc_module = {
	.rpc_methods = malloc_rpc_methods,
	.name = "malloc",
	.product_name = "Malloc disk",
	.submit = malloc_submit,
	.destruct = malloc_destruct,
	.config_json = malloc_config_json,
};

int bdev_malloc_create(const char *name, uint64_t num_blocks, uint32_t block_size,
		       const char *uuid, struct bdev **out)
{
	int rc = bdev_check_geometry(block_size, num_blocks);
	if (rc < 0 || num_blocks > MALLOC_MAX_BYTES / block_size)
		return -EINVAL;
	char bname[BDEV_NAME_MAX + 1];
	rc = bdev_pick_name(name, "Malloc", &g_malloc_counter, bname);
	if (rc < 0)
		return rc;
	struct malloc_bdev *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	rc = bdev_setup(&m->bdev, &bdev_malloc_module, bname, block_size, num_blocks,
			(1u << BDEV_IO_TYPE_COUNT) - 1, uuid);
	if (rc < 0) {
		free(m);
		return rc;
	}
	m->len = (size_t)num_blocks * block_size;
	m->data = map_huge_aligned(m->len);
	if (!m->data) {
		free(m);
		return -ENOMEM;
	}
	rc = bdev_register(&m->bdev);
	if (rc < 0) {
		malloc_destruct(&m->bdev);
		return rc;
	}
	if (out)
		*out = &m->bdev;
	return 0;
}

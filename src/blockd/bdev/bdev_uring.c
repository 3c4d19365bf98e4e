/* bdev_uring.c — the file bdev: a regular file (or block device) driven through the
 * submitting reactor's io_uring. Reads and writes are readv/writev on the caller's iovecs
 * (short transfers resubmit the rest, EAGAIN/EINTR retry), flush is fdatasync, unmap punches
 * a hole and write-zeroes zeroes the range with fallocate, falling back to punching or to
 * writing zeros when the filesystem cannot. Reads and writes go through a second descriptor
 * opened with O_DIRECT, as SPDK's aio and uring bdevs open their files, when the filesystem
 * takes it: no copy through the page cache, no writeback, and io_uring completes them
 * without a worker thread; a request the kernel refuses for its alignment (EINVAL: a guest's
 * buffer off the device's DMA alignment) is done again through the buffered descriptor,
 * which the kernel keeps coherent with direct IO. A file in memory (tmpfs, ramfs) whose filesystem
 * has no non-blocking reads and writes is read and written with preadv/pwritev on the reactor
 * instead: io_uring would hand each such request to a kernel worker thread (a wake-up and a
 * context switch per request, on the reactor's own CPU when blockd is pinned), while the
 * copy is all the work there is and cannot wait on a device (measured with make bench,
 * docs/performance.md). "aio" is the same module under SPDK's other name. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <linux/fs.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bdev_module.h"
#include "bdev_rpc.h"
#include "bdev_uring.h"
#include "rpc.h"
#include "log.h"

#define ZERO_CHUNK (64u * 1024)
#define ZERO_CHUNKS_PER_WRITE 16

enum uring_op { UOP_RW, UOP_FSYNC, UOP_PUNCH, UOP_ZERO_RANGE, UOP_ZERO_WRITE };

struct uring_bdev {
	struct bdev bdev;
	int fd;                         /* buffered: flush, fallocate, the fallbacks */
	int dfd;                        /* O_DIRECT, or -1 */
	bool readonly, block_size_given;
	bool inline_rw;                 /* reads and writes by preadv/pwritev on the reactor */
	_Atomic bool no_zero_range, no_punch_hole, error_logged;
	char filename[PATH_MAX];
};

/* Lives in bdev_io.driver_ctx; req first so that a CQE leads back to the io. */
struct uring_io {
	struct reactor_uring_req req;
	uint64_t done;                  /* bytes transferred so far (UOP_RW, UOP_ZERO_WRITE) */
	enum uring_op op;
	bool buffered;                  /* UOP_RW on u->fd: O_DIRECT refused this one */
};

static const unsigned char g_zeros[ZERO_CHUNK];
static unsigned g_uring_counter, g_aio_counter;

static struct uring_bdev *to_uring(const struct bdev *b)
{
	return (struct uring_bdev *)(void *)b;
}

static struct bdev_io *io_of_req(struct reactor_uring_req *req)
{
	return (struct bdev_io *)(void *)((char *)req - offsetof(struct bdev_io, driver_ctx));
}

static void uring_finish(struct bdev_io *io, int status)
{
	struct uring_bdev *u = to_uring(io->bdev);
	if (status < 0 && !atomic_exchange(&u->error_logged, true))
		log_warn("blockd", "msg=\"file io failed\" bdev=%s file=%s op=%d err=\"%s\" "
			 "note=\"further errors counted in iostat only\"", u->bdev.name,
			 u->filename, (int)io->type, strerror(-status));
	bdev_io_complete(io, status);
}

static void uring_issue(struct bdev_io *io);

/* Queues one SQE for the io's current step. */
static void uring_issue(struct bdev_io *io)
{
	struct uring_bdev *u = to_uring(io->bdev);
	struct uring_io *uio = BDEV_IO_CTX(io, struct uring_io);
	struct io_uring_sqe *sqe = reactor_get_sqe(io->reactor);
	if (!sqe) {             /* ring wedged for now: try again at the next iteration */
		bdev_io_wait_pool(io, uring_issue);
		return;
	}
	uint64_t off = io->offset_blocks * u->bdev.block_size;
	uint64_t len = io->num_blocks * u->bdev.block_size;
	switch (uio->op) {
	case UOP_RW: {
		int fd = u->dfd >= 0 && !uio->buffered ? u->dfd : u->fd;
		if (io->type == BDEV_IO_READ)
			io_uring_prep_readv(sqe, fd, io->iov, (unsigned)io->iovcnt, off + uio->done);
		else
			io_uring_prep_writev(sqe, fd, io->iov, (unsigned)io->iovcnt, off + uio->done);
		break;
	}
	case UOP_FSYNC:
		io_uring_prep_fsync(sqe, u->fd, IORING_FSYNC_DATASYNC);
		break;
	case UOP_PUNCH:
		io_uring_prep_fallocate(sqe, u->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					(off_t)off, (off_t)len);
		break;
	case UOP_ZERO_RANGE:
		io_uring_prep_fallocate(sqe, u->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
					(off_t)off, (off_t)len);
		break;
	case UOP_ZERO_WRITE: {
		uint64_t left = len - uio->done;
		int n = 0;
		for (; n < ZERO_CHUNKS_PER_WRITE && left > 0; n++) {
			size_t take = left < ZERO_CHUNK ? (size_t)left : ZERO_CHUNK;
			io->iov_buf[n].iov_base = (void *)g_zeros;
			io->iov_buf[n].iov_len = take;
			left -= take;
		}
		io_uring_prep_writev(sqe, u->fd, io->iov_buf, (unsigned)n, off + uio->done);
		break;
	}
	}
	io_uring_sqe_set_data(sqe, &uio->req);
}

/* res bytes of the io's current step are done: 1 all of it, 0 the rest is set up in io->iov
 * (a short read or write keeps the rest of the iovecs), or -EIO. */
static int uring_rw_advance(struct bdev_io *io, uint64_t res)
{
	struct uring_io *uio = BDEV_IO_CTX(io, struct uring_io);
	uint64_t total = io->num_blocks * io->bdev->block_size;
	uio->done += res;
	if (uio->done >= total)
		return 1;
	if (uio->op == UOP_RW) {
		/* in place is safe: each source entry makes at most one entry, at or before it */
		int n = iov_slice(io->iov, io->iovcnt, (size_t)res, (size_t)(total - uio->done),
				  io->iov_buf, BDEV_IO_MAX_IOV);
		if (n <= 0)
			return -EIO;
		io->iov = io->iov_buf;
		io->iovcnt = n;
	}
	return 0;
}

static void uring_rw_progress(struct bdev_io *io, uint64_t res)
{
	int rc = uring_rw_advance(io, res);
	if (rc != 0)
		uring_finish(io, rc > 0 ? 0 : rc);
	else
		uring_issue(io);
}

/* A read or write of a file in memory, done here and now (see the header). */
static void uring_rw_inline(struct bdev_io *io)
{
	struct uring_bdev *u = to_uring(io->bdev);
	struct uring_io *uio = BDEV_IO_CTX(io, struct uring_io);
	off_t off = (off_t)(io->offset_blocks * u->bdev.block_size);
	for (;;) {
		ssize_t n = io->type == BDEV_IO_READ
			? preadv(u->fd, io->iov, io->iovcnt, off + (off_t)uio->done)
			: pwritev(u->fd, io->iov, io->iovcnt, off + (off_t)uio->done);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		int rc = n < 0 ? -errno : n == 0 ? -EIO : uring_rw_advance(io, (uint64_t)n);
		if (rc != 0) {
			uring_finish(io, rc > 0 ? 0 : rc);
			return;
		}
	}
}

/* The filesystem cannot do this fallocate mode: remember it and take the next way. */
static bool uring_fallback(struct bdev_io *io)
{
	struct uring_bdev *u = to_uring(io->bdev);
	struct uring_io *uio = BDEV_IO_CTX(io, struct uring_io);
	if (uio->op == UOP_ZERO_RANGE) {
		atomic_store(&u->no_zero_range, true);
		uio->op = atomic_load(&u->no_punch_hole) ? UOP_ZERO_WRITE : UOP_PUNCH;
	} else if (uio->op == UOP_PUNCH) {
		atomic_store(&u->no_punch_hole, true);
		uio->op = UOP_ZERO_WRITE;
	} else {
		return false;
	}
	uio->done = 0;
	uring_issue(io);
	return true;
}

static void uring_complete(struct reactor_uring_req *req, int res)
{
	struct bdev_io *io = io_of_req(req);
	struct uring_io *uio = BDEV_IO_CTX(io, struct uring_io);
	if (res == -EAGAIN || res == -EINTR) {
		uring_issue(io);
		return;
	}
	if ((res == -EOPNOTSUPP || res == -ENOTSUP) && uring_fallback(io))
		return;
	if (res == -EINVAL && uio->op == UOP_RW && to_uring(io->bdev)->dfd >= 0 &&
	    !uio->buffered) {
		uio->buffered = true;      /* not aligned for O_DIRECT: the page cache takes it */
		uring_issue(io);
		return;
	}
	if (res < 0) {
		uring_finish(io, res);
		return;
	}
	if (uio->op == UOP_RW || uio->op == UOP_ZERO_WRITE) {
		if (res == 0) {         /* end of file: the file shrank under us */
			uring_finish(io, -EIO);
			return;
		}
		uring_rw_progress(io, (uint64_t)res);
		return;
	}
	uring_finish(io, 0);
}

static void uring_submit(struct bdev_io *io)
{
	struct uring_bdev *u = to_uring(io->bdev);
	struct uring_io *uio = BDEV_IO_CTX(io, struct uring_io);
	uio->req.complete = uring_complete;
	uio->done = 0;
	uio->buffered = false;
	switch (io->type) {
	case BDEV_IO_READ:
	case BDEV_IO_WRITE:
		uio->op = UOP_RW;
		if (u->inline_rw) {
			uring_rw_inline(io);
			return;
		}
		break;
	case BDEV_IO_FLUSH:
		uio->op = UOP_FSYNC;
		break;
	case BDEV_IO_UNMAP:
		uio->op = atomic_load(&u->no_punch_hole) ? UOP_ZERO_WRITE : UOP_PUNCH;
		break;
	default:
		uio->op = !atomic_load(&u->no_zero_range) ? UOP_ZERO_RANGE
			  : !atomic_load(&u->no_punch_hole) ? UOP_PUNCH : UOP_ZERO_WRITE;
		break;
	}
	uring_issue(io);
}

static bool uring_is_aio(const struct bdev *b)
{
	return strcmp(b->module_name, "aio") == 0;
}

static void uring_dump(const struct bdev *b, json_t *ds)
{
	const struct uring_bdev *u = to_uring(b);
	if (uring_is_aio(b))
		json_object_set_new(ds, "aio",
				    json_pack("{s:s, s:b, s:b}", "filename", u->filename,
					      "block_size_override", u->block_size_given,
					      "readonly", u->readonly));
	else
		json_object_set_new(ds, "uring", json_pack("{s:s}", "filename", u->filename));
}

static json_t *uring_config_json(const struct bdev *b)
{
	const struct uring_bdev *u = to_uring(b);
	if (uring_is_aio(b))
		return bdev_config_wrap("bdev_aio_create",
					json_pack("{s:s, s:s, s:i, s:b, s:s}", "name", b->name,
						  "filename", u->filename, "block_size",
						  (int)b->block_size, "readonly", u->readonly,
						  "uuid", b->uuid));
	return bdev_config_wrap("bdev_uring_create",
				json_pack("{s:s, s:s, s:i, s:s}", "name", b->name, "filename",
					  u->filename, "block_size", (int)b->block_size,
					  "uuid", b->uuid));
}

static void uring_destruct(struct bdev *b)
{
	struct uring_bdev *u = to_uring(b);
	if (u->fd >= 0)
		close(u->fd);
	if (u->dfd >= 0)
		close(u->dfd);
	free(u);
}

/* ---- RPC methods: bdev_uring_create and SPDK's bdev_aio_create make the same file bdev; aio
 * also takes readonly and fallocate (accepted for SPDK users' scripts; files are never
 * preallocated). */

static void file_bdev_create(struct rpc_request *req, const json_t *params, bool aio)
{
	const char *name = NULL, *filename = NULL, *uuid = NULL;
	uint32_t block_size = 0;
	bool readonly = false, fallocate = false;
	struct jparam spec[] = {
		{ "name", JP_STRING, true, &name, NULL },
		{ "filename", JP_STRING, true, &filename, NULL },
		{ "block_size", JP_UINT32, false, &block_size, NULL },
		{ "uuid", JP_STRING, false, &uuid, NULL },
		{ "readonly", JP_BOOL, false, &readonly, NULL },     /* aio only, from here */
		{ "fallocate", JP_BOOL, false, &fallocate, NULL },
	};
	char err[160];
	if (json_decode_params(params, spec, aio ? 6 : 4, err, sizeof(err)) < 0)
		return rpc_reply_invalid_params(req, err);
	struct bdev *b = NULL;
	int rc = bdev_uring_create(name, filename, block_size, readonly, uuid,
				   aio ? "aio" : "uring", &b);
	bdev_rpc_reply_created(req, rc, b);
}

static void rpc_bdev_uring_create(struct rpc_request *req, const json_t *params)
{
	file_bdev_create(req, params, false);
}

static void rpc_bdev_uring_delete(struct rpc_request *req, const json_t *params)
{
	bdev_rpc_delete(req, params, "uring");
}

static void rpc_bdev_aio_create(struct rpc_request *req, const json_t *params)
{
	file_bdev_create(req, params, true);
}

static void rpc_bdev_aio_delete(struct rpc_request *req, const json_t *params)
{
	bdev_rpc_delete(req, params, "aio");
}

static const struct rpc_method uring_rpc_methods[] = {
	{ "bdev_uring_create", rpc_bdev_uring_create, RPC_MUTATES, bdev_rpc_undo_create, NULL },
	{ "bdev_uring_delete", rpc_bdev_uring_delete, RPC_MUTATES | RPC_DELETES, NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL },
};

/* RWF_NOWAIT on a block device: blockd's files never ask for it. */
static const struct rpc_spdk_param aio_create_spdk_params[] = {
	{ "nowait", JP_BOOL, "false", NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct rpc_method aio_rpc_methods[] = {
	{ "bdev_aio_create", rpc_bdev_aio_create, RPC_MUTATES, bdev_rpc_undo_create,
	  aio_create_spdk_params },
	{ "bdev_aio_delete", rpc_bdev_aio_delete, RPC_MUTATES | RPC_DELETES, NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL },
};

/* One module under two names: each name's delete also deletes the other's bdevs. */
const struct bdev_module bdev_uring_module = {
	.name = "uring",
	.product_name = "URING bdev",
	.alias = "aio",
	.rpc_methods = uring_rpc_methods,
	.submit = uring_submit,
	.destruct = uring_destruct,
	.dump_driver_specific = uring_dump,
	.config_json = uring_config_json,
};

const struct bdev_module bdev_aio_module = {
	.name = "aio",
	.product_name = "AIO disk",
	.alias = "uring",
	.rpc_methods = aio_rpc_methods,
	.submit = uring_submit,
	.destruct = uring_destruct,
	.dump_driver_specific = uring_dump,
	.config_json = uring_config_json,
};

static int uring_file_size(int fd, uint64_t *size)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	return -EINVAL;
}

/* A regular file in memory whose filesystem refuses RWF_NOWAIT: io_uring would punt every
 * read and write of it to a worker thread. */
static bool uring_wants_inline(int fd)
{
	struct statfs sf;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fstatfs(fd, &sf) < 0)
		return false;
	if ((unsigned long)sf.f_type != 0x01021994ul &&      /* TMPFS_MAGIC */
	    (unsigned long)sf.f_type != 0x858458f6ul)        /* RAMFS_MAGIC */
		return false;
	char byte;
	struct iovec iov = { &byte, 1 };
	return preadv2(fd, &iov, 1, 0, RWF_NOWAIT) < 0 && (errno == EOPNOTSUPP || errno == ENOTSUP);
}

static int uring_open(struct uring_bdev *u, const char *filename, uint32_t block_size,
		      uint64_t *num_blocks)
{
	u->fd = open(filename, (u->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (u->fd < 0)
		return -errno;
	uint64_t size = 0;
	int rc = uring_file_size(u->fd, &size);
	if (rc < 0)
		return rc;
	if (size < block_size)
		return -EINVAL;
	*num_blocks = size / block_size;
	u->inline_rw = uring_wants_inline(u->fd);
	if (!u->inline_rw)      /* a filesystem without O_DIRECT refuses the open: buffered */
		u->dfd = open(filename, (u->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_DIRECT);
	return 0;
}

/* filename made absolute against the working directory (lexically: "." and empty components
 * dropped, symlinks kept as given, so /dev/disk/by-id names stay stable), so that the saved
 * configuration replays the same whatever directory blockd is started from. */
static int absolute_filename(const char *filename, char *out, size_t len)
{
	char joined[2 * PATH_MAX];
	if (filename[0] == '/') {
		snprintf(joined, sizeof(joined), "%s", filename);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		snprintf(joined, sizeof(joined), "%s/%s", cwd, filename);
	}
	size_t n = 0;
	for (const char *p = joined; *p;) {
		const char *end = strchrnul(p + 1, '/');
		size_t seg = (size_t)(end - p);          /* "/name" */
		bool skip = seg == 1 || (seg == 2 && p[1] == '.');
		if (!skip) {
			if (n + seg >= len)
				return -ENAMETOOLONG;
			memcpy(out + n, p, seg);
			n += seg;
		}
		p = end;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	return 0;
}

int bdev_uring_create(const char *name, const char *filename, uint32_t block_size,
		      bool readonly, const char *uuid, const char *module_name, struct bdev **out)
{
	bool aio = module_name && strcmp(module_name, "aio") == 0;
	if (module_name && !aio && strcmp(module_name, "uring") != 0)
		return -EINVAL;
	if (!filename || !filename[0] || strlen(filename) >= PATH_MAX)
		return -EINVAL;
	uint32_t bs = block_size ? block_size : 512;
	int rc = bdev_check_geometry(bs, 1);
	if (rc < 0)
		return rc;
	char bname[BDEV_NAME_MAX + 1];
	rc = bdev_pick_name(name, aio ? "AIO" : "Uring", aio ? &g_aio_counter : &g_uring_counter,
			    bname);
	if (rc < 0)
		return rc;
	struct uring_bdev *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->readonly = readonly;
	u->block_size_given = block_size != 0;
	u->fd = u->dfd = -1;
	rc = absolute_filename(filename, u->filename, sizeof(u->filename));
	uint64_t num_blocks = 0;
	if (rc == 0)
		rc = uring_open(u, u->filename, bs, &num_blocks);
	uint32_t types = readonly ? (1u << BDEV_IO_READ) | (1u << BDEV_IO_FLUSH)
				  : (1u << BDEV_IO_TYPE_COUNT) - 1;
	if (rc == 0)
		rc = bdev_setup(&u->bdev, aio ? &bdev_aio_module : &bdev_uring_module, bname, bs, num_blocks,
				types, uuid);
	if (rc == 0)
		rc = bdev_register(&u->bdev);
	if (rc < 0) {
		log_debug("blockd", "msg=\"file bdev create failed\" file=%s err=\"%s\"", filename,
			  strerror(-rc));
		uring_destruct(&u->bdev);
		return rc;
	}
	if (u->inline_rw)
		log_info("blockd", "msg=\"file in memory without non-blocking IO: reads and writes "
			 "on the reactor\" bdev=%s file=%s", bname, u->filename);
	if (out)
		*out = &u->bdev;
	return 0;
}

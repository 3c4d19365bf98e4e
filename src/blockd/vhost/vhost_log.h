/* vhost_log.h — the dirty log of live migration (vhost-user VHOST_F_LOG_ALL with
 * LOG_SHMFD): a bitmap the front-end shares with SET_LOG_BASE, one bit per 4 KiB page of
 * guest-physical memory (page p is bit p % 8 of byte p / 8), that the back-end sets for every
 * page it writes so that the front-end sends that page again. Mapping and validating a log,
 * and marking pages in it; which writes are logged, and when, is the queues' business. */
#ifndef BLOCKD_VHOST_LOG_H
#define BLOCKD_VHOST_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhost_mem.h"

/* Bytes of log that cover guest-physical addresses [0, end). */
uint64_t vhost_log_bytes_for(uint64_t end);
/* The end of the highest region of a memory table (0 for NULL). */
uint64_t vhost_log_mem_end(const struct vhost_mem *m);

/* Maps the log [offset, offset + size) of fd, which must cover need bytes: size not 0, no
 * overflow, offset page-aligned, fd a regular file at least offset + size long and sealed
 * against shrinking (F_SEAL_SHRINK, as QEMU seals its log memfd and as guest memory must
 * be), so that no later truncation can turn a log write into SIGBUS. The fd is not closed.
 * Returns the mapping with one reference (vhost_shm_ref/unref), or NULL with a negative
 * errno in *err and a reason for the log in *why. */
struct vhost_shm *vhost_log_map(int fd, uint64_t size, uint64_t offset, uint64_t need,
				int *err, const char **why);

/* Marks every page of guest-physical [gpa, gpa + len) dirty, atomically (the front-end
 * reads and clears the log concurrently), after the caller's writes to those pages (release
 * order). A page past the end of the log is not marked: false then (validation at setup
 * makes that impossible for a well-set-up queue). */
bool vhost_log_mark(const struct vhost_shm *log, uint64_t gpa, uint64_t len);
/* The same for host memory [p, p + len) of guest memory m (p from a translation through m,
 * inside one region). false when p is not in m or a page is past the end of the log. */
bool vhost_log_mark_host(const struct vhost_shm *log, const struct vhost_mem *m,
			 const void *p, uint64_t len);

#endif

/* vhost_log.c — mapping, validating and marking the dirty log of live migration (see
 * vhost_log.h). */
#include "vhost_log.h"

#include <errno.h>

uint64_t vhost_log_bytes_for(uint64_t end)
{
	uint64_t pages = end / VHOST_LOG_PAGE + (end % VHOST_LOG_PAGE != 0);
	return pages / 8 + (pages % 8 != 0);
}

uint64_t vhost_log_mem_end(const struct vhost_mem *m)
{
	uint64_t end = 0;
	for (unsigned i = 0; m && i < m->nregions; i++) {
		uint64_t e = m->regions[i].guest_phys_addr + m->regions[i].size;
		if (e > end)
			end = e;
	}
	return end;
}

struct vhost_shm *vhost_log_map(int fd, uint64_t size, uint64_t offset, uint64_t need,
				int *err, const char **why)
{
	*err = -EINVAL;
	if (size == 0) {
		*why = "log size is 0";
		return NULL;
	}
	if (offset + size < offset || offset + size > (uint64_t)SIZE_MAX) {
		*why = "log offset + size overflows";
		return NULL;
	}
	if (offset % VHOST_LOG_PAGE) {
		*why = "log offset is not page-aligned";
		return NULL;
	}
	if (size < need) {
		*why = "log too small for the guest memory (1 bit per 4 KiB page up to its "
		       "highest address)";
		return NULL;
	}
	struct vhost_shm *shm = vhost_shm_map(fd, offset, size, err);
	if (!shm)
		*why = *err == -EPERM ? "log fd is not a memfd sealed against shrinking"
		       : *err == -EINVAL ? "log fd is not a regular file as long as offset + size"
					 : "log fd cannot be mapped";
	return shm;
}

bool vhost_log_mark(const struct vhost_shm *log, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		return true;
	if (gpa + len < gpa)
		return false;
	uint8_t *bits = log->addr;
	uint64_t first = gpa / VHOST_LOG_PAGE, last = (gpa + len - 1) / VHOST_LOG_PAGE;
	bool all = true;
	for (uint64_t p = first; p <= last; p++) {
		if (p / 8 >= log->size) {
			all = false;
			break;
		}
		__atomic_fetch_or(&bits[p / 8], (uint8_t)(1u << (p % 8)), __ATOMIC_RELEASE);
	}
	return all;
}

bool vhost_log_mark_host(const struct vhost_shm *log, const struct vhost_mem *m,
			 const void *p, uint64_t len)
{
	const uint8_t *h = p;
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct vhost_mem_region *r = &m->regions[i];
		if (h >= r->host_addr && (uint64_t)(h - r->host_addr) < r->size)
			return vhost_log_mark(log, r->guest_phys_addr + (uint64_t)(h - r->host_addr),
					      len);
	}
	return false;
}

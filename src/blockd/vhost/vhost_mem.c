/* vhost_mem.c — mapping and bounds-checked translation of a front-end's memory table. */
#include "vhost_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int validate(const struct vhost_user_memory *msg, unsigned nfds)
{
	if (msg->nregions == 0 || msg->nregions > VHOST_USER_MAX_RAM_SLOTS ||
	    nfds != msg->nregions)
		return -EINVAL;
	for (unsigned i = 0; i < msg->nregions; i++) {
		const struct vhost_user_mem_region *r = &msg->regions[i];
		if (r->memory_size == 0 ||
		    r->guest_phys_addr + r->memory_size < r->guest_phys_addr ||
		    r->userspace_addr + r->memory_size < r->userspace_addr ||
		    r->mmap_offset + r->memory_size < r->mmap_offset ||
		    r->mmap_offset + r->memory_size > (uint64_t)SIZE_MAX)
			return -EINVAL;
		for (unsigned j = 0; j < i; j++) {
			const struct vhost_user_mem_region *o = &msg->regions[j];
			if (ranges_overlap(r->guest_phys_addr, r->memory_size, o->guest_phys_addr,
					   o->memory_size) ||
			    ranges_overlap(r->userspace_addr, r->memory_size, o->userspace_addr,
					   o->memory_size))
				return -EINVAL;
		}
	}
	return 0;
}

/* A mapping past the end of the file it maps faults (SIGBUS) on first touch: the file must
 * be at least offset + len long, and it must stay so — a memfd sealed against shrinking
 * (QEMU's memory-backend-memfd is). Any other file (on disk, in /dev/shm, on hugetlbfs) the
 * front-end could truncate under a running queue, so it is refused (-EPERM). */
static int check_backing(int fd, uint64_t end)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < end)
		return -EINVAL;
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return -EPERM;
	return 0;
}

static void unmap_all(struct vhost_mem *m)
{
	for (unsigned i = 0; i < m->nregions; i++)
		if (m->regions[i].mmap_addr)
			munmap(m->regions[i].mmap_addr, m->regions[i].mmap_size);
}

struct vhost_mem *vhost_mem_create(const struct vhost_user_memory *msg, const int *fds,
				   unsigned nfds, int *err)
{
	struct vhost_mem *m = NULL;
	*err = validate(msg, nfds);
	if (*err < 0)
		goto out;
	m = calloc(1, sizeof(*m));
	if (!m) {
		*err = -ENOMEM;
		goto out;
	}
	m->refs = 1;
	for (unsigned i = 0; i < msg->nregions; i++) {
		const struct vhost_user_mem_region *r = &msg->regions[i];
		struct vhost_mem_region *dst = &m->regions[i];
		size_t len = (size_t)(r->mmap_offset + r->memory_size);
		int rc = check_backing(fds[i], len);
		if (rc < 0) {
			*err = rc;
			log_warn("vhost", "msg=\"guest memory region refused\" region=%u "
				 "error=\"%s\"", i,
				 rc == -EPERM ? "not a memfd sealed against shrinking (a file the "
						"front-end could truncate under a running queue)"
					      : "larger than its file");
			m->nregions = i;
			unmap_all(m);
			free(m);
			m = NULL;
			goto out;
		}
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
			       fds[i], 0);
		if (p == MAP_FAILED) {
			*err = -errno;
			log_warn("vhost", "msg=\"cannot map guest memory region\" region=%u "
				 "size=%llu error=\"%s\"", i, (unsigned long long)len,
				 strerror(errno));
			m->nregions = i;
			unmap_all(m);
			free(m);
			m = NULL;
			goto out;
		}
		*dst = (struct vhost_mem_region){
			.guest_phys_addr = r->guest_phys_addr, .size = r->memory_size,
			.user_addr = r->userspace_addr, .mmap_offset = r->mmap_offset,
			.mmap_addr = p, .mmap_size = len, .host_addr = (uint8_t *)p + r->mmap_offset,
		};
	}
	m->nregions = msg->nregions;
out:
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	return m;
}

void vhost_mem_ref(struct vhost_mem *m)
{
	__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
}

void vhost_mem_unref(struct vhost_mem *m)
{
	if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		unmap_all(m);
		free(m);
	}
}

void *vhost_gpa_to_host(const struct vhost_mem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct vhost_mem_region *r = &m->regions[i];
		if (gpa >= r->guest_phys_addr && gpa - r->guest_phys_addr < r->size &&
		    len <= r->size - (gpa - r->guest_phys_addr))
			return r->host_addr + (gpa - r->guest_phys_addr);
	}
	return NULL;
}

void *vhost_gpa_to_host_part(const struct vhost_mem *m, uint64_t gpa, uint64_t len,
			     uint64_t *contiguous)
{
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct vhost_mem_region *r = &m->regions[i];
		if (gpa >= r->guest_phys_addr && gpa - r->guest_phys_addr < r->size) {
			uint64_t left = r->size - (gpa - r->guest_phys_addr);
			*contiguous = len < left ? len : left;
			return r->host_addr + (gpa - r->guest_phys_addr);
		}
	}
	return NULL;
}

void *vhost_uva_to_host(const struct vhost_mem *m, uint64_t uva, uint64_t len)
{
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct vhost_mem_region *r = &m->regions[i];
		if (uva >= r->user_addr && uva - r->user_addr < r->size &&
		    len <= r->size - (uva - r->user_addr))
			return r->host_addr + (uva - r->user_addr);
	}
	return NULL;
}

struct vhost_shm *vhost_shm_map(int fd, uint64_t offset, uint64_t size, int *err)
{
	*err = -EINVAL;
	if (size == 0 || offset + size < offset || offset + size > (uint64_t)SIZE_MAX ||
	    (offset & 4095))
		return NULL;
	*err = check_backing(fd, offset + size);
	if (*err < 0)
		return NULL;
	struct vhost_shm *shm = calloc(1, sizeof(*shm));
	if (!shm) {
		*err = -ENOMEM;
		return NULL;
	}
	void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)offset);
	if (p == MAP_FAILED) {
		*err = -errno;
		free(shm);
		return NULL;
	}
	*shm = (struct vhost_shm){ .addr = p, .size = (size_t)size, .refs = 1 };
	*err = 0;
	return shm;
}

void vhost_shm_ref(struct vhost_shm *shm)
{
	__atomic_add_fetch(&shm->refs, 1, __ATOMIC_RELAXED);
}

void vhost_shm_unref(struct vhost_shm *shm)
{
	if (shm && __atomic_sub_fetch(&shm->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		munmap(shm->addr, shm->size);
		free(shm);
	}
}

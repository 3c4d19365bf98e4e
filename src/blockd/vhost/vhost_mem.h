/* vhost_mem.h — a front-end's memory table: the regions it shared with SET_MEM_TABLE, mapped
 * into blockd, and the translations every guest address goes through. A translation checks
 * the whole [addr, addr + len) range against one region, so a descriptor can never make
 * blockd touch memory outside what the guest shared. */
#ifndef BLOCKD_VHOST_MEM_H
#define BLOCKD_VHOST_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "vhost_user_proto.h"

struct vhost_mem_region {
	uint64_t guest_phys_addr;
	uint64_t size;
	uint64_t user_addr;      /* the front-end's virtual address of the region */
	uint64_t mmap_offset;
	void *mmap_addr;         /* what mmap returned (covers mmap_offset + size) */
	size_t mmap_size;
	uint8_t *host_addr;      /* mmap_addr + mmap_offset */
};

struct vhost_mem {
	unsigned nregions;
	struct vhost_mem_region regions[VHOST_USER_MAX_RAM_SLOTS];
	unsigned refs;           /* sessions' in-flight work keeps a table alive */
};

/* Validates the table (no zero size, no wrap-around, no overlap in guest-physical or in
 * front-end addresses, nregions <= 8, one fd per region) and maps every region. Takes
 * ownership of fds (closed in all cases). Returns a table with one reference, or NULL and a
 * negative errno in *err. */
struct vhost_mem *vhost_mem_create(const struct vhost_user_memory *msg, const int *fds,
				   unsigned nfds, int *err);
void vhost_mem_ref(struct vhost_mem *m);
void vhost_mem_unref(struct vhost_mem *m);

/* Guest-physical [gpa, gpa+len) to a host pointer, or NULL when any byte is outside a region. */
void *vhost_gpa_to_host(const struct vhost_mem *m, uint64_t gpa, uint64_t len);
/* Guest-physical gpa to a host pointer and how many bytes (<= len) are contiguous there; NULL
 * when gpa is in no region. Buffers that span two regions are translated piece by piece. */
void *vhost_gpa_to_host_part(const struct vhost_mem *m, uint64_t gpa, uint64_t len,
			     uint64_t *contiguous);
/* Front-end virtual [uva, uva+len) (ring addresses) to a host pointer, or NULL. */
void *vhost_uva_to_host(const struct vhost_mem *m, uint64_t uva, uint64_t len);

/* A shared-memory area a front-end handed over (the inflight region): mapped, refcounted so
 * that queues still finishing IO on a reactor keep it mapped. The fd is not closed. */
struct vhost_shm {
	void *addr;
	size_t size;
	unsigned refs;
};
struct vhost_shm *vhost_shm_map(int fd, uint64_t offset, uint64_t size, int *err);
void vhost_shm_ref(struct vhost_shm *shm);
void vhost_shm_unref(struct vhost_shm *shm);

#endif

/* iov.h — helpers over struct iovec arrays shared by the bdev modules and the virtio
 * request code: totals, sub-ranges and copies at an offset. */
#ifndef BLOCKD_IOV_H
#define BLOCKD_IOV_H

#include <stddef.h>
#include <sys/uio.h>

size_t iov_total(const struct iovec *iov, int iovcnt);
/* Copies the iovecs covering [skip, skip + len) into dst (at most max entries); returns the
 * count, or -EINVAL when iov is too short or dst too small. */
int iov_slice(const struct iovec *iov, int iovcnt, size_t skip, size_t len,
	      struct iovec *dst, int max);
/* Copy up to len bytes out of / into the iovecs starting at byte offset off. Return the
 * bytes copied. */
size_t iov_copy_from(const struct iovec *iov, int iovcnt, size_t off, void *dst, size_t len);
size_t iov_copy_to(const struct iovec *iov, int iovcnt, size_t off, const void *src, size_t len);

#endif

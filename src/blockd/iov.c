/* iov.c — iovec helpers (see iov.h). */
#include "iov.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	return total;
}

int iov_slice(const struct iovec *iov, int iovcnt, size_t skip, size_t len,
	      struct iovec *dst, int max)
{
	int i = 0, n = 0;
	while (i < iovcnt && skip >= iov[i].iov_len) {
		skip -= iov[i].iov_len;
		i++;
	}
	for (; len > 0; i++, skip = 0) {
		if (i >= iovcnt || n >= max)
			return -EINVAL;
		size_t take = iov[i].iov_len - skip;
		if (take > len)
			take = len;
		if (take == 0)
			continue;
		dst[n].iov_base = (char *)iov[i].iov_base + skip;
		dst[n].iov_len = take;
		n++;
		len -= take;
	}
	return n;
}

/* Copies between buf and the iovecs' bytes [off, off + len). */
static size_t iov_copy(const struct iovec *iov, int iovcnt, size_t off, char *buf,
		       size_t len, bool into_iov)
{
	size_t done = 0;
	for (int i = 0; i < iovcnt && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t take = iov[i].iov_len - off;
		if (take > len - done)
			take = len - done;
		char *in_iov = (char *)iov[i].iov_base + off;
		if (into_iov)
			memcpy(in_iov, buf + done, take);
		else
			memcpy(buf + done, in_iov, take);
		done += take;
		off = 0;
	}
	return done;
}

size_t iov_copy_from(const struct iovec *iov, int iovcnt, size_t off, void *dst, size_t len)
{
	return iov_copy(iov, iovcnt, off, dst, len, false);
}

size_t iov_copy_to(const struct iovec *iov, int iovcnt, size_t off, const void *src, size_t len)
{
	return iov_copy(iov, iovcnt, off, (char *)(uintptr_t)src, len, true);
}

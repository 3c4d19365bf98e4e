/* copy_limit.c — the single-thread block copy loop of copy_limit.h. */
#include "copy_limit.h"

#include <string.h>
#include <sys/mman.h>

#include "blk_bench_queue.h"

double copy_limit_rate(size_t size, uint32_t bs, double seconds)
{
	if (size < 2 * (size_t)bs || bs == 0)
		return -1;
	unsigned char *buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (buf == MAP_FAILED)
		return -1;
	(void)madvise(buf, size, MADV_HUGEPAGE);
	memset(buf, 0x5a, size);
	uint64_t blocks = size / bs, x = 0x9e3779b97f4a7c15ull, copies = 0;
	uint64_t start = bq_now_ns(), end = start + (uint64_t)(seconds * 1e9), now = start;
	while (now < end) {
		for (unsigned i = 0; i < 1024; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			uint64_t a = (x % blocks) * bs, b = ((x >> 32) % blocks) * bs;
			memcpy(buf + a, buf + b, bs);
		}
		copies += 1024;
		now = bq_now_ns();
	}
	munmap(buf, size);
	return (double)copies / ((double)(now - start) / 1e9);
}

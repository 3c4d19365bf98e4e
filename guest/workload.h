/*
 * guest/workload.h — what guest/workload.c (disk workloads, argument parsing) and
 * guest/memload.c (the memory workloads dirty and memcheck) share. The console-line formats
 * of every workload are documented in workload.c's header comment.
 */
#ifndef BERTH_GUEST_WORKLOAD_H
#define BERTH_GUEST_WORKLOAD_H

#include <stdint.h>

#define BLOCK_SIZE 4096

void crc32_init(void);
uint32_t block_crc(const unsigned char *buf);
/* Block <seq> in the writer's format (magic, seq, CRC-32, xorshift filler). */
void fill_block(unsigned char *buf, uint64_t seq);
/* NULL when buf holds a good block <seq>, else why not: "magic", "seq" or "checksum". */
const char *check_block(const unsigned char *buf, uint64_t seq);
void sleep_ms(long ms);
double now_seconds(void);
int open_dev(const char *dev, int flags);
uint64_t dev_blocks(int fd);
int run_writer(const char *dev, unsigned char *buf, int64_t count, uint64_t start);

/* memload.c. size_mib < 0: the default; rate 0: as fast as possible; dev may be NULL. */
int run_dirty(const char *dev, int64_t size_mib, int64_t rate, int with_writer);
int run_memcheck(const char *dev, int64_t size_mib, int64_t blocks, uint64_t start);

#endif

/* fuzz_util.h — helpers shared by the libFuzzer targets in tests/fuzz: a memfd holding the
 * input (reachable by path as /proc/self/fd/N, so path-taking loaders read it without a file
 * on disk), a per-process scratch directory removed at exit, an input reader that never runs
 * past the end, and quiet logs. Nothing here keeps state that changes from one input to the
 * next except the scratch directory's files, which every target rewrites or removes. */
#ifndef BERTH_FUZZ_UTIL_H
#define BERTH_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A memfd with data in it, offset 0; its path (/proc/self/fd/N) in path. -1 on failure. */
int fuzz_memfd(const void *data, size_t n, char *path, size_t pathlen);

/* The process's scratch directory ($TMPDIR or /tmp, berth-fuzz-XXXXXX), created on first use
 * and removed (with the files fuzz_scratch_file named) when the process exits. */
const char *fuzz_scratch_dir(void);
/* <scratch>/name, remembered so that it is removed at exit. */
const char *fuzz_scratch_file(const char *name, char *path, size_t pathlen);
/* Writes data to <scratch>/name (replacing it). 0 or -1. */
int fuzz_write_scratch(const char *name, const void *data, size_t n);

/* No logs (the targets provoke every error the parsers have: a persist run would write
 * gigabytes an hour), unless FUZZ_LOGS is set: a level (debug, info, warn, error) or 1 for
 * Berth's default. */
void fuzz_quiet_logs(void);

/* Consumes the input front to back; reads past the end give zeros. */
struct fuzz_input {
	const uint8_t *p;
	size_t n;
};
uint8_t fuzz_u8(struct fuzz_input *in);
uint16_t fuzz_u16(struct fuzz_input *in);
uint32_t fuzz_u32(struct fuzz_input *in);
uint64_t fuzz_u64(struct fuzz_input *in);
/* Takes up to want bytes; *got says how many there were. */
const uint8_t *fuzz_bytes(struct fuzz_input *in, size_t want, size_t *got);

#endif

/* fuzz_util.c — helpers shared by the fuzz targets (see fuzz_util.h). */
#include "fuzz_util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

int fuzz_memfd(const void *data, size_t n, char *path, size_t pathlen)
{
	int fd = memfd_create("berth-fuzz", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	const uint8_t *p = data;
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(fd, p + off, n - off);
		if (w <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	lseek(fd, 0, SEEK_SET);
	if (path)
		snprintf(path, pathlen, "/proc/self/fd/%d", fd);
	return fd;
}

#define SCRATCH_MAX_NAMES 16

static char g_scratch[PATH_MAX];
static char *g_names[SCRATCH_MAX_NAMES];
static unsigned g_nnames;

static void scratch_cleanup(void)
{
	char path[PATH_MAX + 64];
	for (unsigned i = 0; i < g_nnames; i++) {
		snprintf(path, sizeof(path), "%s/%s", g_scratch, g_names[i]);
		unlink(path);
		free(g_names[i]);
	}
	g_nnames = 0;
	if (g_scratch[0])
		rmdir(g_scratch);
}

const char *fuzz_scratch_dir(void)
{
	if (g_scratch[0])
		return g_scratch;
	const char *tmp = getenv("TMPDIR");
	snprintf(g_scratch, sizeof(g_scratch), "%s/berth-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(g_scratch)) {
		perror("fuzz: mkdtemp");
		abort();
	}
	atexit(scratch_cleanup);
	return g_scratch;
}

const char *fuzz_scratch_file(const char *name, char *path, size_t pathlen)
{
	const char *dir = fuzz_scratch_dir();
	bool known = false;
	for (unsigned i = 0; i < g_nnames; i++)
		known = known || strcmp(g_names[i], name) == 0;
	if (!known) {
		if (g_nnames == SCRATCH_MAX_NAMES)
			abort();
		g_names[g_nnames++] = strdup(name);
	}
	snprintf(path, pathlen, "%s/%s", dir, name);
	return path;
}

int fuzz_write_scratch(const char *name, const void *data, size_t n)
{
	char path[PATH_MAX + 64];
	fuzz_scratch_file(name, path, sizeof(path));
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = n ? fwrite(data, 1, n, f) : 0;
	return fclose(f) == 0 && w == n ? 0 : -1;
}

void fuzz_quiet_logs(void)
{
	const char *want = getenv("FUZZ_LOGS");
	enum log_level level;
	if (!want)
		log_set_level(LOG_OFF);
	else if (log_parse_level(want, &level) == 0)
		log_set_level(level);  /* FUZZ_LOGS=error: what a long run's inputs complain of */
	/* FUZZ_LOGS=1: Berth's default, to see what a seed reaches */
}

uint8_t fuzz_u8(struct fuzz_input *in)
{
	if (in->n == 0)
		return 0;
	uint8_t v = in->p[0];
	in->p++;
	in->n--;
	return v;
}

uint16_t fuzz_u16(struct fuzz_input *in)
{
	uint16_t lo = fuzz_u8(in);
	return (uint16_t)(lo | (uint16_t)fuzz_u8(in) << 8);
}

uint32_t fuzz_u32(struct fuzz_input *in)
{
	uint32_t lo = fuzz_u16(in);
	return lo | (uint32_t)fuzz_u16(in) << 16;
}

uint64_t fuzz_u64(struct fuzz_input *in)
{
	uint64_t lo = fuzz_u32(in);
	return lo | (uint64_t)fuzz_u32(in) << 32;
}

const uint8_t *fuzz_bytes(struct fuzz_input *in, size_t want, size_t *got)
{
	const uint8_t *p = in->p;
	*got = want < in->n ? want : in->n;
	in->p += *got;
	in->n -= *got;
	return p;
}

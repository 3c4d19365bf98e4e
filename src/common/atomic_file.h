/* atomic_file.h — write a file so that readers see the old content or the new, never a mix:
 * tmp file + fsync + rename + fsync of the directory. */
#ifndef BERTH_ATOMIC_FILE_H
#define BERTH_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* 0 or -errno; on failure the old file is untouched and no tmp file is left behind. */
int atomic_write_file(const char *path, const void *data, size_t len, mode_t mode);

/* The same without the fsyncs: readers still see the old content or the new, but a crash
 * of the machine may lose the update. For status files rewritten every tick, where a
 * durable write would cost two fsyncs per tick for nothing. */
int atomic_replace_file(const char *path, const void *data, size_t len, mode_t mode);

/* Reads a whole regular file of at most max_len bytes, NUL-terminated. 0 or -errno
 * (-EFBIG when larger). *out is malloc'd. */
int read_file_all(const char *path, size_t max_len, char **out, size_t *out_len);

#endif

/* sock_file.h — the file a process bound a Unix socket to, by device and inode, noted right
 * after bind(), so that it unlinks only that file: never one that another process (a second
 * instance on the same paths, an operator) has put at the same path since. */
#ifndef BERTH_SOCK_FILE_H
#define BERTH_SOCK_FILE_H

#include <stdbool.h>
#include <sys/types.h>

struct sock_file {
	dev_t dev;
	ino_t ino;
	bool noted;
};

/* Notes what is at path now (just bound by the caller). */
void sock_file_note(struct sock_file *f, const char *path);
/* Unlinks path when it is still the noted file: 0, -ESTALE when another file is there (left
 * alone), -ENOENT when nothing is, -errno. */
int sock_file_unlink(const struct sock_file *f, const char *path);

#endif

/* sock_file.c — unlink only the socket file this process created (see sock_file.h). */
#include "sock_file.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

void sock_file_note(struct sock_file *f, const char *path)
{
	struct stat st;
	f->noted = lstat(path, &st) == 0;
	f->dev = f->noted ? st.st_dev : 0;
	f->ino = f->noted ? st.st_ino : 0;
}

int sock_file_unlink(const struct sock_file *f, const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return -errno;
	if (!f->noted || st.st_dev != f->dev || st.st_ino != f->ino)
		return -ESTALE;
	return unlink(path) < 0 ? -errno : 0;
}

/* status_file.c — status files replaced atomically without fsync (see status_file.h). */
#include "status_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "cleanup.h"

int status_file_write(const char *path, json_t *o)
{
	_cleanup_json_ json_t *owned = o;
	if (!owned)
		return -ENOMEM;
	_cleanup_free_ char *text = json_dumps(owned, JSON_INDENT(1));
	if (!text)
		return -ENOMEM;
	return atomic_replace_file(path, text, strlen(text), 0644);
}

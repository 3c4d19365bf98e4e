/* cleanup.h — scope-bound cleanup (GCC and clang's cleanup attribute), as systemd spells it:
 *
 *     _cleanup_free_ char *text = json_dumps(o, 0);     free(text) when text goes out of scope
 *     _cleanup_close_ int fd = open(...);               close(fd) if fd >= 0
 *     _cleanup_fclose_ FILE *f = fopen(...);            fclose(f) if f
 *     _cleanup_json_ json_t *o = json_object();         json_decref(o)
 *
 * Hand a value over (return it, store it) with TAKE_PTR / TAKE_FD, which leave NULL / -1
 * behind so nothing is released twice. For constructors whose error paths would otherwise
 * each free what was built so far. */
#ifndef BERTH_CLEANUP_H
#define BERTH_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <jansson.h>

static inline void cleanup_free(void *p)
{
	free(*(void **)p);
}

static inline void cleanup_close(const int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void cleanup_fclose(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void cleanup_json(json_t **o)
{
	json_decref(*o);
}

#define _cleanup_free_ __attribute__((cleanup(cleanup_free)))
#define _cleanup_close_ __attribute__((cleanup(cleanup_close)))
#define _cleanup_fclose_ __attribute__((cleanup(cleanup_fclose)))
#define _cleanup_json_ __attribute__((cleanup(cleanup_json)))

#define TAKE_PTR(p) ({ __typeof__(p) taken_ = (p); (p) = NULL; taken_; })
#define TAKE_FD(fd) ({ int taken_ = (fd); (fd) = -1; taken_; })

#endif

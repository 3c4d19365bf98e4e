/* store_error.c — the failure record every layer of the store writes (store_backend.h): the
 * lowest file of src/store, so back ends and store.c both use it and neither calls the other
 * for it. */
#include <stdarg.h>
#include <stdio.h>

#include "store_backend.h"

int store_fail(struct store *s, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	return rc;
}

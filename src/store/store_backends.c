/* store_backends.c — the table of store back ends, by URL scheme (store_backend.h). store.c
 * looks a URL up here and never names a back end itself. */
#include <stddef.h>

#include "store_backend.h"

const struct store_backend *const store_backends[] = {
	&store_sqlite_backend,          /* "sqlite:<path>", and plain paths */
	&store_pg_backend,              /* "postgresql://...", "postgres://...", "service=..." */
	NULL,
};

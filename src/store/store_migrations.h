/* store_migrations.h — the store's numbered schema migrations, one list for every back end:
 * migration N is row N-1, with its SQL text in each back end's dialect (the same schema
 * meaning). A back end applies, in order, each migration its schema_migrations table does not
 * record, and refuses a store that records a version above store_n_migrations (a schema newer
 * than the binary). Never edit a migration that shipped: add the next row, one text per back
 * end. */
#ifndef BERTH_STORE_MIGRATIONS_H
#define BERTH_STORE_MIGRATIONS_H

#include <stddef.h>

struct store_migration {
	const char *what;               /* one line, for errors and docs */
	const char *sqlite;
	const char *postgresql;
};

extern const struct store_migration store_migrations[];
extern const size_t store_n_migrations;

#endif

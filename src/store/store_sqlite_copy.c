/* store_sqlite_copy.c — the SQLite back end's part of copying a whole store (store_copy.c):
 * a table's rows as text, and the destination's one transaction (BEGIN IMMEDIATE: no other
 * writer until it ends) inserting rows with their ids. AUTOINCREMENT's sqlite_sequence
 * follows explicit ids by itself, so the next VM gets an id after the copied ones. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite_util.h"

#define COPY_COLS_MAX 64

int sq_rows(struct store *s, const char *table, store_row_fn fn, void *ctx)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY 1", table);
	sqlite3_stmt *st;
	int rc = sq_prepare(s, sql, &st);
	if (rc)
		return rc;
	int n = sqlite3_column_count(st);
	if (n > COPY_COLS_MAX) {
		sqlite3_finalize(st);
		return store_fail(s, -E2BIG, "table %s has %d columns", table, n);
	}
	const char *names[COPY_COLS_MAX], *values[COPY_COLS_MAX];
	for (int i = 0; i < n; i++)
		names[i] = sqlite3_column_name(st, i);
	int step;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < n; i++)
			values[i] = sqlite3_column_type(st, i) == SQLITE_NULL
				    ? NULL : (const char *)sqlite3_column_text(st, i);
		rc = fn(ctx, n, names, values);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = sq_sql_fail(s, "read rows");
	sqlite3_finalize(st);
	return rc;
}

int sq_copy_begin(struct store *s)
{
	return sq_exec(s, "BEGIN IMMEDIATE");
}

int sq_copy_row(struct store *s, const char *table, int n, const char *const *names,
		const char *const *values)
{
	char sql[2048];
	size_t len = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO %s (", table);
	for (int i = 0; i < n && len < sizeof(sql); i++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s\"%s\"", i ? ", " : "",
					names[i]);
	for (int i = 0; i < n && len < sizeof(sql); i++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s?", i ? ", " : ") VALUES (");
	if (len + 2 >= sizeof(sql))
		return store_fail(s, -E2BIG, "table %s: too many columns", table);
	memcpy(sql + len, ")", 2);
	sqlite3_stmt *st;
	int rc = sq_prepare(s, sql, &st);
	if (rc)
		return rc;
	for (int i = 0; i < n; i++)
		if (values[i])
			sqlite3_bind_text(st, i + 1, values[i], -1, SQLITE_STATIC);
	return sq_step_done(s, st, "copy a row");
}

int sq_copy_end(struct store *s, bool commit)
{
	if (commit)
		return sq_exec(s, "COMMIT");
	char saved[sizeof(s->error)];
	memcpy(saved, s->error, sizeof(saved));
	sq_exec(s, "ROLLBACK");
	memcpy(s->error, saved, sizeof(saved));
	return 0;
}

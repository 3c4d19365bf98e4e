/* store_sqlite_util.c — the SQLite back end's statement helpers (store_sqlite_util.h), shared
 * by store_sqlite.c (VMs, volumes, events) and store_sqlite_fleet.c (hosts, migrations). */
#include "store_sqlite_util.h"

#include <errno.h>
#include <stdio.h>

sqlite3 *sq_db(struct store *s)
{
	return s->impl;
}

int sq_sql_fail(struct store *s, const char *what)
{
	int code = sqlite3_errcode(sq_db(s));
	int rc = code == SQLITE_BUSY || code == SQLITE_LOCKED ? -EBUSY
		 : code == SQLITE_CONSTRAINT ? -EEXIST : -EIO;
	return store_fail(s, rc, "%s: %s", what, sqlite3_errmsg(sq_db(s)));
}

int sq_exec(struct store *s, const char *sql)
{
	char *msg = NULL;
	int code = sqlite3_exec(sq_db(s), sql, NULL, NULL, &msg);
	if (code != SQLITE_OK) {
		code &= 0xff;               /* the primary code of an extended one */
		int rc = store_fail(s, code == SQLITE_BUSY || code == SQLITE_LOCKED ? -EBUSY : -EIO,
				    "%s", msg ? msg : sqlite3_errstr(code));
		sqlite3_free(msg);
		return rc;
	}
	return 0;
}

int sq_prepare(struct store *s, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(sq_db(s), sql, -1, st, NULL) != SQLITE_OK)
		return sq_sql_fail(s, "prepare");
	return 0;
}

/* Runs a statement that returns no row. */
int sq_step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sq_sql_fail(s, what);
	sqlite3_finalize(st);
	return rc;
}

void sq_copy_text(char *dst, size_t size, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(dst, size, "%s", t ? (const char *)t : "");
}


/* store_pg_conn.h — one PostgreSQL connection of the store, every step under a deadline:
 * connecting (non-blocking, PQconnectPoll), each statement (sent without blocking, answered
 * within the operation's deadline, else the connection is closed and the call fails with
 * -ETIMEDOUT: a server that stopped answering never holds a caller), and reconnecting with
 * backoff after a lost connection (one found closed while idle is replaced before the next
 * statement is sent, so no statement is ever sent twice). The session's statement_timeout
 * and lock_timeout are set below the deadline, so that a live but slow server answers with
 * its own clean error first. Used by the PostgreSQL back end only (store_pg*.c). */
#ifndef BERTH_STORE_PG_CONN_H
#define BERTH_STORE_PG_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "backoff.h"
#include "store_backend.h"

struct pgc {
	PGconn *conn;                   /* NULL while disconnected */
	char *url;                      /* what libpq gets, as the operator wrote it */
	char where[192];                /* user@host:port/dbname, for messages (no password) */
	char connect_timeout[16];       /* seconds, libpq's own connect bound */
	int timeout_ms;                 /* one operation's deadline (store_set_timeout_ms) */
	int64_t deadline;               /* of the operation in progress (monotonic ms) */
	bool in_tx;
	struct backoff reconnect;
	char last_error[256];           /* why the last connection attempt failed */
};

/* Checks url (a libpq URI or conninfo string: one line for a bad one) and connects. */
int pgc_open(struct store *s, struct pgc *c, const char *url, int timeout_ms);
void pgc_close(struct pgc *c);

/* Runs sql (one statement with $1.. text parameters, NULL for SQL NULL; or, with n == 0,
 * several statements) within the operation's deadline; a transaction's statements share
 * the deadline set by pgc_begin, any other statement gets its own. *res (when res is not
 * NULL) is the result to PQclear. 0 or -errno with store_error set. */
int pgc_exec(struct store *s, struct pgc *c, const char *sql, int n,
	     const char *const *params, PGresult **res);
int pgc_begin(struct store *s, struct pgc *c);
int pgc_commit(struct store *s, struct pgc *c);
/* Rolls back what is open, keeping the store's error as it is. */
void pgc_rollback(struct store *s, struct pgc *c);

#endif

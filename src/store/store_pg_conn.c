/* store_pg_conn.c — the store's PostgreSQL connection under deadlines (store_pg_conn.h).
 * Owns the rule "Store deadline": every call to a networked store has a deadline covering its
 * connect or reconnect and its statements; a missed deadline closes the connection and fails
 * the call; the next call reconnects, with backoff. */
#include "store_pg_conn.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "deadline_io.h"

#define RECONNECT_BASE_MS 250
#define RECONNECT_MAX_MS 5000

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;          /* NOTICEs ("relation exists, skipping") are nobody's business */
}

/* libpq's message, first line only, without its "connection to server ... failed: " part
 * (the caller names the server) and with runs of spaces folded. */
static void one_line(char *out, size_t len, const char *msg)
{
	const char *p = msg ? msg : "";
	const char *failed = strstr(p, " failed: ");
	if (!strncmp(p, "connection to server", 20) && failed)
		p = failed + 9;
	size_t o = 0;
	for (; *p && *p != '\n' && o + 1 < len; p++) {
		if (*p == ' ' && o > 0 && out[o - 1] == ' ')
			continue;
		out[o++] = *p;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	if (!o)
		snprintf(out, len, "unknown error");
}

/* user@host:port/dbname from the parsed options: what messages name. */
static void describe(struct pgc *c, PQconninfoOption *opts)
{
	const char *user = "", *host = "", *port = "", *db = "", *service = "";
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		const char *v = o->val ? o->val : "";
		if (!strcmp(o->keyword, "user"))
			user = v;
		else if (!strcmp(o->keyword, "host") && v[0])
			host = v;
		else if (!strcmp(o->keyword, "hostaddr") && v[0] && !host[0])
			host = v;
		else if (!strcmp(o->keyword, "port"))
			port = v;
		else if (!strcmp(o->keyword, "dbname"))
			db = v;
		else if (!strcmp(o->keyword, "service"))
			service = v;
	}
	if (service[0] && !db[0])
		snprintf(c->where, sizeof(c->where), "postgresql service=%.64s", service);
	else
		snprintf(c->where, sizeof(c->where), "postgresql %.32s%s%.80s%s%.8s/%.48s", user,
			 user[0] ? "@" : "", host[0] ? host : "localhost", port[0] ? ":" : "", port,
			 db[0] ? db : "(default database)");
}

static int wait_socket(PGconn *conn, short events, int64_t deadline)
{
	for (;;) {
		int ms = deadline_remaining_ms(deadline);
		if (ms == 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = PQsocket(conn), .events = events };
		if (p.fd < 0)
			return -ENOTCONN;
		int r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static void drop(struct pgc *c)
{
	if (c->conn)
		PQfinish(c->conn);
	c->conn = NULL;
	c->in_tx = false;
}

static int session_setup(struct store *s, struct pgc *c);

/* One connection attempt within c->deadline. */
static int connect_once(struct store *s, struct pgc *c)
{
	const char *keys[] = { "connect_timeout", "fallback_application_name", "dbname", NULL };
	const char *vals[] = { c->connect_timeout, "berth", c->url, NULL };
	PGconn *conn = PQconnectStartParams(keys, vals, 1);
	if (!conn)
		return store_fail(s, -ENOMEM, "out of memory");
	PQsetNoticeProcessor(conn, quiet_notices, NULL);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	int rc = PQstatus(conn) == CONNECTION_BAD ? -ENOTCONN : 0;
	while (rc == 0 && st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			rc = -ENOTCONN;
			break;
		}
		rc = wait_socket(conn, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, c->deadline);
		if (rc == 0)
			st = PQconnectPoll(conn);
	}
	if (rc == -ETIMEDOUT) {
		snprintf(c->last_error, sizeof(c->last_error), "no answer within %d ms",
			 c->timeout_ms);
	} else if (rc < 0) {
		one_line(c->last_error, sizeof(c->last_error), PQerrorMessage(conn));
	} else if (PQsetnonblocking(conn, 1) < 0) {
		one_line(c->last_error, sizeof(c->last_error), PQerrorMessage(conn));
		rc = -EIO;
	}
	if (rc < 0) {
		PQfinish(conn);
		return store_fail(s, rc == -ETIMEDOUT ? -ETIMEDOUT : -ENOTCONN,
				  "cannot connect to the store (%s): %s", c->where, c->last_error);
	}
	c->conn = conn;
	c->in_tx = false;
	if ((rc = session_setup(s, c)) < 0)
		drop(c);
	return rc;
}

/* An idle connection the server wrote to (its goodbye before a restart, or EOF) is gone:
 * true while nothing says so. */
static bool idle_alive(struct pgc *c)
{
	if (PQstatus(c->conn) != CONNECTION_OK)
		return false;
	struct pollfd p = { .fd = PQsocket(c->conn), .events = POLLIN };
	if (p.fd < 0)
		return false;
	if (poll(&p, 1, 0) <= 0)
		return true;
	if (!PQconsumeInput(c->conn) || PQstatus(c->conn) != CONNECTION_OK)
		return false;
	/* Something arrived and the socket is still open: a FATAL error before the close, or
	 * a notification. A second look tells them apart without waiting. */
	p.revents = 0;
	if (poll(&p, 1, 0) > 0 && (!PQconsumeInput(c->conn) || PQstatus(c->conn) != CONNECTION_OK))
		return false;
	PGresult *r;
	bool alive = true;
	while (!PQisBusy(c->conn) && (r = PQgetResult(c->conn))) {
		alive = alive && PQresultStatus(r) != PGRES_FATAL_ERROR;
		PQclear(r);
	}
	return alive;
}

/* A usable connection for the next statement, or a one-line reason. Inside a transaction
 * a lost connection fails the operation: its transaction is gone with it. */
static int ensure_connected(struct store *s, struct pgc *c)
{
	if (c->conn && idle_alive(c))
		return 0;
	if (c->conn) {
		bool in_tx = c->in_tx;
		drop(c);
		snprintf(c->last_error, sizeof(c->last_error), "the server closed the connection");
		if (in_tx)
			return store_fail(s, -ENOTCONN, "lost the connection to the store (%s) in a "
					  "transaction; nothing of it was applied", c->where);
	}
	int64_t now = monotonic_ms();
	if (!backoff_due(&c->reconnect, now))
		return store_fail(s, -ENOTCONN, "the store (%s) is unreachable: %s (next attempt "
				  "in %.1f s)", c->where, c->last_error,
				  (double)(c->reconnect.next_ms - now) / 1000.0);
	int rc = connect_once(s, c);
	if (rc < 0)
		backoff_failed(&c->reconnect, monotonic_ms(), RECONNECT_BASE_MS, RECONNECT_MAX_MS);
	else
		backoff_reset(&c->reconnect);
	return rc;
}

/* SQLSTATE to errno: what the store's callers tell apart. */
static int errno_of(const char *state)
{
	if (!state)
		return -EIO;
	if (!strcmp(state, "23505"))
		return -EEXIST;
	if (!strncmp(state, "23", 2))
		return -EINVAL;
	if (!strcmp(state, "57014"))
		return -ETIMEDOUT;              /* statement_timeout */
	if (!strcmp(state, "55P03") || !strcmp(state, "40001") || !strcmp(state, "40P01"))
		return -EBUSY;                  /* lock_timeout, serialization, deadlock */
	if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3))
		return -ENOTCONN;
	return -EIO;
}

/* The results of the statement sent, the last one kept (an error wins), within the
 * deadline; a missed deadline or a broken connection closes it. */
static int collect(struct store *s, struct pgc *c, PGresult **out)
{
	PGresult *keep = NULL;
	int rc = 0;
	for (;;) {
		int f = PQflush(c->conn);
		if (f == 0)
			break;
		if (f < 0 || (rc = wait_socket(c->conn, POLLOUT | POLLIN, c->deadline)) < 0 ||
		    !PQconsumeInput(c->conn))
			goto broken;
	}
	for (;;) {
		while (!PQisBusy(c->conn)) {
			PGresult *r = PQgetResult(c->conn);
			if (!r) {
				*out = keep;
				return 0;
			}
			if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
				PQclear(r);
				continue;
			}
			PQclear(keep);
			keep = r;
		}
		if ((rc = wait_socket(c->conn, POLLIN, c->deadline)) < 0 || !PQconsumeInput(c->conn))
			goto broken;
	}
broken:
	PQclear(keep);
	char why[256];
	one_line(why, sizeof(why), PQerrorMessage(c->conn));
	bool in_tx = c->in_tx;
	drop(c);
	if (rc == -ETIMEDOUT) {
		/* Counted as a failed attempt: the next call fails fast until the backoff is
		 * due instead of spending its whole deadline on a server that does not answer. */
		backoff_failed(&c->reconnect, monotonic_ms(), RECONNECT_BASE_MS, RECONNECT_MAX_MS);
		snprintf(c->last_error, sizeof(c->last_error), "no answer within %d ms",
			 c->timeout_ms);
		return store_fail(s, -ETIMEDOUT, "the store (%s) did not answer within %d ms; "
				  "connection closed%s", c->where, c->timeout_ms,
				  in_tx ? ", its transaction not applied" : "");
	}
	snprintf(c->last_error, sizeof(c->last_error), "%s", why);
	return store_fail(s, -ENOTCONN, "lost the connection to the store (%s): %s", c->where,
			  why);
}

static int exec_now(struct store *s, struct pgc *c, const char *sql, int n,
		    const char *const *params, PGresult **res)
{
	int rc = ensure_connected(s, c);
	if (rc < 0)
		return rc;
	int sent = n > 0 ? PQsendQueryParams(c->conn, sql, n, NULL, params, NULL, NULL, 0)
			 : PQsendQuery(c->conn, sql);
	PGresult *r = NULL;
	if (!sent) {
		char why[256];
		one_line(why, sizeof(why), PQerrorMessage(c->conn));
		drop(c);
		return store_fail(s, -ENOTCONN, "lost the connection to the store (%s): %s",
				  c->where, why);
	}
	if ((rc = collect(s, c, &r)) < 0)
		return rc;
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
		char why[256];
		one_line(why, sizeof(why), r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
					     : PQerrorMessage(c->conn));
		rc = store_fail(s, errno_of(state), "%s", why);
		if (rc == -ETIMEDOUT)
			store_fail(s, rc, "the store (%s) did not finish a statement within %d ms "
				   "(statement_timeout): %s", c->where, c->timeout_ms, why);
		PQclear(r);
		if (PQstatus(c->conn) != CONNECTION_OK)
			drop(c);
		return rc;
	}
	if (res)
		*res = r;
	else
		PQclear(r);
	return 0;
}

int pgc_exec(struct store *s, struct pgc *c, const char *sql, int n,
	     const char *const *params, PGresult **res)
{
	if (!c->in_tx)
		c->deadline = deadline_after_ms(c->timeout_ms);
	return exec_now(s, c, sql, n, params, res);
}

int pgc_begin(struct store *s, struct pgc *c)
{
	c->deadline = deadline_after_ms(c->timeout_ms);
	int rc = exec_now(s, c, "BEGIN", 0, NULL, NULL);
	c->in_tx = rc == 0;
	return rc;
}

int pgc_commit(struct store *s, struct pgc *c)
{
	int rc = exec_now(s, c, "COMMIT", 0, NULL, NULL);
	c->in_tx = false;
	return rc;
}

void pgc_rollback(struct store *s, struct pgc *c)
{
	if (!c->conn || !c->in_tx) {
		c->in_tx = false;
		return;
	}
	char saved[sizeof(s->error)];
	memcpy(saved, s->error, sizeof(saved));
	exec_now(s, c, "ROLLBACK", 0, NULL, NULL);
	c->in_tx = false;
	memcpy(s->error, saved, sizeof(saved));
}

/* The server's own timeouts, below the client's deadline: a slow statement or a lock wait
 * ends with the server's error and the connection stays usable. An idle transaction left
 * by a client that died is ended by the server. */
static int session_setup(struct store *s, struct pgc *c)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SET statement_timeout = %d; SET lock_timeout = %d; "
		 "SET idle_in_transaction_session_timeout = %d", c->timeout_ms * 3 / 4,
		 c->timeout_ms / 2, c->timeout_ms * 2);
	int rc = exec_now(s, c, sql, 0, NULL, NULL);
	if (rc < 0)
		snprintf(c->last_error, sizeof(c->last_error), "%.200s", s->error);
	return rc;
}

int pgc_open(struct store *s, struct pgc *c, const char *url, int timeout_ms)
{
	memset(c, 0, sizeof(*c));
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(url, &msg);
	if (!opts) {
		char why[256];
		one_line(why, sizeof(why), msg ? msg : "out of memory");
		PQfreemem(msg);
		return store_fail(s, -EINVAL, "bad store URL: %s", why);
	}
	describe(c, opts);
	PQconninfoFree(opts);
	if (!(c->url = strdup(url)))
		return store_fail(s, -ENOMEM, "out of memory");
	c->timeout_ms = timeout_ms;
	/* libpq's bound is whole seconds, at least 2: ours (the deadline) is the tighter */
	snprintf(c->connect_timeout, sizeof(c->connect_timeout), "%d",
		 timeout_ms < 2000 ? 2 : (timeout_ms + 999) / 1000);
	c->deadline = deadline_after_ms(timeout_ms);
	int rc = connect_once(s, c);
	if (rc < 0) {
		free(c->url);
		c->url = NULL;
	}
	return rc;
}

void pgc_close(struct pgc *c)
{
	drop(c);
	free(c->url);
	c->url = NULL;
}

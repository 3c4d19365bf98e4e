/* pg_server.h — a private PostgreSQL server for the store tests: initdb and pg_ctl in a
 * temporary directory, on a Unix socket only (listen_addresses = ''), run as an unprivileged
 * user when the tests run as root (runuser; postgres refuses root). The process that starts
 * it (Criterion's runner) exports its directory and binaries to the test processes through
 * the environment; a reaper process stops the server and removes the directory when that
 * process goes away, however it ends. Every command runs under a deadline. */
#ifndef BERTH_TEST_PG_SERVER_H
#define BERTH_TEST_PG_SERVER_H

#include <stddef.h>

/* Starts the server and exports it: 0, -ENOENT when the server binaries are missing
 * (why in msg), another -errno when it cannot be started (why in msg). */
int pg_server_start(char *msg, size_t len);
/* Stops it and removes its directory (the reaper does it; this waits for it). */
void pg_server_finish(void);

/* In a test process: the socket directory, "" when no server was started. */
const char *pg_server_dir(void);
/* A new, empty database: its URL in url. 0 or -errno. */
int pg_server_new_db(const char *prefix, char *url, size_t len, char *dbname, size_t dblen);
/* Runs sql on dbname as the superuser; the first column of the first row in out (may be
 * NULL). 0 or -1 with the error in out. */
int pg_server_sql(const char *dbname, const char *sql, char *out, size_t len);

/* Every process of the server stopped (SIGSTOP) or continued: a database that stops
 * answering, and comes back. */
int pg_server_freeze(void);
int pg_server_thaw(void);
/* pg_ctl stop -m fast, and pg_ctl start, each waited for (-w) with a deadline. */
int pg_server_stop_fast(void);
int pg_server_start_again(void);

#endif

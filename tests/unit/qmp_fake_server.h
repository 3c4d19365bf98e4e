/* qmp_fake_server.h — a fake QEMU for the QMP client and monitor tests (test_qmp.c,
 * test_qemu_monitor.c): a thread with a
 * listening Unix socket in a temporary directory that greets, negotiates qmp_capabilities and
 * then acts on the command name (answer, error, events first, byte by byte, stale ids,
 * silence, close mid-reply, garbage, a 10 MB line, quit, ...). It serves one connection per
 * srv_start and records what it saw (requests, end of stream, the last request) under a lock.
 * Every wait is bounded; synchronisation is by socket state and mutexes, never fixed sleeps. */
#ifndef BERTH_TESTS_QMP_FAKE_SERVER_H
#define BERTH_TESTS_QMP_FAKE_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <jansson.h>

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, " \
	"\"package\": \"fake\"}, \"capabilities\": [\"oob\"]}}\r\n"

/* srv_start flags: send the greeting and replies a byte at a time; answer qmp_capabilities
 * with an error; after negotiating, read every request and answer none. */
enum { SRV_BYTEWISE = 1, SRV_REFUSE_CAPS = 2, SRV_SILENT = 4 };

struct fake_server {
	char dir[64];
	char path[128];
	int listen_fd;
	int stop_pipe[2];
	pthread_t thread;
	bool running;
	const char *greeting;    /* NULL: close at once; "": say nothing */
	unsigned flags;

	pthread_mutex_t lock;
	int requests;            /* requests read, qmp_capabilities included */
	int eofs;                /* times the client closed its end */
	bool negotiated;         /* the first request was a bare qmp_capabilities with an id */
	json_t *last;            /* last request */
	const char *status;      /* query-status's return value (JSON); NULL: running. Set it
				  * after srv_start, before the client sends query-status. */
	const char *migrate_info;   /* query-migrate's return value (JSON); NULL: active. Set
				     * with srv_set (the fake reads it under the lock) */
	const char *silent_cmd;     /* a command read and never answered (NULL: none); srv_set */
};

/* The one fake server (a test runs at most one at a time). */
extern struct fake_server srv;

/* Starts the server thread. greeting: the first thing sent on accept (NULL: close at once;
 * "": say nothing; anything but GREETING: read one request and stay silent). */
void srv_start(const char *greeting, unsigned flags);
/* Stops the thread, removes the socket and directory. Safe when not started. */
void srv_stop(void);
/* Sets a string field of srv under its lock (the fake thread reads it under the lock). */
void srv_set(const char **field, const char *value);
/* Reads an int field of srv under its lock. */
int srv_get(int *field);
/* Waits until the fake saw the client close (bounded). */
bool srv_wait_eof(int timeout_ms);

#endif

/* qmp.h — a blocking client for the QEMU Machine Protocol (QMP), the JSON control socket of
 * every QEMU process Berth runs. Every operation has a deadline: connecting, the greeting and
 * capability negotiation, and each command (the write and the whole wait for its reply).
 *
 * Framing: one JSON object per line, "\n" or "\r\n" (QEMU's default output; -qmp ...,pretty=on
 * is not supported). A message longer than QMP_MSG_MAX fails the call with -EMSGSIZE; memory
 * held for a connection stays bounded (QMP_MSG_MAX plus one read, plus the event queue).
 *
 * Failures: every error except -EREMOTEIO (QEMU answered with an error) and -EINVAL (bad
 * arguments to this API) closes the connection; every later call then returns -ENOTCONN, while
 * events already queued can still be popped. A missed deadline therefore never lets a late
 * reply be taken for the next command's. Callers that need QEMU again reconnect.
 *
 * Replies: each command carries a fresh integer "id". A reply with another id (left over from
 * an earlier exchange) is dropped. An error reply without an id (QEMU sends those when it could
 * not parse a request) is taken as the answer to the pending command: there is only ever one.
 * Lines that are not JSON objects (or objects that are neither event, reply nor greeting) are
 * logged and skipped; more than QMP_GARBAGE_MAX of them in a row fail the call with -EPROTO.
 * Numbers beyond 64-bit signed range (QEMU prints uint64 values as such) make jansson refuse a
 * message; it is then re-read with every number as a real, so it is still delivered.
 *
 * quit: QEMU emits SHUTDOWN, answers, then closes; it may also close before the answer is
 * written. qmp_execute("quit") returns 0 when the answer arrived and -ECONNRESET when the
 * socket closed first. Callers treat both as "quit sent" and confirm with the process itself
 * (waitpid with a deadline, then SIGKILL); -ETIMEDOUT means QEMU did not react.
 *
 * Events arriving while a command waits, or read by qmp_poll_events, go to a FIFO queue of at
 * most QMP_EVENT_QUEUE_MAX; when full the oldest is dropped (logged).
 *
 * One client belongs to one thread at a time; there is no global state. Logs: component "qmp". */
#ifndef BERTH_QMP_H
#define BERTH_QMP_H

#include <stddef.h>
#include <jansson.h>

#define QMP_DEFAULT_TIMEOUT_MS 5000
#define QMP_HEAVY_TIMEOUT_MS 30000     /* quit, migrate, device_del, blockdev-del, system_reset */
#define QMP_MSG_MAX (1024 * 1024)      /* one message (line), bytes */
#define QMP_EVENT_QUEUE_MAX 1024
#define QMP_GARBAGE_MAX 16             /* consecutive unusable lines tolerated */

struct qmp_client;

/* Connects to QEMU's QMP socket at path, reads the greeting and negotiates capabilities (none
 * enabled), all within timeout_ms (<= 0: QMP_DEFAULT_TIMEOUT_MS). Returns the client, or NULL
 * with *err (if err is not NULL) set to -ENOENT / -ECONNREFUSED (nothing listening),
 * -ETIMEDOUT, -ECONNRESET (closed before negotiation ended), -EPROTO (the first message is not
 * a QMP greeting, or qmp_capabilities failed), -EMSGSIZE, -ENOMEM or another -errno. */
struct qmp_client *qmp_connect(const char *path, int timeout_ms, int *err);

/* Closes the connection (if still open), drops queued events and frees c. NULL is a no-op. */
void qmp_close(struct qmp_client *c);

/* The socket, for poll(2) in callers (readable = something for qmp_poll_events), or -1 once
 * the connection is closed. qmp_execute and qmp_poll_events queue every complete message
 * they received, so: drain qmp_next_event first, then poll the fd. */
int qmp_fd(const struct qmp_client *c);

/* The deadline qmp_execute uses for cmd when given timeout_ms 0. */
int qmp_default_timeout_ms(const char *cmd);

/* Runs cmd with args (a JSON object or NULL; the reference is stolen in every case).
 * timeout_ms 0 (or < 0): qmp_default_timeout_ms(cmd). ret (may be NULL) receives the "return"
 * value on success (a new reference) and NULL otherwise. err_desc (may be NULL) receives a
 * description on failure: "Class: desc" for -EREMOTEIO.
 * Returns 0; -EREMOTEIO (QEMU's error reply; connection kept); -ETIMEDOUT; -ECONNRESET (peer
 * closed, see quit above); -EPROTO; -EMSGSIZE; -ENOTCONN (closed earlier); -EINVAL (cmd NULL
 * or args not an object; connection kept); -ENOMEM. */
int qmp_execute(struct qmp_client *c, const char *cmd, json_t *args, int timeout_ms,
		json_t **ret, char *err_desc, size_t err_len);

/* Reads events into the queue. Returns as soon as the queue is not empty (after taking in what
 * is already readable, up to QMP_EVENT_QUEUE_MAX messages), or when timeout_ms passed (0: only
 * what is readable now, never waits). Replies that arrive here (stale) are dropped. Returns the number of queued events (>= 0), or -ECONNRESET (QEMU closed; the events
 * it sent first stay queued), -EPROTO, -EMSGSIZE, -ENOTCONN. */
int qmp_poll_events(struct qmp_client *c, int timeout_ms);

/* Pops the oldest queued event object (caller decrefs), or NULL when the queue is empty. */
json_t *qmp_next_event(struct qmp_client *c);

/* An event's "event" member ("SHUTDOWN", "STOP", ...), or NULL. */
const char *qmp_event_name(const json_t *ev);
/* For a SHUTDOWN event its data.reason ("guest-shutdown", "host-qmp-quit", "host-signal",
 * "guest-panic", "guest-reset", ...); NULL for other events or when absent. */
const char *qmp_shutdown_reason(const json_t *ev);

#endif

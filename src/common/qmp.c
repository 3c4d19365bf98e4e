/* qmp.c — the QMP client Berth uses to drive QEMU: connect and negotiate, run commands with a
 * deadline each, collect events (see qmp.h for the contract). All socket I/O goes through
 * deadline_io; the receive buffer is split into lines here and each line parsed by jansson.
 * Owns the rule "QMP deadline" of docs/architecture.md (bug class 2).
 */
#include "qmp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deadline_io.h"
#include "log.h"

#define COMP "qmp"
#define RECV_INITIAL 4096
/* Room for the longest accepted line and its "\r\n". */
#define RECV_MAX ((size_t)QMP_MSG_MAX + 2)
/* Messages qmp_poll_events takes in without waiting once it has an event to hand back: a
 * flood cannot keep it from returning. */
#define POLL_DRAIN_MAX QMP_EVENT_QUEUE_MAX

struct qmp_client {
	int fd;
	char *path;              /* for logs */
	long long next_id;
	unsigned garbage;        /* unusable lines in a row */

	/* Received bytes not yet consumed are buf[start, len); buf[start, scanned) holds no '\n'. */
	char *buf;
	size_t cap, start, len, scanned;

	json_t *evq[QMP_EVENT_QUEUE_MAX];   /* ring: oldest at evq_head */
	size_t evq_head, evq_count;
	unsigned long evq_dropped;
};

static const char *const heavy_commands[] = {
	"quit", "migrate", "device_del", "blockdev-del", "system_reset",
};

int qmp_default_timeout_ms(const char *cmd)
{
	for (size_t i = 0; cmd && i < sizeof(heavy_commands) / sizeof(heavy_commands[0]); i++)
		if (strcmp(cmd, heavy_commands[i]) == 0)
			return QMP_HEAVY_TIMEOUT_MS;
	return QMP_DEFAULT_TIMEOUT_MS;
}

static void set_desc(char *out, size_t outlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_desc(char *out, size_t outlen, const char *fmt, ...)
{
	if (!out || outlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
}

/* Copies at most 80 bytes of s into out for a log value: quotes, backslashes and
 * non-printable bytes become '?'. */
static void log_excerpt(char *out, size_t outlen, const char *s, size_t n)
{
	size_t max = outlen - 4, o = 0;
	if (max > 80)
		max = 80;
	for (size_t i = 0; i < n && o < max; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[o++] = (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') ? '?' : (char)ch;
	}
	if (n > max)
		for (int i = 0; i < 3; i++)
			out[o++] = '.';
	out[o] = '\0';
}

/* ---------------------------------------------------------------- connection state */

static void disconnect(struct qmp_client *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		log_debug(COMP, "msg=disconnected path=%s", c->path);
	}
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->cap = c->start = c->len = c->scanned = 0;
}

int qmp_fd(const struct qmp_client *c)
{
	return c ? c->fd : -1;
}

static void evq_push(struct qmp_client *c, json_t *ev)
{
	if (c->evq_count == QMP_EVENT_QUEUE_MAX) {
		json_t *old = c->evq[c->evq_head];
		c->evq_dropped++;
		if (c->evq_dropped == 1 || c->evq_dropped % 256 == 0)
			log_warn(COMP, "msg=\"event queue full, oldest dropped\" path=%s event=%s "
				 "dropped_total=%lu", c->path,
				 qmp_event_name(old) ? qmp_event_name(old) : "?", c->evq_dropped);
		json_decref(old);
		c->evq_head = (c->evq_head + 1) % QMP_EVENT_QUEUE_MAX;
		c->evq_count--;
	}
	c->evq[(c->evq_head + c->evq_count) % QMP_EVENT_QUEUE_MAX] = ev;
	c->evq_count++;
}

json_t *qmp_next_event(struct qmp_client *c)
{
	if (!c || c->evq_count == 0)
		return NULL;
	json_t *ev = c->evq[c->evq_head];
	c->evq[c->evq_head] = NULL;
	c->evq_head = (c->evq_head + 1) % QMP_EVENT_QUEUE_MAX;
	c->evq_count--;
	return ev;
}

const char *qmp_event_name(const json_t *ev)
{
	return json_string_value(json_object_get(ev, "event"));
}

const char *qmp_shutdown_reason(const json_t *ev)
{
	const char *name = qmp_event_name(ev);
	if (!name || strcmp(name, "SHUTDOWN") != 0)
		return NULL;
	return json_string_value(json_object_get(json_object_get(ev, "data"), "reason"));
}

/* ---------------------------------------------------------------- line framing */

/* Takes the next complete line out of the buffer (without its "\n" or "\r\n").
 * 1: *line and *n set (valid until the next fill); 0: no complete line yet; -EMSGSIZE. */
static int next_line(struct qmp_client *c, const char **line, size_t *n)
{
	char *nl = c->scanned < c->len ? memchr(c->buf + c->scanned, '\n', c->len - c->scanned)
				       : NULL;
	if (!nl) {
		c->scanned = c->len;
		return c->len - c->start >= RECV_MAX ? -EMSGSIZE : 0;
	}
	size_t end = (size_t)(nl - c->buf);
	size_t len = end - c->start;
	if (len > 0 && c->buf[c->start + len - 1] == '\r')
		len--;
	if (len > QMP_MSG_MAX)
		return -EMSGSIZE;
	*line = c->buf + c->start;
	*n = len;
	c->start = c->scanned = end + 1;
	return 1;
}

/* Reads more bytes into the buffer. > 0 bytes read; -ECONNRESET at end of stream;
 * -ETIMEDOUT; other -errno. */
static int fill(struct qmp_client *c, int64_t deadline)
{
	if (c->start > 0) {
		size_t pending = c->len - c->start;
		memmove(c->buf, c->buf + c->start, pending);
		c->scanned -= c->start;
		c->len = pending;
		c->start = 0;
	}
	if (c->len == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : RECV_INITIAL;
		if (cap > RECV_MAX)
			cap = RECV_MAX;
		if (cap <= c->cap)
			return -EMSGSIZE;   /* next_line refuses first; kept as a guard */
		char *nb = realloc(c->buf, cap);
		if (!nb)
			return -ENOMEM;
		c->buf = nb;
		c->cap = cap;
	}
	ssize_t r = dio_read_some(c->fd, c->buf + c->len, c->cap - c->len, deadline);
	if (r == 0)
		return -ECONNRESET;
	if (r < 0)
		return (int)r;
	c->len += (size_t)r;
	return (int)r;
}

static json_t *parse_object(const char *s, size_t n)
{
	json_error_t e;
	json_t *v = json_loadb(s, n, 0, &e);
	if (!v && json_error_code(&e) == json_error_numeric_overflow)
		v = json_loadb(s, n, JSON_DECODE_INT_AS_REAL, &e);
	if (v && !json_is_object(v)) {
		json_decref(v);
		v = NULL;
	}
	return v;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/* Counts one unusable line; -EPROTO once there were too many in a row. */
static int note_garbage(struct qmp_client *c, const char *what, const char *s, size_t n)
{
	char ex[96];
	log_excerpt(ex, sizeof(ex), s, n);
	log_warn(COMP, "msg=\"%s, skipped\" path=%s line=\"%s\"", what, c->path, ex);
	if (++c->garbage > QMP_GARBAGE_MAX) {
		log_warn(COMP, "msg=\"too many unusable lines\" path=%s count=%u", c->path, c->garbage);
		return -EPROTO;
	}
	return 0;
}

/* The next JSON object from the peer, reading until deadline (deadline 0: only what is
 * buffered already; -EAGAIN when no complete line is). strict: a line that is not a JSON
 * object is -EPROTO instead of being skipped. */
static int read_object(struct qmp_client *c, int64_t deadline, bool strict, json_t **out)
{
	for (;;) {
		const char *line;
		size_t n;
		int rc = next_line(c, &line, &n);
		if (rc < 0) {
			log_warn(COMP, "msg=\"message too long\" path=%s max=%d", c->path, QMP_MSG_MAX);
			return rc;
		}
		if (rc == 1) {
			if (blank(line, n))
				continue;
			json_t *v = parse_object(line, n);
			if (v) {
				*out = v;
				return 0;
			}
			if (strict)
				return -EPROTO;
			rc = note_garbage(c, "not a JSON object", line, n);
			if (rc < 0)
				return rc;
			continue;
		}
		if (deadline == 0)
			return -EAGAIN;
		rc = fill(c, deadline);
		if (rc < 0)
			return rc;
	}
}

static bool id_matches(const json_t *id, long long want)
{
	if (json_is_integer(id))
		return json_integer_value(id) == want;
	if (json_is_real(id))
		return json_real_value(id) == (double)want;
	return false;
}

/* Routes one received object: events are queued, the reply to want_id (0: none expected) is
 * handed back (return 1), other replies are dropped, anything else counts as garbage.
 * Takes the reference to msg. */
static int dispatch(struct qmp_client *c, json_t *msg, long long want_id, json_t **reply)
{
	if (json_is_string(json_object_get(msg, "event"))) {
		c->garbage = 0;
		log_debug(COMP, "msg=event path=%s event=%s", c->path, qmp_event_name(msg));
		evq_push(c, msg);
		return 0;
	}
	json_t *err = json_object_get(msg, "error");
	if (json_object_get(msg, "return") || json_is_object(err)) {
		c->garbage = 0;
		json_t *id = json_object_get(msg, "id");
		if (want_id > 0 && (id_matches(id, want_id) || (!id && err))) {
			*reply = msg;
			return 1;
		}
		char *s = id ? json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
		log_debug(COMP, "msg=\"stale reply dropped\" path=%s id=%s want=%lld", c->path,
			  s ? s : "none", want_id);
		free(s);
		json_decref(msg);
		return 0;
	}
	char *s = json_dumps(msg, JSON_COMPACT);
	int rc = note_garbage(c, "unexpected message", s ? s : "?", s ? strlen(s) : 1);
	free(s);
	json_decref(msg);
	return rc;
}

/* ---------------------------------------------------------------- commands */

static const char *errname(int rc)
{
	switch (rc) {
	case -ETIMEDOUT: return "ETIMEDOUT";
	case -ECONNRESET: return "ECONNRESET";
	case -EPROTO: return "EPROTO";
	case -EMSGSIZE: return "EMSGSIZE";
	case -ENOTCONN: return "ENOTCONN";
	case -ENOMEM: return "ENOMEM";
	case -EREMOTEIO: return "EREMOTEIO";
	case -EINVAL: return "EINVAL";
	case -ENOENT: return "ENOENT";
	case -ECONNREFUSED: return "ECONNREFUSED";
	default: return "other";
	}
}

/* Takes the outcome out of a reply: 0 with *ret, or -EREMOTEIO with the description. */
static int take_reply(json_t *reply, json_t **ret, char *err_desc, size_t err_len)
{
	json_t *err = json_object_get(reply, "error");
	if (err) {
		const char *cls = json_string_value(json_object_get(err, "class"));
		const char *desc = json_string_value(json_object_get(err, "desc"));
		set_desc(err_desc, err_len, "%s: %s", cls ? cls : "GenericError",
			 desc ? desc : "(no description)");
		return -EREMOTEIO;
	}
	if (ret)
		*ret = json_incref(json_object_get(reply, "return"));
	return 0;
}

/* The request line for cmd (args stolen). 0 with *line (malloc'd), -EINVAL (cmd not UTF-8)
 * or -ENOMEM. */
static int encode_request(const char *cmd, json_t *args, long long id, char **line,
			  size_t *len)
{
	json_t *req = json_object();
	if (!req) {
		json_decref(args);
		return -ENOMEM;
	}
	json_t *jcmd = json_string(cmd);
	int rc = jcmd ? 0 : -EINVAL;
	if (json_object_set_new(req, "execute", jcmd) < 0 && rc == 0)
		rc = -ENOMEM;
	if (args && json_object_set_new(req, "arguments", args) < 0 && rc == 0)
		rc = -ENOMEM;
	if (json_object_set_new(req, "id", json_integer(id)) < 0 && rc == 0)
		rc = -ENOMEM;
	char *s = rc == 0 ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (rc < 0)
		return rc;
	size_t n = s ? strlen(s) : 0;
	char *l = s ? realloc(s, n + 2) : NULL;
	if (!l) {
		free(s);
		return -ENOMEM;
	}
	l[n] = '\n';
	l[n + 1] = '\0';
	*line = l;
	*len = n + 1;
	return 0;
}

static int execute_until(struct qmp_client *c, const char *cmd, json_t *args, int64_t deadline,
			 int timeout_ms, json_t **ret, char *err_desc, size_t err_len)
{
	if (c->fd < 0) {
		json_decref(args);
		set_desc(err_desc, err_len, "not connected to QEMU");
		return -ENOTCONN;
	}
	long long id = c->next_id++;
	size_t len = 0;
	char *line = NULL;
	int rc = encode_request(cmd, args, id, &line, &len);
	if (rc < 0) {
		set_desc(err_desc, err_len, "%s", rc == -EINVAL ? "command name is not UTF-8"
							       : "out of memory");
		return rc;
	}
	log_debug(COMP, "msg=execute path=%s cmd=%s id=%lld", c->path, cmd, id);
	rc = dio_write_all(c->fd, line, len, deadline);
	free(line);
	if (rc == -EPIPE)
		rc = -ECONNRESET;
	json_t *reply = NULL;
	while (rc == 0) {
		json_t *msg;
		rc = read_object(c, deadline, false, &msg);
		if (rc == 0) {
			rc = dispatch(c, msg, id, &reply);
			if (rc == 1)
				break;
		}
	}
	if (rc == 1) {
		/* Events that came in the same read as the reply are queued now, so that a caller
		 * who drains qmp_next_event and then polls qmp_fd misses none. A problem there is
		 * left for the next call to meet. */
		json_t *msg;
		while (read_object(c, 0, false, &msg) == 0 && dispatch(c, msg, 0, NULL) == 0)
			;
		rc = take_reply(reply, ret, err_desc, err_len);
		json_decref(reply);
		if (rc == -EREMOTEIO)
			log_debug(COMP, "msg=\"error reply\" path=%s cmd=%s id=%lld error=\"%s\"",
				  c->path, cmd, id, err_desc ? err_desc : "");
		return rc;
	}

	switch (rc) {
	case -ETIMEDOUT:
		set_desc(err_desc, err_len, "no reply to %s within %d ms", cmd, timeout_ms);
		break;
	case -ECONNRESET:
		set_desc(err_desc, err_len, "QEMU closed the connection during %s", cmd);
		break;
	case -EMSGSIZE:
		set_desc(err_desc, err_len, "message from QEMU longer than %d bytes", QMP_MSG_MAX);
		break;
	case -EPROTO:
		set_desc(err_desc, err_len, "QEMU sent unusable data");
		break;
	default:
		set_desc(err_desc, err_len, "%s: %s", cmd, strerror(-rc));
		break;
	}
	log_msg(strcmp(cmd, "quit") == 0 && rc == -ECONNRESET ? LOG_DEBUG : LOG_WARN, COMP,
		"msg=\"command failed, connection closed\" path=%s cmd=%s id=%lld err=%s",
		c->path, cmd, id, errname(rc));
	disconnect(c);
	return rc;
}

int qmp_execute(struct qmp_client *c, const char *cmd, json_t *args, int timeout_ms,
		json_t **ret, char *err_desc, size_t err_len)
{
	if (ret)
		*ret = NULL;
	if (err_desc && err_len)
		err_desc[0] = '\0';
	if (!c || !cmd || (args && !json_is_object(args))) {
		json_decref(args);
		set_desc(err_desc, err_len, "invalid arguments");
		return -EINVAL;
	}
	if (timeout_ms <= 0)
		timeout_ms = qmp_default_timeout_ms(cmd);
	return execute_until(c, cmd, args, deadline_after_ms(timeout_ms), timeout_ms, ret,
			     err_desc, err_len);
}

/* ---------------------------------------------------------------- events */

int qmp_poll_events(struct qmp_client *c, int timeout_ms)
{
	if (!c)
		return -EINVAL;
	if (c->fd < 0)
		return -ENOTCONN;
	int64_t deadline = deadline_after_ms(timeout_ms > 0 ? timeout_ms : 0);
	unsigned drained = 0;
	for (;;) {
		/* Once something can be handed back, only take what is readable right now. */
		bool have = c->evq_count > 0;
		if (have && drained++ >= POLL_DRAIN_MAX)
			return (int)c->evq_count;
		json_t *msg;
		int rc = read_object(c, have ? monotonic_ms() - 1 : deadline, false, &msg);
		if (rc == 0)
			rc = dispatch(c, msg, 0, NULL);
		if (rc == -ETIMEDOUT)
			return (int)c->evq_count;
		if (rc < 0) {
			log_msg(rc == -ECONNRESET ? LOG_INFO : LOG_WARN, COMP,
				"msg=\"connection closed\" path=%s err=%s queued=%zu", c->path,
				errname(rc), c->evq_count);
			disconnect(c);
			return rc;
		}
	}
}

/* ---------------------------------------------------------------- connect / close */

/* Checks the greeting {"QMP": {"version": {"qemu": {...}, "package": ...}, "capabilities": [...]}}
 * and writes QEMU's version to ver. */
static int check_greeting(struct qmp_client *c, json_t *msg, char *ver, size_t verlen)
{
	json_t *qmp = json_object_get(msg, "QMP");
	if (!json_is_object(qmp)) {
		char *s = json_dumps(msg, JSON_COMPACT);
		char ex[96];
		log_excerpt(ex, sizeof(ex), s ? s : "?", s ? strlen(s) : 1);
		log_warn(COMP, "msg=\"not a QMP greeting\" path=%s line=\"%s\"", c->path, ex);
		free(s);
		return -EPROTO;
	}
	json_t *v = json_object_get(json_object_get(qmp, "version"), "qemu");
	snprintf(ver, verlen, "%lld.%lld.%lld",
		 (long long)json_integer_value(json_object_get(v, "major")),
		 (long long)json_integer_value(json_object_get(v, "minor")),
		 (long long)json_integer_value(json_object_get(v, "micro")));
	return 0;
}

struct qmp_client *qmp_connect(const char *path, int timeout_ms, int *err)
{
	int rc;
	if (timeout_ms <= 0)
		timeout_ms = QMP_DEFAULT_TIMEOUT_MS;
	int64_t deadline = deadline_after_ms(timeout_ms);
	struct qmp_client *c = calloc(1, sizeof(*c));
	if (!c || !path || !(c->path = strdup(path))) {
		rc = path ? -ENOMEM : -EINVAL;
		free(c);
		if (err)
			*err = rc;
		return NULL;
	}
	c->next_id = 1;
	c->fd = dio_connect_unix(path, deadline);
	if (c->fd < 0) {
		rc = c->fd;
		c->fd = -1;
		log_debug(COMP, "msg=\"connect failed\" path=%s err=%s", path, errname(rc));
		goto fail;
	}

	json_t *greeting = NULL;
	char ver[64] = "?";
	rc = read_object(c, deadline, true, &greeting);
	if (rc == 0) {
		rc = check_greeting(c, greeting, ver, sizeof(ver));
		json_decref(greeting);
	} else if (rc == -EPROTO) {
		log_warn(COMP, "msg=\"greeting is not a JSON object\" path=%s", path);
	}
	if (rc < 0) {
		if (rc != -EPROTO)
			log_warn(COMP, "msg=\"no greeting\" path=%s err=%s", path, errname(rc));
		goto fail;
	}

	char desc[256];
	rc = execute_until(c, "qmp_capabilities", NULL, deadline, timeout_ms, NULL, desc,
			   sizeof(desc));
	if (rc == -EREMOTEIO) {
		log_warn(COMP, "msg=\"capability negotiation refused\" path=%s error=\"%s\"", path,
			 desc);
		rc = -EPROTO;
	}
	if (rc < 0)
		goto fail;
	log_info(COMP, "msg=connected path=%s qemu=%s", path, ver);
	return c;

fail:
	qmp_close(c);
	if (err)
		*err = rc;
	return NULL;
}

void qmp_close(struct qmp_client *c)
{
	if (!c)
		return;
	disconnect(c);
	json_t *ev;
	while ((ev = qmp_next_event(c)))
		json_decref(ev);
	free(c->path);
	free(c);
}

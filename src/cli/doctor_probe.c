/* doctor_probe.c — every probe `berth doctor` makes, each with its own short deadline, so
 * that a target, a QEMU monitor or a store that does not answer costs at most that deadline
 * and is reported as what it is: the target's RPC socket (a fresh connection per call), a
 * VM's operator QMP socket, the store (opened and read by a child process that is killed at
 * the deadline: SQLite has no deadline of its own), and /proc. */
#include "doctor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"
#include "clock.h"
#include "deadline_io.h"
#include "jsonrpc_client.h"
#include "qmp.h"
#include "store_root.h"

int doctor_rpc(const struct doctor_ctx *x, const char *method, json_t *params, int timeout_ms,
	       json_t **res, char *err, size_t errlen)
{
	struct jrpc_client *c = jrpc_client_new(x->target.rpc_socket);
	struct jrpc_error e = { 0 };
	*res = NULL;
	int rc = c ? jrpc_call_timeout(c, method, params, timeout_ms, res, &e) : -ENOMEM;
	jrpc_client_free(c);
	if (rc == -ETIMEDOUT)
		snprintf(err, errlen, "no answer within %d ms", timeout_ms);
	else if (rc == -EREMOTEIO)
		snprintf(err, errlen, "error %d: %s", e.code, e.message);
	else if (rc < 0)
		snprintf(err, errlen, "%s", strerror(-rc));
	return rc;
}

/* Runs child(fd, arg) in a child process that writes its answer to fd; reads it until EOF
 * or the deadline (then the child is killed). 0 with *out (malloc'd, may be empty), or
 * -ETIMEDOUT, -EIO (the child failed: its exit status in *status). */
static int run_child(int timeout_ms, int (*child)(int fd, void *arg), void *arg, char **out,
		     int *status)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		close(p[0]);
		_exit(child(p[1], arg) & 0xff);
	}
	close(p[1]);
	int64_t deadline = deadline_after_ms(timeout_ms);
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	int rc = 0;
	for (;;) {
		int left = deadline_remaining_ms(deadline);
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		if (left == 0 || poll(&pfd, 1, left) == 0) {
			rc = -ETIMEDOUT;
			break;
		}
		if (len + 1024 > cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
		}
		ssize_t n = read(p[0], buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(p[0]);
	if (rc < 0)
		kill(pid, SIGKILL);
	int st = 0;
	waitpid(pid, &st, 0);      /* killed, or it closed its end: returns at once */
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (rc == 0 && *status != 0)
		rc = -EIO;
	buf[len] = '\0';
	*out = buf;
	return rc;
}

/* The child's answer on its pipe (blocking: the parent reads until its deadline). */
static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static struct store *open_store(struct cli *c, char *err, size_t errlen)
{
	return store_open_for_root(c->conf.store, c->root, STORE_ROOT_OPEN, err, errlen);
}

static int snapshot_child(int fd, void *arg)
{
	struct cli *c = arg;
	char err[512];
	struct store *s = open_store(c, err, sizeof(err));
	json_t *o;
	struct store_vm *vms = NULL;
	struct store_volume *vols = NULL;
	size_t nv = 0, nvol = 0;
	if (!s) {
		o = json_pack("{s:s}", "error", err);
	} else if (store_vm_list(s, c->conf.host, true, &vms, &nv) < 0 ||
		   store_volume_list(s, c->conf.host, true, &vols, &nvol) < 0) {
		o = json_pack("{s:s}", "error", store_error(s));
	} else {
		json_t *va = json_array(), *vo = json_array();
		for (size_t i = 0; i < nv; i++)
			json_array_append_new(va, vm_json(&vms[i]));
		for (size_t i = 0; i < nvol; i++)
			json_array_append_new(vo, volume_json(&vols[i]));
		o = json_pack("{s:o, s:o}", "vms", va, "volumes", vo);
	}
	char *text = json_dumps(o, JSON_COMPACT);
	int rc = text && write_all(fd, text, strlen(text)) == 0 ? 0 : 1;
	free(text);
	json_decref(o);
	free(vms);
	free(vols);
	store_close(s);
	return rc;
}

json_t *doctor_store_snapshot(struct cli *c, int timeout_ms, char *err, size_t errlen)
{
	char *text = NULL;
	int status = 0;
	int rc = run_child(timeout_ms, snapshot_child, c, &text, &status);
	json_t *o = rc == 0 ? json_loads(text, 0, NULL) : NULL;
	free(text);
	if (rc == -ETIMEDOUT)
		snprintf(err, errlen, "no answer within %d ms", timeout_ms);
	else if (!o)
		snprintf(err, errlen, "the store could not be read (%s)", strerror(rc < 0 ? -rc : EIO));
	else if (json_object_get(o, "error")) {
		snprintf(err, errlen, "%s", json_string_value(json_object_get(o, "error")));
		json_decref(o);
		o = NULL;
	}
	return o;
}

struct store_do {
	struct cli *c;
	int (*fn)(struct store *s, void *arg);
	void *arg;
};

static int store_do_child(int fd, void *arg)
{
	struct store_do *d = arg;
	char err[512];
	struct store *s = open_store(d->c, err, sizeof(err));
	int rc = s && d->fn(s, d->arg) == 0 ? 0 : 1;
	store_close(s);
	return rc;
}

int doctor_store_do(struct cli *c, int timeout_ms, int (*fn)(struct store *s, void *arg),
		    void *arg)
{
	struct store_do d = { c, fn, arg };
	char *text = NULL;
	int status = 0;
	int rc = run_child(timeout_ms, store_do_child, &d, &text, &status);
	free(text);
	return rc;
}

int doctor_qmp_status(const char *root, unsigned vm, int timeout_ms, char *status, size_t len)
{
	char path[BERTH_PATH_LEN];
	paths_vm_operator_monitor(path, sizeof(path), root, vm);
	int64_t deadline = deadline_after_ms(timeout_ms);
	int err = 0;
	struct qmp_client *q = qmp_connect(path, timeout_ms, &err);
	if (!q)
		return err ? err : -EIO;
	json_t *ret = NULL;
	int left = deadline_remaining_ms(deadline);
	int rc = left > 0 ? qmp_execute(q, "query-status", NULL, left, &ret, NULL, 0) : -ETIMEDOUT;
	if (rc == 0)
		snprintf(status, len, "%s", json_string_value(json_object_get(ret, "status"))
				? json_string_value(json_object_get(ret, "status")) : "?");
	json_decref(ret);
	qmp_close(q);
	return rc;
}

static bool read_small(const char *path, char *buf, size_t len, size_t *n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t r = read(fd, buf, len - 1);
	close(fd);
	if (r <= 0)
		return false;
	buf[r] = '\0';
	*n = (size_t)r;
	return true;
}

bool doctor_pid_alive(int pid)
{
	char path[64], stat[512];
	size_t n;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (pid <= 0 || !read_small(path, stat, sizeof(stat), &n))
		return false;
	const char *close_paren = strrchr(stat, ')');
	return close_paren && close_paren[1] == ' ' && close_paren[2] != 'Z';
}

char doctor_pid_state(int pid)
{
	char path[64], stat[512];
	size_t n;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (pid <= 0 || !read_small(path, stat, sizeof(stat), &n))
		return '?';
	const char *close_paren = strrchr(stat, ')');
	return close_paren && close_paren[1] == ' ' ? close_paren[2] : '?';
}

void doctor_pid_comm(int pid, char *out, size_t len)
{
	char path[64];
	size_t n;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	if (pid <= 0 || !read_small(path, out, len, &n))
		snprintf(out, len, "?");
	else
		out[strcspn(out, "\n")] = '\0';
}

bool doctor_pid_is_vm_qemu(const char *root, unsigned vm, int pid)
{
	if (pid <= 1 || !doctor_pid_alive(pid))
		return false;
	char pidfile[BERTH_PATH_LEN], path[64], want[32];
	static char args[65536];
	paths_vm_pidfile(pidfile, sizeof(pidfile), root, vm);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	size_t n = 0;
	if (!read_small(path, args, sizeof(args), &n))
		return false;
	int wlen = snprintf(want, sizeof(want), "vm%u,", vm);
	bool name = false, ours = false;
	/* argv: NUL-separated; each option's value is the next word */
	for (size_t off = 0; off < n;) {
		size_t next = off + strlen(args + off) + 1;
		if (next >= n)
			break;
		if (!strcmp(args + off, "-name"))
			name = !strncmp(args + next, want, (size_t)wlen);
		else if (!strcmp(args + off, "-pidfile"))
			ours = !strcmp(args + next, pidfile);
		off = next;
	}
	return name && ours;
}

json_t *doctor_read_json(const char *path)
{
	char *text = NULL;
	if (read_file_all(path, 8 << 20, &text, NULL) < 0)
		return NULL;
	json_t *o = json_loads(text, 0, NULL);
	free(text);
	return o;
}

int64_t doctor_mtime_ms(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return 0;
	return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

int doctor_log_last_line(const char *path, const char *needle, char *out, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	off_t from = st.st_size > DOCTOR_LOG_TAIL ? st.st_size - DOCTOR_LOG_TAIL : 0;
	char *buf = malloc(DOCTOR_LOG_TAIL + 1);
	ssize_t n = buf ? pread(fd, buf, DOCTOR_LOG_TAIL, from) : -1;
	close(fd);
	if (n < 0) {
		free(buf);
		return -EIO;
	}
	buf[n] = '\0';
	int rc = doctor_last_line_with(buf, needle, out, len);
	free(buf);
	return rc;
}

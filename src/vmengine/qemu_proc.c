/* qemu_proc.c — building QEMU's command line, launching it daemonized with a deadline, and
 * checking a pid's identity before any signal (see qemu_proc.h).
 * Owns the rule "Signals only to our QEMU" of docs/architecture.md (bug class 2).
 */
#include "qemu_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>

#include "atomic_file.h"
#include "deadline_io.h"
#include "paths.h"

#define TCG_RAM_PAD_KIB 8

#define ARGV_MAX 64

void qemu_paths_init(struct qemu_paths *p, const char *root, unsigned id)
{
	paths_vm_dir(p->dir, sizeof(p->dir), root, id);
	paths_vm_pidfile(p->pidfile, sizeof(p->pidfile), root, id);
	paths_vm_monitor(p->monitor, sizeof(p->monitor), root, id);
	paths_vm_operator_monitor(p->operator_monitor, sizeof(p->operator_monitor), root, id);
	paths_vm_console(p->console, sizeof(p->console), root, id);
	paths_vm_argv(p->argv_file, sizeof(p->argv_file), root, id);
	paths_vm_qemu_log(p->log, sizeof(p->log), root, id);
	paths_vm_qemu_run_log(p->run_log, sizeof(p->run_log), root, id);
	paths_vm_state(p->state, sizeof(p->state), root, id);
}

struct argv_builder {
	char **argv;
	int n;
	bool failed;
};

static void add(struct argv_builder *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add(struct argv_builder *b, const char *fmt, ...)
{
	if (b->failed || b->n >= ARGV_MAX - 1) {
		b->failed = true;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&b->argv[b->n], fmt, ap) < 0) {
		b->argv[b->n] = NULL;
		b->failed = true;
	} else {
		b->n++;
	}
	va_end(ap);
}

char **qemu_build_argv(const struct vmengine_config *cfg, const struct vm_spec *s,
		       const struct qemu_paths *p)
{
	struct argv_builder b = { calloc(ARGV_MAX, sizeof(char *)), 0, false };
	if (!b.argv)
		return NULL;
	add(&b, "%s", cfg->qemu);
	add(&b, "-name");
	add(&b, "vm%u,debug-threads=on", s->id);
	add(&b, "-uuid");
	add(&b, "%s", s->uuid);
	add(&b, "-S");
	add(&b, "-no-shutdown");
	add(&b, "-daemonize");
	/* -daemonize points QEMU's stderr at /dev/null unless -D names a log file: then its
	 * stderr is that file, and what it says while running (an error, a failed incoming
	 * migration, the signal that ended it) is kept. */
	add(&b, "-D");
	add(&b, "%s", p->run_log);
	add(&b, "-pidfile");
	add(&b, "%s", p->pidfile);
	add(&b, "-qmp");
	add(&b, "unix:%s,server=on,wait=off", p->monitor);
	/* A second monitor for operators (`berth qmp`, socat): vmengine keeps the first. */
	add(&b, "-qmp");
	add(&b, "unix:%s,server=on,wait=off", p->operator_monitor);
	/* The console is appended to, so every boot of the VM stays in it (qemu_launch bounds
	 * its size by rotating it). */
	add(&b, "-chardev");
	add(&b, "file,id=console0,path=%s,append=on", p->console);
	add(&b, "-serial");
	add(&b, "chardev:console0");
	add(&b, "-display");
	add(&b, "none");
	add(&b, "-nodefaults");
	add(&b, "-machine");
	add(&b, "%s,accel=%s", cfg->machine, cfg->accel);
	/* Under TCG, QEMU 7.2 loses dirty pages in precopy when a RAM block's size is a
	 * multiple of 256 KiB (its bitmap-clear fast path skips the TLB reset; fixed upstream
	 * in QEMU 9.0): 8 KiB more keeps it on the exact path. KVM gets the size asked, and so
	 * does a hugetlb backend (its size must be a multiple of the huge page size). */
	bool hugetlb = !strcmp(cfg->memory_backend, "memfd-hugetlb");
	bool tcg = strcmp(cfg->accel, "tcg") == 0 && !hugetlb;
	unsigned mem_kib = s->memory_mb * 1024u + (tcg ? TCG_RAM_PAD_KIB : 0);
	add(&b, "-m");
	if (tcg)
		add(&b, "%uK", mem_kib);
	else
		add(&b, "%u", s->memory_mb);
	add(&b, "-smp");
	add(&b, "%u", s->vcpus);
	add(&b, "-object");
	if (tcg)
		add(&b, "memory-backend-memfd,id=mem0,size=%uK,share=on", mem_kib);
	else
		add(&b, "memory-backend-memfd,id=mem0,size=%uM,share=on%s", s->memory_mb,
		    hugetlb ? ",hugetlb=on" : "");
	add(&b, "-numa");
	add(&b, "node,memdev=mem0");
	if (s->disk_vhost[0]) {
		add(&b, "-chardev");
		add(&b, "socket,id=" QEMU_DISK_CHARDEV ",path=%s,reconnect=1", s->disk_vhost);
		add(&b, "-device");
		add(&b, "vhost-user-blk-pci,chardev=" QEMU_DISK_CHARDEV ",num-queues=%u",
		    s->num_queues);
	} else if (s->disk_file[0]) {
		add(&b, "-drive");
		add(&b, "file=%s,format=raw,if=virtio", s->disk_file);
	}
	add(&b, "-device");
	add(&b, "pvpanic");
	add(&b, "-kernel");
	add(&b, "%s", s->kernel);
	if (s->initrd[0]) {
		add(&b, "-initrd");
		add(&b, "%s", s->initrd);
	}
	if (s->append[0]) {
		add(&b, "-append");
		add(&b, "%s", s->append);
	}
	if (b.failed) {
		qemu_free_argv(b.argv);
		return NULL;
	}
	return b.argv;
}

void qemu_free_argv(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

static int write_argv_file(char **argv, const char *path)
{
	json_t *arr = json_array();
	for (char **a = argv; *a; a++)
		json_array_append_new(arr, json_string(*a));
	char *text = json_dumps(arr, JSON_INDENT(1));
	json_decref(arr);
	if (!text)
		return -ENOMEM;
	int rc = atomic_write_file(path, text, strlen(text), 0600);
	free(text);
	return rc;
}

/* The last line QEMU printed, for an error message or a log line: double quotes become
 * single ones and control characters spaces, so it fits in a key="value". out is left as it
 * is when the file is missing or empty. */
static void last_log_line(const char *path, char *out, size_t len)
{
	char *text = NULL;
	if (read_file_all(path, 1 << 20, &text, NULL) < 0 || !text[0]) {
		free(text);
		return;
	}
	char *end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	char *line = strrchr(text, '\n');
	snprintf(out, len, "%s", line ? line + 1 : text);
	free(text);
	for (char *c = out; *c; c++)
		if (*c == '"')
			*c = '\'';
		else if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
}

void qemu_run_log_last_line(const struct qemu_paths *p, char *out, size_t len)
{
	if (len)
		out[0] = '\0';
	last_log_line(p->run_log, out, len);
}

/* The environment QEMU gets: vmengine's without systemd's notify socket and watchdog (they
 * are vmengine's to answer; a QEMU that wrote to them would speak for vmengine). NULL when
 * out of memory (then QEMU gets vmengine's). Built before the fork. */
static char **qemu_environ(void)
{
	extern char **environ;
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 1, sizeof(*env));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "NOTIFY_SOCKET=", 14) != 0 &&
		    strncmp(environ[i], "WATCHDOG_", 9) != 0)
			env[k++] = environ[i];
	return env;
}

/* Child side of the fork: only async-signal-safe calls until exec. */
static _Noreturn void exec_qemu(char **argv, char **envp, int log_fd)
{
	int null_fd = open("/dev/null", O_RDONLY);
	if (null_fd >= 0)
		dup2(null_fd, STDIN_FILENO);
	dup2(log_fd, STDOUT_FILENO);
	dup2(log_fd, STDERR_FILENO);
	syscall(SYS_close_range, 3u, ~0u, 0u);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (envp)
		execvpe(argv[0], argv, envp);
	else
		execvp(argv[0], argv);
	_exit(127);
}

int qemu_rotate_console(const struct qemu_paths *p)
{
	struct stat st;
	if (stat(p->console, &st) < 0 || st.st_size <= QEMU_CONSOLE_ROTATE_BYTES)
		return 0;
	char old[sizeof(p->console) + 2];
	snprintf(old, sizeof(old), "%s.1", p->console);
	return rename(p->console, old) < 0 ? -errno : 1;
}

int qemu_launch(char **argv, const struct qemu_paths *p, int timeout_ms, char *err,
		size_t errlen)
{
	int rc = write_argv_file(argv, p->argv_file);
	if (rc < 0) {
		snprintf(err, errlen, "cannot write %s: %s", p->argv_file, strerror(-rc));
		return rc;
	}
	unlink(p->pidfile);
	rc = qemu_rotate_console(p);
	if (rc < 0) {
		snprintf(err, errlen, "cannot rotate %s: %s", p->console, strerror(-rc));
		return rc;
	}
	/* QEMU truncates its -D file when it opens it: the one before this launch (how the last
	 * QEMU ended) becomes qemu-run.log.1. */
	char run_old[sizeof(p->run_log) + 2];
	snprintf(run_old, sizeof(run_old), "%s.1", p->run_log);
	if (rename(p->run_log, run_old) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot rotate %s: %s", p->run_log, strerror(errno));
		return -errno;
	}
	int log_fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (log_fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", p->log, strerror(errno));
		return -errno;
	}
	char **envp = qemu_environ();
	pid_t child = fork();
	if (child == 0)
		exec_qemu(argv, envp, log_fd);
	free(envp);
	close(log_fd);
	if (child < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -errno;
	}
	/* QEMU's first process exits once the daemon has initialised the machine. */
	int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
	int ready = pidfd >= 0 ? poll(&pfd, 1, timeout_ms) : -1;
	if (pidfd >= 0)
		close(pidfd);
	int status = 0;
	if (ready <= 0) {
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
		snprintf(err, errlen, "QEMU did not finish starting within %d ms", timeout_ms);
		return -ETIMEDOUT;
	}
	waitpid(child, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char line[256] = "no message";
		last_log_line(p->log, line, sizeof(line));
		snprintf(err, errlen, "QEMU failed to start (status %d): %s",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1, line);
		return -EIO;
	}
	/* -daemonize sets QEMU's umask to 027 before it makes the console and the monitor
	 * sockets: they are nobody else's (docs/vmengine.md). */
	chmod(p->console, 0600);
	chmod(p->monitor, 0600);
	chmod(p->operator_monitor, 0600);
	int pid = qemu_read_pidfile(p->pidfile);
	if (pid < 0)
		snprintf(err, errlen, "QEMU started but %s is unreadable", p->pidfile);
	return pid;
}

int qemu_read_pidfile(const char *path)
{
	char *text;
	int rc = read_file_all(path, 64, &text, NULL);
	if (rc < 0)
		return rc;
	char *end;
	errno = 0;
	long pid = strtol(text, &end, 10);
	bool ok = !errno && end != text && (*end == '\0' || (*end == '\n' && !end[1])) &&
		  pid > 1 && pid <= 4194304;
	free(text);
	return ok ? (int)pid : -EINVAL;
}

/* pid is alive and its argv has "-name vm<id>,..." and, when pidfile is not NULL,
 * "-pidfile <pidfile>". */
static bool cmdline_matches(int pid, unsigned id, const char *pidfile)
{
	if (pid <= 1)
		return false;
	char path[64], buf[8192];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;            /* gone, or a zombie (empty cmdline) */
	buf[n] = '\0';
	char want[32];
	int wlen = snprintf(want, sizeof(want), "vm%u,", id);
	bool name = false, name_seen = false, pidfile_ok = !pidfile, pidfile_seen = false;
	for (char *a = buf; a < buf + n; a += strlen(a) + 1) {
		char *next = a + strlen(a) + 1;
		if (next >= buf + n)
			break;
		if (!name_seen && strcmp(a, "-name") == 0) {
			name_seen = true;
			name = strncmp(next, want, (size_t)wlen) == 0;
		} else if (pidfile && !pidfile_seen && strcmp(a, "-pidfile") == 0) {
			pidfile_seen = true;
			pidfile_ok = strcmp(next, pidfile) == 0;
		}
	}
	return name && pidfile_ok;
}

bool qemu_pid_matches(int pid, unsigned id)
{
	return cmdline_matches(pid, id, NULL);
}

/* The parent pid from /proc/<pid>/stat ("pid (comm) state ppid ..."; comm may hold spaces
 * and parentheses, so parse after the last ')'), or -1. */
static int parent_of(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	int ppid;
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

#define FIND_MAX 16

int qemu_find_pid(unsigned id, const char *pidfile)
{
	DIR *dh = opendir("/proc");
	if (!dh)
		return -errno;
	int found[FIND_MAX];
	size_t n = 0;
	struct dirent *de;
	while (n < FIND_MAX && (de = readdir(dh))) {
		char *end;
		errno = 0;
		long pid = strtol(de->d_name, &end, 10);
		if (errno || end == de->d_name || *end || pid <= 1 || pid > INT_MAX)
			continue;
		if (cmdline_matches((int)pid, id, pidfile))
			found[n++] = (int)pid;
	}
	closedir(dh);
	if (n == 0)
		return -ESRCH;
	/* While -daemonize is under way QEMU's first process waits for its daemon child (both
	 * carry the same command line): prefer the one that is nobody's parent. */
	for (size_t i = 0; i < n; i++) {
		bool parent = false;
		for (size_t j = 0; j < n && !parent; j++)
			parent = j != i && parent_of(found[j]) == found[i];
		if (!parent)
			return found[i];
	}
	return found[0];
}

int qemu_signal(int pid, unsigned id, int sig)
{
	if (!qemu_pid_matches(pid, id))
		return -ESRCH;
	return kill(pid, sig) < 0 ? -errno : 0;
}

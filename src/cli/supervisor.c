/* supervisor.c — `berth up`, `berth down`, `berth status`: the supervisor for hosts without
 * systemd. `up` starts a background supervisor that runs blockd (--persist, on the
 * configured rpc_socket and vhost_dir), diskengine and vmengine in that order, each ready
 * before the next, and restarts any that exits (after restart_sec). When blockd exits it
 * applies target_restart.h's rule, as `berth target-stopped` does under systemd: both
 * TARGET_RESTART markers, then — unless the exit was a requested stop — a restart of vmengine
 * and diskengine once blockd is back. SIGUSR1 asks it to restart the target (diskengine's
 * wedge_action=restart-target). `down` stops the daemons in reverse order; VMs keep running
 * unless --vms. State for `status` is in <root>/run/supervisor.json. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "clock.h"
#include "cli.h"
#include "conf.h"
#include "daemon_lock.h"
#include "deadline_io.h"
#include "jsonrpc_client.h"
#include "log.h"
#include "metrics_conf.h"
#include "status_file.h"
#include "supervisor_watchdog.h"
#include "target_restart.h"

#define READY_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS 30000
#define RESTART_SEC_MS 1000
#define WATCHDOG_SEC_MS 15000        /* as WatchdogSec= of berth-blockd.service */
#define WATCHDOG_KILL_MS 5000        /* SIGABRT, then SIGKILL after this */

/* METRICS, the endpoint of [metrics] listen (`berth serve-metrics`), only when configured:
 * a process of its own, so that neither a scrape nor a bug in its HTTP code can stall or
 * kill the supervisor (whose death takes every daemon with it). */
enum { BLOCKD, DISKENGINE, VMENGINE, METRICS, NDAEMONS };

struct daemon {
	const char *name;
	uint64_t restart_ms;         /* [supervisor] <name>_restart_sec */
	pid_t pid;
	int64_t since_ms;
	unsigned restarts;
	int64_t restart_at;          /* monotonic ms; 0: not scheduled */
	int last_status, last_signal;  /* of its last exit (-1 / 0: none yet) */
	int64_t last_exit_ms;          /* wall ms of its last exit; 0: none */
};

struct supervisor {
	struct cli *cli;
	char bindir[PATH_MAX];
	struct daemon d[NDAEMONS];
	struct target_endpoints target;   /* [diskengine] rpc_socket, vhost_dir */
	bool target_restart_asked;         /* SIGUSR1: the next exit of blockd was requested */
	bool fault_injection;              /* [blockd] fault_injection = on: test hosts only */
	bool metrics;                      /* [metrics] listen is set */
	bool stopping;
	uint64_t watchdog_ms;              /* [supervisor] blockd_watchdog; 0: off */
	struct sup_watchdog wd;
};

static const char *g_names[NDAEMONS] = { "blockd", "diskengine", "vmengine", "metrics" };

/* The daemons this supervisor runs: the metrics endpoint only when configured. */
static bool supervised(const struct supervisor *s, int which)
{
	return which != METRICS || s->metrics;
}

/* ---------------------------------------------------------------- state */

/* The supervisor holds an exclusive flock on run/supervisor.lock for its whole life: that,
 * not a pid that may have been reused, is what says "berth is up". Returns the
 * supervisor's pid (from run/supervisor.pid) when it is up, 0 when it is not. */
pid_t supervisor_running(const struct cli *c)
{
	char path[BERTH_PATH_LEN];
	paths_supervisor_lock(path, sizeof(path), c->root);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	bool locked = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	if (!locked)
		return 0;
	paths_supervisor_pid(path, sizeof(path), c->root);
	char *text;
	if (read_file_all(path, 64, &text, NULL) < 0)
		return -1;             /* up, but its pid is not written yet */
	long pid = strtol(text, NULL, 10);
	free(text);
	return pid > 1 ? (pid_t)pid : -1;
}

static void write_state(struct supervisor *s)
{
	json_t *arr = json_array();
	for (int i = 0; i < NDAEMONS; i++) {
		if (!supervised(s, i))
			continue;
		json_t *d = json_pack("{s:s, s:i, s:I, s:i}", "name", s->d[i].name,
			"pid", (int)s->d[i].pid, "since_ms", (json_int_t)s->d[i].since_ms,
			"restarts", (int)s->d[i].restarts);
		if (s->d[i].last_exit_ms)       /* what `berth doctor` reports of its last death */
			json_object_set_new(d, "last_exit", json_pack("{s:i, s:i, s:I}",
				"status", s->d[i].last_status, "signal", s->d[i].last_signal,
				"at_ms", (json_int_t)s->d[i].last_exit_ms));
		json_array_append_new(arr, d);
	}
	char path[BERTH_PATH_LEN];
	paths_supervisor_state(path, sizeof(path), s->cli->root);
	status_file_write(path, json_pack("{s:i, s:b, s:o}", "pid", (int)getpid(),
					  "fault_injection", s->fault_injection, "daemons", arr));
}

/* ---------------------------------------------------------------- daemons */

static void daemon_binary(const struct supervisor *s, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", s->bindir, name);         /* installed side by side */
	if (access(out, X_OK) != 0)
		snprintf(out, len, "%s/../%s/%s", s->bindir, name, name);   /* the build tree */
}

static pid_t spawn(struct supervisor *s, int which)
{
	const struct cli *c = s->cli;
	char bin[PATH_MAX + 64], log[BERTH_PATH_LEN], dir[BERTH_PATH_LEN], persist[BERTH_PATH_LEN];
	daemon_binary(s, g_names[which], bin, sizeof(bin));
	paths_daemon_log(log, sizeof(log), c->root, g_names[which]);
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0) {
		if (fd >= 0)
			close(fd);
		return pid;
	}
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	/* The daemons go with their supervisor (SIGTERM: each stops as under `berth down`,
	 * VMs keep running), so a new `berth up` never finds a set it does not know. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
		_exit(1);
	if (which == BLOCKD) {      /* blockd knows no root: its lock is taken here, inherited */
		char err[BERTH_PATH_LEN + 128];
		if (daemon_lock_take(c->root, "blockd", true, err, sizeof(err)) < 0) {
			log_error("supervisor", "msg=\"refusing to start blockd\" error=\"%s\"", err);
			_exit(1);
		}
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* The daemons are the supervisor's, not systemd's: were `berth up` run by a unit, its
	 * notify socket and watchdog are not theirs to answer. */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (which == BLOCKD) {
		sup_watchdog_child_env(&s->wd);      /* the supervisor watches it (when on) */
		paths_blockd_dir(dir, sizeof(dir), c->root);
		mkdir(dir, 0700);
		paths_blockd_config(persist, sizeof(persist), c->root);
		if (s->fault_injection)
			execl(bin, "blockd", "-r", s->target.rpc_socket, "-S", s->target.vhost_dir,
			      "--persist", persist, "--fault-injection", (char *)NULL);
		else
			execl(bin, "blockd", "-r", s->target.rpc_socket, "-S", s->target.vhost_dir,
			      "--persist", persist, (char *)NULL);
	} else if (which == METRICS) {
		execl("/proc/self/exe", "berth", "--root", c->root, "serve-metrics", (char *)NULL);
	} else {
		execl(bin, g_names[which], "--root", c->root, (char *)NULL);
	}
	log_error("supervisor", "msg=\"cannot run %s\" error=\"%s\"", bin, strerror(errno));
	_exit(127);
}

static bool blockd_answers(const struct supervisor *s)
{
	struct jrpc_client *rpc = jrpc_client_new(s->target.rpc_socket);
	jrpc_client_set_timeout(rpc, 1000);
	json_t *res = NULL;
	int rc = jrpc_call(rpc, "spdk_get_version", NULL, &res, NULL);
	json_decref(res);
	jrpc_client_free(rpc);
	return rc == 0;
}

/* The engines write a status file once their loops run, the metrics endpoint once it
 * serves. */
static bool engine_ready(const struct cli *c, int which, int64_t since_wall_ms)
{
	char path[BERTH_PATH_LEN];
	if (which == VMENGINE)
		paths_vmengine_status(path, sizeof(path), c->root);
	else if (which == METRICS)
		paths_metrics_status(path, sizeof(path), c->root);
	else
		paths_diskengine_status(path, sizeof(path), c->root, "attach");
	struct stat st;
	return stat(path, &st) == 0 &&
	       (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000 >= since_wall_ms;
}

/* Starts one daemon and waits (bounded) until it is ready. An instance of a supervisor that
 * died is given STOP_TIMEOUT_MS to finish stopping (its parent-death signal) first. */
static int start_daemon(struct supervisor *s, int which)
{
	struct daemon *d = &s->d[which];
	int64_t gone = deadline_after_ms(STOP_TIMEOUT_MS);
	while (daemon_lock_held(s->cli->root, d->name)) {
		if (deadline_remaining_ms(gone) == 0) {
			log_error("supervisor", "daemon=%s msg=\"another instance holds its lock\"",
				  d->name);
			return -EALREADY;
		}
		struct timespec ts = { 0, 50 * 1000000L };      /* lock polling interval */
		nanosleep(&ts, NULL);
	}
	int64_t wall = wall_ms() - 1000;
	d->pid = spawn(s, which);
	d->since_ms = wall_ms();
	d->restart_at = 0;
	if (d->pid < 0)
		return -errno;
	if (which == BLOCKD)
		sup_watchdog_watch(&s->wd, d->pid);
	int64_t deadline = deadline_after_ms(READY_TIMEOUT_MS);
	while (deadline_remaining_ms(deadline) > 0) {
		int status;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			return -ECHILD;
		}
		if (which == BLOCKD ? blockd_answers(s) : engine_ready(s->cli, which, wall)) {
			log_info("supervisor", "daemon=%s pid=%d msg=ready", d->name, (int)d->pid);
			write_state(s);
			return 0;
		}
		struct timespec ts = { 0, 50 * 1000000L };      /* readiness polling interval */
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

static void stop_daemon(struct supervisor *s, int which)
{
	struct daemon *d = &s->d[which];
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	int64_t deadline = deadline_after_ms(STOP_TIMEOUT_MS);
	int status;
	bool killed = false;
	while (waitpid(d->pid, &status, WNOHANG) == 0) {
		if (deadline_remaining_ms(deadline) == 0) {
			if (killed) {       /* stuck in the kernel: give up on it, do not hang */
				log_info("supervisor", "daemon=%s pid=%d msg=\"did not die after SIGKILL\"", d->name,
				    (int)d->pid);
				break;
			}
			kill(d->pid, SIGKILL);
			killed = true;
			deadline = deadline_after_ms(STOP_TIMEOUT_MS);
		}
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	log_info("supervisor", "daemon=%s pid=%d msg=stopped", d->name, (int)d->pid);
	d->pid = 0;
}

static void on_child_exit(struct supervisor *s, pid_t pid, int status)
{
	for (int i = 0; i < NDAEMONS; i++) {
		struct daemon *d = &s->d[i];
		if (d->pid != pid)
			continue;
		log_info("supervisor", "daemon=%s pid=%d msg=exited status=%d signal=%d", d->name, (int)pid,
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		d->pid = 0;
		d->last_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		d->last_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		d->last_exit_ms = wall_ms();
		if (i == BLOCKD)
			sup_watchdog_watch(&s->wd, 0);
		if (s->stopping)
			return;
		d->restarts++;
		d->restart_at = monotonic_ms() + (int64_t)d->restart_ms;
		/* The target went away (target_restart.h): markers, then both engines, which
		 * come back after the target. */
		if (i == BLOCKD) {
			enum target_exit why = s->target_restart_asked
				? TARGET_EXIT_RESTART_REQUESTED : TARGET_EXIT_CRASH;
			s->target_restart_asked = false;
			if (target_restart_on_exit(s->cli->root, why)) {
				stop_daemon(s, VMENGINE);
				stop_daemon(s, DISKENGINE);
				s->d[VMENGINE].restarts++;
				s->d[DISKENGINE].restarts++;
			}
		}
		write_state(s);
	}
}

/* Restarts what is due, in dependency order: nothing before blockd answers. */
static void restart_due(struct supervisor *s)
{
	for (int i = 0; i < NDAEMONS; i++) {
		struct daemon *d = &s->d[i];
		bool due = d->pid == 0 && !s->stopping && supervised(s, i) &&
			   (d->restart_at == 0 || monotonic_ms() >= d->restart_at);
		/* The engines need the target; the metrics endpoint reports it missing. */
		if (!due || (i > BLOCKD && i != METRICS && s->d[BLOCKD].pid == 0))
			continue;
		int rc = start_daemon(s, i);
		if (rc < 0) {
			log_info("supervisor", "daemon=%s msg=\"restart failed\" error=\"%s\"", d->name, strerror(-rc));
			d->restart_at = monotonic_ms() + (int64_t)d->restart_ms;
			if (d->pid > 0)
				stop_daemon(s, i);
			return;
		}
	}
}

static const char *dirname_of(char *path)
{
	char *slash = strrchr(path, '/');
	if (slash)
		*slash = '\0';
	return path;
}

/* [supervisor] blockd_restart_sec, diskengine_restart_sec, vmengine_restart_sec,
 * blockd_watchdog */
static int supervisor_key(void *obj, const char *key, const char *value)
{
	struct supervisor *s = obj;
	if (!strcmp(key, "blockd_watchdog"))
		return conf_parse_seconds(value, 0, 3600, &s->watchdog_ms);
	for (int i = 0; i < NDAEMONS; i++) {
		char name[48];
		snprintf(name, sizeof(name), "%s_restart_sec", g_names[i]);
		if (!strcmp(key, name))
			return conf_parse_seconds(value, 0, 3600, &s->d[i].restart_ms);
	}
	return -ENOENT;
}

/* [blockd] fault_injection = on | off: blockd with --fault-injection (test hosts only). */
static int blockd_key(void *obj, const char *key, const char *value)
{
	static const char *const onoff[] = { "off", "on", NULL };
	struct supervisor *s = obj;
	int on;
	if (strcmp(key, "fault_injection") != 0)
		return -ENOENT;
	if (conf_parse_choice(value, onoff, &on) < 0)
		return -EINVAL;
	s->fault_injection = on == 1;
	return 0;
}

/* Takes the supervisor lock and writes the pidfile; -EALREADY when another one is up.
 * *unclean: the pidfile of a supervisor that did not stop cleanly was still there. */
static int take_lock(const struct cli *c, bool *unclean)
{
	char path[BERTH_PATH_LEN];
	paths_supervisor_lock(path, sizeof(path), c->root);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -EALREADY;
	}
	char pidtext[32];
	snprintf(pidtext, sizeof(pidtext), "%d\n", (int)getpid());
	paths_supervisor_pid(path, sizeof(path), c->root);
	*unclean = access(path, F_OK) == 0;
	atomic_write_file(path, pidtext, strlen(pidtext), 0600);
	return fd;                     /* held (never closed) until the process exits */
}

/* The watchdog's verdict: an event, then SIGABRT (a core, where the system keeps them);
 * the exit is a target crash like any other (markers, engines restarted). */
static void blockd_wedged(struct supervisor *s, const char *why)
{
	char msg[400];
	snprintf(msg, sizeof(msg), "blockd wedged: %s; restarting it (SIGABRT)", why);
	log_warn("supervisor", "msg=\"%s\"", msg);
	struct store *st = cli_store(s->cli);
	if (!st || store_event_add(st, s->cli->conf.host, "supervisor", 0, "warn", msg) < 0)
		log_warn("supervisor", "msg=\"cannot record the wedge as an event\"");
	sup_watchdog_watch(&s->wd, 0);
	kill(s->d[BLOCKD].pid, SIGABRT);
}

static void tell(int ready_fd, const char *msg)
{
	if (ready_fd >= 0 && write(ready_fd, msg, strlen(msg)) < 0)
		log_info("supervisor", "msg=\"berth up went away before the supervisor reported\"");
}

static int supervise(struct cli *c, int ready_fd)
{
	struct supervisor s = { .cli = c };
	log_set_level(LOG_INFO);          /* its log is run/supervisor.log */
	/* berth up may be gone (Ctrl-C) by the time we report: no SIGPIPE death then, and the
	 * report pipe must not leak into the daemons. */
	signal(SIGPIPE, SIG_IGN);
	fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
	bool unclean = false;
	int lock = take_lock(c, &unclean);
	if (lock < 0) {
		tell(ready_fd, lock == -EALREADY ? "already up\n" : "cannot take the supervisor lock\n");
		return lock == -EALREADY ? 0 : 1;
	}
	for (int i = 0; i < NDAEMONS; i++) {
		s.d[i].name = g_names[i];
		s.d[i].restart_ms = RESTART_SEC_MS;
	}
	s.watchdog_ms = WATCHDOG_SEC_MS;
	s.wd.fd = -1;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	snprintf(s.bindir, sizeof(s.bindir), "%s", dirname_of(exe));
	char conf[BERTH_PATH_LEN], err[256];
	struct metrics_conf metrics;
	paths_conf(conf, sizeof(conf), c->root);
	char path[BERTH_PATH_LEN];
	paths_supervisor_pid(path, sizeof(path), c->root);
	if (conf_load_section(conf, "supervisor", supervisor_key, &s, err, sizeof(err)) < 0 ||
	    conf_load_section(conf, "blockd", blockd_key, &s, err, sizeof(err)) < 0 ||
	    paths_target_load(&s.target, c->root, conf, err, sizeof(err)) < 0 ||
	    sup_watchdog_open(&s.wd, c->root, s.watchdog_ms, err, sizeof(err)) < 0 ||
	    metrics_conf_load(&metrics, c->root, err, sizeof(err)) < 0) {
		char msg[300];
		snprintf(msg, sizeof(msg), "bad configuration: %s\n", err);
		tell(ready_fd, msg);
		unlink(path);
		return 1;
	}

	/* The last supervisor died without stopping its daemons: their parent-death signal
	 * stopped them, blockd included — a target exit (target_restart.h) like any other. */
	if (unclean) {
		log_warn("supervisor", "msg=\"the previous supervisor did not stop cleanly\"");
		target_restart_on_exit(c->root, TARGET_EXIT_CRASH);
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);

	const char *failed = NULL;
	int rc = 0;
	s.metrics = metrics.enabled;
	for (int i = 0; i < NDAEMONS && !failed; i++)
		if (supervised(&s, i) && (rc = start_daemon(&s, i)) < 0)
			failed = g_names[i];
	char msg[256];
	snprintf(msg, sizeof(msg), failed ? "%s did not start: %s (see %s/run/%s.log)\n" : "ok\n",
		 failed ? failed : "", failed ? strerror(-rc) : "", c->root, failed ? failed : "");
	tell(ready_fd, msg);
	close(ready_fd);
	s.stopping = failed != NULL;
	int64_t target_kill_at = 0;      /* a requested target restart has a deadline */
	while (!s.stopping) {
		struct pollfd pfd[2] = { { .fd = sfd, .events = POLLIN },
					 { .fd = s.wd.fd, .events = POLLIN } };
		if (poll(pfd, 2, 200) > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
					s.stopping = true;
				else if (si.ssi_signo == SIGUSR1 && s.d[BLOCKD].pid > 0) {
					log_info("supervisor", "msg=\"target restart requested\"");
					kill(s.d[BLOCKD].pid, SIGTERM);
					s.target_restart_asked = true;
					target_kill_at = monotonic_ms() + STOP_TIMEOUT_MS;
				}
			}
		}
		sup_watchdog_drain(&s.wd);
		char why[320];
		if (!target_kill_at && s.d[BLOCKD].pid > 0 && sup_watchdog_expired(&s.wd, why,
										       sizeof(why))) {
			blockd_wedged(&s, why);
			target_kill_at = monotonic_ms() + WATCHDOG_KILL_MS;
		}
		if (target_kill_at && s.d[BLOCKD].pid > 0 && monotonic_ms() >= target_kill_at) {
			log_info("supervisor", "msg=\"target did not stop; SIGKILL\" pid=%d", (int)s.d[BLOCKD].pid);
			kill(s.d[BLOCKD].pid, SIGKILL);
			target_kill_at = 0;
		}
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if (pid == s.d[BLOCKD].pid)
				target_kill_at = 0;
			on_child_exit(&s, pid, status);
		}
		restart_due(&s);
	}
	log_info("supervisor", "msg=\"stopping daemons\"");
	bool target_was_up = s.d[BLOCKD].pid > 0;
	for (int i = NDAEMONS - 1; i >= 0; i--)
		stop_daemon(&s, i);
	if (target_was_up)      /* a requested stop: markers, the engines stay down */
		target_restart_on_exit(c->root, TARGET_EXIT_STOP_REQUESTED);
	write_state(&s);
	sup_watchdog_close(&s.wd);
	unlink(path);                    /* the pidfile; the lock goes with the process */
	return failed ? 1 : 0;
}

/* ---------------------------------------------------------------- commands */

/* The hidden `berth supervise --ready-fd N`, exec'd by `up` in the background. */
int cmd_supervise(struct cli *c, int argc, char **argv)
{
	uint64_t fd;
	if (argc != 3 || strcmp(argv[1], "--ready-fd") || !cli_parse_u64(argv[2], 3, 1024, &fd))
		return cli_usage("berth supervise --ready-fd FD (started by berth up)");
	return supervise(c, (int)fd);
}

int cmd_up(struct cli *c, int argc, char **argv)
{
	if (argc != 1)
		return cli_usage("berth up   (starts blockd, diskengine and vmengine under a "
				 "supervisor)");
	char path[BERTH_PATH_LEN], log[BERTH_PATH_LEN];
	paths_run_dir(path, sizeof(path), c->root);
	/* Not readable or lockable by other users (a root made before this rule is fixed). */
	struct stat st;
	mkdir(c->root, 0700);
	mkdir(path, 0700);
	if (stat(c->root, &st) == 0 && (st.st_mode & 027))
		chmod(c->root, st.st_mode & 07750);
	chmod(path, 0700);
	pid_t running = supervisor_running(c);
	if (running) {
		printf("berth is already up (supervisor pid %d)\n", (int)running);
		return 0;
	}
	/* The engines never create a store: a new one only on an empty root, here. */
	if (!cli_store(c))
		return 1;
	store_close(c->store);
	c->store = NULL;
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return cli_fail("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		paths_supervisor_log(log, sizeof(log), c->root);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		int ready = dup(pipefd[1]);            /* without FD_CLOEXEC */
		char fdarg[16];
		snprintf(fdarg, sizeof(fdarg), "%d", ready);
		execl("/proc/self/exe", "berth", "--root", c->root, "supervise", "--ready-fd",
		      fdarg, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	if (pid < 0)
		return cli_fail("fork: %s", strerror(errno));
	/* Bounded: every daemon has READY_TIMEOUT_MS to be ready. */
	char msg[512] = "";
	struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
	ssize_t n = poll(&pfd, 1, 3 * READY_TIMEOUT_MS + 5000) > 0
			    ? read(pipefd[0], msg, sizeof(msg) - 1) : -1;
	close(pipefd[0]);
	if (n <= 0)
		return cli_fail("the supervisor did not report (see %s/run/supervisor.log)",
				c->root);
	msg[n] = '\0';
	if (!strcmp(msg, "already up\n")) {
		printf("berth is already up\n");
		return 0;
	}
	if (strcmp(msg, "ok\n") != 0) {
		msg[strcspn(msg, "\n")] = '\0';
		return cli_fail("%s", msg);
	}
	if (!c->json)
		printf("berth is up: blockd, diskengine, vmengine (supervisor pid %d, root %s)\n",
		       (int)pid, c->root);
	return 0;
}

static int stop_vms(struct cli *c)
{
	struct store *s = cli_store(c);
	struct store_vm *vms;
	size_t n;
	if (!s || store_vm_list(s, c->conf.host, false, &vms, &n) < 0)
		return cli_fail("cannot list VMs: %s", s ? store_error(s) : "no store");
	for (size_t i = 0; i < n; i++)
		if (!strcmp(vms[i].desired, "RUNNING"))
			store_vm_set_desired(s, vms[i].id, "STOPPED", false);
	int64_t deadline = deadline_after_ms(STOP_TIMEOUT_MS * 4);
	for (size_t i = 0; i < n; i++) {
		struct store_vm vm;
		while (store_vm_get(s, vms[i].id, &vm) == 0 && strcmp(vm.state, "STOPPED") &&
		       strcmp(vm.state, "TERMINATED") && strcmp(vm.state, "ERROR") &&
		       deadline_remaining_ms(deadline) > 0) {
			struct timespec ts = { 0, 100 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	free(vms);
	return 0;
}

int cmd_down(struct cli *c, int argc, char **argv)
{
	bool vms = argc == 2 && !strcmp(argv[1], "--vms");
	if (argc > 2 || (argc == 2 && !vms))
		return cli_usage("berth down [--vms]   (VMs keep running unless --vms)");
	pid_t pid = supervisor_running(c);
	if (!pid) {
		printf("berth is not up\n");
		return 0;
	}
	if (pid < 0)
		return cli_fail("the supervisor is starting; try again");
	if (vms && stop_vms(c))
		return 1;
	kill(pid, SIGTERM);                /* the lock proves the pid is the supervisor's */
	int64_t deadline = deadline_after_ms(NDAEMONS * 2 * STOP_TIMEOUT_MS + 5000);
	while (supervisor_running(c) && deadline_remaining_ms(deadline) > 0) {
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (supervisor_running(c))
		return cli_fail("the supervisor (pid %d) did not stop", (int)pid);
	printf("berth is down%s\n", vms ? " (VMs stopped)" : " (VMs keep running)");
	return 0;
}

/* The first line, then one row per daemon ("by hand" for one that holds its lock without
 * the supervisor). */
static void print_daemons(struct cli *c, pid_t sup, json_t *daemons)
{
	char by_hand[256] = "";
	size_t i, len = 0;
	json_t *d;
	json_array_foreach(daemons, i, d)
		if (json_is_true(json_object_get(d, "running")) &&
		    !json_is_true(json_object_get(d, "supervised")) && len < sizeof(by_hand))
			len += (size_t)snprintf(by_hand + len, sizeof(by_hand) - len, "%s%s",
						len ? ", " : "",
						json_string_value(json_object_get(d, "name")));
	if (sup)
		printf("berth is up (supervisor pid %d, root %s)\n", (int)sup, c->root);
	else if (by_hand[0])
		printf("berth is down (no supervisor, root %s) but %s %s running, started by "
		       "hand\n", c->root, by_hand, strchr(by_hand, ',') ? "are" : "is");
	else
		printf("berth is down (root %s)\n", c->root);
	static const char *const cols[] = { "DAEMON", "PID", "UP", "RESTARTS" };
	struct table *t = table_new(cols, 4);
	json_array_foreach(daemons, i, d) {
		char pid[16], up[16], restarts[16] = "-";
		int p = (int)json_integer_value(json_object_get(d, "pid"));
		bool running = json_is_true(json_object_get(d, "running"));
		bool supervised = json_is_true(json_object_get(d, "supervised"));
		snprintf(pid, sizeof(pid), "%d", p);
		cli_age(json_integer_value(json_object_get(d, "since_ms")), up, sizeof(up));
		if (json_object_get(d, "restarts"))
			snprintf(restarts, sizeof(restarts), "%lld",
				 (long long)json_integer_value(json_object_get(d, "restarts")));
		table_row(t, json_string_value(json_object_get(d, "name")), p ? pid : "-",
			  !running ? "down" : supervised ? up : "by hand", restarts);
	}
	table_print(t);
	table_free(t);
}

int cmd_status(struct cli *c, int argc, char **argv)
{
	if (argc != 1)
		return cli_usage("berth status");
	char path[BERTH_PATH_LEN], *text = NULL;
	pid_t sup = supervisor_running(c);
	if (sup < 0)
		sup = 0;
	paths_supervisor_state(path, sizeof(path), c->root);
	json_t *state = NULL;
	if (sup && read_file_all(path, 1 << 20, &text, NULL) == 0)
		state = json_loads(text, 0, NULL);
	free(text);
	json_t *counts = json_object();
	struct store *s = cli_store(c);
	struct store_vm *vms = NULL;
	size_t n = 0;
	if (s && store_vm_list(s, NULL, false, &vms, &n) == 0)
		for (size_t i = 0; i < n; i++) {
			json_t *v = json_object_get(counts, vms[i].state);
			json_object_set_new(counts, vms[i].state,
					    json_integer(v ? json_integer_value(v) + 1 : 1));
		}
	free(vms);
	json_t *daemons = cli_daemons_status(c, state);
	bool fault_injection = json_is_true(json_object_get(state, "fault_injection"));
	json_decref(state);
	if (c->json) {
		cli_print_json(json_pack("{s:b, s:i, s:o, s:o, s:b}", "up", sup != 0, "supervisor_pid",
					 (int)sup, "daemons", daemons, "vms", counts,
					 "fault_injection", fault_injection));
		return 0;
	}
	print_daemons(c, sup, daemons);
	json_decref(daemons);
	if (fault_injection)
		printf("blockd fault injection: on ([blockd] fault_injection; test hosts only)\n");
	printf("VMs:");
	const char *k;
	json_t *v;
	json_object_foreach(counts, k, v)
		printf(" %s %lld", k, (long long)json_integer_value(v));
	printf(json_object_size(counts) ? "\n" : " none\n");
	json_decref(counts);
	return 0;
}

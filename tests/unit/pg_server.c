/* pg_server.c — a private PostgreSQL server for the store tests (see pg_server.h). */
#include "pg_server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libpq-fe.h>

#define ENV_DIR "BERTH_TEST_PG_DIR"
#define ENV_BIN "BERTH_TEST_PG_BIN"
#define ENV_USER "BERTH_TEST_PG_USER"
#define CMD_TIMEOUT_MS 60000

static char g_dir[128];         /* the runner's: data in <dir>/data, the socket in <dir> */
static pid_t g_reaper;
static int g_reaper_pipe = -1;

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);
	return v ? v : dflt;
}

const char *pg_server_dir(void)
{
	return env_or(ENV_DIR, "");
}

static bool executable(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, X_OK) == 0;
}

/* The directory holding initdb, pg_ctl and postgres: $PG_BINDIR when set (only there),
 * else $PATH, then Debian's /usr/lib/postgresql/<version>/bin (the newest). */
static bool find_bindir(char *out, size_t len)
{
	const char *want = getenv("PG_BINDIR");
	if (want) {
		snprintf(out, len, "%s", want);
		return executable(want, "initdb") && executable(want, "pg_ctl") &&
		       executable(want, "postgres");
	}
	char *path = strdup(env_or("PATH", "/usr/bin:/bin"));
	bool found = false;
	for (char *save = NULL, *d = strtok_r(path, ":", &save); d && !found;
	     d = strtok_r(NULL, ":", &save)) {
		char real[512];
		snprintf(real, sizeof(real), "%s/initdb", d);
		if (executable(d, "initdb") && executable(d, "pg_ctl") && executable(d, "postgres")) {
			char *r = realpath(real, NULL);         /* Debian links them in /usr/local/bin */
			if (r) {
				*strrchr(r, '/') = '\0';
				snprintf(out, len, "%s", r);
				free(r);
				found = true;
			}
		}
	}
	free(path);
	glob_t g;
	if (!found && glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0) {
		char *last = g.gl_pathv[g.gl_pathc - 1];
		*strrchr(last, '/') = '\0';
		if (executable(last, "pg_ctl") && executable(last, "postgres")) {
			snprintf(out, len, "%s", last);
			found = true;
		}
		globfree(&g);
	}
	return found;
}

/* Runs argv (as the server's user when we are root), its output to <dir>/commands.log,
 * within CMD_TIMEOUT_MS (killed after it). Its exit status, or -errno. */
static int run(const char *const *argv)
{
	char log[256];
	snprintf(log, sizeof(log), "%s/commands.log", pg_server_dir());
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		const char *as[32] = { "runuser", "-u", env_or(ENV_USER, "postgres"), "--" };
		int n = 4;
		for (int i = 0; argv[i] && n < 31; i++)
			as[n++] = argv[i];
		as[n] = NULL;
		if (geteuid() == 0)
			execvp(as[0], (char *const *)as);
		else
			execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	if (pidfd >= 0 && poll(&p, 1, CMD_TIMEOUT_MS) == 0)
		kill(pid, SIGKILL);
	if (pidfd >= 0)
		close(pidfd);
	int status;
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void bin(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", env_or(ENV_BIN, ""), name);
}

static int pg_ctl(const char *action, const char *mode)
{
	char ctl[512], data[256], logf[256], opts[512];
	bin(ctl, sizeof(ctl), "pg_ctl");
	snprintf(data, sizeof(data), "%s/data", pg_server_dir());
	snprintf(logf, sizeof(logf), "%s/server.log", pg_server_dir());
	snprintf(opts, sizeof(opts), "-k %s -c listen_addresses='' -c fsync=off "
		 "-c full_page_writes=off -c shared_buffers=16MB -c max_connections=50",
		 pg_server_dir());
	if (!strcmp(action, "start")) {
		const char *argv[] = { ctl, "start", "-D", data, "-w", "-t", "30", "-l", logf, "-o",
				       opts, NULL };
		return run(argv);
	}
	const char *argv[] = { ctl, action, "-D", data, "-w", "-t", "30", "-m", mode, NULL };
	return run(argv);
}

/* The postmaster's pid and its children's, from postmaster.pid and /proc. */
static int cluster_pids(pid_t *pids, int max)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/data/postmaster.pid", pg_server_dir());
	FILE *f = fopen(path, "r");
	long pm = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pm) != 1)
		pm = 0;
	fclose(f);
	if (pm <= 0)
		return 0;
	int n = 0;
	pids[n++] = (pid_t)pm;
	DIR *d = opendir("/proc");
	struct dirent *de;
	while (d && (de = readdir(d)) && n < max) {
		char stat[300], buf[512];
		snprintf(stat, sizeof(stat), "/proc/%s/stat", de->d_name);
		FILE *sf = de->d_name[0] >= '1' && de->d_name[0] <= '9' ? fopen(stat, "r") : NULL;
		if (!sf)
			continue;
		size_t got = fread(buf, 1, sizeof(buf) - 1, sf);
		fclose(sf);
		buf[got] = '\0';
		char *close_paren = strrchr(buf, ')');
		long ppid;
		if (close_paren && sscanf(close_paren + 2, "%*c %ld", &ppid) == 1 && ppid == pm)
			pids[n++] = (pid_t)atol(de->d_name);
	}
	if (d)
		closedir(d);
	return n;
}

static int signal_cluster(int sig)
{
	pid_t pids[128];
	int n = cluster_pids(pids, 128);
	for (int i = 0; i < n; i++)
		kill(pids[i], sig);
	return n > 0 ? 0 : -ESRCH;
}

int pg_server_freeze(void)
{
	return signal_cluster(SIGSTOP);
}

int pg_server_thaw(void)
{
	return signal_cluster(SIGCONT);
}

int pg_server_stop_fast(void)
{
	return pg_ctl("stop", "fast") == 0 ? 0 : -EIO;
}

int pg_server_start_again(void)
{
	return pg_ctl("start", NULL) == 0 ? 0 : -EIO;
}

static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

int pg_server_sql(const char *dbname, const char *sql, char *out, size_t len)
{
	const char *keys[] = { "host", "user", "dbname", "connect_timeout", NULL };
	const char *vals[] = { pg_server_dir(), "berth", dbname, "10", NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 0);
	PQsetNoticeProcessor(c, quiet, NULL);
	int rc = -1;
	PGresult *r = NULL;
	if (PQstatus(c) != CONNECTION_OK) {
		if (out)
			snprintf(out, len, "%s", PQerrorMessage(c));
	} else if (r = PQexec(c, sql), PQresultStatus(r) != PGRES_COMMAND_OK &&
		   PQresultStatus(r) != PGRES_TUPLES_OK) {
		if (out)
			snprintf(out, len, "%s", PQresultErrorMessage(r));
	} else {
		rc = 0;
		if (out)
			snprintf(out, len, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
	}
	PQclear(r);
	PQfinish(c);
	return rc;
}

int pg_server_new_db(const char *prefix, char *url, size_t len, char *dbname, size_t dblen)
{
	static unsigned serial;
	char sql[256], err[512];
	snprintf(dbname, dblen, "%s_%d_%u", prefix, (int)getpid(), ++serial);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s TEMPLATE template0", dbname);
	if (pg_server_sql("postgres", sql, err, sizeof(err)) < 0) {
		fprintf(stderr, "pg_server_new_db: %s\n", err);
		return -EIO;
	}
	snprintf(url, len, "postgresql:///%s?host=%s&user=berth", dbname, pg_server_dir());
	return 0;
}

/* The reaper: waits for the runner to close its end of the pipe (or die), then stops the
 * server whatever state it is in (a frozen one is continued first) and removes it. */
static void reap(int fd)
{
	char c;
	for (;;) {
		ssize_t n = read(fd, &c, 1);
		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	signal_cluster(SIGCONT);
	if (pg_ctl("stop", "immediate") != 0)
		signal_cluster(SIGKILL);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pg_server_dir());
	if (system(cmd) != 0)
		fprintf(stderr, "pg_server: cannot remove %s\n", pg_server_dir());
}

static int write_hba(const char *user)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/data/pg_hba.conf", g_dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	/* a password user for the wrong-password test; everyone else on the socket: trust */
	fputs("local all pwuser scram-sha-256\nlocal all all trust\n", f);
	fclose(f);
	struct passwd *pw = geteuid() == 0 ? getpwnam(user) : NULL;
	if (pw && chown(path, pw->pw_uid, pw->pw_gid) < 0)
		return -errno;
	return chmod(path, 0600) < 0 ? -errno : 0;
}

int pg_server_start(char *msg, size_t len)
{
	char bindir[256];
	if (!find_bindir(bindir, sizeof(bindir))) {
		snprintf(msg, len, "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found "
			 "(install the postgresql package: scripts/setup)");
		return -ENOENT;
	}
	const char *user = getpwnam("postgres") ? "postgres" : "nobody";
	snprintf(g_dir, sizeof(g_dir), "/tmp/berth-pg-XXXXXX");
	if (!mkdtemp(g_dir)) {
		snprintf(msg, len, "mkdtemp: %s", strerror(errno));
		return -errno;
	}
	struct passwd *pw = geteuid() == 0 ? getpwnam(user) : NULL;
	if (pw && chown(g_dir, pw->pw_uid, pw->pw_gid) < 0) {
		snprintf(msg, len, "chown %s: %s", g_dir, strerror(errno));
		return -errno;
	}
	setenv(ENV_DIR, g_dir, 1);
	setenv(ENV_BIN, bindir, 1);
	setenv(ENV_USER, user, 1);
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	g_reaper = fork();
	if (g_reaper == 0) {
		close(fds[1]);
		setsid();               /* not in the test's process group: it outlives a kill */
		reap(fds[0]);
		_exit(0);
	}
	close(fds[0]);
	g_reaper_pipe = fds[1];
	char initdb[512], data[256];
	bin(initdb, sizeof(initdb), "initdb");
	snprintf(data, sizeof(data), "%s/data", g_dir);
	const char *argv[] = { initdb, "-D", data, "-U", "berth", "-A", "trust", "-E", "UTF8",
			       "--no-sync", NULL };
	int rc = run(argv);
	if (rc != 0) {
		snprintf(msg, len, "initdb failed (%d): see %s/commands.log", rc, g_dir);
		return -EIO;
	}
	if ((rc = write_hba(user)) < 0) {
		snprintf(msg, len, "pg_hba.conf: %s", strerror(-rc));
		return rc;
	}
	if (pg_ctl("start", NULL) != 0) {
		snprintf(msg, len, "pg_ctl start failed: see %s/server.log", g_dir);
		return -EIO;
	}
	char err[256];
	if (pg_server_sql("postgres", "CREATE ROLE pwuser LOGIN PASSWORD 'right'", err,
			  sizeof(err)) < 0) {
		snprintf(msg, len, "create role: %s", err);
		return -EIO;
	}
	return 0;
}

void pg_server_finish(void)
{
	if (g_reaper_pipe < 0)
		return;
	close(g_reaper_pipe);
	g_reaper_pipe = -1;
	waitpid(g_reaper, NULL, 0);
}

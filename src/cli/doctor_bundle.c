/* doctor_bundle.c — `berth doctor --bundle FILE`: a tar.gz an operator attaches to a bug
 * report, built in a private temporary directory and packed by tar(1) under a deadline:
 * berth.conf (values of keys that look like credentials, and passwords in store URLs,
 * redacted), supervisor.json and each daemon's log tail, the engines' status files and
 * diskengine's events tail, each VM's vm.state, qemu.log and qemu-run.log tails (never its console: that is
 * the guest's), the store's VM and volume rows, the target's view (controllers, raid bdevs,
 * bdev stats, reactors, pollers, requests in flight — never bdev_get_bdevs) and the checks'
 * report. Every file is a bounded tail, so the bundle stays small. */
#include "doctor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "deadline_io.h"

#define LOG_TAIL (256 * 1024)
#define SMALL_TAIL (64 * 1024)
#define TAR_TIMEOUT_MS 15000

/* Copies at most the last max bytes of src (a regular file) to dir/name. */
static void copy_tail(const char *src, const char *dir, const char *name, off_t max)
{
	int in = open(src, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (in < 0)
		return;
	struct stat st;
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(in);
		return;
	}
	if (st.st_size > max)
		lseek(in, st.st_size - max, SEEK_SET);
	char path[BERTH_PATH_LEN * 2];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	char buf[65536];
	ssize_t n;
	off_t left = max;
	while (out >= 0 && left > 0 && (n = read(in, buf, sizeof(buf))) > 0) {
		if (n > left)
			n = (ssize_t)left;
		if (write(out, buf, (size_t)n) != n)
			break;
		left -= n;
	}
	close(in);
	if (out >= 0)
		close(out);
}

static void write_json(const char *dir, const char *name, json_t *o)
{
	char path[BERTH_PATH_LEN * 2];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (o)
		json_dump_file(o, path, JSON_INDENT(1));
	json_decref(o);
}

/* berth.conf, without what looks like a credential. */
static void copy_conf(struct doctor_ctx *x, const char *dir)
{
	char path[BERTH_PATH_LEN], *text = NULL;
	paths_conf(path, sizeof(path), x->cli->root);
	if (read_file_all(path, 1 << 20, &text, NULL) < 0)
		return;
	char out[BERTH_PATH_LEN * 2];
	snprintf(out, sizeof(out), "%s/berth.conf", dir);
	FILE *f = fopen(out, "w");
	for (char *line = strtok(text, "\n"); f && line; line = strtok(NULL, "\n")) {
		char *eq = strchr(line, '=');
		bool secret = false;
		if (eq) {
			for (const char *w = line; w < eq && !secret; w++)
				secret = !strncasecmp(w, "pass", 4) || !strncasecmp(w, "secret", 6) ||
					 !strncasecmp(w, "token", 5) || !strncasecmp(w, "key", 3);
			secret = secret || (strstr(eq, "://") && strchr(eq, '@'));
		}
		if (secret)
			fprintf(f, "%.*s= <redacted>\n", (int)(eq - line), line);
		else
			fprintf(f, "%s\n", line);
	}
	if (f)
		fclose(f);
	free(text);
}

static json_t *target_view(struct doctor_ctx *x)
{
	static const char *const methods[] = { "spdk_get_version", "vhost_get_controllers",
		"bdev_raid_get_bdevs", "bdev_get_iostat", "framework_get_reactors",
		"thread_get_pollers", "blockd_get_requests" };
	json_t *o = json_object();
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		json_t *res = NULL, *params = NULL;
		char err[256];
		if (!strcmp(methods[i], "bdev_raid_get_bdevs"))
			params = json_pack("{s:s}", "category", "all");
		int rc = doctor_rpc(x, methods[i], params, DOCTOR_RPC_TIMEOUT_MS, &res, err,
				    sizeof(err));
		json_decref(params);
		json_object_set_new(o, methods[i], rc == 0 ? (res ? res : json_null())
							   : json_pack("{s:s}", "error", err));
		if (rc == -ETIMEDOUT)
			break;      /* a target that does not answer: no more waiting on it */
	}
	return o;
}

static void copy_vms(struct doctor_ctx *x, const char *dir)
{
	char vms[BERTH_PATH_LEN];
	paths_vmengine_vms(vms, sizeof(vms), x->cli->root);
	DIR *d = opendir(vms);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char *end;
		unsigned long id = strtoul(e->d_name, &end, 10);
		if (*end || !e->d_name[0])
			continue;
		char src[BERTH_PATH_LEN], name[64];
		paths_vm_state(src, sizeof(src), x->cli->root, (unsigned)id);
		snprintf(name, sizeof(name), "vm%lu.state", id);
		copy_tail(src, dir, name, SMALL_TAIL);
		paths_vm_qemu_log(src, sizeof(src), x->cli->root, (unsigned)id);
		snprintf(name, sizeof(name), "vm%lu.qemu.log", id);
		copy_tail(src, dir, name, SMALL_TAIL);
		paths_vm_qemu_run_log(src, sizeof(src), x->cli->root, (unsigned)id);
		snprintf(name, sizeof(name), "vm%lu.qemu-run.log", id);
		copy_tail(src, dir, name, SMALL_TAIL);
	}
	if (d)
		closedir(d);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* tar -czf file -C parent name, killed at the deadline. 0 or -errno. */
static int run_tar(const char *file, const char *parent, const char *name)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execlp("tar", "tar", "-czf", file, "-C", parent, name, (char *)NULL);
		_exit(127);
	}
	int64_t deadline = deadline_after_ms(TAR_TIMEOUT_MS);
	int status = 0;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (deadline_remaining_ms(deadline) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -ETIMEDOUT;
		}
		struct timespec ts = { 0, 20 * 1000000L };      /* polling interval */
		nanosleep(&ts, NULL);
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

int doctor_bundle(struct doctor_ctx *x, const struct doctor_report *r, const char *file)
{
	char tmp[] = "/tmp/berth-bundle-XXXXXX";
	if (!mkdtemp(tmp))
		return cli_fail("cannot make a temporary directory: %s", strerror(errno));
	char dir[sizeof(tmp) + 32], src[BERTH_PATH_LEN];
	snprintf(dir, sizeof(dir), "%s/berth-doctor", tmp);
	mkdir(dir, 0700);

	copy_conf(x, dir);
	paths_supervisor_state(src, sizeof(src), x->cli->root);
	copy_tail(src, dir, "supervisor.json", SMALL_TAIL);
	paths_supervisor_log(src, sizeof(src), x->cli->root);
	copy_tail(src, dir, "supervisor.log", LOG_TAIL);
	static const char *const daemons[] = { "blockd", "diskengine", "vmengine" };
	for (int i = 0; i < 3; i++) {
		char name[64];
		paths_daemon_log(src, sizeof(src), x->cli->root, daemons[i]);
		snprintf(name, sizeof(name), "%s.log", daemons[i]);
		copy_tail(src, dir, name, LOG_TAIL);
	}
	paths_vmengine_status(src, sizeof(src), x->cli->root);
	copy_tail(src, dir, "vmengine.status.json", SMALL_TAIL);
	paths_diskengine_status(src, sizeof(src), x->cli->root, "attach");
	copy_tail(src, dir, "diskengine.attach.json", SMALL_TAIL);
	paths_diskengine_status(src, sizeof(src), x->cli->root, "detach");
	copy_tail(src, dir, "diskengine.detach.json", SMALL_TAIL);
	paths_diskengine_events(src, sizeof(src), x->cli->root);
	copy_tail(src, dir, "diskengine.events.jsonl", LOG_TAIL);
	copy_vms(x, dir);
	write_json(dir, "store.json", x->store ? json_incref(x->store)
					       : json_pack("{s:s}", "error", x->store_error));
	write_json(dir, "target.json", x->target_answers ? target_view(x)
				       : json_pack("{s:s}", "error", "blockd does not answer"));
	write_json(dir, "doctor.json", doctor_report_json(r, x->cli->root, 0));

	int rc = run_tar(file, tmp, "berth-doctor");
	nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (rc < 0) {
		unlink(file);
		return cli_fail("tar could not write %s: %s", file, strerror(-rc));
	}
	return 0;
}

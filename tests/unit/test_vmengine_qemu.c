/* test_vmengine_qemu.c — vmengine's QEMU-facing pieces, tested without QEMU: the command line
 * qemu_build_argv() builds, the pid checks that keep signals away from processes that are not
 * the VM's QEMU (qemu_pid_matches, qemu_signal, qemu_read_pidfile, qemu_find_pid against
 * stand-in processes), a VM's worker on the paths that need no QEMU (an interrupted launch, a
 * VM that never started, an unreadable vm.state beside a live stand-in QEMU), and store
 * reports that never wait for a locked store. The shared fixture is in vmengine_test_util.c.
 * Every wait is bounded. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <sqlite3.h>

#include "config.h"
#include "deadline_io.h"
#include "desired_vms.h"
#include "qemu_proc.h"
#include "store.h"
#include "vm_spec.h"
#include "vm_state.h"
#include "vm_worker.h"
#include "vmengine_test_util.h"

TestSuite(qemu_argv, .timeout = 30);
TestSuite(qemu_pid, .init = vmtest_setup, .fini = vmtest_teardown, .timeout = 30);

/* ---------------------------------------------------------------- qemu_build_argv */

/* Index of the option opt immediately followed by value, or -1. */
static int find_pair(char **argv, const char *opt, const char *value)
{
	for (int i = 0; argv[i] && argv[i + 1]; i++)
		if (!strcmp(argv[i], opt) && !strcmp(argv[i + 1], value))
			return i;
	return -1;
}

static bool has_arg(char **argv, const char *arg)
{
	for (int i = 0; argv[i]; i++)
		if (!strcmp(argv[i], arg))
			return true;
	return false;
}

#define ASSERT_PAIR(argv, opt, value) \
	cr_assert_geq(find_pair(argv, opt, value), 0, "missing %s %s", opt, value)

static void default_config(struct vmengine_config *cfg, const char *root)
{
	char err[256];
	cr_assert_eq(vmengine_config_load(cfg, root, "/nonexistent/berth.conf", err, sizeof(err)),
		     0, "%s", err);
}

Test(qemu_argv, vhost_disk)
{
	struct vmengine_config cfg;
	default_config(&cfg, "/srv/berth");
	snprintf(cfg.accel, sizeof(cfg.accel), "kvm");
	snprintf(cfg.qemu, sizeof(cfg.qemu), "/opt/bin/qemu-system-x86_64");
	struct vm_spec spec = *decode_spec(full_spec(), 0, NULL);
	struct qemu_paths p;
	qemu_paths_init(&p, cfg.root, spec.id);
	cr_assert_str_eq(p.dir, "/srv/berth/vmengine/vms/7");
	cr_assert_str_eq(p.pidfile, "/srv/berth/vmengine/vms/7/qemu.pid");
	char **argv = qemu_build_argv(&cfg, &spec, &p);
	cr_assert_not_null(argv);
	cr_assert_str_eq(argv[0], "/opt/bin/qemu-system-x86_64");
	ASSERT_PAIR(argv, "-name", "vm7,debug-threads=on");
	ASSERT_PAIR(argv, "-uuid", UUID);
	cr_assert(has_arg(argv, "-S") && has_arg(argv, "-no-shutdown") &&
		  has_arg(argv, "-daemonize"));
	ASSERT_PAIR(argv, "-pidfile", "/srv/berth/vmengine/vms/7/qemu.pid");
	/* QEMU's stderr once daemonized goes to the -D file, not /dev/null */
	ASSERT_PAIR(argv, "-D", "/srv/berth/vmengine/vms/7/qemu-run.log");
	ASSERT_PAIR(argv, "-qmp", "unix:/srv/berth/vmengine/vms/7/monitor.sock,server=on,wait=off");
	ASSERT_PAIR(argv, "-chardev", "socket,id=disk0,path=/run/berth/vhost/7.sock,reconnect=1");
	/* the console is appended to: every boot stays (docs/vmengine.md) */
	ASSERT_PAIR(argv, "-chardev",
		    "file,id=console0,path=/srv/berth/vmengine/vms/7/console.log,append=on");
	ASSERT_PAIR(argv, "-serial", "chardev:console0");
	ASSERT_PAIR(argv, "-device", "vhost-user-blk-pci,chardev=disk0,num-queues=4");
	ASSERT_PAIR(argv, "-object", "memory-backend-memfd,id=mem0,size=512M,share=on");
	ASSERT_PAIR(argv, "-numa", "node,memdev=mem0");
	ASSERT_PAIR(argv, "-device", "pvpanic");
	ASSERT_PAIR(argv, "-machine", "pc,accel=kvm");
	ASSERT_PAIR(argv, "-m", "512");
	ASSERT_PAIR(argv, "-smp", "2");
	ASSERT_PAIR(argv, "-kernel", "/images/vmlinuz");
	ASSERT_PAIR(argv, "-initrd", "/images/initrd");
	ASSERT_PAIR(argv, "-append", "console=ttyS0 quiet");
	cr_assert_not(has_arg(argv, "-drive"));
	/* the -name value is the first after "-name": what qemu_pid_matches looks for */
	int i = find_pair(argv, "-name", "vm7,debug-threads=on");
	for (int j = 0; j < i; j++)
		cr_assert_str_neq(argv[j], "-name");
	qemu_free_argv(argv);
	qemu_free_argv(NULL);
}

Test(qemu_argv, tcg_memory_is_off_the_256k_grain)
{
	/* QEMU 7.2's TCG loses dirty pages in live migration when a RAM block's size is a
	 * multiple of 256 KiB (docs/vmengine.md): under tcg the RAM gets 8 KiB more, the same
	 * size for -m and the memfd; under kvm it is exact (see vhost_disk). */
	struct vmengine_config cfg;
	default_config(&cfg, "/srv/berth");
	snprintf(cfg.accel, sizeof(cfg.accel), "tcg");
	struct vm_spec spec = *decode_spec(full_spec(), 0, NULL);
	struct qemu_paths p;
	qemu_paths_init(&p, cfg.root, spec.id);
	char **argv = qemu_build_argv(&cfg, &spec, &p);
	cr_assert_not_null(argv);
	ASSERT_PAIR(argv, "-m", "524296K");
	ASSERT_PAIR(argv, "-object", "memory-backend-memfd,id=mem0,size=524296K,share=on");
	ASSERT_PAIR(argv, "-machine", "pc,accel=tcg");
	qemu_free_argv(argv);
}

Test(qemu_argv, hugetlb_memory_is_never_padded)
{
	/* A hugetlb memfd's size must be a multiple of the huge page size: no TCG padding. */
	struct vmengine_config cfg;
	default_config(&cfg, "/srv/berth");
	snprintf(cfg.accel, sizeof(cfg.accel), "tcg");
	snprintf(cfg.memory_backend, sizeof(cfg.memory_backend), "memfd-hugetlb");
	struct vm_spec spec = *decode_spec(full_spec(), 0, NULL);
	struct qemu_paths p;
	qemu_paths_init(&p, cfg.root, spec.id);
	char **argv = qemu_build_argv(&cfg, &spec, &p);
	cr_assert_not_null(argv);
	ASSERT_PAIR(argv, "-m", "512");
	ASSERT_PAIR(argv, "-object", "memory-backend-memfd,id=mem0,size=512M,share=on,hugetlb=on");
	qemu_free_argv(argv);
}

Test(qemu_pid, console_rotated_over_the_bound)
{
	char root[] = "/tmp/berth-rotate-XXXXXX";
	cr_assert_not_null(mkdtemp(root));
	struct qemu_paths p;
	qemu_paths_init(&p, root, 3);
	snprintf(p.console, sizeof(p.console), "%s/console.log", root);
	char old[sizeof(p.console) + 2];
	snprintf(old, sizeof(old), "%s.1", p.console);
	cr_assert_eq(qemu_rotate_console(&p), 0);          /* none yet */
	FILE *f = fopen(p.console, "w");
	cr_assert_not_null(f);
	fputs("boot 1\n", f);
	fclose(f);
	cr_assert_eq(qemu_rotate_console(&p), 0);          /* small: kept */
	cr_assert_eq(truncate(p.console, QEMU_CONSOLE_ROTATE_BYTES), 0);
	cr_assert_eq(qemu_rotate_console(&p), 0);          /* at the bound: kept */
	cr_assert_eq(truncate(p.console, QEMU_CONSOLE_ROTATE_BYTES + 1), 0);
	cr_assert_eq(qemu_rotate_console(&p), 1);
	struct stat st;
	cr_assert_eq(stat(old, &st), 0);
	cr_assert_eq(st.st_size, QEMU_CONSOLE_ROTATE_BYTES + 1);
	cr_assert_eq(access(p.console, F_OK), -1);
	unlink(old);
	rmdir(root);
}

Test(qemu_argv, file_disk_and_no_initrd)
{
	struct vmengine_config cfg;
	default_config(&cfg, "/r");
	json_t *o = full_spec();
	json_object_set_new(o, "disk", json_pack("{s:s}", "file", "/images/disk.raw"));
	json_object_del(o, "initrd");
	json_object_del(o, "append");
	json_object_set_new(o, "id", json_integer(123456789));
	struct vm_spec spec = *decode_spec(o, 0, NULL);
	struct qemu_paths p;
	qemu_paths_init(&p, cfg.root, spec.id);
	char **argv = qemu_build_argv(&cfg, &spec, &p);
	cr_assert_not_null(argv);
	cr_assert_str_eq(argv[0], "qemu-system-x86_64");
	ASSERT_PAIR(argv, "-name", "vm123456789,debug-threads=on");
	ASSERT_PAIR(argv, "-drive", "file=/images/disk.raw,format=raw,if=virtio");
	ASSERT_PAIR(argv, "-machine", "pc,accel=tcg");
	ASSERT_PAIR(argv, "-pidfile", "/r/vmengine/vms/123456789/qemu.pid");
	for (char **a = argv; *a; a++)          /* the console's chardev only: no vhost disk */
		cr_assert(strncmp(*a, "socket,id=disk0", 15) && strncmp(*a, "vhost-user", 10));
	cr_assert_not(has_arg(argv, "-initrd"));
	cr_assert_not(has_arg(argv, "-append"));
	qemu_free_argv(argv);
}

/* ---------------------------------------------------------------- qemu_pid_matches / signal */

/* A harmless process whose argv carries "-name vm7,debug-threads=on": sh waiting on a pipe.
 * Returns once it has exec'd (a close-on-exec pipe reaches end of stream). */
static pid_t spawn_named(void)
{
	int in[2], sync[2];
	cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(sync, O_CLOEXEC), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);   /* dup2 clears close-on-exec on fd 0 */
		execl("/bin/sh", "sh", "-c", "read x", "-name", "vm7,debug-threads=on",
		      (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(sync[1]);
	char c;
	cr_assert_eq(read(sync[0], &c, 1), 0, "the helper exec'd");
	close(sync[0]);
	g_stdin_w = in[1];
	/* /proc shows the helper's own argv */
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	static const char want[] = "sh\0-c\0read x\0-name\0vm7,debug-threads=on";
	cr_assert_eq(n, (ssize_t)sizeof(want), "cmdline of %zd bytes", n);
	cr_assert_eq(memcmp(buf, want, sizeof(want)), 0);
	return pid;
}

/* Reaps pid within timeout_ms; its wait status, or -1. */
static int reap(pid_t pid, int timeout_ms)
{
	int64_t until = monotonic_ms() + timeout_ms;
	for (;;) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		if (monotonic_ms() >= until)
			return -1;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
}

Test(qemu_pid, matches_and_signals_only_its_vm)
{
	g_child = spawn_named();
	pid_t pid = g_child;
	cr_assert(qemu_pid_matches(pid, 7));
	cr_assert_not(qemu_pid_matches(pid, 70), "vm70 is not vm7");
	cr_assert_not(qemu_pid_matches(pid, 8));
	cr_assert_not(qemu_pid_matches(getpid(), 7), "the test itself is no QEMU");

	cr_assert_eq(qemu_signal(pid, 8, SIGKILL), -ESRCH);
	cr_assert_eq(qemu_signal(pid, 70, SIGKILL), -ESRCH);
	cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "still running");
	cr_assert_eq(kill(pid, 0), 0);
	cr_assert(qemu_pid_matches(pid, 7));

	cr_assert_eq(qemu_signal(pid, 7, SIGTERM), 0);
	int st = reap(pid, 5000);
	g_child = -1;
	cr_assert(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "status %#x", st);
	/* reaped: gone for good */
	cr_assert_not(qemu_pid_matches(pid, 7));
	cr_assert_eq(qemu_signal(pid, 7, 0), -ESRCH);
}

Test(qemu_pid, zombie_and_special_pids_never_match)
{
	g_child = spawn_named();
	pid_t pid = g_child;
	cr_assert_eq(kill(pid, SIGKILL), 0);
	siginfo_t si = { 0 };
	/* wait until it is a zombie, without reaping it */
	cr_assert_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	cr_assert_not(qemu_pid_matches(pid, 7), "a zombie is not a live QEMU");
	cr_assert_eq(qemu_signal(pid, 7, SIGKILL), -ESRCH);
	cr_assert_neq(reap(pid, 5000), -1);
	g_child = -1;

	/* signal 0 only: were these to pass the check, kill() would hit a process group */
	const int special[] = { 1, 0, -1, -2, INT_MIN };
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
		cr_assert_not(qemu_pid_matches(special[i], 7), "pid %d", special[i]);
		cr_assert_not(qemu_pid_matches(special[i], 1), "pid %d", special[i]);
		cr_assert_eq(qemu_signal(special[i], 7, 0), -ESRCH, "pid %d", special[i]);
	}
}

Test(qemu_pid, read_pidfile)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/qemu.pid", g_dir);
	cr_assert_eq(qemu_read_pidfile(path), -ENOENT);
	write_str(path, "1234\n");
	cr_assert_eq(qemu_read_pidfile(path), 1234);
	write_str(path, "4194304");
	cr_assert_eq(qemu_read_pidfile(path), 4194304);
	const char *bad[] = { "", "\n", "garbage", "0", "0\n", "1", "-5", "-5\n", "123abc",
			      "123 456", "4194305", "99999999999999999999",
			      "18446744073709551617", "0x10", "12\n34\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_str(path, bad[i]);
		cr_assert_eq(qemu_read_pidfile(path), -EINVAL, "'%s'", bad[i]);
	}
	char big[200];
	snprintf(big, sizeof(big), "1%0198d", 0);
	write_str(path, big);
	cr_assert_lt(qemu_read_pidfile(path), 0, "a 199-digit pid");
	/* a directory is not a pidfile */
	cr_assert_lt(qemu_read_pidfile(g_dir), 0);
}

/* ---------------------------------------------------------------- qemu_find_pid */

/* An id no other test (nor a QEMU of the e2e tests) uses at the same time. */
static unsigned unique_id(void)
{
	return 500000000u + (unsigned)getpid();
}

/* The pidfile path of VM id under g_dir, as the worker puts it on QEMU's command line. */
static const char *pidfile_of(unsigned id)
{
	static char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/vmengine/vms/%u/qemu.pid", g_dir, id);
	return path;
}

/* A stand-in QEMU of VM id: sh reading g_stdin_w's pipe, with "-name vm<id>,debug-threads=on
 * -pidfile <pidfile_of(id)>" in its argv. nested: it runs a second such sh and waits for it
 * (QEMU's first process waiting for its daemon). Returns the outer pid (in g_child); *leaf:
 * the one that reads. */
static pid_t spawn_fake_qemu(unsigned id, bool nested, pid_t *leaf)
{
	char name[48];
	snprintf(name, sizeof(name), "vm%u,debug-threads=on", id);
	int in[2], out[2];
	cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		execl("/bin/sh", "sh", "-c",
		      nested ? "/bin/sh -c 'echo $$; read x' \"$0\" \"$1\" \"$2\" \"$3\"; :"
			     : "echo $$; read x",
		      "-name", name, "-pidfile", pidfile_of(id), (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	g_stdin_w = in[1];
	g_child = pid;
	char buf[32] = "";
	ssize_t n = read(out[0], buf, sizeof(buf) - 1);   /* once the reader has exec'd */
	close(out[0]);
	cr_assert_gt(n, 0, "the fake QEMU started");
	*leaf = (pid_t)atoi(buf);
	cr_assert_gt(*leaf, 1);
	return pid;
}

Test(qemu_pid, find_pid_scans_proc)
{
	unsigned id = unique_id();
	cr_assert_eq(qemu_find_pid(id, NULL), -ESRCH);
	pid_t leaf, pid = spawn_fake_qemu(id, false, &leaf);
	cr_assert_eq(leaf, pid);
	cr_assert_eq(qemu_find_pid(id, NULL), pid);
	cr_assert_eq(qemu_find_pid(id, pidfile_of(id)), pid);
	cr_assert_eq(qemu_find_pid(id, "/elsewhere/vmengine/vms/1/qemu.pid"), -ESRCH,
		     "another root's VM with this id");
	cr_assert_eq(qemu_find_pid(id + 1, NULL), -ESRCH);
	cr_assert_eq(qemu_find_pid(id / 10, NULL), -ESRCH, "vm%u is not vm%u", id / 10, id);
	cr_assert_eq(kill(pid, SIGKILL), 0);
	siginfo_t si = { 0 };
	cr_assert_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	cr_assert_eq(qemu_find_pid(id, NULL), -ESRCH, "a zombie is no QEMU");
	cr_assert_neq(reap(pid, 5000), -1);
	g_child = -1;
}

Test(qemu_pid, find_pid_prefers_the_daemon)
{
	unsigned id = unique_id();
	pid_t leaf, pid = spawn_fake_qemu(id, true, &leaf);
	cr_assert_neq(leaf, pid);
	cr_assert(qemu_pid_matches(pid, id) && qemu_pid_matches(leaf, id));
	cr_assert_eq(qemu_find_pid(id, pidfile_of(id)), leaf,
		     "the child, not the parent waiting for it");
	cr_assert_eq(kill(leaf, SIGKILL), 0);
	cr_assert_neq(reap(pid, 5000), -1, "the parent ends once its child is gone");
	g_child = -1;
	cr_assert_eq(qemu_find_pid(id, NULL), -ESRCH);
}

/* ---------------------------------------------------------------- vm_worker without QEMU */

TestSuite(vm_worker, .init = vmtest_setup, .fini = vmtest_teardown, .timeout = 60);

static struct vmengine_config g_cfg;

static struct vm_worker *start_worker(unsigned id, const char *state_json)
{
	char err[256], path[PATH_MAX];
	cr_assert_eq(vmengine_config_load(&g_cfg, g_dir, "/nonexistent", err, sizeof(err)), 0,
		     "%s", err);
	g_cfg.tick_ms = 20;
	g_cfg.powerdown_grace_ms = g_cfg.quit_grace_ms = g_cfg.term_grace_ms = 100;
	g_cfg.qmp_timeout_ms = 200;
	snprintf(path, sizeof(path), "%s/vmengine", g_dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/vmengine/vms", g_dir);
	mkdir(path, 0700);
	if (state_json) {
		snprintf(path, sizeof(path), "%s/vmengine/vms/%u", g_dir, id);
		mkdir(path, 0700);
		snprintf(path, sizeof(path), "%s/vmengine/vms/%u/vm.state", g_dir, id);
		write_str(path, state_json);
	}
	struct vm_worker *w = vm_worker_start(&g_cfg, id, NULL, NULL);
	cr_assert_not_null(w);
	return w;
}

static void desire(struct vm_worker *w, unsigned id, enum vm_desired d)
{
	struct vm_spec s = { .id = id, .vcpus = 1, .memory_mb = 64, .desired = d };
	snprintf(s.uuid, sizeof(s.uuid), "00000000-0000-4000-8000-000000000001");
	vm_worker_set_spec(w, &s);
}

/* Waits (bounded) for vm.state to say state; returns it. */
static struct vm_state wait_vm_state(unsigned id, enum vm_state_kind state)
{
	char path[PATH_MAX], err[256];
	snprintf(path, sizeof(path), "%s/vmengine/vms/%u/vm.state", g_dir, id);
	struct vm_state st = { 0 };
	int64_t until = monotonic_ms() + 10000;
	while (monotonic_ms() < until) {
		if (vm_state_load(path, &st, err, sizeof(err)) == 0 && st.state == state)
			return st;
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	cr_assert_fail("vm %u never reached %s (last %s)", id, vm_state_name(state),
		       vm_state_name(st.state));
	return st;
}

#define STARTING_NO_PID "{\"id\": %u, \"state\": \"STARTING\", \"pid\": 0}"

Test(vm_worker, interrupted_launch_without_qemu_terminates_at_once)
{
	unsigned id = unique_id();
	char text[128];
	snprintf(text, sizeof(text), STARTING_NO_PID, id);
	struct vm_worker *w = start_worker(id, text);
	desire(w, id, DESIRED_TERMINATED);
	struct vm_state st = wait_vm_state(id, VM_TERMINATED);
	cr_assert_eq(st.pid, 0);
	cr_assert_str_eq(st.reason, "lost during launch");
	cr_assert_eq(st.escalation, ESC_NONE, "no escalation against pid 0");
	vm_worker_stop(w);
}

Test(vm_worker, interrupted_launch_adopts_its_qemu)
{
	unsigned id = unique_id();
	char text[128];
	snprintf(text, sizeof(text), STARTING_NO_PID, id);
	pid_t leaf, pid = spawn_fake_qemu(id, false, &leaf);
	struct vm_worker *w = start_worker(id, text);
	desire(w, id, DESIRED_TERMINATED);       /* no QMP: escalation goes on to SIGTERM */
	struct vm_state st = wait_vm_state(id, VM_TERMINATED);
	cr_assert_str_eq(st.reason, "killed by SIGTERM");
	int status = reap(pid, 5000);
	g_child = -1;
	cr_assert(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
	vm_worker_stop(w);
}

Test(vm_worker, never_started_vm_records_stopped)
{
	unsigned id = unique_id();
	struct vm_worker *w = start_worker(id, NULL);
	desire(w, id, DESIRED_STOPPED);
	struct vm_state st = wait_vm_state(id, VM_STOPPED);
	cr_assert_str_eq(st.uuid, "00000000-0000-4000-8000-000000000001");
	vm_worker_stop(w);
}

Test(vm_worker, unreadable_state_readopts_a_live_qemu)
{
	unsigned id = unique_id();
	pid_t leaf, pid = spawn_fake_qemu(id, false, &leaf);
	struct vm_worker *w = start_worker(id, "{not json");
	struct vm_state st = wait_vm_state(id, VM_RUNNING);
	cr_assert_eq(st.pid, pid);
	cr_assert_str_eq(st.reason, "vm.state was unreadable; re-adopted");
	vm_worker_stop(w);
	cr_assert_eq(kill(pid, 0), 0, "stopping the worker leaves QEMU alone");
}

/* ---------------------------------------------------------------- desired_store reports */

TestSuite(desired_store, .init = vmtest_setup, .fini = vmtest_teardown, .timeout = 60);

#define N_REPORTS 1100          /* more than the queue holds */

Test(desired_store, reports_never_wait_for_a_locked_store)
{
	char db[128], err[256];
	snprintf(db, sizeof(db), "%s/berth.db", g_dir);
	struct store *s = store_create(db, err, sizeof(err));
	cr_assert_not_null(s, "%s", err);
	struct store_vm vm = { .vcpus = 1, .memory_mb = 64 };
	struct store_volume vol = { .size_mb = 64 };
	snprintf(vm.name, sizeof(vm.name), "web");
	snprintf(vm.host, sizeof(vm.host), "h1");
	snprintf(vm.desired, sizeof(vm.desired), "RUNNING");
	snprintf(vm.on_crash, sizeof(vm.on_crash), "stop");
	snprintf(vol.layout, sizeof(vol.layout), "single");
	cr_assert_eq(store_vm_create(s, &vm, &vol), 0, "%s", store_error(s));
	struct desired_vms *src = desired_vms_store_open(db, "h1", 2, 1024, NULL, err,
							 sizeof(err));
	cr_assert_not_null(src, "%s", err);

	sqlite3 *lock;                  /* another writer holds the database */
	cr_assert_eq(sqlite3_open(db, &lock), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(lock, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	int64_t t0 = monotonic_ms();
	for (int i = 0; i < N_REPORTS; i++) {
		struct vm_state st = { .id = (unsigned)vm.id, .state = VM_RUNNING, .pid = 1000 + i };
		bool notable = i == 300;
		if (notable)
			snprintf(st.reason, sizeof(st.reason), "marker");
		src->report(src, &st, notable);
	}
	int64_t took = monotonic_ms() - t0;
	cr_assert_lt(took, 1000, "%d reports took %lld ms", N_REPORTS, (long long)took);
	struct timespec ts = { 0, 200000000 };
	nanosleep(&ts, NULL);
	cr_assert_eq(sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(lock);
	src->destroy(src);              /* drains the queue */

	struct store_vm got;
	cr_assert_eq(store_vm_get(s, vm.id, &got), 0);
	cr_assert_str_eq(got.state, "RUNNING");
	cr_assert_eq(got.pid, 1000 + N_REPORTS - 1, "the last report arrived (pid %d)", got.pid);
	struct store_event *evs;
	size_t n;
	cr_assert_eq(store_event_list(s, 0, vm.id, 100, &evs, &n), 0);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		found |= strcmp(evs[i].message, "RUNNING reason=marker") == 0;
	free(evs);
	cr_assert(found, "the notable report survived the full queue");
	store_close(s);
}

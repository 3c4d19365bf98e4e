/* test_vmengine_state.c — vmengine's local pieces that need no QEMU: the vm.state file
 * (round trip of every field, corrupt files refused whole, a writer SIGKILLed mid-write and a
 * reader racing a writer never see a partial file), the [vmengine] configuration section, the
 * desired spec decoder, QEMU's command line, and the pid checks that keep signals away from
 * processes that are not the VM's QEMU (qemu_pid_matches, qemu_signal, qemu_read_pidfile,
 * qemu_find_pid), a VM's worker on the paths that need no QEMU (an interrupted launch, a VM
 * that never started, an unreadable vm.state beside a live stand-in QEMU), and store reports
 * that never wait for a locked store.
 * Every wait is bounded; the random delays before a SIGKILL are not synchronisation. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <sqlite3.h>

#include "atomic_file.h"
#include "config.h"
#include "deadline_io.h"
#include "desired_source.h"
#include "qemu_proc.h"
#include "store.h"
#include "vm_spec.h"
#include "vm_state.h"
#include "vm_worker.h"

/* ---------------------------------------------------------------- fixture and helpers */

static char g_dir[64];           /* a fresh temporary directory per test */
static char g_state[128];        /* <g_dir>/vm.state */
static pid_t g_child = -1;       /* a helper process, killed by teardown if still there */
static int g_stdin_w = -1;       /* the qemu_pid helper's stdin: closing it ends it */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(g_dir, sizeof(g_dir), "/tmp/berth-vmstate-XXXXXX");
	cr_assert_not_null(mkdtemp(g_dir));
	snprintf(g_state, sizeof(g_state), "%s/vm.state", g_dir);
	g_child = -1;
}

static void teardown(void)
{
	if (g_child > 0) {
		kill(g_child, SIGKILL);
		waitpid(g_child, NULL, 0);
		g_child = -1;
	}
	if (g_stdin_w >= 0)
		close(g_stdin_w);
	g_stdin_w = -1;
	if (g_dir[0])
		nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	g_dir[0] = '\0';
}

TestSuite(vm_state, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(config, .init = setup, .fini = teardown, .timeout = 30);
TestSuite(vm_spec, .timeout = 30);
TestSuite(qemu_argv, .timeout = 30);
TestSuite(qemu_pid, .init = setup, .fini = teardown, .timeout = 30);

static void write_text(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static void write_str(const char *path, const char *text)
{
	write_text(path, text, strlen(text));
}

static bool states_equal(const struct vm_state *a, const struct vm_state *b)
{
	return a->id == b->id && !strcmp(a->uuid, b->uuid) && a->state == b->state &&
	       a->pid == b->pid &&
	       a->since_ms == b->since_ms && a->stopping_since_ms == b->stopping_since_ms &&
	       a->terminating_since_ms == b->terminating_since_ms &&
	       a->escalation == b->escalation && !strcmp(a->reason, b->reason) &&
	       a->generation == b->generation && a->restart_pending == b->restart_pending &&
	       a->held == b->held && a->launches == b->launches;
}

/* ---------------------------------------------------------------- vm.state: round trip */

/* Only vm.state in the directory, and what a killed writer may leave: vm.state.tmp.<its pid>
 * (removed). writer 0: nothing else at all. */
static void check_dir_after_kill(pid_t writer)
{
	char leftover[64];
	snprintf(leftover, sizeof(leftover), "vm.state.tmp.%d", (int)writer);
	DIR *d = opendir(g_dir);
	cr_assert_not_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, "vm.state"))
			continue;
		cr_assert_str_eq(de->d_name, leftover, "unexpected file %s", de->d_name);
		char path[sizeof(g_dir) + 256];
		snprintf(path, sizeof(path), "%s/%s", g_dir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

Test(vm_state, every_field_round_trips)
{
	/* every state with every escalation, the other fields varied with n */
	for (int n = 0; n < VM_STATE_COUNT * ESC_COUNT; n++) {
		struct vm_state in = {
			.id = n % 2 ? VM_ID_MAX : (unsigned)(n + 1),
			.state = (enum vm_state_kind)(n / ESC_COUNT),
			.pid = n % 3 ? 4000 + n : 0,
			.since_ms = 1700000000000LL + n,
			.stopping_since_ms = n % 2 ? 1700000000500LL + n : 0,
			.terminating_since_ms = n % 5 ? 0 : 1700000000900LL,
			.escalation = (enum vm_escalation)(n % ESC_COUNT),
			.generation = n == 7 ? (uint64_t)INT64_MAX : (uint64_t)n * 1000003u,
			.restart_pending = n % 2 == 0,
			.held = n % 3 == 0,
			.launches = n == 3 ? UINT32_MAX : (unsigned)n,
		};
		if (n % 3)      /* files from before the uuid have none */
			snprintf(in.uuid, sizeof(in.uuid), "%08x-d9cb-469f-a165-70867728950e",
				 (unsigned)n);
		if (n % 4 == 0)
			snprintf(in.reason, sizeof(in.reason), "guest \"panicked\" \\ é\t%d", n);
		else if (n % 4 == 1)        /* the longest reason that fits */
			memset(in.reason, 'r', sizeof(in.reason) - 1);
		cr_assert_eq(vm_state_save(g_state, &in), 0);
		struct vm_state out;
		memset(&out, 0x5a, sizeof(out));
		char err[160] = "";
		cr_assert_eq(vm_state_load(g_state, &out, err, sizeof(err)), 0, "%s", err);
		cr_assert(states_equal(&out, &in), "state %s escalation %s",
			  vm_state_name(in.state), vm_escalation_name(in.escalation));
	}
	struct stat st;
	cr_assert_eq(stat(g_state, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	check_dir_after_kill(0);   /* no tmp file left behind */
}

/* ---------------------------------------------------------------- vm.state: corrupt files */

#define OK_TAIL "\"since\": 5, \"escalation\": \"none\", \"reason\": \"\", \"generation\": 1, " \
	"\"restart_pending\": false, \"held\": false, \"launches\": 2"

/* vm_state.h promises -EINVAL for any corrupt file, an oversized one included. */
static void expect_corrupt(const char *text, size_t len)
{
	write_text(g_state, text, len);
	struct vm_state s, before;
	memset(&s, 0xa5, sizeof(s));
	before = s;
	char err[160] = "";
	int rc = vm_state_load(g_state, &s, err, sizeof(err));
	cr_assert(rc == -EINVAL, "rc %d for %.80s", rc, text);
	cr_assert_neq(err[0], '\0', "a refusal needs a message: %.80s", text);
	cr_assert_eq(memcmp(&s, &before, sizeof(s)), 0, "half-loaded from %.80s", text);
}

Test(vm_state, missing_or_corrupt_files_refused_whole)
{
	struct vm_state s;
	char err[160] = "";
	cr_assert_eq(vm_state_load(g_state, &s, err, sizeof(err)), -ENOENT);
	cr_assert_neq(err[0], '\0');
	/* the good file these variations start from */
	write_str(g_state, "{\"id\": 3, \"state\": \"RUNNING\", \"pid\": 77, " OK_TAIL "}");
	cr_assert_eq(vm_state_load(g_state, &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.pid, 77);
	cr_assert_str_eq(s.uuid, "", "a file from before the uuid");

	const char *bad[] = {
		"",
		"not json",
		"{\"id\": 3, \"state\": \"RUNNING\", \"pid\": 77,",          /* truncated */
		"[3, \"RUNNING\"]",
		"{\"id\": 3, \"state\": \"FLYING\", " OK_TAIL "}",
		"{\"id\": 3, \"state\": \"running\", " OK_TAIL "}",
		"{\"id\": 3, \"state\": \"RUNNING\", \"pid\": -1, " OK_TAIL "}",
		"{\"id\": 3, \"id\": 4, \"state\": \"RUNNING\", " OK_TAIL "}",
		"{\"state\": \"RUNNING\", \"pid\": 77, " OK_TAIL "}",        /* no id */
		"{\"id\": 3, \"pid\": 77, " OK_TAIL "}",                      /* no state */
		"{\"id\": -3, \"state\": \"RUNNING\", " OK_TAIL "}",
		"{\"id\": \"3\", \"state\": \"RUNNING\", " OK_TAIL "}",
		"{\"id\": 3, \"state\": \"RUNNING\", \"pid\": 1.5, " OK_TAIL "}",
		"{\"id\": 3, \"state\": \"RUNNING\", \"pid\": 4294967296, " OK_TAIL "}",
		"{\"id\": 3, \"state\": \"RUNNING\", \"since\": -5}",
		"{\"id\": 3, \"state\": \"RUNNING\", \"escalation\": \"nuke\"}",
		"{\"id\": 3, \"state\": \"RUNNING\", \"held\": 1}",
		"{\"id\": 3, \"state\": \"RUNNING\", \"colour\": \"red\"}",
		"{\"id\": 3, \"state\": \"RUNNING\", \"uuid\": 42}",
		("{\"id\": 3, \"state\": \"RUNNING\", "
		 "\"uuid\": \"0f8fad5b-d9cb-469f-a165-70867728950e0\"}"),     /* 37 characters */
		"{\"id\": 3, \"state\": \"RUNNING\"} trailing",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_corrupt(bad[i], strlen(bad[i]));
	/* a NUL in the middle */
	static const char nul[] = "{\"id\": 3, \"state\": \"RUN\0NING\"}";
	expect_corrupt(nul, sizeof(nul) - 1);
	/* valid JSON, only too large: 70 KiB of whitespace before the closing brace */
	size_t pad = 70 * 1024, hlen = strlen("{\"id\": 3, \"state\": \"RUNNING\"");
	char *big = malloc(hlen + pad + 2);
	cr_assert_not_null(big);
	memcpy(big, "{\"id\": 3, \"state\": \"RUNNING\"", hlen);
	memset(big + hlen, ' ', pad);
	strcpy(big + hlen + pad, "}");
	expect_corrupt(big, strlen(big));
	free(big);
}

/* ---------------------------------------------------------------- vm.state: kill and race */

static struct vm_state g_a, g_b;     /* the two contents a writer alternates between */
static char *g_a_text, *g_b_text;    /* their exact bytes on disk */
static size_t g_a_len, g_b_len;
static unsigned long *g_count;       /* completed saves, shared with the writers */

static void make_two_states(void)
{
	g_a = (struct vm_state){ .id = 42, .uuid = "0f8fad5b-d9cb-469f-a165-70867728950e",
				 .state = VM_RUNNING, .pid = 1111, .since_ms = 1700000000000LL,
				 .generation = 5, .launches = 3 };
	memset(g_a.reason, 'A', sizeof(g_a.reason) - 1);
	g_b = (struct vm_state){ .id = 42, .uuid = "0f8fad5b-d9cb-469f-a165-70867728950e",
				 .state = VM_STOPPING, .pid = 2222,
				 .since_ms = 1700000009999LL, .stopping_since_ms = 1700000009999LL,
				 .escalation = ESC_QUIT, .generation = 5, .restart_pending = true,
				 .launches = 3 };
	memset(g_b.reason, 'B', sizeof(g_b.reason) - 1);
	char path[160];
	snprintf(path, sizeof(path), "%s/ref", g_dir);
	cr_assert_eq(vm_state_save(path, &g_a), 0);
	cr_assert_eq(read_file_all(path, 1 << 20, &g_a_text, &g_a_len), 0);
	cr_assert_eq(vm_state_save(path, &g_b), 0);
	cr_assert_eq(read_file_all(path, 1 << 20, &g_b_text, &g_b_len), 0);
	unlink(path);
	cr_assert_eq(vm_state_save(g_state, &g_a), 0);   /* vm.state exists from the start */
	g_count = mmap(NULL, sizeof(*g_count), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	cr_assert_neq(g_count, MAP_FAILED);
}

/* The number of completed saves. */
static unsigned long free_two_states(void)
{
	free(g_a_text);
	free(g_b_text);
	g_a_text = g_b_text = NULL;
	unsigned long saves = *g_count;
	munmap(g_count, sizeof(*g_count));
	return saves;
}

/* Forks a child that saves B, A, B, A... into vm.state until killed (at most 20 s), counting
 * completed saves in *g_count (shared memory). */
static pid_t start_writer(void)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int64_t until = monotonic_ms() + 20000;
		for (unsigned long i = 0; monotonic_ms() < until; i++) {
			if (vm_state_save(g_state, i % 2 ? &g_a : &g_b) != 0)
				_exit(2);
			__atomic_add_fetch(g_count, 1, __ATOMIC_RELAXED);
		}
		_exit(0);
	}
	return pid;
}

/* vm.state must be exactly A or exactly B, in bytes and once parsed (two reads: a writer may
 * replace the file in between). 0 = A, 1 = B, by the bytes. */
static int check_whole(void)
{
	char *text = NULL;
	size_t len = 0;
	cr_assert_eq(read_file_all(g_state, 1 << 20, &text, &len), 0);
	bool is_a = len == g_a_len && !memcmp(text, g_a_text, len);
	bool is_b = len == g_b_len && !memcmp(text, g_b_text, len);
	cr_assert(is_a || is_b, "vm.state is neither content (%zu bytes): %.200s", len, text);
	free(text);
	struct vm_state s;
	char err[160] = "";
	cr_assert_eq(vm_state_load(g_state, &s, err, sizeof(err)), 0, "%s", err);
	cr_assert(states_equal(&s, &g_a) || states_equal(&s, &g_b), "pid %d, %s", s.pid,
		  vm_state_name(s.state));
	return is_a ? 0 : 1;
}

static void spin_us(long us)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000 < us);
}

Test(vm_state, sigkill_during_write_leaves_old_or_new)
{
	make_two_states();
	unsigned seed = 12345;
	int seen[2] = { 0, 0 };
	for (int i = 0; i < 60; i++) {
		unsigned long before = __atomic_load_n(g_count, __ATOMIC_RELAXED);
		g_child = start_writer();
		/* wait for the first completed save half of the time, then 0..5 ms more */
		if (i % 2) {
			int64_t until = monotonic_ms() + 5000;
			while (__atomic_load_n(g_count, __ATOMIC_RELAXED) == before &&
			       monotonic_ms() < until)
				;
		}
		spin_us((long)(rand_r(&seed) % 5001));
		kill(g_child, SIGKILL);
		int status = 0;
		cr_assert_eq(waitpid(g_child, &status, 0), g_child);
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			  "the writer failed on its own: status %#x", status);
		check_dir_after_kill(g_child);
		g_child = -1;
		seen[check_whole()]++;
	}
	unsigned long saves = free_two_states();
	cr_assert_geq(saves, 30, "the writers completed only %lu saves", saves);
	cr_assert(seen[0] > 0 && seen[1] > 0, "A %d times, B %d times", seen[0], seen[1]);
}

Test(vm_state, reader_racing_a_writer_never_sees_a_partial_file)
{
	make_two_states();
	g_child = start_writer();
	int seen[2] = { 0, 0 }, reads = 0;
	int64_t t0 = monotonic_ms();
	/* at least 300 ms, and until both contents were seen a few times (at most 5 s) */
	while (monotonic_ms() - t0 < 300 ||
	       ((seen[0] < 5 || seen[1] < 5) && monotonic_ms() - t0 < 5000)) {
		seen[check_whole()]++;
		reads++;
	}
	kill(g_child, SIGKILL);
	waitpid(g_child, NULL, 0);
	g_child = -1;
	unsigned long saves = free_two_states();
	cr_assert_geq(saves, 10, "the writer completed only %lu saves", saves);
	cr_assert(seen[0] >= 5 && seen[1] >= 5, "%d reads: A %d, B %d", reads, seen[0], seen[1]);
}

/* ---------------------------------------------------------------- config */

static int load_config(struct vmengine_config *c, const char *text, char *err, size_t errlen)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/berth.conf", g_dir);
	write_str(path, text);
	err[0] = '\0';
	return vmengine_config_load(c, "/srv/berth", path, err, errlen);
}

Test(config, defaults_when_file_missing)
{
	struct vmengine_config c;
	char err[256] = "", path[128];
	snprintf(path, sizeof(path), "%s/nope.conf", g_dir);
	cr_assert_eq(vmengine_config_load(&c, "/srv/berth", path, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(c.root, "/srv/berth");
	cr_assert_str_eq(c.qemu, "qemu-system-x86_64");
	cr_assert_str_eq(c.accel, "tcg");
	cr_assert_str_eq(c.machine, "pc");
	cr_assert_eq(c.tick_ms, 1000);
	cr_assert_eq(c.powerdown_grace_ms, 30000);
	cr_assert_eq(c.quit_grace_ms, 10000);
	cr_assert_eq(c.term_grace_ms, 10000);
	cr_assert_eq(c.qmp_timeout_ms, 5000);
	cr_assert_eq(c.launch_timeout_ms, 30000);
	cr_assert_eq(c.target_restart_policy, TARGET_RESTART_RECONNECT);
	cr_assert_not(c.desired_from_dir);
	/* an empty file is the same (other sections: every_key_parsed) */
	cr_assert_eq(load_config(&c, "", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.tick_ms, 1000);
}

Test(config, every_key_parsed)
{
	struct vmengine_config c;
	char err[256];
	const char *text =
		"; berth.conf\n"
		"[diskengine]\n"
		"tick = nonsense\n"
		"[vmengine]\n"
		"qemu = /opt/qemu/bin/qemu-system-x86_64\n"
		"accel = kvm\n"
		"machine = q35\n"
		"tick = 0.25\n"
		"powerdown_grace = 0.5\n"
		"quit_grace = 2\n"
		"term_grace = 3.5\n"
		"qmp_timeout = 7\n"
		"launch_timeout = 45\n"
		"target_restart_policy = restart-vms\n"
		"desired_source = dir\n"
		"[blockd]\n"
		"accel = xen\n";
	cr_assert_eq(load_config(&c, text, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(c.qemu, "/opt/qemu/bin/qemu-system-x86_64");
	cr_assert_str_eq(c.accel, "kvm");
	cr_assert_str_eq(c.machine, "q35");
	cr_assert_eq(c.tick_ms, 250);
	cr_assert_eq(c.powerdown_grace_ms, 500);
	cr_assert_eq(c.quit_grace_ms, 2000);
	cr_assert_eq(c.term_grace_ms, 3500);
	cr_assert_eq(c.qmp_timeout_ms, 7000);
	cr_assert_eq(c.launch_timeout_ms, 45000);
	cr_assert_eq(c.target_restart_policy, TARGET_RESTART_RESTART_VMS);
	cr_assert(c.desired_from_dir);

	cr_assert_eq(load_config(&c, "[vmengine]\naccel = tcg\ntarget_restart_policy = reconnect\n"
				 "powerdown_grace = 0\ndesired_source = store\n", err, sizeof(err)),
		     0, "%s", err);
	cr_assert_str_eq(c.accel, "tcg");
	cr_assert_eq(c.target_restart_policy, TARGET_RESTART_RECONNECT);
	cr_assert_eq(c.powerdown_grace_ms, 0);
	cr_assert_not(c.desired_from_dir);
}

Test(config, bad_keys_and_values_name_the_key)
{
	const struct { const char *line, *key; } bad[] = {
		{ "tick = 0", "tick" }, { "tick = -1", "tick" }, { "tick = abc", "tick" },
		{ "tick = 1s", "tick" }, { "tick = nan", "tick" },
		{ "powerdown_grace = -1", "powerdown_grace" },
		{ "powerdown_grace = abc", "powerdown_grace" },
		{ "quit_grace = -0.5", "quit_grace" }, { "term_grace = 1e9", "term_grace" },
		{ "qmp_timeout = 0", "qmp_timeout" }, { "launch_timeout = 0.01", "launch_timeout" },
		{ "launch_timeout = inf", "launch_timeout" },
		{ "accel = xen", "accel" }, { "accel = KVM", "accel" },
		{ "machine = ", "machine" }, { "qemu = ", "qemu" },
		{ "target_restart_policy = never", "target_restart_policy" },
		{ "desired_source = etcd", "desired_source" }, { "bogus_key = 1", "bogus_key" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256], err[256];
		snprintf(text, sizeof(text), "[vmengine]\nquit_grace = 1\n%s\n", bad[i].line);
		struct vmengine_config c;
		cr_assert_eq(load_config(&c, text, err, sizeof(err)), -EINVAL, "%s", bad[i].line);
		cr_assert(strstr(err, bad[i].key), "'%s': message %s", bad[i].line, err);
	}
	char err[256];
	struct vmengine_config c;
	cr_assert_eq(load_config(&c, "[vmengine]\nbogus_key = 1\n", err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "unknown"), "%s", err);
	cr_assert_eq(load_config(&c, "[vmengine\ntick = 1\n", err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "line 1"), "%s", err);
}

/* ---------------------------------------------------------------- vm_spec_from_json */

#define UUID "0f8fad5b-d9cb-469f-a165-70867728950e"

static json_t *full_spec(void)
{
	json_error_t e;
	json_t *o = json_loads(
		"{\"id\": 7, \"name\": \"web-1\", \"uuid\": \"" UUID "\", \"vcpus\": 2, "
		"\"memory_mb\": 512, \"kernel\": \"/images/vmlinuz\", "
		"\"initrd\": \"/images/initrd\", "
		"\"append\": \"console=ttyS0 quiet\", "
		"\"disk\": {\"vhost\": \"/run/berth/vhost/7.sock\", \"num_queues\": 4}, "
		"\"desired\": \"RUNNING\", \"on_crash\": \"restart\", \"generation\": 9}",
		0, &e);
	cr_assert_not_null(o, "%s", e.text);
	return o;
}

static struct vm_spec *decode_spec(json_t *o, int want, const char *fragment)
{
	static struct vm_spec s;
	char err[256] = "";
	int rc = vm_spec_from_json(o, &s, err, sizeof(err));
	char *text = json_dumps(o, JSON_COMPACT);
	cr_assert_eq(rc, want, "rc %d (%s) for %s", rc, err, text);
	if (fragment)
		cr_assert(strstr(err, fragment), "message '%s' does not name %s (%s)", err,
			  fragment, text);
	free(text);
	json_decref(o);
	return &s;
}

Test(vm_spec, full_spec_decodes)
{
	struct vm_spec *s = decode_spec(full_spec(), 0, NULL);
	cr_assert_eq(s->id, 7);
	cr_assert_str_eq(s->name, "web-1");
	cr_assert_str_eq(s->uuid, UUID);
	cr_assert_eq(s->vcpus, 2);
	cr_assert_eq(s->memory_mb, 512);
	cr_assert_str_eq(s->kernel, "/images/vmlinuz");
	cr_assert_str_eq(s->initrd, "/images/initrd");
	cr_assert_str_eq(s->append, "console=ttyS0 quiet");
	cr_assert_str_eq(s->disk_vhost, "/run/berth/vhost/7.sock");
	cr_assert_str_eq(s->disk_file, "");
	cr_assert_eq(s->num_queues, 4);
	cr_assert_eq(s->desired, DESIRED_RUNNING);
	cr_assert_eq(s->on_crash, ON_CRASH_RESTART);
	cr_assert_eq(s->generation, 9);
	cr_assert(s->disk_ready);
	cr_assert_str_eq(vm_desired_name(s->desired), "RUNNING");
	cr_assert_str_eq(vm_desired_name(DESIRED_TERMINATED), "TERMINATED");

	/* the minimum, with its defaults */
	json_t *o = json_pack("{s:i, s:s, s:s, s:s}", "id", 1, "uuid", UUID, "kernel", "/k",
			      "desired", "STOPPED");
	s = decode_spec(o, 0, NULL);
	cr_assert_eq(s->vcpus, 1);
	cr_assert_eq(s->memory_mb, 256);
	cr_assert_eq(s->num_queues, 1);
	cr_assert_eq(s->on_crash, ON_CRASH_STOP);
	cr_assert_eq(s->desired, DESIRED_STOPPED);
	cr_assert_str_eq(s->name, "");
	cr_assert_str_eq(s->disk_vhost, "");
	cr_assert_str_eq(s->disk_file, "");
}

/* The full spec with key set to the JSON value (NULL: removed) must be refused, naming
 * fragment. */
static void expect_spec_refused(const char *key, const char *value, const char *fragment)
{
	json_t *o = full_spec();
	json_error_t e;
	json_t *v = value ? json_loads(value, JSON_DECODE_ANY, &e) : NULL;
	cr_assert(v || !value, "bad test JSON %s", value);
	if (v)
		json_object_set_new(o, key, v);
	else
		json_object_del(o, key);
	decode_spec(o, -EINVAL, fragment);
}

Test(vm_spec, each_bad_field_named)
{
	static const struct { const char *key, *value, *fragment; } bad[] = {
		{ "id", "0", "id" }, { "id", "1000000000", "id" }, { "id", "\"7\"", "id" },
		{ "id", NULL, "id" },
		{ "uuid", "\"not-a-uuid\"", "uuid" },
		{ "uuid", "\"0f8fad5bxd9cb-469f-a165-70867728950e\"", "uuid" },
		{ "uuid", "\"" UUID "0\"", "uuid" }, { "uuid", NULL, "uuid" },
		{ "kernel", "\"images/vmlinuz\"", "kernel" }, { "kernel", NULL, "kernel" },
		{ "initrd", "\"initrd.img\"", "initrd" },
		{ "desired", "\"FOO\"", "desired" }, { "desired", "\"running\"", "desired" },
		{ "on_crash", "\"x\"", "on_crash" },
		{ "vcpus", "0", "vcpus" }, { "vcpus", "65", "vcpus" },
		{ "memory_mb", "32", "memory_mb" },
		{ "name", "\"bad\\u0001name\"", "name" }, { "name", "\"tab\\tname\"", "name" },
		{ "name", "\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\"",
		  "name" },                                                  /* 64 characters */
		{ "append", "\"console=ttyS0\\nrm -rf\"", "append" },
		{ "colour", "\"blue\"", "colour" },
		{ "generation", "-1", "generation" },
		{ "disk", "{\"vhost\": \"/run/v.sock\", \"file\": \"/images/d.raw\"}", "disk" },
		{ "disk", "{}", "disk" },
		{ "disk", "{\"vhost\": \"/run/v.sock\", \"num_queues\": 0}", "num_queues" },
		{ "disk", "{\"vhost\": \"/run/v.sock\", \"num_queues\": 17}", "num_queues" },
		{ "disk", "{\"vhost\": \"v.sock\"}", "vhost" },
		{ "disk", "{\"file\": \"/images/a,b.raw\"}", "file" },
		{ "disk", "{\"file\": \"/d.raw\", \"ro\": true}", "'ro'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_spec_refused(bad[i].key, bad[i].value, bad[i].fragment);
	/* a vhost socket path that does not fit sun_path */
	char sock[200];
	snprintf(sock, sizeof(sock), "{\"vhost\": \"/run/%0120d.sock\"}", 0);
	expect_spec_refused("disk", sock, "vhost");
}

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
	ASSERT_PAIR(argv, "-qmp", "unix:/srv/berth/vmengine/vms/7/monitor.sock,server=on,wait=off");
	ASSERT_PAIR(argv, "-chardev", "socket,id=disk0,path=/run/berth/vhost/7.sock,reconnect=1");
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
	cr_assert_not(has_arg(argv, "-chardev"));
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

TestSuite(vm_worker, .init = setup, .fini = teardown, .timeout = 60);

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
	cr_assert_str_eq(st.reason, "killed by term");
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

TestSuite(desired_store, .init = setup, .fini = teardown, .timeout = 60);

#define N_REPORTS 1100          /* more than the queue holds */

Test(desired_store, reports_never_wait_for_a_locked_store)
{
	char db[128], err[256];
	snprintf(db, sizeof(db), "%s/berth.db", g_dir);
	struct store *s = store_open(db, err, sizeof(err));
	cr_assert_not_null(s, "%s", err);
	struct store_vm vm = { .vcpus = 1, .memory_mb = 64 };
	struct store_volume vol = { .size_mb = 64 };
	snprintf(vm.name, sizeof(vm.name), "web");
	snprintf(vm.host, sizeof(vm.host), "h1");
	snprintf(vm.desired, sizeof(vm.desired), "RUNNING");
	snprintf(vm.on_crash, sizeof(vm.on_crash), "stop");
	snprintf(vol.layout, sizeof(vol.layout), "single");
	cr_assert_eq(store_vm_create(s, &vm, &vol), 0, "%s", store_error(s));
	struct desired_source *src = desired_store_open(db, "h1", err, sizeof(err));
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

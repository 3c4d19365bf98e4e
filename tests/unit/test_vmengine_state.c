/* test_vmengine_state.c — vmengine's local pieces that need no QEMU: the vm.state file
 * (round trip of every field, corrupt files refused whole, a writer SIGKILLed mid-write and a
 * reader racing a writer never see a partial file), the [vmengine] configuration section and
 * the desired spec decoder. QEMU's command line, the pid checks, the VM worker and store
 * reports are in test_vmengine_qemu.c; the shared fixture is in vmengine_test_util.c.
 * Every wait is bounded; the random delays before a SIGKILL are not synchronisation. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
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

#include "atomic_file.h"
#include "config.h"
#include "deadline_io.h"
#include "vm_spec.h"
#include "vm_state.h"
#include "vmengine_test_util.h"

/* ---------------------------------------------------------------- fixture and helpers */

TestSuite(vm_state, .init = vmtest_setup, .fini = vmtest_teardown, .timeout = 60);
TestSuite(config, .init = vmtest_setup, .fini = vmtest_teardown, .timeout = 30);
TestSuite(vm_spec, .timeout = 30);

static bool states_equal(const struct vm_state *a, const struct vm_state *b)
{
	return a->id == b->id && !strcmp(a->uuid, b->uuid) && a->state == b->state &&
	       a->pid == b->pid &&
	       a->since_ms == b->since_ms && a->stopping_since_ms == b->stopping_since_ms &&
	       a->terminating_since_ms == b->terminating_since_ms &&
	       a->escalation == b->escalation && !strcmp(a->reason, b->reason) &&
	       a->generation == b->generation && a->restart_pending == b->restart_pending &&
	       a->held == b->held && a->launches == b->launches && a->disk == b->disk &&
	       a->disk_since_ms == b->disk_since_ms;
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
	for (int n = 0; n < VM_LOCAL_STATE_COUNT * ESC_COUNT; n++) {
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
			.disk = (enum vm_disk)(n % 3),     /* null, false, true */
			.disk_since_ms = n % 3 ? 1700000000700LL + n : 0,
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
	unsigned rng = 12345;
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
		spin_us((long)(rand_r(&rng) % 5001));
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
		"[supervisor]\n"
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

/* A section no part of Berth reads is a mistake (a typo, or a setting put where nothing reads
 * it): every daemon refuses the file with a line naming the section, as it does an unknown key. */
Test(config, an_unknown_section_is_refused)
{
	char err[256];
	struct vmengine_config c;
	cr_assert_eq(load_config(&c, "[vmengine]\ntick = 1\n[blockdd]\nfoo = 1\n", err,
				 sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "[blockdd]") && strstr(err, "unknown section"), "%s", err);
	/* The other parts' sections are not unknown. */
	cr_assert_eq(load_config(&c, "[berth]\nhost = h\n[diskengine]\ntick = 1\n"
				 "[supervisor]\nblockd_restart_sec = 1\n[vmengine]\ntick = 2\n",
				 err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.tick_ms, 2000);
}

/* ---------------------------------------------------------------- vm_spec_from_json */

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

/* Found by tests/fuzz/fuzz_vm_state.c: a reason cut to fit its 127 bytes must not end in
 * half a UTF-8 character, or the state that loaded cannot be saved again (jansson refuses
 * invalid UTF-8) and vmengine loses every later state change of that VM. */
Test(vm_state, long_utf8_reason_loads_and_saves_again)
{
	char text[512];
	snprintf(text, sizeof(text), "{\"id\": 3, \"state\": \"ERROR\", \"reason\": \"%0126d\xc3\xa9 "
		 "and more\"}", 0);
	write_str(g_state, text);
	struct vm_state s;
	char err[256] = "";
	cr_assert_eq(vm_state_load(g_state, &s, err, sizeof(err)), 0, "load: %s", err);
	cr_assert_eq(strlen(s.reason), 126, "the cut character is dropped whole");
	cr_assert_eq(vm_state_save(g_state, &s), 0, "a loaded state saves again");
	struct vm_state again;
	cr_assert_eq(vm_state_load(g_state, &again, err, sizeof(err)), 0, "reload: %s", err);
	cr_assert(states_equal(&s, &again));

	/* A reason set in memory with a cut or invalid sequence is saved, cleaned. */
	memset(s.reason, 0, sizeof(s.reason));
	memcpy(s.reason, "bad \xff byte, cut \xe2\x82", 19);
	cr_assert_eq(vm_state_save(g_state, &s), 0, "a reason with invalid UTF-8 still saves");
	cr_assert_eq(vm_state_load(g_state, &again, err, sizeof(err)), 0, "reload: %s", err);
	cr_assert_str_eq(again.reason, "bad ? byte, cut ?");
}

/* cmd_vm.c — `berth vm ...`: create, list, show, start, stop, restart, terminate, console and
 * wait (migrate: cmd_vm_migrate.c). Commands only change the desired state in the store
 * (and read what the engines reported); diskengine and vmengine do the work. Input is checked before anything is
 * written, so a refused command leaves nothing behind. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_why.h"
#include "deadline_io.h"
#include "states.h"
#include "uuid.h"

#define VM_USAGE                                                                           \
	"berth vm create NAME [--vcpus N] [--memory MB] [--disk-size MB] [--workload W]\n"  \
	"                      [--on-crash stop|restart] [--layout raid1|raid0|single]\n"   \
	"                      [--host HOST] [--wait] [--timeout S]\n"                      \
	"       berth vm list [--all]\n"                                                    \
	"       berth vm show VM\n"                                                         \
	"       berth vm start|stop|terminate VM [--wait] [--timeout S]\n"                  \
	"       berth vm restart VM [--timeout S]\n"                                        \
	"       berth vm console VM [--lines N]\n"                                          \
	"       berth vm wait VM --state STATE [--timeout S]\n"                             \
	"       berth vm migrate VM --to HOST [--wait] [--timeout S]\n"                      \
	"VM is an id or a name: of a live VM for start, stop, restart and terminate, of the\n"  \
	"most recent VM so named for show, console and wait. STATE: CREATING STARTING\n"     \
	"RUNNING STOPPING STOPPED RESTARTING TERMINATING TERMINATED MIGRATING ERROR"

/* A usage error of `berth vm SUB`: its synopsis, in one line. */
static int vm_usage(const char *sub)
{
	static const char *const synopsis[][2] = {
		{ "create", "create NAME [--vcpus N] [--memory MB] [--disk-size MB] [...]" },
		{ "list", "list [--all]" }, { "show", "show VM" },
		{ "start", "start VM [--wait] [--timeout S]" },
		{ "stop", "stop VM [--wait] [--timeout S]" },
		{ "terminate", "terminate VM [--wait] [--timeout S]" },
		{ "restart", "restart VM [--timeout S]" }, { "console", "console VM [--lines N]" },
		{ "wait", "wait VM --state STATE [--timeout S]" },
		{ "migrate", "migrate VM --to HOST [--wait] [--timeout S]" },
	};
	for (size_t i = 0; i < sizeof(synopsis) / sizeof(synopsis[0]); i++)
		if (!strcmp(sub, synopsis[i][0]))
			return cli_usage_error("usage: berth vm %s (see berth vm --help)",
					       synopsis[i][1]);
	return cli_usage_error("usage: berth vm COMMAND ... (see berth vm --help)");
}

/* getopt_long's '?' (an unknown option) or ':' (an option without its value), in one line. */
static int bad_option(int opt, char **argv)
{
	const char *arg = argv[optind - 1];
	return opt == ':' ? cli_usage_error("option '%s' needs a value (see berth vm --help)", arg)
			  : cli_usage_error("unknown option '%s' (see berth vm --help)", arg);
}

static bool valid_state(const char *s)
{
	enum vm_state_kind k;
	return vm_state_parse(s, &k) == 0;
}

static bool valid_vm_name(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len >= STORE_NAME_MAX || (s[0] >= '0' && s[0] <= '9') || s[0] == '-')
		return false;        /* a leading digit would read as an id, a '-' as an option */
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static bool valid_workload(const char *s)
{
	static const char *const known[] = { "writer", "verify", "bench", "dirty", "memcheck",
					     "idle", "acpi", "panic", NULL };
	for (const char *const *p = known; *p; p++)
		if (!strcmp(*p, s))
			return true;
	return false;
}

/* ---------------------------------------------------------------- wait */

/* The VM reached the state; for TERMINATED, its volume is gone too. */
static bool reached(struct cli *c, const struct store_vm *vm, const char *state)
{
	if (strcmp(vm->state, state))
		return false;
	struct store_volume vol;
	return strcmp(state, "TERMINATED") || store_volume_get(c->store, vm->volume_id, &vol) < 0 ||
	       !strcmp(vol.state, "DELETED");
}

/* What the VM waits on, from the engines' records (cli_why.h); "" when nothing is known. */
static void waiting_on(struct cli *c, const struct store_vm *vm, char *out, size_t len)
{
	struct why *w = why_open(c);
	if (w && !why_vm(w, vm, out, len))
		out[0] = '\0';
	why_close(w);
}

/* Polls the store until the VM reaches state. */
static int wait_state(struct cli *c, int64_t id, const char *state, double timeout_s)
{
	int64_t deadline = deadline_after_ms((int64_t)(timeout_s * 1000));
	struct store_vm vm;
	for (;;) {
		int rc = store_vm_get(cli_store(c), id, &vm);
		if (rc < 0)
			return cli_fail("%s", store_error(c->store));
		if (reached(c, &vm, state))
			return 0;
		if (deadline_remaining_ms(deadline) == 0) {
			char why[768] = "";
			waiting_on(c, &vm, why, sizeof(why));
			return cli_fail("vm %lld is %s after %.0f s, not %s%s%s%s%s%s", (long long)id,
					vm.state, timeout_s, state,
					!strcmp(vm.state, state) ? " (its volume is not deleted yet)"
								 : "",
					vm.reason[0] ? ": " : "", vm.reason,
					why[0] ? "; waiting on " : "", why);
		}
		struct timespec ts = { 0, 100 * 1000000L };    /* polling interval */
		nanosleep(&ts, NULL);
	}
}

/* ---------------------------------------------------------------- create */

static int free_space_mb(const char *root, uint64_t *mb)
{
	struct statvfs fs;
	if (statvfs(root, &fs) < 0)
		return -errno;
	*mb = ((uint64_t)fs.f_bavail * fs.f_frsize) >> 20;
	return 0;
}

static int vm_create(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vcpus", required_argument, NULL, 'c' },
		{ "memory", required_argument, NULL, 'm' },
		{ "disk-size", required_argument, NULL, 'd' },
		{ "workload", required_argument, NULL, 'w' },
		{ "on-crash", required_argument, NULL, 'o' },
		{ "layout", required_argument, NULL, 'l' },
		{ "wait", no_argument, NULL, 'W' },
		{ "timeout", required_argument, NULL, 't' },
		{ "host", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t vcpus = 1, memory = 256, disk = 64;
	const char *workload = "idle", *on_crash = "stop", *layout = "raid1", *host = NULL;
	bool wait = false;
	double timeout = 180;
	int opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (!cli_parse_u64(optarg, 1, 64, &vcpus))
				return cli_usage_error("bad --vcpus '%s' (1..64)", optarg);
			break;
		case 'm':
			if (!cli_parse_u64(optarg, 64, 1048576, &memory))
				return cli_usage_error("bad --memory '%s' (64..1048576 MiB)", optarg);
			break;
		case 'd':
			if (!cli_parse_u64(optarg, 1, 16ull << 20, &disk))
				return cli_usage_error("bad --disk-size '%s' (1..16777216 MiB)", optarg);
			break;
		case 'w': workload = optarg; break;
		case 'o': on_crash = optarg; break;
		case 'l': layout = optarg; break;
		case 'W': wait = true; break;
		case 't':
			if (!cli_parse_seconds(optarg, &timeout))
				return cli_usage_error("bad --timeout '%s'", optarg);
			break;
		case 'H': host = optarg; break;
		default: return bad_option(opt, argv);
		}
	}
	if (argc - optind != 1)
		return vm_usage(argv[0]);
	const char *name = argv[optind];
	if (host && (!host[0] || strlen(host) >= STORE_NAME_MAX || strpbrk(host, " \t\n/")))
		return cli_usage_error("bad --host '%s' (a host's name: 1-%d characters, no spaces "
				"or '/')", host, STORE_NAME_MAX - 1);
	if (!valid_vm_name(name))
		return cli_usage_error("bad VM name '%s': 1-63 of a-z A-Z 0-9 . _ -, not starting with "
				"a digit or '-'", name);
	if (!valid_workload(workload))
		return cli_usage_error("bad --workload '%s' (writer, verify, bench, dirty, memcheck, "
				"idle, acpi, panic)", workload);
	if (strcmp(on_crash, "stop") && strcmp(on_crash, "restart"))
		return cli_usage_error("bad --on-crash '%s' (stop, restart)", on_crash);
	unsigned bases = !strcmp(layout, "single") ? 1 : 2;
	if (strcmp(layout, "raid1") && strcmp(layout, "raid0") && strcmp(layout, "single"))
		return cli_usage_error("bad --layout '%s' (raid1, raid0, single)", layout);
	if (!c->conf.guest_kernel[0])
		return cli_fail("no guest image: set guest_kernel (and guest_initrd) in the [berth] "
				"section of %s/berth.conf", c->root);
	uint64_t free_mb = 0;
	if (free_space_mb(c->root, &free_mb) == 0 && disk * bases > free_mb)
		return cli_fail("bad --disk-size %llu MiB: %s needs %llu MiB, %llu MiB free",
				(unsigned long long)disk, layout,
				(unsigned long long)(disk * bases), (unsigned long long)free_mb);
	struct store_vm vm = { .vcpus = (unsigned)vcpus, .memory_mb = (unsigned)memory };
	struct store_volume vol = { .size_mb = disk };
	snprintf(vm.name, sizeof(vm.name), "%s", name);
	snprintf(vm.host, sizeof(vm.host), "%s", host ? host : "");   /* "": placed */
	snprintf(vm.desired, sizeof(vm.desired), "RUNNING");
	snprintf(vm.image, sizeof(vm.image), "berth-test-guest");
	if (strlen(c->conf.guest_kernel) >= sizeof(vm.kernel) ||
	    strlen(c->conf.guest_initrd) >= sizeof(vm.initrd))
		return cli_fail("guest_kernel / guest_initrd paths are too long");
	memcpy(vm.kernel, c->conf.guest_kernel, strlen(c->conf.guest_kernel) + 1);
	memcpy(vm.initrd, c->conf.guest_initrd, strlen(c->conf.guest_initrd) + 1);
	snprintf(vm.append, sizeof(vm.append), "console=ttyS0 panic=-1 berth.workload=%s",
		 workload);
	snprintf(vm.on_crash, sizeof(vm.on_crash), "%s", on_crash);
	snprintf(vol.layout, sizeof(vol.layout), "%s", layout);
	if (uuid_generate_text(vm.uuid) < 0)
		return cli_fail("cannot generate a UUID");
	struct store *s = cli_store(c);
	if (!s)
		return 1;
	const struct store_place how = { .down_after_ms = (int64_t)c->conf.host_down_after_ms,
					 .fallback_host = c->conf.host };
	int rc = store_vm_place(s, &vm, &vol, &how);
	if (rc < 0)
		return cli_fail("%s", store_error(s));
	char msg[160];
	snprintf(msg, sizeof(msg), "created on %s (vcpus %u, memory %u MiB, disk %llu MiB %s)",
		 vm.host, vm.vcpus, vm.memory_mb, (unsigned long long)disk, layout);
	store_event_add(s, c->conf.host, "cli", vm.id, "info", msg);
	if (c->json)
		cli_print_json(json_pack("{s:I, s:s, s:I, s:s}", "id", (json_int_t)vm.id, "name",
					 name, "volume_id", (json_int_t)vol.id, "host", vm.host));
	else
		printf("vm %lld (%s) created on %s\n", (long long)vm.id, name, vm.host);
	return wait ? wait_state(c, vm.id, "RUNNING", timeout) : 0;
}

/* ---------------------------------------------------------------- list, show */

static int vm_list(struct cli *c, int argc, char **argv)
{
	bool all = argc == 2 && !strcmp(argv[1], "--all");
	if (argc > 2 || (argc == 2 && !all))
		return vm_usage(argv[0]);
	struct store *s = cli_store(c);
	struct store_vm *vms;
	size_t n;
	if (!s)
		return 1;
	if (store_vm_list(s, NULL, all, &vms, &n) < 0)
		return cli_fail("%s", store_error(s));
	if (c->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, vm_json(&vms[i]));
		cli_print_json(arr);
		free(vms);
		return 0;
	}
	static const char *const cols[] = { "ID", "NAME", "STATE", "DISK", "HOST", "VCPUS",
					    "MEMORY", "AGE" };
	struct table *t = table_new(cols, 8);
	for (size_t i = 0; i < n; i++) {
		char id[24], vcpus[16], mem[24], age[16];
		snprintf(id, sizeof(id), "%lld", (long long)vms[i].id);
		snprintf(vcpus, sizeof(vcpus), "%u", vms[i].vcpus);
		snprintf(mem, sizeof(mem), "%u MiB", vms[i].memory_mb);
		cli_age(vms[i].created_ms, age, sizeof(age));
		table_row(t, id, vms[i].name, vms[i].state, vms[i].disk[0] ? vms[i].disk : "-",
			  vms[i].host, vcpus, mem, age);
	}
	table_print(t);
	table_free(t);
	free(vms);
	return 0;
}

/* A VM not where it is asked to be (or terminated with its volume still there). */
static bool unsettled(const struct store_vm *vm, const struct store_volume *vol)
{
	return strcmp(vm->state, vm->desired) ||
	       (!strcmp(vm->state, "TERMINATED") && vol && strcmp(vol->state, "DELETED"));
}

/* `vm show`: a stopping VM's escalation, and what an unsettled VM waits on. */
static void show_why(struct cli *c, struct why *w, const struct store_vm *vm,
		     const struct store_volume *vol)
{
	struct why_escalation esc;
	char text[768], at[16], due[16];
	(void)c;
	if (w && why_escalation(w, vm->id, &esc)) {
		why_clock(esc.since_ms, at, sizeof(at));
		why_clock(esc.next_due_ms, due, sizeof(due));
		if (esc.next[0])
			printf("stopping:  step %s (stop began at %s), next %s due at %s\n",
			       esc.step, at, esc.next, due);
		else
			printf("stopping:  step %s, the last (stop began at %s)\n", esc.step, at);
	}
	if (w && unsettled(vm, vol) && why_vm(w, vm, text, sizeof(text)))
		printf("waiting:   %s\n", text);
}

static void show_why_json(struct cli *c, struct why *w, const struct store_vm *vm,
			  const struct store_volume *vol, json_t *o)
{
	struct why_escalation esc;
	char text[768];
	(void)c;
	json_object_set_new(o, "escalation", w && why_escalation(w, vm->id, &esc)
		? json_pack("{s:s, s:I, s:s?, s:I}", "step", esc.step, "since_ms",
			    (json_int_t)esc.since_ms, "next_step", esc.next[0] ? esc.next : NULL,
			    "next_due_ms", (json_int_t)esc.next_due_ms)
		: json_null());
	json_object_set_new(o, "waiting_on", w && unsettled(vm, vol) &&
				    why_vm(w, vm, text, sizeof(text)) ? json_string(text)
								      : json_null());
}

static int vm_show(struct cli *c, int argc, char **argv)
{
	if (argc != 2)
		return vm_usage(argv[0]);
	struct store_vm vm;
	struct store_volume vol = { 0 };
	int rc = cli_find_vm_latest(c, argv[1], &vm);
	if (rc)
		return rc;
	bool has_volume = store_volume_get(c->store, vm.volume_id, &vol) == 0;
	struct why *why = why_open(c);
	if (c->json) {
		json_t *o = vm_json(&vm);
		json_object_set_new(o, "volume", has_volume ? volume_json(&vol) : json_null());
		json_object_set_new(o, "migration", vm_migration_json(&vm));
		show_why_json(c, why, &vm, has_volume ? &vol : NULL, o);
		why_close(why);
		cli_print_json(o);
		return 0;
	}
	char since[16];
	cli_age(vm.state_since_ms, since, sizeof(since));
	printf("id:        %lld\nname:      %s\nuuid:      %s\nhost:      %s\n"
	       "state:     %s (for %s)%s%s\ndesired:   %s\nvcpus:     %u\nmemory:    %u MiB\n"
	       "pid:       %d\non crash:  %s\n", (long long)vm.id, vm.name, vm.uuid, vm.host,
	       vm.state, since, vm.reason[0] ? ", " : "", vm.reason, vm.desired, vm.vcpus,
	       vm.memory_mb, vm.pid, vm.on_crash);
	if (has_volume)
		printf("volume:    %lld, %llu MiB %s, %s%s%s\n", (long long)vol.id,
		       (unsigned long long)vol.size_mb, vol.layout, vol.state,
		       vol.export_path[0] ? ", " : "", vol.export_path);
	char disk_since[16];
	cli_age(vm.disk_since_ms, disk_since, sizeof(disk_since));
	printf("disk:      %s%s%s%s\n", vm.disk[0] ? vm.disk : "unknown",
	       vm.disk[0] ? " (for " : "", vm.disk[0] ? disk_since : "", vm.disk[0] ? ")" : "");
	printf("console:   %s/vmengine/vms/%lld/console.log\n", c->root, (long long)vm.id);
	vm_show_migration(&vm);
	show_why(c, why, &vm, has_volume ? &vol : NULL);
	why_close(why);
	return 0;
}

/* ---------------------------------------------------------------- desired state */

static int vm_set(struct cli *c, int argc, char **argv, const char *desired,
		  const char *reached)
{
	static const struct option opts[] = {
		{ "wait", no_argument, NULL, 'W' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	bool wait = false;
	double timeout = 180;
	int opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (opt == 'W')
			wait = true;
		else if (opt == 't' && cli_parse_seconds(optarg, &timeout))
			continue;
		else
			return opt == 't' ? cli_usage_error("bad --timeout '%s'", optarg)
					  : bad_option(opt, argv);
	}
	if (argc - optind != 1)
		return vm_usage(argv[0]);
	struct store_vm vm;
	int rc = cli_find_vm(c, argv[optind], &vm);
	if (rc)
		return rc;
	if (!strcmp(vm.state, "TERMINATED") || !strcmp(vm.desired, "TERMINATED"))
		if (strcmp(desired, "TERMINATED"))
			return cli_fail("vm %lld is terminated", (long long)vm.id);
	if (store_vm_set_desired(c->store, vm.id, desired, !strcmp(desired, "RUNNING")) < 0)
		return cli_fail("%s", store_error(c->store));
	char msg[64];
	snprintf(msg, sizeof(msg), "desired %s", desired);
	store_event_add(c->store, c->conf.host, "cli", vm.id, "info", msg);
	if (!c->json)
		printf("vm %lld (%s): desired %s\n", (long long)vm.id, vm.name, desired);
	return wait ? wait_state(c, vm.id, reached, timeout) : 0;
}

static int vm_restart(struct cli *c, int argc, char **argv)
{
	double timeout = 180;
	if (argc == 4 && !strcmp(argv[2], "--timeout")) {
		if (!cli_parse_seconds(argv[3], &timeout))
			return cli_usage_error("bad --timeout '%s'", argv[3]);
	} else if (argc != 2) {
		return vm_usage(argv[0]);
	}
	struct store_vm vm;
	int rc = cli_find_vm(c, argv[1], &vm);
	if (rc)
		return rc;
	if (!strcmp(vm.state, "TERMINATED") || !strcmp(vm.desired, "TERMINATED"))
		return cli_fail("vm %lld is terminated", (long long)vm.id);
	if (store_vm_set_desired(c->store, vm.id, "STOPPED", false) < 0)
		return cli_fail("%s", store_error(c->store));
	if ((rc = wait_state(c, vm.id, "STOPPED", timeout)))
		return rc;
	if (store_vm_set_desired(c->store, vm.id, "RUNNING", true) < 0)
		return cli_fail("%s", store_error(c->store));
	store_event_add(c->store, c->conf.host, "cli", vm.id, "info", "restarted");
	return wait_state(c, vm.id, "RUNNING", timeout);
}

static int vm_wait(struct cli *c, int argc, char **argv)
{
	const char *state = NULL;
	double timeout = 180;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--state") && i + 1 < argc)
			state = argv[++i];
		else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			if (!cli_parse_seconds(argv[++i], &timeout))
				return cli_usage_error("bad --timeout '%s'", argv[i]);
		} else {
			return vm_usage(argv[0]);
		}
	}
	if (argc < 2 || !state)
		return vm_usage(argv[0]);
	if (!valid_state(state))
		return cli_usage_error("bad state '%s' (%s)", state, vm_state_names_list());
	struct store_vm vm;
	int rc = cli_find_vm_latest(c, argv[1], &vm);
	return rc ? rc : wait_state(c, vm.id, state, timeout);
}

#define CONSOLE_CHUNK 65536

/* Where the last `lines` lines of the file (size bytes) start. Reads back from the end one
 * chunk at a time, so the file's size does not matter. A final newline ends the last line;
 * a last line without one counts too. */
static int tail_start(int fd, off_t size, uint64_t lines, off_t *start)
{
	static char buf[CONSOLE_CHUNK];
	uint64_t seen = 0;
	off_t pos = size;
	*start = 0;
	while (pos > 0) {
		size_t len = pos > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)pos;
		pos -= (off_t)len;
		ssize_t got = pread(fd, buf, len, pos);
		if (got < 0 && errno == EINTR) {
			pos += (off_t)len;
			continue;
		}
		if (got != (ssize_t)len)
			return got < 0 ? -errno : -EIO;     /* truncated under us */
		for (size_t i = len; i-- > 0;) {
			if (buf[i] != '\n' || pos + (off_t)i == size - 1)
				continue;
			if (++seen == lines) {
				*start = pos + (off_t)i + 1;
				return 0;
			}
		}
	}
	return 0;
}

/* Copies [from, to) of the file to stdout, one chunk at a time. */
static int copy_out(int fd, off_t from, off_t to)
{
	static char buf[CONSOLE_CHUNK];
	while (from < to) {
		size_t len = to - from > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)(to - from);
		ssize_t got = pread(fd, buf, len, from);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			break;                          /* truncated meanwhile */
		if (fwrite(buf, 1, (size_t)got, stdout) != (size_t)got)
			return -EIO;
		from += got;
	}
	return fflush(stdout) == 0 ? 0 : -EIO;
}

static int vm_console(struct cli *c, int argc, char **argv)
{
	uint64_t lines = 0;
	if (argc == 4 && !strcmp(argv[2], "--lines")) {
		if (!cli_parse_u64(argv[3], 1, 1000000, &lines))
			return cli_usage_error("bad --lines '%s'", argv[3]);
	} else if (argc != 2) {
		return vm_usage(argv[0]);
	}
	struct store_vm vm;
	int rc = cli_find_vm_latest(c, argv[1], &vm);
	if (rc)
		return rc;
	char path[BERTH_PATH_LEN];
	paths_vm_console(path, sizeof(path), c->root, (unsigned)vm.id);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return cli_fail("vm %lld has no console yet (%s)", (long long)vm.id, path);
	if (fd < 0)
		return cli_fail("cannot open %s: %s", path, strerror(errno));
	struct stat st;
	off_t start = 0;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (lines)
		rc = tail_start(fd, st.st_size, lines, &start);
	if (rc == 0)
		rc = copy_out(fd, start, st.st_size);
	close(fd);
	return rc < 0 ? cli_fail("cannot read %s: %s", path, strerror(-rc)) : 0;
}

int cmd_vm(struct cli *c, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		printf("usage: %s\n", VM_USAGE);
		return argc < 2 ? 2 : 0;
	}
	const char *sub = argv[1];
	argc--;
	argv++;
	if (!strcmp(sub, "create"))
		return vm_create(c, argc, argv);
	if (!strcmp(sub, "list"))
		return vm_list(c, argc, argv);
	if (!strcmp(sub, "show"))
		return vm_show(c, argc, argv);
	if (!strcmp(sub, "start"))
		return vm_set(c, argc, argv, "RUNNING", "RUNNING");
	if (!strcmp(sub, "stop"))
		return vm_set(c, argc, argv, "STOPPED", "STOPPED");
	if (!strcmp(sub, "terminate"))
		return vm_set(c, argc, argv, "TERMINATED", "TERMINATED");
	if (!strcmp(sub, "restart"))
		return vm_restart(c, argc, argv);
	if (!strcmp(sub, "console"))
		return vm_console(c, argc, argv);
	if (!strcmp(sub, "wait"))
		return vm_wait(c, argc, argv);
	if (!strcmp(sub, "migrate"))
		return vm_migrate(c, argc, argv);
	return cli_usage_error("unknown command 'vm %s' (see berth vm --help)", sub);
}

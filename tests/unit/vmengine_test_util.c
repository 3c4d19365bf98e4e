/* vmengine_test_util.c — helpers shared by the vmengine unit tests: the temporary directory
 * fixture, file writing and the full desired spec (see vmengine_test_util.h). */
#include "vmengine_test_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char g_dir[64];
char g_state[128];
pid_t g_child = -1;
int g_stdin_w = -1;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

void vmtest_setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(g_dir, sizeof(g_dir), "/tmp/berth-vmstate-XXXXXX");
	cr_assert_not_null(mkdtemp(g_dir));
	snprintf(g_state, sizeof(g_state), "%s/vm.state", g_dir);
	g_child = -1;
}

void vmtest_teardown(void)
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

void write_text(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
}

void write_str(const char *path, const char *text)
{
	write_text(path, text, strlen(text));
}

json_t *full_spec(void)
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

struct vm_spec *decode_spec(json_t *o, int want, const char *fragment)
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

/* systemctl.c — runs systemctl (see systemctl.h) with a deadline: berth talks to systemd
 * only through it. */
#include "systemctl.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deadline_io.h"

int systemctl(const char *const *args, int timeout_ms, char *out, size_t len)
{
	const char *bin = getenv("BERTH_SYSTEMCTL");
	const char *argv[8] = { bin && bin[0] ? bin : "/bin/systemctl" };
	for (int i = 0; args[i] && i < 6; i++)
		argv[i + 1] = args[i];
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	size_t used = 0;
	int64_t deadline = deadline_after_ms(timeout_ms);
	struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
	while (pid > 0 && poll(&pfd, 1, deadline_remaining_ms(deadline)) > 0) {
		char buf[512];
		ssize_t n = read(pipefd[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		size_t take = out && used + 1 < len ? len - 1 - used : 0;
		take = take < (size_t)n ? take : (size_t)n;
		if (take)
			memcpy(out + used, buf, take);
		used += take;
	}
	close(pipefd[0]);
	if (out && len)
		out[used] = '\0';
	if (pid < 0)
		return -1;
	int status;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (deadline_remaining_ms(deadline) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool systemd_running(void)
{
	const char *bin = getenv("BERTH_SYSTEMCTL");
	return (bin && bin[0]) || access("/run/systemd/system", F_OK) == 0;
}

/* systemctl.h — systemd from the CLI: whether it runs this host, and systemctl with a
 * deadline. $BERTH_SYSTEMCTL replaces /bin/systemctl (the tests give a fake) and makes
 * systemd_running() true. */
#ifndef BERTH_CLI_SYSTEMCTL_H
#define BERTH_CLI_SYSTEMCTL_H

#include <stdbool.h>
#include <stddef.h>

/* Runs systemctl with args (NULL-terminated, at most 6); its stdout (up to len - 1 bytes) in
 * out when out is not NULL. Its exit status, or -1 when it could not run or did not finish
 * within timeout_ms (then it is killed). */
int systemctl(const char *const *args, int timeout_ms, char *out, size_t len);

/* systemd is PID 1 here (sd_booted's test), or $BERTH_SYSTEMCTL names a stand-in. */
bool systemd_running(void);

#endif

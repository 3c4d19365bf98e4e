/* supervisor_watchdog.h — `berth up`'s supervisor as blockd's watchdog, with systemd's own
 * liveness rule: the supervisor is blockd's NOTIFY_SOCKET (run/supervisor.notify) with
 * WATCHDOG_USEC = [supervisor] blockd_watchdog, blockd sends WATCHDOG=1 only while its RPC
 * thread and every reactor make progress (sd_notify_watchdog.h), and a blockd that sent none
 * for the whole interval is wedged. Only datagrams from the watched pid count
 * (SCM_CREDENTIALS). */
#ifndef BERTH_CLI_SUPERVISOR_WATCHDOG_H
#define BERTH_CLI_SUPERVISOR_WATCHDOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sup_watchdog {
	int fd;                       /* -1: off */
	char path[108];
	uint64_t timeout_ms;
	pid_t pid;                    /* the blockd watched; 0: none */
	int64_t last_ms;              /* monotonic: its start or its last ping */
	char status[160];             /* its last STATUS= */
};

/* Off when timeout_ms is 0. 0, or -errno with the reason in err. */
int sup_watchdog_open(struct sup_watchdog *w, const char *root, uint64_t timeout_ms, char *err,
		      size_t errlen);
void sup_watchdog_close(struct sup_watchdog *w);
/* In blockd's child, before exec: NOTIFY_SOCKET and WATCHDOG_USEC (nothing when off). */
void sup_watchdog_child_env(const struct sup_watchdog *w);
/* blockd pid started (0: gone): its interval starts now. */
void sup_watchdog_watch(struct sup_watchdog *w, pid_t pid);
/* Reads what is queued on the socket (never blocks). */
void sup_watchdog_drain(struct sup_watchdog *w);
/* The watched blockd sent no ping for timeout_ms: true, with the evidence in why. */
bool sup_watchdog_expired(const struct sup_watchdog *w, char *why, size_t len);

#endif

/* cli_why.h — what a VM or a volume is waiting on, for operators (`vm show`, `volume list`,
 * the --wait timeouts): read from the engines' own records, never guessed. diskengine's
 * status files (<root>/diskengine/{attach,detach}.json: each loop's items failing or in
 * flight, the RPC they wait for, and whether the target is reachable) name a hung or
 * failing call; a stopping VM's vm.state (its escalation step and persisted since) and
 * vmengine's configuration give its next step through the schedule's own rule
 * (escalation_next, src/vmengine/escalation.c). */
#ifndef BERTH_CLI_WHY_H
#define BERTH_CLI_WHY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

struct why;

/* Reads the records once (what is missing is simply not reported). */
struct why *why_open(struct cli *c);
void why_close(struct why *w);

/* A stopping VM's escalation: the step taken, the next one and when it is due. */
struct why_escalation {
	char step[16], next[16];        /* next "" after the last step */
	int64_t since_ms;               /* when the stop began */
	int64_t next_due_ms;
};
bool why_escalation(struct why *w, int64_t vm_id, struct why_escalation *out);

/* The call volume vol waits on, in one phrase without the volume ("vhost_delete_controller
 * has not answered for 41 s"); false when none. */
bool why_volume(struct why *w, int64_t vol, char *out, size_t len);

/* What the VM waits on, in one line ("volume 3: vhost_delete_controller has not answered for
 * 41 s", "the storage target: not reachable since 05:40:01 (12 s)", "step quit since ...;
 * term due in 4 s"); false when nothing is known to hold it. */
bool why_vm(struct why *w, const struct store_vm *vm, char *out, size_t len);

/* when_ms as local HH:MM:SS. */
void why_clock(int64_t when_ms, char *out, size_t len);

#endif

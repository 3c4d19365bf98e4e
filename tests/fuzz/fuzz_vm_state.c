/* fuzz_vm_state.c — libFuzzer target: vmengine's vm.state file (vmengine/vm_state.c). The
 * input is the file, read through a memfd by path. Checks: a refused file says why; a state
 * that loads is one vmengine can keep: saving it (to the scratch directory) succeeds and
 * loading the saved file gives the same state back. vmengine saves what it loaded after a
 * restart, so a loadable file that cannot be saved, or saves as something else, would lose
 * or change a VM's state. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "vm_state.h"

static bool same_state(const struct vm_state *a, const struct vm_state *b)
{
	return a->id == b->id && !strcmp(a->uuid, b->uuid) && a->state == b->state &&
	       a->pid == b->pid && a->since_ms == b->since_ms &&
	       a->stopping_since_ms == b->stopping_since_ms &&
	       a->terminating_since_ms == b->terminating_since_ms &&
	       a->escalation == b->escalation && !strcmp(a->reason, b->reason) &&
	       a->generation == b->generation && a->restart_pending == b->restart_pending &&
	       a->held == b->held && a->launches == b->launches;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fuzz_memfd(data, size, path, sizeof(path));
	if (fd < 0)
		abort();
	struct vm_state s;
	char err[256] = "";
	int rc = vm_state_load(path, &s, err, sizeof(err));
	close(fd);
	if (rc < 0) {
		if (!err[0])
			abort();
		return 0;
	}
	if (!memchr(s.uuid, '\0', sizeof(s.uuid)) || !memchr(s.reason, '\0', sizeof(s.reason)))
		abort();

	char saved[PATH_MAX + 64];
	fuzz_scratch_file("vm.state", saved, sizeof(saved));
	rc = vm_state_save(saved, &s);
	if (rc < 0) {
		fprintf(stderr, "a loaded vm.state cannot be saved: %d\n", rc);
		abort();
	}
	struct vm_state again;
	rc = vm_state_load(saved, &again, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "a saved vm.state does not load: %s\n", err);
		abort();
	}
	if (!same_state(&s, &again)) {
		fprintf(stderr, "vm.state changed through save and load\n");
		abort();
	}
	return 0;
}

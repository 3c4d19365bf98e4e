/* fuzz_persist.c — libFuzzer target: blockd's --persist replay (blockd/persist.c). The input
 * is the persist file; it is read through a memfd by path and replayed into an in-process
 * blockd (fuzz_blockd.c): every entry goes through the RPC handler of its method exactly as at
 * start-up, so the fuzzer reaches every method's params decoding and creation path (malloc,
 * null, delay, raid, uring over scratch files only, vhost controllers in the scratch dir).
 * After each replay the configuration must still encode (save_config's snapshot), and the
 * target is reset to empty for the next input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <jansson.h>

#include "fuzz_blockd.h"
#include "fuzz_util.h"
#include "persist.h"
#include "rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_blockd_setup();
	/* A file a replayed bdev_uring_create may name (and find). */
	static bool have_file;
	if (!have_file) {
		static const char zeros[8192];
		if (fuzz_write_scratch("disk.img", zeros, sizeof(zeros)) < 0)
			abort();
		have_file = true;
	}
	char path[64];
	int fd = fuzz_memfd(data, size, path, sizeof(path));
	if (fd < 0)
		abort();
	persist_set_path(path);
	int replayed = persist_load();
	persist_set_path(NULL);
	close(fd);
	if (replayed > 0) {
		json_t *config = rpc_config_snapshot();
		char *text = config ? json_dumps(config, JSON_INDENT(2)) : NULL;
		if (!text) {
			fprintf(stderr, "the replayed configuration does not encode\n");
			abort();
		}
		free(text);
		json_decref(config);
	}
	fuzz_blockd_reset();
	return 0;
}

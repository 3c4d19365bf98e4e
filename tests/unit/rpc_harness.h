/* rpc_harness.h — helpers for the blockd RPC method tests: the process state blockd's main()
 * would set up (g_blockd with one running reactor, every area registered), calls through
 * rpc_call_local() with params written as JSON text, assertions on the error code, a
 * snapshot of the whole bdev configuration to prove a failed call changed nothing, temporary
 * backing files, and assertions on the shape of results (members of a given type, SPDK's
 * bdev entry). */
#ifndef TESTS_RPC_HARNESS_H
#define TESTS_RPC_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "blockd.h"

#define RPC_HARNESS_TIMEOUT_MS 10000

/* The process state a test runs against (blockd's main() owns its own). */
extern struct blockd g_blockd;

/* Criterion .init/.fini: g_blockd with one started reactor, every area registered
 * (blockd_register), fault injection off; teardown
 * deletes every bdev, waits until they are reaped, stops the reactor, clears faults and
 * removes the temporary files. */
void rpc_harness_setup(void);
void rpc_harness_teardown(void);

/* Decodes JSON text (NULL gives NULL); asserts it is valid. */
json_t *rpc_json(const char *text);

/* Calls method with params given as JSON text (NULL: no params). Returns 0 with *result (a new
 * reference, may be NULL when result is NULL), or the error code with the message in err
 * (which may be NULL). */
int rpc_call_text(const char *method, const char *params, json_t **result, char *err,
		  size_t errlen);

/* Asserts the call succeeded and returns its result (caller releases it). params is a
 * printf format for the JSON text, or NULL. */
json_t *rpc_ok(const char *method, const char *params_fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Asserts the call failed with code and that the configuration is the same before and
 * after; returns the error message (static buffer). params is a printf format or NULL. */
const char *rpc_fail(int code, const char *method, const char *params_fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Everything a client can see of the configuration: bdev_get_bdevs, bdev_raid_get_bdevs
 * (all) and save_config in one object. */
json_t *rpc_snapshot(void);

/* bdev_get_bdevs for one name (the object), or NULL if it does not exist. */
json_t *rpc_bdev(const char *name);
/* Number of bdevs. */
size_t rpc_bdev_count(void);

/* Shortcuts for the common setup calls (assert success). */
void rpc_make_malloc(const char *name, uint64_t num_blocks, uint32_t block_size);
void rpc_make_null(const char *name, uint64_t num_blocks, uint32_t block_size);

/* A temporary file of size bytes; removed at teardown. */
const char *rpc_tmpfile(uint64_t size);

/* The member key of o as an integer, string, boolean, array or object; asserts it exists
 * with that type. */
json_int_t iget(const json_t *o, const char *key);
const char *sget(const json_t *o, const char *key);
bool bget(const json_t *o, const char *key);
json_t *aget(const json_t *o, const char *key);
json_t *oget(const json_t *o, const char *key);

/* A UUID in canonical form: 36 characters, lower-case hex, dashes at 8, 13, 18 and 23. */
bool uuid_valid(const char *s);

/* Checks one bdev_get_bdevs entry against SPDK's shape and the given values. */
void check_bdev(const json_t *b, const char *name, const char *product, uint32_t bs,
		uint64_t nb, bool claimed);
/* The same for the bdev called name, which must exist. */
void expect_bdev(const char *name, const char *product, uint32_t bs, uint64_t nb,
		 bool claimed);

#endif

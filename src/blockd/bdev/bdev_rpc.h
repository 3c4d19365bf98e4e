/* bdev_rpc.h — the bdev layer's RPC side: registration of the core methods and the bdev
 * subsystem of save_config, and what the modules' own RPC methods share (answers, the
 * malloc/null style create, delete by name). */
#ifndef BLOCKD_BDEV_RPC_H
#define BLOCKD_BDEV_RPC_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

struct bdev;
struct rpc_request;

/* Registers the core methods and the config writer. 0 or -errno. */
int bdev_rpc_register(void);

/* Answers a creation: the new bdev's name, or the module's errno. */
void bdev_rpc_reply_created(struct rpc_request *req, int rc, struct bdev *b);
/* Answers true, or the module's errno. */
void bdev_rpc_reply_done(struct rpc_request *req, int rc);

/* {name, num_blocks*, block_size*, uuid} -> create (name required when name_required). */
typedef int (*bdev_sized_create_fn)(const char *name, uint64_t num_blocks, uint32_t block_size,
				    const char *uuid, struct bdev **out);
void bdev_rpc_create_sized(struct rpc_request *req, const json_t *params, bool name_required,
			   bdev_sized_create_fn create);
/* {"name": ...} -> bdev_delete(name, module). */
void bdev_rpc_delete(struct rpc_request *req, const json_t *params, const char *module);
/* The undo of a create (rpc_undo): deletes the bdev the result names (a create's result is
 * the name, or true with the name in params). */
void bdev_rpc_undo_create(const json_t *params, const json_t *result, const json_t *before);

#endif

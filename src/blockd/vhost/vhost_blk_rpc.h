/* vhost_blk_rpc.h — the vhost RPC methods and the vhost_blk subsystem of save_config. */
#ifndef BLOCKD_VHOST_BLK_RPC_H
#define BLOCKD_VHOST_BLK_RPC_H

/* Registers the methods and the config writer. 0 or -errno. */
int vhost_blk_rpc_register(void);

#endif

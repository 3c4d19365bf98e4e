/* bdev_rpc.h — the bdev RPC methods and the bdev subsystem of save_config. */
#ifndef BLOCKD_BDEV_RPC_H
#define BLOCKD_BDEV_RPC_H

/* Registers the methods and the config writer. 0 or -errno. */
int bdev_rpc_register(void);

#endif

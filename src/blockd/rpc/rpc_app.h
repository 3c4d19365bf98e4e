/* rpc_app.h — the application (framework) RPCs: version, method list, reactors, threads,
 * pollers and save_config. */
#ifndef BLOCKD_RPC_APP_H
#define BLOCKD_RPC_APP_H

struct blockd;

/* Registers the methods; they report app's threads (app must outlive them). 0 or -errno. */
int rpc_app_register(const struct blockd *app);

#endif

/* rpc_server.h — blockd's JSON-RPC server on a Unix socket: the control thread's event loop.
 * Any number of clients up to RPC_MAX_CONNECTIONS; a client that sends half a request and
 * goes silent holds only its own buffer and is dropped after a while; no request ever waits
 * for another client. */
#ifndef BLOCKD_RPC_SERVER_H
#define BLOCKD_RPC_SERVER_H

#define RPC_MAX_CONNECTIONS 64
#define RPC_PARTIAL_TIMEOUT_MS 10000   /* a request left half-sent this long: drop the client */
#define RPC_OUTPUT_MAX (64u * 1024 * 1024)

struct rpc_server;
struct reactor;

/* Listens on path (mode 0600; an existing socket file is replaced), served by the control
 * thread's reactor app. NULL on error (logged). */
struct rpc_server *rpc_server_open(const char *path, struct reactor *app);
/* Stops accepting, closes every client, removes the socket file. */
void rpc_server_close(struct rpc_server *s);

#endif

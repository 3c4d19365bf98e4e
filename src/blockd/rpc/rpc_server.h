/* rpc_server.h — blockd's JSON-RPC server on a Unix socket: the control thread's event loop.
 * Up to RPC_MAX_CONNECTIONS clients; when they are all there, the one idle the longest is
 * closed to admit a new one (a probe storm never locks the operator out). An idle client,
 * or one that sends half a request and goes silent, holds only its own buffer and is dropped
 * after the idle timeout; no request ever waits for another client. */
#ifndef BLOCKD_RPC_SERVER_H
#define BLOCKD_RPC_SERVER_H

#define RPC_MAX_CONNECTIONS 64
/* A client that neither sends nor takes a byte this long, with no request of its in progress,
 * or that leaves half a request unsent this long, is closed (rpc_server_set_idle_timeout). */
#define RPC_IDLE_TIMEOUT_MS 10000
/* A client whose answers waiting to go out reach this is not read from until they drain (it
 * costs no CPU; its memory is bounded by the cap plus the requests of one read). */
#define RPC_OUTPUT_CAP (1024u * 1024)

struct rpc_server;
struct reactor;

/* Listens on path (mode 0600; an existing socket file is replaced), served by the control
 * thread's reactor app. NULL on error (logged). */
struct rpc_server *rpc_server_open(const char *path, struct reactor *app);
/* Sets the idle timeout (ms, > 0; RPC_IDLE_TIMEOUT_MS until set). */
void rpc_server_set_idle_timeout(struct rpc_server *s, unsigned ms);
/* Stops accepting, closes every client, removes the socket file. */
void rpc_server_close(struct rpc_server *s);

#endif

/* metrics_http.h — the metrics endpoint's HTTP side (libmicrohttpd): `GET /metrics` (and
 * HEAD) answered with what the render callback gives, as Prometheus's text format 0.0.4;
 * anything else refused (404 for another path, 405 for another method, 413 for a request
 * with a body). Bounded: 16 connections (8 per client address), 16 KiB of request headers
 * each, 10 s idle per connection, one request served at a time on the server's own thread.
 * It knows nothing of what it serves (metrics_collect.h renders). */
#ifndef BERTH_METRICS_HTTP_H
#define BERTH_METRICS_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

/* The exposition, malloc'd (the server frees it); NULL: answered 500. */
typedef char *(*metrics_render_fn)(void *arg, size_t *len);

struct metrics_http;

/* Binds addr and serves on a thread of its own. NULL with a one-line reason in err. */
struct metrics_http *metrics_http_start(const struct sockaddr *addr, socklen_t addr_len,
					metrics_render_fn render, void *arg, char *err,
					size_t errlen);
void metrics_http_stop(struct metrics_http *h);

#endif

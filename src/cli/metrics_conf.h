/* metrics_conf.h — the [metrics] section of berth.conf: where the metrics endpoint listens
 * (listen = HOST:PORT, numeric: 127.0.0.1:9477, [::1]:9477; off when unset) and the deadline
 * of one scrape's collection (scrape_timeout, seconds). Read by the supervisor, which starts
 * the endpoint only when listen is set, and by the endpoint itself. */
#ifndef BERTH_METRICS_CONF_H
#define BERTH_METRICS_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define METRICS_DEFAULT_TIMEOUT_MS 2000

struct metrics_conf {
	bool enabled;                  /* listen is set */
	char listen[128];              /* as written */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	bool loopback;                 /* the address is a loopback one */
	uint64_t scrape_timeout_ms;
};

/* "127.0.0.1:9477", "[::1]:9477", "0.0.0.0:9477": a numeric address (no name lookup) and a
 * port 1..65535. 0 or -EINVAL. */
int metrics_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len,
			 bool *loopback);
/* Defaults, then root's berth.conf. 0 or -errno with err set. */
int metrics_conf_load(struct metrics_conf *mc, const char *root, char *err, size_t errlen);

#endif

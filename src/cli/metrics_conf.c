/* metrics_conf.c — [metrics] listen and scrape_timeout (metrics_conf.h). */
#include "metrics_conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "paths.h"

int metrics_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len,
			 bool *loopback)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	if (!colon || (size_t)(colon - text) >= sizeof(host) || colon == text)
		return -EINVAL;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port < 1 || port > 65535 || colon[1] == '+' ||
	    colon[1] == '-' || colon[1] == ' ')
		return -EINVAL;
	memset(addr, 0, sizeof(*addr));
	size_t hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
		if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
			return -EINVAL;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		*loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
		return 0;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
	if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
		return -EINVAL;
	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)port);
	*len = sizeof(*a4);
	*loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
	return 0;
}

static int metrics_key(void *obj, const char *key, const char *value)
{
	struct metrics_conf *mc = obj;
	if (!strcmp(key, "listen")) {
		if (!value[0]) {               /* listen = (empty): off */
			mc->enabled = false;
			return 0;
		}
		if (strlen(value) >= sizeof(mc->listen) ||
		    metrics_parse_listen(value, &mc->addr, &mc->addr_len, &mc->loopback) < 0)
			return -EINVAL;
		snprintf(mc->listen, sizeof(mc->listen), "%s", value);
		mc->enabled = true;
		return 0;
	}
	if (!strcmp(key, "scrape_timeout"))
		return conf_parse_seconds(value, 0.1, 30, &mc->scrape_timeout_ms);
	return -ENOENT;
}

int metrics_conf_load(struct metrics_conf *mc, const char *root, char *err, size_t errlen)
{
	memset(mc, 0, sizeof(*mc));
	mc->scrape_timeout_ms = METRICS_DEFAULT_TIMEOUT_MS;
	char path[BERTH_PATH_LEN];
	paths_conf(path, sizeof(path), root);
	return conf_load_section(path, "metrics", metrics_key, mc, err, errlen);
}

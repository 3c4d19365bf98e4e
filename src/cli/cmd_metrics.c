/* cmd_metrics.c — `berth metrics` (the exposition once, on stdout: for promtool, or a file
 * for node_exporter's textfile collector) and `berth serve-metrics`, the endpoint of
 * [metrics] listen, which `berth up`'s supervisor runs as a process of its own
 * (docs/metrics.md says why). Wires the collector (metrics_collect.h) to the HTTP server
 * (metrics_http.h); holds run/metrics.lock (one endpoint per root) and writes
 * run/metrics.json once it serves (the supervisor's readiness check). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "daemon_args.h"
#include "daemon_lock.h"
#include "log.h"
#include "metrics_collect.h"
#include "metrics_conf.h"
#include "metrics_http.h"
#include "status_file.h"

static struct metrics_collector *collector(struct cli *c, const struct metrics_conf *mc,
					   char *err, size_t errlen)
{
	struct target_endpoints t;
	char conf[BERTH_PATH_LEN];
	paths_conf(conf, sizeof(conf), c->root);
	if (paths_target_load(&t, c->root, conf, err, errlen) < 0)
		return NULL;
	struct metrics_collector *m = metrics_collector_new(c->root, c->conf.store, c->conf.host,
							    t.rpc_socket,
							    (int)mc->scrape_timeout_ms);
	if (!m)
		snprintf(err, errlen, "out of memory");
	return m;
}

int cmd_metrics(struct cli *c, int argc, char **argv)
{
	if (argc != 1)
		return cli_usage("berth metrics   (the Prometheus exposition, once, on stdout)");
	struct metrics_conf mc;
	char err[512];
	if (metrics_conf_load(&mc, c->root, err, sizeof(err)) < 0)
		return cli_fail("bad configuration: %s", err);
	struct metrics_collector *m = collector(c, &mc, err, sizeof(err));
	if (!m)
		return cli_fail("%s", err);
	size_t len;
	char *text = metrics_collect(m, &len);
	int rc = text && fwrite(text, 1, len, stdout) == len ? 0 : cli_fail("cannot write");
	free(text);
	metrics_collector_free(m);
	return rc;
}

static char *render(void *arg, size_t *len)
{
	return metrics_collect(arg, len);
}

int cmd_serve_metrics(struct cli *c, int argc, char **argv)
{
	if (argc != 1)
		return cli_usage("berth serve-metrics   (the endpoint of [metrics] listen; berth up "
				 "runs it)");
	log_set_level(LOG_INFO);        /* its log: run/metrics.log under berth up */
	int sfd = daemon_stop_signalfd(false);   /* before any thread exists */
	struct metrics_conf mc;
	char err[512];
	if (sfd < 0)
		return cli_fail("cannot set up signals: %s", strerror(errno));
	if (metrics_conf_load(&mc, c->root, err, sizeof(err)) < 0)
		return cli_fail("bad configuration: %s", err);
	if (!mc.enabled)
		return cli_fail("[metrics] listen is not set in %s/berth.conf", c->root);
	if (daemon_lock_take(c->root, "metrics", false, err, sizeof(err)) < 0)
		return cli_fail("%s", err);
	if (!mc.loopback)
		log_warn("metrics", "listen=%s msg=\"not a loopback address: anyone who reaches it "
			 "reads the host's metrics\"", mc.listen);
	struct metrics_collector *m = collector(c, &mc, err, sizeof(err));
	if (!m)
		return cli_fail("%s", err);
	struct metrics_http *h = metrics_http_start((const struct sockaddr *)&mc.addr,
						    mc.addr_len, render, m, err, sizeof(err));
	if (!h) {
		metrics_collector_free(m);
		return cli_fail("%s: %s", mc.listen, err);
	}
	char path[BERTH_PATH_LEN];
	paths_metrics_status(path, sizeof(path), c->root);
	status_file_write(path, json_pack("{s:i, s:s, s:I}", "pid", (int)getpid(), "listen",
					  mc.listen, "since_ms", (json_int_t)wall_ms()));
	log_info("metrics", "listen=%s scrape_timeout_ms=%llu msg=serving", mc.listen,
		 (unsigned long long)mc.scrape_timeout_ms);
	struct signalfd_siginfo si;
	while (read(sfd, &si, sizeof(si)) < 0 && errno == EINTR)
		;
	log_info("metrics", "msg=stopping signal=%u", si.ssi_signo);
	metrics_http_stop(h);
	metrics_collector_free(m);
	unlink(path);
	close(sfd);
	return 0;
}

/* config.c — parsing of vmengine's [vmengine] configuration section (see config.h). */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parse_ctx {
	struct vmengine_config *c;
	char *err;
	size_t errlen;
	int failed;
};

/* Seconds, fractions allowed ("0.5"), 0 .. one day. */
static int parse_seconds(const char *v, uint64_t *ms)
{
	char *end;
	errno = 0;
	double s = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(s) || s < 0 || s > 86400)
		return -EINVAL;
	*ms = (uint64_t)llround(s * 1000.0);
	return 0;
}

static int copy_string(char *dst, size_t size, const char *v)
{
	size_t len = strlen(v);
	if (len == 0 || len >= size)
		return -EINVAL;
	memcpy(dst, v, len + 1);
	return 0;
}

static int set_key(struct vmengine_config *c, const char *key, const char *v)
{
	if (!strcmp(key, "qemu"))
		return copy_string(c->qemu, sizeof(c->qemu), v);
	if (!strcmp(key, "accel")) {
		if (strcmp(v, "tcg") && strcmp(v, "kvm"))
			return -EINVAL;
		return copy_string(c->accel, sizeof(c->accel), v);
	}
	if (!strcmp(key, "machine"))
		return copy_string(c->machine, sizeof(c->machine), v);
	if (!strcmp(key, "tick")) {
		int rc = parse_seconds(v, &c->tick_ms);
		return rc < 0 || c->tick_ms < 10 ? -EINVAL : 0;
	}
	if (!strcmp(key, "powerdown_grace"))
		return parse_seconds(v, &c->powerdown_grace_ms);
	if (!strcmp(key, "quit_grace"))
		return parse_seconds(v, &c->quit_grace_ms);
	if (!strcmp(key, "term_grace"))
		return parse_seconds(v, &c->term_grace_ms);
	if (!strcmp(key, "qmp_timeout")) {
		int rc = parse_seconds(v, &c->qmp_timeout_ms);
		return rc < 0 || c->qmp_timeout_ms < 10 ? -EINVAL : 0;
	}
	if (!strcmp(key, "launch_timeout")) {
		int rc = parse_seconds(v, &c->launch_timeout_ms);
		return rc < 0 || c->launch_timeout_ms < 100 ? -EINVAL : 0;
	}
	if (!strcmp(key, "target_restart_policy")) {
		if (!strcmp(v, "reconnect"))
			c->target_restart_policy = TARGET_RESTART_RECONNECT;
		else if (!strcmp(v, "restart-vms"))
			c->target_restart_policy = TARGET_RESTART_RESTART_VMS;
		else
			return -EINVAL;
		return 0;
	}
	return -ENOENT;
}

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
	struct parse_ctx *p = user;
	if (strcmp(section, "vmengine") != 0)
		return 1;      /* other daemons' sections */
	int rc = set_key(p->c, key, value);
	if (rc < 0 && !p->failed) {
		snprintf(p->err, p->errlen, "[vmengine] %s = %s: %s", key, value,
			 rc == -ENOENT ? "unknown key" : "invalid value");
		p->failed = 1;
	}
	return 1;
}

int vmengine_config_load(struct vmengine_config *c, const char *root, const char *path,
			 char *err, size_t errlen)
{
	*c = (struct vmengine_config){
		.tick_ms = 1000,
		.powerdown_grace_ms = 30000,
		.quit_grace_ms = 10000,
		.term_grace_ms = 10000,
		.qmp_timeout_ms = 5000,
		.launch_timeout_ms = 30000,
		.target_restart_policy = TARGET_RESTART_RECONNECT,
	};
	snprintf(c->qemu, sizeof(c->qemu), "qemu-system-x86_64");
	snprintf(c->accel, sizeof(c->accel), "tcg");
	snprintf(c->machine, sizeof(c->machine), "pc");
	if (copy_string(c->root, sizeof(c->root), root) < 0) {
		snprintf(err, errlen, "root path too long");
		return -EINVAL;
	}
	FILE *f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", path, strerror(errno)),
					      -errno);
	struct parse_ctx p = { c, err, errlen, 0 };
	int line = ini_parse_file(f, on_entry, &p);
	fclose(f);
	if (line != 0 && !p.failed) {
		snprintf(err, errlen, "%s: syntax error on line %d", path, line);
		return -EINVAL;
	}
	return p.failed ? -EINVAL : 0;
}

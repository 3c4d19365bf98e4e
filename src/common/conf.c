/* conf.c — INI section loading and value parsing (see conf.h). */
#include "conf.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct section_ctx {
	const char *section;
	int (*set)(void *obj, const char *key, const char *value);
	void *obj;
	char *err;
	size_t errlen;
	int failed;
};

/* The sections of berth.conf: each is read by one part of Berth (docs/configuration.md). A
 * section none of them reads is refused by all, as an unknown key is by its reader. */
static const char *const g_sections[] = { "berth", "vmengine", "diskengine", "supervisor",
					  "blockd", "metrics", NULL };

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
	struct section_ctx *p = user;
	int known;
	if (conf_parse_choice(section, g_sections, &known) < 0) {
		if (!p->failed && !section[0])
			snprintf(p->err, p->errlen, "%s = %s: outside any section", key, value);
		else if (!p->failed)
			snprintf(p->err, p->errlen, "[%s]: unknown section (known: [berth], "
				 "[vmengine], [diskengine], [supervisor], [blockd], [metrics])", section);
		p->failed = 1;
		return 1;
	}
	if (strcmp(section, p->section) != 0)
		return 1;         /* another daemon's section */
	int rc = p->set(p->obj, key, value);
	if (rc < 0 && !p->failed) {
		snprintf(p->err, p->errlen, "[%s] %s = %s: %s", p->section, key, value,
			 rc == -ENOENT ? "unknown key" : "invalid value");
		p->failed = 1;
	}
	return 1;
}

int conf_load_section(const char *path, const char *section,
		      int (*set)(void *obj, const char *key, const char *value), void *obj,
		      char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		int rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	struct section_ctx p = { section, set, obj, err, errlen, 0 };
	int line = ini_parse_file(f, on_entry, &p);
	fclose(f);
	if (line > 0) {           /* the first syntax error explains what follows it */
		snprintf(err, errlen, "%s: syntax error on line %d", path, line);
		return -EINVAL;
	}
	if (line < 0) {
		snprintf(err, errlen, "%s: could not be read", path);
		return -EIO;
	}
	return p.failed ? -EINVAL : 0;
}

int conf_parse_seconds(const char *v, double min_s, double max_s, uint64_t *ms)
{
	char *end;
	errno = 0;
	double s = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(s) || s < min_s || s > max_s)
		return -EINVAL;
	*ms = (uint64_t)llround(s * 1000.0);
	return 0;
}

int conf_parse_choice(const char *v, const char *const *choices, int *index)
{
	for (int i = 0; v && choices[i]; i++) {
		if (!strcmp(v, choices[i])) {
			*index = i;
			return 0;
		}
	}
	return -EINVAL;
}

int conf_copy_string(char *dst, size_t size, const char *v)
{
	size_t len = strlen(v);
	if (len == 0 || len >= size)
		return -EINVAL;
	memcpy(dst, v, len + 1);
	return 0;
}

int conf_parse_desired_source(const char *v, bool *from_dir)
{
	static const char *const sources[] = { "store", "dir", NULL };
	int choice;
	if (conf_parse_choice(v, sources, &choice) < 0)
		return -EINVAL;
	*from_dir = choice == 1;
	return 0;
}

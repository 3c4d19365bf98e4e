/* conf.h — reading one section of <root>/berth.conf (INI, through inih) for a daemon, and
 * the value parsers the daemons share. A bad key or value is an error whose message names
 * it; a missing file means "all defaults". */
#ifndef BERTH_CONF_H
#define BERTH_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* set(obj, key, value) returns 0, -ENOENT for an unknown key or -EINVAL for a bad value.
 * Returns 0 (also when path does not exist) or -EINVAL / -errno with the reason in err. */
int conf_load_section(const char *path, const char *section,
		      int (*set)(void *obj, const char *key, const char *value), void *obj,
		      char *err, size_t errlen);

/* "1.5" seconds -> 1500 ms, within [min_s, max_s]. 0 or -EINVAL. */
int conf_parse_seconds(const char *v, double min_s, double max_s, uint64_t *ms);
/* v is one of choices (NULL-terminated): *index is its position. 0 or -EINVAL. */
int conf_parse_choice(const char *v, const char *const *choices, int *index);
/* Copies a non-empty string that fits. 0 or -EINVAL. */
int conf_copy_string(char *dst, size_t size, const char *v);
/* An engine's desired_source: "store" (false) or "dir" (true). 0 or -EINVAL. */
int conf_parse_desired_source(const char *v, bool *from_dir);

#endif

/* doctor_report.c — `berth doctor`'s results: adding one, the exit status (0 all pass, 1 a
 * WARN, 2 a FAIL), and the two outputs: one line per check for people (in the manner of
 * `virt-host-validate` and `ceph health detail`: id, level, summary, then evidence and
 * recovery under a WARN or FAIL) and a JSON object for scripts. */
#include "doctor.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const g_levels[] = { "PASS", "INFO", "SKIP", "WARN", "FAIL" };

const char *doctor_level_name(enum doctor_level l)
{
	return l <= DOCTOR_FAIL ? g_levels[l] : "?";
}

struct doctor_check *doctor_add(struct doctor_report *r, const char *id, enum doctor_level level,
				int bug_class, json_t *evidence, const char *recovery,
				const char *fmt, ...)
{
	static struct doctor_check overflow;
	struct doctor_check *c = r->n < DOCTOR_MAX_CHECKS ? &r->checks[r->n++] : &overflow;
	if (c == &overflow)
		json_decref(c->evidence);
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->level = level;
	c->bug_class = bug_class;
	c->evidence = evidence ? evidence : json_object();
	snprintf(c->recovery, sizeof(c->recovery), "%s", recovery ? recovery : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->summary, sizeof(c->summary), fmt, ap);
	va_end(ap);
	return c;
}

enum doctor_level doctor_worst(const struct doctor_report *r)
{
	enum doctor_level worst = DOCTOR_PASS;
	for (size_t i = 0; i < r->n; i++)
		if (r->checks[i].level > worst)
			worst = r->checks[i].level;
	return worst;
}

int doctor_exit_status(const struct doctor_report *r)
{
	enum doctor_level w = doctor_worst(r);
	return w == DOCTOR_FAIL ? 2 : w == DOCTOR_WARN ? 1 : 0;
}

const char *doctor_status_name(const struct doctor_report *r)
{
	static const char *const names[] = { "PASS", "WARN", "FAIL" };
	return names[doctor_exit_status(r)];
}

json_t *doctor_check_json(const struct doctor_check *c)
{
	return json_pack("{s:s, s:s, s:s, s:O, s:s?, s:o}", "id", c->id,
			 "level", doctor_level_name(c->level), "summary", c->summary,
			 "evidence", c->evidence, "recovery", c->recovery[0] ? c->recovery : NULL,
			 "bug_class", c->bug_class ? json_integer(c->bug_class) : json_null());
}

json_t *doctor_report_json(const struct doctor_report *r, const char *root, int64_t elapsed_ms)
{
	json_t *checks = json_array();
	for (size_t i = 0; i < r->n; i++)
		json_array_append_new(checks, doctor_check_json(&r->checks[i]));
	return json_pack("{s:s, s:s, s:i, s:I, s:o}", "root", root,
			 "status", doctor_status_name(r),
			 "exit_status", doctor_exit_status(r), "elapsed_ms", (json_int_t)elapsed_ms,
			 "checks", checks);
}

/* "key=value key=value" from the evidence's scalar members; nested ones as compact JSON. */
static void print_evidence(FILE *out, const json_t *ev)
{
	const char *k;
	json_t *v;
	fputs("     evidence:", out);
	json_object_foreach((json_t *)ev, k, v) {
		if (json_is_string(v)) {
			fprintf(out, " %s=%s", k, json_string_value(v));
		} else {
			char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			fprintf(out, " %s=%s", k, s ? s : "?");
			free(s);
		}
	}
	fputc('\n', out);
}

void doctor_report_print(const struct doctor_report *r, FILE *out)
{
	size_t width = 0;
	for (size_t i = 0; i < r->n; i++)
		if (strlen(r->checks[i].id) > width)
			width = strlen(r->checks[i].id);
	for (size_t i = 0; i < r->n; i++) {
		const struct doctor_check *c = &r->checks[i];
		fprintf(out, "%-4s %-*s  %s", doctor_level_name(c->level), (int)width, c->id,
			c->summary);
		if (c->bug_class && c->level >= DOCTOR_WARN)
			fprintf(out, "  [bug class %d]", c->bug_class);
		fputc('\n', out);
		if (c->level < DOCTOR_WARN)
			continue;
		if (json_object_size(c->evidence))
			print_evidence(out, c->evidence);
		if (c->recovery[0])
			fprintf(out, "     recovery: %s\n", c->recovery);
	}
}

void doctor_report_free(struct doctor_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		json_decref(r->checks[i].evidence);
	r->n = 0;
}

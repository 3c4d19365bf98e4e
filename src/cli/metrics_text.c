/* metrics_text.c — Prometheus's text exposition format (see metrics_text.h): names and
 * label names checked, HELP and label values escaped, a family's samples kept together,
 * histogram buckets made cumulative. */
#include "metrics_text.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"

struct prom {
	char *buf;
	size_t len, cap;
	bool failed;                 /* an allocation failed: prom_text() says so */
	char **families;             /* names written so far */
	size_t n_families, cap_families;
	int current;                 /* index of the open family, -1: none */
	enum prom_type type;
};

struct prom *prom_new(void)
{
	struct prom *p = calloc(1, sizeof(*p));
	if (p)
		p->current = -1;
	return p;
}

void prom_free(struct prom *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_families; i++)
		free(p->families[i]);
	free(p->families);
	free(p->buf);
	free(p);
}

static void put(struct prom *p, const char *s, size_t n)
{
	if (p->failed)
		return;
	if (p->len + n + 1 > p->cap) {
		size_t cap = p->cap ? p->cap : 4096;
		while (p->len + n + 1 > cap)
			cap *= 2;
		char *b = realloc(p->buf, cap);
		if (!b) {
			p->failed = true;
			return;
		}
		p->buf = b;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, s, n);
	p->len += n;
	p->buf[p->len] = '\0';
}

static void puts_(struct prom *p, const char *s)
{
	put(p, s, strlen(s));
}

/* Escapes \ and newline, and " when quote (label values). */
static void put_escaped(struct prom *p, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(p, "\\\\");
		else if (*s == '\n')
			puts_(p, "\\n");
		else if (*s == '"' && quote)
			puts_(p, "\\\"");
		else
			put(p, s, 1);
	}
}

void prom_format_value(double v, char *out, size_t len)
{
	if (isnan(v)) {
		snprintf(out, len, "NaN");
	} else if (isinf(v)) {
		snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
	} else {
		snprintf(out, len, "%.15g", v);
		if (strtod(out, NULL) != v)
			snprintf(out, len, "%.17g", v);
	}
}

static void put_value(struct prom *p, double v)
{
	char b[64];
	prom_format_value(v, b, sizeof(b));
	puts_(p, b);
}

static bool name_ok(const char *s, bool colon)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || (colon && *s == ':')))
			return false;
	return true;
}

/* Every name has a value; names are label names, not reserved, and `le` is not one. */
static bool labels_ok(const char *const *labels)
{
	for (size_t i = 0; labels[i]; i += 2)
		if (!name_ok(labels[i], false) || !strncmp(labels[i], "__", 2) ||
		    !strcmp(labels[i], "le") || !labels[i + 1])
			return false;
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

int prom_family(struct prom *p, const char *name, enum prom_type type, const char *help)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	if (!name_ok(name, true) || (unsigned)type > PROM_HISTOGRAM || !help ||
	    (type == PROM_COUNTER) != ends_with(name, "_total"))
		return -EINVAL;
	for (size_t i = 0; i < p->n_families; i++)
		if (!strcmp(p->families[i], name))
			return -EEXIST;
	if (array_reserve_one(&p->families, &p->cap_families, p->n_families,
			      sizeof(*p->families)) < 0)
		return -ENOMEM;
	char *copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	p->families[p->n_families] = copy;
	p->current = (int)p->n_families++;
	p->type = type;
	puts_(p, "# HELP ");
	puts_(p, name);
	puts_(p, " ");
	put_escaped(p, help, false);
	puts_(p, "\n# TYPE ");
	puts_(p, name);
	puts_(p, " ");
	puts_(p, types[type]);
	puts_(p, "\n");
	return p->failed ? -ENOMEM : 0;
}

/* name{labels[,le="le"]} value */
static void put_series(struct prom *p, const char *suffix, const char *const *labels,
		       const char *le, double value)
{
	puts_(p, p->families[p->current]);
	puts_(p, suffix);
	if (labels[0] || le) {
		puts_(p, "{");
		for (size_t i = 0; labels[i]; i += 2) {
			if (i)
				puts_(p, ",");
			puts_(p, labels[i]);
			puts_(p, "=\"");
			put_escaped(p, labels[i + 1], true);
			puts_(p, "\"");
		}
		if (le) {
			puts_(p, labels[0] ? ",le=\"" : "le=\"");
			puts_(p, le);
			puts_(p, "\"");
		}
		puts_(p, "}");
	}
	puts_(p, " ");
	put_value(p, value);
	puts_(p, "\n");
}

int prom_sample(struct prom *p, double value, const char *const *labels)
{
	if (p->current < 0 || p->type == PROM_HISTOGRAM || !labels_ok(labels))
		return -EINVAL;
	put_series(p, "", labels, NULL, value);
	return p->failed ? -ENOMEM : 0;
}

int prom_histogram(struct prom *p, const struct prom_histogram *h, const char *const *labels)
{
	if (p->current < 0 || p->type != PROM_HISTOGRAM || !labels_ok(labels))
		return -EINVAL;
	for (size_t i = 1; i < h->n; i++)
		if (!(h->le[i] > h->le[i - 1]))
			return -EINVAL;
	uint64_t cumulative = 0;
	char le[64];
	for (size_t i = 0; i <= h->n; i++) {
		cumulative += h->counts[i];
		if (i < h->n)
			prom_format_value(h->le[i], le, sizeof(le));
		put_series(p, "_bucket", labels, i < h->n ? le : "+Inf", (double)cumulative);
	}
	put_series(p, "_sum", labels, NULL, h->sum);
	put_series(p, "_count", labels, NULL, (double)cumulative);
	return p->failed ? -ENOMEM : 0;
}

const char *prom_text(const struct prom *p, size_t *len)
{
	if (p->failed)
		return NULL;
	*len = p->len;
	return p->buf ? p->buf : "";
}

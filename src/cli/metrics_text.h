/* metrics_text.h — a tiny writer of Prometheus's text exposition format (version 0.0.4):
 * families with their HELP and TYPE lines, samples with escaped label values, histograms
 * with cumulative buckets, +Inf, _sum and _count. Formatting only: it knows nothing of
 * Berth, HTTP, or where the numbers come from (metrics_collect.c). */
#ifndef BERTH_METRICS_TEXT_H
#define BERTH_METRICS_TEXT_H

#include <stddef.h>
#include <stdint.h>

enum prom_type { PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM };

/* Labels: name, value, name, value, ..., NULL. */
#define PROM_LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define PROM_NO_LABELS ((const char *const[]){ NULL })

struct prom_histogram {
	size_t n;                 /* finite upper bounds */
	const double *le;         /* n bounds, strictly increasing */
	const uint64_t *counts;   /* n + 1 per-bucket counts (not cumulative); counts[n] is
				   * what fell above le[n - 1] */
	double sum;
};

struct prom;

struct prom *prom_new(void);
void prom_free(struct prom *p);

/* Starts a family: its HELP and TYPE lines; the samples that follow belong to it. A counter's
 * name ends in _total. 0, -EINVAL (a bad name or type), -EEXIST (already written: a family's
 * samples must stay together), -ENOMEM. */
int prom_family(struct prom *p, const char *name, enum prom_type type, const char *help);
/* A sample of the current counter or gauge family. 0, -EINVAL (no such family open, a
 * histogram family, a bad label name), -ENOMEM. */
int prom_sample(struct prom *p, double value, const char *const *labels);
/* The series of one histogram of the current histogram family (`le` is not a label the
 * caller may give). 0, -EINVAL, -ENOMEM. */
int prom_histogram(struct prom *p, const struct prom_histogram *h, const char *const *labels);

/* The text so far (NUL-terminated; *len its length without the NUL), or NULL when an
 * allocation failed along the way. */
const char *prom_text(const struct prom *p, size_t *len);

/* The value as the format writes it: "+Inf", "-Inf", "NaN", else the shortest of %.15g
 * and %.17g that reads back the same. */
void prom_format_value(double v, char *out, size_t len);

#endif

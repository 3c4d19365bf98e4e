/* test_metrics_text.c — the Prometheus text exposition writer (src/cli/metrics_text.c):
 * HELP and TYPE lines, label values escaped, counters named _total, families never split,
 * histogram buckets cumulative and ending in +Inf with _sum and _count, values formatted
 * the way the format reads them. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "metrics_text.h"

static struct prom *g_p;

static void setup(void)
{
	g_p = prom_new();
	cr_assert_not_null(g_p);
}

static void teardown(void)
{
	prom_free(g_p);
}

static const char *text(void)
{
	size_t len;
	const char *t = prom_text(g_p, &len);
	cr_assert_not_null(t);
	cr_assert_eq(strlen(t), len);
	return t;
}

TestSuite(metrics_text, .init = setup, .fini = teardown);

Test(metrics_text, gauge_with_help_type_and_labels)
{
	cr_assert_eq(prom_family(g_p, "berth_vms", PROM_GAUGE, "VMs by state."), 0);
	cr_assert_eq(prom_sample(g_p, 2, PROM_LABELS("state", "RUNNING", "host", "h1")), 0);
	cr_assert_eq(prom_sample(g_p, 0, PROM_NO_LABELS), 0);
	cr_assert_str_eq(text(), "# HELP berth_vms VMs by state.\n"
				 "# TYPE berth_vms gauge\n"
				 "berth_vms{state=\"RUNNING\",host=\"h1\"} 2\n"
				 "berth_vms 0\n");
}

Test(metrics_text, label_values_and_help_escaped)
{
	cr_assert_eq(prom_family(g_p, "x_total", PROM_COUNTER, "a \\ b\nc \"q\""), 0);
	cr_assert_eq(prom_sample(g_p, 1, PROM_LABELS("v", "a\"b\\c\nd")), 0);
	/* HELP escapes only backslash and newline; label values also the double quote. */
	cr_assert_str_eq(text(), "# HELP x_total a \\\\ b\\nc \"q\"\n"
				 "# TYPE x_total counter\n"
				 "x_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

Test(metrics_text, names_checked)
{
	cr_assert_eq(prom_family(g_p, "requests", PROM_COUNTER, "h"), -EINVAL);   /* no _total */
	cr_assert_eq(prom_family(g_p, "9lives", PROM_GAUGE, "h"), -EINVAL);
	cr_assert_eq(prom_family(g_p, "a-b", PROM_GAUGE, "h"), -EINVAL);
	cr_assert_eq(prom_family(g_p, "", PROM_GAUGE, "h"), -EINVAL);
	cr_assert_eq(prom_sample(g_p, 1, PROM_NO_LABELS), -EINVAL);               /* no family */
	cr_assert_eq(prom_family(g_p, "ok_gauge", PROM_GAUGE, "h"), 0);
	cr_assert_eq(prom_sample(g_p, 1, PROM_LABELS("bad-name", "v")), -EINVAL);
	cr_assert_eq(prom_sample(g_p, 1, PROM_LABELS("__reserved", "v")), -EINVAL);
	cr_assert_eq(prom_sample(g_p, 1, PROM_LABELS("0x", "v")), -EINVAL);
	cr_assert_eq(prom_sample(g_p, 1, PROM_LABELS("a", NULL)), -EINVAL);       /* odd list */
	/* Nothing of a refused sample was written. */
	cr_assert_str_eq(text(), "# HELP ok_gauge h\n# TYPE ok_gauge gauge\n");
}

Test(metrics_text, family_written_once)
{
	cr_assert_eq(prom_family(g_p, "a", PROM_GAUGE, "h"), 0);
	cr_assert_eq(prom_family(g_p, "b", PROM_GAUGE, "h"), 0);
	cr_assert_eq(prom_family(g_p, "a", PROM_GAUGE, "h"), -EEXIST);
	cr_assert_eq(prom_sample(g_p, 1, PROM_NO_LABELS), 0);     /* still b's */
	cr_assert(strstr(text(), "\nb 1\n"));
}

Test(metrics_text, histogram_cumulative_with_inf_sum_count)
{
	static const double le[] = { 0.001, 0.01, 0.1 };
	static const uint64_t counts[] = { 1, 0, 3, 2 };
	struct prom_histogram h = { .n = 3, .le = le, .counts = counts, .sum = 0.75 };
	cr_assert_eq(prom_family(g_p, "lat_seconds", PROM_HISTOGRAM, "Latency."), 0);
	cr_assert_eq(prom_sample(g_p, 1, PROM_NO_LABELS), -EINVAL);   /* not a plain sample */
	cr_assert_eq(prom_histogram(g_p, &h, PROM_LABELS("method", "m")), 0);
	cr_assert_str_eq(text(), "# HELP lat_seconds Latency.\n"
				 "# TYPE lat_seconds histogram\n"
				 "lat_seconds_bucket{method=\"m\",le=\"0.001\"} 1\n"
				 "lat_seconds_bucket{method=\"m\",le=\"0.01\"} 1\n"
				 "lat_seconds_bucket{method=\"m\",le=\"0.1\"} 4\n"
				 "lat_seconds_bucket{method=\"m\",le=\"+Inf\"} 6\n"
				 "lat_seconds_sum{method=\"m\"} 0.75\n"
				 "lat_seconds_count{method=\"m\"} 6\n");
}

Test(metrics_text, histogram_without_labels_and_checks)
{
	static const double le[] = { 1, 2 };
	static const double bad_le[] = { 2, 1 };
	static const uint64_t counts[] = { 0, 0, 0 };
	struct prom_histogram h = { .n = 2, .le = le, .counts = counts, .sum = 0 };
	struct prom_histogram bad = { .n = 2, .le = bad_le, .counts = counts, .sum = 0 };
	cr_assert_eq(prom_family(g_p, "t_seconds", PROM_HISTOGRAM, "h"), 0);
	cr_assert_eq(prom_histogram(g_p, &bad, PROM_NO_LABELS), -EINVAL);
	cr_assert_eq(prom_histogram(g_p, &h, PROM_LABELS("le", "1")), -EINVAL);
	cr_assert_eq(prom_histogram(g_p, &h, PROM_NO_LABELS), 0);
	cr_assert_str_eq(text(), "# HELP t_seconds h\n# TYPE t_seconds histogram\n"
				 "t_seconds_bucket{le=\"1\"} 0\n"
				 "t_seconds_bucket{le=\"2\"} 0\n"
				 "t_seconds_bucket{le=\"+Inf\"} 0\n"
				 "t_seconds_sum 0\nt_seconds_count 0\n");
}

Test(metrics_text, values)
{
	char b[64];
	prom_format_value(0.1, b, sizeof(b));
	cr_assert_str_eq(b, "0.1");
	prom_format_value(1e21, b, sizeof(b));
	cr_assert_str_eq(b, "1e+21");
	prom_format_value(123456789012, b, sizeof(b));
	cr_assert_str_eq(b, "123456789012");
	prom_format_value(INFINITY, b, sizeof(b));
	cr_assert_str_eq(b, "+Inf");
	prom_format_value(-INFINITY, b, sizeof(b));
	cr_assert_str_eq(b, "-Inf");
	prom_format_value(NAN, b, sizeof(b));
	cr_assert_str_eq(b, "NaN");
	prom_format_value(1.0 / 3, b, sizeof(b));
	cr_assert_eq(strtod(b, NULL), 1.0 / 3);
}

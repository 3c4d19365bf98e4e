/* vm_counters.c — vmengine's counters and histograms for the metrics endpoint, carried over
 * its restarts through status.json (vm_counters.h). */
#include "vm_counters.h"

#include <pthread.h>
#include <string.h>

#define HIST_MAX 16

struct hist {
	const double *le;
	size_t n;
	uint64_t buckets[HIST_MAX + 1];
	double sum;
};

/* A default escalation takes 50 s (powerdown 30, quit 10, term 10). */
static const double g_terminate_le[] = { 0.5, 1, 2.5, 5, 10, 20, 30, 40, 50, 60, 90, 120, 300 };
static const double g_reconnect_le[] = { 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300 };

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_escalations[ESC_COUNT];
static uint64_t g_disconnects;
static struct hist g_terminate = { .le = g_terminate_le,
				   .n = sizeof(g_terminate_le) / sizeof(double) };
static struct hist g_reconnect = { .le = g_reconnect_le,
				   .n = sizeof(g_reconnect_le) / sizeof(double) };

static void observe(struct hist *h, int64_t ms)
{
	double s = ms > 0 ? (double)ms / 1000.0 : 0;
	size_t b = 0;
	while (b < h->n && s > h->le[b])
		b++;
	pthread_mutex_lock(&g_lock);
	h->buckets[b]++;
	h->sum += s;
	pthread_mutex_unlock(&g_lock);
}

void vm_counters_escalation(enum vm_escalation step)
{
	if (step <= ESC_NONE || step >= ESC_COUNT)
		return;
	pthread_mutex_lock(&g_lock);
	g_escalations[step]++;
	pthread_mutex_unlock(&g_lock);
}

void vm_counters_terminated(int64_t ms)
{
	observe(&g_terminate, ms);
}

void vm_counters_disk_disconnected(void)
{
	pthread_mutex_lock(&g_lock);
	g_disconnects++;
	pthread_mutex_unlock(&g_lock);
}

void vm_counters_disk_reconnected(int64_t ms)
{
	observe(&g_reconnect, ms);
}

static json_t *hist_json(const struct hist *h)
{
	json_t *le = json_array(), *buckets = json_array();
	for (size_t i = 0; i < h->n; i++)
		json_array_append_new(le, json_real(h->le[i]));
	for (size_t i = 0; i <= h->n; i++)
		json_array_append_new(buckets, json_integer((json_int_t)h->buckets[i]));
	return json_pack("{s:o, s:o, s:f}", "le", le, "buckets", buckets, "sum", h->sum);
}

json_t *vm_counters_json(void)
{
	pthread_mutex_lock(&g_lock);
	json_t *esc = json_object();
	for (int s = ESC_POWERDOWN; s < ESC_COUNT; s++)
		json_object_set_new(esc, vm_escalation_name(s),
				    json_integer((json_int_t)g_escalations[s]));
	json_t *o = json_pack("{s:o, s:o, s:o, s:I}", "escalations", esc, "terminate_seconds",
			      hist_json(&g_terminate), "disk_reconnect_seconds",
			      hist_json(&g_reconnect), "disk_disconnects",
			      (json_int_t)g_disconnects);
	pthread_mutex_unlock(&g_lock);
	return o;
}

static uint64_t count_of(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v)
							       : 0;
}

/* Only a histogram saved with the same bounds goes on. */
static void hist_restore(struct hist *h, const json_t *saved)
{
	const json_t *le = json_object_get(saved, "le"), *buckets = json_object_get(saved, "buckets");
	const json_t *sum = json_object_get(saved, "sum");
	if (json_array_size(le) != h->n || json_array_size(buckets) != h->n + 1 ||
	    !json_is_number(sum) || json_number_value(sum) < 0)
		return;
	for (size_t i = 0; i < h->n; i++)
		if (!json_is_number(json_array_get(le, i)) ||
		    json_number_value(json_array_get(le, i)) != h->le[i])
			return;
	for (size_t i = 0; i <= h->n; i++)
		h->buckets[i] = count_of(json_array_get(buckets, i));
	h->sum = json_number_value(sum);
}

void vm_counters_restore(const json_t *saved)
{
	if (!json_is_object(saved))
		return;
	pthread_mutex_lock(&g_lock);
	const json_t *esc = json_object_get(saved, "escalations");
	for (int s = ESC_POWERDOWN; s < ESC_COUNT; s++)
		g_escalations[s] = count_of(json_object_get(esc, vm_escalation_name(s)));
	g_disconnects = count_of(json_object_get(saved, "disk_disconnects"));
	hist_restore(&g_terminate, json_object_get(saved, "terminate_seconds"));
	hist_restore(&g_reconnect, json_object_get(saved, "disk_reconnect_seconds"));
	pthread_mutex_unlock(&g_lock);
}

void vm_counters_reset(void)
{
	pthread_mutex_lock(&g_lock);
	memset(g_escalations, 0, sizeof(g_escalations));
	g_disconnects = 0;
	memset(g_terminate.buckets, 0, sizeof(g_terminate.buckets));
	memset(g_reconnect.buckets, 0, sizeof(g_reconnect.buckets));
	g_terminate.sum = g_reconnect.sum = 0;
	pthread_mutex_unlock(&g_lock);
}

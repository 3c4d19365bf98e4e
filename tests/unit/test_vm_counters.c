/* test_vm_counters.c — vmengine's counters for the metrics endpoint: escalation steps by
 * step, the terminate and disk-reconnect histograms (per-bucket counts, sum), and their
 * carry-over across a restart (restore from what status.json held; malformed parts and a
 * histogram with other bounds are not taken). */
#include <criterion/criterion.h>

#include "vm_counters.h"

TestSuite(vm_counters, .init = vm_counters_reset, .fini = vm_counters_reset);

static json_int_t bucket(json_t *o, const char *hist, size_t i)
{
	return json_integer_value(json_array_get(json_object_get(json_object_get(o, hist),
								 "buckets"), i));
}

Test(vm_counters, counts_and_histograms)
{
	vm_counters_escalation(ESC_POWERDOWN);
	vm_counters_escalation(ESC_QUIT);
	vm_counters_escalation(ESC_QUIT);
	vm_counters_escalation(ESC_NONE);          /* not a step */
	vm_counters_terminated(700);               /* 0.7 s: the 1 s bucket */
	vm_counters_disk_disconnected();
	vm_counters_disk_reconnected(1000);        /* exactly 1 s: le 1 */
	json_t *o = vm_counters_json();
	json_t *esc = json_object_get(o, "escalations");
	cr_expect_eq(json_integer_value(json_object_get(esc, "powerdown")), 1);
	cr_expect_eq(json_integer_value(json_object_get(esc, "quit")), 2);
	cr_expect_eq(json_integer_value(json_object_get(esc, "term")), 0);
	cr_expect_eq(json_integer_value(json_object_get(esc, "kill")), 0);
	cr_expect_null(json_object_get(esc, "none"));
	cr_expect_eq(bucket(o, "terminate_seconds", 1), 1);
	cr_expect_eq(bucket(o, "terminate_seconds", 0), 0);
	cr_expect_eq(json_real_value(json_object_get(json_object_get(o, "terminate_seconds"),
						     "sum")), 0.7);
	cr_expect_eq(bucket(o, "disk_reconnect_seconds", 3), 1);
	cr_expect_eq(json_integer_value(json_object_get(o, "disk_disconnects")), 1);
	json_decref(o);
}

Test(vm_counters, restored_after_a_restart)
{
	vm_counters_escalation(ESC_KILL);
	vm_counters_terminated(55000);
	json_t *saved = vm_counters_json();
	vm_counters_reset();
	vm_counters_restore(saved);
	vm_counters_escalation(ESC_KILL);
	json_t *o = vm_counters_json();
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(o, "escalations"), "kill")),
		     2, "goes on from the saved count");
	cr_expect(json_equal(json_object_get(o, "terminate_seconds"),
			     json_object_get(saved, "terminate_seconds")));
	json_decref(o);

	/* Other bounds (an older vmengine): that histogram starts again, the rest goes on. */
	json_array_set_new(json_object_get(json_object_get(saved, "terminate_seconds"), "le"), 0,
			   json_real(0.25));
	json_object_set_new(json_object_get(saved, "escalations"), "quit", json_string("x"));
	vm_counters_reset();
	vm_counters_restore(saved);
	o = vm_counters_json();
	cr_expect_eq(bucket(o, "terminate_seconds", 10), 0);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(o, "escalations"), "kill")),
		     1);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(o, "escalations"), "quit")),
		     0);
	json_decref(o);
	json_decref(saved);
	vm_counters_restore(NULL);                 /* nothing saved: nothing happens */
}

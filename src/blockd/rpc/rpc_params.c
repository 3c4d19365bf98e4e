/* rpc_params.c — SPDK's documented parameters a method's handler does not take (struct
 * rpc_spdk_param in its method's table entry): SPDK's rpc.py sends them on every call, at
 * their default unless the operator asked otherwise. One check for every method, run by the
 * dispatcher before the handler: such a parameter at a value blockd honours is taken out of
 * params; of the wrong type, or at a value blockd cannot honour, the request is refused naming
 * it. Everything else in params is left to the handler's strict decoding. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc.h"

/* Room for the decoded value of any type a struct rpc_spdk_param may have. */
union scalar {
	const char *s;
	bool b;
	uint32_t u32;
	uint64_t u64;
	int32_t i32;
};

static int check_one(const struct rpc_spdk_param *p, const json_t *v, const json_t *params,
		     char *err, size_t errlen)
{
	union scalar out;
	struct jparam spec = { p->key, p->type, false, &out, NULL };
	if (json_decode_value(v, &spec, err, errlen) < 0)
		return -EINVAL;
	if (!p->honoured)
		return 0;
	char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!text) {
		snprintf(err, errlen, "key '%s' could not be checked (out of memory)", p->key);
		return -EINVAL;
	}
	int rc = 0;
	if (strcmp(text, p->honoured) != 0 &&
	    !(p->or_same_as && json_equal(v, json_object_get(params, p->or_same_as)))) {
		if (p->or_same_as)
			snprintf(err, errlen, "key '%s' = %.40s is not supported by blockd "
				 "(only %s or the value of '%s')", p->key, text, p->honoured,
				 p->or_same_as);
		else
			snprintf(err, errlen, "key '%s' = %.40s is not supported by blockd "
				 "(only %s)", p->key, text, p->honoured);
		rc = -EINVAL;
	}
	free(text);
	return rc;
}

int rpc_params_filter(const struct rpc_method *m, const json_t *params, json_t **filtered,
		      char *err, size_t errlen)
{
	*filtered = NULL;
	/* Not an object: the handler's decoding says so. */
	if (!m->spdk_params || !json_is_object(params))
		return 0;
	bool any = false;
	for (const struct rpc_spdk_param *p = m->spdk_params; p->key; p++) {
		const json_t *v = json_object_get(params, p->key);
		if (!v)
			continue;
		if (check_one(p, v, params, err, errlen) < 0)
			return -EINVAL;
		any = true;
	}
	if (!any)
		return 0;
	/* A shallow copy: the values the handler borrows stay those of the request. */
	json_t *copy = json_copy((json_t *)params);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (const struct rpc_spdk_param *p = m->spdk_params; p->key; p++)
		json_object_del(copy, p->key);
	*filtered = copy;
	return 0;
}

/* json_util.c — strict params decoding (see json_util.h). */
#include "json_util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *type_name(enum jparam_type t)
{
	switch (t) {
	case JP_STRING: return "a string";
	case JP_BOOL: return "a boolean";
	case JP_UINT32: return "an unsigned 32-bit integer";
	case JP_UINT64: return "an unsigned 64-bit integer";
	case JP_INT32: return "a 32-bit integer";
	case JP_STRING_ARRAY: return "an array of strings";
	case JP_ANY: return "a value";
	}
	return "?";
}

static int decode_one(const json_t *v, const struct jparam *p)
{
	switch (p->type) {
	case JP_STRING:
		if (!json_is_string(v))
			return -EINVAL;
		*(const char **)p->out = json_string_value(v);
		return 0;
	case JP_BOOL:
		if (!json_is_boolean(v))
			return -EINVAL;
		*(bool *)p->out = json_is_true(v);
		return 0;
	case JP_UINT32:
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > UINT32_MAX)
			return -EINVAL;
		*(uint32_t *)p->out = (uint32_t)json_integer_value(v);
		return 0;
	case JP_UINT64:
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return -EINVAL;
		*(uint64_t *)p->out = (uint64_t)json_integer_value(v);
		return 0;
	case JP_INT32:
		if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
		    json_integer_value(v) > INT32_MAX)
			return -EINVAL;
		*(int32_t *)p->out = (int32_t)json_integer_value(v);
		return 0;
	case JP_STRING_ARRAY: {
		struct jstring_array *arr = p->out;
		if (!json_is_array(v) || json_array_size(v) > arr->max)
			return -EINVAL;
		size_t i;
		json_t *item;
		json_array_foreach(v, i, item) {
			if (!json_is_string(item))
				return -EINVAL;
			arr->items[i] = json_string_value(item);
		}
		arr->count = json_array_size(v);
		return 0;
	}
	case JP_ANY:
		*(const json_t **)p->out = v;
		return 0;
	}
	return -EINVAL;
}

int json_decode_value(const json_t *v, const struct jparam *p, char *err, size_t errlen)
{
	if (decode_one(v, p) == 0)
		return 0;
	if (p->type == JP_STRING_ARRAY && json_is_array(v))
		snprintf(err, errlen, "key '%s' must be %s of at most %zu items", p->key,
			 type_name(p->type), ((struct jstring_array *)p->out)->max);
	else
		snprintf(err, errlen, "key '%s' must be %s", p->key, type_name(p->type));
	return -EINVAL;
}

int json_decode_params(const json_t *params, const struct jparam *spec, size_t n,
		       char *err, size_t errlen)
{
	if (params && !json_is_object(params)) {
		snprintf(err, errlen, "params must be an object");
		return -EINVAL;
	}
	if (params) {
		const char *key;
		const json_t *v;
		json_object_foreach((json_t *)params, key, v) {
			size_t i;
			for (i = 0; i < n && strcmp(spec[i].key, key) != 0; i++)
				;
			if (i == n) {
				snprintf(err, errlen, "unknown key '%.64s'", key);
				return -EINVAL;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *v = params ? json_object_get(params, spec[i].key) : NULL;
		if (spec[i].present)
			*spec[i].present = v != NULL;
		if (!v) {
			if (spec[i].required) {
				snprintf(err, errlen, "missing key '%s'", spec[i].key);
				return -EINVAL;
			}
			continue;
		}
		if (json_decode_value(v, &spec[i], err, errlen) < 0)
			return -EINVAL;
	}
	return 0;
}

json_int_t json_int_at(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

const char *json_str_at(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

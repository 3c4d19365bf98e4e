/* json_util.h — helpers over jansson: strict decoding of an RPC's params object against a
 * table of keys (unknown, missing and mistyped keys are errors with a message that names the
 * key), and small builders. */
#ifndef BERTH_JSON_UTIL_H
#define BERTH_JSON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

enum jparam_type {
	JP_STRING,        /* out: const char ** (borrowed from the params) */
	JP_BOOL,          /* out: bool * */
	JP_UINT32,        /* out: uint32_t * */
	JP_UINT64,        /* out: uint64_t * */
	JP_INT32,         /* out: int32_t * */
	JP_STRING_ARRAY,  /* out: struct jstring_array * */
	JP_ANY,           /* out: json_t ** (borrowed) */
};

struct jstring_array {
	const char **items;   /* caller's storage */
	size_t max;           /* capacity of items */
	size_t count;
};

struct jparam {
	const char *key;
	enum jparam_type type;
	bool required;
	void *out;
	bool *present;        /* optional: set when the key was given */
};

/* Decodes params (NULL = no params = empty object) against spec[0..n). On error returns -EINVAL
 * and writes a message like "missing key 'name'" to err; nothing is written to outputs of
 * later keys, and callers must not act on partial results. */
int json_decode_params(const json_t *params, const struct jparam *spec, size_t n,
		       char *err, size_t errlen);

#define JPARAMS(spec) (spec), (sizeof(spec) / sizeof((spec)[0]))

/* Decodes one value v of params (present) against p, with the same checks and messages as
 * json_decode_params ("key 'md_size' must be an unsigned 32-bit integer"). 0 or -EINVAL. */
int json_decode_value(const json_t *v, const struct jparam *p, char *err, size_t errlen);

/* o[key] as an integer (0 when missing or not one) / as a string ("" when missing or not one):
 * for reading answers and status files whose shape was already checked or does not matter. */
json_int_t json_int_at(const json_t *o, const char *key);
const char *json_str_at(const json_t *o, const char *key);

#endif

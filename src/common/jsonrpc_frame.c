/* jsonrpc_frame.c — incremental splitting of back-to-back JSON values (see the header). */
#include "jsonrpc_frame.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jrpc_frame_init(struct jrpc_frame *f, size_t limit)
{
	memset(f, 0, sizeof(*f));
	f->limit = limit;
}

void jrpc_frame_free(struct jrpc_frame *f)
{
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

bool jrpc_frame_partial(const struct jrpc_frame *f)
{
	for (size_t i = 0; i < f->len; i++) {
		char c = f->buf[i];
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			return true;
	}
	return false;
}

int jrpc_frame_feed(struct jrpc_frame *f, const void *data, size_t n)
{
	if (n == 0)
		return 0;
	/* Complete values are taken out after every feed, so the buffer holds at most one
	 * partial value (<= limit) plus one read's worth. */
	if (f->len + n > f->limit + 65536)
		return -EMSGSIZE;
	if (f->len + n > f->cap) {
		size_t cap = f->cap ? f->cap : 4096;
		while (cap < f->len + n)
			cap *= 2;
		char *nb = realloc(f->buf, cap);
		if (!nb)
			return -ENOMEM;
		f->buf = nb;
		f->cap = cap;
	}
	memcpy(f->buf + f->len, data, n);
	f->len += n;
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Advances the scanner; returns the length of a complete value from f->start, 0 if incomplete,
 * or -EBADMSG if the value does not start with '{' or '['. */
static long scan_value(struct jrpc_frame *f)
{
	if (f->scan == 0) {
		while (f->start < f->len && is_space(f->buf[f->start]))
			f->start++;
		if (f->start == f->len)
			return 0;
		char c = f->buf[f->start];
		if (c != '{' && c != '[')
			return -EBADMSG;
	}
	for (size_t i = f->start + f->scan; i < f->len; i++) {
		char c = f->buf[i];
		f->scan++;
		if (f->in_string) {
			if (f->escape)
				f->escape = false;
			else if (c == '\\')
				f->escape = true;
			else if (c == '"')
				f->in_string = false;
			continue;
		}
		if (c == '"')
			f->in_string = true;
		else if (c == '{' || c == '[')
			f->depth++;
		else if (c == '}' || c == ']') {
			if (--f->depth == 0)
				return (long)f->scan;
		}
	}
	return 0;
}

/* Drops the first n bytes of the buffer and resets the scanner. */
static void consume(struct jrpc_frame *f, size_t n)
{
	if (f->len > n)
		memmove(f->buf, f->buf + n, f->len - n);
	f->len -= n;
	f->start = 0;
	f->scan = 0;
	f->depth = 0;
	f->in_string = f->escape = false;
}

static json_t *decode_span(const char *p, size_t n, unsigned *flags, char *err, size_t errlen)
{
	json_error_t jerr;
	size_t decode = JSON_REJECT_DUPLICATES;
	json_t *v = json_loadb(p, n, decode, &jerr);
	if (v)
		return v;

	enum json_error_code code = json_error_code(&jerr);
	if (code == json_error_duplicate_key) {
		*flags |= JRPC_VALUE_DUP_KEY;
		decode &= ~(size_t)JSON_REJECT_DUPLICATES;
		v = json_loadb(p, n, decode, &jerr);
		if (v)
			return v;
		code = json_error_code(&jerr);
	}
	if (code == json_error_numeric_overflow) {
		*flags |= JRPC_VALUE_BIG_INT;
		v = json_loadb(p, n, JSON_DECODE_INT_AS_REAL | JSON_REJECT_DUPLICATES, &jerr);
		if (!v && json_error_code(&jerr) == json_error_duplicate_key) {
			*flags |= JRPC_VALUE_DUP_KEY;
			v = json_loadb(p, n, JSON_DECODE_INT_AS_REAL, &jerr);
		}
		if (v)
			return v;
	}
	snprintf(err, errlen, "%s", jerr.text);
	return NULL;
}

int jrpc_frame_next(struct jrpc_frame *f, json_t **out, unsigned *flags, char *err, size_t errlen)
{
	*out = NULL;
	*flags = 0;
	long n = scan_value(f);
	if (n < 0) {
		snprintf(err, errlen, "expected a JSON object or array");
		return -EBADMSG;
	}
	if (n == 0) {
		if (f->scan > f->limit) {
			snprintf(err, errlen, "request larger than %zu bytes", f->limit);
			return -EMSGSIZE;
		}
		if (f->scan == 0 && f->start == f->len)
			consume(f, f->len);   /* only white space: drop it */
		return 0;
	}
	if ((size_t)n > f->limit) {
		snprintf(err, errlen, "request larger than %zu bytes", f->limit);
		return -EMSGSIZE;
	}
	json_t *v = decode_span(f->buf + f->start, (size_t)n, flags, err, errlen);
	consume(f, f->start + (size_t)n);
	if (!v)
		return -EBADMSG;
	*out = v;
	return 1;
}

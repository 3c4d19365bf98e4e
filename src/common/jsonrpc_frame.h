/* jsonrpc_frame.h — splits a byte stream into JSON values, as SPDK's JSON-RPC framing sends
 * them: values back to back with no delimiter, a value split across reads, several values in
 * one read. An incremental scanner finds where each top-level object/array ends (O(n) in the
 * bytes received, whatever the read pattern), then jansson parses exactly that span. */
#ifndef BERTH_JSONRPC_FRAME_H
#define BERTH_JSONRPC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#define JRPC_REQUEST_MAX (256 * 1024)

/* Flags on a decoded value. */
enum {
	JRPC_VALUE_DUP_KEY = 1 << 0,   /* an object repeated a key (decoded keeping the last) */
	JRPC_VALUE_BIG_INT = 1 << 1,   /* an integer did not fit 64 bits (decoded as real) */
};

struct jrpc_frame {
	char *buf;
	size_t len, cap;
	size_t limit;      /* largest value accepted, bytes */
	size_t scan;       /* bytes of the current value already scanned */
	size_t start;      /* where the current value starts (after leading white space) */
	int depth;
	bool in_string, escape;
};

void jrpc_frame_init(struct jrpc_frame *f, size_t limit);
void jrpc_frame_free(struct jrpc_frame *f);

/* Appends received bytes. -EMSGSIZE if the value being received would exceed the limit. */
int jrpc_frame_feed(struct jrpc_frame *f, const void *data, size_t n);

/* Takes the next complete value out of the buffer.
 * Returns 1 with *out (a new reference) and *flags, 0 when more bytes are needed,
 * -EBADMSG when the stream is not JSON (err says why; the stream cannot be resynchronised),
 * -EMSGSIZE when the value exceeds the limit. */
int jrpc_frame_next(struct jrpc_frame *f, json_t **out, unsigned *flags, char *err, size_t errlen);

/* True when a value has started but is not complete (a client that went silent mid-request). */
bool jrpc_frame_partial(const struct jrpc_frame *f);

#endif

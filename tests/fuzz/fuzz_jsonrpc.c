/* fuzz_jsonrpc.c — libFuzzer target: blockd's JSON-RPC input path without the socket. The
 * input is the byte stream a client sends. It goes through the frame splitter
 * (common/jsonrpc_frame.c) the way rpc_server.c's conn_read does — feed, then take every
 * complete value — once in reads as large as the server's and once in pieces whose sizes come from the input's
 * last bytes; each value is validated as a request (common/jsonrpc.c) and answered with the
 * encoder the server uses. Checks: the two splittings yield the same values and the same
 * final outcome (framing never depends on how reads fall), and every reply encodes. The
 * frame's size limit is small and varies so that the limit paths are reached. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "fuzz_util.h"
#include "jsonrpc.h"
#include "jsonrpc_frame.h"

#define MAX_VALUES 64

struct outcome {
	char *values[MAX_VALUES];    /* compact dumps plus flags, in order */
	unsigned nvalues;
	int final_rc;                /* 0: stream ended cleanly (maybe mid-value), or the error */
};

static void answer(json_t *value, unsigned flags)
{
	struct jrpc_request req;
	const char *errmsg = NULL;
	int code = jrpc_request_parse(value, flags, &req, &errmsg);
	size_t len = 0;
	char *line;
	if (code != 0) {
		if (!errmsg)
			abort();
		line = jrpc_encode_error(req.id, code, errmsg, &len);
	} else {
		if (!req.method || !*req.method)
			abort();
		line = jrpc_encode_result(req.id, json_string(req.method), &len);
	}
	if (!line || len == 0 || line[len - 1] != '\n')
		abort();
	free(line);
}

static void record(struct outcome *o, json_t *value, unsigned flags)
{
	if (o->nvalues == MAX_VALUES)
		return;
	char *s = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	char *line = NULL;
	if (asprintf(&line, "%u:%s", flags, s ? s : "?") < 0)
		abort();
	free(s);
	o->values[o->nvalues++] = line;
}

/* Feeds data in pieces of the given sizes (cycled), taking values after every piece. */
static void run(const uint8_t *data, size_t n, size_t limit, const uint8_t *sizes,
		size_t nsizes, struct outcome *o)
{
	struct jrpc_frame f;
	jrpc_frame_init(&f, limit);
	memset(o, 0, sizeof(*o));
	size_t off = 0, k = 0;
	int rc = 0;
	while (off < n && rc == 0) {
		/* The server reads at most 64 KiB at a time. */
		size_t piece = nsizes ? (size_t)sizes[k++ % nsizes] + 1 : 65536;
		if (piece > n - off)
			piece = n - off;
		rc = jrpc_frame_feed(&f, data + off, piece);
		off += piece;
		while (rc == 0) {
			json_t *v = NULL;
			unsigned flags = 0;
			char err[160] = "";
			int r = jrpc_frame_next(&f, &v, &flags, err, sizeof(err));
			if (r == 0)
				break;
			if (r < 0) {
				if (!err[0])
					abort();
				rc = r;
				break;
			}
			if (!v)
				abort();
			record(o, v, flags);
			answer(v, flags);
			json_decref(v);
		}
	}
	/* jrpc_frame_partial only looks at the buffer: it must not crash whatever state. */
	(void)jrpc_frame_partial(&f);
	o->final_rc = rc;
	jrpc_frame_free(&f);
}

static void outcome_free(struct outcome *o)
{
	for (unsigned i = 0; i < o->nvalues; i++)
		free(o->values[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The first byte picks the size limit (64 .. 16384 bytes); the last up to 8 bytes are the
	 * piece sizes of the second run (they are part of the stream too, as any trailing
	 * bytes would be). */
	if (size < 1)
		return 0;
	size_t limit = 64u << (data[0] % 9);
	const uint8_t *stream = data + 1;
	size_t n = size - 1;
	size_t nsizes = n < 8 ? n : 8;
	const uint8_t *sizes = stream + n - nsizes;

	struct outcome whole, pieces;
	run(stream, n, limit, NULL, 0, &whole);
	run(stream, n, limit, sizes, nsizes, &pieces);

	bool same = whole.nvalues == pieces.nvalues;
	for (unsigned i = 0; same && i < whole.nvalues; i++)
		same = strcmp(whole.values[i], pieces.values[i]) == 0;
	/* The outcome class must agree too: an error in one splitting is the same error in the
	 * other. */
	same = same && whole.final_rc == pieces.final_rc;
	if (!same) {
		fprintf(stderr, "framing depends on read boundaries: %u values (rc %d) whole, "
			"%u values (rc %d) in pieces\n", whole.nvalues, whole.final_rc,
			pieces.nvalues, pieces.final_rc);
		abort();
	}
	outcome_free(&whole);
	outcome_free(&pieces);
	return 0;
}

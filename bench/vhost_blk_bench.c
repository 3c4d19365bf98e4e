/* vhost_blk_bench.c — a target-level benchmark front-end: drives a vhost-user-blk socket
 * (blockd, qemu-storage-daemon, SPDK's spdk_tgt) directly, the way QEMU's device would, with
 * no guest in between. Sealed memfd guest memory (2 MiB aligned, as SPDK needs), one split
 * virtqueue and one client thread per queue, busy-poll or eventfd completion, a pattern, a
 * block size, a queue depth and a duration; optionally the range written first (so reads of
 * a malloc bdev are of written data, not of the zero page). Prints one line per run (or
 * --json): IOPS, MiB/s, p50/p99/p99.9 latency and "client busy", the share of the client
 * threads' time not spent waiting (near 100 %: the client, not the target, is the limit).
 * Every wait has a deadline: a target that stops answering ends the run with exit 2.
 * Usage: vhost_blk_bench --socket PATH [options] (--help). Used by bench/target_bench.py. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blk_bench_queue.h"
#include "copy_limit.h"
#include "latency_hist.h"
#include "vhost_client.h"
#include "virtio_spec.h"

#define MAX_QUEUES 16
#define PREP_BS (128u << 10)
#define PREP_QD 8u
#define ALIGN_2M (2ull << 20)

struct opts {
	const char *socket, *label, *pattern;
	uint32_t bs;
	unsigned qd, queues;
	double seconds;
	uint64_t size;                   /* 0: the device's capacity (GET_CONFIG) */
	bool event, prepare, json, huge;
	uint64_t copy_limit;             /* --copy-limit BYTES: the copy loop, no target */
	int timeout_ms;
};

struct worker {
	pthread_t tid;
	struct bq q;
	struct bq_params p;
	pthread_barrier_t *start;
	int rc;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: vhost_blk_bench --socket PATH [--pattern randread|randwrite|read|write]\n"
		"       | --copy-limit BYTES [--bs BYTES] [--seconds S] [--json]\n"
		"       [--bs BYTES] [--qd N] [--queues N] [--seconds S] [--size BYTES]\n"
		"       [--completion poll|event] [--prepare] [--label TEXT] [--json]\n"
		"       [--timeout-ms MS] [--huge]\n"
		"  --prepare     write the whole range first (128 KiB writes), then measure\n"
		"  --copy-limit  no target: one thread copying --bs blocks between random offsets of\n"
		"                a buffer of BYTES (a RAM-backed target's ceiling on this CPU)\n"
		"  --size        the range IO goes to (default: the device's capacity)\n"
		"  --huge        guest memory on 2 MiB huge pages (a hugetlb memfd), as SPDK's\n"
		"                vhost needs: it maps a 4 KiB-page memfd off 2 MiB alignment\n"
		"  --timeout-ms  a message unanswered, or no completion, this long fails the run\n"
		"                (default 5000)\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .label = "-", .pattern = "randread", .bs = 4096, .qd = 32,
			    .queues = 1, .seconds = 3, .timeout_ms = 5000 };
	static const struct option lo[] = {
		{ "socket", 1, 0, 's' }, { "pattern", 1, 0, 'p' }, { "bs", 1, 0, 'b' },
		{ "qd", 1, 0, 'q' }, { "queues", 1, 0, 'n' }, { "seconds", 1, 0, 't' },
		{ "size", 1, 0, 'z' }, { "completion", 1, 0, 'c' }, { "prepare", 0, 0, 'P' },
		{ "label", 1, 0, 'l' }, { "json", 0, 0, 'j' }, { "timeout-ms", 1, 0, 'T' },
		{ "copy-limit", 1, 0, 'C' }, { "huge", 0, 0, 'H' }, { "help", 0, 0, 'h' },
		{ 0, 0, 0, 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': o->socket = optarg; break;
		case 'p': o->pattern = optarg; break;
		case 'b': o->bs = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'q': o->qd = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'n': o->queues = (unsigned)strtoul(optarg, NULL, 0); break;
		case 't': o->seconds = strtod(optarg, NULL); break;
		case 'z': o->size = strtoull(optarg, NULL, 0); break;
		case 'c':
			if (strcmp(optarg, "poll") && strcmp(optarg, "event"))
				return -1;
			o->event = !strcmp(optarg, "event");
			break;
		case 'P': o->prepare = true; break;
		case 'l': o->label = optarg; break;
		case 'j': o->json = true; break;
		case 'H': o->huge = true; break;
		case 'T': o->timeout_ms = atoi(optarg); break;
		case 'C': o->copy_limit = strtoull(optarg, NULL, 0); break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if ((!o->socket && !o->copy_limit) || !o->bs || o->bs % 512 || o->qd == 0 || o->qd > 256 || o->queues == 0 ||
	    o->queues > MAX_QUEUES || o->seconds <= 0 || o->timeout_ms <= 0)
		return -1;
	if (strcmp(o->pattern, "randread") && strcmp(o->pattern, "randwrite") &&
	    strcmp(o->pattern, "read") && strcmp(o->pattern, "write"))
		return -1;
	return 0;
}

static uint16_t ring_size(unsigned qd)
{
	uint16_t n = 64;
	while (n < 3 * qd)
		n = (uint16_t)(n * 2);
	return n;
}

/* The memfd mapped at a 2 MiB-aligned address (SPDK registers guest memory in 2 MiB units). */
static uint8_t *map_aligned(int fd, size_t size)
{
	uint8_t *area = mmap(NULL, size + ALIGN_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return NULL;
	uint8_t *at = (uint8_t *)(((uintptr_t)area + ALIGN_2M - 1) & ~(uintptr_t)(ALIGN_2M - 1));
	if (at > area)
		munmap(area, (size_t)(at - area));
	munmap(at + size, (size_t)(area + size + ALIGN_2M - at - size));
	uint8_t *m = mmap(at, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	return m == MAP_FAILED ? NULL : m;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	pthread_barrier_wait(w->start);
	w->rc = bq_run(&w->q, &w->p);
	return NULL;
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "vhost_blk_bench: %s: %s\n", what,
		rc == VUC_CLOSED ? "the target closed the connection" :
		rc > 0 ? "refused by the target" : strerror(-rc));
	return 2;
}

static void report(const struct opts *o, struct worker *w, uint64_t size)
{
	static struct lhist all;
	uint64_t ios = 0, bytes = 0, elapsed = 0, run = 0, wait = 0;
	for (unsigned i = 0; i < o->queues; i++) {
		lhist_merge(&all, &w[i].q.hist);
		ios += w[i].q.ios;
		bytes += w[i].q.bytes;
		run += w[i].q.run_ns;
		wait += w[i].q.wait_ns;
		if (w[i].q.elapsed_ns > elapsed)
			elapsed = w[i].q.elapsed_ns;
	}
	double secs = (double)elapsed / 1e9, iops = secs > 0 ? (double)ios / secs : 0;
	double mibs = secs > 0 ? (double)bytes / secs / (1 << 20) : 0;
	double busy = run ? 100.0 * (1.0 - (double)wait / (double)run) : 0;
	double p50 = (double)lhist_quantile(&all, 0.50) / 1e3;
	double p99 = (double)lhist_quantile(&all, 0.99) / 1e3;
	double p999 = (double)lhist_quantile(&all, 0.999) / 1e3;
	const char *mode = o->event ? "event" : "poll";
	if (o->json)
		printf("{\"label\": \"%s\", \"pattern\": \"%s\", \"bs\": %u, \"qd\": %u, "
		       "\"queues\": %u, \"completion\": \"%s\", \"size\": %llu, \"seconds\": %.3f, "
		       "\"ios\": %llu, \"iops\": %.0f, \"mib_s\": %.1f, \"p50_us\": %.1f, "
		       "\"p99_us\": %.1f, \"p999_us\": %.1f, \"client_busy_pct\": %.1f}\n",
		       o->label, o->pattern, o->bs, o->qd, o->queues, mode,
		       (unsigned long long)size, secs, (unsigned long long)ios, iops, mibs, p50,
		       p99, p999, busy);
	else
		printf("%s %s bs=%u qd=%u queues=%u %s: iops=%.0f mib_s=%.1f p50=%.1fus "
		       "p99=%.1fus p99.9=%.1fus client_busy=%.1f%% (%.2f s)\n", o->label,
		       o->pattern, o->bs, o->qd, o->queues, mode, iops, mibs, p50, p99, p999, busy,
		       secs);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse(argc, argv, &o) != 0) {
		usage(stderr);
		return 64;
	}
	if (o.copy_limit) {
		double rate = copy_limit_rate(o.copy_limit, o.bs, o.seconds);
		if (rate < 0) {
			fprintf(stderr, "vhost_blk_bench: no buffer of %llu bytes\n",
				(unsigned long long)o.copy_limit);
			return 2;
		}
		if (o.json)
			printf("{\"copy_limit\": %llu, \"bs\": %u, \"copies_s\": %.0f}\n",
			       (unsigned long long)o.copy_limit, o.bs, rate);
		else
			printf("copy limit: %.0f copies/s of %u bytes in %llu bytes\n", rate, o.bs,
			       (unsigned long long)o.copy_limit);
		return 0;
	}
	struct vuc v = { .sock = -1, .timeout_ms = o.timeout_ms };
	int rc = vuc_connect(&v, o.socket);
	if (rc)
		return fail(o.socket, rc);
	uint64_t features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	uint64_t protocol = (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
			    (1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_CONFIG);
	/* The device features QEMU's vhost-user-blk device takes when offered. */
	uint64_t optional = (1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
			    (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |
			    (1ull << VIRTIO_BLK_F_MQ);
	if ((rc = vuc_negotiate(&v, features, optional, protocol, true, NULL)))
		return fail("feature negotiation", rc);
	uint64_t size = o.size;
	if (!size) {
		struct virtio_blk_config cfg;
		if ((rc = vuc_get_config(&v, &cfg, 8)))
			return fail("GET_CONFIG (the capacity; or give --size)", rc);
		size = cfg.capacity * 512;
	}
	uint32_t max_bs = o.bs > PREP_BS ? o.bs : PREP_BS;
	if (size < max_bs) {
		fprintf(stderr, "vhost_blk_bench: the device (%llu bytes) is smaller than a block\n",
			(unsigned long long)size);
		return 2;
	}

	/* Guest memory: each queue's rings, headers and data slots, back to back. */
	static struct worker w[MAX_QUEUES];
	static struct bq_slot slots[MAX_QUEUES][256];
	uint16_t num = ring_size(o.qd > PREP_QD ? o.qd : PREP_QD);
	unsigned slots_n = o.qd > PREP_QD ? o.qd : PREP_QD;
	size_t per_q = bq_bytes(num, slots_n, max_bs);
	per_q = (per_q + 4095) & ~(size_t)4095;
	size_t mem_size = ((per_q * o.queues) + ALIGN_2M - 1) & ~(size_t)(ALIGN_2M - 1);
	int memfd = vuc_sealed_memfd("vhost-blk-bench", mem_size, o.huge);
	if (memfd < 0)
		return fail("guest memory", memfd);
	uint8_t *mem = map_aligned(memfd, mem_size);
	if (!mem)
		return fail("mapping guest memory", -errno);
	memset(mem, 0x5a, mem_size);     /* touched: data buffers are not the zero page */
	if ((rc = vuc_set_mem_table(&v, memfd, mem_size, (uint64_t)(uintptr_t)mem)))
		return fail("SET_MEM_TABLE", rc);
	for (unsigned i = 0; i < o.queues; i++) {
		struct bq *q = &w[i].q;
		q->index = i;
		q->slots = slots[i];
		q->rng = 0x9e3779b97f4a7c15ull * (i + 1);
		bq_layout(q, mem, per_q * i, num, slots_n, max_bs);
		memset(mem + per_q * i, 0, (size_t)(q->used_gpa - q->desc_gpa) + 4096);
		q->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		q->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (q->kick_fd < 0 || q->call_fd < 0)
			return fail("eventfd", -errno);
		uintptr_t uva = (uintptr_t)mem;
		struct vuc_vring_setup st = { .index = i, .num = num, .base = 0,
					      .desc_uva = uva + q->desc_gpa,
					      .avail_uva = uva + q->avail_gpa,
					      .used_uva = uva + q->used_gpa,
					      .call_fd = q->call_fd, .kick_fd = q->kick_fd };
		uint32_t failed = 0;
		char what[64];
		if ((rc = vuc_setup_vring(&v, &st, &failed))) {
			snprintf(what, sizeof(what), "queue %u: vring setup (request %u)", i, failed);
			return fail(what, rc);
		}
		struct vhost_user_vring_state en = { i, 1 };
		int64_t r = vuc_call(&v, VHOST_USER_SET_VRING_ENABLE, &en, sizeof(en), NULL, 0);
		if (r) {
			snprintf(what, sizeof(what), "queue %u: SET_VRING_ENABLE", i);
			return fail(what, (int)r);
		}
	}

	uint64_t stall = (uint64_t)o.timeout_ms * 1000000ull;
	if (o.prepare) {
		/* One sequential pass of writes over the range, on queue 0. */
		struct bq_params p = { .type = VIRTIO_BLK_T_OUT, .bs = PREP_BS, .qd = PREP_QD,
				       .range_bytes = size / PREP_BS * PREP_BS,
				       .event = o.event, .stall_ns = stall };
		if (p.range_bytes && bq_run(&w[0].q, &p) != 0) {
			fprintf(stderr, "vhost_blk_bench: preparing: %s\n", w[0].q.err);
			return 2;
		}
	}
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, o.queues + 1);
	bool write = strstr(o.pattern, "write") != NULL;
	for (unsigned i = 0; i < o.queues; i++) {
		w[i].p = (struct bq_params){ .type = write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
					     .random = !strncmp(o.pattern, "rand", 4), .bs = o.bs,
					     .qd = o.qd, .range_bytes = size / o.bs * o.bs,
					     .event = o.event, .stall_ns = stall,
					     .duration_ns = (uint64_t)(o.seconds * 1e9) };
		if (!w[i].p.random) {          /* sequential: each queue its own part */
			uint64_t part = w[i].p.range_bytes / o.queues / o.bs * o.bs;
			w[i].p.range_off = part * i;
			w[i].p.range_bytes = part;
		}
		w[i].start = &start;
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0)
			return fail("pthread_create", -errno);
	}
	pthread_barrier_wait(&start);
	int status = 0;
	for (unsigned i = 0; i < o.queues; i++) {
		pthread_join(w[i].tid, NULL);
		if (w[i].rc) {
			fprintf(stderr, "vhost_blk_bench: %s\n", w[i].q.err);
			status = 2;
		}
	}
	if (status == 0)
		report(&o, w, size);
	vuc_close(&v);
	return status;
}

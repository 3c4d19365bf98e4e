/*
 * guest/memload.c — the memory workloads of Berth's test guest, for live-migration tests:
 * dirty (writes guest memory at a given rate, so precopy converges or never does) and
 * memcheck (a known pattern in memory plus disk reads into fresh buffers, re-verified
 * forever: a missed dirty page, CPU- or device-written, shows up as a mismatch line).
 * Part of /bin/berth-workload; the console-line formats are in workload.c's header comment.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

#define PAGE 4096
#define MIB (1024 * 1024)
#define PAGES_PER_MIB (MIB / PAGE)
#define WORDS_PER_PAGE (PAGE / 8)
#define DIRTY_DEFAULT_MIB 64
#define MC_DEFAULT_MIB 32
#define MC_DEFAULT_BLOCKS 256
#define RESERVE_MIB 24         /* left free for the kernel and busybox */
#define MIN_MIB 8              /* a default size is never shrunk below this */
#define REPORT_S 1.0           /* at most one DIRTY / MC ok line per this many seconds */
#define CATCH_UP_S 1.0         /* dirty: a pacing deficit beyond this is forgotten */
#define MC_MAX_REPORTS 32      /* mismatch lines per round; the rest are counted */
#define MC_BATCH 16            /* blocks per O_DIRECT read (64 KiB) */
#define MC_RING 32             /* read buffers kept and re-verified every round */
#define MC_READS 4             /* reads per round */
#define MC_WINDOW_DIV 16       /* each round rewrites 1/16 of the area with a new generation */
#define MC_POISON 0xA5

static const char mc_magic[8] = "BERTHMC";

/* *size_mib MiB of private anonymous memory, every page touched; NULL (after a "<tag> error"
 * line) when it does not fit in the guest's free memory. A default size (*size_mib <= 0)
 * is shrunk to what fits (at least MIN_MIB). */
static unsigned char *alloc_area(const char *tag, int64_t *size_mib, int64_t dflt)
{
    struct sysinfo si;
    if (sysinfo(&si) == 0) {
        uint64_t free_mib = (uint64_t)si.freeram * si.mem_unit / MIB;
        if (*size_mib <= 0)
            *size_mib = free_mib >= (uint64_t)dflt + RESERVE_MIB ? dflt
                        : free_mib >= MIN_MIB + RESERVE_MIB ? (int64_t)(free_mib - RESERVE_MIB)
                                                            : MIN_MIB;
        if ((uint64_t)*size_mib + RESERVE_MIB > free_mib) {
            printf("%s error size %" PRId64 " MiB does not fit in %" PRIu64 " MiB free\n", tag,
                   *size_mib, free_mib);
            return NULL;
        }
    } else if (*size_mib <= 0) {
        *size_mib = dflt;
    }
    void *p = mmap(NULL, (size_t)*size_mib * MIB, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) {
        printf("%s error mmap %s\n", tag, strerror(errno));
        return NULL;
    }
    return p;
}

static void sleep_until(double t)
{
    double left = t - now_seconds();
    if (left <= 0)
        return;
    struct timespec ts = { (time_t)left, (long)((left - (double)(time_t)left) * 1e9) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---------------------------------------------------------------- dirty */

int run_dirty(const char *dev, int64_t size_mib, int64_t rate, int with_writer)
{
    unsigned char *area = alloc_area("DIRTY", &size_mib, DIRTY_DEFAULT_MIB);
    if (!area)
        return 1;
    if (with_writer && dev) {
        pid_t pid = fork();
        if (pid == 0) {
            unsigned char *buf;
            if (posix_memalign((void **)&buf, BLOCK_SIZE, BLOCK_SIZE) != 0)
                _exit(1);
            _exit(run_writer(dev, buf, -1, 0));
        }
        if (pid < 0)
            printf("DIRTY error fork %s\n", strerror(errno));
    }
    printf("DIRTY ready %" PRId64 " %" PRId64 "\n", size_mib, rate);
    size_t pages = (size_t)size_mib * PAGES_PER_MIB, next = 0;
    uint64_t mib = 0, stamp = 0, last_mib = 0;
    double t0 = now_seconds(), last = t0;
    for (;;) {
        /* One 64-bit store per page dirties the whole page for migration: 1 MiB a pass. */
        stamp++;
        for (size_t i = 0; i < PAGES_PER_MIB; i++) {
            volatile uint64_t *w = (volatile uint64_t *)(area + next * PAGE);
            w[stamp % WORDS_PER_PAGE] = stamp;
            next = next + 1 == pages ? 0 : next + 1;
        }
        mib++;
        if (rate > 0) {
            double due = t0 + (double)mib / (double)rate;
            double now = now_seconds();
            if (now - due > CATCH_UP_S)    /* fell behind (a paused VM): no burst after */
                t0 += now - due - CATCH_UP_S;
            else
                sleep_until(due);
        }
        double now = now_seconds();
        if (now - last >= REPORT_S) {
            printf("DIRTY %" PRIu64 " %.0f\n", mib, (double)(mib - last_mib) / (now - last));
            last = now;
            last_mib = mib;
        }
    }
}

/* ---------------------------------------------------------------- memcheck */

struct mc {
    unsigned char *area;
    size_t pages;
    uint32_t *gen;                   /* generation of each page's pattern */
    size_t window;                   /* next page the rewrite window starts at */
    int fd;
    uint64_t start, nblocks, next_batch;
    unsigned char *ring[MC_RING];    /* O_DIRECT read buffers, MC_BATCH blocks each */
    uint64_t ring_first[MC_RING];    /* the first block each holds */
    uint64_t ring_round[MC_RING];    /* the round it was read in */
    unsigned slot;
    uint64_t round, reported, unreported;
};

static uint64_t xorshift(uint64_t x)
{
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

/* Word w of page <page> at generation <gen>: magic, page, gen, then a xorshift stream. */
static void mc_page_words(uint64_t *out, uint64_t page, uint32_t gen)
{
    memcpy(&out[0], mc_magic, 8);
    out[1] = page;
    out[2] = gen;
    uint64_t x = (page + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)gen << 32) ^ 0x4D43u;
    for (size_t w = 3; w < WORDS_PER_PAGE; w++)
        out[w] = x = xorshift(x);
}

static void mc_fill_page(struct mc *m, size_t page)
{
    mc_page_words((uint64_t *)(m->area + page * PAGE), page, m->gen[page]);
}

/* Counts a mismatch; true when it may still get its own line this round. */
static int mc_report(struct mc *m)
{
    if (m->reported < MC_MAX_REPORTS) {
        m->reported++;
        return 1;
    }
    m->unreported++;
    return 0;
}

/* Every page against its pattern; a bad page is reported and rewritten, so it is reported
 * once. Returns the number of bad pages. */
static uint64_t mc_verify_area(struct mc *m)
{
    static uint64_t want[WORDS_PER_PAGE];
    uint64_t bad_pages = 0;
    for (size_t p = 0; p < m->pages; p++) {
        const uint64_t *got = (const uint64_t *)(m->area + p * PAGE);
        mc_page_words(want, p, m->gen[p]);
        if (memcmp(got, want, PAGE) == 0)
            continue;
        size_t first = WORDS_PER_PAGE, bad = 0;
        for (size_t w = 0; w < WORDS_PER_PAGE; w++)
            if (got[w] != want[w]) {
                bad++;
                if (first == WORDS_PER_PAGE)
                    first = w;
            }
        if (mc_report(m))
            printf("MC mismatch mem %zu words=%zu want=%016" PRIx64 " got=%016" PRIx64 "\n",
                   p * PAGE + first * 8, bad, want[first], got[first]);
        mc_fill_page(m, p);
        bad_pages++;
    }
    return bad_pages;
}

/* Moves the rewrite window: its pages get the next generation of the pattern. */
static void mc_rewrite_window(struct mc *m)
{
    size_t n = m->pages / MC_WINDOW_DIV ? m->pages / MC_WINDOW_DIV : 1;
    for (size_t i = 0; i < n; i++) {
        size_t p = m->window;
        m->gen[p]++;
        mc_fill_page(m, p);
        m->window = p + 1 == m->pages ? 0 : p + 1;
    }
}

/* Checks ring slot k; a bad slot is reported and dropped. Returns the bad blocks. */
static uint64_t mc_verify_slot(struct mc *m, unsigned k)
{
    uint64_t bad = 0;
    if (!m->ring[k])
        return 0;
    for (unsigned b = 0; b < MC_BATCH; b++) {
        const unsigned char *blk = m->ring[k] + (size_t)b * BLOCK_SIZE;
        const char *why = check_block(blk, m->ring_first[k] + b);
        if (!why)
            continue;
        size_t poisoned = 0;
        while (poisoned < BLOCK_SIZE && blk[poisoned] == MC_POISON)
            poisoned++;
        if (poisoned == BLOCK_SIZE)
            why = "poison";    /* the page still holds what the guest wrote before the read */
        if (mc_report(m))
            printf("MC mismatch disk %" PRIu64 " %s read=%" PRIu64 " round=%" PRIu64 "\n",
                   (m->ring_first[k] + b) * BLOCK_SIZE, why, m->ring_round[k], m->round);
        bad++;
    }
    if (bad) {
        munmap(m->ring[k], (size_t)MC_BATCH * BLOCK_SIZE);
        m->ring[k] = NULL;
    }
    return bad;
}

/* One O_DIRECT read of the next MC_BATCH known blocks into a freshly mapped, poisoned
 * buffer (the device then writes guest memory by DMA), replacing the oldest ring slot. */
static void mc_read_batch(struct mc *m)
{
    unsigned k = m->slot;
    m->slot = (m->slot + 1) % MC_RING;
    size_t len = (size_t)MC_BATCH * BLOCK_SIZE;
    if (m->ring[k])
        munmap(m->ring[k], len);
    m->ring[k] = NULL;
    void *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) {
        printf("MC error mmap %s\n", strerror(errno));
        return;
    }
    memset(buf, MC_POISON, len);
    uint64_t first = m->start + (m->next_batch * MC_BATCH) % m->nblocks;
    m->next_batch++;
    ssize_t n = pread(m->fd, buf, len, (off_t)(first * BLOCK_SIZE));
    if (n != (ssize_t)len) {
        printf("MC error read %" PRIu64 " %s\n", first * BLOCK_SIZE,
               n < 0 ? strerror(errno) : "short read");
        munmap(buf, len);
        return;
    }
    m->ring[k] = buf;
    m->ring_first[k] = first;
    m->ring_round[k] = m->round;
}

/* Writes the known blocks start..start+nblocks-1 in the writer's format and fsyncs. */
static int mc_write_blocks(struct mc *m)
{
    unsigned char *buf;
    if (posix_memalign((void **)&buf, BLOCK_SIZE, BLOCK_SIZE) != 0)
        return -1;
    for (uint64_t seq = m->start; seq < m->start + m->nblocks; seq++) {
        fill_block(buf, seq);
        if (pwrite(m->fd, buf, BLOCK_SIZE, (off_t)(seq * BLOCK_SIZE)) != BLOCK_SIZE) {
            printf("MC error write %" PRIu64 " %s\n", seq * BLOCK_SIZE, strerror(errno));
            free(buf);
            return -1;
        }
    }
    free(buf);
    if (fsync(m->fd) != 0) {
        printf("MC error fsync %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

int run_memcheck(const char *dev, int64_t size_mib, int64_t blocks, uint64_t start)
{
    static struct mc m;
    if (blocks <= 0)
        blocks = MC_DEFAULT_BLOCKS;
    m.nblocks = ((uint64_t)blocks + MC_BATCH - 1) / MC_BATCH * MC_BATCH;
    m.start = start;
    m.fd = open_dev(dev, O_RDWR);
    if (m.fd < 0) {
        printf("MC error open %s\n", strerror(errno));
        return 1;
    }
    if (m.start + m.nblocks > dev_blocks(m.fd)) {
        printf("MC error blocks %" PRIu64 "+%" PRIu64 " beyond the device end\n", m.start,
               m.nblocks);
        return 1;
    }
    if (!(m.area = alloc_area("MC", &size_mib, MC_DEFAULT_MIB)))
        return 1;
    m.pages = (size_t)size_mib * PAGES_PER_MIB;
    if (!(m.gen = calloc(m.pages, sizeof(*m.gen))))
        return 1;
    for (size_t p = 0; p < m.pages; p++)
        mc_fill_page(&m, p);
    if (mc_write_blocks(&m) < 0)
        return 1;
    printf("MC ready %" PRId64 " %" PRIu64 "\n", size_mib, m.nblocks);
    double last = 0;
    for (m.round = 1;; m.round++) {
        uint64_t bad;
        m.reported = m.unreported = 0;
        bad = mc_verify_area(&m);
        mc_rewrite_window(&m);
        for (int i = 0; i < MC_READS; i++)
            mc_read_batch(&m);
        for (unsigned k = 0; k < MC_RING; k++)
            bad += mc_verify_slot(&m, k);
        if (m.unreported)
            printf("MC mismatch more %" PRIu64 " round=%" PRIu64 "\n", m.unreported, m.round);
        double now = now_seconds();
        if (!bad && now - last >= REPORT_S) {
            printf("MC ok %" PRIu64 "\n", m.round);
            last = now;
        }
    }
}

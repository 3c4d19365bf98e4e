/*
 * guest/workload.c — the disk workloads of Berth's test guest.
 *
 * Built statically by guest/build.sh into the guest's initramfs as
 * /bin/berth-workload and started by guest/init:
 *
 *     berth-workload writer|verify|bench DEVICE [-c COUNT] [-s START] [-q DEPTH]
 *     berth-workload dirty [DEVICE] [-m MIB] [-r RATE] [-w]
 *     berth-workload memcheck DEVICE [-m MIB] [-c COUNT] [-s START]
 *     berth-workload acpi
 * dirty and memcheck live in memload.c (built into the same binary).
 *
 * Every line printed here goes to the serial console and is parsed by the
 * scenario tests, so the formats below are an interface: keep them exact.
 *
 * Block format (BLOCK_SIZE = 4096 bytes, block <seq> lives at offset seq*4096):
 *     0..7    magic "BERTHBLK"
 *     8..15   seq, uint64 little-endian
 *     16..19  CRC-32 (IEEE, as zlib.crc32) of the whole block with this field zeroed,
 *             uint32 little-endian
 *     20..23  zero
 *     24..    filler: xorshift64 stream started from seq (see fill_block)
 *
 * writer: writes blocks START, START+1, ... each followed by fsync, printing
 *     "W <seq> ok" after each; on a write/fsync error prints
 *     "W <seq> error <strerror>" and retries the same block after a bounded
 *     backoff. Stops after COUNT blocks or at the end of the device and prints
 *     "W done <n>", n = blocks written by this run.
 * verify: reads blocks from 0 and prints one line
 *     "VERIFY good=<n> bad=<n> missing=<n> last=<highest good seq or -1>".
 *     Without -c it stops at the first all-zero block or the device end; with
 *     -c COUNT it checks blocks 0..COUNT-1 and counts all-zero ones as missing.
 *     For the first few bad blocks it also prints "V bad <seq> <reason>".
 * acpi: opens every /dev/input/event* device that can report KEY_POWER (the ACPI
 *     power button, once /init has loaded the button and evdev modules), prints
 *     "ACPI ready", waits for a KEY_POWER press (QMP system_powerdown), prints
 *     "ACPI powerdown" and powers the machine off with reboot(2). Prints
 *     "ACPI error <reason>" and returns 1 when no such device shows up.
 * dirty: allocates MIB MiB (default 64, or less when that does not fit in the guest's free
 *     memory less 24 MiB: about 40 MiB in a 128 MiB guest) and writes it forever, one
 *     64-bit store per 4 KiB page in turn (which dirties the whole page for live
 *     migration), at RATE MiB/s of pages dirtied (default 0 = as fast as the vCPU goes; a deficit over 1 s, e.g. while
 *     the VM was paused, is forgotten rather than caught up in a burst). Prints
 *     "DIRTY ready <MiB> <rate>" once, then at most once a second
 *     "DIRTY <MiB dirtied in total> <MiB/s over the last interval>" (integers). With -w it
 *     also forks the writer on DEVICE (from block 0, forever: its "W ..." lines as above);
 *     without -w there is no disk IO. A size -m that does not fit in the guest's free
 *     memory less 24 MiB prints "DIRTY error <reason>" and returns 1.
 * memcheck: a detector of pages a live migration failed to copy. Fills MIB MiB (default 32,
 *     shrunk like dirty's)
 *     with a known pattern (each 4 KiB page: "BERTHMC\0", its page index, its generation,
 *     then a xorshift stream from both; all 64-bit little-endian), writes COUNT blocks
 *     (default 256, rounded up to a multiple of 16) from block START in the writer's block
 *     format to DEVICE, fsyncs, prints "MC ready <MiB> <blocks>" and loops forever over
 *     rounds 1, 2, ...: re-verify every page of the area; give 1/16 of the area (a moving
 *     window) the next generation of the pattern; 4 times read the next 16 known blocks
 *     with one 64 KiB O_DIRECT read into a freshly mapped buffer filled with 0xA5 first
 *     (the device writes it by DMA), kept in a ring of the last 32 such buffers; re-verify
 *     every buffer of the ring. Prints, at most once a second and only for a round without
 *     a mismatch, "MC ok <round>". For each mismatch (at most 32 lines a round):
 *       "MC mismatch mem <byte offset in the area> words=<bad words of its page>
 *        want=<hex> got=<hex>"   (first bad word of the page; the page is then rewritten)
 *       "MC mismatch disk <byte offset on DEVICE> magic|seq|checksum|poison read=<round of
 *        the read> round=<round>"   (poison: the buffer still holds 0xA5 only; the buffer
 *        is then dropped from the ring)
 *     then "MC mismatch more <n> round=<round>" for the ones not listed. A failed read
 *     prints "MC error read <byte offset> <reason>" (not a mismatch); setup failures print
 *     "MC error <what> ..." and return 1.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/input.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

#define MAGIC "BERTHBLK"
#define MAGIC_LEN 8
#define OFF_SEQ 8
#define OFF_CRC 16
#define OFF_FILL 24
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define READ_TRIES 3
#define MAX_BAD_REPORTS 10
#define ACPI_MAX_DEVS 8
#define ACPI_WAIT_MS 10000 /* for the power button's event device to appear */

static uint32_t crc_table[256];

void crc32_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

/* CRC-32 of buf with the checksum field treated as zero. */
uint32_t block_crc(const unsigned char *buf)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < BLOCK_SIZE; i++) {
        unsigned char b = (i >= OFF_CRC && i < OFF_CRC + 4) ? 0 : buf[i];
        c = crc_table[(c ^ b) & 0xFF] ^ (c >> 8);
    }
    return c ^ 0xFFFFFFFFu;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void fill_block(unsigned char *buf, uint64_t seq)
{
    uint64_t x = seq * 0x9E3779B97F4A7C15ull + 0x42455254ull; /* never zero for small seq */
    memset(buf, 0, BLOCK_SIZE);
    memcpy(buf, MAGIC, MAGIC_LEN);
    put_le(buf + OFF_SEQ, seq, 8);
    for (size_t i = OFF_FILL; i < BLOCK_SIZE; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        put_le(buf + i, x, 8);
    }
    put_le(buf + OFF_CRC, block_crc(buf), 4);
}

void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Open DEVICE with O_DIRECT when it allows it (a block device does; tmpfs does not). */
int open_dev(const char *dev, int flags)
{
    int fd = open(dev, flags | O_DIRECT | O_CLOEXEC);
    if (fd < 0 && errno == EINVAL)
        fd = open(dev, flags | O_CLOEXEC);
    return fd;
}

uint64_t dev_blocks(int fd)
{
    off_t end = lseek(fd, 0, SEEK_END);
    return end > 0 ? (uint64_t)end / BLOCK_SIZE : 0;
}

int run_writer(const char *dev, unsigned char *buf, int64_t count, uint64_t start)
{
    int fd = open_dev(dev, O_RDWR);
    if (fd < 0) {
        printf("W open error %s\n", strerror(errno));
        return 1;
    }
    uint64_t nblocks = dev_blocks(fd);
    uint64_t written = 0;
    for (uint64_t seq = start; seq < nblocks && (count < 0 || written < (uint64_t)count); seq++) {
        long backoff = BACKOFF_MIN_MS;
        fill_block(buf, seq);
        for (;;) {
            ssize_t n = pwrite(fd, buf, BLOCK_SIZE, (off_t)(seq * BLOCK_SIZE));
            const char *err = NULL;
            if (n < 0)
                err = strerror(errno);
            else if (n != BLOCK_SIZE)
                err = "short write";
            else if (fsync(fd) != 0)
                err = strerror(errno);
            if (!err)
                break;
            printf("W %" PRIu64 " error %s\n", seq, err);
            sleep_ms(backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        }
        printf("W %" PRIu64 " ok\n", seq);
        written++;
    }
    printf("W done %" PRIu64 "\n", written);
    close(fd);
    return 0;
}

static int is_zero(const unsigned char *buf)
{
    for (size_t i = 0; i < BLOCK_SIZE; i++)
        if (buf[i])
            return 0;
    return 1;
}

/* NULL when block <seq> is good, else why it is not. */
const char *check_block(const unsigned char *buf, uint64_t seq)
{
    if (memcmp(buf, MAGIC, MAGIC_LEN) != 0)
        return "magic";
    if (get_le(buf + OFF_SEQ, 8) != seq)
        return "seq";
    if (get_le(buf + OFF_CRC, 4) != block_crc(buf))
        return "checksum";
    return NULL;
}

static int run_verify(const char *dev, unsigned char *buf, int64_t count)
{
    int fd = open_dev(dev, O_RDONLY);
    if (fd < 0) {
        printf("VERIFY open error %s\n", strerror(errno));
        return 1;
    }
    uint64_t nblocks = dev_blocks(fd);
    uint64_t limit = count < 0 || (uint64_t)count > nblocks ? nblocks : (uint64_t)count;
    uint64_t good = 0, bad = 0, missing = 0;
    int64_t last = -1;
    for (uint64_t seq = 0; seq < limit; seq++) {
        const char *why = NULL;
        ssize_t n = -1;
        for (int t = 0; t < READ_TRIES && n != BLOCK_SIZE; t++) {
            if (t)
                sleep_ms(BACKOFF_MIN_MS);
            n = pread(fd, buf, BLOCK_SIZE, (off_t)(seq * BLOCK_SIZE));
        }
        if (n != BLOCK_SIZE)
            why = "read-error";
        else if (is_zero(buf)) {
            if (count < 0)
                break;
            missing++;
            continue;
        } else
            why = check_block(buf, seq);
        if (why) {
            if (bad < MAX_BAD_REPORTS)
                printf("V bad %" PRIu64 " %s\n", seq, why);
            bad++;
        } else {
            good++;
            last = (int64_t)seq;
        }
    }
    printf("VERIFY good=%" PRIu64 " bad=%" PRIu64 " missing=%" PRIu64 " last=%" PRId64 "\n",
           good, bad, missing, last);
    close(fd);
    return 0;
}

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One bench worker: ops 4 KiB O_DIRECT reads (or writes) at pseudo-random block offsets. */
static int bench_worker(const char *dev, unsigned char *buf, int writes, int64_t ops,
                        uint64_t stream)
{
    int fd = open_dev(dev, writes ? O_RDWR : O_RDONLY);
    if (fd < 0)
        return 1;
    uint64_t nblocks = dev_blocks(fd), x = stream * 2654435761u + 1;
    if (nblocks == 0)
        return 1;
    memset(buf, 0x5a, BLOCK_SIZE);
    for (int64_t i = 0; i < ops; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        off_t off = (off_t)((x % nblocks) * BLOCK_SIZE);
        ssize_t n = writes ? pwrite(fd, buf, BLOCK_SIZE, off) : pread(fd, buf, BLOCK_SIZE, off);
        if (n != BLOCK_SIZE)
            return 1;
    }
    close(fd);
    return 0;
}

/* bench: 4 KiB random reads, then writes, from depth processes at once (queue depth),
 * count operations in all; prints "BENCH <kind> qd=<d> ops=<n> seconds=<s> iops=<r>". The
 * disk's contents are overwritten: a scratch disk only. */
static int run_bench(const char *dev, unsigned char *buf, int64_t count, int64_t depth)
{
    if (count <= 0)
        count = 20000;
    if (depth <= 0)
        depth = 1;
    for (int writes = 0; writes <= 1; writes++) {
        double t0 = now_seconds();
        int failed = 0;
        for (int64_t w = 0; w < depth; w++) {
            pid_t pid = fork();
            if (pid == 0)
                _exit(bench_worker(dev, buf, writes, count / depth, (uint64_t)w + 1));
            if (pid < 0)
                failed = 1;
        }
        int status;
        while (wait(&status) > 0)
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                failed = 1;
        double secs = now_seconds() - t0;
        int64_t ops = count / depth * depth;
        if (failed) {
            printf("BENCH %s error\n", writes ? "randwrite" : "randread");
            return 1;
        }
        printf("BENCH %s qd=%" PRId64 " ops=%" PRId64 " seconds=%.3f iops=%.0f\n",
               writes ? "randwrite" : "randread", depth, ops, secs, (double)ops / secs);
    }
    return 0;
}

/* Opens the event devices that report KEY_POWER into fds[]; returns how many. */
static int open_power_buttons(int *fds)
{
    int n = 0;
    DIR *dir = opendir("/dev/input");
    if (!dir)
        return 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL && n < ACPI_MAX_DEVS) {
        if (strncmp(de->d_name, "event", 5) != 0)
            continue;
        char path[300];
        snprintf(path, sizeof path, "/dev/input/%s", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        unsigned char keys[KEY_MAX / 8 + 1];
        memset(keys, 0, sizeof keys);
        if (ioctl(fd, EVIOCGBIT(EV_KEY, sizeof keys), keys) >= 0 &&
            (keys[KEY_POWER / 8] >> (KEY_POWER % 8)) & 1)
            fds[n++] = fd;
        else
            close(fd);
    }
    closedir(dir);
    return n;
}

static int run_acpi(void)
{
    int fds[ACPI_MAX_DEVS], n = 0;
    /* devtmpfs creates the device nodes asynchronously after the modules bind. */
    for (int waited = 0; (n = open_power_buttons(fds)) == 0; waited += 100) {
        if (waited >= ACPI_WAIT_MS) {
            printf("ACPI error no power button input device\n");
            return 1;
        }
        sleep_ms(100);
    }
    struct pollfd pfd[ACPI_MAX_DEVS];
    for (int i = 0; i < n; i++)
        pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
    printf("ACPI ready\n");
    for (;;) {
        if (poll(pfd, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            printf("ACPI error poll %s\n", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            struct input_event ev[16];
            ssize_t got = read(pfd[i].fd, ev, sizeof ev);
            for (ssize_t k = 0; got > 0 && k < got / (ssize_t)sizeof ev[0]; k++) {
                if (ev[k].type == EV_KEY && ev[k].code == KEY_POWER && ev[k].value == 1) {
                    printf("ACPI powerdown\n");
                    fflush(stdout);
                    tcdrain(STDOUT_FILENO); /* the line must leave the UART first */
                    sync();
                    reboot(RB_POWER_OFF);
                    printf("ACPI error reboot %s\n", strerror(errno));
                    return 1;
                }
            }
        }
    }
}

static int parse_num(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: berth-workload writer|verify|bench DEVICE [-c COUNT] [-s START] "
            "[-q DEPTH]\n       berth-workload dirty [DEVICE] [-m MIB] [-r RATE] [-w]\n"
            "       berth-workload memcheck DEVICE [-m MIB] [-c COUNT] [-s START]\n"
            "       berth-workload acpi\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int64_t count = -1, start = 0, depth = 1, size_mib = -1, rate = 0;
    int opt, with_writer = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    while ((opt = getopt(argc, argv, "c:s:q:m:r:w")) != -1) {
        if (opt == 'm' && parse_num(optarg, &size_mib) == 0 && size_mib >= 1 &&
            size_mib <= 65536)
            continue;
        if (opt == 'r' && parse_num(optarg, &rate) == 0)
            continue;
        if (opt == 'w') {
            with_writer = 1;
            continue;
        }
        if (opt == 'c' && parse_num(optarg, &count) == 0)
            continue;
        if (opt == 's' && parse_num(optarg, &start) == 0)
            continue;
        if (opt == 'q' && parse_num(optarg, &depth) == 0 && depth >= 1 && depth <= 64)
            continue;
        usage();
    }
    if (argc - optind == 1 && strcmp(argv[optind], "acpi") == 0)
        return run_acpi();
    crc32_init();
    if ((argc - optind == 1 || argc - optind == 2) && strcmp(argv[optind], "dirty") == 0)
        return run_dirty(argc - optind == 2 ? argv[optind + 1] : NULL, size_mib, rate,
                         with_writer);
    if (argc - optind != 2)
        usage();
    const char *name = argv[optind], *dev = argv[optind + 1];

    unsigned char *buf;
    if (posix_memalign((void **)&buf, BLOCK_SIZE, BLOCK_SIZE) != 0)
        return 1;
    if (strcmp(name, "memcheck") == 0)
        return run_memcheck(dev, size_mib, count, (uint64_t)start);
    if (strcmp(name, "writer") == 0)
        return run_writer(dev, buf, count, (uint64_t)start);
    if (strcmp(name, "verify") == 0)
        return run_verify(dev, buf, count);
    if (strcmp(name, "bench") == 0)
        return run_bench(dev, buf, count, depth);
    usage();
}

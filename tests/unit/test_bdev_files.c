/* test_bdev_files.c — real IO on real files through the reactor's io_uring: file bdev
 * creation rules, data written through a raid1 of two file bdevs found at the right offset
 * of both files (read back with plain pread), flush, unmap and write-zeroes reading back as
 * zeros, many IOs in flight, wide scatter lists, a file on tmpfs (read and written on the
 * reactor, not through io_uring), and raid1 riding over a failing base. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bdev_harness.h"
#include "bdev_module.h"
#include "bdev_raid.h"
#include "bdev_uring.h"

TestSuite(bdev_files, .init = harness_setup, .fini = harness_teardown, .timeout = 120);

#define MiB (1024u * 1024u)

static struct bdev *make_file_bdev(const char *name, const char *path, uint32_t bs)
{
	struct bdev *b = NULL;
	int rc = bdev_uring_create(name, path, bs, false, NULL, "uring", &b);
	cr_assert_eq(rc, 0, "uring %s on %s: %d", name, path, rc);
	return b;
}

static void pread_all(const char *path, void *buf, size_t len, off_t off)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(fd >= 0);
	cr_assert_eq(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void pwrite_all(const char *path, const void *buf, size_t len, off_t off)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	cr_assert(fd >= 0);
	cr_assert_eq(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

Test(bdev_files, create_rules)
{
	struct bdev *b = NULL;
	cr_expect_eq(bdev_uring_create("f", "/nonexistent/berth-file", 512, false, NULL, "uring",
				       &b), -ENOENT);
	cr_expect_eq(bdev_uring_create("f", "", 512, false, NULL, "uring", &b), -EINVAL);
	const char *tiny = harness_tmpfile(100);
	cr_expect_eq(bdev_uring_create("f", tiny, 512, false, NULL, "uring", &b), -EINVAL);
	const char *path = harness_tmpfile(MiB + 100);
	cr_expect_eq(bdev_uring_create("f", path, 500, false, NULL, "uring", &b), -EINVAL);
	cr_expect_eq(bdev_uring_create("f", path, 512, false, NULL, "spdk", &b), -EINVAL);
	cr_expect_eq(bdev_uring_create("f", "/tmp", 512, false, NULL, "uring", &b), -EISDIR);
	cr_expect_eq(bdev_uring_create("f", "/tmp", 512, true, NULL, "uring", &b), -EINVAL,
		     "a directory opened read-only");

	b = make_file_bdev("f512", path, 0);
	cr_expect_eq(bdev_block_size(b), 512);
	cr_expect_eq(bdev_num_blocks(b), 2048);
	struct bdev *b4 = make_file_bdev("f4k", path, 4096);
	cr_expect_eq(bdev_num_blocks(b4), 256);
	cr_expect_str_eq(bdev_module(b), "uring");
	cr_expect_eq(bdev_uring_create("f512", path, 512, false, NULL, "uring", &b4), -EEXIST);

	json_t *ds = json_object();
	bdev_dump_driver_specific(b, ds);
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(ds, "uring"),
							   "filename")), path);
	json_decref(ds);
	json_t *cfg = bdev_config_json(b);
	cr_expect_str_eq(json_string_value(json_object_get(cfg, "method")), "bdev_uring_create");
	json_t *p = json_object_get(cfg, "params");
	cr_expect_str_eq(json_string_value(json_object_get(p, "filename")), path);
	cr_expect_eq(json_integer_value(json_object_get(p, "block_size")), 512);
	cr_expect_str_eq(json_string_value(json_object_get(p, "uuid")), bdev_uuid(b));
	json_decref(cfg);
}

Test(bdev_files, aio_spelling_and_readonly)
{
	const char *path = harness_tmpfile(MiB);
	char data[4096];
	harness_pattern(data, sizeof(data), 2);
	pwrite_all(path, data, sizeof(data), 8192);
	struct bdev *b = NULL;
	cr_assert_eq(bdev_uring_create("ro", path, 4096, true, NULL, "aio", &b), 0);
	cr_expect_str_eq(bdev_module(b), "aio");
	cr_expect_not(bdev_io_type_supported(b, BDEV_IO_WRITE));
	cr_expect(bdev_io_type_supported(b, BDEV_IO_READ));
	char back[4096];
	cr_assert_eq(harness_read(b, back, 2, 1), 0);
	cr_expect_arr_eq(back, data, sizeof(data));
	cr_expect_eq(harness_write(b, back, 0, 1), -EINVAL);

	json_t *ds = json_object();
	bdev_dump_driver_specific(b, ds);
	json_t *aio = json_object_get(ds, "aio");
	cr_assert(aio);
	cr_expect_str_eq(json_string_value(json_object_get(aio, "filename")), path);
	cr_expect(json_is_true(json_object_get(aio, "readonly")));
	cr_expect(json_is_true(json_object_get(aio, "block_size_override")));
	json_decref(ds);
	json_t *cfg = bdev_config_json(b);
	cr_expect_str_eq(json_string_value(json_object_get(cfg, "method")), "bdev_aio_create");
	cr_expect(json_is_true(json_object_get(json_object_get(cfg, "params"), "readonly")));
	json_decref(cfg);
	cr_expect_eq(bdev_delete("ro", "uring"), 0, "uring and aio are one module");
}

Test(bdev_files, raid1_over_two_files)
{
	const char *p0 = harness_tmpfile(4 * MiB), *p1 = harness_tmpfile(4 * MiB);
	make_file_bdev("f0", p0, 512);
	make_file_bdev("f1", p1, 512);
	const char *names[] = { "f0", "f1" };
	struct bdev *r = NULL;
	cr_assert_eq(bdev_raid_create("m0", RAID1, 0, names, 2, NULL, &r), 0);

	size_t len = 50 * 512;
	char *w = malloc(len), *f = malloc(len), *back = malloc(len);
	harness_pattern(w, len, 42);
	cr_assert_eq(harness_write(r, w, 100, 50), 0);
	cr_assert_eq(harness_io(r, BDEV_IO_FLUSH, 0, 0, NULL, 0), 0);
	pread_all(p0, f, len, 100 * 512);
	cr_expect_arr_eq(f, w, len, "file 0 holds the data at block 100");
	pread_all(p1, f, len, 100 * 512);
	cr_expect_arr_eq(f, w, len, "file 1 holds the data at block 100");
	for (int i = 0; i < 4; i++) {
		memset(back, 0, len);
		cr_assert_eq(harness_read(r, back, 100, 50), 0);
		cr_assert_arr_eq(back, w, len);
	}
	struct bdev_iostat st;
	bdev_get_iostat(bdev_find("f0"), &st);
	cr_expect_eq(st.num_flush_ops, 1);
	cr_expect_eq(st.num_read_ops, 2);
	free(w);
	free(f);
	free(back);
}

Test(bdev_files, unmap_and_write_zeroes_read_as_zeros)
{
	const char *path = harness_tmpfile(2 * MiB);
	struct bdev *b = make_file_bdev("f0", path, 4096);
	size_t len = 64 * 4096;
	char *w = malloc(len), *back = malloc(len);
	harness_pattern(w, len, 7);
	cr_assert_eq(harness_write(b, w, 0, 64), 0);
	cr_assert_eq(harness_io(b, BDEV_IO_UNMAP, 4, 8, NULL, 0), 0);
	cr_assert_eq(harness_io(b, BDEV_IO_WRITE_ZEROES, 20, 3, NULL, 0), 0);
	cr_assert_eq(harness_read(b, back, 0, 64), 0);
	cr_expect_arr_eq(back, w, 4 * 4096);
	cr_expect(harness_all_zero(back + 4 * 4096, 8 * 4096));
	cr_expect_arr_eq(back + 12 * 4096, w + 12 * 4096, 8 * 4096);
	cr_expect(harness_all_zero(back + 20 * 4096, 3 * 4096));
	cr_expect_arr_eq(back + 23 * 4096, w + 23 * 4096, 41 * 4096);
	pread_all(path, back, len, 0);
	cr_expect(harness_all_zero(back + 4 * 4096, 8 * 4096));
	cr_expect(harness_all_zero(back + 20 * 4096, 3 * 4096));
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_size, 2 * MiB, "the file keeps its size");

	/* a range larger than one zeroing step (1 MiB) */
	size_t big = 500 * 4096;
	char *w2 = malloc(big), *b2 = malloc(big);
	harness_pattern(w2, big, 8);
	cr_assert_eq(harness_write(b, w2, 10, 500), 0);
	cr_assert_eq(harness_io(b, BDEV_IO_WRITE_ZEROES, 11, 498, NULL, 0), 0);
	cr_assert_eq(harness_read(b, b2, 10, 500), 0);
	cr_expect_arr_eq(b2, w2, 4096);
	cr_expect(harness_all_zero(b2 + 4096, 498 * 4096));
	cr_expect_arr_eq(b2 + 499 * 4096, w2 + 499 * 4096, 4096);
	free(w2);
	free(b2);
	free(w);
	free(back);
}

/* tmpfs has no ZERO_RANGE: write-zeroes falls back to punching a hole. */
Test(bdev_files, write_zeroes_fallback_on_tmpfs)
{
	if (access("/dev/shm", W_OK) != 0)
		cr_skip_test("no /dev/shm");
	char path[] = "/dev/shm/berth-bdev-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(ftruncate(fd, MiB), 0);
	close(fd);
	struct bdev *b = make_file_bdev("f0", path, 512);
	char w[8 * 512], back[8 * 512];
	harness_pattern(w, sizeof(w), 3);
	cr_assert_eq(harness_write(b, w, 0, 8), 0);
	for (int i = 0; i < 2; i++) {   /* the second time the bdev knows already */
		cr_assert_eq(harness_io(b, BDEV_IO_WRITE_ZEROES, 2, 4, NULL, 0), 0);
		cr_assert_eq(harness_read(b, back, 0, 8), 0);
		cr_expect_arr_eq(back, w, 2 * 512);
		cr_expect(harness_all_zero(back + 2 * 512, 4 * 512));
		cr_expect_arr_eq(back + 6 * 512, w + 6 * 512, 2 * 512);
		cr_assert_eq(harness_write(b, w, 0, 8), 0);
	}
	bdev_delete("f0", NULL);
	unlink(path);
}

struct many {
	unsigned done, failed;
};

static void many_cb(void *arg, int status)
{
	struct many *m = arg;
	m->done++;
	if (status)
		m->failed++;
}

static bool many_done(void *arg)
{
	return ((struct many *)arg)->done == 2000;
}

static bool many_done900(void *arg)
{
	return ((struct many *)arg)->done == 900;
}

/* More IOs than the ring has entries, all submitted before the reactor runs. */
Test(bdev_files, many_ios_in_flight)
{
	const char *path = harness_tmpfile(8 * MiB);
	struct bdev *b = make_file_bdev("f0", path, 4096);
	size_t len = 2000ul * 4096;
	char *w = malloc(len), *back = malloc(len);
	harness_pattern(w, len, 13);
	struct many m = { 0 };
	for (unsigned i = 0; i < 2000; i++)
		cr_assert_eq(bdev_write(harness_reactor(), b, w + (size_t)i * 4096, i, 1, many_cb, &m),
			     0);
	cr_assert(harness_poll_until(many_done, &m, HARNESS_TIMEOUT_MS));
	cr_expect_eq(m.failed, 0);
	pread_all(path, back, len, 0);
	cr_expect_arr_eq(back, w, len);
	free(w);
	free(back);
}

Test(bdev_files, wide_scatter_list)
{
	const char *path = harness_tmpfile(MiB);
	struct bdev *b = make_file_bdev("f0", path, 512);
	enum { SEGS = BDEV_IO_MAX_IOV };
	size_t len = SEGS * 512;
	char *w = malloc(len), *back = calloc(1, len);
	harness_pattern(w, len, 17);
	struct iovec iov[SEGS];
	/* uneven segments: 100, 924, 100, 924 ... (O_DIRECT refuses them: the buffered
	 * descriptor takes the request again) */
	size_t off = 0;
	for (int i = 0; i < SEGS; i++) {
		iov[i].iov_base = w + off;
		iov[i].iov_len = (i % 2) ? 924 : 100;
		off += iov[i].iov_len;
	}
	cr_assert_eq(off, len);
	cr_assert_eq(harness_io(b, BDEV_IO_WRITE, 10, SEGS, iov, SEGS), 0);
	pread_all(path, back, len, 10 * 512);
	cr_expect_arr_eq(back, w, len);
	for (int i = 0; i < SEGS; i++)
		iov[i].iov_base = back + ((char *)iov[i].iov_base - w);
	memset(back, 0, len);
	cr_assert_eq(harness_io(b, BDEV_IO_READ, 10, SEGS, iov, SEGS), 0);
	cr_expect_arr_eq(back, w, len);
	free(w);
	free(back);
}

/* A file on tmpfs: reads and writes are done on the reactor (io_uring would punt them to a
 * worker); many in flight and an uneven scatter list land where they should. */
Test(bdev_files, tmpfs_file_inline)
{
	if (access("/dev/shm", W_OK) != 0)
		cr_skip_test("no /dev/shm");
	char path[] = "/dev/shm/berth-bdev-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(ftruncate(fd, 4 * MiB), 0);
	close(fd);
	struct bdev *b = make_file_bdev("f0", path, 4096);
	size_t len = 900ul * 4096;
	char *w = malloc(len), *back = calloc(1, len);
	harness_pattern(w, len, 23);
	struct many m = { 0 };
	for (unsigned i = 0; i < 900; i++)
		cr_assert_eq(bdev_write(harness_reactor(), b, w + (size_t)i * 4096, i, 1, many_cb, &m),
			     0);
	cr_assert(harness_poll_until(many_done900, &m, HARNESS_TIMEOUT_MS));
	cr_expect_eq(m.failed, 0);
	pread_all(path, back, len, 0);
	cr_expect_arr_eq(back, w, len);
	struct iovec iov[2] = { { back, 100 }, { back + 100, 2 * 4096 - 100 } };
	memset(back, 0, len);
	cr_assert_eq(harness_io(b, BDEV_IO_READ, 3, 2, iov, 2), 0);
	cr_expect_arr_eq(back, w + 3 * 4096, 2 * 4096);
	bdev_delete("f0", NULL);
	unlink(path);
	free(w);
	free(back);
}

/* Reads from a base whose file shrank fail (EOF); the raid1 reads from the other one. */
Test(bdev_files, raid1_read_retries_on_the_other_base)
{
	const char *p0 = harness_tmpfile(MiB), *p1 = harness_tmpfile(MiB);
	make_file_bdev("f0", p0, 512);
	make_file_bdev("f1", p1, 512);
	const char *names[] = { "f0", "f1" };
	struct bdev *r = NULL;
	cr_assert_eq(bdev_raid_create("m0", RAID1, 0, names, 2, NULL, &r), 0);
	char w[4096], back[4096];
	harness_pattern(w, sizeof(w), 5);
	cr_assert_eq(harness_write(r, w, 8, 8), 0);
	cr_assert_eq(truncate(p0, 0), 0);
	for (int i = 0; i < 6; i++) {
		memset(back, 0, sizeof(back));
		cr_assert_eq(harness_read(r, back, 8, 8), 0);
		cr_assert_arr_eq(back, w, sizeof(w));
	}
	struct bdev_iostat st;
	bdev_get_iostat(bdev_find("f0"), &st);
	cr_expect_gt(st.num_io_errors, 0);
	bdev_get_iostat(r, &st);
	cr_expect_eq(st.num_io_errors, 0);
	cr_expect_eq(st.num_read_ops, 6);
}

static int set_immutable(const char *path, bool on)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int flags = 0;
	int rc = ioctl(fd, FS_IOC_GETFLAGS, &flags);
	if (rc == 0) {
		flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
		rc = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	rc = rc < 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* A base that refuses writes is dropped from the raid1; the IO still succeeds. */
Test(bdev_files, raid1_write_failure_drops_the_base)
{
	const char *p0 = harness_tmpfile(MiB), *p1 = harness_tmpfile(MiB);
	make_file_bdev("f0", p0, 512);
	make_file_bdev("f1", p1, 512);
	const char *names[] = { "f0", "f1" };
	struct bdev *r = NULL;
	cr_assert_eq(bdev_raid_create("m0", RAID1, 0, names, 2, NULL, &r), 0);
	if (set_immutable(p1, true) < 0)
		cr_skip_test("cannot make a file immutable here (needs root on ext4/xfs)");
	char w[512], back[512];
	harness_pattern(w, sizeof(w), 6);
	int rc = harness_write(r, w, 0, 1);
	set_immutable(p1, false);
	cr_assert_eq(rc, 0);
	json_t *info = bdev_raid_info_json(r);
	cr_expect_eq(json_integer_value(json_object_get(info, "num_base_bdevs_operational")), 1);
	cr_expect_str_eq(json_string_value(json_object_get(info, "state")), "online");
	json_decref(info);
	for (int i = 0; i < 4; i++) {   /* every read now comes from f0 */
		cr_assert_eq(harness_read(r, back, 0, 1), 0);
		cr_expect_arr_eq(back, w, sizeof(w));
	}
	json_t *cfg = bdev_config_json(r);
	cr_expect_eq(json_array_size(json_object_get(json_object_get(cfg, "params"),
						     "base_bdevs")), 1);
	json_decref(cfg);
	cr_expect_eq(bdev_delete("f0", NULL), -EBUSY, "the last operational base");
	cr_expect_eq(bdev_delete("f1", NULL), 0, "the failed base can go");
}

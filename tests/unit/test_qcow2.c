/*
 * Unit tests for qcow2 images (devices/block/qcow2*.c) behind image.c:
 * hostile headers first (each crafted from a good image by patching fields),
 * then reads and writes, backing chains, compression, check and repair,
 * lazy refcounts and the dirty bit, threads.
 */
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/block/image.h"
#include "devices/block/qcow2.h"

#define MIB (1ull << 20)
#define CS  65536ull /* the default cluster size */

static char dir[256];

/* ------------------------------------------------------------ helpers ---- */

static int setup(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	snprintf(dir, sizeof(dir), "%s/hutch-test-qcow2-XXXXXX", t && *t ? t : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *path_of(const char *name)
{
	static char p[4][512];
	static unsigned i;

	snprintf(p[i % 4], sizeof(p[0]), "%s/%s", dir, name);
	return p[i++ % 4];
}

static void create(const char *name, uint64_t size, unsigned cbits, const char *backing,
		   const char *fmt)
{
	char err[256] = "";
	int r = qcow2_create(path_of(name), size, cbits, backing, fmt, err, sizeof(err));

	TEST_ASSERT(r == 0, "qcow2_create(%s): %d %s", name, r, err);
}

static void patch(const char *name, uint64_t off, const void *buf, size_t len)
{
	int fd = open(path_of(name), O_WRONLY);

	TEST_ASSERT(fd >= 0, "open %s", name);
	TEST_ASSERT_EQ(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void peek(const char *name, uint64_t off, void *buf, size_t len)
{
	int fd = open(path_of(name), O_RDONLY);

	TEST_ASSERT(fd >= 0, "open %s", name);
	TEST_ASSERT_EQ(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void patch64(const char *name, uint64_t off, uint64_t v)
{
	uint8_t b[8];

	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
	patch(name, off, b, 8);
}

static void patch32(const char *name, uint64_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	patch(name, off, b, 4);
}

static uint64_t peek64(const char *name, uint64_t off)
{
	uint8_t b[8];
	uint64_t v = 0;

	peek(name, off, b, 8);
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* Opens name as qcow2; returns the error and leaves the message in err. */
static int try_open(struct image *img, const char *name, bool ro, char *err, size_t errlen)
{
	err[0] = 0;
	return image_open(img, path_of(name), IMAGE_FORMAT_QCOW2, ro, err, errlen);
}

static void open_ok(struct image *img, const char *name, bool ro)
{
	char err[256];
	int r = try_open(img, name, ro, err, sizeof(err));

	TEST_ASSERT(r == 0, "open %s: %d %s", name, r, err);
}

/* Opening name must fail with r and a message containing what (read-only, so no repair runs). */
static void expect_refused(const char *name, int want, const char *what)
{
	struct image img;
	char err[256];
	int r = try_open(&img, name, true, err, sizeof(err));

	if (r == 0)
		image_close(&img);
	TEST_ASSERT(r == want, "open %s: got %d (%s), want %d (%s)", name, r, err, want, what);
	TEST_ASSERT(strstr(err, what) != NULL, "message '%s' lacks '%s'", err, what);
	TEST_ASSERT(!strchr(err, '\n'), "one line: '%s'", err);
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + seed * 13 + (i >> 9));
}

static void wr(struct image *img, uint64_t off, const void *buf, size_t len)
{
	struct iovec v = { (void *)buf, len };
	int r = image_pwritev(img, &v, 1, off);

	TEST_ASSERT(r == 0, "write %#llx+%zu: %d", (unsigned long long)off, len, r);
}

static void rd(struct image *img, uint64_t off, void *buf, size_t len)
{
	struct iovec v = { buf, len };
	int r = image_preadv(img, &v, 1, off);

	TEST_ASSERT(r == 0, "read %#llx+%zu: %d", (unsigned long long)off, len, r);
}

/* Incompressible bytes (xorshift). */
static void noise(uint8_t *p, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static struct qcow2_check_result check(struct image *img, bool repair)
{
	struct qcow2_check_result res;
	char err[256] = "";
	int r = qcow2_check(img->qcow2, repair, &res, err, sizeof(err));

	TEST_ASSERT(r == 0, "check: %d %s", r, err);
	return res;
}

/* ---------------------------------------------------- hostile headers ---- */

/* A fresh good image (1 MiB, 64 KiB clusters: header, refcount table, block, L1). */
static void good(const char *name)
{
	unlink(path_of(name));
	create(name, MIB, 16, NULL, NULL);
}

static void test_hostile_basic_fields(void **state)
{
	struct image img;
	char err[256];

	(void)state;
	good("h");
	patch32("h", 0, 0x514649fc); /* magic */
	expect_refused("h", -EINVAL, "not a qcow2 image");
	TEST_ASSERT_EQ(image_open(&img, path_of("h"), IMAGE_FORMAT_AUTO, true, err, sizeof(err)),
		       0);
	TEST_ASSERT_EQ(img.format, IMAGE_FORMAT_RAW); /* probed: not qcow2 */
	image_close(&img);
	good("h");
	patch32("h", 4, 4); /* version */
	expect_refused("h", -EINVAL, "not a qcow2 image");
	good("h");
	patch32("h", 20, 8);
	expect_refused("h", -EINVAL, "cluster_bits");
	patch32("h", 20, 22);
	expect_refused("h", -EINVAL, "cluster_bits");
	patch32("h", 20, 0xffffffff);
	expect_refused("h", -EINVAL, "cluster_bits");
	good("h");
	patch32("h", 32, 1); /* crypt_method AES */
	expect_refused("h", -ENOTSUP, "encryption");
	good("h");
	patch32("h", 100, 96); /* header_length */
	expect_refused("h", -EINVAL, "header length");
	patch32("h", 100, 0x20000);
	expect_refused("h", -EINVAL, "header length");
	good("h");
	patch32("h", 96, 7); /* refcount_order */
	expect_refused("h", -EINVAL, "refcount order");
	good("h");
	{
		uint8_t b[60] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
		int fd;

		unlink(path_of("h"));
		fd = open(path_of("h"), O_CREAT | O_WRONLY, 0644);
		TEST_ASSERT_EQ(write(fd, b, sizeof(b)), (ssize_t)sizeof(b));
		close(fd);
		expect_refused("h", -EINVAL, "too short");
	}
}

static void test_hostile_features(void **state)
{
	(void)state;
	good("h");
	patch64("h", 72, 1ull << 20); /* unknown incompatible bit */
	expect_refused("h", -ENOTSUP, "incompatible feature");
	patch64("h", 72, 1ull << 2);
	expect_refused("h", -ENOTSUP, "external data");
	patch64("h", 72, 1ull << 3);
	expect_refused("h", -ENOTSUP, "compression type");
	patch64("h", 72, 1ull << 4);
	expect_refused("h", -ENOTSUP, "extended L2");
	good("h");
	patch("h", 104, "\x01", 1); /* compression type without the bit */
	expect_refused("h", -EINVAL, "compression type");
	good("h");
	/* A feature name table naming the unknown bit: the message uses the name. */
	{
		uint8_t ext[8 + 48] = { 0x68, 0x03, 0xf8, 0x57, 0, 0, 0, 48, 0, 33 };

		memcpy(ext + 10, "frobnication", 12);
		patch("h", 112, ext, sizeof(ext));
		patch64("h", 72, 1ull << 33);
		expect_refused("h", -ENOTSUP, "frobnication");
	}
	good("h");
	{
		/* A header extension whose length runs past the cluster. */
		uint8_t ext[8] = { 0x12, 0x34, 0x56, 0x78, 0xff, 0xff, 0xff, 0xf0 };

		patch("h", 112, ext, sizeof(ext));
		expect_refused("h", -EINVAL, "overruns");
	}
	good("h");
	patch64("h", 72, 1ull << 1); /* corrupt: read-only only */
	{
		struct image img;
		char err[256];

		TEST_ASSERT_EQ(try_open(&img, "h", false, err, sizeof(err)), -EINVAL);
		TEST_ASSERT(strstr(err, "corrupt") != NULL, "%s", err);
		open_ok(&img, "h", true);
		image_close(&img);
	}
}

static void test_hostile_tables(void **state)
{
	(void)state;
	good("h");
	patch64("h", 24, 1ull << 62 | 1ull << 61); /* size beyond the cap */
	expect_refused("h", -EINVAL, "too large");
	good("h");
	patch64("h", 24, 1ull << 40); /* the L1 table (1 entry) too small for 1 TiB */
	expect_refused("h", -EINVAL, "L1 table too small");
	good("h");
	patch32("h", 36, 0x10000000); /* l1_size over the 32 MiB cap */
	expect_refused("h", -EINVAL, "L1 table too large");
	good("h");
	patch32("h", 36, 100000); /* past the end of the file */
	expect_refused("h", -EINVAL, "past end of file");
	good("h");
	patch64("h", 40, 3 * CS + 8); /* L1 offset unaligned */
	expect_refused("h", -EINVAL, "not cluster-aligned");
	good("h");
	patch64("h", 40, CS); /* L1 on the refcount table */
	expect_refused("h", -EINVAL, "overlaps");
	patch64("h", 40, 0); /* L1 on the header */
	expect_refused("h", -EINVAL, "overlaps");
	good("h");
	patch32("h", 56, 0); /* refcount table clusters */
	expect_refused("h", -EINVAL, "refcount table");
	patch32("h", 56, 1000);
	expect_refused("h", -EINVAL, "refcount table too large");
	patch32("h", 56, 100);
	expect_refused("h", -EINVAL, "past end of file");
	good("h");
	patch64("h", 48, CS + 512);
	expect_refused("h", -EINVAL, "not cluster-aligned");
	good("h");
	patch64("h", CS, 1ull << 40); /* refcount table entry 0 past the file */
	expect_refused("h", -EINVAL, "refcount block");
	patch64("h", CS, 2 * CS + 5);
	expect_refused("h", -EINVAL, "refcount block");
	patch64("h", CS, 0); /* onto the header */
	patch64("h", CS + 8, CS);
	expect_refused("h", -EINVAL, "refcount block");
	good("h");
	patch32("h", 60, 0x7fffffff); /* snapshots */
	patch64("h", 64, 4 * CS);
	expect_refused("h", -EINVAL, "snapshot");
	good("h");
	patch32("h", 60, 1);
	patch64("h", 64, 3 * CS); /* the snapshot table on the L1 table */
	expect_refused("h", -EINVAL, "overlaps");
}

static void test_hostile_backing(void **state)
{
	char name[1100];

	(void)state;
	good("h");
	patch64("h", 8, 200); /* backing name of 1024 bytes */
	patch32("h", 16, 1024);
	expect_refused("h", -EINVAL, "backing file name");
	patch64("h", 8, CS - 10); /* past the header cluster */
	patch32("h", 16, 20);
	expect_refused("h", -EINVAL, "backing file name");
	patch64("h", 8, 200);
	patch32("h", 16, 3);
	patch("h", 200, "a\0b", 3);
	expect_refused("h", -EINVAL, "NUL");
	patch("h", 200, "nox", 3);
	expect_refused("h", -ENOENT, "backing file nox");
	/* A backing format we do not read. */
	good("h");
	patch("h", 112, "\xe2\x79\x2a\xca\0\0\0\4vmdk\0\0\0\0", 16);
	patch64("h", 8, 200);
	patch32("h", 16, 1);
	patch("h", 200, "h", 1);
	expect_refused("h", -ENOTSUP, "backing format");
	/* Itself as its own backing file, as qcow2: a loop. */
	patch("h", 120, "qcow2\0\0\0", 8);
	patch32("h", 116, 5);
	expect_refused("h", -ELOOP, "loop");
	/* Too long a name for create. */
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	{
		char err[256];

		TEST_ASSERT_EQ(qcow2_create(path_of("x"), MIB, 16, name, NULL, err, sizeof(err)),
			       -EINVAL);
	}
}

static void test_backing_loop_two(void **state)
{
	(void)state;
	create("a.qcow2", MIB, 16, NULL, NULL);
	create("b.qcow2", 0, 16, "a.qcow2", NULL);
	/* a -> b -> a: give a the backing file b.qcow2 (qcow2). */
	patch("a.qcow2", 112, "\xe2\x79\x2a\xca\0\0\0\5qcow2\0\0\0", 16);
	patch64("a.qcow2", 8, 200);
	patch32("a.qcow2", 16, 7);
	patch("a.qcow2", 200, "b.qcow2", 7);
	expect_refused("a.qcow2", -ELOOP, "loop");
}

static void test_backing_depth(void **state)
{
	char name[32], prev[32];
	struct image img;
	char err[256];
	int r = 0, i;

	(void)state;
	create("d0", MIB, 16, NULL, NULL);
	for (i = 1; i < 80; i++) {
		snprintf(name, sizeof(name), "d%d", i);
		snprintf(prev, sizeof(prev), "d%d", i - 1);
		r = qcow2_create(path_of(name), 0, 16, prev, "qcow2", err, sizeof(err));
		if (r < 0)
			break;
	}
	/* d65 would have 65 images below it (d64 to d0): refused at create. */
	TEST_ASSERT_EQ(r, -ELOOP);
	TEST_ASSERT_EQ(i, QCOW2_MAX_BACKING_DEPTH + 1);
	snprintf(name, sizeof(name), "d%d", i - 1);
	open_ok(&img, name, true);
	image_close(&img);
}

/* Hostile entries found at run time: errors, never crashes. */
static void test_hostile_entries(void **state)
{
	uint8_t buf[4096];
	struct image img;

	(void)state;
	good("h");
	open_ok(&img, "h", false);
	fill(buf, sizeof(buf), 1);
	wr(&img, 0, buf, sizeof(buf)); /* data at cluster 4, then its L2 table at 5 */
	image_close(&img);
	TEST_ASSERT_EQ(peek64("h", 3 * CS), 5 * CS | 1ull << 63);
	TEST_ASSERT_EQ(peek64("h", 5 * CS), 4 * CS | 1ull << 63);
	patch64("h", 5 * CS, 3 * CS | 1ull << 63); /* data onto the L1 table */
	open_ok(&img, "h", true);
	{
		struct iovec v = { buf, sizeof(buf) };

		TEST_ASSERT_EQ(image_preadv(&img, &v, 1, 0), -EIO);
	}
	image_close(&img);
	patch64("h", 5 * CS, 4 * CS | 1ull << 63 | 0x10); /* reserved bit */
	open_ok(&img, "h", true);
	{
		struct iovec v = { buf, sizeof(buf) };

		TEST_ASSERT_EQ(image_preadv(&img, &v, 1, 0), -EIO);
	}
	image_close(&img);
	patch64("h", 5 * CS, 1ull << 62 | 4 * CS); /* compressed garbage */
	open_ok(&img, "h", true);
	{
		struct iovec v = { buf, sizeof(buf) };

		TEST_ASSERT_EQ(image_preadv(&img, &v, 1, 0), -EIO);
	}
	image_close(&img);
	patch64("h", 3 * CS, 5 * CS | 1ull << 63 | 1ull << 60); /* L1 reserved bits */
	open_ok(&img, "h", false);
	{
		struct iovec v = { buf, sizeof(buf) };

		TEST_ASSERT_EQ(image_preadv(&img, &v, 1, 0), -EIO);
		TEST_ASSERT_EQ(image_pwritev(&img, &v, 1, 0), -EIO); /* marked corrupt now */
	}
	image_close(&img);
	{
		char err[256];

		TEST_ASSERT_EQ(try_open(&img, "h", false, err, sizeof(err)), -EINVAL);
		TEST_ASSERT(strstr(err, "corrupt") != NULL, "%s", err);
	}
}

/* ---------------------------------------------------------- functions ---- */

static void test_format_names(void **state)
{
	enum image_format f;

	(void)state;
	TEST_ASSERT_EQ(image_format_parse("qcow2", &f), 0);
	TEST_ASSERT_EQ(f, IMAGE_FORMAT_QCOW2);
	TEST_ASSERT_EQ(image_format_parse("raw", &f), 0);
	TEST_ASSERT_EQ(f, IMAGE_FORMAT_RAW);
	TEST_ASSERT_EQ(image_format_parse("auto", &f), 0);
	TEST_ASSERT_EQ(f, IMAGE_FORMAT_AUTO);
	TEST_ASSERT_EQ(image_format_parse("vmdk", &f), -EINVAL);
	TEST_ASSERT(!strcmp(image_format_name(IMAGE_FORMAT_QCOW2), "qcow2"), "name");
	TEST_ASSERT(qcow2_probe("QFI\xfb\0\0\0\3", 8), "v3");
	TEST_ASSERT(qcow2_probe("QFI\xfb\0\0\0\2", 8), "v2");
	TEST_ASSERT(!qcow2_probe("QFI\xfb\0\0\0\4", 8), "v4");
	TEST_ASSERT(!qcow2_probe("QFI\xfb", 4), "short");
}

static void test_read_write(void **state)
{
	static uint8_t a[3 * CS], b[3 * CS];
	struct qcow2_info info;
	struct image img;
	uint64_t pnum;

	(void)state;
	create("rw", 10 * MIB, 16, NULL, NULL);
	open_ok(&img, "rw", false);
	TEST_ASSERT_EQ(img.format, IMAGE_FORMAT_QCOW2);
	TEST_ASSERT(img.probed == false, "format given");
	TEST_ASSERT_EQ(img.size, 10 * MIB);
	qcow2_get_info(img.qcow2, &info);
	TEST_ASSERT_EQ(info.version, 3);
	TEST_ASSERT_EQ(info.refcount_bits, 16);
	TEST_ASSERT_EQ(info.cluster_bits, 16);
	rd(&img, 0, a, sizeof(a));
	TEST_ASSERT(all_zero(a, sizeof(a)), "new image reads zeroes");
	TEST_ASSERT_EQ(image_block_status(&img, 0, 10 * MIB, &pnum), 0);
	TEST_ASSERT_EQ(pnum, 10 * MIB);
	fill(a, sizeof(a), 3);
	wr(&img, 1000, a, sizeof(a)); /* partial first and last clusters */
	rd(&img, 1000, b, sizeof(b));
	TEST_ASSERT(!memcmp(a, b, sizeof(a)), "read back");
	TEST_ASSERT_EQ(image_block_status(&img, 0, 10 * MIB, &pnum), 1);
	TEST_ASSERT_EQ(pnum, 4 * CS);
	TEST_ASSERT_EQ(image_block_status(&img, 4 * CS, MIB, &pnum), 0);
	TEST_ASSERT_EQ(pnum, MIB);
	{
		struct iovec v = { a, 16 };

		TEST_ASSERT_EQ(image_pwritev(&img, &v, 1, 10 * MIB - 8), -EINVAL);
		TEST_ASSERT_EQ(image_preadv(&img, &v, 1, UINT64_MAX - 4), -EINVAL);
	}
	TEST_ASSERT_EQ(image_flush(&img), 0);
	image_close(&img);
	/* Reopened read-only: the same bytes, and writes refused. */
	open_ok(&img, "rw", true);
	memset(b, 0, sizeof(b));
	rd(&img, 1000, b, sizeof(b));
	TEST_ASSERT(!memcmp(a, b, sizeof(a)), "read back after reopen");
	{
		struct iovec v = { a, 16 };

		TEST_ASSERT_EQ(image_pwritev(&img, &v, 1, 0), -EROFS);
		TEST_ASSERT_EQ(image_discard(&img, 0, CS), -EROFS);
	}
	TEST_ASSERT_EQ(check(&img, false).corruptions, 0);
	TEST_ASSERT_EQ(check(&img, false).leaks, 0);
	image_close(&img);
}

static void test_discard_and_zeroes(void **state)
{
	static uint8_t a[4 * CS], b[4 * CS];
	struct qcow2_check_result res;
	struct image img;

	(void)state;
	create("dz", MIB, 16, NULL, NULL);
	open_ok(&img, "dz", false);
	fill(a, sizeof(a), 5);
	wr(&img, 0, a, sizeof(a));
	TEST_ASSERT_EQ(image_discard(&img, CS, CS), 0);
	TEST_ASSERT_EQ(image_write_zeroes(&img, 2 * CS + 100, CS), 0); /* partial clusters */
	memset(a + CS, 0, CS);
	memset(a + 2 * CS + 100, 0, CS);
	rd(&img, 0, b, sizeof(b));
	TEST_ASSERT(!memcmp(a, b, sizeof(a)), "discarded and zeroed");
	TEST_ASSERT_EQ(image_write_zeroes(&img, 0, MIB), 0);
	rd(&img, 0, b, sizeof(b));
	TEST_ASSERT(all_zero(b, sizeof(b)), "all zero");
	res = check(&img, false);
	TEST_ASSERT_EQ(res.corruptions, 0);
	TEST_ASSERT_EQ(res.leaks, 0);
	TEST_ASSERT_EQ(res.allocated_clusters, 0);
	image_close(&img);
}

/* raw <- qcow2 <- qcow2 <- qcow2, the top one in a subdirectory naming its backing relatively. */
static void test_backing_chain(void **state)
{
	static uint8_t base[2 * MIB], a[CS + 300], b[2 * MIB];
	struct qcow2_info info;
	struct image img;
	uint64_t pnum;
	int fd;

	(void)state;
	fill(base, sizeof(base), 9);
	fd = open(path_of("base.raw"), O_CREAT | O_WRONLY, 0644);
	TEST_ASSERT_EQ(write(fd, base, sizeof(base)), (ssize_t)sizeof(base));
	close(fd);
	create("l1.qcow2", 0, 16, "base.raw", NULL); /* format detected: raw */
	create("l2.qcow2", 3 * MIB, 12, "l1.qcow2", "qcow2");
	TEST_ASSERT_EQ(mkdir(path_of("sub"), 0755), 0);
	create("sub/l3.qcow2", 0, 16, "../l2.qcow2", NULL);

	open_ok(&img, "l1.qcow2", false);
	qcow2_get_info(img.qcow2, &info);
	TEST_ASSERT(!strcmp(info.backing_format, "raw"), "%s", info.backing_format);
	TEST_ASSERT_EQ(info.size, 2 * MIB);
	fill(a, sizeof(a), 1);
	wr(&img, 5000, a, sizeof(a));
	memcpy(base + 5000, a, sizeof(a));
	image_close(&img);

	open_ok(&img, "l2.qcow2", false);
	fill(a, sizeof(a), 2);
	wr(&img, 300000, a, 1000); /* copy-on-write from l1 */
	memcpy(base + 300000, a, 1000);
	TEST_ASSERT_EQ(image_write_zeroes(&img, MIB, CS), 0); /* the zero flag over backing */
	memset(base + MIB, 0, CS);
	image_close(&img);

	open_ok(&img, "sub/l3.qcow2", false);
	qcow2_get_info(img.qcow2, &info);
	TEST_ASSERT(!strcmp(info.backing_file, "../l2.qcow2"), "%s", info.backing_file);
	TEST_ASSERT(!strcmp(info.backing_format, "qcow2"), "%s", info.backing_format);
	TEST_ASSERT_EQ(img.size, 3 * MIB);
	TEST_ASSERT_EQ(image_block_status(&img, 0, 3 * MIB, &pnum), 0); /* all in the backing */
	TEST_ASSERT_EQ(pnum, 3 * MIB);
	fill(a, sizeof(a), 3);
	wr(&img, 2 * MIB - 100, a, 200); /* half over the backing file's end */
	rd(&img, 0, b, sizeof(b));
	memcpy(base + 2 * MIB - 100, a, 100);
	TEST_ASSERT(!memcmp(base, b, sizeof(b)), "chain reads");
	rd(&img, 2 * MIB, b, MIB);
	TEST_ASSERT(!memcmp(b, a + 100, 100), "past the shorter backing file");
	TEST_ASSERT(all_zero(b + 100, MIB - 100), "zeroes past it");
	TEST_ASSERT_EQ(image_discard(&img, 0, 3 * MIB), 0); /* v3 with backing: zero flag */
	rd(&img, 0, b, sizeof(b));
	TEST_ASSERT(all_zero(b, sizeof(b)), "discard hides the backing file");
	TEST_ASSERT_EQ(check(&img, false).leaks, 0);
	image_close(&img);
}

static void test_compressed(void **state)
{
	static uint8_t a[CS], r[CS];
	struct qcow2_check_result res;
	struct image img;
	uint64_t pnum;

	(void)state;
	create("c", MIB, 16, NULL, NULL);
	open_ok(&img, "c", false);
	for (unsigned i = 0; i < 8; i++) {
		memset(a, 0, sizeof(a));
		snprintf((char *)a + i * 100, 100, "cluster %u says hello", i);
		if (i == 7)
			noise(a, sizeof(a), 7); /* incompressible: written normally */
		TEST_ASSERT_EQ(qcow2_write_compressed(img.qcow2, i * CS, a), 0);
	}
	TEST_ASSERT_EQ(qcow2_write_compressed(img.qcow2, 0, a), -EEXIST);
	TEST_ASSERT_EQ(qcow2_write_compressed(img.qcow2, 100, a), -EINVAL);
	image_close(&img);
	open_ok(&img, "c", false);
	res = check(&img, false);
	TEST_ASSERT_EQ(res.compressed_clusters, 7);
	TEST_ASSERT_EQ(res.corruptions + res.leaks, 0);
	for (unsigned i = 0; i < 8; i++) {
		memset(a, 0, sizeof(a));
		snprintf((char *)a + i * 100, 100, "cluster %u says hello", i);
		if (i == 7)
			noise(a, sizeof(a), 7);
		rd(&img, i * CS, r, CS);
		TEST_ASSERT(!memcmp(a, r, CS), "cluster %u", i);
	}
	TEST_ASSERT_EQ(image_block_status(&img, 0, MIB, &pnum), 1);
	TEST_ASSERT_EQ(pnum, 8 * CS);
	/* Rewriting part of a compressed cluster: decompressed, merged, written anew. */
	wr(&img, 3 * CS + 10, "xyz", 3);
	rd(&img, 3 * CS, r, CS);
	TEST_ASSERT(!memcmp(r + 10, "xyz", 3) && !memcmp(r + 300, "cluster 3", 9), "merged");
	TEST_ASSERT_EQ(image_discard(&img, 0, 2 * CS), 0);
	res = check(&img, false);
	TEST_ASSERT_EQ(res.compressed_clusters, 4);
	TEST_ASSERT_EQ(res.corruptions + res.leaks, 0);
	image_close(&img);
}

/* A leak (a cluster nothing references) is found, then repaired; a missing refcount is not. */
static void test_check_repair(void **state)
{
	uint8_t buf[512];
	struct qcow2_check_result res;
	struct image img;

	(void)state;
	create("k", MIB, 16, NULL, NULL);
	open_ok(&img, "k", false);
	fill(buf, sizeof(buf), 1);
	wr(&img, 0, buf, sizeof(buf));	    /* data at cluster 4, L2 at 5 */
	wr(&img, 2 * CS, buf, sizeof(buf)); /* data at 6 */
	image_close(&img);
	patch64("k", 5 * CS + 16, 0); /* forget cluster 6: leaked */
	open_ok(&img, "k", true);
	res = check(&img, false);
	TEST_ASSERT_EQ(res.leaks, 1);
	TEST_ASSERT_EQ(res.corruptions, 0);
	TEST_ASSERT_EQ(res.allocated_clusters, 1);
	{
		char err[256];

		TEST_ASSERT_EQ(qcow2_check(img.qcow2, true, &res, err, sizeof(err)), -EROFS);
	}
	image_close(&img);
	open_ok(&img, "k", false);
	res = check(&img, true);
	TEST_ASSERT_EQ(res.leaks, 1);
	TEST_ASSERT_EQ(res.leaks_fixed, 1);
	res = check(&img, false);
	TEST_ASSERT_EQ(res.leaks, 0);
	image_close(&img);
	/* A used cluster with refcount 0 (16-bit refcounts in block at cluster 2): corruption. */
	patch("k", 2 * CS + 4 * 2, "\0\0", 2);
	open_ok(&img, "k", false);
	res = check(&img, true);
	TEST_ASSERT_EQ(res.corruptions, 2); /* the refcount and the COPIED flag */
	TEST_ASSERT_EQ(res.leaks_fixed, 0);
	image_close(&img);
}

/*
 * Entries without the COPIED flag (as other tools may leave them): a cluster
 * with refcount 1 is written in place and gets the flag; a shared one is
 * refused as corruption, for the data cluster and for an L2 table that
 * would have to change.
 */
static void test_copied_flag(void **state)
{
	static const uint64_t copied = 1ull << 63;
	uint8_t buf[512], back[512];
	struct iovec v = { buf, sizeof(buf) };
	struct image img;
	struct stat st;
	uint64_t l1;
	off_t size;

	(void)state;
	create("cp", MIB, 16, NULL, NULL);
	open_ok(&img, "cp", false);
	fill(buf, sizeof(buf), 1);
	wr(&img, 0, buf, sizeof(buf)); /* data at cluster 4, L2 at 5 */
	image_close(&img);
	l1 = peek64("cp", 40); /* l1_table_offset */
	TEST_ASSERT_EQ(peek64("cp", l1), 5 * CS | copied);
	TEST_ASSERT_EQ(peek64("cp", 5 * CS), 4 * CS | copied);

	/* Refcount 1: written in place, the flags set again. */
	patch64("cp", l1, 5 * CS);
	patch64("cp", 5 * CS, 4 * CS);
	TEST_ASSERT(stat(path_of("cp"), &st) == 0, "stat");
	size = st.st_size;
	open_ok(&img, "cp", false);
	fill(buf, sizeof(buf), 2);
	wr(&img, 0, buf, sizeof(buf));
	rd(&img, 0, back, sizeof(back));
	TEST_ASSERT(memcmp(buf, back, sizeof(buf)) == 0, "data written in place");
	image_close(&img);
	TEST_ASSERT_EQ(peek64("cp", l1), 5 * CS | copied);
	TEST_ASSERT_EQ(peek64("cp", 5 * CS), 4 * CS | copied);
	TEST_ASSERT(stat(path_of("cp"), &st) == 0 && st.st_size == size, "nothing allocated");

	/* A shared data cluster (refcount 2, 16-bit entries in the block at cluster 2). */
	patch64("cp", 5 * CS, 4 * CS);
	patch("cp", 2 * CS + 4 * 2, "\0\2", 2);
	open_ok(&img, "cp", false);
	TEST_ASSERT_EQ(image_pwritev(&img, &v, 1, 0), -EIO);
	image_close(&img);

	TEST_ASSERT_EQ(peek64("cp", 72), 2); /* incompatible features: corrupt */

	/* A shared L2 table. */
	patch64("cp", 72, 0);
	patch("cp", 2 * CS + 4 * 2, "\0\1", 2);
	patch64("cp", 5 * CS, 4 * CS | copied);
	patch64("cp", l1, 5 * CS);
	patch("cp", 2 * CS + 5 * 2, "\0\2", 2);
	open_ok(&img, "cp", false);
	wr(&img, 0, buf, sizeof(buf)); /* its own data cluster: no L2 change, fine */
	TEST_ASSERT_EQ(image_pwritev(&img, &v, 1, CS), -EIO); /* a new cluster in the L2 table */
	image_close(&img);
}

/* Lazy refcounts: the dirty bit while writing, cleared on close; a dirty image is rebuilt. */
static void test_lazy_refcounts(void **state)
{
	uint8_t buf[4096];
	struct qcow2_check_result res;
	struct qcow2_info info;
	struct image img;

	(void)state;
	create("lz", MIB, 16, NULL, NULL);
	patch64("lz", 80, 1); /* compatible: lazy refcounts */
	open_ok(&img, "lz", false);
	qcow2_get_info(img.qcow2, &info);
	TEST_ASSERT(info.lazy_refcounts && !info.dirty, "lazy, clean");
	TEST_ASSERT_EQ(peek64("lz", 72), 0);
	fill(buf, sizeof(buf), 2);
	wr(&img, 0, buf, sizeof(buf));
	TEST_ASSERT_EQ(peek64("lz", 72), 1); /* dirty on disk */
	TEST_ASSERT_EQ(image_flush(&img), 0);
	image_close(&img);
	TEST_ASSERT_EQ(peek64("lz", 72), 0); /* clean after close */
	/* A crash with refcounts behind: the data cluster's refcount never written. */
	patch64("lz", 72, 1);
	patch("lz", 2 * CS + 4 * 2, "\0\0", 2);
	open_ok(&img, "lz", true);
	qcow2_get_info(img.qcow2, &info);
	TEST_ASSERT(info.dirty, "dirty");
	res = check(&img, false);
	TEST_ASSERT(res.corruptions > 0, "refcounts behind");
	image_close(&img);
	open_ok(&img, "lz", false); /* rebuilt here */
	qcow2_get_info(img.qcow2, &info);
	TEST_ASSERT(!info.dirty, "clean after the rebuild");
	res = check(&img, false);
	TEST_ASSERT_EQ(res.corruptions + res.leaks, 0);
	memset(buf, 0, sizeof(buf));
	rd(&img, 0, buf, 16);
	TEST_ASSERT_EQ(buf[1], 7 + 26);
	image_close(&img);
}

/*
 * A dirty lazy-refcounts image that grew past its refcount blocks (the
 * blocks for the data's ranges never written): the rebuild at open places
 * new blocks on clusters nothing uses, so no data is overwritten, then and
 * by later allocations.
 */
static void test_lazy_rebuild_new_blocks(void **state)
{
	enum { N = 512 * 1024 }; /* 1024 clusters of 512 bytes: 4 blocks of 256 */
	uint8_t *buf = malloc(N), *back = malloc(N);
	struct qcow2_check_result res;
	struct image img;
	uint64_t rt, zeroed = 0;

	(void)state;
	TEST_ASSERT(buf && back, "malloc");
	create("lb", MIB, 9, NULL, NULL);
	open_ok(&img, "lb", false);
	noise(buf, N, 7);
	wr(&img, 0, buf, N);
	image_close(&img);
	rt = peek64("lb", 48); /* refcount_table_offset */
	for (unsigned t = 1; t < 8; t++)
		if (peek64("lb", rt + t * 8)) {
			patch64("lb", rt + t * 8, 0);
			zeroed++;
		}
	TEST_ASSERT(zeroed >= 3, "blocks forgotten: %llu", (unsigned long long)zeroed);
	patch64("lb", 80, 1); /* compatible: lazy refcounts */
	patch64("lb", 72, 1); /* incompatible: dirty */

	open_ok(&img, "lb", false); /* rebuilt here */
	res = check(&img, false);
	TEST_ASSERT_EQ(res.corruptions, 0);
	rd(&img, 0, back, N);
	TEST_ASSERT(memcmp(buf, back, N) == 0, "data intact after the rebuild");
	/* New allocations land on free clusters only. */
	noise(buf + N / 2, N / 2, 8);
	wr(&img, N, buf + N / 2, N / 2);
	rd(&img, 0, back, N / 2);
	TEST_ASSERT(memcmp(buf, back, N / 2) == 0, "old data intact after new writes");
	rd(&img, N, back, N / 2);
	TEST_ASSERT(memcmp(buf + N / 2, back, N / 2) == 0, "new data");
	image_close(&img);
	open_ok(&img, "lb", true);
	res = check(&img, false);
	TEST_ASSERT_EQ(res.corruptions, 0);
	image_close(&img);
	free(buf);
	free(back);
}

/* A v2 image (the version field patched: the rest of a fresh image is valid v2 too). */
static void test_version2(void **state)
{
	static uint8_t a[2 * CS], b[2 * CS];
	struct qcow2_check_result res;
	struct image img;

	(void)state;
	create("v2", MIB, 16, NULL, NULL);
	patch32("v2", 4, 2);
	open_ok(&img, "v2", false);
	fill(a, sizeof(a), 4);
	wr(&img, CS, a, sizeof(a));
	TEST_ASSERT_EQ(image_write_zeroes(&img, CS, CS), 0); /* v2: deallocated */
	memset(a, 0, CS);
	rd(&img, CS, b, sizeof(b));
	TEST_ASSERT(!memcmp(a, b, sizeof(a)), "v2 zeroes");
	res = check(&img, false);
	TEST_ASSERT_EQ(res.corruptions + res.leaks, 0);
	TEST_ASSERT_EQ(res.allocated_clusters, 1);
	image_close(&img);
}

static void test_resize(void **state)
{
	uint8_t buf[512];
	struct image img;

	(void)state;
	create("rs", MIB, 9, NULL, NULL);
	open_ok(&img, "rs", false);
	TEST_ASSERT_EQ(qcow2_resize(img.qcow2, 512 * 1024), -ENOTSUP);
	TEST_ASSERT_EQ(qcow2_resize(img.qcow2, 100 * MIB), 0);
	image_close(&img);
	open_ok(&img, "rs", false);
	TEST_ASSERT_EQ(img.size, 100 * MIB);
	fill(buf, sizeof(buf), 8);
	wr(&img, 99 * MIB, buf, sizeof(buf));
	TEST_ASSERT_EQ(check(&img, false).corruptions + check(&img, false).leaks, 0);
	image_close(&img);
}

struct thread_arg {
	struct image *img;
	unsigned id;
	int failures;
};

static void *writer(void *p)
{
	struct thread_arg *t = p;
	uint8_t buf[5000], back[5000];

	for (unsigned i = 0; i < 64; i++) {
		uint64_t off = (uint64_t)(i * 4 + t->id) * 40000;
		struct iovec v = { buf, sizeof(buf) }, w = { back, sizeof(back) };

		fill(buf, sizeof(buf), t->id * 100 + i);
		if (image_pwritev(t->img, &v, 1, off) || image_preadv(t->img, &w, 1, off) ||
		    memcmp(buf, back, sizeof(buf)))
			t->failures++;
		if (i % 16 == 15 && image_flush(t->img))
			t->failures++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct thread_arg args[4];
	pthread_t th[4];
	struct image img;

	(void)state;
	create("t", 16 * MIB, 12, NULL, NULL); /* small clusters: many L2 tables, evictions */
	open_ok(&img, "t", false);
	for (unsigned i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){ &img, i, 0 };
		TEST_ASSERT_EQ(pthread_create(&th[i], NULL, writer, &args[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		TEST_ASSERT_EQ(args[i].failures, 0);
	}
	TEST_ASSERT_EQ(check(&img, false).corruptions + check(&img, false).leaks, 0);
	image_close(&img);
}

static void test_raw_image(void **state)
{
	uint8_t a[4096], b[4096];
	struct image img;
	char err[256];
	uint64_t pnum;
	int fd;

	(void)state;
	fd = open(path_of("r.raw"), O_CREAT | O_WRONLY, 0644);
	TEST_ASSERT_EQ(ftruncate(fd, MIB), 0);
	close(fd);
	TEST_ASSERT_EQ(
		image_open(&img, path_of("r.raw"), IMAGE_FORMAT_AUTO, false, err, sizeof(err)), 0);
	TEST_ASSERT_EQ(img.format, IMAGE_FORMAT_RAW);
	TEST_ASSERT(img.probed, "probed");
	fill(a, sizeof(a), 1);
	wr(&img, 8192, a, sizeof(a));
	rd(&img, 8192, b, sizeof(b));
	TEST_ASSERT(!memcmp(a, b, sizeof(a)), "raw read back");
	TEST_ASSERT_EQ(image_write_zeroes(&img, 8192, 100), 0);
	rd(&img, 8192, b, sizeof(b));
	TEST_ASSERT(all_zero(b, 100) && !memcmp(a + 100, b + 100, 100), "raw zeroes");
	TEST_ASSERT_EQ(image_discard(&img, 0, MIB), 0);
	TEST_ASSERT(image_block_status(&img, 0, MIB, &pnum) >= 0 && pnum > 0, "status");
	TEST_ASSERT_EQ(image_flush(&img), 0);
	image_close(&img);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_hostile_basic_fields),
		T(test_hostile_features),
		T(test_hostile_tables),
		T(test_hostile_backing),
		T(test_backing_loop_two),
		T(test_backing_depth),
		T(test_hostile_entries),
		T(test_format_names),
		T(test_read_write),
		T(test_discard_and_zeroes),
		T(test_backing_chain),
		T(test_compressed),
		T(test_check_repair),
		T(test_copied_flag),
		T(test_lazy_refcounts),
		T(test_lazy_rebuild_new_blocks),
		T(test_version2),
		T(test_resize),
		T(test_threads),
		T(test_raw_image),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

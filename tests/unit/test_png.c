/*
 * Unit tests for the PNG writer: refused arguments and failing writes first
 * (nothing half-written may remain), then images checked by an independent
 * decoder, tests/unit/png_decode.py (HUTCH_PNG_DECODE run by HUTCH_PYTHON3),
 * and by pngcheck (HUTCH_PNGCHECK) when meson found it.
 */
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "devices/display/png.h"

static char tmpdir[] = "/tmp/hutch-test-png-XXXXXX";

/* Number of entries in dir other than . and .., and the first one's name. */
static int count_entries(const char *dir, char *first, size_t firstlen)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	int n = 0;

	TEST_ASSERT(dp, "opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(dp))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!n && first)
			snprintf(first, firstlen, "%s", e->d_name);
		n++;
	}
	closedir(dp);
	return n;
}

static void empty_dir(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	char path[512];

	if (!dp)
		return;
	while ((e = readdir(dp))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (unlink(path) < 0)
			rmdir(path);
	}
	closedir(dp);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	empty_dir(tmpdir);
	return rmdir(tmpdir);
}

/* The RGB bytes an image must decode to. */
static void write_rgb(const char *path, const uint32_t *pixels, uint32_t w, uint32_t h,
		      size_t stride)
{
	FILE *f = fopen(path, "wb");

	TEST_ASSERT(f, "%s: %s", path, strerror(errno));
	for (uint32_t y = 0; y < h; y++) {
		for (uint32_t x = 0; x < w; x++) {
			uint32_t p = pixels[(size_t)y * stride + x];
			uint8_t rgb[3] = { (uint8_t)(p >> 16), (uint8_t)(p >> 8), (uint8_t)p };

			TEST_ASSERT_EQ(fwrite(rgb, 1, 3, f), 3);
		}
	}
	TEST_ASSERT_EQ(fclose(f), 0);
}

static int run(const char *cmd)
{
	int status = system(cmd);

	TEST_ASSERT(status != -1, "system(%s): %s", cmd, strerror(errno));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * Writes the image, then has it decoded independently and compared, and
 * checked by pngcheck; also checks that only the PNG is left in the directory.
 */
static void write_and_check(const char *name, const uint32_t *pixels, uint32_t w, uint32_t h,
			    size_t stride)
{
	const char *python = getenv("HUTCH_PYTHON3"), *script = getenv("HUTCH_PNG_DECODE");
	const char *pngcheck = getenv("HUTCH_PNGCHECK");
	char png[256], rgb[256], cmd[1024], err[256] = "";
	int ret;

	snprintf(png, sizeof(png), "%s/%s.png", tmpdir, name);
	snprintf(rgb, sizeof(rgb), "%s/%s.rgb", tmpdir, name);
	ret = png_write(png, pixels, w, h, stride, err, sizeof(err));
	TEST_ASSERT(ret == 0, "png_write %s: %d '%s'", name, ret, err);
	TEST_ASSERT_EQ(count_entries(tmpdir, NULL, 0), 1);

	if (python && script) {
		write_rgb(rgb, pixels, w, h, stride);
		snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s' '%s' %u %u", python, script, png, rgb, w,
			 h);
		ret = run(cmd);
		TEST_ASSERT(ret == 0, "%s: png_decode.py disagrees (exit %d)", name, ret);
		unlink(rgb);
	} else {
		print_message("HUTCH_PYTHON3/HUTCH_PNG_DECODE unset: %s not decoded\n", name);
	}
	if (pngcheck) {
		snprintf(cmd, sizeof(cmd), "'%s' -q '%s'", pngcheck, png);
		ret = run(cmd);
		TEST_ASSERT(ret == 0, "%s: pngcheck rejects it (exit %d)", name, ret);
	}
	unlink(png);
}

static uint32_t *random_pixels(size_t n, uint64_t seed)
{
	uint32_t *p = malloc(n * sizeof(*p));

	TEST_ASSERT(p, "malloc");
	for (size_t i = 0; i < n; i++)
		p[i] = (uint32_t)test_rand(&seed);
	return p;
}

/* --- refused arguments and failing writes --- */

static void expect_failure(const char *path, uint32_t w, uint32_t h, size_t stride,
			   const char *reason)
{
	static const uint32_t pixels[4];
	char err[256] = "";
	int ret = png_write(path, pixels, w, h, stride, err, sizeof(err));

	TEST_ASSERT(ret == -1, "%ux%u stride %zu: %d", w, h, stride, ret);
	TEST_ASSERT(!strncmp(err, path, strlen(path)) && strstr(err, reason),
		    "'%s' should name %s and say '%s'", err, path, reason);
	TEST_ASSERT(!strchr(err, '\n'), "'%s' is one line", err);
	TEST_ASSERT(access(path, F_OK) < 0, "%s was created", path);
}

static void test_bad_arguments(void **state)
{
	char path[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/bad.png", tmpdir);
	expect_failure(path, 0, 1, 1, "0x1");
	expect_failure(path, 1, 0, 1, "1x0");
	expect_failure(path, 0, 0, 0, "0x0");
	expect_failure(path, 0x80000000u, 1, 0x80000000u, "too large");
	expect_failure(path, 1, UINT32_MAX, 1, "too large");
	expect_failure(path, 2, 2, 1, "stride");
	TEST_ASSERT_EQ(count_entries(tmpdir, NULL, 0), 0);
}

static void test_missing_directory(void **state)
{
	char path[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/no/such/dir/x.png", tmpdir);
	expect_failure(path, 1, 1, 1, strerror(ENOENT));
	TEST_ASSERT_EQ(count_entries(tmpdir, NULL, 0), 0);
}

/* Runs in a child that cannot write to dir: as root, by dropping to nobody. */
static int unwritable_child(const char *dir)
{
	static const uint32_t pixels[1];
	char path[512], err[600] = "";

	if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
		return 77; /* cannot drop privileges here: skipped */
	snprintf(path, sizeof(path), "%s/x.png", dir);
	if (png_write(path, pixels, 1, 1, 1, err, sizeof(err)) != -1)
		return 1;
	if (strncmp(err, path, strlen(path)) || !strstr(err, strerror(EACCES))) {
		fprintf(stderr, "unexpected error '%s'\n", err);
		return 2;
	}
	return 0;
}

static void test_unwritable_directory(void **state)
{
	char dir[256];
	int status;
	pid_t pid;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/ro", tmpdir);
	TEST_ASSERT_EQ(mkdir(dir, 0755), 0);
	TEST_ASSERT_EQ(chmod(tmpdir, 0755), 0); /* mkdtemp's 0700 would hide ro from nobody */
	TEST_ASSERT_EQ(chmod(dir, 0555), 0);
	fflush(NULL);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(unwritable_child(dir));
	TEST_ASSERT_EQ(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		rmdir(dir);
		chmod(tmpdir, 0700);
		skip();
	}
	TEST_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
	TEST_ASSERT_EQ(count_entries(dir, NULL, 0), 0);
	TEST_ASSERT_EQ(rmdir(dir), 0);
	TEST_ASSERT_EQ(chmod(tmpdir, 0700), 0);
}

/*
 * A write that fails half way (the file size limit stands in for a full
 * disk): -1, no temporary file, and an existing PNG at path is untouched.
 */
static void test_write_fails_midway(void **state)
{
	const uint32_t w = 512, h = 512;
	uint32_t *pixels = random_pixels((size_t)w * h, 42);
	char path[256], err[256] = "", name[256] = "", buf[8];
	struct rlimit old, small;
	FILE *f;
	int ret;

	(void)state;
	snprintf(path, sizeof(path), "%s/keep.png", tmpdir);
	f = fopen(path, "w");
	TEST_ASSERT(f && fputs("old", f) >= 0 && fclose(f) == 0, "create %s", path);

	TEST_ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 100000; /* the image is ~780 KB of noise */
	signal(SIGXFSZ, SIG_IGN);
	TEST_ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
	ret = png_write(path, pixels, w, h, w, err, sizeof(err));
	TEST_ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);

	TEST_ASSERT(ret == -1, "png_write past the size limit: %d", ret);
	TEST_ASSERT(!strncmp(err, path, strlen(path)) && strstr(err, strerror(EFBIG)), "'%s'", err);
	TEST_ASSERT_EQ(count_entries(tmpdir, name, sizeof(name)), 1);
	TEST_ASSERT(!strcmp(name, "keep.png"), "left behind: %s", name);
	f = fopen(path, "r");
	TEST_ASSERT(f && fgets(buf, sizeof(buf), f) && !strcmp(buf, "old"), "old file changed");
	fclose(f);
	unlink(path);
	free(pixels);
}

/* --- images the decoder must read back --- */

static void test_one_pixel(void **state)
{
	uint32_t p = 0x00123456;

	(void)state;
	write_and_check("one", &p, 1, 1, 1);
	p = 0xffabcdef; /* the top byte is not part of the colour */
	write_and_check("one-top", &p, 1, 1, 1);
}

static void test_odd_sizes(void **state)
{
	static const uint32_t sizes[][2] = { { 1, 7 },	 { 7, 1 },   { 2, 3 },	{ 3, 5 },
					     { 13, 11 }, { 33, 17 }, { 255, 3 } };
	uint64_t seed = 7;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
		uint32_t w = sizes[i][0], h = sizes[i][1];
		size_t stride = w + (i % 3) * 5; /* padding the writer must skip */
		uint32_t *pixels = random_pixels(stride * h, test_rand(&seed));
		char name[32];

		snprintf(name, sizeof(name), "odd-%ux%u", w, h);
		write_and_check(name, pixels, w, h, stride);
		free(pixels);
	}
}

static void test_gradient(void **state)
{
	const uint32_t w = 1280, h = 800;
	uint32_t *pixels = malloc((size_t)w * h * sizeof(*pixels));

	(void)state;
	TEST_ASSERT(pixels, "malloc");
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			pixels[(size_t)y * w + x] = (x * 255 / (w - 1)) << 16 |
						    (y * 255 / (h - 1)) << 8 | ((x + y) & 0xff);
	write_and_check("gradient", pixels, w, h, w);
	free(pixels);
}

/* Every byte value in every channel and position, and rows that favour each filter. */
static void test_every_byte(void **state)
{
	const uint32_t w = 256, h = 16;
	uint32_t *pixels = malloc((size_t)w * h * sizeof(*pixels));

	(void)state;
	TEST_ASSERT(pixels, "malloc");
	for (uint32_t y = 0; y < h; y++) {
		for (uint32_t x = 0; x < w; x++) {
			uint32_t v = (x + y * 37) & 0xff, p;

			switch (y % 4) {
			case 0: p = v << 16 | (255 - v) << 8 | (v ^ 0x5a); break;
			case 1: p = 0x00ffffff - (v * 0x010101); break;	    /* smooth */
			case 2: p = pixels[(size_t)(y - 1) * w + x]; break; /* repeats */
			default: p = (v * 0x9e3779b9u) >> 8; break;	    /* noisy */
			}
			pixels[(size_t)y * w + x] = p | (y & 1 ? 0xff000000 : 0);
		}
	}
	write_and_check("bytes", pixels, w, h, w);
	free(pixels);
}

/* Incompressible: many IDAT chunks. Also wide rows at the largest display width. */
static void test_large(void **state)
{
	uint32_t *pixels = random_pixels((size_t)600 * 400, 99);

	(void)state;
	write_and_check("noise", pixels, 600, 400, 600);
	free(pixels);
	pixels = random_pixels((size_t)4096 * 4, 5);
	write_and_check("wide", pixels, 4096, 4, 4096);
	free(pixels);
}

static void test_replaces_existing(void **state)
{
	uint32_t p[4] = { 0xff0000, 0x00ff00, 0x0000ff, 0xffffff };
	char path[256], err[256] = "";
	struct stat st;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/old.png", tmpdir);
	f = fopen(path, "w");
	TEST_ASSERT(f && fputs("not a png", f) >= 0 && fclose(f) == 0, "create %s", path);
	TEST_ASSERT_EQ(png_write(path, p, 2, 2, 2, err, sizeof(err)), 0);
	TEST_ASSERT_EQ(stat(path, &st), 0);
	TEST_ASSERT(st.st_size > 50, "size %lld", (long long)st.st_size);
	TEST_ASSERT_EQ(count_entries(tmpdir, NULL, 0), 1);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_missing_directory),
		cmocka_unit_test(test_unwritable_directory),
		cmocka_unit_test(test_write_fails_midway),
		cmocka_unit_test(test_one_pixel),
		cmocka_unit_test(test_odd_sizes),
		cmocka_unit_test(test_gradient),
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_replaces_existing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/* Unit tests for `hutch img`'s pure parts: arguments, sizes, the progress line. */
#include "test_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "vmm/img.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

struct parsed {
	struct img_args a;
	int ret;
	char err[512];
	char *argv[32];
	char storage[32][128];
};

/* img_parse_args on ("img", args..., NULL); copies so getopt may permute them. */
static struct parsed *parse(struct parsed *p, ...)
{
	const char *arg;
	int argc = 0;
	va_list ap;

	memset(p, 0, sizeof(*p));
	snprintf(p->storage[argc], sizeof(p->storage[0]), "img");
	p->argv[argc] = p->storage[argc];
	argc++;
	va_start(ap, p);
	while ((arg = va_arg(ap, const char *))) {
		TEST_ASSERT(argc < 31, "too many arguments");
		snprintf(p->storage[argc], sizeof(p->storage[0]), "%s", arg);
		p->argv[argc] = p->storage[argc];
		argc++;
	}
	va_end(ap);
	p->ret = img_parse_args(argc, p->argv, &p->a, p->err, sizeof(p->err));
	return p;
}

#define PARSE(p, ...) parse(p, __VA_ARGS__, (const char *)NULL)

#define ASSERT_REJECTS(p, needle)                                                                 \
	do {                                                                                      \
		TEST_ASSERT_EQ((p)->ret, -EINVAL);                                                \
		TEST_ASSERT(strstr((p)->err, needle), "error '%s' lacks '%s'", (p)->err, needle); \
		TEST_ASSERT(!strchr((p)->err, '\n'), "error '%s' is not one line", (p)->err);     \
	} while (0)

/* Hostile and malformed sizes first. */
static void test_size_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"-1",
		"+1",
		" 1",
		"1 ",
		"0x10",
		"1.5G",
		"G",
		"1GG",
		"1Q",
		"1iB",
		"1Gi",
		"1GiBx",
		"1KB2",
		"16E",
		"17179869184G",
		"18446744073709551616",
		"99999999999999999999999",
		"1e9",
	};
	uint64_t v = 7;

	(void)state;
	TEST_ASSERT_EQ(img_parse_size(NULL, &v), -EINVAL);
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		TEST_ASSERT(img_parse_size(bad[i], &v) == -EINVAL, "'%s' accepted as %" PRIu64,
			    bad[i], v);
	}
	TEST_ASSERT_EQ(v, 7);
}

static void test_size_accepts(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{ "0", 0 },
		{ "512", 512 }, /* bare numbers are bytes, as in qemu-img */
		{ "1k", KiB },
		{ "1K", KiB },
		{ "64KiB", 64 * KiB },
		{ "512M", 512 * MiB },
		{ "512MB", 512 * MiB },
		{ "10G", 10 * GiB },
		{ "2t", 2ULL << 40 },
		{ "3P", 3ULL << 50 },
		{ "15E", 15ULL << 60 },
		{ "18446744073709551615", UINT64_MAX },
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		TEST_ASSERT(!img_parse_size(good[i].s, &v), "'%s' refused", good[i].s);
		TEST_ASSERT_EQ(v, good[i].v);
	}
}

static void test_cluster_size(void **state)
{
	static const char *const bad[] = { "256", "4M", "65535", "0", "96K", "64X", "" };
	unsigned bits = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		TEST_ASSERT(img_parse_cluster_size(bad[i], &bits), "'%s' accepted", bad[i]);
	TEST_ASSERT(!img_parse_cluster_size("512", &bits), "512");
	TEST_ASSERT_EQ(bits, 9);
	TEST_ASSERT(!img_parse_cluster_size("64K", &bits), "64K");
	TEST_ASSERT_EQ(bits, 16);
	TEST_ASSERT(!img_parse_cluster_size("2M", &bits), "2M");
	TEST_ASSERT_EQ(bits, 21);
}

static void test_format_size(void **state)
{
	static const struct {
		uint64_t v;
		const char *s;
	} cases[] = {
		{ 0, "0 B" },
		{ 1023, "1023 B" },
		{ 1024, "1 KiB" },
		{ 1536, "1.5 KiB" },
		{ 200704, "196 KiB" },
		{ 10 * GiB, "10 GiB" },
		{ 1234567, "1.18 MiB" },
		{ 25 * MiB + 512 * KiB, "25.5 MiB" },
		{ UINT64_MAX, "16 EiB" },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		img_format_size(cases[i].v, buf, sizeof(buf));
		TEST_ASSERT(!strcmp(buf, cases[i].s), "%" PRIu64 " -> '%s', expected '%s'",
			    cases[i].v, buf, cases[i].s);
	}
	img_format_size(10 * GiB, buf, 4); /* truncated, still terminated */
	TEST_ASSERT(!strcmp(buf, "10 "), "truncated to '%s'", buf);
}

static void test_progress_format(void **state)
{
	char buf[128];

	(void)state;
	img_progress_format(buf, sizeof(buf), 0, 100, 0, 0);
	TEST_ASSERT(!strcmp(buf, "\r[                              ]   0.0%      0.0 MB/s"), "'%s'",
		    buf);
	/* half of 200 MB in one second, a fifth of it data read (the rest holes) */
	img_progress_format(buf, sizeof(buf), 100000000, 200000000, 20000000, 1000000000);
	TEST_ASSERT(!strcmp(buf, "\r[###############               ]  50.0%     20.0 MB/s"), "'%s'",
		    buf);
	img_progress_format(buf, sizeof(buf), 200, 200, 200, 2000000000);
	TEST_ASSERT(strstr(buf, "[##############################] 100.0%"), "'%s'", buf);
	/* done beyond total (a size that grew) and an empty image stay at 100% */
	img_progress_format(buf, sizeof(buf), 300, 200, 0, 1);
	TEST_ASSERT(strstr(buf, "100.0%"), "'%s'", buf);
	img_progress_format(buf, sizeof(buf), 0, 0, 0, 0);
	TEST_ASSERT(strstr(buf, "100.0%") && !strchr(buf, '\n'), "'%s'", buf);
	img_progress_format(buf, 8, 1, 2, 1, 1); /* truncated, terminated */
	TEST_ASSERT_EQ(strlen(buf), 7);
}

static void test_progress_rate(void **state)
{
	(void)state;
	TEST_ASSERT(img_progress_due(0, 100000000), "100 ms after");
	TEST_ASSERT(!img_progress_due(0, 99999999), "just under 100 ms");
	TEST_ASSERT(!img_progress_due(5000000000ULL, 5050000000ULL), "50 ms after");
	TEST_ASSERT(img_progress_due(5000000000ULL, 6000000000ULL), "1 s after");
}

static void test_backing_path(void **state)
{
	char out[32];

	(void)state;
	TEST_ASSERT(!img_backing_path("dir/sub/top.qcow2", "base.qcow2", out, sizeof(out)), "rel");
	TEST_ASSERT(!strcmp(out, "dir/sub/base.qcow2"), "'%s'", out);
	TEST_ASSERT(!img_backing_path("dir/top.qcow2", "/abs/base", out, sizeof(out)), "abs");
	TEST_ASSERT(!strcmp(out, "/abs/base"), "'%s'", out);
	TEST_ASSERT(!img_backing_path("top.qcow2", "base.qcow2", out, sizeof(out)), "no dir");
	TEST_ASSERT(!strcmp(out, "base.qcow2"), "'%s'", out);
	TEST_ASSERT(!img_backing_path("/top.qcow2", "base", out, sizeof(out)), "root");
	TEST_ASSERT(!strcmp(out, "/base"), "'%s'", out);
	TEST_ASSERT_EQ(
		img_backing_path("a/b", "a-very-long-backing-file-name.qcow2", out, sizeof(out)),
		-ENAMETOOLONG);
}

/* Bad command lines first: each gets one line naming the problem. */
static void test_args_reject(void **state)
{
	static const struct {
		const char *args[8];
		const char *needle;
	} cases[] = {
		{ { "frobnicate" }, "unknown command 'frobnicate'" },
		{ { "create" }, "FILE required" },
		{ { "create", "x.qcow2" }, "SIZE required" },
		{ { "create", "x.qcow2", "10Q" }, "'10Q' is not a size" },
		{ { "create", "x.qcow2", "1000" }, "multiple of 512" },
		{ { "create", "x.qcow2", "0" }, "must not be 0" },
		{ { "create", "x", "1G", "extra" }, "unexpected argument 'extra'" },
		{ { "create", "-f", "vmdk", "x", "1G" }, "-f: 'vmdk' is not raw or qcow2" },
		{ { "create", "-f", "auto", "x", "1G" }, "-f: 'auto'" },
		{ { "create", "-f", "raw", "-b", "b", "x" }, "-b needs a qcow2 image" },
		{ { "create", "-f", "raw", "-c", "64K", "x", "1G" }, "-c needs a qcow2" },
		{ { "create", "-F", "raw", "x", "1G" }, "-F needs -b" },
		{ { "create", "-b", "", "x" }, "backing file name is empty" },
		{ { "create", "-c", "100K", "x", "1G" }, "-c: '100K' is not a power of two" },
		{ { "create", "-z", "x", "1G" }, "unknown option '-z'" },
		{ { "create", "-fz", "x", "1G" }, "-f: 'z' is not" },
		{ { "check", "-rz", "x" }, "unknown option '-z'" },
		{ { "check", "--repair", "-zr", "x" }, "unknown option '-z'" },
		{ { "info", "--json=1", "x" }, "unknown option '--json=1'" },
		{ { "create", "x", "1G", "-f" }, "-f needs an argument" },
		{ { "create", "--json", "x", "1G" }, "unknown option '--json'" },
		{ { "create", "", "1G" }, "empty file name" },
		{ { "info" }, "FILE required" },
		{ { "info", "a", "b" }, "unexpected argument 'b'" },
		{ { "info", "-r", "a" }, "unknown option '-r'" },
		{ { "info", "--shrink", "a" }, "unknown option '--shrink'" },
		{ { "check", "--json", "a" }, "unknown option '--json'" },
		{ { "convert", "a" }, "IN and OUT required" },
		{ { "convert", "-O", "auto", "a", "b" }, "-O: 'auto' is not raw or qcow2" },
		{ { "convert", "-c", "-O", "raw", "a", "b" }, "-c needs qcow2 output" },
		{ { "convert", "a", "" }, "empty file name" },
		{ { "resize", "a" }, "FILE and SIZE required" },
		{ { "resize", "a", "big" }, "'big' is not a size" },
		{ { "resize", "a", "+0" }, "change nothing" },
		{ { "resize", "a", "--1G" }, "unknown option '--1G'" },
		{ { "commit" }, "OVERLAY required" },
		{ { "commit", "-c", "a" }, "unknown option '-c'" },
	};
	struct parsed *p = malloc(sizeof(*p));

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const char *const *v = cases[i].args;

		parse(p, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], (const char *)NULL);
		TEST_ASSERT(p->ret == -EINVAL, "case %zu (%s %s) accepted", i, v[0],
			    v[1] ? v[1] : "");
		ASSERT_REJECTS(p, cases[i].needle);
	}
	free(p);
}

static void test_args_help(void **state)
{
	struct parsed *p = malloc(sizeof(*p));

	(void)state;
	PARSE(p, "--help");
	TEST_ASSERT(!p->ret && p->a.help && p->a.cmd == IMG_CMD_NONE, "img --help");
	parse(p, (const char *)NULL);
	TEST_ASSERT(!p->ret && p->a.help && p->a.cmd == IMG_CMD_NONE, "img alone");
	/* help wins over what else is wrong on the line */
	PARSE(p, "convert", "--help", "only-one");
	TEST_ASSERT(!p->ret && p->a.help && p->a.cmd == IMG_CMD_CONVERT, "convert --help");
	PARSE(p, "resize", "-h");
	TEST_ASSERT(!p->ret && p->a.help && p->a.cmd == IMG_CMD_RESIZE, "resize -h");
	free(p);
}

static void test_args_create(void **state)
{
	struct parsed *p = malloc(sizeof(*p));

	(void)state;
	PARSE(p, "create", "disk.qcow2", "10G");
	TEST_ASSERT_EQ(p->ret, 0);
	TEST_ASSERT(p->a.cmd == IMG_CMD_CREATE && p->a.fmt == IMAGE_FORMAT_QCOW2 &&
			    !strcmp(p->a.file, "disk.qcow2") && p->a.has_size && !p->a.backing &&
			    !p->a.cluster_bits,
		    "defaults");
	TEST_ASSERT_EQ(p->a.size, 10 * GiB);
	/* options after the file, as getopt permutes */
	PARSE(p, "create", "o.qcow2", "-b", "base.img", "-F", "raw", "-c", "4K");
	TEST_ASSERT_EQ(p->ret, 0);
	TEST_ASSERT(!p->a.has_size && !strcmp(p->a.backing, "base.img") &&
			    p->a.backing_fmt == IMAGE_FORMAT_RAW && p->a.cluster_bits == 12,
		    "backing");
	PARSE(p, "create", "-f", "raw", "r.img", "1001");
	TEST_ASSERT(!p->ret && p->a.fmt == IMAGE_FORMAT_RAW && p->a.size == 1001, "raw any size");
	PARSE(p, "create", "-f", "raw", "r.img", "0");
	TEST_ASSERT(!p->ret && p->a.size == 0, "raw empty");
	/* "--" lets a file name start with '-' */
	PARSE(p, "create", "--", "-odd", "1M");
	TEST_ASSERT(!p->ret && !strcmp(p->a.file, "-odd"), "--");
	free(p);
}

static void test_args_commands(void **state)
{
	struct parsed *p = malloc(sizeof(*p));

	(void)state;
	PARSE(p, "info", "--json", "--backing-chain", "x");
	TEST_ASSERT(!p->ret && p->a.json && p->a.backing_chain && !strcmp(p->a.file, "x"), "info");
	PARSE(p, "check", "-r", "x");
	TEST_ASSERT(!p->ret && p->a.repair, "check -r");
	PARSE(p, "check", "--repair", "x");
	TEST_ASSERT(!p->ret && p->a.repair, "check --repair");
	PARSE(p, "convert", "a", "b");
	TEST_ASSERT(!p->ret && p->a.fmt == IMAGE_FORMAT_AUTO &&
			    p->a.out_fmt == IMAGE_FORMAT_QCOW2 && !p->a.compress &&
			    !p->a.progress && !strcmp(p->a.file, "a") && !strcmp(p->a.out, "b"),
		    "convert defaults");
	PARSE(p, "convert", "-cp", "-f", "raw", "a", "b");
	TEST_ASSERT(!p->ret && p->a.compress && p->a.progress && p->a.fmt == IMAGE_FORMAT_RAW,
		    "convert -cp");
	PARSE(p, "convert", "-O", "raw", "a", "b");
	TEST_ASSERT(!p->ret && p->a.out_fmt == IMAGE_FORMAT_RAW, "convert -O raw");
	PARSE(p, "commit", "ov.qcow2");
	TEST_ASSERT(!p->ret && p->a.cmd == IMG_CMD_COMMIT && !strcmp(p->a.file, "ov.qcow2"),
		    "commit");
	free(p);
}

static void test_args_resize(void **state)
{
	struct parsed *p = malloc(sizeof(*p));

	(void)state;
	PARSE(p, "resize", "d.qcow2", "40G");
	TEST_ASSERT(!p->ret && p->a.resize_mode == IMG_RESIZE_ABSOLUTE && p->a.size == 40 * GiB,
		    "absolute");
	PARSE(p, "resize", "d.qcow2", "+1G");
	TEST_ASSERT(!p->ret && p->a.resize_mode == IMG_RESIZE_GROW && p->a.size == GiB, "grow");
	/* a negative SIZE last is not an option */
	PARSE(p, "resize", "--shrink", "d.img", "-512M");
	TEST_ASSERT(!p->ret && p->a.resize_mode == IMG_RESIZE_SHRINK && p->a.size == 512 * MiB &&
			    p->a.shrink && !strcmp(p->a.file, "d.img"),
		    "shrink: ret %d '%s'", p->ret, p->err);
	PARSE(p, "resize", "d.img", "--shrink", "-1K");
	TEST_ASSERT(!p->ret && p->a.shrink && p->a.size == KiB, "--shrink in the middle");
	PARSE(p, "resize", "d.img", "-1K");
	TEST_ASSERT(!p->ret && !p->a.shrink && p->a.resize_mode == IMG_RESIZE_SHRINK,
		    "-1K without --shrink parses (the command refuses it for what it is)");
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_rejects),	cmocka_unit_test(test_size_accepts),
		cmocka_unit_test(test_cluster_size),	cmocka_unit_test(test_format_size),
		cmocka_unit_test(test_progress_format), cmocka_unit_test(test_progress_rate),
		cmocka_unit_test(test_backing_path),	cmocka_unit_test(test_args_reject),
		cmocka_unit_test(test_args_help),	cmocka_unit_test(test_args_create),
		cmocka_unit_test(test_args_commands),	cmocka_unit_test(test_args_resize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

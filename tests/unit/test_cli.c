/* Unit tests for the command line: sizes, options, exit codes and what gets printed. */
#include "test_util.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "vmm/cli.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define TiB (1ULL << 40)

/*
 * glibc keeps getopt state besides optind (the position inside a cluster
 * of short options such as "-hk"); cli_parse sets optind = 1, which does not
 * reset it. optind = 0 followed by one getopt() call does (glibc and musl).
 */
static void getopt_full_reset(void)
{
	char arg0[] = "reset";
	char *argv[] = { arg0, NULL };

	optind = 0;
	(void)getopt(1, argv, "");
}

struct cli_result {
	char **argv; /* heap copies: ASan catches reads of them after free */
	int argc;
	struct vm_config cfg;
	int code;
	enum cli_command cmd;
	char out[8192], err[8192];
};

static void slurp(FILE *f, char *buf, size_t size)
{
	size_t n;

	rewind(f);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* Runs cli_parse on ("hutch", args..., NULL), capturing stdout and stderr. */
static void run_cli_args(struct cli_result *r, bool reset, const char *first, va_list ap)
{
	const char *args[32];
	int saved_out, saved_err;
	FILE *out, *err;

	memset(r, 0, sizeof(*r));
	args[r->argc++] = "hutch";
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		TEST_ASSERT(r->argc < (int)ARRAY_LEN(args) - 1, "too many arguments");
		args[r->argc++] = a;
	}
	r->argv = calloc((size_t)r->argc + 1, sizeof(char *));
	TEST_ASSERT(r->argv, "calloc");
	for (int i = 0; i < r->argc; i++) {
		r->argv[i] = strdup(args[i]);
		TEST_ASSERT(r->argv[i], "strdup");
	}

	out = tmpfile();
	err = tmpfile();
	TEST_ASSERT(out && err, "tmpfile: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(STDOUT_FILENO);
	saved_err = dup(STDERR_FILENO);
	TEST_ASSERT(saved_out >= 0 && saved_err >= 0, "dup: %s", strerror(errno));
	TEST_ASSERT(dup2(fileno(out), STDOUT_FILENO) >= 0, "dup2");
	TEST_ASSERT(dup2(fileno(err), STDERR_FILENO) >= 0, "dup2");

	if (reset)
		getopt_full_reset();
	r->code = -1;
	r->cmd = cli_parse(r->argc, r->argv, &r->cfg, &r->code);

	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
	slurp(out, r->out, sizeof(r->out));
	slurp(err, r->err, sizeof(r->err));
}

static void run_cli(struct cli_result *r, const char *first, ...)
{
	va_list ap;

	va_start(ap, first);
	run_cli_args(r, true, first, ap);
	va_end(ap);
}

/* Like run_cli, but leaves getopt's state as the previous cli_parse left it. */
static void run_cli_noreset(struct cli_result *r, const char *first, ...)
{
	va_list ap;

	va_start(ap, first);
	run_cli_args(r, false, first, ap);
	va_end(ap);
}

static void cli_result_free(struct cli_result *r)
{
	for (int i = 0; i < r->argc; i++)
		free(r->argv[i]);
	free(r->argv);
	r->argv = NULL;
	r->argc = 0;
}

static struct cli_result *res;

static int setup(void **state)
{
	(void)state;
	res = calloc(1, sizeof(*res));
	return res ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	cli_result_free(res);
	free(res);
	return 0;
}

/* Expects a usage error: exit 2 and exactly one line on stderr naming the problem. */
#define ASSERT_USAGE_ERROR(r, needle)                                                    \
	do {                                                                             \
		TEST_ASSERT_EQ((r)->cmd, CLI_EXIT);                                      \
		TEST_ASSERT_EQ((r)->code, 2);                                            \
		TEST_ASSERT(strstr((r)->err, needle), "stderr lacks '%s': '%s'", needle, \
			    (r)->err);                                                   \
		TEST_ASSERT((r)->out[0] == '\0', "stdout not empty: '%s'", (r)->out);    \
	} while (0)

/* --- cli_parse_size: hostile cases first --- */

static void test_size_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"M",
		"G",
		"-1",
		"+1",
		" 1",
		"1 ",
		"12X",
		"1.5G",
		"0x10",
		"1e3",
		"99999999999999999999", /* ERANGE from strtoull */
		"18446744073709551616", /* 2^64 */
		"20000000T",
		"16777216T", /* << 40 overflows */
		"17179869184G",
		"17592186044416",
		"17592186044416M",
		"18014398509481984K",
		"1KiBx",
		"1GBB",
		"1B",
		"1iB",
		"1 G",
		"1MM",
		"1G1",
		"1KG",
	};
	uint64_t bytes;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		int ret;

		bytes = 0x1234;
		ret = cli_parse_size(bad[i], &bytes);
		TEST_ASSERT(ret == -EINVAL, "'%s' accepted: ret %d, %#" PRIx64 " bytes", bad[i],
			    ret, bytes);
		TEST_ASSERT(bytes == 0x1234, "'%s' rejected but wrote %#" PRIx64, bad[i], bytes);
	}
	TEST_ASSERT_EQ(cli_parse_size(NULL, &bytes), -EINVAL);
}

static void test_size_accepts(void **state)
{
	static const struct {
		const char *s;
		uint64_t bytes;
	} good[] = {
		{ "512M", 512 * MiB },
		{ "4G", 4 * GiB },
		{ "1T", TiB },
		{ "2048K", 2 * MiB },
		{ "1024", GiB }, /* bare numbers are MiB */
		{ "1GiB", GiB },
		{ "1GB", GiB },
		{ "1MiB", MiB },
		{ "64MB", 64 * MiB },
		{ "1KiB", 1024 },
		{ "1TiB", TiB },
		{ "512m", 512 * MiB },
		{ "4g", 4 * GiB },
		{ "1t", TiB },
		{ "2k", 2048 },
		{ "0", 0 },
		{ "0M", 0 },
		{ "007M", 7 * MiB },
		{ "16777215T", 16777215ULL << 40 },	       /* largest T that fits */
		{ "17592186044415", 17592186044415ULL << 20 }, /* largest bare MiB */
		{ "18014398509481983K", 18014398509481983ULL << 10 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		uint64_t bytes = 0;
		int ret = cli_parse_size(good[i].s, &bytes);

		TEST_ASSERT(ret == 0, "'%s' rejected (%d)", good[i].s, ret);
		TEST_ASSERT(bytes == good[i].bytes, "'%s' is %#" PRIx64 ", want %#" PRIx64,
			    good[i].s, bytes, good[i].bytes);
	}
}

/* --- cli_parse: hostile cases first --- */

static void test_no_arguments(void **state)
{
	(void)state;
	run_cli(res, NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_EXIT);
	TEST_ASSERT_EQ(res->code, 2);
	TEST_ASSERT(strstr(res->err, "Usage:"), "no usage on stderr: '%s'", res->err);
}

static void test_unknown_command(void **state)
{
	(void)state;
	run_cli(res, "frobnicate", "--kernel", "k", NULL);
	ASSERT_USAGE_ERROR(res, "unknown command 'frobnicate'");
	cli_result_free(res);
	run_cli(res, "--kernel", "k", NULL); /* options before the command */
	ASSERT_USAGE_ERROR(res, "unknown command '--kernel'");
	cli_result_free(res);
	run_cli(res, "", NULL);
	ASSERT_USAGE_ERROR(res, "unknown command ''");
}

static void test_missing_kernel(void **state)
{
	(void)state;
	run_cli(res, "run", NULL);
	ASSERT_USAGE_ERROR(res, "--kernel PATH is required");
	cli_result_free(res);
	run_cli(res, "run", "--mem", "1G", "--cpus", "2", NULL);
	ASSERT_USAGE_ERROR(res, "--kernel PATH is required");
}

static void test_bad_cpus(void **state)
{
	static const char *const bad[] = {
		"0",
		"256",
		"abc",
		"-1",
		"",
		"1x",
		"01",
		" 1",
		"+1",
		"4294967297",
		"18446744073709551617",
		"99999999999999999999",
		"1000",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		run_cli(res, "run", "--kernel", "k", "--cpus", bad[i], NULL);
		TEST_ASSERT(res->cmd == CLI_EXIT && res->code == 2,
			    "--cpus '%s': cmd %d code %d ncpus %u", bad[i], res->cmd, res->code,
			    res->cfg.ncpus);
		TEST_ASSERT(strstr(res->err, "--cpus"), "--cpus '%s': stderr '%s'", bad[i],
			    res->err);
		cli_result_free(res);
	}
}

static void test_bad_mem(void **state)
{
	static const char *const bad[] = {
		"",	     "M",      "-1", "12X",   "63M",  "0",
		"1",	     "1025G",  "2T", "1536K", "64M1", "99999999999999999999",
		"20000000T", "65537K",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		run_cli(res, "run", "--kernel", "k", "--mem", bad[i], NULL);
		TEST_ASSERT(res->cmd == CLI_EXIT && res->code == 2,
			    "--mem '%s': cmd %d code %d mem %#" PRIx64, bad[i], res->cmd, res->code,
			    res->cfg.mem_size);
		TEST_ASSERT(strstr(res->err, "--mem"), "--mem '%s': stderr '%s'", bad[i], res->err);
		cli_result_free(res);
	}
}

static void test_bad_options(void **state)
{
	(void)state;
	run_cli(res, "run", "--kernel", "k", "--frobnicate", NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_EXIT);
	TEST_ASSERT_EQ(res->code, 2);
	cli_result_free(res);

	run_cli(res, "run", "-x", "--kernel", "k", NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_EXIT);
	TEST_ASSERT_EQ(res->code, 2);
	cli_result_free(res);

	run_cli(res, "run", "--kernel", NULL); /* missing argument */
	TEST_ASSERT_EQ(res->cmd, CLI_EXIT);
	TEST_ASSERT_EQ(res->code, 2);
	cli_result_free(res);

	run_cli(res, "run", "--kernel", "k", "extra", NULL);
	ASSERT_USAGE_ERROR(res, "unexpected argument 'extra'");
	cli_result_free(res);

	run_cli(res, "run", "extra", "--kernel", "k", NULL); /* getopt permutes it to the end */
	ASSERT_USAGE_ERROR(res, "unexpected argument 'extra'");
	cli_result_free(res);

	run_cli(res, "run", "--kernel=k", "--help=yes", NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_EXIT);
	TEST_ASSERT_EQ(res->code, 2);
}

/*
 * cli_parse called twice in one process: the first call stops inside the
 * cluster "-hc" (at -h), and the second call, given a fresh argv, still
 * starts from glibc's saved position in the old "-hc" and takes the stale
 * -c, eating "/vmlinux" as its argument. cli_parse_run sets optind = 1;
 * optind = 0 would reset getopt completely.
 */
static void test_getopt_state_reset_between_calls(void **state)
{
	struct cli_result first;

	(void)state;
	run_cli(&first, "run", "-hc", NULL);
	TEST_ASSERT_EQ(first.cmd, CLI_EXIT);
	TEST_ASSERT_EQ(first.code, 0);
	run_cli_noreset(res, "run", "--kernel", "/vmlinux", "--mem", "1G", NULL);
	cli_result_free(&first);
	TEST_ASSERT(res->cmd == CLI_RUN, "second parse failed: code %d, stderr '%s'", res->code,
		    res->err);
	TEST_ASSERT(res->cfg.kernel_path && !strcmp(res->cfg.kernel_path, "/vmlinux"),
		    "kernel_path '%s'", res->cfg.kernel_path ? res->cfg.kernel_path : "(null)");
	TEST_ASSERT_NULL(res->cfg.cmdline);
}

/* --- cli_parse: working cases --- */

static void test_defaults(void **state)
{
	(void)state;
	run_cli(res, "run", "--kernel", "bzImage", NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_RUN);
	TEST_ASSERT_EQ(res->code, 0);
	TEST_ASSERT(res->cfg.kernel_path && !strcmp(res->cfg.kernel_path, "bzImage"),
		    "kernel_path");
	TEST_ASSERT_NULL(res->cfg.initrd_path);
	TEST_ASSERT_NULL(res->cfg.cmdline);
	TEST_ASSERT_EQ(res->cfg.mem_size, 512 * MiB);
	TEST_ASSERT_EQ(res->cfg.ncpus, 1);
	TEST_ASSERT(!res->out[0] && !res->err[0], "printed '%s' '%s'", res->out, res->err);
}

static void test_all_options(void **state)
{
	(void)state;
	run_cli(res, "run", "--kernel", "vmlinux", "--initrd", "initramfs.cpio.gz", "--cmdline",
		"console=ttyS0 quiet", "--mem", "3G", "--cpus", "2", NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_RUN);
	TEST_ASSERT_EQ(res->code, 0);
	TEST_ASSERT(!strcmp(res->cfg.kernel_path, "vmlinux"), "kernel_path");
	TEST_ASSERT(!strcmp(res->cfg.initrd_path, "initramfs.cpio.gz"), "initrd_path");
	TEST_ASSERT(!strcmp(res->cfg.cmdline, "console=ttyS0 quiet"), "cmdline");
	TEST_ASSERT_EQ(res->cfg.mem_size, 3 * GiB);
	TEST_ASSERT_EQ(res->cfg.ncpus, 2);
	cli_result_free(res);

	/* Short options, attached arguments, --opt=value, a bare MiB count. */
	run_cli(res, "run", "-kbz", "-i", "rd", "-c", "", "-m", "1024", "-p255", NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_RUN);
	TEST_ASSERT(!strcmp(res->cfg.kernel_path, "bz"), "kernel_path '%s'", res->cfg.kernel_path);
	TEST_ASSERT(!strcmp(res->cfg.initrd_path, "rd"), "initrd_path");
	TEST_ASSERT(res->cfg.cmdline && !res->cfg.cmdline[0], "empty cmdline");
	TEST_ASSERT_EQ(res->cfg.mem_size, GiB);
	TEST_ASSERT_EQ(res->cfg.ncpus, 255);
	cli_result_free(res);

	run_cli(res, "run", "--mem=64M", "--cpus=1", "--kernel=k", NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_RUN);
	TEST_ASSERT_EQ(res->cfg.mem_size, 64 * MiB);
	TEST_ASSERT_EQ(res->cfg.ncpus, 1);
	cli_result_free(res);

	run_cli(res, "run", "--kernel", "k", "--mem", "1T", "--mem", "2G", NULL); /* last wins */
	TEST_ASSERT_EQ(res->cmd, CLI_RUN);
	TEST_ASSERT_EQ(res->cfg.mem_size, 2 * GiB);
	cli_result_free(res);

	run_cli(res, "run", "--kernel", "k", "--mem", "1T", NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_RUN);
	TEST_ASSERT_EQ(res->cfg.mem_size, TiB);
	cli_result_free(res);

	run_cli(res, "run", "--kernel", "k", "--", NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_RUN);
}

static void test_version(void **state)
{
	(void)state;
	run_cli(res, "--version", NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_EXIT);
	TEST_ASSERT_EQ(res->code, 0);
	TEST_ASSERT(!strcmp(res->out, "hutch " HUTCH_VERSION "\n"), "stdout '%s'", res->out);
	TEST_ASSERT(!res->err[0], "stderr '%s'", res->err);
	cli_result_free(res);
	run_cli(res, "-V", NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_EXIT);
	TEST_ASSERT_EQ(res->code, 0);
	TEST_ASSERT(!strcmp(res->out, "hutch " HUTCH_VERSION "\n"), "stdout '%s'", res->out);
}

static void test_help(void **state)
{
	static const char *const forms[] = { "--help", "-h", "help" };

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(forms); i++) {
		run_cli(res, forms[i], NULL);
		TEST_ASSERT(res->cmd == CLI_EXIT && res->code == 0, "'%s': code %d", forms[i],
			    res->code);
		TEST_ASSERT(strstr(res->out, "hutch run --kernel PATH"), "'%s': stdout '%s'",
			    forms[i], res->out);
		TEST_ASSERT(!res->err[0], "'%s': stderr '%s'", forms[i], res->err);
		cli_result_free(res);
	}
	run_cli(res, "run", "--help", NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_EXIT);
	TEST_ASSERT_EQ(res->code, 0);
	TEST_ASSERT(strstr(res->out, "Usage: hutch run"), "stdout '%s'", res->out);
	TEST_ASSERT(strstr(res->out, "--cpus N"), "run help lacks --cpus");
	cli_result_free(res);
	/* Help wins over a missing --kernel. */
	run_cli(res, "run", "--mem", "1G", "-h", NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_EXIT);
	TEST_ASSERT_EQ(res->code, 0);
}

/* --- --disk, --net, --console --- */

static void test_bad_disk_net_console(void **state)
{
	static const struct {
		const char *opt, *arg, *needle;
	} bad[] = {
		{ "--disk", "", "path=FILE is required" },
		{ "--disk", "readonly=on", "path=FILE is required" },
		{ "--disk", "path=", "path=FILE is required" },
		{ "--disk", "a.img,readonly=maybe", "readonly='maybe'" },
		{ "--disk", "a.img,bogus=1",
		  "unknown key 'bogus' (path, format, readonly, serial)" },
		{ "--disk", "a.img,noequals", "'noequals' is not key=value" },
		{ "--disk", "a.img,serial=012345678901234567890", "longer than 20 bytes" },
		{ "--net", "", "is not user or tap=IFNAME" },
		{ "--net", "tap=", "is not user or tap=IFNAME" },
		{ "--net", "users", "is not user or tap=IFNAME" },
		{ "--net", "user,mac=52:54:00:12:34", "not a unicast MAC" },
		{ "--net", "user,mac=01:00:5e:00:00:01", "not a unicast MAC" },
		{ "--net", "user,mac=52:54:00:12:34:56x", "not a unicast MAC" },
		{ "--net", "user,restrict=2", "restrict='2'" },
		{ "--net", "tap=tap0,hostfwd=tcp::1-:1", "unknown key 'hostfwd'" },
		{ "--net", "user,ifname=x", "unknown key 'ifname'" },
		{ "--console", "hvc0", "'hvc0' is not serial or virtio" },
		{ "--disk", "a.img,format=vmdk", "format='vmdk' is not raw or qcow2" },
		{ "--display", "gtk", "'gtk' is not sdl, none or off" },
		{ "--display", "", "'' is not sdl, none or off" },
		{ "--display", "none,size=100x100", "'size=100x100' is not size=WxH" },
		{ "--display", "none,size=5000x800", "'size=5000x800' is not size=WxH" },
		{ "--display", "sdl,size=800x600x", "is not size=WxH" },
		{ "--display", "sdl,size=800", "is not size=WxH" },
		{ "--display", "sdl,full=on", "'full=on' is not size=WxH" },
		{ "--name", "", "--name: '' is empty" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		run_cli(res, "run", "--kernel", "k", bad[i].opt, bad[i].arg, NULL);
		ASSERT_USAGE_ERROR(res, bad[i].needle);
		cli_result_free(res);
	}
}

static void test_disk_net_console(void **state)
{
	(void)state;
	run_cli(res, "run", "--kernel", "k", "--disk", "a,,b.img,serial=S1", "-d",
		"path=c.img,readonly=on", "--net", "user,hostfwd=tcp::2222-:22,hostfwd=::80-:8080",
		"--net", "user,restrict=on,mac=52:54:00:aa:bb:cc", "-n", "tap=tap7", "--console",
		"virtio", NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_RUN);
	TEST_ASSERT_EQ(res->cfg.ndisks, 2u);
	TEST_ASSERT(!strcmp(res->cfg.disks[0].path, "a,b.img"), "path '%s'",
		    res->cfg.disks[0].path);
	TEST_ASSERT(!strcmp(res->cfg.disks[0].serial, "S1"), "serial");
	TEST_ASSERT(!res->cfg.disks[0].readonly && res->cfg.disks[1].readonly, "readonly");
	TEST_ASSERT(!strcmp(res->cfg.disks[1].path, "c.img"), "path 2");
	TEST_ASSERT_EQ(res->cfg.nnics, 3u);
	TEST_ASSERT_EQ(res->cfg.nics[0].nhostfwd, 2u);
	TEST_ASSERT(!strcmp(res->cfg.nics[0].hostfwd[1], "::80-:8080"), "hostfwd");
	TEST_ASSERT(res->cfg.nics[1].restrict_host && res->cfg.nics[1].has_mac &&
			    res->cfg.nics[1].mac[5] == 0xcc,
		    "restrict, mac");
	TEST_ASSERT(res->cfg.nics[2].tap && !strcmp(res->cfg.nics[2].ifname, "tap7"), "tap");
	TEST_ASSERT_EQ(res->cfg.console, CONSOLE_VIRTIO);
}

/* --- --api-sock and `hutch ctl` --- */

static void test_api_sock(void **state)
{
	char longpath[109];

	(void)state;
	run_cli(res, "run", "--kernel", "k", NULL);
	TEST_ASSERT_NULL(res->cfg.api_sock_path);
	cli_result_free(res);
	run_cli(res, "run", "--kernel", "k", "--api-sock", "/run/vm.sock", NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_RUN);
	TEST_ASSERT(!strcmp(res->cfg.api_sock_path, "/run/vm.sock"), "api_sock_path");
	cli_result_free(res);
	memset(longpath, 'a', 107);
	longpath[107] = '\0'; /* 107 bytes and a NUL fill sun_path */
	run_cli(res, "run", "--kernel", "k", "--api-sock", longpath, NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_RUN);
	cli_result_free(res);
	longpath[107] = 'a';
	longpath[108] = '\0';
	run_cli(res, "run", "--kernel", "k", "--api-sock", longpath, NULL);
	ASSERT_USAGE_ERROR(res, "--api-sock: 'aaa");
	cli_result_free(res);
	run_cli(res, "run", "--kernel", "k", "--api-sock", "", NULL);
	ASSERT_USAGE_ERROR(res, "--api-sock: '' is empty");
	cli_result_free(res);
	run_cli(res, "run", "--kernel", "k", "--api-sock", NULL);
	TEST_ASSERT(res->cmd == CLI_EXIT && res->code == 2, "missing PATH");
}

static void test_ctl_bad(void **state)
{
	static const struct {
		const char *args[7];
		const char *needle;
	} bad[] = {
		{ { "ctl", NULL }, "ctl: PATH and COMMAND are required" },
		{ { "ctl", "/s", NULL }, "ctl: PATH and COMMAND are required" },
		{ { "ctl", "--json", "/s", NULL }, "ctl: PATH and COMMAND are required" },
		{ { "ctl", "", "status", NULL }, "ctl: '' is empty or longer than 107 bytes" },
		{ { "ctl", "/s", "", NULL }, "ctl: COMMAND is empty" },
		{ { "ctl", "/s", "quit", "now", NULL },
		  "ctl: 'now' is not KEY=VALUE or KEY:=JSON" },
		{ { "ctl", "/s", "quit", "=1", NULL }, "ctl: '=1' is not KEY=VALUE" },
		{ { "ctl", "/s", "quit", ":=1", NULL }, "ctl: ':=1' is not KEY=VALUE" },
		{ { "ctl", "/s", "quit", "n:=01", NULL },
		  "ctl: 'n:=01' is not KEY:=JSON with valid JSON" },
		{ { "ctl", "/s", "quit", "n:=", NULL }, "with valid JSON" },
		{ { "ctl", "/s", "quit", "n:={\"a\":1", NULL }, "with valid JSON" },
		{ { "ctl", "/s", "quit", "a=1", "a:=2", NULL }, "ctl: 'a:=2' repeats its key" },
		{ { "ctl", "/s", "quit", "ab=1", "a=2", "ab:=3", NULL }, "ctl: 'ab:=3' repeats" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		const char *const *a = bad[i].args;

		run_cli(res, a[0], a[1], a[2], a[3], a[4], a[5], a[6], NULL);
		ASSERT_USAGE_ERROR(res, bad[i].needle);
		TEST_ASSERT(strstr(res->err, "(see `hutch ctl --help`)"), "%zu: '%s'", i, res->err);
		cli_result_free(res);
	}
	run_cli(res, "ctl", "--frob", "/s", "status", NULL);
	TEST_ASSERT(res->cmd == CLI_EXIT && res->code == 2, "--frob");
	TEST_ASSERT(strstr(res->err, "hutch ctl --help"), "stderr '%s'", res->err);
}

static void test_display(void **state)
{
	(void)state;
	run_cli(res, "run", "--kernel", "k", NULL);
	TEST_ASSERT(res->cfg.display == DISPLAY_AUTO && res->cfg.display_width == 1280 &&
			    res->cfg.display_height == 800 && !strcmp(res->cfg.name, "hutch"),
		    "defaults");
	cli_result_free(res);
	run_cli(res, "run", "--kernel", "k", "--display", "sdl,size=1024x768", "--name", "lab-1",
		NULL);
	TEST_ASSERT(res->cmd == CLI_RUN && res->cfg.display == DISPLAY_SDL &&
			    res->cfg.display_width == 1024 && res->cfg.display_height == 768 &&
			    !strcmp(res->cfg.name, "lab-1"),
		    "sdl");
	cli_result_free(res);
	run_cli(res, "run", "--kernel", "k", "--disk", "a.qcow2,format=qcow2", "--disk",
		"path=b.img,format=raw", "--disk", "c.img", NULL);
	TEST_ASSERT(res->cfg.disks[0].format == DISK_FORMAT_QCOW2 &&
			    res->cfg.disks[1].format == DISK_FORMAT_RAW &&
			    res->cfg.disks[2].format == DISK_FORMAT_AUTO,
		    "formats");
	cli_result_free(res);
	run_cli(res, "run", "--kernel", "k", "--display", "none", NULL);
	TEST_ASSERT_EQ(res->cfg.display, DISPLAY_NONE);
	cli_result_free(res);
	run_cli(res, "run", "--kernel", "k", "--display", "off", NULL);
	TEST_ASSERT_EQ(res->cfg.display, DISPLAY_OFF);
}

static void test_ctl_parse(void **state)
{
	const struct ctl_config *ctl = &res->cfg.ctl;

	(void)state;
	run_cli(res, "ctl", "/tmp/vm.sock", "status", NULL);
	TEST_ASSERT(res->cmd == CLI_CTL && res->code == 0, "cmd %d code %d '%s'", res->cmd,
		    res->code, res->err);
	TEST_ASSERT(!strcmp(ctl->sock_path, "/tmp/vm.sock") && !strcmp(ctl->command, "status"),
		    "path, command");
	TEST_ASSERT(ctl->nargs == 0 && !ctl->json, "nargs %u", ctl->nargs);
	TEST_ASSERT(!res->out[0] && !res->err[0], "printed '%s' '%s'", res->out, res->err);
	cli_result_free(res);

	run_cli(res, "ctl", "--json", "s", "screendump", "file=/tmp/a=b.ppm", "n:=-1",
		"e=", "o:={\"x\": [1]}", NULL);
	TEST_ASSERT_EQ(res->cmd, CLI_CTL);
	TEST_ASSERT(ctl->json && !strcmp(ctl->command, "screendump"), "json, command");
	TEST_ASSERT_EQ(ctl->nargs, 4);
	TEST_ASSERT(!strcmp(ctl->args[0], "file=/tmp/a=b.ppm") &&
			    !strcmp(ctl->args[3], "o:={\"x\": [1]}"),
		    "args");
	TEST_ASSERT_EQ(cli_ctl_key_len(ctl->args[0]), 4);
	TEST_ASSERT_EQ(cli_ctl_key_len(ctl->args[1]), 1);
	TEST_ASSERT_EQ(cli_ctl_key_len("nokey"), 0);
	cli_result_free(res);

	/* one bare argument names screendump's file and send-key's keys */
	run_cli(res, "ctl", "s", "screendump", "shot.png", NULL);
	TEST_ASSERT(res->cmd == CLI_CTL && ctl->nargs == 0 && !strcmp(ctl->pos_key, "file") &&
			    !strcmp(ctl->pos_value, "shot.png"),
		    "screendump FILE");
	cli_result_free(res);
	run_cli(res, "ctl", "s", "send-key", "ctrl-alt-f2", NULL);
	TEST_ASSERT(res->cmd == CLI_CTL && !strcmp(ctl->pos_key, "keys") &&
			    !strcmp(ctl->pos_value, "ctrl-alt-f2"),
		    "send-key COMBO");
	cli_result_free(res);
	run_cli(res, "ctl", "s", "status", "word", NULL);
	ASSERT_USAGE_ERROR(res, "'word' is not KEY=VALUE");
	cli_result_free(res);

	run_cli(res, "ctl", "s", "status", "--json", NULL); /* --json after, too */
	TEST_ASSERT(res->cmd == CLI_CTL && ctl->json && ctl->nargs == 0, "--json last");
	cli_result_free(res);

	run_cli(res, "ctl", "--help", NULL);
	TEST_ASSERT(res->cmd == CLI_EXIT && res->code == 0, "--help");
	TEST_ASSERT(strstr(res->out, "Usage: hutch ctl [--json] PATH COMMAND"), "'%s'", res->out);
	TEST_ASSERT(strstr(res->out, "powerdown") && strstr(res->out, "Exit status"), "'%s'",
		    res->out);
	cli_result_free(res);

	run_cli(res, "--help", NULL);
	TEST_ASSERT(strstr(res->out, "hutch ctl PATH COMMAND"), "main help: '%s'", res->out);
	cli_result_free(res);
	run_cli(res, "run", "--help", NULL);
	TEST_ASSERT(strstr(res->out, "--api-sock PATH") && strstr(res->out, "{\"return\":{...}}"),
		    "run help: '%s'", res->out);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_rejects),
		cmocka_unit_test(test_size_accepts),
		T(test_no_arguments),
		T(test_unknown_command),
		T(test_missing_kernel),
		T(test_bad_cpus),
		T(test_bad_mem),
		T(test_bad_options),
		T(test_getopt_state_reset_between_calls),
		T(test_defaults),
		T(test_all_options),
		T(test_version),
		T(test_help),
		T(test_bad_disk_net_console),
		T(test_disk_net_console),
		T(test_api_sock),
		T(test_ctl_bad),
		T(test_ctl_parse),
		T(test_display),
	};
#undef T

	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}

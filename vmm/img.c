/* `hutch img`: its command line, help, sizes and progress bar; the commands live in img_*.c. */
#include "vmm/img.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/block/qcow2.h"
#include "vmm/cli.h"
#include "vmm/log.h"

static const char img_help[] =
	"Usage: hutch img COMMAND [OPTIONS] ARGS\n"
	"\n"
	"Creates, inspects and converts disk images, raw or qcow2 (QEMU's format,\n"
	"versions 2 and 3).\n"
	"\n"
	"Commands:\n"
	"  create   make a new, empty image (optionally over a backing file)\n"
	"  info     show an image's format, sizes and backing file\n"
	"  check    look for leaked clusters and corruption in a qcow2 image\n"
	"  convert  copy an image into a new one, in another format or compressed\n"
	"  resize   grow an image (or shrink a raw one)\n"
	"  commit   write an overlay's changes into its backing file\n"
	"\n"
	"`hutch img COMMAND --help` explains each one, with examples.\n"
	"\n"
	"Sizes are bytes, or take a suffix K, M, G, T, P or E (powers of 1024):\n"
	"10G, 512M, 1048576.\n"
	"\n"
	"Example: a 20 GiB disk for a VM, then a throw-away overlay for a test run\n"
	"  hutch img create debian.qcow2 20G\n"
	"  hutch img create -b debian.qcow2 scratch.qcow2\n"
	"\n"
	"Exit status: 0 done, 1 the operation failed, 2 bad arguments or an\n"
	"unusable image (check has its own; see `hutch img check --help`).\n";

static const char create_help[] =
	"Usage: hutch img create [-f qcow2|raw] [-b BACKING [-F raw|qcow2]] [-c CLUSTER_SIZE]\n"
	"                        FILE [SIZE]\n"
	"\n"
	"Creates FILE, an empty image of SIZE bytes that reads as zeros. An existing\n"
	"FILE is never overwritten.\n"
	"\n"
	"Options:\n"
	"  -f FMT           qcow2 (default: grows as it is written) or raw (a sparse\n"
	"                   file of SIZE bytes)\n"
	"  -b BACKING       a qcow2 overlay over BACKING: reads of what was never\n"
	"                   written come from BACKING, which stays unchanged. A\n"
	"                   relative BACKING is relative to FILE's directory. SIZE\n"
	"                   defaults to BACKING's\n"
	"  -F FMT           BACKING's format, recorded in FILE (default: detected now)\n"
	"  -c CLUSTER_SIZE  qcow2 allocation unit, a power of two from 512 to 2M\n"
	"                   (default: 64K)\n"
	"  -h, --help       this help\n"
	"\n"
	"Examples:\n"
	"  hutch img create disk.qcow2 10G\n"
	"  hutch img create -f raw disk.img 512M\n"
	"  hutch img create -b base.qcow2 -F qcow2 overlay.qcow2\n";

static const char info_help[] =
	"Usage: hutch img info [--json] [--backing-chain] FILE\n"
	"\n"
	"Shows FILE's format, virtual size (what the guest sees), disk size (what\n"
	"the file takes on the host), cluster size, qcow2 version, backing file and\n"
	"its format, and whether it is marked dirty or corrupt.\n"
	"\n"
	"Options:\n"
	"      --json           print JSON instead (the keys qemu-img info uses)\n"
	"      --backing-chain  also show every backing file down the chain (JSON:\n"
	"                       an array, FILE first)\n"
	"  -h, --help           this help\n"
	"\n"
	"Examples:\n"
	"  hutch img info disk.qcow2\n"
	"  hutch img info --json --backing-chain overlay.qcow2 | python3 -m json.tool\n";

static const char check_help[] =
	"Usage: hutch img check [-r] FILE\n"
	"\n"
	"Recounts the references to every cluster of the qcow2 image FILE and\n"
	"compares them with its refcounts. A leak (a cluster counted but not used)\n"
	"only wastes space; a corruption (a cluster used but not counted enough,\n"
	"or metadata pointing outside the file) can lose data.\n"
	"\n"
	"Options:\n"
	"  -r, --repair  fix leaks (only leaks: corruptions need a human), then check\n"
	"                again\n"
	"  -h, --help    this help\n"
	"\n"
	"Examples:\n"
	"  hutch img check disk.qcow2\n"
	"  hutch img check -r disk.qcow2\n"
	"\n"
	"Exit status (those of qemu-img check):\n"
	"  0   no errors found (after -r: none left)\n"
	"  1   the check could not finish (an I/O error)\n"
	"  2   corruptions found, or bad arguments, or FILE cannot be opened at all\n"
	"  3   leaks found, but no corruption\n"
	"  63  FILE is raw: there is nothing to check\n";

static const char convert_help[] =
	"Usage: hutch img convert [-f FMT] [-O qcow2|raw] [-c] [-p] IN OUT\n"
	"\n"
	"Copies the disk IN (with everything its backing files supply) into a new\n"
	"image OUT, which must not exist yet. Only data is copied: regions that\n"
	"are unallocated or all zeros stay unallocated in OUT, so a sparse IN stays\n"
	"sparse and OUT has no backing file.\n"
	"\n"
	"Options:\n"
	"  -f FMT      IN's format: raw, qcow2 or auto (default: detected)\n"
	"  -O FMT      OUT's format: qcow2 (default) or raw\n"
	"  -c          compress each cluster of OUT (qcow2 only; deflate); the\n"
	"              result is smaller and still readable anywhere qcow2 is, but\n"
	"              a compressed cluster is rewritten uncompressed when written\n"
	"  -p          show the progress bar even when stderr is not a terminal\n"
	"              (it is shown by default when stderr is one)\n"
	"  -h, --help  this help\n"
	"\n"
	"Examples:\n"
	"  hutch img convert -O raw disk.qcow2 disk.img\n"
	"  hutch img convert -c overlay.qcow2 standalone-compressed.qcow2\n";

static const char resize_help[] =
	"Usage: hutch img resize [--shrink] FILE [+|-]SIZE\n"
	"\n"
	"Sets FILE's virtual size to SIZE, or grows it by +SIZE, or shrinks it by\n"
	"-SIZE. What is added reads as zeros. The guest's partitions and file\n"
	"systems do not grow with it: resize those inside the guest.\n"
	"\n"
	"Options:\n"
	"      --shrink  allow a raw image to get smaller, dropping its end for\n"
	"                good (qcow2 images only grow)\n"
	"  -h, --help    this help\n"
	"\n"
	"Examples:\n"
	"  hutch img resize disk.qcow2 +10G\n"
	"  hutch img resize disk.qcow2 40G\n"
	"  hutch img resize --shrink disk.img -1G\n";

static const char commit_help[] =
	"Usage: hutch img commit OVERLAY\n"
	"\n"
	"Writes every cluster allocated in the qcow2 image OVERLAY into its backing\n"
	"file (opened read-write in the format OVERLAY records for it), then\n"
	"flushes it. OVERLAY itself is left as it was: it still reads the same, and\n"
	"can be deleted or recreated afterwards. Nothing else may have either image\n"
	"open meanwhile.\n"
	"\n"
	"Options:\n"
	"  -h, --help  this help\n"
	"\n"
	"Example: keep what a test run changed\n"
	"  hutch img create -b base.qcow2 -F qcow2 run.qcow2\n"
	"  hutch run ... --disk run.qcow2\n"
	"  hutch img commit run.qcow2\n";

static const struct {
	const char *name;
	enum img_command cmd;
	const char *help;
} img_commands[] = {
	{ "create", IMG_CMD_CREATE, create_help }, { "info", IMG_CMD_INFO, info_help },
	{ "check", IMG_CMD_CHECK, check_help },	   { "convert", IMG_CMD_CONVERT, convert_help },
	{ "resize", IMG_CMD_RESIZE, resize_help }, { "commit", IMG_CMD_COMMIT, commit_help },
};

#define IMG_NCOMMANDS (sizeof(img_commands) / sizeof(img_commands[0]))

void img_error(const char *fmt, ...)
{
	va_list ap;

	fputs("hutch: img: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int img_parse_size(const char *s, uint64_t *bytes)
{
	return cli_parse_size_in(s, 0, bytes); /* bare numbers are bytes, as in qemu-img */
}

int img_parse_cluster_size(const char *s, unsigned *bits)
{
	uint64_t v;

	if (img_parse_size(s, &v))
		return -EINVAL;
	for (unsigned b = QCOW2_MIN_CLUSTER_BITS; b <= QCOW2_MAX_CLUSTER_BITS; b++) {
		if (v == 1ULL << b) {
			*bits = b;
			return 0;
		}
	}
	return -EINVAL;
}

void img_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	unsigned u = 0;
	double v = (double)bytes;
	char num[32];
	char *dot;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(num, sizeof(num), v < 10 ? "%.2f" : v < 100 ? "%.1f" : "%.0f", v);
	dot = strchr(num, '.');
	if (dot) {
		char *last = num + strlen(num) - 1;

		while (last > dot && *last == '0')
			*last-- = '\0';
		if (last == dot)
			*dot = '\0';
	}
	snprintf(buf, len, "%s %s", num, units[u]);
}

#define IMG_PROGRESS_WIDTH 30 /* characters of the bar */

void img_progress_format(char *buf, size_t len, uint64_t done, uint64_t total, uint64_t copied,
			 uint64_t elapsed_ns)
{
	double frac = total ? (double)done / (double)total : 1.0;
	double secs = (double)elapsed_ns / 1e9;
	char bar[IMG_PROGRESS_WIDTH + 1];
	unsigned filled;

	if (frac > 1.0)
		frac = 1.0;
	filled = (unsigned)(frac * IMG_PROGRESS_WIDTH);
	for (unsigned i = 0; i < IMG_PROGRESS_WIDTH; i++)
		bar[i] = i < filled ? '#' : ' ';
	bar[IMG_PROGRESS_WIDTH] = '\0';
	snprintf(buf, len, "\r[%s] %5.1f%% %8.1f MB/s", bar, frac * 100.0,
		 secs > 0 ? (double)copied / secs / 1e6 : 0.0);
}

#define IMG_PROGRESS_INTERVAL_NS 100000000ULL /* ten redraws a second at most */

bool img_progress_due(uint64_t last_ns, uint64_t now_ns)
{
	return now_ns >= last_ns + IMG_PROGRESS_INTERVAL_NS;
}

static uint64_t img_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void img_progress_draw(struct img_progress *p, uint64_t done, uint64_t now)
{
	char line[128];

	img_progress_format(line, sizeof(line), done, p->total, p->copied, now - p->start_ns);
	fputs(line, stderr);
	fflush(stderr);
	p->last_ns = now;
	p->drawn = true;
}

void img_progress_start(struct img_progress *p, bool enabled, uint64_t total)
{
	*p = (struct img_progress){ .enabled = enabled, .total = total };
	if (!enabled)
		return;
	p->start_ns = img_now_ns();
	img_progress_draw(p, 0, p->start_ns);
}

void img_progress_update(struct img_progress *p, uint64_t done, uint64_t copied)
{
	uint64_t now;

	if (!p->enabled)
		return;
	p->copied = copied;
	now = img_now_ns();
	if (img_progress_due(p->last_ns, now))
		img_progress_draw(p, done, now);
}

void img_progress_finish(struct img_progress *p, bool ok)
{
	if (!p->enabled)
		return;
	if (ok)
		img_progress_draw(p, p->total, img_now_ns());
	if (p->drawn)
		fputc('\n', stderr);
	p->enabled = false;
}

int img_backing_path(const char *image_path, const char *backing, char *out, size_t len)
{
	const char *slash = strrchr(image_path, '/');
	int n;

	if (backing[0] == '/' || !slash)
		n = snprintf(out, len, "%s", backing);
	else
		n = snprintf(out, len, "%.*s/%s", (int)(slash - image_path), image_path, backing);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* raw, qcow2, and with allow_auto auto. */
static int img_parse_format(const char *name, bool allow_auto, enum image_format *out)
{
	if (!strcmp(name, "raw"))
		*out = IMAGE_FORMAT_RAW;
	else if (!strcmp(name, "qcow2"))
		*out = IMAGE_FORMAT_QCOW2;
	else if (allow_auto && !strcmp(name, "auto"))
		*out = IMAGE_FORMAT_AUTO;
	else
		return -EINVAL;
	return 0;
}

/* One option of any command; the option strings make sure each reaches only its own. */
static int img_parse_option(int opt, struct img_args *a, char *err, size_t errlen)
{
	switch (opt) {
	case 'h': a->help = true; break;
	case 'f':
		if (img_parse_format(optarg, a->cmd == IMG_CMD_CONVERT, &a->fmt)) {
			log_set_err(err, errlen, "-f: '%s' is not %s", optarg,
				    a->cmd == IMG_CMD_CONVERT ? "raw, qcow2 or auto"
							      : "raw or qcow2");
			return -EINVAL;
		}
		break;
	case 'O':
		if (img_parse_format(optarg, false, &a->out_fmt)) {
			log_set_err(err, errlen, "-O: '%s' is not raw or qcow2", optarg);
			return -EINVAL;
		}
		break;
	case 'F':
		if (img_parse_format(optarg, false, &a->backing_fmt)) {
			log_set_err(err, errlen, "-F: '%s' is not raw or qcow2", optarg);
			return -EINVAL;
		}
		break;
	case 'b':
		if (!optarg[0]) {
			log_set_err(err, errlen, "-b: the backing file name is empty");
			return -EINVAL;
		}
		a->backing = optarg;
		break;
	case 'c':
		if (a->cmd == IMG_CMD_CONVERT) {
			a->compress = true;
		} else if (img_parse_cluster_size(optarg, &a->cluster_bits)) {
			log_set_err(err, errlen,
				    "-c: '%s' is not a power of two from 512 to 2M (e.g. 64K)",
				    optarg);
			return -EINVAL;
		}
		break;
	case 'p': a->progress = true; break;
	case 'r': a->repair = true; break;
	case 'j': a->json = true; break;
	case 'B': a->backing_chain = true; break;
	case 's': a->shrink = true; break;
	default: return -EINVAL;
	}
	return 0;
}

/* "-1G", "+1G", "1G": resize's SIZE. */
static int img_parse_resize_size(const char *s, struct img_args *a)
{
	a->resize_mode = IMG_RESIZE_ABSOLUTE;
	if (*s == '+' || *s == '-') {
		a->resize_mode = *s == '+' ? IMG_RESIZE_GROW : IMG_RESIZE_SHRINK;
		s++;
	}
	a->has_size = true;
	return img_parse_size(s, &a->size);
}

/* Checks the positional arguments after the options; file names are taken verbatim. */
static int img_parse_positional(struct img_args *a, int n, char **pos, char *err, size_t errlen)
{
	static const int min_args[] = {
		[IMG_CMD_CREATE] = 1,  [IMG_CMD_INFO] = 1,   [IMG_CMD_CHECK] = 1,
		[IMG_CMD_CONVERT] = 2, [IMG_CMD_RESIZE] = 2, [IMG_CMD_COMMIT] = 1
	};
	static const int max_args[] = {
		[IMG_CMD_CREATE] = 2,  [IMG_CMD_INFO] = 1,   [IMG_CMD_CHECK] = 1,
		[IMG_CMD_CONVERT] = 2, [IMG_CMD_RESIZE] = 2, [IMG_CMD_COMMIT] = 1
	};
	static const char *const what[] = {
		[IMG_CMD_CREATE] = "FILE",	    [IMG_CMD_INFO] = "FILE",
		[IMG_CMD_CHECK] = "FILE",	    [IMG_CMD_CONVERT] = "IN and OUT",
		[IMG_CMD_RESIZE] = "FILE and SIZE", [IMG_CMD_COMMIT] = "OVERLAY"
	};

	if (n < min_args[a->cmd]) {
		log_set_err(err, errlen, "%s required", what[a->cmd]);
		return -EINVAL;
	}
	if (n > max_args[a->cmd]) {
		log_set_err(err, errlen, "unexpected argument '%s'", pos[max_args[a->cmd]]);
		return -EINVAL;
	}
	for (int i = 0; i < n && i < 2; i++) {
		if (!pos[i][0] && !(a->cmd == IMG_CMD_CREATE && i == 1)) {
			log_set_err(err, errlen, "an empty file name");
			return -EINVAL;
		}
	}
	a->file = pos[0];
	if (a->cmd == IMG_CMD_CONVERT)
		a->out = pos[1];
	if (a->cmd == IMG_CMD_RESIZE && img_parse_resize_size(pos[1], a)) {
		log_set_err(err, errlen, "'%s' is not a size like 10G, +1G or -512M", pos[1]);
		return -EINVAL;
	}
	if (a->cmd == IMG_CMD_CREATE && n == 2) {
		if (img_parse_size(pos[1], &a->size)) {
			log_set_err(err, errlen, "'%s' is not a size like 10G or 512M", pos[1]);
			return -EINVAL;
		}
		a->has_size = true;
	}
	return 0;
}

/* What no single option can see: combinations. */
static int img_check_combination(struct img_args *a, char *err, size_t errlen)
{
	const char *problem = NULL;

	if (a->cmd == IMG_CMD_CREATE) {
		if (a->fmt == IMAGE_FORMAT_RAW && (a->backing || a->cluster_bits))
			problem = a->backing ? "-b needs a qcow2 image (-f qcow2)"
					     : "-c needs a qcow2 image (-f qcow2)";
		else if (a->backing_fmt != IMAGE_FORMAT_AUTO && !a->backing)
			problem = "-F needs -b";
		else if (!a->has_size && !a->backing)
			problem = "SIZE required (or -b BACKING to take its size)";
		else if (a->fmt == IMAGE_FORMAT_QCOW2 && a->size % 512)
			problem = "a qcow2 image's SIZE must be a multiple of 512";
		else if (a->fmt == IMAGE_FORMAT_QCOW2 && a->has_size && !a->size && !a->backing)
			problem = "SIZE must not be 0";
	} else if (a->cmd == IMG_CMD_CONVERT) {
		if (a->compress && a->out_fmt != IMAGE_FORMAT_QCOW2)
			problem = "-c needs qcow2 output (-O qcow2)";
	} else if (a->cmd == IMG_CMD_RESIZE) {
		if (a->resize_mode != IMG_RESIZE_ABSOLUTE && !a->size)
			problem = "+0 and -0 change nothing";
	}
	if (problem) {
		log_set_err(err, errlen, "%s", problem);
		return -EINVAL;
	}
	return 0;
}

/* resize's SIZE may be "-1G", which getopt would take for options: it is the last argument. */
static int img_take_negative_size(int *argc, char **argv)
{
	const char *last = argv[*argc - 1];

	if (*argc >= 3 && last[0] == '-' && last[1] >= '0' && last[1] <= '9') {
		(*argc)--;
		return 1;
	}
	return 0;
}

/*
 * The option getopt refused, as the user wrote it. glibc leaves optopt 0
 * for an unknown long option, and the long option's val for one given an
 * argument it does not take ("--json=1"); then last (the element getopt
 * just passed) is that long option. Otherwise a short option is to blame,
 * perhaps inside a cluster such as "-rz", where last may be another.
 */
static const char *img_bad_option(const char *last, const struct option *long_opts,
				  char shortopt[3])
{
	if (!optopt)
		return last;
	for (const struct option *o = long_opts; o->name; o++) {
		size_t n = strlen(o->name);

		if (o->val == optopt && !strncmp(last, "--", 2) && !strncmp(last + 2, o->name, n) &&
		    (last[2 + n] == '=' || !last[2 + n]))
			return last;
	}
	shortopt[0] = '-';
	shortopt[1] = (char)optopt;
	shortopt[2] = '\0';
	return shortopt;
}

int img_parse_args(int argc, char **argv, struct img_args *a, char *err, size_t errlen)
{
	static const char *const optstrings[] = {
		[IMG_CMD_CREATE] = ":hf:b:F:c:", [IMG_CMD_INFO] = ":h",	  [IMG_CMD_CHECK] = ":hr",
		[IMG_CMD_CONVERT] = ":hf:O:cp",	 [IMG_CMD_RESIZE] = ":h", [IMG_CMD_COMMIT] = ":h",
	};
	static const struct option long_opts[] = {
		{ "help", no_argument, NULL, 'h' },	     { "json", no_argument, NULL, 'j' },
		{ "backing-chain", no_argument, NULL, 'B' }, { "repair", no_argument, NULL, 'r' },
		{ "shrink", no_argument, NULL, 's' },	     { NULL, 0, NULL, 0 },
	};
	/* which long options each command takes: letters of long_opts' vals */
	static const char *const longs[] = {
		[IMG_CMD_CREATE] = "h",	 [IMG_CMD_INFO] = "hjB",  [IMG_CMD_CHECK] = "hr",
		[IMG_CMD_CONVERT] = "h", [IMG_CMD_RESIZE] = "hs", [IMG_CMD_COMMIT] = "h",
	};
	int opt, taken = 0, long_index;

	*a = (struct img_args){ .fmt = IMAGE_FORMAT_QCOW2, .out_fmt = IMAGE_FORMAT_QCOW2 };
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		a->help = true;
		return 0;
	}
	for (size_t i = 0; i < IMG_NCOMMANDS; i++) {
		if (!strcmp(argv[1], img_commands[i].name))
			a->cmd = img_commands[i].cmd;
	}
	if (a->cmd == IMG_CMD_NONE) {
		log_set_err(err, errlen, "unknown command '%s'", argv[1]);
		return -EINVAL;
	}
	if (a->cmd == IMG_CMD_CONVERT)
		a->fmt = IMAGE_FORMAT_AUTO;
	argc--;
	argv++;
	if (a->cmd == IMG_CMD_RESIZE)
		taken = img_take_negative_size(&argc, argv);
	optind = 0; /* 0, not 1: also resets glibc's position inside an option cluster */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, optstrings[a->cmd], long_opts, &long_index)) != -1) {
		if (opt == ':' || opt == '?') {
			char shortopt[3];

			log_set_err(err, errlen,
				    opt == ':' ? "%s needs an argument" : "unknown option '%s'",
				    img_bad_option(argv[optind - 1], long_opts, shortopt));
			return -EINVAL;
		}
		if (!strchr(optstrings[a->cmd], opt) && !strchr(longs[a->cmd], opt)) {
			log_set_err(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
		if (img_parse_option(opt, a, err, errlen))
			return -EINVAL;
	}
	if (a->help)
		return 0;
	if (taken)
		argc++; /* SIZE, still in place after the permuted arguments */
	if (img_parse_positional(a, argc - optind, argv + optind, err, errlen))
		return -EINVAL;
	return img_check_combination(a, err, errlen);
}

static const char *img_help_for(enum img_command cmd)
{
	for (size_t i = 0; i < IMG_NCOMMANDS; i++) {
		if (img_commands[i].cmd == cmd)
			return img_commands[i].help;
	}
	return img_help;
}

static const char *img_command_name(enum img_command cmd)
{
	for (size_t i = 0; i < IMG_NCOMMANDS; i++) {
		if (img_commands[i].cmd == cmd)
			return img_commands[i].name;
	}
	return NULL;
}

int img_main(int argc, char **argv)
{
	static int (*const run[])(const struct img_args *) = {
		[IMG_CMD_CREATE] = img_cmd_create, [IMG_CMD_INFO] = img_cmd_info,
		[IMG_CMD_CHECK] = img_cmd_check,   [IMG_CMD_CONVERT] = img_cmd_convert,
		[IMG_CMD_RESIZE] = img_cmd_resize, [IMG_CMD_COMMIT] = img_cmd_commit,
	};
	struct img_args a;
	char err[512];

	if (img_parse_args(argc, argv, &a, err, sizeof(err))) {
		const char *name = img_command_name(a.cmd);

		fprintf(stderr, "hutch: img: %s%s%s (see `hutch img%s%s --help`)\n",
			name ? name : "", name ? ": " : "", err, name ? " " : "", name ? name : "");
		return IMG_EXIT_USAGE;
	}
	if (a.help && argc < 2) {
		fputs(img_help, stderr);
		return IMG_EXIT_USAGE;
	}
	if (a.help) {
		fputs(img_help_for(a.cmd), stdout);
		return IMG_EXIT_OK;
	}
	return run[a.cmd](&a);
}

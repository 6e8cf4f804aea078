/* `hutch` command line: subcommands, options, help that teaches, errors that name the problem. */
#include "vmm/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char main_help[] =
	"hutch " HUTCH_VERSION " - a small, fast KVM hypervisor\n"
	"\n"
	"Usage:\n"
	"  hutch run --kernel PATH [OPTIONS]   boot a Linux kernel in a new VM\n"
	"  hutch --help | -h                   this help (`hutch run --help` for run's options)\n"
	"  hutch --version | -V                print the version\n"
	"\n"
	"Example:\n"
	"  hutch run --kernel bzImage --initrd initramfs.cpio.gz --mem 1G --cpus 2\n"
	"\n"
	"hutch needs read-write access to /dev/kvm.\n";

static const char run_help[] =
	"Usage: hutch run --kernel PATH [OPTIONS]\n"
	"\n"
	"Boots a Linux kernel in a new VM. The guest's serial console (COM1, ttyS0)\n"
	"is hutch's standard input and output.\n"
	"\n"
	"Options:\n"
	"  -k, --kernel PATH    kernel to boot: a bzImage, or an uncompressed ELF vmlinux\n"
	"                       with a PVH note (faster: no decompression)\n"
	"  -i, --initrd PATH    initial ramdisk (e.g. a cpio.gz initramfs)\n"
	"  -c, --cmdline STR    kernel command line (default: \"" CONFIG_DEFAULT_CMDLINE "\")\n"
	"  -m, --mem SIZE       guest RAM, e.g. 512M, 4G; a bare number is MiB (default: 512M)\n"
	"  -p, --cpus N         number of vCPUs, 1-255 (default: 1)\n"
	"      --stats          at exit, print KVM's VM exit counters to stderr\n"
	"  -h, --help           this help\n"
	"\n"
	"Console keys: Ctrl-a x quits, Ctrl-a a sends Ctrl-a, Ctrl-a h shows these keys.\n"
	"With standard input not a terminal (a pipe, /dev/null), the VM runs unattended.\n"
	"\n"
	"Exit status:\n"
	"  0  the guest powered off or rebooted, or you quit with Ctrl-a x or a signal\n"
	"  1  the VM failed: triple fault, KVM error, host error\n"
	"  2  bad arguments or an unusable kernel, initrd or other input file\n"
	"  3  the guest kernel panicked (reported through pvpanic)\n";

static enum cli_command cli_usage_error(int *exit_code, const char *fmt, const char *arg)
{
	fputs("hutch: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs(" (see `hutch run --help`)\n", stderr);
	*exit_code = 2;
	return CLI_EXIT;
}

int cli_parse_size(const char *s, uint64_t *bytes)
{
	char *end;
	unsigned long long v;
	unsigned shift = 20; /* bare numbers are MiB, as in QEMU */

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	case 't':
	case 'T':
		shift = 40;
		end++;
		break;
	case '\0': break;
	default: return -EINVAL;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end != '\0' || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*bytes = (uint64_t)v << shift;
	return 0;
}

static enum cli_command cli_parse_run_option(int opt, struct vm_config *cfg, int *exit_code)
{
	char *end;
	unsigned long n;

	switch (opt) {
	case 'k': cfg->kernel_path = optarg; break;
	case 'i': cfg->initrd_path = optarg; break;
	case 'c': cfg->cmdline = optarg; break;
	case 'm':
		if (cli_parse_size(optarg, &cfg->mem_size) || cfg->mem_size < CONFIG_MIN_MEM ||
		    cfg->mem_size > CONFIG_MAX_MEM || cfg->mem_size % (1 << 20))
			return cli_usage_error(
				exit_code, "--mem: '%s' is not a size from 64M to 1T in whole MiB",
				optarg);
		break;
	case 'p':
		errno = 0;
		n = strtoul(optarg, &end, 10);
		if (errno || *end || optarg[0] < '1' || optarg[0] > '9' || n > CONFIG_MAX_CPUS)
			return cli_usage_error(
				exit_code, "--cpus: '%s' is not a number from 1 to 255", optarg);
		cfg->ncpus = (unsigned)n;
		break;
	case 'S': cfg->print_stats = true; break;
	case 'h':
		fputs(run_help, stdout);
		*exit_code = 0;
		return CLI_EXIT;
	default:
		*exit_code = 2; /* getopt printed the problem */
		fputs("hutch: see `hutch run --help`\n", stderr);
		return CLI_EXIT;
	}
	return CLI_RUN;
}

static enum cli_command cli_parse_run(int argc, char **argv, struct vm_config *cfg, int *exit_code)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "mem", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'p' },
		{ "stats", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 0; /* 0, not 1: also resets glibc's position inside an option cluster */
	while ((opt = getopt_long(argc, argv, "k:i:c:m:p:h", opts, NULL)) != -1) {
		if (cli_parse_run_option(opt, cfg, exit_code) == CLI_EXIT)
			return CLI_EXIT;
	}
	if (optind < argc)
		return cli_usage_error(exit_code, "run: unexpected argument '%s'", argv[optind]);
	if (!cfg->kernel_path)
		return cli_usage_error(exit_code, "run: %s", "--kernel PATH is required");
	return CLI_RUN;
}

enum cli_command cli_parse(int argc, char **argv, struct vm_config *cfg, int *exit_code)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mem_size = CONFIG_DEFAULT_MEM;
	cfg->ncpus = 1;
	*exit_code = 0;

	if (argc < 2) {
		fputs(main_help, stderr);
		*exit_code = 2;
		return CLI_EXIT;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(main_help, stdout);
		return CLI_EXIT;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("hutch %s\n", HUTCH_VERSION);
		return CLI_EXIT;
	}
	if (!strcmp(argv[1], "run"))
		return cli_parse_run(argc - 1, argv + 1, cfg, exit_code);
	return cli_usage_error(exit_code, "unknown command '%s'", argv[1]);
}

/* `hutch` command line: subcommands, options, help that teaches, errors that name the problem. */
#include "vmm/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "devices/display/display.h"
#include "vmm/json.h"

static const char main_help[] =
	"hutch " HUTCH_VERSION " - a small, fast KVM hypervisor\n"
	"\n"
	"Usage:\n"
	"  hutch run --kernel PATH [OPTIONS]   boot a Linux kernel in a new VM\n"
	"  hutch ctl PATH COMMAND [ARGS]       control a running VM through its --api-sock\n"
	"                                      (`hutch ctl --help` for its commands)\n"
	"  hutch img COMMAND [ARGS]            create, inspect, convert disk images\n"
	"                                      (`hutch img --help` for its commands)\n"
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
	"  -d, --disk path=FILE[,format=raw|qcow2][,readonly=on][,serial=STR]\n"
	"                       a disk image as a virtio-blk disk (repeatable: vda,\n"
	"                       vdb, ...); locked so no other VM can write it meanwhile.\n"
	"                       Without format=, a qcow2 header is detected; an image\n"
	"                       taken for raw then may not get a qcow2 header from the\n"
	"                       guest. A qcow2 overlay's backing file opens read-only\n"
	"                       (hutch img create -b BASE OVERLAY makes one).\n"
	"                       Write ',,' for a comma inside a value\n"
	"  -n, --net "
	"user[,hostfwd=[tcp|udp]:[HOSTADDR]:PORT-[GUESTADDR]:PORT]...[,restrict=on][,mac=MAC]\n"
	"      --net tap=IFNAME[,mac=MAC]\n"
	"                       a virtio-net NIC (repeatable: eth0, eth1, ...). user: NAT\n"
	"                       without root (libslirp): DHCP gives 10.0.2.15, 10.0.2.2 is\n"
	"                       the host's loopback, hostfwd forwards a host port (on\n"
	"                       127.0.0.1 unless HOSTADDR says otherwise) to the guest,\n"
	"                       restrict=on cuts the guest off from the host. tap: an\n"
	"                       existing TAP device (created when run as root), with\n"
	"                       checksum and segmentation offloads\n"
	"      --console serial|virtio\n"
	"                       the guest console on hutch's standard input and output:\n"
	"                       ttyS0 (default), or hvc0 (virtio-console; ttyS0 still\n"
	"                       shows boot messages). virtio appends console=hvc0\n"
	"                       to the command line\n"
	"      --display sdl|none|off[,size=WxH]\n"
	"                       the guest's screen (virtio-gpu) with a keyboard and a\n"
	"                       tablet (virtio-input). sdl: a window (the default when\n"
	"                       $DISPLAY or $WAYLAND_DISPLAY is set); closing it presses\n"
	"                       the power button, closing it again quits; Ctrl-Alt-G\n"
	"                       grabs and releases the keyboard. none: no window, but\n"
	"                       screendump and send-key work (the default otherwise).\n"
	"                       off: no GPU or input devices at all. size: the mode\n"
	"                       first offered (default 1280x800); the window's size\n"
	"                       follows later resizes\n"
	"      --name NAME      the VM's name, shown in the window title (default: hutch)\n"
	"      --stats          at exit, print KVM's VM exit counters to stderr\n"
	"      --api-sock PATH  serve the control socket on PATH (a Unix socket, mode\n"
	"                       0600) for `hutch ctl PATH COMMAND` or your own client;\n"
	"                       see below\n"
	"  -h, --help           this help\n"
	"\n"
	"Example: a disk, a network with SSH forwarded to host port 2222, hvc0 as the\n"
	"console:\n"
	"  hutch run -k vmlinuz -i initrd.img -c \"root=/dev/vda rw\" --mem 2G --cpus 2 \\\n"
	"      --disk path=debian.img --net user,hostfwd=tcp::2222-:22 --console virtio\n"
	"\n"
	"Control socket: each request is one line of JSON, {\"command\":\"NAME\"} or\n"
	"{\"command\":\"NAME\",\"arguments\":{...}}, and gets one line back:\n"
	"{\"return\":{...}} or {\"error\":{\"message\":\"...\"}}. Commands: status, pause,\n"
	"resume, quit, powerdown, screendump, send-key, help. Requests are at most 64 KiB; up to 8 "
	"clients.\n"
	"A stale socket file left by a killed hutch is replaced.\n"
	"\n"
	"Console keys: Ctrl-a x quits, Ctrl-a a sends Ctrl-a, Ctrl-a h shows these keys.\n"
	"With standard input not a terminal (a pipe, /dev/null), the VM runs unattended.\n"
	"\n"
	"Exit status:\n"
	"  0  the guest powered off or rebooted, or you quit with Ctrl-a x or a signal\n"
	"  1  the VM failed: triple fault, KVM error, host error\n"
	"  2  bad arguments or an unusable kernel, initrd or other input file\n"
	"  3  the guest kernel panicked (reported through pvpanic)\n";

static const char ctl_help[] =
	"Usage: hutch ctl [--json] PATH COMMAND [KEY=VALUE | KEY:=JSON]...\n"
	"\n"
	"Sends COMMAND to the control socket PATH of a VM started with\n"
	"`hutch run --api-sock PATH`, and prints the answer. KEY=VALUE passes the\n"
	"argument KEY as a string, KEY:=JSON as any JSON value (a number, true).\n"
	"\n"
	"Commands:\n"
	"  status      print the VM's state: \"running, 2 vCPUs, 512 MiB, up 12.3 s\"\n"
	"  pause       stop the vCPUs until resume\n"
	"  resume      let paused vCPUs run again\n"
	"  quit        stop the VM at once, as Ctrl-a x does\n"
	"  powerdown   ask the guest to shut down (ACPI power button)\n"
	"  screendump FILE.png\n"
	"              write the guest's screen as a PNG (file=PATH)\n"
	"  send-key COMBO\n"
	"              press keys together and release them: ctrl-alt-f2, shift-a,\n"
	"              ret (keys=COMBO; QEMU's key names); text=STRING types STRING\n"
	"  help        list the commands this VM's hutch knows\n"
	"\n"
	"Options:\n"
	"      --json   print the raw JSON response line instead\n"
	"  -h, --help   this help\n"
	"\n"
	"Example:\n"
	"  hutch run --kernel bzImage --api-sock /tmp/vm.sock &\n"
	"  hutch ctl /tmp/vm.sock status\n"
	"  hutch ctl /tmp/vm.sock screendump screen.png\n"
	"  hutch ctl /tmp/vm.sock send-key text=$'root\\n'\n"
	"  hutch ctl /tmp/vm.sock powerdown\n"
	"\n"
	"Exit status:\n"
	"  0  done (commands other than status and help print nothing)\n"
	"  1  the VM answered with an error, printed as \"hutch: ctl: MESSAGE\"\n"
	"  2  bad arguments, or no answer: cannot connect, connection lost\n";

static enum cli_command cli_usage_error_for(const char *sub, int *exit_code, const char *fmt,
					    const char *arg)
{
	fputs("hutch: ", stderr);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see `hutch %s --help`)\n", sub);
	*exit_code = 2;
	return CLI_EXIT;
}

static enum cli_command cli_usage_error(int *exit_code, const char *fmt, const char *arg)
{
	return cli_usage_error_for("run", exit_code, fmt, arg);
}

/* A Unix socket path must fit sun_path with its terminator. */
static bool cli_socket_path_ok(const char *path)
{
	return path[0] && strlen(path) < sizeof(((struct sockaddr_un *)0)->sun_path);
}

int cli_parse_size_in(const char *s, unsigned bare_shift, uint64_t *bytes)
{
	static const char suffixes[] = "KMGTPE"; /* powers of 1024 */
	unsigned long long v;
	unsigned shift = bare_shift;
	const char *p;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	/* upper case; a space would become NUL, which strchr() finds */
	if ((*end & ~0x20) && (p = strchr(suffixes, *end & ~0x20))) {
		shift = 10 * (unsigned)(p - suffixes + 1);
		end++;
		if (end[0] == 'i' && end[1] == 'B')
			end += 2;
		else if (end[0] == 'B')
			end++;
	}
	if (*end != '\0' || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*bytes = (uint64_t)v << shift;
	return 0;
}

int cli_parse_size(const char *s, uint64_t *bytes)
{
	return cli_parse_size_in(s, 20, bytes); /* bare numbers are MiB, as in QEMU */
}

/* Splits off the next key=value item of a comma list in place; ",," is a literal comma. */
static char *cli_next_item(char **cursor)
{
	char *item = *cursor, *r = item, *w = item;

	if (!item)
		return NULL;
	for (; *r; r++, w++) {
		if (*r == ',' && r[1] == ',') {
			r++;
		} else if (*r == ',') {
			*w = '\0';
			*cursor = r + 1;
			return item;
		}
		*w = *r;
	}
	*w = '\0';
	*cursor = NULL;
	return item;
}

static bool cli_parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
		*out = false;
	else
		return false;
	return true;
}

/* --disk path=FILE[,readonly=on][,serial=STR]; a bare first item is the path. */
static enum cli_command cli_parse_disk(char *arg, struct vm_config *cfg, int *exit_code)
{
	struct disk_config *d;
	char *item;

	if (cfg->ndisks == CONFIG_MAX_DISKS)
		return cli_usage_error(exit_code, "--disk: at most %s disks", "16");
	d = &cfg->disks[cfg->ndisks];
	*d = (struct disk_config){ 0 };
	for (bool first = true; (item = cli_next_item(&arg)); first = false) {
		char *eq = strchr(item, '=');

		if (!eq && first) {
			d->path = item;
			continue;
		}
		if (!eq)
			return cli_usage_error(exit_code, "--disk: '%s' is not key=value", item);
		*eq = '\0';
		if (!strcmp(item, "path")) {
			d->path = eq + 1;
		} else if (!strcmp(item, "readonly")) {
			if (!cli_parse_bool(eq + 1, &d->readonly))
				return cli_usage_error(exit_code,
						       "--disk: readonly='%s' is not on or off",
						       eq + 1);
		} else if (!strcmp(item, "serial")) {
			if (strlen(eq + 1) > 20)
				return cli_usage_error(
					exit_code, "--disk: serial '%s' is longer than 20 bytes",
					eq + 1);
			d->serial = eq + 1;
		} else if (!strcmp(item, "format")) {
			if (!strcmp(eq + 1, "raw"))
				d->format = DISK_FORMAT_RAW;
			else if (!strcmp(eq + 1, "qcow2"))
				d->format = DISK_FORMAT_QCOW2;
			else
				return cli_usage_error(exit_code,
						       "--disk: format='%s' is not raw or qcow2",
						       eq + 1);
		} else {
			return cli_usage_error(
				exit_code,
				"--disk: unknown key '%s' (path, format, readonly, serial)", item);
		}
	}
	if (!d->path || !*d->path)
		return cli_usage_error(exit_code, "--disk: %s", "path=FILE is required");
	cfg->ndisks++;
	return CLI_RUN;
}

static bool cli_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char end;

	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
				      &v[4], &v[5], &end) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return !(mac[0] & 1); /* a multicast address cannot be a NIC's */
}

static enum cli_command cli_parse_nic_item(struct nic_config *n, char *item, char *value,
					   int *exit_code)
{
	if (!strcmp(item, "hostfwd") && !n->tap) {
		if (n->nhostfwd == CONFIG_MAX_HOSTFWD)
			return cli_usage_error(exit_code, "--net: at most %s hostfwd rules", "16");
		n->hostfwd[n->nhostfwd++] = value;
	} else if (!strcmp(item, "restrict") && !n->tap) {
		if (!cli_parse_bool(value, &n->restrict_host))
			return cli_usage_error(exit_code, "--net: restrict='%s' is not on or off",
					       value);
	} else if (!strcmp(item, "mac")) {
		if (!cli_parse_mac(value, n->mac))
			return cli_usage_error(
				exit_code,
				"--net: mac='%s' is not a unicast MAC like 52:54:00:12:34:56",
				value);
		n->has_mac = true;
	} else {
		return cli_usage_error(
			exit_code,
			n->tap ? "--net tap: unknown key '%s' (mac)"
			       : "--net user: unknown key '%s' (hostfwd, restrict, mac)",
			item);
	}
	return CLI_RUN;
}

/* --net user[,...] or --net tap=IFNAME[,...] */
static enum cli_command cli_parse_net(char *arg, struct vm_config *cfg, int *exit_code)
{
	struct nic_config *n;
	char *item = cli_next_item(&arg);

	if (cfg->nnics == CONFIG_MAX_NICS)
		return cli_usage_error(exit_code, "--net: at most %s NICs", "8");
	n = &cfg->nics[cfg->nnics];
	*n = (struct nic_config){ 0 };
	if (item && !strncmp(item, "tap=", 4) && item[4]) {
		n->tap = true;
		n->ifname = item + 4;
	} else if (!item || strcmp(item, "user")) {
		return cli_usage_error(exit_code, "--net: '%s' is not user or tap=IFNAME",
				       item ? item : "");
	}
	while ((item = cli_next_item(&arg))) {
		char *eq = strchr(item, '=');

		if (!eq)
			return cli_usage_error(exit_code, "--net: '%s' is not key=value", item);
		*eq = '\0';
		if (cli_parse_nic_item(n, item, eq + 1, exit_code) == CLI_EXIT)
			return CLI_EXIT;
	}
	cfg->nnics++;
	return CLI_RUN;
}

/* --display sdl|none|off[,size=WxH] */
static enum cli_command cli_parse_display(char *arg, struct vm_config *cfg, int *exit_code)
{
	char *cursor = arg, *kind = cli_next_item(&cursor), *item;

	if (!strcmp(kind, "sdl"))
		cfg->display = DISPLAY_SDL;
	else if (!strcmp(kind, "none"))
		cfg->display = DISPLAY_NONE;
	else if (!strcmp(kind, "off"))
		cfg->display = DISPLAY_OFF;
	else
		return cli_usage_error(exit_code, "--display: '%s' is not sdl, none or off", kind);
	while ((item = cli_next_item(&cursor))) {
		unsigned w, h;
		int end = 0;

		if (strncmp(item, "size=", 5) ||
		    sscanf(item + 5, "%5u%*[x]%5u%n", &w, &h, &end) != 2 || item[5 + end] ||
		    w < DISPLAY_MIN_WIDTH || h < DISPLAY_MIN_HEIGHT || w > DISPLAY_MAX_WIDTH ||
		    h > DISPLAY_MAX_HEIGHT)
			return cli_usage_error(exit_code,
					       "--display: '%s' is not size=WxH from 320x200 to "
					       "4096x4096",
					       item);
		cfg->display_width = w;
		cfg->display_height = h;
	}
	return CLI_RUN;
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
	case 'D': return cli_parse_display(optarg, cfg, exit_code);
	case 'N':
		if (!optarg[0] || strlen(optarg) > 64)
			return cli_usage_error(exit_code, "--name: '%s' is empty or over 64 bytes",
					       optarg);
		cfg->name = optarg;
		break;
	case 'A':
		if (!cli_socket_path_ok(optarg))
			return cli_usage_error(exit_code,
					       "--api-sock: '%s' is empty or longer than 107 bytes",
					       optarg);
		cfg->api_sock_path = optarg;
		break;
	case 'd': return cli_parse_disk(optarg, cfg, exit_code);
	case 'n': return cli_parse_net(optarg, cfg, exit_code);
	case 'C':
		if (!strcmp(optarg, "serial"))
			cfg->console = CONSOLE_SERIAL;
		else if (!strcmp(optarg, "virtio"))
			cfg->console = CONSOLE_VIRTIO;
		else
			return cli_usage_error(exit_code, "--console: '%s' is not serial or virtio",
					       optarg);
		break;
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
		{ "disk", required_argument, NULL, 'd' },
		{ "net", required_argument, NULL, 'n' },
		{ "console", required_argument, NULL, 'C' },
		{ "api-sock", required_argument, NULL, 'A' },
		{ "display", required_argument, NULL, 'D' },
		{ "name", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 0; /* 0, not 1: also resets glibc's position inside an option cluster */
	while ((opt = getopt_long(argc, argv, "k:i:c:m:p:d:n:h", opts, NULL)) != -1) {
		if (cli_parse_run_option(opt, cfg, exit_code) == CLI_EXIT)
			return CLI_EXIT;
	}
	if (optind < argc)
		return cli_usage_error(exit_code, "run: unexpected argument '%s'", argv[optind]);
	if (!cfg->kernel_path)
		return cli_usage_error(exit_code, "run: %s", "--kernel PATH is required");
	return CLI_RUN;
}

/* The length of KEY in KEY=VALUE or KEY:=JSON; 0 for neither. */
size_t cli_ctl_key_len(const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : 0;

	return len && arg[len - 1] == ':' ? len - 1 : len;
}

/* KEY=VALUE or KEY:=JSON, KEY not empty and not given before. */
static enum cli_command cli_check_ctl_arg(char *const *args, unsigned i, int *exit_code)
{
	const char *arg = args[i], *eq = strchr(arg, '=');
	size_t keylen = cli_ctl_key_len(arg);
	struct json_doc doc;

	if (keylen && arg[keylen] == ':') {
		if (json_parse(eq + 1, strlen(eq + 1), &doc, NULL))
			return cli_usage_error_for("ctl", exit_code,
						   "ctl: '%s' is not KEY:=JSON with valid JSON",
						   arg);
		json_free(&doc);
	}
	if (!keylen)
		return cli_usage_error_for("ctl", exit_code,
					   "ctl: '%s' is not KEY=VALUE or KEY:=JSON", arg);
	for (unsigned j = 0; j < i; j++) {
		if (cli_ctl_key_len(args[j]) == keylen && !strncmp(args[j], arg, keylen))
			return cli_usage_error_for("ctl", exit_code, "ctl: '%s' repeats its key",
						   arg);
	}
	return CLI_RUN;
}

/* `screendump FILE` and `send-key COMBO`: one bare argument names the command's main one. */
static void cli_ctl_positional(struct ctl_config *ctl)
{
	static const struct {
		const char *command, *key;
	} positional[] = { { "screendump", "file" }, { "send-key", "keys" } };

	if (ctl->nargs != 1 || strchr(ctl->args[0], '='))
		return;
	for (size_t i = 0; i < sizeof(positional) / sizeof(positional[0]); i++) {
		if (!strcmp(ctl->command, positional[i].command)) {
			ctl->pos_key = positional[i].key;
			ctl->pos_value = ctl->args[0];
			ctl->nargs = 0;
		}
	}
}

static enum cli_command cli_parse_ctl(int argc, char **argv, struct vm_config *cfg, int *exit_code)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_config *ctl = &cfg->ctl;
	int opt;

	optind = 0; /* as in cli_parse_run */
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'j') {
			ctl->json = true;
		} else if (opt == 'h') {
			fputs(ctl_help, stdout);
			*exit_code = 0;
			return CLI_EXIT;
		} else {
			*exit_code = 2;
			fputs("hutch: see `hutch ctl --help`\n", stderr);
			return CLI_EXIT;
		}
	}
	if (argc - optind < 2)
		return cli_usage_error_for("ctl", exit_code, "ctl: %s",
					   "PATH and COMMAND are required");
	ctl->sock_path = argv[optind];
	ctl->command = argv[optind + 1];
	ctl->args = argv + optind + 2;
	ctl->nargs = (unsigned)(argc - optind - 2);
	if (!cli_socket_path_ok(ctl->sock_path))
		return cli_usage_error_for("ctl", exit_code,
					   "ctl: '%s' is empty or longer than 107 bytes",
					   ctl->sock_path);
	if (!ctl->command[0])
		return cli_usage_error_for("ctl", exit_code, "ctl: %s", "COMMAND is empty");
	cli_ctl_positional(ctl);
	for (unsigned i = 0; i < ctl->nargs; i++) {
		if (cli_check_ctl_arg(ctl->args, i, exit_code) == CLI_EXIT)
			return CLI_EXIT;
	}
	return CLI_CTL;
}

enum cli_command cli_parse(int argc, char **argv, struct vm_config *cfg, int *exit_code)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mem_size = CONFIG_DEFAULT_MEM;
	cfg->ncpus = 1;
	cfg->display_width = DISPLAY_DEFAULT_WIDTH;
	cfg->display_height = DISPLAY_DEFAULT_HEIGHT;
	cfg->name = "hutch";
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
	if (!strcmp(argv[1], "ctl"))
		return cli_parse_ctl(argc - 1, argv + 1, cfg, exit_code);
	return cli_usage_error(exit_code, "unknown command '%s'", argv[1]);
}

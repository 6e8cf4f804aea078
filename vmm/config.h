/* What the user asked for: the result of parsing the command line. */
#ifndef HUTCH_VMM_CONFIG_H
#define HUTCH_VMM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

enum disk_format {
	DISK_FORMAT_AUTO, /* qcow2 when the header says so, else raw (guarded) */
	DISK_FORMAT_RAW,
	DISK_FORMAT_QCOW2,
};

/* --disk path=FILE[,format=raw|qcow2][,readonly=on][,serial=STR] */
struct disk_config {
	const char *path;
	enum disk_format format;
	bool readonly;
	const char *serial; /* NULL: none */
};

enum console_kind {
	CONSOLE_SERIAL, /* ttyS0 on stdio */
	CONSOLE_VIRTIO, /* hvc0 on stdio; ttyS0 still shows early boot messages */
};

/* --display sdl|none|off[,size=WxH] */
enum display_kind {
	DISPLAY_AUTO, /* sdl when a graphical session is there, else none */
	DISPLAY_SDL,  /* a window: virtio-gpu's framebuffer, keyboard and tablet */
	DISPLAY_NONE, /* headless: the framebuffer and input devices exist for the control socket */
	DISPLAY_OFF,  /* no GPU and no input devices */
};

#define CONFIG_MAX_DISKS   16
#define CONFIG_MAX_NICS	   8
#define CONFIG_MAX_HOSTFWD 16

/* --net user[,hostfwd=SPEC]...[,restrict=on][,mac=MAC] | --net tap=IFNAME[,mac=MAC] */
struct nic_config {
	bool tap;
	const char *ifname;			 /* tap */
	const char *hostfwd[CONFIG_MAX_HOSTFWD]; /* user: unparsed specs */
	unsigned nhostfwd;
	bool restrict_host; /* user: the guest may not reach the host */
	uint8_t mac[6];
	bool has_mac;
};

/* hutch ctl [--json] PATH COMMAND [KEY=VALUE | KEY:=JSON]... */
struct ctl_config {
	const char *sock_path;
	const char *command;
	char *const *args; /* nargs KEY=VALUE (a string) or KEY:=JSON (any value) */
	unsigned nargs;
	bool json; /* --json: print the raw response line */
	/* a bare argument after a command that takes one (screendump FILE, send-key COMBO) */
	const char *pos_key;
	const char *pos_value;
};

struct vm_config {
	const char *kernel_path;
	const char *initrd_path; /* NULL: none */
	const char *cmdline;	 /* NULL: the default */
	uint64_t mem_size;	 /* bytes */
	unsigned ncpus;
	bool print_stats; /* --stats: VM exit counters at exit */
	struct disk_config disks[CONFIG_MAX_DISKS];
	unsigned ndisks;
	struct nic_config nics[CONFIG_MAX_NICS];
	unsigned nnics;
	enum console_kind console;
	enum display_kind display;
	uint32_t display_width, display_height; /* the mode first offered to the guest */
	const char *name;			/* --name: the window title */
	const char *api_sock_path;		/* --api-sock: NULL for none */
	struct ctl_config ctl;			/* `hutch ctl` (CLI_CTL) */
};

#define CONFIG_DEFAULT_MEM     (512ULL << 20)
#define CONFIG_DEFAULT_CMDLINE "console=ttyS0"
#define CONFIG_MAX_CPUS	       255 /* xAPIC IDs in the MADT */
#define CONFIG_MIN_MEM	       (64ULL << 20)
#define CONFIG_MAX_MEM	       (1ULL << 40)

#endif

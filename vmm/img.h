/* `hutch img`: create, inspect, check, convert, resize and commit disk images (raw, qcow2). */
#ifndef HUTCH_VMM_IMG_H
#define HUTCH_VMM_IMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/block/image.h"

/*
 * Exit codes. check reuses 2 and adds 3 the way qemu-img check does, so that
 * scripts written for one work with the other.
 */
enum img_exit {
	IMG_EXIT_OK = 0,
	IMG_EXIT_FAIL = 1,	/* the operation failed (I/O error), or check could not finish */
	IMG_EXIT_USAGE = 2,	/* bad arguments or an unusable input; check: corruptions */
	IMG_EXIT_LEAKS = 3,	/* check: leaked clusters, but no corruption */
	IMG_EXIT_NO_CHECK = 63, /* check: the format has no metadata to check (raw) */
};

enum img_command {
	IMG_CMD_NONE, /* `hutch img` alone, or `hutch img --help` */
	IMG_CMD_CREATE,
	IMG_CMD_INFO,
	IMG_CMD_CHECK,
	IMG_CMD_CONVERT,
	IMG_CMD_RESIZE,
	IMG_CMD_COMMIT,
};

enum img_resize_mode {
	IMG_RESIZE_ABSOLUTE, /* SIZE */
	IMG_RESIZE_GROW,     /* +SIZE */
	IMG_RESIZE_SHRINK,   /* -SIZE */
};

/* What one `hutch img COMMAND ...` line asks for; strings point into argv. */
struct img_args {
	enum img_command cmd;
	bool help;		   /* --help: print cmd's help (the overview for IMG_CMD_NONE) */
	const char *file;	   /* create, info, check, resize, commit: FILE; convert: IN */
	const char *out;	   /* convert: OUT */
	enum image_format fmt;	   /* create: -f (default qcow2); convert: -f IN's (default auto) */
	enum image_format out_fmt; /* convert: -O (default qcow2) */
	const char *backing;	   /* create: -b */
	enum image_format backing_fmt; /* create: -F (auto: detected when created) */
	uint64_t size;		       /* create, resize: SIZE in bytes */
	bool has_size;
	unsigned cluster_bits; /* create: -c; 0 for the default */
	enum img_resize_mode resize_mode;
	bool json, backing_chain; /* info */
	bool repair;		  /* check -r */
	bool compress, progress;  /* convert -c, -p */
	bool shrink;		  /* resize --shrink */
};

/*
 * Parses argv (argv[0] is "img", argv[1] the command) into a. Pure: prints
 * nothing. 0, or -EINVAL with one line (no "hutch: img: " prefix) in err.
 */
int img_parse_args(int argc, char **argv, struct img_args *a, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * A size in bytes as qemu-img takes it: a bare number is bytes; a suffix K,
 * M, G, T, P or E (either case, optionally followed by "iB" or "B") is a
 * power of 1024. 0, or -EINVAL for anything else or past UINT64_MAX.
 */
int img_parse_size(const char *s, uint64_t *bytes) __attribute__((warn_unused_result));

/* "64K", "2M": a power of two from 512 bytes to 2 MiB, as log2 in *bits. 0 or -EINVAL. */
int img_parse_cluster_size(const char *s, unsigned *bits) __attribute__((warn_unused_result));

/* "0 B", "512 B", "1.5 KiB", "10 GiB", "123 MiB": three significant digits at most. */
void img_format_size(uint64_t bytes, char *buf, size_t len);

/*
 * The progress line: "\r[#####     ]  45.2%  123.4 MB/s" (no newline) at
 * done of total bytes, having copied bytes of data (what was read: holes
 * skipped are not, so the rate is the disk's, not the virtual size's) in
 * elapsed_ns nanoseconds. total 0 reads as 100%.
 */
void img_progress_format(char *buf, size_t len, uint64_t done, uint64_t total, uint64_t copied,
			 uint64_t elapsed_ns);

/* Whether a redraw is due at now_ns after one at last_ns: at most ten a second. */
bool img_progress_due(uint64_t last_ns, uint64_t now_ns);

/* A progress bar on stderr; all no-ops unless enabled. */
struct img_progress {
	bool enabled;
	uint64_t total, copied;
	uint64_t start_ns, last_ns;
	bool drawn;
};

void img_progress_start(struct img_progress *p, bool enabled, uint64_t total);
void img_progress_update(struct img_progress *p, uint64_t done, uint64_t copied);
/* Draws 100% (when anything was drawn or ok) and ends the line. */
void img_progress_finish(struct img_progress *p, bool ok);

/* `hutch img ...` (argv[0] is "img"): runs it and returns the exit code. */
int img_main(int argc, char **argv);

/* The commands, for img_main(): each prints its own messages and returns an exit code. */
int img_cmd_create(const struct img_args *a);
int img_cmd_info(const struct img_args *a);
int img_cmd_check(const struct img_args *a);
int img_cmd_resize(const struct img_args *a);
int img_cmd_convert(const struct img_args *a);
int img_cmd_commit(const struct img_args *a);

/* Helpers the commands share (img_cmd.c). */
/* image_open(), or one line "hutch: img: PATH: why" and -1. */
int img_open(struct image *img, const char *path, enum image_format fmt, bool readonly)
	__attribute__((warn_unused_result));
bool img_all_zero(const uint8_t *buf, size_t len);
/* image_preadv() and image_pwritev() of one buffer: 0 or -errno. */
int img_read(struct image *img, void *buf, size_t len, uint64_t offset);
int img_write(struct image *img, const void *buf, size_t len, uint64_t offset);
uint64_t img_round_up(uint64_t v, uint64_t align);

/* One line "hutch: img: " + message on stderr. */
void img_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The path of a backing file as the image at image_path records it:
 * relative names are relative to that image's directory, as QEMU reads
 * them. 0, or -ENAMETOOLONG.
 */
int img_backing_path(const char *image_path, const char *backing, char *out, size_t len);

#endif

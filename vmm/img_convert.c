/* `hutch img convert`: copying one image into a new one, skipping what reads as zeros. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "devices/block/image.h"
#include "devices/block/qcow2.h"
#include "vmm/img.h"

#define IMG_CHUNK    (2u << 20) /* bytes read at once: a multiple of every cluster size */
#define IMG_RAW_UNIT (4u << 10) /* raw output: holes are left in units of this (a page) */

struct img_copy {
	struct image *in, *out;
	uint8_t *buf;	  /* IMG_CHUNK bytes */
	uint64_t unit;	  /* OUT's cluster size (raw: IMG_RAW_UNIT): zeros are skipped per unit */
	bool compress;	  /* OUT is qcow2: whole units go through qcow2_write_compressed */
	bool everything;  /* IN has a backing file: unallocated does not mean zero */
	const char *what; /* "IN" for errors */
};

/*
 * Writes buf[0..len), IN's bytes at off, to OUT unit by unit, leaving out
 * all-zero units (OUT is new: they read as zeros already) and writing runs
 * of non-zero units at once.
 */
static int img_copy_chunk(struct img_copy *c, uint64_t off, size_t len)
{
	size_t run = 0, run_len = 0;

	for (size_t pos = 0; pos < len; pos += c->unit) {
		size_t n = len - pos < c->unit ? len - pos : c->unit;
		bool zero = img_all_zero(c->buf + pos, n);
		int r = 0;

		if (!zero && c->compress && n == c->unit) {
			r = qcow2_write_compressed(c->out->qcow2, off + pos, c->buf + pos);
		} else if (!zero) {
			if (!run_len)
				run = pos;
			run_len += n;
			continue;
		}
		if (!r && run_len)
			r = img_write(c->out, c->buf + run, run_len, off + run);
		run_len = 0;
		if (r)
			return r;
	}
	return run_len ? img_write(c->out, c->buf + run, run_len, off + run) : 0;
}

/* The copy loop: 0, or -errno with *what set to the side that failed. */
static int img_copy(struct img_copy *c, struct img_progress *progress, const char **failed)
{
	uint64_t size = c->in->size, off = 0, copied = 0, pnum;
	int r;

	while (off < size) {
		uint64_t len = size - off < IMG_CHUNK ? size - off : IMG_CHUNK;

		img_progress_update(progress, off, copied);
		if (!c->everything) {
			r = image_block_status(c->in, off, size - off, &pnum);
			if (r < 0 || !pnum) {
				*failed = "in";
				return r < 0 ? r : -EIO;
			}
			if (r == 0) {
				uint64_t next = (off + pnum) / c->unit * c->unit;

				if (next > off) {
					off = next;
					continue;
				}
			} else if (img_round_up(off + pnum, c->unit) - off < len) {
				len = img_round_up(off + pnum, c->unit) - off;
			}
		}
		if (len > size - off)
			len = size - off;
		r = img_read(c->in, c->buf, (size_t)len, off);
		if (r) {
			*failed = "in";
			return r;
		}
		copied += len;
		r = img_copy_chunk(c, off, (size_t)len);
		if (r) {
			*failed = "out";
			return r;
		}
		off += len;
	}
	progress->copied = copied; /* for the last redraw */
	return 0;
}

/* Creates OUT, new, for IN's size; one error line and an exit code otherwise. */
static int img_convert_create(const struct img_args *a, uint64_t size)
{
	char err[512];
	struct stat st;
	int fd, r;

	if (lstat(a->out, &st) == 0) {
		img_error("%s: exists (remove it first to replace it)", a->out);
		return IMG_EXIT_USAGE;
	}
	if (a->out_fmt == IMAGE_FORMAT_QCOW2) {
		r = qcow2_create(a->out, img_round_up(size, 512), QCOW2_DEFAULT_CLUSTER_BITS, NULL,
				 NULL, err, sizeof(err));
		if (r) {
			img_error("%s: %s", a->out, err);
			return IMG_EXIT_FAIL;
		}
		return IMG_EXIT_OK;
	}
	fd = open(a->out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		img_error("%s: %s", a->out, strerror(errno));
		return IMG_EXIT_FAIL;
	}
	r = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (r) {
		img_error("%s: %s", a->out, strerror(-r));
		unlink(a->out);
		return IMG_EXIT_FAIL;
	}
	return IMG_EXIT_OK;
}

static int img_convert_open(const struct img_args *a, struct image *in, struct image *out,
			    struct img_copy *c)
{
	struct qcow2_info info;
	int ret;

	if (img_open(in, a->file, a->fmt, true))
		return IMG_EXIT_USAGE;
	if (in->size > INT64_MAX) {
		img_error("%s: too large", a->file);
		image_close(in);
		return IMG_EXIT_USAGE;
	}
	ret = img_convert_create(a, in->size);
	if (ret) {
		image_close(in);
		return ret;
	}
	if (img_open(out, a->out, a->out_fmt, false)) {
		image_close(in);
		unlink(a->out);
		return IMG_EXIT_FAIL;
	}
	*c = (struct img_copy){ .in = in, .out = out, .unit = IMG_RAW_UNIT };
	if (out->format == IMAGE_FORMAT_QCOW2) {
		qcow2_get_info(out->qcow2, &info);
		c->unit = 1ULL << info.cluster_bits;
		c->compress = a->compress;
	}
	if (in->format == IMAGE_FORMAT_QCOW2) {
		qcow2_get_info(in->qcow2, &info);
		c->everything = info.backing_file[0] != '\0';
	}
	return IMG_EXIT_OK;
}

int img_cmd_convert(const struct img_args *a)
{
	struct img_progress progress;
	struct image in, out;
	struct img_copy c;
	const char *failed = "in";
	int ret, r;

	ret = img_convert_open(a, &in, &out, &c);
	if (ret)
		return ret;
	c.buf = malloc(IMG_CHUNK);
	if (!c.buf) {
		r = -ENOMEM;
		goto done;
	}
	img_progress_start(&progress, a->progress || isatty(STDERR_FILENO), in.size);
	r = img_copy(&c, &progress, &failed);
	if (!r) {
		failed = "out";
		r = image_flush(&out);
	}
	img_progress_finish(&progress, !r);
done:
	free(c.buf);
	image_close(&out);
	image_close(&in);
	if (r) {
		img_error("%s: %s", strcmp(failed, "in") ? a->out : a->file, strerror(-r));
		unlink(a->out); /* ours, and half written */
		return IMG_EXIT_FAIL;
	}
	return IMG_EXIT_OK;
}

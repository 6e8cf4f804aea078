/* `hutch img commit`: writing what an overlay holds into its backing file. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/block/image.h"
#include "devices/block/qcow2.h"
#include "vmm/img.h"

#define IMG_COMMIT_BATCH  (32u << 20) /* bytes of data carried per reopen (img_commit_batch) */
#define IMG_COMMIT_SCAN	  (2u << 20)  /* bytes read at once looking for zeros */
#define IMG_COMMIT_PIECES 4096	      /* pieces carried per reopen */

/* A run of the overlay: allocated in it (data), or not (from the backing file, or zeros). */
struct img_extent {
	uint64_t off, len;
	bool data;
};

struct img_extents {
	struct img_extent *v;
	size_t n, cap;
};

/* What one batch writes into the backing file: data from buf, or zeros. */
struct img_piece {
	uint64_t off, len;
	uint64_t buf; /* data: where in img_commit.buf */
	bool zero;
};

struct img_commit {
	const struct img_args *a;
	const char *backing;
	enum image_format backing_fmt;
	bool backing_has_backing; /* then its unallocated clusters need not read as zeros */
	uint64_t cluster;	  /* the overlay's cluster size: zeros are found per cluster */
	struct img_extents e;
	size_t next;   /* extents before v[next] are carried ... */
	uint64_t done; /* ... and this many bytes of v[next] */
	uint8_t *buf;  /* IMG_COMMIT_BATCH bytes */
	uint8_t *scan; /* IMG_COMMIT_SCAN bytes */
	struct img_piece *pieces;
	unsigned npieces;
	uint64_t data_bytes, zero_bytes; /* written so far */
};

static int img_extents_add(struct img_extents *e, uint64_t off, uint64_t len, bool data)
{
	struct img_extent *last = e->n ? &e->v[e->n - 1] : NULL;

	if (last && last->data == data && last->off + last->len == off) {
		last->len += len;
		return 0;
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 64;
		struct img_extent *v = realloc(e->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n++] = (struct img_extent){ off, len, data };
	return 0;
}

/* The overlay's allocation map; -errno. */
static int img_commit_map(struct image *overlay, struct img_extents *e)
{
	uint64_t off = 0, pnum;

	while (off < overlay->size) {
		int r = image_block_status(overlay, off, overlay->size - off, &pnum);

		if (r < 0)
			return r;
		if (!pnum)
			return -EIO;
		r = img_extents_add(e, off, pnum, r == 1);
		if (r)
			return r;
		off += pnum;
	}
	return 0;
}

static bool img_commit_add_zero(struct img_commit *cm, uint64_t off, uint64_t len)
{
	struct img_piece *last = cm->npieces ? &cm->pieces[cm->npieces - 1] : NULL;

	if (last && last->zero && last->off + last->len == off) {
		last->len += len;
		return true;
	}
	if (cm->npieces == IMG_COMMIT_PIECES)
		return false;
	cm->pieces[cm->npieces++] = (struct img_piece){ .off = off, .len = len, .zero = true };
	return true;
}

/*
 * An extent not allocated in the overlay reads either from the backing file
 * (nothing to do) or as zeros, from a zero cluster the overlay holds, which
 * the backing file must get too: image_block_status() tells neither apart,
 * so the overlay is read there and its all-zero clusters become pieces.
 * Scans up to IMG_COMMIT_SCAN bytes from where cm stands; -errno.
 */
static int img_commit_scan(struct img_commit *cm, struct image *overlay)
{
	const struct img_extent *x = &cm->e.v[cm->next];
	uint64_t start = x->off + cm->done;
	uint64_t len = x->len - cm->done < IMG_COMMIT_SCAN ? x->len - cm->done : IMG_COMMIT_SCAN;
	int r = img_read(overlay, cm->scan, (size_t)len, start);

	if (r)
		return r;
	for (uint64_t pos = 0; pos < len; pos += cm->cluster) {
		uint64_t n = len - pos < cm->cluster ? len - pos : cm->cluster;

		if (img_all_zero(cm->scan + pos, (size_t)n) &&
		    !img_commit_add_zero(cm, start + pos, n))
			break; /* out of pieces: the next batch goes on from here */
		cm->done += n;
	}
	return 0;
}

/* Data extents: read into buf; -errno. */
static int img_commit_read_data(struct img_commit *cm, struct image *overlay, uint64_t *used)
{
	const struct img_extent *x = &cm->e.v[cm->next];
	uint64_t len = x->len - cm->done;
	int r;

	if (len > IMG_COMMIT_BATCH - *used)
		len = IMG_COMMIT_BATCH - *used;
	r = img_read(overlay, cm->buf + *used, (size_t)len, x->off + cm->done);
	if (r)
		return r;
	cm->pieces[cm->npieces++] = (struct img_piece){ x->off + cm->done, len, *used, false };
	*used += len;
	cm->done += len;
	return 0;
}

/* Zeros where the backing file may not read as zeros yet; -errno. */
static int img_commit_zero(struct img_commit *cm, struct image *backing, uint64_t off, uint64_t len)
{
	uint64_t pnum;

	while (len) {
		int r = image_block_status(backing, off, len, &pnum);

		if (r < 0)
			return r;
		if (!pnum)
			return -EIO;
		if (r == 1 || cm->backing_has_backing) {
			r = image_write_zeroes(backing, off, pnum);
			if (r)
				return r;
			cm->zero_bytes += pnum;
		}
		off += pnum;
		len -= pnum;
	}
	return 0;
}

/*
 * Carries one batch: reads the overlay up to IMG_COMMIT_BATCH bytes of data
 * or IMG_COMMIT_PIECES pieces, closes it, then writes them into the
 * backing file. The two are never open at once: the open overlay holds a
 * shared lock on its backing file, which refuses the exclusive lock a
 * writer takes (disk_open()). -errno after one error line.
 */
static int img_commit_batch(struct img_commit *cm)
{
	struct image img;
	uint64_t used = 0;
	int r = 0;

	if (img_open(&img, cm->a->file, IMAGE_FORMAT_QCOW2, true))
		return -EINVAL;
	cm->npieces = 0;
	while (!r && cm->next < cm->e.n && used < IMG_COMMIT_BATCH &&
	       cm->npieces < IMG_COMMIT_PIECES) {
		size_t before = cm->npieces;
		uint64_t done = cm->done;

		r = cm->e.v[cm->next].data ? img_commit_read_data(cm, &img, &used)
					   : img_commit_scan(cm, &img);
		if (!r && cm->done == done && cm->npieces == before)
			break; /* no room for another piece */
		if (cm->done == cm->e.v[cm->next].len) {
			cm->next++;
			cm->done = 0;
		}
	}
	image_close(&img);
	if (r) {
		img_error("%s: cannot read: %s", cm->a->file, strerror(-r));
		return r;
	}
	if (img_open(&img, cm->backing, cm->backing_fmt, false))
		return -EINVAL;
	for (unsigned i = 0; i < cm->npieces && !r; i++) {
		const struct img_piece *p = &cm->pieces[i];

		if (p->zero) {
			r = img_commit_zero(cm, &img, p->off, p->len);
		} else {
			r = img_write(&img, cm->buf + p->buf, (size_t)p->len, p->off);
			cm->data_bytes += r ? 0 : p->len;
		}
	}
	if (!r)
		r = image_flush(&img);
	image_close(&img);
	if (r)
		img_error("%s: cannot write: %s", cm->backing, strerror(-r));
	return r;
}

/*
 * Opens the backing file once before anything is written: it must open
 * read-write, and grows when the overlay is larger (as after a resize).
 * -errno after one error line.
 */
static int img_commit_open_backing(struct img_commit *cm, uint64_t size)
{
	struct qcow2_info info;
	struct image img;
	int r = 0;

	if (img_open(&img, cm->backing, cm->backing_fmt, false))
		return -EINVAL;
	if (img.format == IMAGE_FORMAT_QCOW2) {
		qcow2_get_info(img.qcow2, &info);
		cm->backing_has_backing = info.backing_file[0] != '\0';
	}
	if (img.size < size) {
		if (img.format == IMAGE_FORMAT_QCOW2)
			r = qcow2_resize(img.qcow2, img_round_up(size, 512));
		else
			r = ftruncate(img.raw.fd, (off_t)size) < 0 ? -errno : 0;
		if (!r)
			r = image_flush(&img);
		if (r)
			img_error("%s: cannot grow to %" PRIu64 " bytes: %s", cm->backing, size,
				  strerror(-r));
	}
	image_close(&img);
	return r;
}

/* Opens the overlay, finds its backing file and maps what it holds. An exit code. */
static int img_commit_prepare(struct img_commit *cm, char *backing, size_t len, uint64_t *size)
{
	struct qcow2_info info;
	struct image img;
	int r;

	if (img_open(&img, cm->a->file, IMAGE_FORMAT_AUTO, true))
		return IMG_EXIT_USAGE;
	if (img.format != IMAGE_FORMAT_QCOW2) {
		img_error("%s: a raw image has no backing file to commit to", cm->a->file);
		goto err_usage;
	}
	qcow2_get_info(img.qcow2, &info);
	info.backing_file[sizeof(info.backing_file) - 1] = '\0';
	info.backing_format[sizeof(info.backing_format) - 1] = '\0';
	if (!info.backing_file[0]) {
		img_error("%s: has no backing file to commit to", cm->a->file);
		goto err_usage;
	}
	if (img_backing_path(cm->a->file, info.backing_file, backing, len)) {
		img_error("%s: the backing file name is too long", cm->a->file);
		goto err_usage;
	}
	/* qcow2.h: a backing format not recorded is raw, never probed */
	if (image_format_parse(info.backing_format, &cm->backing_fmt) ||
	    cm->backing_fmt == IMAGE_FORMAT_AUTO)
		cm->backing_fmt = IMAGE_FORMAT_RAW;
	cm->backing = backing;
	cm->cluster = 1ULL << info.cluster_bits;
	*size = img.size;
	r = img_commit_map(&img, &cm->e);
	image_close(&img);
	if (r) {
		img_error("%s: cannot map its clusters: %s", cm->a->file, strerror(-r));
		return IMG_EXIT_FAIL;
	}
	return IMG_EXIT_OK;

err_usage:
	image_close(&img);
	return IMG_EXIT_USAGE;
}

int img_cmd_commit(const struct img_args *a)
{
	struct img_commit cm = { .a = a };
	char backing[4096], human[32];
	uint64_t size;
	int ret, r;

	ret = img_commit_prepare(&cm, backing, sizeof(backing), &size);
	if (ret)
		goto out;
	cm.buf = malloc(IMG_COMMIT_BATCH);
	cm.scan = malloc(IMG_COMMIT_SCAN);
	cm.pieces = calloc(IMG_COMMIT_PIECES, sizeof(*cm.pieces));
	if (!cm.buf || !cm.scan || !cm.pieces) {
		img_error("out of memory");
		ret = IMG_EXIT_FAIL;
		goto out;
	}
	r = img_commit_open_backing(&cm, size);
	if (r) {
		/* -EINVAL: it cannot be opened (one line said why); nothing was written */
		ret = r == -EINVAL ? IMG_EXIT_USAGE : IMG_EXIT_FAIL;
		goto out;
	}
	while (!r && cm.next < cm.e.n)
		r = img_commit_batch(&cm);
	if (r) {
		ret = IMG_EXIT_FAIL;
		goto out;
	}
	img_format_size(cm.data_bytes, human, sizeof(human));
	printf("Image committed: %s of data (%" PRIu64 " bytes) and %" PRIu64
	       " bytes of zeros written into %s.\n",
	       human, cm.data_bytes, cm.zero_bytes, backing);
out:
	free(cm.pieces);
	free(cm.scan);
	free(cm.buf);
	free(cm.e.v);
	return ret;
}

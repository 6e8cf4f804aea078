/* A PNG writer for screendumps: 8-bit RGB, filtered and deflated one row at a time. */
#include "devices/display/png.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "vmm/log.h"

/* PNG 3rd ed. §11.2.1: width and height are at most 2^31 - 1 */
#define PNG_MAX_DIM 0x7fffffffu
/* Bytes of compressed data per IDAT chunk: bounds what is held in memory. */
#define PNG_IDAT_SIZE 65536
/* §9.2: the five filter types of filter method 0 */
enum { PNG_FILTER_NONE, PNG_FILTER_SUB, PNG_FILTER_UP, PNG_FILTER_AVERAGE, PNG_FILTER_PAETH };
#define PNG_FILTERS 5
#define PNG_BPP	    3 /* bytes per pixel of 8-bit RGB, the "a" and "c" distance of §9.2 */

struct png_writer {
	int fd;
	const char *what; /* set with errnum when something failed, for the message */
	int errnum;
	z_stream z;
	size_t row_bytes;		/* 3 * width */
	uint8_t *prev, *cur;		/* the unfiltered previous and current rows */
	uint8_t *filtered[PNG_FILTERS]; /* the current row under each filter, type byte first */
	uint8_t chunk[8 + PNG_IDAT_SIZE + 4]; /* length, type, data, CRC */
};

static void png_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int png_write_all(struct png_writer *w, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(w->fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			w->errnum = n < 0 ? errno : EIO;
			w->what = NULL;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes one chunk whose len bytes of data are already at w->chunk + 8. */
static int png_put_chunk(struct png_writer *w, const char type[4], size_t len)
{
	uint32_t crc;

	png_put32(w->chunk, (uint32_t)len);
	memcpy(w->chunk + 4, type, 4);
	/* §5.3: the CRC covers the type and the data, not the length */
	crc = (uint32_t)crc32(0L, w->chunk + 4, (uInt)(len + 4));
	png_put32(w->chunk + 8 + len, crc);
	return png_write_all(w, w->chunk, len + 12);
}

static int png_put_header(struct png_writer *w, uint32_t width, uint32_t height)
{
	/* §5.2 */
	static const uint8_t signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	uint8_t *ihdr = w->chunk + 8;

	if (png_write_all(w, signature, sizeof(signature)))
		return -1;
	/* §11.2.1: bit depth 8, colour type 2 (truecolour), compression,
	 * filter and interlace methods 0 */
	png_put32(ihdr, width);
	png_put32(ihdr + 4, height);
	ihdr[8] = 8;
	ihdr[9] = 2;
	ihdr[10] = 0;
	ihdr[11] = 0;
	ihdr[12] = 0;
	return png_put_chunk(w, "IHDR", 13);
}

/*
 * Runs deflate over what is in w->z.next_in, writing an IDAT chunk each time
 * the chunk buffer fills. flush is Z_NO_FLUSH, or Z_FINISH for the last call,
 * which also writes the final partial chunk.
 */
static int png_deflate(struct png_writer *w, int flush)
{
	for (;;) {
		int ret = deflate(&w->z, flush);

		if (ret == Z_STREAM_ERROR) {
			w->what = "zlib deflate failed";
			return -1;
		}
		if (w->z.avail_out == 0 ||
		    (ret == Z_STREAM_END && w->z.avail_out < PNG_IDAT_SIZE)) {
			if (png_put_chunk(w, "IDAT", PNG_IDAT_SIZE - w->z.avail_out))
				return -1;
			w->z.next_out = w->chunk + 8;
			w->z.avail_out = PNG_IDAT_SIZE;
		}
		if (ret == Z_STREAM_END)
			return 0;
		/* without Z_FINISH, deflate is done once it has taken all input and
		 * had room left over */
		if (flush == Z_NO_FLUSH && w->z.avail_in == 0 && w->z.avail_out != 0)
			return 0;
	}
}

/* §9.4 */
static uint8_t png_paeth(uint8_t a, uint8_t b, uint8_t c)
{
	int p = a + b - c;
	int pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);

	if (pa <= pb && pa <= pc)
		return a;
	return pb <= pc ? b : c;
}

/*
 * Filters w->cur (with w->prev above it) all five ways and returns the
 * filtered row that looks most compressible by the usual heuristic: the
 * smallest sum of the bytes taken as signed values (§12.8).
 */
static const uint8_t *png_filter_row(struct png_writer *w)
{
	uint64_t cost[PNG_FILTERS] = { 0 };
	const uint8_t *x = w->cur, *b = w->prev;
	unsigned best = PNG_FILTER_NONE;

	for (unsigned f = 0; f < PNG_FILTERS; f++)
		w->filtered[f][0] = (uint8_t)f;
	for (size_t i = 0; i < w->row_bytes; i++) {
		uint8_t a = i >= PNG_BPP ? x[i - PNG_BPP] : 0;
		uint8_t c = i >= PNG_BPP ? b[i - PNG_BPP] : 0;
		uint8_t out[PNG_FILTERS] = {
			x[i],
			(uint8_t)(x[i] - a),
			(uint8_t)(x[i] - b[i]),
			(uint8_t)(x[i] - ((a + b[i]) >> 1)),
			(uint8_t)(x[i] - png_paeth(a, b[i], c)),
		};

		for (unsigned f = 0; f < PNG_FILTERS; f++) {
			w->filtered[f][i + 1] = out[f];
			cost[f] += (uint64_t)abs((int)(int8_t)out[f]);
		}
	}
	for (unsigned f = 1; f < PNG_FILTERS; f++)
		if (cost[f] < cost[best])
			best = f;
	return w->filtered[best];
}

static int png_put_image(struct png_writer *w, const uint32_t *pixels, uint32_t height,
			 size_t stride_words)
{
	size_t width = w->row_bytes / PNG_BPP;

	for (uint32_t y = 0; y < height; y++) {
		const uint32_t *row = pixels + (size_t)y * stride_words;
		uint8_t *swap;

		for (size_t i = 0; i < width; i++) {
			w->cur[3 * i] = (uint8_t)(row[i] >> 16);
			w->cur[3 * i + 1] = (uint8_t)(row[i] >> 8);
			w->cur[3 * i + 2] = (uint8_t)row[i];
		}
		w->z.next_in = (Bytef *)png_filter_row(w);
		w->z.avail_in = (uInt)(w->row_bytes + 1);
		if (png_deflate(w, Z_NO_FLUSH))
			return -1;
		swap = w->prev;
		w->prev = w->cur;
		w->cur = swap;
	}
	return png_deflate(w, Z_FINISH);
}

static int png_writer_init(struct png_writer *w, uint32_t width)
{
	w->row_bytes = (size_t)width * PNG_BPP;
	w->prev = calloc(1, w->row_bytes); /* §9.2: the row above the first is zeros */
	w->cur = calloc(1, w->row_bytes);
	for (unsigned f = 0; f < PNG_FILTERS; f++)
		w->filtered[f] = malloc(w->row_bytes + 1);
	if (!w->prev || !w->cur)
		return -ENOMEM;
	for (unsigned f = 0; f < PNG_FILTERS; f++)
		if (!w->filtered[f])
			return -ENOMEM;
	/* A screendump is taken while the user waits: level 6 is zlib's
	 * balance, and screen content compresses well at it. */
	if (deflateInit(&w->z, Z_DEFAULT_COMPRESSION) != Z_OK)
		return -ENOMEM;
	w->z.next_out = w->chunk + 8;
	w->z.avail_out = PNG_IDAT_SIZE;
	return 0;
}

static void png_writer_free(struct png_writer *w)
{
	deflateEnd(&w->z);
	free(w->prev);
	free(w->cur);
	for (unsigned f = 0; f < PNG_FILTERS; f++)
		free(w->filtered[f]);
	free(w);
}

/* Creates a new file beside path (the same directory, so rename() can replace path). */
static int png_open_temp(const char *path, char **tmp_out)
{
	static unsigned counter;
	size_t len = strlen(path) + 48;
	char *tmp = malloc(len);
	int err;

	if (!tmp)
		return -ENOMEM;
	for (int tries = 0; tries < 100; tries++) {
		unsigned n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
		int fd;

		snprintf(tmp, len, "%s.%ld.%u.tmp", path, (long)getpid(), n);
		/* 0666 less the umask: the same mode a plain create of path would get */
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd >= 0) {
			*tmp_out = tmp;
			return fd;
		}
		if (errno != EEXIST)
			break;
	}
	err = errno;
	free(tmp);
	return -err;
}

static bool png_check_args(const char *path, uint32_t width, uint32_t height, size_t stride_words,
			   char *err, size_t errlen)
{
	if (!width || !height) {
		log_set_err(err, errlen, "%s: cannot write an empty %ux%u image", path, width,
			    height);
		return false;
	}
	if (width > PNG_MAX_DIM || height > PNG_MAX_DIM) {
		log_set_err(err, errlen, "%s: %ux%u is too large for a PNG", path, width, height);
		return false;
	}
	if (stride_words < width) {
		log_set_err(err, errlen, "%s: row stride %zu is shorter than the width %u", path,
			    stride_words, width);
		return false;
	}
	return true;
}

int png_write(const char *path, const uint32_t *pixels, uint32_t width, uint32_t height,
	      size_t stride_words, char *err, size_t errlen)
{
	struct png_writer *w;
	char *tmp = NULL;
	int ret;

	if (!png_check_args(path, width, height, stride_words, err, errlen))
		return -1;
	w = calloc(1, sizeof(*w));
	if (!w) {
		log_set_err(err, errlen, "%s: %s", path, strerror(ENOMEM));
		return -1;
	}
	ret = png_writer_init(w, width);
	if (ret < 0) {
		log_set_err(err, errlen, "%s: %s", path, strerror(-ret));
		goto err_free;
	}
	w->fd = png_open_temp(path, &tmp);
	if (w->fd < 0) {
		log_set_err(err, errlen, "%s: %s", path, strerror(-w->fd));
		goto err_free;
	}
	if (png_put_header(w, width, height) || png_put_image(w, pixels, height, stride_words) ||
	    png_put_chunk(w, "IEND", 0))
		goto err_close;
	ret = close(w->fd);
	w->fd = -1;
	if (ret < 0 || rename(tmp, path) < 0) {
		w->errnum = errno;
		w->what = NULL;
		goto err_unlink;
	}
	free(tmp);
	png_writer_free(w);
	return 0;

err_close:
	close(w->fd);
err_unlink:
	unlink(tmp);
	log_set_err(err, errlen, "%s: %s", path, w->what ? w->what : strerror(w->errnum));
	free(tmp);
err_free:
	png_writer_free(w);
	return -1;
}

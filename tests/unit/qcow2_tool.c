/*
 * A small driver for tests/unit/qcow2_interop.sh: opens an image through
 * image_open() and runs a list of operations on it, so that qemu-img can
 * check what hutch wrote and hutch can read what qemu-img wrote.
 *
 *   qcow2_tool create IMG SIZE CLUSTER_BITS [BACKING [BACKING_FMT]]
 *   qcow2_tool [-f FMT] [-r] IMG OP...
 * where OP is one of
 *   w OFF FILE     write FILE's bytes at OFF (in pieces of odd sizes)
 *   d OFF LEN      discard
 *   z OFF LEN      write zeroes
 *   dump FILE      read the whole virtual disk (in odd pieces) into FILE
 *   c FILE         write FILE cluster by cluster compressed (all-zero clusters skipped)
 *   resize SIZE    grow
 *   check          qcow2_check(); exit 1 on corruptions or leaks
 *   repair         qcow2_check() with repair; exit 1 on corruptions
 *   flush
 * Exit 0 on success, 1 on a failed operation, 2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/block/image.h"
#include "devices/block/qcow2.h"

/* A number with an optional K, M, G or T suffix (powers of 1024). */
static uint64_t num(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	switch (*end) {
	case 'T': v <<= 10; /* fallthrough */
	case 'G': v <<= 10; /* fallthrough */
	case 'M': v <<= 10; /* fallthrough */
	case 'K': v <<= 10; break;
	default: break;
	}
	return v;
}

static uint8_t *load(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0)
		return NULL;
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Pieces of odd sizes, two iovecs each, to cross cluster boundaries every which way. */
static int xfer(struct image *img, uint8_t *buf, uint64_t off, uint64_t len, bool write)
{
	static const uint64_t sizes[] = { 4096, 512, 65536 + 512, 1, 131072, 3000, 1 << 20 };
	uint64_t pos = 0;

	for (unsigned i = 0; pos < len; i++) {
		uint64_t n = sizes[i % 7] < len - pos ? sizes[i % 7] : len - pos;
		struct iovec v[2] = { { buf + pos, n / 3 }, { buf + pos + n / 3, n - n / 3 } };
		int r = write ? image_pwritev(img, v, 2, off + pos)
			      : image_preadv(img, v, 2, off + pos);

		if (r < 0)
			return r;
		pos += n;
	}
	return 0;
}

static int do_check(struct image *img, bool repair)
{
	struct qcow2_check_result res;
	char err[256] = "";
	int r;

	if (img->format != IMAGE_FORMAT_QCOW2)
		return 0;
	r = qcow2_check(img->qcow2, repair, &res, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "check: %s\n", err);
		return r;
	}
	printf("leaks %" PRIu64 " fixed %" PRIu64 " corruptions %" PRIu64 " allocated %" PRIu64
	       " compressed %" PRIu64 "\n",
	       res.leaks, res.leaks_fixed, res.corruptions, res.allocated_clusters,
	       res.compressed_clusters);
	return res.corruptions || (!repair && res.leaks) ? -EUCLEAN : 0;
}

static int do_compress(struct image *img, const char *path, unsigned cluster_bits)
{
	size_t len, cs = (size_t)1 << cluster_bits;
	uint8_t *buf = load(path, &len), *cl = calloc(1, cs), *zero = calloc(1, cs);
	int r = buf && cl && zero ? 0 : -ENOMEM;

	for (size_t off = 0; r == 0 && off < len; off += cs) {
		size_t n = len - off < cs ? len - off : cs;

		memset(cl, 0, cs);
		memcpy(cl, buf + off, n);
		if (memcmp(cl, zero, cs))
			r = qcow2_write_compressed(img->qcow2, off, cl);
	}
	free(buf);
	free(cl);
	free(zero);
	return r;
}

static int run_op(struct image *img, char **argv, int *i, int argc)
{
	const char *op = argv[(*i)++];
	size_t len;
	uint8_t *buf;
	int r;

#define ARG(k) (*i + (k) < argc ? argv[*i + (k)] : "0")
	if (!strcmp(op, "w")) {
		buf = load(ARG(1), &len);
		if (!buf)
			return -ENOENT;
		r = xfer(img, buf, num(ARG(0)), len, true);
		free(buf);
		*i += 2;
		return r;
	}
	if (!strcmp(op, "d") || !strcmp(op, "z")) {
		uint64_t off = num(ARG(0)), n = num(ARG(1));

		*i += 2;
		return op[0] == 'd' ? image_discard(img, off, n) : image_write_zeroes(img, off, n);
	}
	if (!strcmp(op, "dump")) {
		FILE *f = fopen(ARG(0), "wb");

		buf = malloc(img->size + 1);
		r = f && buf ? xfer(img, buf, 0, img->size, false) : -ENOMEM;
		if (r == 0 && fwrite(buf, 1, img->size, f) != img->size)
			r = -EIO;
		if (f)
			fclose(f);
		free(buf);
		*i += 1;
		return r;
	}
	if (!strcmp(op, "c")) {
		struct qcow2_info info;

		qcow2_get_info(img->qcow2, &info);
		*i += 1;
		return do_compress(img, argv[*i - 1], info.cluster_bits);
	}
	if (!strcmp(op, "resize")) {
		*i += 1;
		r = qcow2_resize(img->qcow2, num(argv[*i - 1]));
		if (r == 0)
			img->size = num(argv[*i - 1]);
		return r;
	}
	if (!strcmp(op, "check") || !strcmp(op, "repair"))
		return do_check(img, op[0] == 'r');
	if (!strcmp(op, "flush"))
		return image_flush(img);
	fprintf(stderr, "unknown op %s\n", op);
	return -EINVAL;
#undef ARG
}

int main(int argc, char **argv)
{
	enum image_format fmt = IMAGE_FORMAT_AUTO;
	bool readonly = false;
	struct image img;
	char err[256] = "";
	int i = 1, r;

	if (argc >= 5 && !strcmp(argv[1], "create")) {
		r = qcow2_create(argv[2], num(argv[3]), (unsigned)atoi(argv[4]),
				 argc > 5 ? argv[5] : NULL, argc > 6 ? argv[6] : NULL, err,
				 sizeof(err));
		if (r < 0)
			fprintf(stderr, "create %s: %s\n", argv[2], err);
		return r < 0;
	}
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-r"))
			readonly = true;
		else if (!strcmp(argv[i], "-f") && i + 1 < argc &&
			 image_format_parse(argv[i + 1], &fmt) == 0)
			i++;
		else
			return 2;
	}
	if (i >= argc)
		return 2;
	r = image_open(&img, argv[i], fmt, readonly, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", argv[i], err);
		return 1;
	}
	for (i++; i < argc && r == 0;) {
		const char *op = argv[i];

		r = run_op(&img, argv, &i, argc);
		if (r < 0)
			fprintf(stderr, "%s: %s\n", op, strerror(-r));
	}
	if (r == 0)
		r = image_flush(&img);
	image_close(&img);
	return r < 0;
}

/* Disk images of any format as flat arrays of bytes: raw files directly, qcow2 through qcow2.c. */
#include "devices/block/image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/block/qcow2.h"
#include "vmm/log.h"

const char *image_format_name(enum image_format f)
{
	switch (f) {
	case IMAGE_FORMAT_AUTO: return "auto";
	case IMAGE_FORMAT_RAW: return "raw";
	case IMAGE_FORMAT_QCOW2: return "qcow2";
	}
	return "?";
}

int image_format_parse(const char *name, enum image_format *out)
{
	static const enum image_format all[] = { IMAGE_FORMAT_AUTO, IMAGE_FORMAT_RAW,
						 IMAGE_FORMAT_QCOW2 };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (name && strcmp(name, image_format_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	return -EINVAL;
}

/* The first bytes say qcow2 (a short or unreadable file is raw). */
static bool looks_like_qcow2(int fd)
{
	uint8_t b[8];
	ssize_t n;

	do
		n = pread(fd, b, sizeof(b), 0);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(b) && qcow2_probe(b, sizeof(b));
}

/* image_open_chain() with no_backing for the first image. */
static int open_chain(struct image *img, const char *path, enum image_format fmt, bool readonly,
		      const struct image_chain *above, bool no_backing, char *err, size_t errlen)
{
	struct image_chain self = { .above = above,
				    .depth = above ? above->depth + 1 : 0,
				    .no_backing = no_backing };
	struct stat st;
	int r;

	*img = (struct image){ .format = fmt, .readonly = readonly, .raw = { .fd = -1 } };
	if (self.depth > QCOW2_MAX_BACKING_DEPTH) {
		log_set_err(err, errlen, "backing chain deeper than %u", QCOW2_MAX_BACKING_DEPTH);
		return -ELOOP;
	}
	r = disk_open(&img->raw, path, readonly, err, errlen);
	if (r < 0)
		return r;
	if (fstat(img->raw.fd, &st) < 0) {
		r = -errno;
		log_set_err(err, errlen, "cannot stat: %s", strerror(-r));
		goto err;
	}
	self.dev = st.st_dev;
	self.ino = st.st_ino;
	for (const struct image_chain *c = above; c; c = c->above)
		if (c->dev == self.dev && c->ino == self.ino) {
			log_set_err(err, errlen, "backing file loop");
			r = -ELOOP;
			goto err;
		}
	if (fmt == IMAGE_FORMAT_AUTO) {
		img->probed = true;
		img->format = looks_like_qcow2(img->raw.fd) ? IMAGE_FORMAT_QCOW2 : IMAGE_FORMAT_RAW;
	}
	if (img->format == IMAGE_FORMAT_RAW) {
		img->size = img->raw.size;
		return 0;
	}
	if (err && errlen)
		err[0] = 0;
	r = qcow2_open_chain(&img->qcow2, &img->raw, &self, err, errlen);
	if (r < 0)
		goto err;
	{
		struct qcow2_info info;

		qcow2_get_info(img->qcow2, &info);
		img->size = info.size;
	}
	return 0;
err:
	disk_close(&img->raw);
	img->qcow2 = NULL;
	return r;
}

int image_open_chain(struct image *img, const char *path, enum image_format fmt, bool readonly,
		     const struct image_chain *above, char *err, size_t errlen)
{
	return open_chain(img, path, fmt, readonly, above, false, err, errlen);
}

int image_open(struct image *img, const char *path, enum image_format fmt, bool readonly, char *err,
	       size_t errlen)
{
	return open_chain(img, path, fmt, readonly, NULL, false, err, errlen);
}

int image_open_alone(struct image *img, const char *path, enum image_format fmt, char *err,
		     size_t errlen)
{
	return open_chain(img, path, fmt, true, NULL, true, err, errlen);
}

void image_close(struct image *img)
{
	if (img->qcow2)
		qcow2_close(img->qcow2);
	img->qcow2 = NULL;
	disk_close(&img->raw);
}

/* [offset, offset+len) inside the image, without overflow. */
static int check_range(const struct image *img, uint64_t offset, uint64_t len)
{
	return offset <= img->size && len <= img->size - offset ? 0 : -EINVAL;
}

static int iov_total(const struct iovec *iov, unsigned iovcnt, uint64_t *total)
{
	*total = 0;
	for (unsigned i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > UINT64_MAX - *total)
			return -EINVAL;
		*total += iov[i].iov_len;
	}
	return 0;
}

/* preadv/pwritev on the raw file until done; a read past the end of the file gives zeroes. */
static int raw_rw(struct image *img, const struct iovec *iov, unsigned iovcnt, uint64_t offset,
		  bool write)
{
	struct iovec stack[16], *v = iovcnt <= 16 ? stack : malloc(iovcnt * sizeof(*v));
	unsigned n = iovcnt, first = 0;
	int r = 0;

	if (!v)
		return -ENOMEM;
	memcpy(v, iov, iovcnt * sizeof(*v));
	while (first < n) {
		int cnt = n - first > IOV_MAX ? IOV_MAX : (int)(n - first);
		ssize_t done = write ? pwritev(img->raw.fd, v + first, cnt, (off_t)offset)
				     : preadv(img->raw.fd, v + first, cnt, (off_t)offset);

		if (done < 0 && errno == EINTR)
			continue;
		if (done < 0) {
			r = -errno;
			break;
		}
		if (done == 0) {
			if (write) {
				r = -EIO;
				break;
			}
			for (; first < n; first++)
				memset(v[first].iov_base, 0, v[first].iov_len);
			break;
		}
		offset += (uint64_t)done;
		while (first < n && (size_t)done >= v[first].iov_len)
			done -= (ssize_t)v[first++].iov_len;
		if (first < n) {
			v[first].iov_base = (uint8_t *)v[first].iov_base + done;
			v[first].iov_len -= (size_t)done;
		}
	}
	if (v != stack)
		free(v);
	return r;
}

/* What every write shares: the range inside the image (-EINVAL), the image writable (-EROFS). */
static int check_write(const struct image *img, uint64_t offset, uint64_t len)
{
	if (check_range(img, offset, len) < 0)
		return -EINVAL;
	return img->readonly ? -EROFS : 0;
}

int image_preadv(struct image *img, const struct iovec *iov, unsigned iovcnt, uint64_t offset)
{
	uint64_t total;

	if (iov_total(iov, iovcnt, &total) < 0 || check_range(img, offset, total) < 0)
		return -EINVAL;
	if (img->format == IMAGE_FORMAT_QCOW2)
		return qcow2_preadv(img->qcow2, iov, iovcnt, offset);
	return raw_rw(img, iov, iovcnt, offset, false);
}

int image_pwritev(struct image *img, const struct iovec *iov, unsigned iovcnt, uint64_t offset)
{
	uint64_t total;
	int r;

	if (iov_total(iov, iovcnt, &total) < 0)
		return -EINVAL;
	r = check_write(img, offset, total);
	if (r < 0)
		return r;
	if (img->format == IMAGE_FORMAT_QCOW2)
		return qcow2_pwritev(img->qcow2, iov, iovcnt, offset);
	return raw_rw(img, iov, iovcnt, offset, true);
}

int image_flush(struct image *img)
{
	if (img->format == IMAGE_FORMAT_QCOW2)
		return qcow2_flush(img->qcow2);
	if (img->readonly)
		return 0;
	return fdatasync(img->raw.fd) < 0 ? -errno : 0;
}

int image_discard(struct image *img, uint64_t offset, uint64_t len)
{
	int r = check_write(img, offset, len);

	if (r < 0 || len == 0)
		return r;
	if (img->format == IMAGE_FORMAT_QCOW2)
		return qcow2_discard(img->qcow2, offset, len);
	/* A hint: where holes cannot be punched, nothing happens. */
	if (fallocate(img->raw.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
		      (off_t)len) < 0 &&
	    errno != EOPNOTSUPP && errno != ENOSYS && errno != ENODEV)
		return -errno;
	return 0;
}

static int raw_write_zeroes(struct image *img, uint64_t offset, uint64_t len)
{
	static const uint8_t zeroes[65536];

	if (fallocate(img->raw.fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
		      (off_t)len) == 0)
		return 0;
	if (fallocate(img->raw.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
		      (off_t)len) == 0)
		return 0;
	while (len) {
		struct iovec v = { (void *)zeroes, len < sizeof(zeroes) ? len : sizeof(zeroes) };
		int r = raw_rw(img, &v, 1, offset, true);

		if (r < 0)
			return r;
		offset += v.iov_len;
		len -= v.iov_len;
	}
	return 0;
}

int image_write_zeroes(struct image *img, uint64_t offset, uint64_t len)
{
	int r = check_write(img, offset, len);

	if (r < 0 || len == 0)
		return r;
	if (img->format == IMAGE_FORMAT_QCOW2)
		return qcow2_write_zeroes(img->qcow2, offset, len);
	return raw_write_zeroes(img, offset, len);
}

int image_block_status(struct image *img, uint64_t offset, uint64_t len, uint64_t *pnum)
{
	off_t data, hole;

	*pnum = 0;
	if (check_range(img, offset, len) < 0 || len == 0)
		return -EINVAL;
	if (img->format == IMAGE_FORMAT_QCOW2)
		return qcow2_block_status(img->qcow2, offset, len, pnum);
	/* Raw: holes read as zeroes; anything else (block devices included) is data. */
	data = lseek(img->raw.fd, (off_t)offset, SEEK_DATA);
	if (data < 0 && errno == ENXIO) {
		*pnum = len; /* a hole up to the end of the file */
		return 0;
	}
	if (data < 0 || (uint64_t)data > offset) {
		if (data < 0) {
			*pnum = len;
			return 1;
		}
		*pnum = (uint64_t)data - offset < len ? (uint64_t)data - offset : len;
		return 0;
	}
	hole = lseek(img->raw.fd, (off_t)offset, SEEK_HOLE);
	if (hole < 0 || (uint64_t)hole <= offset)
		*pnum = len;
	else
		*pnum = (uint64_t)hole - offset < len ? (uint64_t)hole - offset : len;
	return 1;
}

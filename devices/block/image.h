/* A disk image of any format (raw or qcow2) seen as a flat array of bytes. */
#ifndef HUTCH_DEVICES_BLOCK_IMAGE_H
#define HUTCH_DEVICES_BLOCK_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/block/disk.h"

enum image_format { IMAGE_FORMAT_AUTO, IMAGE_FORMAT_RAW, IMAGE_FORMAT_QCOW2 };

struct qcow2;

struct image {
	enum image_format format; /* RAW or QCOW2 once open */
	bool probed;		  /* the format was detected, not given */
	bool readonly;
	uint64_t size;	     /* virtual size in bytes */
	struct disk raw;     /* the file: RAW's data, QCOW2's container (fd, lock) */
	struct qcow2 *qcow2; /* QCOW2 */
};

/*
 * Internal: the images above one being opened as a backing file, to refuse
 * loops (the same device and inode twice) and chains deeper than
 * QCOW2_MAX_BACKING_DEPTH.
 */
struct image_chain {
	const struct image_chain *above; /* NULL for the image opened first */
	uint64_t dev, ino;
	unsigned depth;	 /* 0 for the image opened first */
	bool no_backing; /* image_open_alone(): the backing file stays closed */
};

/* "raw", "qcow2", "auto" ("?" for anything else). */
const char *image_format_name(enum image_format f);
/* 0 or -EINVAL. */
int image_format_parse(const char *name, enum image_format *out);

/*
 * Opens path (disk_open's locking), as fmt or, with AUTO, as qcow2 when its
 * header says so and raw otherwise. 0 or -errno with one line in err (no
 * "hutch: PATH: " prefix). On failure img->raw.fd is -1 and nothing needs
 * closing.
 */
int image_open(struct image *img, const char *path, enum image_format fmt, bool readonly, char *err,
	       size_t errlen) __attribute__((warn_unused_result));
/*
 * image_open() read-only without opening a backing file, which need not
 * exist: what `img info` and `img check` show of the image itself. Reads of
 * what the backing file would supply give zeroes.
 */
int image_open_alone(struct image *img, const char *path, enum image_format fmt, char *err,
		     size_t errlen) __attribute__((warn_unused_result));
/*
 * Writes back what qcow2 caches (best effort: image_flush() first reports
 * errors) and closes. Twice is harmless.
 */
void image_close(struct image *img);

/*
 * Thread-safe (any number of threads at once). 0 or -errno. Ranges must lie
 * inside size (-EINVAL otherwise); -EROFS on a read-only image for writes.
 */
int image_preadv(struct image *img, const struct iovec *iov, unsigned iovcnt, uint64_t offset);
int image_pwritev(struct image *img, const struct iovec *iov, unsigned iovcnt, uint64_t offset);
/* Data and metadata durable (fdatasync after ordered writes). */
int image_flush(struct image *img);
int image_discard(struct image *img, uint64_t offset, uint64_t len);
int image_write_zeroes(struct image *img, uint64_t offset, uint64_t len);
/*
 * Whether [offset, offset+len) is allocated in this image itself (not the
 * backing file): *pnum gets the length (> 0, <= len) of the run starting at
 * offset with the same answer. For convert and commit. 1 allocated (data),
 * 0 unallocated or zero, -errno.
 */
int image_block_status(struct image *img, uint64_t offset, uint64_t len, uint64_t *pnum);

/* Internal: image_open() of a backing file of the image described by above (qcow2.c). */
int image_open_chain(struct image *img, const char *path, enum image_format fmt, bool readonly,
		     const struct image_chain *above, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif

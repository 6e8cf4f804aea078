/* qcow2 images (QEMU's docs/interop/qcow2.txt), versions 2 and 3: open, read, write, create, check. */
#ifndef HUTCH_DEVICES_BLOCK_QCOW2_H
#define HUTCH_DEVICES_BLOCK_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/block/disk.h"

#define QCOW2_MIN_CLUSTER_BITS	   9
#define QCOW2_MAX_CLUSTER_BITS	   21
#define QCOW2_DEFAULT_CLUSTER_BITS 16
/* Backing chains deeper than this are refused (a loop also ends here at the latest). */
#define QCOW2_MAX_BACKING_DEPTH 64

struct qcow2;

struct qcow2_info {
	uint32_t version; /* 2 or 3 */
	unsigned cluster_bits, refcount_bits;
	uint64_t size;		 /* virtual */
	uint64_t file_size;	 /* the container file's length */
	char backing_file[1024]; /* as recorded in the header; "" for none */
	char backing_format[16]; /* "raw", "qcow2", or "" (not recorded) */
	bool dirty, corrupt, lazy_refcounts;
	uint64_t incompatible_features, compatible_features, autoclear_features;
	uint32_t l1_size;
	uint32_t nb_snapshots; /* internal snapshots (tolerated: such images are read-only here) */
};

struct qcow2_check_result {
	uint64_t leaks, leaks_fixed, corruptions, allocated_clusters, total_clusters,
		compressed_clusters;
};

/* The magic "QFI\xfb" and a version of 2 or 3 (len >= 8). */
bool qcow2_probe(const void *buf, size_t len);

/*
 * Opens a qcow2 container already opened as disk (qcow2 takes no ownership
 * of disk, which must outlive q). Backing files are opened read-only with
 * image_open() using the format recorded in the header (raw when none is
 * recorded: never probed), their paths relative to this image's directory.
 * 0 or -errno (-EINVAL malformed, -ENOTSUP unsupported feature) with one
 * line in err.
 */
int qcow2_open(struct qcow2 **out, struct disk *disk, char *err, size_t errlen)
	__attribute__((warn_unused_result));
struct image_chain;
/* Internal: qcow2_open() of an image whose place in a backing chain is chain (image.c). */
int qcow2_open_chain(struct qcow2 **out, struct disk *disk, const struct image_chain *chain,
		     char *err, size_t errlen) __attribute__((warn_unused_result));
/* Writes back caches (best effort; call qcow2_flush() first to see errors) and frees q. */
void qcow2_close(struct qcow2 *q);
void qcow2_get_info(struct qcow2 *q, struct qcow2_info *out);

/* Thread-safe. The caller checks ranges against the virtual size. 0 or -errno. */
int qcow2_preadv(struct qcow2 *q, const struct iovec *iov, unsigned iovcnt, uint64_t offset);
int qcow2_pwritev(struct qcow2 *q, const struct iovec *iov, unsigned iovcnt, uint64_t offset);
int qcow2_flush(struct qcow2 *q);
int qcow2_discard(struct qcow2 *q, uint64_t offset, uint64_t len);
int qcow2_write_zeroes(struct qcow2 *q, uint64_t offset, uint64_t len);
/* As image_block_status(). */
int qcow2_block_status(struct qcow2 *q, uint64_t offset, uint64_t len, uint64_t *pnum);
/*
 * Writes one whole cluster (cluster_size bytes at a cluster-aligned offset,
 * not yet allocated) deflate-compressed if that saves space, else normally.
 * For `hutch img convert -c`. -EEXIST when the cluster is allocated.
 */
int qcow2_write_compressed(struct qcow2 *q, uint64_t offset, const void *buf);
/*
 * Creates a new v3 image (refcount_bits 16, lazy_refcounts off); size 0
 * with a backing file takes the backing file's size. backing_fmt NULL:
 * detect it once at create time (the format is then recorded in the
 * header). Fails with -EEXIST if path exists.
 */
int qcow2_create(const char *path, uint64_t size, unsigned cluster_bits, const char *backing,
		 const char *backing_fmt, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/*
 * Checks an image opened read-only (or read-write with repair): refcounts
 * recomputed from L1/L2 and the metadata, compared; with repair, leaked
 * clusters' refcounts are fixed (never anything else). 0 (res filled) or
 * -errno.
 */
int qcow2_check(struct qcow2 *q, bool repair, struct qcow2_check_result *res, char *err,
		size_t errlen);
/* Grows the virtual size (shrinking: -ENOTSUP). */
int qcow2_resize(struct qcow2 *q, uint64_t new_size);

#endif

/* qcow2 images: open and close, backing files, flush, resize, check, and the crash-safety rules. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/block/qcow2_int.h"
#include "vmm/log.h"

/*
 * Crash safety: the order of metadata updates.
 *
 * A crash (or power loss) at any point must leave at worst leaked clusters
 * (a refcount higher than the references), never a cluster referenced twice
 * or a mapping to the wrong data. The rules, without lazy refcounts:
 *
 *  1. A refcount increase reaches the disk, and is synced, before any L1 or
 *     L2 entry that references the new cluster: qcow2_barrier() writes back
 *     the refcount block cache and calls fdatasync() before any L2 table is
 *     written (cache write-back or eviction) and before any L1 entry.
 *  2. Guest data is written into a newly allocated cluster before its L2
 *     entry is even changed in the cache, so the same barrier makes the data
 *     durable before the L2 entry that points at it.
 *  3. A new L2 table is written (zeroes) and synced before the L1 entry
 *     pointing to it; a new refcount block is written and synced before its
 *     refcount table entry; a new refcount table or L1 table is written and
 *     synced before the header points at it, and the old one is released
 *     only after that header write is synced.
 *  4. A refcount decrease (discard, zeroing, rewriting a compressed cluster)
 *     happens only after the L2 table that dropped the reference has been
 *     written and synced; a decrease may then reach the disk at any time.
 *  5. Refcounts never drop in the cache before that, so the allocator never
 *     hands out a cluster that the disk still references.
 *
 * With lazy refcounts (compatible bit 0) rule 1 is relaxed: the dirty bit is
 * set and synced before the first change, refcounts are written back at
 * flush and close only, and an image found dirty has its refcounts rebuilt
 * from the references when opened read-write. The dirty bit is cleared on
 * close, after everything is synced.
 *
 * image_flush() = L2 tables (each after the barrier), refcount blocks,
 * fdatasync.
 *
 * Locking: q->lock guards all metadata and the caches. Reads and writes of
 * clusters that are already allocated (and rewritable in place) run outside
 * it, counted in q->inflight; whatever frees clusters (discard, zeroing)
 * first waits for inflight to drop to 0, so a cluster is never reused while
 * someone still transfers data to or from it.
 *
 * Internal snapshots are tolerated read-only: the active L1 table is read,
 * snapshots are counted by check; opening such an image writable is refused.
 */

int qcow2_pread_full(struct qcow2 *q, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(q->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* metadata past the end of the file */
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int qcow2_pwrite_full(struct qcow2 *q, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	q->unsynced = true;
	while (len) {
		ssize_t n = pwrite(q->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int qcow2_sync(struct qcow2 *q)
{
	q->unsynced = false;
	if (fdatasync(q->fd) < 0) {
		q->unsynced = true;
		return -errno;
	}
	return 0;
}

int qcow2_barrier(struct qcow2 *q)
{
	int r;

	if (!q->lazy) {
		r = qcow2_cache_flush(q, &q->rb_cache);
		if (r < 0)
			return r;
	}
	return q->unsynced ? qcow2_sync(q) : 0;
}

int qcow2_corrupt(struct qcow2 *q, const char *what, uint64_t off)
{
	LOG_RATELIMITED("%s: qcow2 %s %#llx: image corrupt, writes refused",
			q->disk->path ? q->disk->path : "?", what, (unsigned long long)off);
	if (!q->broken && !q->readonly && q->version >= 3) {
		/* Best effort: QEMU then refuses to open it writable until repaired. */
		q->incompat |= QCOW2_INCOMPAT_CORRUPT;
		if (qcow2_write_header_u64(q, QCOW2_HDR_INCOMPAT, q->incompat) == 0)
			(void)qcow2_sync(q);
	}
	q->broken = true;
	return -EIO;
}

/* The refcount table, each entry checked: aligned, inside the file, clear of fixed metadata. */
static int load_refcount_table(struct qcow2 *q, char *err, size_t errlen)
{
	int r;

	q->rt_entries = (uint64_t)q->rt_clusters * q->cluster_size / 8;
	q->rt = malloc(q->rt_entries * 8);
	if (!q->rt)
		return -ENOMEM;
	r = qcow2_pread_full(q, q->rt, q->rt_entries * 8, q->rt_offset);
	if (r < 0) {
		log_set_err(err, errlen, "cannot read the refcount table: %s", strerror(-r));
		return r;
	}
	for (uint64_t i = 0; i < q->rt_entries; i++) {
		uint64_t e = qcow2_be64(&q->rt[i]);

		q->rt[i] = e;
		if (!e)
			continue;
		if ((e & (q->cluster_size - 1)) || e > q->file_end ||
		    q->cluster_size > q->file_end - e ||
		    qcow2_overlaps_fixed(q, e, q->cluster_size)) {
			log_set_err(err, errlen, "qcow2 refcount block %llu at %#llx is invalid",
				    (unsigned long long)i, (unsigned long long)e);
			return -EINVAL;
		}
	}
	return 0;
}

static int load_l1(struct qcow2 *q, char *err, size_t errlen)
{
	int r;

	q->l1 = calloc(q->l1_size ? q->l1_size : 1, 8);
	if (!q->l1)
		return -ENOMEM;
	r = q->l1_size ? qcow2_pread_full(q, q->l1, (size_t)q->l1_size * 8, q->l1_offset) : 0;
	if (r < 0) {
		log_set_err(err, errlen, "cannot read the L1 table: %s", strerror(-r));
		return r;
	}
	for (uint32_t i = 0; i < q->l1_size; i++)
		q->l1[i] = qcow2_be64(&q->l1[i]);
	return 0;
}

/* The backing file, named relative to this image's directory, in the format the header records. */
static int open_backing(struct qcow2 *q, const struct image_chain *chain, char *err, size_t errlen)
{
	enum image_format fmt = IMAGE_FORMAT_RAW;
	char *path = NULL, *copy, e[256];
	int r;

	if (q->backing_format[0] &&
	    (image_format_parse(q->backing_format, &fmt) < 0 || fmt == IMAGE_FORMAT_AUTO)) {
		log_set_err(err, errlen, "backing format '%s' is not supported", q->backing_format);
		return -ENOTSUP;
	}
	copy = strdup(q->disk->path ? q->disk->path : ".");
	if (!copy)
		return -ENOMEM;
	if (q->backing_file[0] == '/')
		path = strdup(q->backing_file);
	else if (asprintf(&path, "%s/%s", dirname(copy), q->backing_file) < 0)
		path = NULL;
	free(copy);
	q->backing = calloc(1, sizeof(*q->backing));
	if (!path || !q->backing) {
		free(path);
		return -ENOMEM;
	}
	r = image_open_chain(q->backing, path, fmt, true, chain, e, sizeof(e));
	free(path);
	if (r < 0) {
		free(q->backing);
		q->backing = NULL;
		log_set_err(err, errlen, "backing file %s: %s", q->backing_file, e);
	}
	return r;
}

static unsigned cache_tables(uint64_t budget, uint64_t cluster_size, unsigned max)
{
	uint64_t n = budget / cluster_size;

	return n < 4 ? 4 : n > max ? max : (unsigned)n;
}

/* Read-write open: dirty images repaired, autoclear bits cleared (qcow2.txt). */
static int open_writable(struct qcow2 *q, char *err, size_t errlen)
{
	int r;

	if (q->nb_snapshots) {
		log_set_err(err, errlen,
			    "qcow2 image has internal snapshots: only read-only use is supported");
		return -ENOTSUP;
	}
	q->lazy = q->compat & QCOW2_COMPAT_LAZY_REFCOUNTS;
	if (q->incompat & QCOW2_INCOMPAT_DIRTY) {
		struct qcow2_check_result res;

		q->dirty_set = true;
		r = qcow2_check_locked(q, QCOW2_CHECK_FIX_ALL, &res, err, errlen);
		/* Again, to see that nothing is left (COPIED flags compare to the new counts). */
		if (r == 0)
			r = qcow2_check_locked(q, QCOW2_CHECK_ONLY, &res, err, errlen);
		if (r == 0 && res.corruptions) {
			log_set_err(err, errlen,
				    "qcow2 image is dirty and cannot be repaired here");
			r = -EINVAL;
		}
		if (r == 0)
			r = qcow2_mark_clean(q);
		if (r < 0)
			return r;
	}
	if (q->autoclear) {
		r = qcow2_write_header_u64(q, QCOW2_HDR_AUTOCLEAR, 0);
		if (r == 0)
			r = qcow2_sync(q);
		if (r < 0) {
			log_set_err(err, errlen, "cannot update the header: %s", strerror(-r));
			return r;
		}
		q->autoclear = 0;
	}
	return 0;
}

static void qcow2_free(struct qcow2 *q)
{
	if (q->backing) {
		image_close(q->backing);
		free(q->backing);
	}
	qcow2_cache_free(&q->l2_cache);
	qcow2_cache_free(&q->rb_cache);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->idle);
	free(q->l1);
	free(q->rt);
	free(q->snapshots);
	free(q->feature_names);
	free(q->zin);
	free(q->zout);
	free(q);
}

int qcow2_open_chain(struct qcow2 **out, struct disk *disk, const struct image_chain *chain,
		     char *err, size_t errlen)
{
	struct qcow2 *q = calloc(1, sizeof(*q));
	struct stat st;
	int r;

	*out = NULL;
	if (!q)
		return -ENOMEM;
	q->disk = disk;
	q->fd = disk->fd;
	q->readonly = disk->readonly;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->idle, NULL);
	if (fstat(q->fd, &st) < 0) {
		r = -errno;
		goto err;
	}
	q->file_end = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : disk->size;
	r = qcow2_read_header(q, err, errlen);
	if (r < 0)
		goto err;
	q->refcount_bits = 1u << q->refcount_order;
	q->rb_bits = q->cluster_bits + 3 - q->refcount_order;
	q->rc_max = q->refcount_bits == 64 ? INT64_MAX : (1ull << q->refcount_bits) - 1;
	r = load_l1(q, err, errlen);
	if (r == 0)
		r = load_refcount_table(q, err, errlen);
	if (r < 0)
		goto err;
	r = qcow2_cache_init(&q->l2_cache, cache_tables(16u << 20, q->cluster_size, 64),
			     q->cluster_size, true);
	if (r == 0)
		r = qcow2_cache_init(&q->rb_cache, cache_tables(4u << 20, q->cluster_size, 32),
				     q->cluster_size, false);
	if (r < 0)
		goto err;
	if (q->backing_file[0] && !chain->no_backing) {
		r = open_backing(q, chain, err, errlen);
		if (r < 0)
			goto err;
	}
	if (q->incompat & QCOW2_INCOMPAT_DIRTY)
		q->dirty_set = true;
	if (!q->readonly) {
		r = open_writable(q, err, errlen);
		if (r < 0)
			goto err;
	}
	*out = q;
	return 0;
err:
	if (r == -ENOMEM)
		log_set_err(err, errlen, "out of memory");
	else if (err && errlen && !err[0])
		log_set_err(err, errlen, "cannot open qcow2 image: %s", strerror(-r));
	qcow2_free(q);
	return r;
}

int qcow2_open(struct qcow2 **out, struct disk *disk, char *err, size_t errlen)
{
	struct stat st;
	struct image_chain top = { 0 };

	if (fstat(disk->fd, &st) == 0) {
		top.dev = st.st_dev;
		top.ino = st.st_ino;
	}
	if (err && errlen)
		err[0] = 0;
	return qcow2_open_chain(out, disk, &top, err, errlen);
}

static void wait_idle(struct qcow2 *q)
{
	while (q->inflight)
		pthread_cond_wait(&q->idle, &q->lock);
}

/* Caches back to the disk in the safe order, then fdatasync. */
static int flush_locked(struct qcow2 *q)
{
	int r;

	if (q->readonly)
		return 0;
	r = qcow2_cache_flush(q, &q->l2_cache);
	if (r == 0)
		r = qcow2_cache_flush(q, &q->rb_cache);
	if (r == 0 && q->unsynced)
		r = qcow2_sync(q);
	return r;
}

int qcow2_flush(struct qcow2 *q)
{
	int r;

	pthread_mutex_lock(&q->lock);
	r = flush_locked(q);
	pthread_mutex_unlock(&q->lock);
	return r;
}

void qcow2_close(struct qcow2 *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	wait_idle(q);
	if (flush_locked(q) == 0 && q->lazy && !q->readonly && !q->broken)
		(void)qcow2_mark_clean(q);
	pthread_mutex_unlock(&q->lock);
	qcow2_free(q);
}

void qcow2_get_info(struct qcow2 *q, struct qcow2_info *out)
{
	struct stat st;

	pthread_mutex_lock(&q->lock);
	*out = (struct qcow2_info){
		.version = q->version,
		.cluster_bits = q->cluster_bits,
		.refcount_bits = q->refcount_bits,
		.size = q->size,
		.file_size = fstat(q->fd, &st) == 0 ? (uint64_t)st.st_size : q->file_end,
		.dirty = q->incompat & QCOW2_INCOMPAT_DIRTY,
		.corrupt = q->incompat & QCOW2_INCOMPAT_CORRUPT,
		.lazy_refcounts = q->compat & QCOW2_COMPAT_LAZY_REFCOUNTS,
		.incompatible_features = q->incompat,
		.compatible_features = q->compat,
		.autoclear_features = q->autoclear,
		.l1_size = q->l1_size,
		.nb_snapshots = q->nb_snapshots,
	};
	snprintf(out->backing_file, sizeof(out->backing_file), "%s", q->backing_file);
	snprintf(out->backing_format, sizeof(out->backing_format), "%s", q->backing_format);
	pthread_mutex_unlock(&q->lock);
}

int qcow2_check(struct qcow2 *q, bool repair, struct qcow2_check_result *res, char *err,
		size_t errlen)
{
	int r;

	if (repair && q->readonly) {
		log_set_err(err, errlen, "repair needs the image opened read-write");
		return -EROFS;
	}
	pthread_mutex_lock(&q->lock);
	wait_idle(q);
	r = flush_locked(q); /* check reads L2 tables from the disk */
	if (r == 0)
		r = qcow2_check_locked(q, repair ? QCOW2_CHECK_FIX_LEAKS : QCOW2_CHECK_ONLY, res,
				       err, errlen);
	else
		log_set_err(err, errlen, "cannot flush: %s", strerror(-r));
	pthread_mutex_unlock(&q->lock);
	return r;
}

/* A bigger L1 table in new clusters: written, synced, then the header switched, then the old freed. */
static int grow_l1(struct qcow2 *q, uint64_t new_size, uint32_t entries)
{
	uint64_t bytes = qcow2_align_up((uint64_t)entries * 8, q->cluster_size);
	uint64_t *l1 = calloc(1, bytes), old_off = q->l1_offset;
	uint64_t old_clusters =
		qcow2_align_up((uint64_t)q->l1_size * 8, q->cluster_size) >> q->cluster_bits;
	uint8_t hdr[24] = { 0 };
	int64_t off;
	int r;

	if (!l1)
		return -ENOMEM;
	off = qcow2_alloc_clusters(q, bytes >> q->cluster_bits);
	r = off < 0 ? (int)off : 0;
	for (uint32_t i = 0; r == 0 && i < q->l1_size; i++)
		qcow2_put_be64(&l1[i], q->l1[i]);
	if (r == 0)
		r = qcow2_pwrite_full(q, l1, bytes, (uint64_t)off);
	if (r == 0)
		r = qcow2_barrier(q);
	/* Header bytes 24-47: size, crypt_method (0), l1_size, l1_table_offset: one write. */
	qcow2_put_be64(hdr, new_size);
	qcow2_put_be32(hdr + 12, entries);
	qcow2_put_be64(hdr + 16, (uint64_t)off);
	if (r == 0)
		r = qcow2_pwrite_full(q, hdr, sizeof(hdr), QCOW2_HDR_SIZE);
	if (r == 0)
		r = qcow2_sync(q);
	if (r < 0) {
		free(l1);
		return r;
	}
	for (uint32_t i = 0; i < entries; i++)
		l1[i] = i < q->l1_size ? q->l1[i] : 0;
	free(q->l1);
	q->l1 = l1;
	q->l1_offset = (uint64_t)off;
	q->l1_size = entries;
	q->size = new_size;
	return old_clusters ? qcow2_refcount_add(q, old_off, old_clusters, -1) : 0;
}

int qcow2_resize(struct qcow2 *q, uint64_t new_size)
{
	uint64_t l2_span = q->cluster_size << q->l2_bits, entries;
	int r;

	new_size = qcow2_align_up(new_size, 512);
	if (new_size < q->size)
		return -ENOTSUP;
	if (q->readonly)
		return -EROFS;
	if (new_size > QCOW2_MAX_VIRTUAL_SIZE)
		return -EFBIG;
	entries = (new_size + l2_span - 1) / l2_span;
	if (entries * 8 > QCOW2_MAX_L1_BYTES)
		return -EFBIG;
	pthread_mutex_lock(&q->lock);
	r = q->broken ? -EIO : q->lazy ? qcow2_mark_dirty(q) : 0;
	if (r < 0) {
		/* nothing changed */
	} else if (entries > q->l1_size) {
		r = grow_l1(q, new_size, (uint32_t)entries);
	} else {
		r = qcow2_write_header_u64(q, QCOW2_HDR_SIZE, new_size);
		if (r == 0)
			r = qcow2_sync(q);
		if (r == 0)
			q->size = new_size;
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

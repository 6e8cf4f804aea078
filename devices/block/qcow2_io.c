/* qcow2 data paths: reads, writes with allocation and copy-on-write, discard, zeroes, compression. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "devices/block/qcow2_int.h"

enum qcow2_kind {
	KIND_UNALLOC,	 /* not in this image: the backing file, or zeroes */
	KIND_ZERO,	 /* reads as zeroes (v3 zero flag), host may be preallocated */
	KIND_NORMAL,	 /* data at host */
	KIND_COMPRESSED, /* deflate data described by entry */
};

/* A run of guest clusters mapped alike, from a guest offset on, inside one L2 table. */
struct qcow2_run {
	enum qcow2_kind kind;
	uint64_t entry; /* the first cluster's L2 entry */
	uint64_t host;	/* host offset of the guest offset (NORMAL), of its cluster (ZERO) */
	uint64_t len;	/* bytes */
	bool copied;	/* NORMAL or ZERO: the cluster can be rewritten in place */
};

/* ------------------------------------------------------------ iovecs ---- */

/* The part [off, off+len) of src as iovecs in dst (which has room for cnt). */
static unsigned iov_slice(const struct iovec *src, unsigned cnt, uint64_t off, uint64_t len,
			  struct iovec *dst)
{
	unsigned n = 0;

	for (unsigned i = 0; i < cnt && len; i++) {
		uint64_t l = src[i].iov_len, take;

		if (off >= l) {
			off -= l;
			continue;
		}
		take = l - off < len ? l - off : len;
		dst[n].iov_base = (uint8_t *)src[i].iov_base + off;
		dst[n++].iov_len = take;
		len -= take;
		off = 0;
	}
	return n;
}

static void iov_zero(struct iovec *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		memset(v[i].iov_base, 0, v[i].iov_len);
}

static void iov_copy_out(const struct iovec *v, unsigned n, uint8_t *dst)
{
	for (unsigned i = 0; i < n; i++) {
		memcpy(dst, v[i].iov_base, v[i].iov_len);
		dst += v[i].iov_len;
	}
}

static void iov_copy_in(struct iovec *v, unsigned n, const uint8_t *src)
{
	for (unsigned i = 0; i < n; i++) {
		memcpy(v[i].iov_base, src, v[i].iov_len);
		src += v[i].iov_len;
	}
}

/* Drops done bytes from the front of v[0, *n). */
static struct iovec *iov_advance(struct iovec *v, unsigned *n, size_t done)
{
	while (*n && done >= v->iov_len) {
		done -= v->iov_len;
		v++;
		(*n)--;
	}
	if (*n) {
		v->iov_base = (uint8_t *)v->iov_base + done;
		v->iov_len -= done;
	}
	return v;
}

/* preadv/pwritev until done; reads past the end of the file give zeroes. */
static int rw_full(int fd, struct iovec *v, unsigned n, uint64_t off, bool write)
{
	while (n) {
		int cnt = n > IOV_MAX ? IOV_MAX : (int)n;
		ssize_t r =
			write ? pwritev(fd, v, cnt, (off_t)off) : preadv(fd, v, cnt, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0) {
			if (write)
				return -EIO;
			iov_zero(v, n);
			return 0;
		}
		off += (uint64_t)r;
		v = iov_advance(v, &n, (size_t)r);
	}
	return 0;
}

/* -------------------------------------------------------- the mapping ---- */

static int write_l1_entry(struct qcow2 *q, uint64_t i, uint64_t v)
{
	uint8_t b[8];
	int r;

	qcow2_put_be64(b, v);
	r = qcow2_pwrite_full(q, b, 8, q->l1_offset + i * 8);
	if (r == 0)
		q->l1[i] = v;
	return r;
}

/* A new, empty L2 table: refcount and zeroes synced before the L1 entry points to it. */
static int new_l2(struct qcow2 *q, uint64_t l1i, uint8_t **table)
{
	int64_t off = qcow2_alloc_clusters(q, 1);
	int r;

	if (off < 0)
		return (int)off;
	r = qcow2_cache_get(q, &q->l2_cache, (uint64_t)off, false, table);
	if (r == 0)
		r = qcow2_cache_write_table(q, &q->l2_cache, *table);
	if (r == 0)
		r = qcow2_sync(q);
	if (r == 0)
		r = write_l1_entry(q, l1i, (uint64_t)off | QCOW2_OFLAG_COPIED);
	return r;
}

/*
 * A cluster whose entry lacks the COPIED flag may still be written in place
 * when nothing else references it (refcount 1; the caller then sets the
 * flag); shared, it is corruption: this image has no snapshots to write.
 */
static int sole_owner(struct qcow2 *q, uint64_t off, const char *what)
{
	uint64_t rc;
	int r = qcow2_refcount_get(q, off >> q->cluster_bits, &rc);

	if (r < 0)
		return r;
	return rc == 1 ? 0 : qcow2_corrupt(q, what, off);
}

/* The L2 table for guest offset goff (NULL when none and !alloc), and the entry's index. */
static int get_l2(struct qcow2 *q, uint64_t goff, bool alloc, uint8_t **table, uint64_t *idx)
{
	uint64_t l1i = goff >> (q->cluster_bits + q->l2_bits), e, off;
	int r;

	*table = NULL;
	*idx = (goff >> q->cluster_bits) & ((1ull << q->l2_bits) - 1);
	if (l1i >= q->l1_size)
		return qcow2_corrupt(q, "guest offset past the L1 table", goff);
	e = q->l1[l1i];
	off = e & QCOW2_OFFSET_MASK;
	if (!off)
		return alloc ? new_l2(q, l1i, table) : 0;
	if ((e & QCOW2_L1_RESERVED) || (off & (q->cluster_size - 1)) ||
	    off + q->cluster_size > qcow2_align_up(q->file_end, q->cluster_size) ||
	    qcow2_overlaps_fixed(q, off, q->cluster_size))
		return qcow2_corrupt(q, "L2 table offset invalid:", off);
	if (alloc && !(e & QCOW2_OFLAG_COPIED)) {
		r = sole_owner(q, off, "L2 table shared, cannot write:");
		if (r < 0)
			return r;
		r = write_l1_entry(q, l1i, e | QCOW2_OFLAG_COPIED);
		if (r < 0)
			return r;
	}
	return qcow2_cache_get(q, &q->l2_cache, off, true, table);
}

/* What an L2 entry says, checked. */
static int classify(struct qcow2 *q, uint64_t e, enum qcow2_kind *kind, uint64_t *host)
{
	uint64_t end = qcow2_align_up(q->file_end, q->cluster_size);

	*host = 0;
	if (e & QCOW2_OFLAG_COMPRESSED) {
		*kind = KIND_COMPRESSED;
		return 0;
	}
	if (e & QCOW2_L2_RESERVED)
		return qcow2_corrupt(q, "L2 entry has reserved bits set:", e);
	*host = e & QCOW2_OFFSET_MASK;
	if (*host & (q->cluster_size - 1))
		return qcow2_corrupt(q, "data cluster offset unaligned:", *host);
	if (*host && (*host >= end || qcow2_overlaps_fixed(q, *host, q->cluster_size)))
		return qcow2_corrupt(q, "data cluster offset invalid:", *host);
	if (e & QCOW2_OFLAG_ZERO) {
		if (q->version < 3)
			return qcow2_corrupt(q, "zero cluster in a version 2 image:", e);
		*kind = KIND_ZERO;
	} else {
		*kind = *host ? KIND_NORMAL : KIND_UNALLOC;
	}
	return 0;
}

/*
 * The run from goff (at most max bytes) mapped alike: unallocated or zero
 * clusters, host-contiguous NORMAL clusters (with the same COPIED state), or
 * one compressed cluster.
 */
static int map_run(struct qcow2 *q, uint64_t goff, uint64_t max, struct qcow2_run *run)
{
	uint64_t in = goff & (q->cluster_size - 1), idx, n = 1, entries = 1ull << q->l2_bits;
	uint8_t *l2;
	int r = get_l2(q, goff, false, &l2, &idx);

	if (r < 0)
		return r;
	*run = (struct qcow2_run){ .kind = KIND_UNALLOC };
	if (!l2) {
		run->len = ((entries - idx) << q->cluster_bits) - in;
		run->len = run->len < max ? run->len : max;
		return 0;
	}
	run->entry = qcow2_be64(l2 + idx * 8);
	r = classify(q, run->entry, &run->kind, &run->host);
	if (r < 0)
		return r;
	run->copied = run->entry & QCOW2_OFLAG_COPIED;
	while (run->kind != KIND_COMPRESSED && idx + n < entries &&
	       (n << q->cluster_bits) - in < max) {
		uint64_t e = qcow2_be64(l2 + (idx + n) * 8), host;
		enum qcow2_kind k;

		r = classify(q, e, &k, &host);
		if (r < 0)
			return r;
		if (k != run->kind || !!(e & QCOW2_OFLAG_COPIED) != run->copied)
			break;
		if (k == KIND_NORMAL && host != run->host + (n << q->cluster_bits))
			break;
		if (k == KIND_ZERO && host)
			break; /* preallocated zero clusters: one at a time */
		n++;
	}
	if (run->kind == KIND_ZERO && run->host)
		n = 1;
	run->len = (n << q->cluster_bits) - in;
	run->len = run->len < max ? run->len : max;
	if (run->kind == KIND_NORMAL)
		run->host += in;
	return 0;
}

/* ------------------------------------------------------- compression ---- */

/* The guest cluster the compressed entry holds, inflated into q->zout. */
static int inflate_cluster(struct qcow2 *q, uint64_t entry)
{
	uint64_t off, len;
	z_stream zs = { 0 };
	ssize_t got;
	int r;

	if (q->zout_entry == entry)
		return 0;
	q->zout_entry = 0;
	if (!q->zin)
		q->zin = malloc(2 * q->cluster_size + 512);
	if (!q->zout)
		q->zout = malloc(q->cluster_size);
	if (!q->zin || !q->zout)
		return -ENOMEM;
	qcow2_compressed_range(q, entry, &off, &len);
	if (off >= q->file_end)
		return qcow2_corrupt(q, "compressed cluster past end of file:", off);
	do
		got = pread(q->fd, q->zin, len, (off_t)off);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	/* qcow2.txt: raw deflate; decompression stops once a cluster is produced. */
	if (inflateInit2(&zs, -15) != Z_OK)
		return -ENOMEM;
	zs.next_in = q->zin;
	zs.avail_in = (uInt)got;
	zs.next_out = q->zout;
	zs.avail_out = (uInt)q->cluster_size;
	r = inflate(&zs, Z_FINISH);
	inflateEnd(&zs);
	if ((r != Z_STREAM_END && r != Z_BUF_ERROR && r != Z_OK) || zs.avail_out != 0)
		return qcow2_corrupt(q, "compressed cluster does not inflate:", off);
	q->zout_entry = entry;
	return 0;
}

/* ------------------------------------------------------------- reads ---- */

static int read_backing(struct qcow2 *q, struct iovec *v, unsigned n, uint64_t goff, uint64_t len)
{
	uint64_t bsize = q->backing ? q->backing->size : 0, part;
	struct iovec *tmp;
	unsigned m;
	int r;

	part = goff < bsize ? (bsize - goff < len ? bsize - goff : len) : 0;
	if (part == len)
		return image_preadv(q->backing, v, n, goff);
	tmp = calloc(n ? n : 1, sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	m = iov_slice(v, n, part, len - part, tmp);
	iov_zero(tmp, m);
	r = 0;
	if (part) {
		m = iov_slice(v, n, 0, part, tmp);
		r = image_preadv(q->backing, tmp, m, goff);
	}
	free(tmp);
	return r;
}

/* One run into v[0, n): called and returns with the lock held. */
static int read_run(struct qcow2 *q, const struct qcow2_run *run, struct iovec *v, unsigned n,
		    uint64_t goff)
{
	int r;

	switch (run->kind) {
	case KIND_NORMAL:
		q->inflight++;
		pthread_mutex_unlock(&q->lock);
		r = rw_full(q->fd, v, n, run->host, false);
		pthread_mutex_lock(&q->lock);
		if (--q->inflight == 0)
			pthread_cond_broadcast(&q->idle);
		return r;
	case KIND_COMPRESSED:
		r = inflate_cluster(q, run->entry);
		if (r == 0)
			iov_copy_in(v, n, q->zout + (goff & (q->cluster_size - 1)));
		return r;
	case KIND_UNALLOC:
		if (q->backing) {
			pthread_mutex_unlock(&q->lock);
			r = read_backing(q, v, n, goff, run->len);
			pthread_mutex_lock(&q->lock);
			return r;
		}
		/* fallthrough */
	case KIND_ZERO: iov_zero(v, n); return 0;
	}
	return -EINVAL;
}

int qcow2_preadv(struct qcow2 *q, const struct iovec *iov, unsigned iovcnt, uint64_t offset)
{
	uint64_t total = 0, pos = 0;
	struct iovec *v;
	int r = 0;

	for (unsigned i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	v = malloc((iovcnt ? iovcnt : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	pthread_mutex_lock(&q->lock);
	while (r == 0 && pos < total) {
		struct qcow2_run run;
		unsigned n;

		r = map_run(q, offset + pos, total - pos, &run);
		if (r < 0)
			break;
		n = iov_slice(iov, iovcnt, pos, run.len, v);
		r = read_run(q, &run, v, n, offset + pos);
		pos += run.len;
	}
	pthread_mutex_unlock(&q->lock);
	free(v);
	return r;
}

/* ------------------------------------------------------------ writes ---- */

/* Before a change to the metadata: writable, sound, and dirty when refcounts are lazy. */
static int begin_change(struct qcow2 *q)
{
	if (q->readonly)
		return -EROFS;
	if (q->broken)
		return -EIO;
	return q->lazy ? qcow2_mark_dirty(q) : 0;
}

/*
 * The whole guest cluster at cstart as it reads now, into buf (for
 * copy-on-write), without dropping the lock: a concurrent write into the
 * same cluster must not allocate it a second time meanwhile.
 */
static int read_cluster(struct qcow2 *q, const struct qcow2_run *run, uint64_t cstart, uint8_t *buf)
{
	struct iovec v = { buf, q->cluster_size };
	int r;

	switch (run->kind) {
	case KIND_COMPRESSED:
		r = inflate_cluster(q, run->entry);
		if (r == 0)
			memcpy(buf, q->zout, q->cluster_size);
		return r;
	case KIND_UNALLOC:
		if (q->backing)
			return read_backing(q, &v, 1, cstart, q->cluster_size);
		/* fallthrough */
	default: memset(buf, 0, q->cluster_size); return 0;
	}
}

static int set_l2_entry(struct qcow2 *q, uint64_t goff, uint64_t entry)
{
	uint8_t *l2;
	uint64_t idx;
	int r = get_l2(q, goff, true, &l2, &idx);

	if (r < 0)
		return r;
	qcow2_put_be64(l2 + idx * 8, entry);
	qcow2_cache_mark_dirty(&q->l2_cache, l2);
	return 0;
}

/*
 * After the L2 entry at goff dropped a reference to old (compressed or
 * normal): the table written and synced first, then the refcount decrease.
 */
static int release_after_l2(struct qcow2 *q, uint64_t goff, uint64_t old)
{
	uint8_t *l2;
	uint64_t idx;
	int r = get_l2(q, goff, false, &l2, &idx);

	if (r == 0 && l2)
		r = qcow2_cache_write_table(q, &q->l2_cache, l2);
	if (r == 0)
		r = qcow2_sync(q);
	if (r < 0)
		return r;
	q->compress_next = 0;
	q->zout_entry = 0;
	if (old & QCOW2_OFLAG_COMPRESSED)
		return qcow2_free_compressed(q, old);
	return qcow2_refcount_add(q, old & QCOW2_OFFSET_MASK, 1, -1);
}

/* One guest cluster, partly written or in need of its old content: bounce buffer, new cluster. */
static int write_cow(struct qcow2 *q, const struct qcow2_run *run, const struct iovec *v,
		     unsigned n, uint64_t goff, uint64_t len)
{
	uint64_t cstart = goff & ~(q->cluster_size - 1), in = goff - cstart, host;
	uint8_t *buf = malloc(q->cluster_size);
	bool in_place = run->kind == KIND_ZERO && run->host && run->copied;
	int64_t off;
	int r;

	if (!buf)
		return -ENOMEM;
	r = read_cluster(q, run, cstart, buf);
	if (r < 0)
		goto out;
	iov_copy_out(v, n, buf + in);
	(void)len;
	if (in_place) {
		host = run->host;
	} else {
		off = qcow2_alloc_clusters(q, 1);
		if (off < 0) {
			r = (int)off;
			goto out;
		}
		host = (uint64_t)off;
	}
	/* Data before the L2 entry that points at it (the barrier syncs it before the table). */
	r = qcow2_pwrite_full(q, buf, q->cluster_size, host);
	if (r == 0)
		r = set_l2_entry(q, cstart, host | QCOW2_OFLAG_COPIED);
	if (r == 0 && !in_place && (run->kind == KIND_COMPRESSED || run->host))
		r = release_after_l2(q, cstart, run->entry);
out:
	free(buf);
	return r;
}

/* Whole unallocated (or zero) clusters: new contiguous clusters, written straight from v. */
static int write_new_clusters(struct qcow2 *q, struct iovec *v, unsigned n, uint64_t goff,
			      uint64_t len)
{
	uint64_t k = len >> q->cluster_bits;
	int64_t off = qcow2_alloc_clusters(q, k);
	int r;

	if (off < 0)
		return (int)off;
	r = rw_full(q->fd, v, n, (uint64_t)off, true);
	q->unsynced = true;
	for (uint64_t i = 0; r == 0 && i < k; i++)
		r = set_l2_entry(q, goff + (i << q->cluster_bits),
				 ((uint64_t)off + (i << q->cluster_bits)) | QCOW2_OFLAG_COPIED);
	return r;
}

/* In place: a cluster already ours alone. */
static int write_in_place(struct qcow2 *q, struct qcow2_run *run, struct iovec *v, unsigned n,
			  uint64_t goff)
{
	int r;

	if (!run->copied) {
		uint64_t host = run->host & ~(q->cluster_size - 1);

		run->len = q->cluster_size - (goff & (q->cluster_size - 1)) < run->len
				   ? q->cluster_size - (goff & (q->cluster_size - 1))
				   : run->len;
		r = sole_owner(q, host, "data cluster shared, cannot write:");
		if (r < 0)
			return r;
		r = set_l2_entry(q, goff, host | QCOW2_OFLAG_COPIED);
		if (r < 0)
			return r;
	}
	q->inflight++;
	pthread_mutex_unlock(&q->lock);
	r = rw_full(q->fd, v, n, run->host, true);
	pthread_mutex_lock(&q->lock);
	q->unsynced = true;
	if (--q->inflight == 0)
		pthread_cond_broadcast(&q->idle);
	return r;
}

static int write_locked(struct qcow2 *q, const struct iovec *iov, unsigned iovcnt, uint64_t offset,
			uint64_t total, struct iovec *v)
{
	uint64_t pos = 0;
	int r = begin_change(q);

	while (r == 0 && pos < total) {
		uint64_t goff = offset + pos, in = goff & (q->cluster_size - 1);
		struct qcow2_run run;
		unsigned n;

		r = map_run(q, goff, total - pos, &run);
		if (r < 0)
			break;
		if (run.kind == KIND_NORMAL) {
			/* run.len may shrink inside for a cluster without COPIED */
			struct qcow2_run tmp = run;

			if (!tmp.copied)
				tmp.len = tmp.len < q->cluster_size - in ? tmp.len
									 : q->cluster_size - in;
			n = iov_slice(iov, iovcnt, pos, tmp.len, v);
			r = write_in_place(q, &tmp, v, n, goff);
			run.len = tmp.len;
		} else if (run.kind != KIND_COMPRESSED && !(run.kind == KIND_ZERO && run.host) &&
			   in == 0 && run.len >= q->cluster_size) {
			run.len &= ~(q->cluster_size - 1);
			if (run.len > qcow2_max_run(q))
				run.len = qcow2_max_run(q);
			n = iov_slice(iov, iovcnt, pos, run.len, v);
			r = write_new_clusters(q, v, n, goff, run.len);
		} else {
			run.len = run.len < q->cluster_size - in ? run.len : q->cluster_size - in;
			n = iov_slice(iov, iovcnt, pos, run.len, v);
			r = write_cow(q, &run, v, n, goff, run.len);
		}
		pos += run.len;
	}
	return r;
}

int qcow2_pwritev(struct qcow2 *q, const struct iovec *iov, unsigned iovcnt, uint64_t offset)
{
	uint64_t total = 0;
	struct iovec *v;
	int r;

	for (unsigned i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	v = malloc((iovcnt ? iovcnt : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	pthread_mutex_lock(&q->lock);
	r = write_locked(q, iov, iovcnt, offset, total, v);
	pthread_mutex_unlock(&q->lock);
	free(v);
	return r;
}

/* ------------------------------------------------- discard and zeroes ---- */

/*
 * Whole clusters [goff, goff + (k << cluster_bits)) become target (0:
 * unallocated, or the zero flag), one L2 table at a time; what they held
 * is released after that table is written and synced.
 */
static int set_clusters(struct qcow2 *q, uint64_t goff, uint64_t k, uint64_t target)
{
	uint64_t entries = 1ull << q->l2_bits;
	uint64_t *old = malloc(entries * sizeof(*old));
	int r = 0;

	if (!old)
		return -ENOMEM;
	while (r == 0 && k) {
		uint64_t idx, chunk, nold = 0;
		uint8_t *l2;

		r = get_l2(q, goff, target != 0, &l2, &idx);
		if (r < 0)
			break;
		chunk = entries - idx < k ? entries - idx : k;
		for (uint64_t i = 0; l2 && i < chunk; i++) {
			uint64_t e = qcow2_be64(l2 + (idx + i) * 8), host;
			enum qcow2_kind kind;

			if (e == target)
				continue;
			r = classify(q, e, &kind, &host);
			if (r < 0)
				break;
			if (kind == KIND_COMPRESSED || host)
				old[nold++] = e;
			qcow2_put_be64(l2 + (idx + i) * 8, target);
			qcow2_cache_mark_dirty(&q->l2_cache, l2);
		}
		if (r == 0 && nold) {
			r = qcow2_cache_write_table(q, &q->l2_cache, l2);
			if (r == 0)
				r = qcow2_sync(q);
			q->compress_next = 0;
			q->zout_entry = 0;
			for (uint64_t i = 0; r == 0 && i < nold; i++)
				r = old[i] & QCOW2_OFLAG_COMPRESSED
					    ? qcow2_free_compressed(q, old[i])
					    : qcow2_refcount_add(q, old[i] & QCOW2_OFFSET_MASK, 1,
								 -1);
		}
		goff += chunk << q->cluster_bits;
		k -= chunk;
	}
	free(old);
	return r;
}

/* What whole clusters become: unallocated without a backing file, else the zero flag (v3). */
static bool zero_target(struct qcow2 *q, uint64_t *target)
{
	if (!q->backing) {
		*target = 0;
		return true;
	}
	*target = QCOW2_OFLAG_ZERO;
	return q->version >= 3;
}

int qcow2_discard(struct qcow2 *q, uint64_t offset, uint64_t len)
{
	uint64_t first = qcow2_align_up(offset, q->cluster_size), end = offset + len, target;
	int r;

	if (end == q->size)
		end = qcow2_align_up(end, q->cluster_size); /* the partial last cluster */
	end &= ~(q->cluster_size - 1);
	pthread_mutex_lock(&q->lock);
	r = begin_change(q);
	/* A hint: partial clusters, and v2 images over a backing file, are left alone. */
	if (r == 0 && end > first && zero_target(q, &target)) {
		while (q->inflight)
			pthread_cond_wait(&q->idle, &q->lock);
		r = set_clusters(q, first, (end - first) >> q->cluster_bits, target);
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

/* Zeroes [offset, offset+len) of one cluster at most by writing them. */
static int write_zero_bytes(struct qcow2 *q, uint64_t offset, uint64_t len, uint8_t *zeroes)
{
	struct iovec z = { zeroes, len }, v;

	return write_locked(q, &z, 1, offset, len, &v);
}

int qcow2_write_zeroes(struct qcow2 *q, uint64_t offset, uint64_t len)
{
	uint64_t cs = q->cluster_size, end = offset + len, first, last, target;
	uint8_t *zeroes = calloc(1, cs);
	int r;

	if (!zeroes)
		return -ENOMEM;
	first = qcow2_align_up(offset, cs);
	last = end == q->size ? qcow2_align_up(end, cs) : end & ~(cs - 1);
	pthread_mutex_lock(&q->lock);
	r = begin_change(q);
	if (r == 0 && first > last) { /* inside one cluster */
		r = write_zero_bytes(q, offset, len, zeroes);
		goto out;
	}
	if (r == 0 && offset < first)
		r = write_zero_bytes(q, offset, (first < end ? first : end) - offset, zeroes);
	if (r == 0 && last > first && zero_target(q, &target)) {
		while (q->inflight)
			pthread_cond_wait(&q->idle, &q->lock);
		r = set_clusters(q, first, (last - first) >> q->cluster_bits, target);
	} else {
		for (uint64_t o = first; r == 0 && o < last; o += cs)
			r = write_zero_bytes(q, o, o + cs > end ? end - o : cs, zeroes);
	}
	if (r == 0 && last < end)
		r = write_zero_bytes(q, last, end - last, zeroes);
out:
	pthread_mutex_unlock(&q->lock);
	free(zeroes);
	return r;
}

int qcow2_block_status(struct qcow2 *q, uint64_t offset, uint64_t len, uint64_t *pnum)
{
	uint64_t pos = 0;
	int answer = -1, r = 0;

	*pnum = 0;
	pthread_mutex_lock(&q->lock);
	while (pos < len) {
		struct qcow2_run run;
		int a;

		r = map_run(q, offset + pos, len - pos, &run);
		if (r < 0)
			break;
		a = run.kind == KIND_NORMAL || run.kind == KIND_COMPRESSED;
		if (answer >= 0 && a != answer)
			break;
		answer = a;
		pos += run.len;
	}
	pthread_mutex_unlock(&q->lock);
	if (r < 0)
		return r;
	*pnum = pos;
	return answer < 0 ? 0 : answer;
}

/* Raw deflate with a 4 KiB window, as QEMU writes (and reads) it; 0 when it saves nothing. */
static size_t deflate_cluster(const void *in, size_t len, uint8_t *out)
{
	z_stream zs = { 0 };
	size_t n = 0;

	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return 0;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)(len - 1);
	if (deflate(&zs, Z_FINISH) == Z_STREAM_END)
		n = zs.total_out;
	deflateEnd(&zs);
	return n;
}

/* Places clen compressed bytes: in the tail of the last compressed cluster, else a new one. */
static int place_compressed(struct qcow2 *q, uint64_t clen, uint64_t *off)
{
	uint64_t cs = q->cluster_size, next = q->compress_next;
	int64_t a;

	if (next && (next & (cs - 1)) + clen <= cs) {
		int r = qcow2_refcount_add(q, next & ~(cs - 1), 1, 1);

		*off = next;
		if (r != -ERANGE)
			return r; /* -ERANGE: narrow refcounts are full; a new cluster then */
	}
	a = qcow2_alloc_clusters(q, 1);
	if (a < 0)
		return (int)a;
	*off = (uint64_t)a;
	return 0;
}

int qcow2_write_compressed(struct qcow2 *q, uint64_t offset, const void *buf)
{
	uint64_t cs = q->cluster_size, clen, off = 0, entry;
	unsigned x = 62 - (q->cluster_bits - 8);
	struct qcow2_run run;
	uint8_t *z;
	int r;

	if ((offset & (cs - 1)) || offset >= q->size)
		return -EINVAL;
	z = malloc(cs);
	if (!z)
		return -ENOMEM;
	clen = deflate_cluster(buf, cs, z);
	pthread_mutex_lock(&q->lock);
	r = begin_change(q);
	if (r == 0)
		r = map_run(q, offset, cs, &run);
	if (r == 0 && !(run.kind == KIND_UNALLOC || (run.kind == KIND_ZERO && !run.host)))
		r = -EEXIST;
	if (r == 0 && clen == 0) {
		struct iovec d = { (void *)buf, cs }, v;
		uint64_t len = offset + cs > q->size ? q->size - offset : cs;

		r = write_locked(q, &d, 1, offset, len, &v);
		goto out;
	}
	if (r == 0)
		r = place_compressed(q, clen, &off);
	if (r == 0 && off + clen > (1ull << x))
		r = -EFBIG;
	if (r == 0)
		r = qcow2_pwrite_full(q, z, clen, off);
	if (r < 0)
		goto out;
	q->compress_next = (off + clen) & (cs - 1) ? off + clen : 0;
	if (off + clen > q->file_end)
		q->file_end = off + clen;
	q->zout_entry = 0;
	/* qcow2.txt: the sectors used beyond the one holding the offset. */
	entry = QCOW2_OFLAG_COMPRESSED | ((((off + clen - 1) >> 9) - (off >> 9)) << x) | off;
	r = set_l2_entry(q, offset, entry);
out:
	pthread_mutex_unlock(&q->lock);
	free(z);
	return r;
}

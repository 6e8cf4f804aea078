/* qcow2 refcounts: reading and updating them, allocating clusters, growing the table, check and repair. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "devices/block/qcow2_int.h"
#include "vmm/log.h"

/* Entry i of a refcount block (qcow2.txt: refcount_bits wide, big-endian; narrower ones LSB first). */
static uint64_t rb_get(const struct qcow2 *q, const uint8_t *rb, uint64_t i)
{
	switch (q->refcount_bits) {
	case 8: return rb[i];
	case 16: return qcow2_be16(rb + i * 2);
	case 32: return qcow2_be32(rb + i * 4);
	case 64: return qcow2_be64(rb + i * 8);
	default: {
		unsigned shift = (unsigned)(i * q->refcount_bits % 8);

		return (rb[i * q->refcount_bits / 8] >> shift) & ((1u << q->refcount_bits) - 1);
	}
	}
}

static void rb_set(const struct qcow2 *q, uint8_t *rb, uint64_t i, uint64_t v)
{
	switch (q->refcount_bits) {
	case 8: rb[i] = (uint8_t)v; break;
	case 16:
		rb[i * 2] = (uint8_t)(v >> 8);
		rb[i * 2 + 1] = (uint8_t)v;
		break;
	case 32: qcow2_put_be32(rb + i * 4, (uint32_t)v); break;
	case 64: qcow2_put_be64(rb + i * 8, v); break;
	default: {
		unsigned shift = (unsigned)(i * q->refcount_bits % 8);
		unsigned mask = ((1u << q->refcount_bits) - 1) << shift;
		uint8_t *b = &rb[i * q->refcount_bits / 8];

		*b = (uint8_t)((*b & ~mask) | ((unsigned)v << shift & mask));
		break;
	}
	}
}

/* The refcount block for cluster, or NULL (*rb) when the table has none for it. */
static int rb_load(struct qcow2 *q, uint64_t cluster, uint8_t **rb)
{
	uint64_t t = cluster >> q->rb_bits;

	*rb = NULL;
	if (t >= q->rt_entries || q->rt[t] == 0)
		return 0;
	return qcow2_cache_get(q, &q->rb_cache, q->rt[t], true, rb);
}

int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *val)
{
	uint8_t *rb;
	int r = rb_load(q, cluster, &rb);

	if (r < 0)
		return r;
	*val = rb ? rb_get(q, rb, cluster & ((1ull << q->rb_bits) - 1)) : 0;
	return 0;
}

/* Sets a refcount whose block exists (-EIO otherwise). */
static int refcount_set(struct qcow2 *q, uint64_t cluster, uint64_t v)
{
	uint8_t *rb;
	int r = rb_load(q, cluster, &rb);

	if (r < 0)
		return r;
	if (!rb)
		return -EIO;
	rb_set(q, rb, cluster & ((1ull << q->rb_bits) - 1), v);
	qcow2_cache_mark_dirty(&q->rb_cache, rb);
	if (v == 0 && cluster < q->free_hint)
		q->free_hint = cluster;
	return 0;
}

int qcow2_refcount_add(struct qcow2 *q, uint64_t off, uint64_t n, int delta)
{
	for (uint64_t c = off >> q->cluster_bits; c < (off >> q->cluster_bits) + n; c++) {
		uint64_t v;
		int r = qcow2_refcount_get(q, c, &v);

		if (r < 0)
			return r;
		if (delta < 0 && v < (uint64_t)-delta)
			return qcow2_corrupt(q, "refcount underflow at cluster",
					     c << q->cluster_bits);
		if (delta > 0 && v + (uint64_t)delta > q->rc_max)
			return -ERANGE;
		r = refcount_set(q, c, v + (uint64_t)(int64_t)delta);
		if (r < 0)
			return r == -EIO ? qcow2_corrupt(q, "no refcount block for cluster",
							 c << q->cluster_bits)
					 : r;
	}
	return 0;
}

/* A cluster no fixed metadata claims; the first of [from, from + span). */
static uint64_t first_unclaimed(const struct qcow2 *q, uint64_t from, uint64_t span)
{
	for (uint64_t c = from; c < from + span; c++)
		if (!qcow2_overlaps_fixed(q, c << q->cluster_bits, q->cluster_size))
			return c;
	return from;
}

/*
 * A bigger refcount table, at the end of the file, with new refcount blocks
 * right after it for whatever it and they occupy that no block covers yet.
 * Ordering: new blocks and table written, existing blocks flushed, synced;
 * then the header points at the new table (one write), synced; then the
 * old table's clusters are released. A crash before the header write only
 * leaves unreferenced bytes past the old end of the file.
 */
static int grow_table(struct qcow2 *q, uint64_t min_entries)
{
	uint64_t cs = q->cluster_size, per_rb = 1ull << q->rb_bits;
	uint64_t a = qcow2_align_up(q->file_end, cs) >> q->cluster_bits;
	uint64_t entries = q->rt_entries * 2 > min_entries ? q->rt_entries * 2 : min_entries;
	uint64_t tc, nb = 0, *rt = NULL, first_new;
	uint8_t *blocks = NULL, hdr[12];
	int r;

	for (;;) {
		uint64_t end, need;

		tc = qcow2_align_up(entries * 8, cs) / cs;
		end = a + tc + nb;
		need = 0;
		for (uint64_t t = a >> q->rb_bits; t <= (end - 1) >> q->rb_bits; t++)
			if (t >= q->rt_entries || q->rt[t] == 0)
				need++;
		if ((((end - 1) >> q->rb_bits) + 1) > entries) {
			entries = ((end - 1) >> q->rb_bits) + 1;
			continue;
		}
		if (need == nb)
			break;
		nb = need;
	}
	if (tc * cs > QCOW2_MAX_RT_BYTES ||
	    (a + tc + nb) << q->cluster_bits >= QCOW2_MAX_HOST_OFFSET)
		return -EFBIG;
	rt = calloc(tc * cs / 8, 8);
	blocks = calloc(nb ? nb : 1, cs);
	r = -ENOMEM;
	if (!rt || !blocks)
		goto out;
	memcpy(rt, q->rt, q->rt_entries * 8);
	/* New blocks, in order of the ranges they cover; refcounts of [a, a+tc+nb). */
	first_new = a + tc;
	for (uint64_t t = a >> q->rb_bits, k = 0; t <= (a + tc + nb - 1) >> q->rb_bits; t++)
		if (t >= q->rt_entries || q->rt[t] == 0)
			rt[t] = (first_new + k++) << q->cluster_bits;
	for (uint64_t c = a; c < a + tc + nb; c++) {
		uint64_t t = c >> q->rb_bits;

		if (t < q->rt_entries && q->rt[t]) {
			r = qcow2_refcount_add(q, c << q->cluster_bits, 1, 1);
			if (r < 0)
				goto out;
			continue;
		}
		rb_set(q, blocks + (((rt[t] >> q->cluster_bits) - first_new) * cs),
		       c & (per_rb - 1), 1);
	}
	r = qcow2_pwrite_full(q, blocks, nb * cs, first_new << q->cluster_bits);
	for (uint64_t i = 0; r == 0 && i < tc * cs / 8; i++)
		qcow2_put_be64(&rt[i], rt[i]);
	if (r == 0)
		r = qcow2_pwrite_full(q, rt, tc * cs, a << q->cluster_bits);
	for (uint64_t i = 0; i < tc * cs / 8; i++)
		rt[i] = qcow2_be64(&rt[i]);
	if (r == 0)
		r = qcow2_cache_flush(q, &q->rb_cache);
	if (r == 0)
		r = qcow2_sync(q);
	if (r < 0)
		goto out;
	qcow2_put_be64(hdr, a << q->cluster_bits);
	qcow2_put_be32(hdr + 8, (uint32_t)tc);
	r = qcow2_pwrite_full(q, hdr, sizeof(hdr), QCOW2_HDR_RT_OFFSET);
	if (r == 0)
		r = qcow2_sync(q);
	if (r < 0)
		goto out;
	{
		uint64_t old_off = q->rt_offset, old_clusters = q->rt_clusters;

		free(q->rt);
		q->rt = rt;
		rt = NULL;
		q->rt_offset = a << q->cluster_bits;
		q->rt_clusters = (uint32_t)tc;
		q->rt_entries = tc * cs / 8;
		q->file_end = (a + tc + nb) << q->cluster_bits;
		r = qcow2_refcount_add(q, old_off, old_clusters, -1);
	}
out:
	free(rt);
	free(blocks);
	return r;
}

/*
 * Puts a new refcount block for table index t on cluster c (inside the range
 * it covers, so that it counts itself): written and synced before the table
 * entry that points to it.
 */
static int place_refblock(struct qcow2 *q, uint64_t t, uint64_t c)
{
	uint64_t per_rb = 1ull << q->rb_bits, off = c << q->cluster_bits;
	uint8_t *rb, e[8];
	int r;

	if (off >= QCOW2_MAX_HOST_OFFSET)
		return -EFBIG;
	rb = calloc(1, q->cluster_size);
	if (!rb)
		return -ENOMEM;
	rb_set(q, rb, c & (per_rb - 1), 1);
	r = qcow2_pwrite_full(q, rb, q->cluster_size, off);
	free(rb);
	if (r == 0)
		r = qcow2_sync(q);
	if (r < 0)
		return r;
	qcow2_put_be64(e, off);
	r = qcow2_pwrite_full(q, e, 8, q->rt_offset + t * 8);
	if (r < 0)
		return r;
	q->rt[t] = off;
	if (off + q->cluster_size > q->file_end)
		q->file_end = off + q->cluster_size;
	return 0;
}

/*
 * A refcount block for table index t, placed inside the range it covers
 * (which has no block, so no cluster there is in use: true while refcounts
 * are kept, see repair_refblock() for a repair).
 */
static int new_refblock(struct qcow2 *q, uint64_t t)
{
	uint64_t per_rb = 1ull << q->rb_bits;

	if (t >= q->rt_entries) {
		int r = grow_table(q, t + 1);

		if (r < 0 || q->rt[t])
			return r; /* the new table may have brought the block along */
	}
	return place_refblock(q, t, first_unclaimed(q, t * per_rb, per_rb));
}

/* The first run of n clusters with refcount 0 from the hint on, clear of fixed metadata. */
static int find_free(struct qcow2 *q, uint64_t n, uint64_t *start)
{
	uint64_t run = 0, c = q->free_hint;

	while (run < n) {
		uint64_t t = c >> q->rb_bits, v = 0;
		int r;

		if (c + n >= QCOW2_MAX_HOST_OFFSET >> q->cluster_bits)
			return -EFBIG;
		if (qcow2_overlaps_fixed(q, c << q->cluster_bits, q->cluster_size)) {
			run = 0;
			c++;
			continue;
		}
		if (t < q->rt_entries && q->rt[t]) {
			r = qcow2_refcount_get(q, c, &v);
			if (r < 0)
				return r;
		}
		run = v ? 0 : run + 1;
		c++;
	}
	*start = c - n;
	return 0;
}

int64_t qcow2_alloc_clusters(struct qcow2 *q, uint64_t n)
{
	/*
	 * Each retry follows a new refcount block, one per range the run spans.
	 * A run of a whole range or more in fresh space never fits: every new
	 * block lands inside it (it counts itself), and the next try moves on
	 * to the next fresh range, for ever. The bound stops that (callers
	 * keep runs below half a range: qcow2_max_run()).
	 */
	uint64_t s, tries = (n >> q->rb_bits) + 4;
	int r;

retry:
	r = find_free(q, n, &s);
	if (r < 0)
		return r;
	for (uint64_t t = s >> q->rb_bits; t <= (s + n - 1) >> q->rb_bits; t++) {
		if (t < q->rt_entries && q->rt[t])
			continue;
		if (!tries--)
			return -ENOSPC;
		r = new_refblock(q, t);
		if (r < 0)
			return r;
		goto retry; /* the block (or a new table) may sit where we looked */
	}
	r = qcow2_refcount_add(q, s << q->cluster_bits, n, 1);
	if (r < 0)
		return r;
	if (s == q->free_hint)
		q->free_hint = s + n;
	if ((s + n) << q->cluster_bits > q->file_end)
		q->file_end = (s + n) << q->cluster_bits;
	return (int64_t)(s << q->cluster_bits);
}

int qcow2_free_compressed(struct qcow2 *q, uint64_t entry)
{
	uint64_t off, len, first, last;

	qcow2_compressed_range(q, entry, &off, &len);
	first = off >> q->cluster_bits;
	last = (off + len - 1) >> q->cluster_bits;
	return qcow2_refcount_add(q, first << q->cluster_bits, last - first + 1, -1);
}

/* ------------------------------------------------------------- check ---- */

struct check_state {
	struct qcow2 *q;
	uint16_t *counts; /* references per cluster, saturating */
	uint64_t nclusters;
	struct qcow2_check_result *res;
	uint8_t *l2;
};

static void count_range(struct check_state *s, uint64_t off, uint64_t len)
{
	uint64_t cs_bits = s->q->cluster_bits;

	if (len == 0)
		return;
	for (uint64_t c = off >> cs_bits; c <= (off + len - 1) >> cs_bits; c++) {
		if (c >= s->nclusters) {
			s->res->corruptions++; /* a reference past the end of the file */
			return;
		}
		if (s->counts[c] != UINT16_MAX)
			s->counts[c]++;
	}
}

/* COPIED must be set exactly when the refcount is 1 (active tables only). */
static int check_copied(struct check_state *s, uint64_t entry, uint64_t off)
{
	uint64_t v;
	int r = qcow2_refcount_get(s->q, off >> s->q->cluster_bits, &v);

	if (r < 0)
		return r;
	if (!!(entry & QCOW2_OFLAG_COPIED) != (v == 1))
		s->res->corruptions++;
	return 0;
}

static int check_l2(struct check_state *s, uint64_t l2_off, bool active)
{
	struct qcow2 *q = s->q;
	int r = qcow2_pread_full(q, s->l2, q->cluster_size, l2_off);

	if (r < 0)
		return r;
	for (uint64_t i = 0; i < (1ull << q->l2_bits); i++) {
		uint64_t e = qcow2_be64(s->l2 + i * 8), off, len;

		if (e & QCOW2_OFLAG_COMPRESSED) {
			if (e & QCOW2_OFLAG_COPIED)
				s->res->corruptions++;
			qcow2_compressed_range(q, e, &off, &len);
			count_range(s, off, len);
			if (active) {
				s->res->allocated_clusters++;
				s->res->compressed_clusters++;
			}
			continue;
		}
		off = e & QCOW2_OFFSET_MASK;
		if ((e & QCOW2_L2_RESERVED) || (off & (q->cluster_size - 1))) {
			s->res->corruptions++;
			continue;
		}
		if (!off)
			continue;
		count_range(s, off, q->cluster_size);
		if (active) {
			s->res->allocated_clusters++;
			r = check_copied(s, e, off);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int check_l1(struct check_state *s, uint64_t l1_off, uint32_t l1_size, bool active)
{
	struct qcow2 *q = s->q;
	uint64_t *l1 = NULL;
	int r = 0;

	count_range(s, l1_off, (uint64_t)l1_size * 8);
	if (!active && l1_size) {
		l1 = malloc((size_t)l1_size * 8);
		if (!l1)
			return -ENOMEM;
		r = qcow2_pread_full(q, l1, (size_t)l1_size * 8, l1_off);
		for (uint32_t i = 0; i < l1_size; i++)
			l1[i] = qcow2_be64(&l1[i]);
	}
	for (uint32_t i = 0; r == 0 && i < l1_size; i++) {
		uint64_t e = active ? q->l1[i] : l1[i], off = e & QCOW2_OFFSET_MASK;

		if (!off)
			continue;
		if ((e & QCOW2_L1_RESERVED) ||
		    off + q->cluster_size > s->nclusters * q->cluster_size) {
			s->res->corruptions++;
			continue;
		}
		count_range(s, off, q->cluster_size);
		if (active)
			r = check_copied(s, e, off);
		if (r == 0)
			r = check_l2(s, off, active);
	}
	free(l1);
	return r;
}

/* Counts every reference the metadata makes. */
static int count_references(struct check_state *s)
{
	struct qcow2 *q = s->q;
	int r;

	count_range(s, 0, q->cluster_size);
	r = check_l1(s, q->l1_offset, q->l1_size, true);
	for (uint32_t i = 0; r == 0 && i < q->nb_snapshots; i++)
		r = check_l1(s, q->snapshots[i].l1_offset, q->snapshots[i].l1_size, false);
	if (r < 0)
		return r;
	count_range(s, q->snapshots_offset, qcow2_align_up(q->snapshots_size, q->cluster_size));
	count_range(s, q->rt_offset, (uint64_t)q->rt_clusters * q->cluster_size);
	for (uint64_t t = 0; t < q->rt_entries; t++)
		count_range(s, q->rt[t], q->rt[t] ? q->cluster_size : 0);
	return 0;
}

/*
 * Repair: a refcount block for table index t, which has none although
 * clusters it covers are in use (a dirty image with lazy refcounts grew
 * there). Unlike new_refblock(), it goes on a cluster of the range that no
 * reference counted (or past the end of the file), never on one in use.
 */
static int repair_refblock(struct check_state *s, uint64_t t)
{
	struct qcow2 *q = s->q;
	uint64_t per_rb = 1ull << q->rb_bits, c;
	int r;

	if (t >= q->rt_entries) {
		/* the new table and its blocks go past the end of the file */
		r = grow_table(q, t + 1);
		if (r < 0 || q->rt[t])
			return r;
	}
	for (c = t * per_rb; c < (t + 1) * per_rb; c++)
		if ((c >= s->nclusters || !s->counts[c]) &&
		    !qcow2_overlaps_fixed(q, c << q->cluster_bits, q->cluster_size))
			break;
	if (c == (t + 1) * per_rb)
		return -ENOSPC; /* every cluster of the range in use */
	r = place_refblock(q, t, c);
	if (r == 0 && c < s->nclusters)
		s->counts[c] = 1;
	return r;
}

/* Stored refcounts against the counted references; fixes what mode allows. */
static int compare_refcounts(struct check_state *s, int mode)
{
	struct qcow2 *q = s->q;

	for (uint64_t c = 0; c < s->nclusters; c++) {
		uint64_t stored, counted = s->counts[c];
		int r = qcow2_refcount_get(q, c, &stored);

		if (r < 0)
			return r;
		if (counted == UINT16_MAX && stored >= counted)
			continue; /* saturated: cannot tell */
		if (stored == counted)
			continue;
		if (stored > counted)
			s->res->leaks++;
		else
			s->res->corruptions++;
		if (mode == QCOW2_CHECK_ONLY || (stored < counted && mode != QCOW2_CHECK_FIX_ALL))
			continue;
		if (counted > q->rc_max)
			return -ERANGE;
		r = refcount_set(q, c, counted);
		if (r == -EIO) { /* no block for a cluster in use */
			r = repair_refblock(s, c >> q->rb_bits);
			if (r == 0)
				r = refcount_set(q, c, counted);
		}
		if (r < 0)
			return r;
		if (stored > counted)
			s->res->leaks_fixed++;
		else
			s->res->corruptions--;
	}
	return 0;
}

int qcow2_check_locked(struct qcow2 *q, int mode, struct qcow2_check_result *res, char *err,
		       size_t errlen)
{
	struct check_state s = { .q = q, .res = res };
	struct stat st;
	int r;

	*res = (struct qcow2_check_result){ 0 };
	res->total_clusters = (q->size + q->cluster_size - 1) >> q->cluster_bits;
	if (fstat(q->fd, &st) < 0)
		return -errno;
	s.nclusters = qcow2_align_up((uint64_t)st.st_size, q->cluster_size) >> q->cluster_bits;
	if (q->file_end > (uint64_t)st.st_size)
		s.nclusters = qcow2_align_up(q->file_end, q->cluster_size) >> q->cluster_bits;
	if (s.nclusters > (1ull << 28)) {
		log_set_err(err, errlen, "image too large to check");
		return -EFBIG;
	}
	s.counts = calloc(s.nclusters ? s.nclusters : 1, sizeof(*s.counts));
	s.l2 = malloc(q->cluster_size);
	r = -ENOMEM;
	if (!s.counts || !s.l2)
		goto out;
	r = count_references(&s);
	if (r == 0)
		r = compare_refcounts(&s, mode);
	if (r == 0 && mode != QCOW2_CHECK_ONLY)
		r = qcow2_cache_flush(q, &q->rb_cache);
	if (r == 0 && mode != QCOW2_CHECK_ONLY)
		r = qcow2_sync(q);
	if (mode != QCOW2_CHECK_ONLY)
		q->free_hint = 0;
out:
	if (r < 0)
		log_set_err(err, errlen, "check failed: %s", strerror(-r));
	free(s.counts);
	free(s.l2);
	return r;
}

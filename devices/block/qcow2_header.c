/* qcow2 headers: probing, parsing and checking every field an image gives, header updates, creation. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/block/qcow2_int.h"
#include "vmm/log.h"

bool qcow2_probe(const void *buf, size_t len)
{
	uint32_t version;

	if (len < 8 || qcow2_be32(buf) != QCOW2_MAGIC)
		return false;
	version = qcow2_be32((const uint8_t *)buf + 4);
	return version == 2 || version == 3;
}

struct qcow2_region {
	const char *name;
	uint64_t off, len;
};

/* [off, off+len) lies inside the file, without overflow. */
static bool in_file(uint64_t off, uint64_t len, uint64_t file_size)
{
	return off <= file_size && len <= file_size - off;
}

static bool regions_overlap(const struct qcow2_region *a, const struct qcow2_region *b)
{
	return a->len && b->len && a->off < b->off + b->len && b->off < a->off + a->len;
}

bool qcow2_overlaps_fixed(const struct qcow2 *q, uint64_t off, uint64_t len)
{
	const struct qcow2_region r = { "", off, len };
	const struct qcow2_region fixed[] = {
		{ "header", 0, q->cluster_size },
		{ "L1", q->l1_offset, qcow2_align_up((uint64_t)q->l1_size * 8, q->cluster_size) },
		{ "refcount table", q->rt_offset, (uint64_t)q->rt_clusters * q->cluster_size },
		{ "snapshot table", q->snapshots_offset,
		  qcow2_align_up(q->snapshots_size, q->cluster_size) },
	};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (regions_overlap(&r, &fixed[i]))
			return true;
	return false;
}

/* The feature's name from the image's feature name table, or "bit N". */
static const char *feature_name(const struct qcow2 *q, unsigned type, unsigned bit, char *buf,
				size_t len)
{
	for (unsigned i = 0; i < q->nb_feature_names; i++)
		if (q->feature_names[i].type == type && q->feature_names[i].bit == bit)
			return q->feature_names[i].name;
	snprintf(buf, len, "bit %u", bit);
	return buf;
}

/* A string field of an image: len bytes, no NUL inside, copied NUL-terminated. */
static bool copy_string(char *dst, size_t dstlen, const uint8_t *src, size_t len)
{
	if (len >= dstlen || memchr(src, 0, len))
		return false;
	memcpy(dst, src, len);
	dst[len] = 0;
	return true;
}

static int parse_feature_table(struct qcow2 *q, const uint8_t *p, uint32_t len)
{
	unsigned n = len / 48; /* qcow2.txt: type, bit number, 46 bytes of name */

	free(q->feature_names);
	q->feature_names = calloc(n ? n : 1, sizeof(*q->feature_names));
	if (!q->feature_names)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *e = p + (size_t)i * 48;
		size_t l = strnlen((const char *)e + 2, 46);

		q->feature_names[i].type = e[0];
		q->feature_names[i].bit = e[1];
		memcpy(q->feature_names[i].name, e + 2, l);
		q->feature_names[i].name[l] = 0;
	}
	q->nb_feature_names = n;
	return 0;
}

/* Header extensions: from the end of the header to end (the backing name or the cluster's end). */
static int parse_extensions(struct qcow2 *q, const uint8_t *hdr, uint64_t end, char *err,
			    size_t errlen)
{
	uint64_t pos = q->header_length;

	while (pos + 8 <= end) {
		uint32_t type = qcow2_be32(hdr + pos), len = qcow2_be32(hdr + pos + 4);
		const uint8_t *data = hdr + pos + 8;
		int r;

		if (type == QCOW2_EXT_END)
			return 0;
		if (len > end - pos - 8) {
			log_set_err(err, errlen, "qcow2 header extension %#x overruns the header",
				    type);
			return -EINVAL;
		}
		switch (type) {
		case QCOW2_EXT_BACKING_FORMAT:
			if (!copy_string(q->backing_format, sizeof(q->backing_format), data, len)) {
				log_set_err(err, errlen, "qcow2 backing format name is invalid");
				return -EINVAL;
			}
			break;
		case QCOW2_EXT_FEATURE_TABLE:
			r = parse_feature_table(q, data, len);
			if (r < 0) {
				log_set_err(err, errlen, "out of memory");
				return r;
			}
			break;
		case QCOW2_EXT_DATA_FILE:
			log_set_err(err, errlen, "qcow2 external data files are not supported");
			return -ENOTSUP;
		default: break; /* qcow2.txt: unknown extensions can be skipped */
		}
		pos += 8 + qcow2_align_up(len, 8);
	}
	return 0;
}

static int check_features(struct qcow2 *q, const uint8_t *hdr, char *err, size_t errlen)
{
	uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT;
	uint64_t unknown = q->incompat & ~known;
	char buf[16];

	if (q->incompat & QCOW2_INCOMPAT_DATA_FILE) {
		log_set_err(err, errlen, "qcow2 external data files are not supported");
		return -ENOTSUP;
	}
	if (q->incompat & QCOW2_INCOMPAT_COMPRESSION) {
		log_set_err(err, errlen,
			    "qcow2 compression type %u is not supported (only deflate)",
			    q->header_length > 104 ? hdr[104] : 0);
		return -ENOTSUP;
	}
	if (q->header_length > 104 && hdr[104] != 0) {
		log_set_err(err, errlen, "qcow2 compression type set without its feature bit");
		return -EINVAL;
	}
	if (q->incompat & QCOW2_INCOMPAT_EXTL2) {
		log_set_err(err, errlen, "qcow2 extended L2 entries are not supported");
		return -ENOTSUP;
	}
	if (unknown) {
		unsigned bit = (unsigned)__builtin_ctzll(unknown);

		log_set_err(err, errlen, "qcow2 unsupported incompatible feature: %s",
			    feature_name(q, 0, bit, buf, sizeof(buf)));
		return -ENOTSUP;
	}
	if ((q->incompat & QCOW2_INCOMPAT_CORRUPT) && !q->readonly) {
		log_set_err(err, errlen,
			    "qcow2 image is marked corrupt: open it read-only, or repair it "
			    "with qemu-img check -r all");
		return -EINVAL;
	}
	return 0;
}

/* The fixed fields of the header, each checked on its own. */
static int parse_fixed(struct qcow2 *q, const uint8_t *hdr, uint64_t file_size, char *err,
		       size_t errlen)
{
	uint32_t crypt = qcow2_be32(hdr + 32);

	q->cluster_bits = qcow2_be32(hdr + 20);
	if (q->cluster_bits < QCOW2_MIN_CLUSTER_BITS || q->cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
		log_set_err(err, errlen, "qcow2 cluster_bits %u out of range [%u, %u]",
			    q->cluster_bits, QCOW2_MIN_CLUSTER_BITS, QCOW2_MAX_CLUSTER_BITS);
		return -EINVAL;
	}
	q->cluster_size = 1ull << q->cluster_bits;
	q->l2_bits = q->cluster_bits - 3;
	if (crypt != 0) {
		log_set_err(err, errlen, "qcow2 encryption (method %u) is not supported", crypt);
		return -ENOTSUP;
	}
	q->size = qcow2_be64(hdr + 24);
	q->l1_size = qcow2_be32(hdr + 36);
	q->l1_offset = qcow2_be64(hdr + 40);
	q->rt_offset = qcow2_be64(hdr + 48);
	q->rt_clusters = qcow2_be32(hdr + 56);
	q->nb_snapshots = qcow2_be32(hdr + 60);
	q->snapshots_offset = qcow2_be64(hdr + 64);
	if (q->version == 2) {
		q->header_length = QCOW2_HDR_V2_LENGTH;
		q->refcount_order = 4;
		return 0;
	}
	q->incompat = qcow2_be64(hdr + 72);
	q->compat = qcow2_be64(hdr + 80);
	q->autoclear = qcow2_be64(hdr + 88);
	q->refcount_order = qcow2_be32(hdr + 96);
	q->header_length = qcow2_be32(hdr + 100);
	if (q->header_length < QCOW2_HDR_V3_LENGTH || q->header_length > q->cluster_size ||
	    q->header_length > file_size) {
		log_set_err(err, errlen, "qcow2 header length %u is invalid", q->header_length);
		return -EINVAL;
	}
	if (q->refcount_order > 6) {
		log_set_err(err, errlen, "qcow2 refcount order %u is invalid (at most 6)",
			    q->refcount_order);
		return -EINVAL;
	}
	return 0;
}

/* Sizes and offsets of the L1 and refcount tables: bounded, aligned, inside the file. */
static int check_tables(struct qcow2 *q, uint64_t file_size, char *err, size_t errlen)
{
	uint64_t l2_span = q->cluster_size << q->l2_bits; /* guest bytes per L2 table */
	uint64_t l1_needed;

	if (q->size > QCOW2_MAX_VIRTUAL_SIZE) {
		log_set_err(err, errlen, "qcow2 virtual size %llu is too large",
			    (unsigned long long)q->size);
		return -EINVAL;
	}
	l1_needed = (q->size + l2_span - 1) / l2_span;
	if ((uint64_t)q->l1_size * 8 > QCOW2_MAX_L1_BYTES) {
		log_set_err(err, errlen, "qcow2 L1 table too large (%u entries)", q->l1_size);
		return -EINVAL;
	}
	if (q->l1_size < l1_needed) {
		log_set_err(err, errlen, "qcow2 L1 table too small for the virtual size");
		return -EINVAL;
	}
	if (q->l1_size && (q->l1_offset & (q->cluster_size - 1))) {
		log_set_err(err, errlen, "qcow2 L1 table offset is not cluster-aligned");
		return -EINVAL;
	}
	if (q->l1_size && !in_file(q->l1_offset, (uint64_t)q->l1_size * 8, file_size)) {
		log_set_err(err, errlen, "qcow2 L1 table extends past end of file");
		return -EINVAL;
	}
	if (q->rt_clusters == 0 || (q->rt_offset & (q->cluster_size - 1))) {
		log_set_err(err, errlen, "qcow2 refcount table is empty or not cluster-aligned");
		return -EINVAL;
	}
	if ((uint64_t)q->rt_clusters * q->cluster_size > QCOW2_MAX_RT_BYTES) {
		log_set_err(err, errlen, "qcow2 refcount table too large (%u clusters)",
			    q->rt_clusters);
		return -EINVAL;
	}
	if (!in_file(q->rt_offset, (uint64_t)q->rt_clusters * q->cluster_size, file_size)) {
		log_set_err(err, errlen, "qcow2 refcount table extends past end of file");
		return -EINVAL;
	}
	return 0;
}

/* The snapshot table: walked to learn its size and each snapshot's L1 table, all checked. */
static int parse_snapshots(struct qcow2 *q, uint64_t file_size, char *err, size_t errlen)
{
	uint64_t pos = q->snapshots_offset;

	if (q->nb_snapshots == 0) {
		q->snapshots_offset = 0;
		return 0;
	}
	if (q->nb_snapshots > QCOW2_MAX_SNAPSHOTS || (pos & (q->cluster_size - 1))) {
		log_set_err(err, errlen, "qcow2 snapshot table is invalid");
		return -EINVAL;
	}
	q->snapshots = calloc(q->nb_snapshots, sizeof(*q->snapshots));
	if (!q->snapshots) {
		log_set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < q->nb_snapshots; i++) {
		uint8_t h[40];
		uint64_t len;
		int r;

		if (!in_file(pos, sizeof(h), file_size) ||
		    pos - q->snapshots_offset > QCOW2_MAX_SNAPSHOT_BYTES) {
			log_set_err(err, errlen, "qcow2 snapshot table extends past end of file");
			return -EINVAL;
		}
		r = qcow2_pread_full(q, h, sizeof(h), pos);
		if (r < 0) {
			log_set_err(err, errlen, "cannot read the snapshot table: %s",
				    strerror(-r));
			return r;
		}
		q->snapshots[i].l1_offset = qcow2_be64(h);
		q->snapshots[i].l1_size = qcow2_be32(h + 8);
		/* qcow2.txt: extra data, then the ID and the name, padded to 8 bytes. */
		len = 40ull + qcow2_be32(h + 36) + qcow2_be16(h + 12) + qcow2_be16(h + 14);
		pos += qcow2_align_up(len, 8);
		if ((q->snapshots[i].l1_offset & (q->cluster_size - 1)) ||
		    (uint64_t)q->snapshots[i].l1_size * 8 > QCOW2_MAX_L1_BYTES ||
		    !in_file(q->snapshots[i].l1_offset, (uint64_t)q->snapshots[i].l1_size * 8,
			     file_size)) {
			log_set_err(err, errlen, "qcow2 snapshot %u has an invalid L1 table", i);
			return -EINVAL;
		}
	}
	if (!in_file(q->snapshots_offset, pos - q->snapshots_offset, file_size)) {
		log_set_err(err, errlen, "qcow2 snapshot table extends past end of file");
		return -EINVAL;
	}
	q->snapshots_size = pos - q->snapshots_offset;
	return 0;
}

static int check_overlaps(struct qcow2 *q, char *err, size_t errlen)
{
	const struct qcow2_region r[] = {
		{ "header", 0, q->cluster_size },
		{ "L1 table", q->l1_offset,
		  qcow2_align_up((uint64_t)q->l1_size * 8, q->cluster_size) },
		{ "refcount table", q->rt_offset, (uint64_t)q->rt_clusters * q->cluster_size },
		{ "snapshot table", q->snapshots_offset,
		  qcow2_align_up(q->snapshots_size, q->cluster_size) },
	};

	for (size_t i = 0; i < 4; i++)
		for (size_t j = i + 1; j < 4; j++)
			if (regions_overlap(&r[i], &r[j])) {
				log_set_err(err, errlen, "qcow2 %s overlaps the %s", r[j].name,
					    r[i].name);
				return -EINVAL;
			}
	return 0;
}

static int parse_backing_name(struct qcow2 *q, const uint8_t *hdr, uint64_t hdr_len,
			      uint64_t *ext_end, char *err, size_t errlen)
{
	uint64_t off = qcow2_be64(hdr + 8);
	uint32_t len = qcow2_be32(hdr + 16);

	if (off == 0 || len == 0)
		return 0;
	if (len > 1023 || off < q->header_length || off > hdr_len || len > hdr_len - off) {
		log_set_err(err, errlen, "qcow2 backing file name is invalid or too long");
		return -EINVAL;
	}
	if (!copy_string(q->backing_file, sizeof(q->backing_file), hdr + off, len)) {
		log_set_err(err, errlen, "qcow2 backing file name contains a NUL byte");
		return -EINVAL;
	}
	*ext_end = off;
	return 0;
}

int qcow2_read_header(struct qcow2 *q, char *err, size_t errlen)
{
	uint64_t file_size = q->file_end, hdr_len, ext_end;
	uint8_t *hdr;
	int r;

	if (file_size < QCOW2_HDR_V2_LENGTH) {
		log_set_err(err, errlen, "qcow2 image too short for its header");
		return -EINVAL;
	}
	hdr = calloc(1, QCOW2_HDR_V3_LENGTH + 8);
	if (!hdr)
		return -ENOMEM;
	r = qcow2_pread_full(q, hdr, file_size < 112 ? file_size : 112, 0);
	if (r < 0)
		goto out;
	r = -EINVAL;
	q->version = qcow2_be32(hdr + 4);
	if (!qcow2_probe(hdr, 8)) {
		log_set_err(err, errlen, "not a qcow2 image (bad magic or version)");
		goto out;
	}
	if (q->version == 3 && file_size < QCOW2_HDR_V3_LENGTH) {
		log_set_err(err, errlen, "qcow2 image too short for its header");
		goto out;
	}
	r = parse_fixed(q, hdr, file_size, err, errlen);
	if (r < 0)
		goto out;
	/* The rest of cluster 0 holds the extensions and the backing file name. */
	hdr_len = q->cluster_size < file_size ? q->cluster_size : file_size;
	free(hdr);
	hdr = calloc(1, hdr_len);
	if (!hdr)
		return -ENOMEM;
	r = qcow2_pread_full(q, hdr, hdr_len, 0);
	if (r < 0) {
		log_set_err(err, errlen, "cannot read the header: %s", strerror(-r));
		goto out;
	}
	ext_end = hdr_len;
	r = parse_backing_name(q, hdr, hdr_len, &ext_end, err, errlen);
	if (r == 0)
		r = parse_extensions(q, hdr, ext_end, err, errlen);
	if (r == 0)
		r = check_features(q, hdr, err, errlen);
	if (r == 0)
		r = check_tables(q, file_size, err, errlen);
	if (r == 0)
		r = parse_snapshots(q, file_size, err, errlen);
	if (r == 0)
		r = check_overlaps(q, err, errlen);
	if (r == 0 && q->backing_format[0] && !q->backing_file[0])
		q->backing_format[0] = 0; /* a format without a file means nothing */
out:
	free(hdr);
	return r;
}

int qcow2_write_header_u64(struct qcow2 *q, unsigned off, uint64_t v)
{
	uint8_t b[8];

	qcow2_put_be64(b, v);
	return qcow2_pwrite_full(q, b, sizeof(b), off);
}

/* Lazy refcounts: the dirty bit is on disk before any refcount may lag behind. */
int qcow2_mark_dirty(struct qcow2 *q)
{
	int r;

	if (q->dirty_set)
		return 0;
	r = qcow2_write_header_u64(q, QCOW2_HDR_INCOMPAT, q->incompat | QCOW2_INCOMPAT_DIRTY);
	if (r == 0)
		r = qcow2_sync(q);
	if (r == 0) {
		q->incompat |= QCOW2_INCOMPAT_DIRTY;
		q->dirty_set = true;
	}
	return r;
}

/* After every refcount reached the disk (synced): clear the dirty bit. */
int qcow2_mark_clean(struct qcow2 *q)
{
	int r;

	if (!q->dirty_set)
		return 0;
	r = qcow2_write_header_u64(q, QCOW2_HDR_INCOMPAT, q->incompat & ~QCOW2_INCOMPAT_DIRTY);
	if (r == 0)
		r = qcow2_sync(q);
	if (r == 0) {
		q->incompat &= ~QCOW2_INCOMPAT_DIRTY;
		q->dirty_set = false;
	}
	return r;
}

/* ---------------------------------------------------------- creation ---- */

struct qcow2_layout {
	uint64_t l1_entries, l1_clusters, rt_clusters, rb_count, total;
};

/* Header, refcount table, refcount blocks, L1 table: each cluster counted by the blocks. */
static int plan_layout(uint64_t size, unsigned cluster_bits, struct qcow2_layout *l)
{
	uint64_t cs = 1ull << cluster_bits, l2_span = cs << (cluster_bits - 3);
	uint64_t per_block = cs * 8 / 16;

	l->l1_entries = (size + l2_span - 1) / l2_span;
	if (l->l1_entries * 8 > QCOW2_MAX_L1_BYTES)
		return -EFBIG;
	l->l1_clusters = qcow2_align_up(l->l1_entries * 8, cs) / cs;
	if (l->l1_clusters == 0)
		l->l1_clusters = 1;
	l->rt_clusters = 1;
	l->rb_count = 1;
	for (;;) {
		uint64_t total = 1 + l->rt_clusters + l->rb_count + l->l1_clusters;
		uint64_t rb = (total + per_block - 1) / per_block;
		uint64_t rt = qcow2_align_up(rb * 8, cs) / cs;

		if (rb == l->rb_count && rt == l->rt_clusters) {
			l->total = total;
			break;
		}
		l->rb_count = rb;
		l->rt_clusters = rt;
	}
	if (l->rt_clusters * cs > QCOW2_MAX_RT_BYTES)
		return -EFBIG;
	return 0;
}

/* The backing file's format (detected when not given) and size, opened as it will be. */
static int probe_backing(const char *path, const char *backing, const char *backing_fmt,
			 char *fmt_out, uint64_t *size, char *err, size_t errlen)
{
	enum image_format fmt = IMAGE_FORMAT_AUTO;
	struct image_chain top = { 0 };
	struct image bimg;
	char *full = NULL, *dir, *copy;
	char e[256];
	int r;

	if (backing_fmt && image_format_parse(backing_fmt, &fmt) < 0) {
		log_set_err(err, errlen, "unknown backing format '%s'", backing_fmt);
		return -EINVAL;
	}
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	if (backing[0] == '/' || asprintf(&full, "%s/%s", dir, backing) < 0)
		full = NULL;
	free(copy);
	/* As it will be opened: one level below the new image. */
	r = image_open_chain(&bimg, full ? full : backing, fmt, true, &top, e, sizeof(e));
	free(full);
	if (r < 0) {
		log_set_err(err, errlen, "backing file %s: %s", backing, e);
		return r;
	}
	snprintf(fmt_out, 16, "%s", image_format_name(bimg.format));
	*size = bimg.size;
	image_close(&bimg);
	return 0;
}

/* Cluster 0: the v3 header, a backing format extension, the end mark, the backing name. */
static void build_header(uint8_t *h, uint64_t size, unsigned cluster_bits,
			 const struct qcow2_layout *l, const char *backing, const char *fmt)
{
	uint64_t cs = 1ull << cluster_bits;
	uint32_t pos = 112;

	qcow2_put_be32(h, QCOW2_MAGIC);
	qcow2_put_be32(h + 4, 3);
	qcow2_put_be32(h + 20, cluster_bits);
	qcow2_put_be64(h + 24, size);
	qcow2_put_be32(h + 36, (uint32_t)l->l1_entries);
	qcow2_put_be64(h + 40, (1 + l->rt_clusters + l->rb_count) * cs);
	qcow2_put_be64(h + 48, cs);
	qcow2_put_be32(h + 56, (uint32_t)l->rt_clusters);
	qcow2_put_be32(h + 96, 4);    /* refcount_order: 16-bit refcounts */
	qcow2_put_be32(h + 100, 112); /* header_length, with the compression type byte (0) */
	if (backing) {
		size_t flen = strlen(fmt), blen = strlen(backing);

		qcow2_put_be32(h + pos, QCOW2_EXT_BACKING_FORMAT);
		qcow2_put_be32(h + pos + 4, (uint32_t)flen);
		memcpy(h + pos + 8, fmt, flen);
		pos += 8 + (uint32_t)qcow2_align_up(flen, 8);
		pos += 8; /* the end-of-extensions mark, zeroes */
		qcow2_put_be64(h + 8, pos);
		qcow2_put_be32(h + 16, (uint32_t)blen);
		memcpy(h + pos, backing, blen);
	}
}

static int write_new_image(int fd, uint64_t size, unsigned cluster_bits,
			   const struct qcow2_layout *l, const char *backing, const char *fmt)
{
	uint64_t cs = 1ull << cluster_bits, bytes = l->total * cs;
	uint8_t *buf = calloc(1, bytes);
	uint64_t per_block = cs * 8 / 16;
	size_t done = 0;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	build_header(buf, size, cluster_bits, l, backing, fmt);
	for (uint64_t i = 0; i < l->rb_count; i++)
		qcow2_put_be64(buf + cs + i * 8, (1 + l->rt_clusters + i) * cs);
	for (uint64_t c = 0; c < l->total; c++) {
		uint8_t *rb = buf + (1 + l->rt_clusters + c / per_block) * cs;

		rb[(c % per_block) * 2 + 1] = 1; /* big-endian 16-bit 1 */
	}
	while (done < bytes) {
		ssize_t n = pwrite(fd, buf + done, bytes - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)n;
	}
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	free(buf);
	return r;
}

int qcow2_create(const char *path, uint64_t size, unsigned cluster_bits, const char *backing,
		 const char *backing_fmt, char *err, size_t errlen)
{
	struct qcow2_layout l;
	char fmt[16] = "";
	int fd, r;

	if (cluster_bits < QCOW2_MIN_CLUSTER_BITS || cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
		log_set_err(err, errlen, "cluster size must be 512 bytes to 2 MiB, a power of 2");
		return -EINVAL;
	}
	if (backing && (!backing[0] || strlen(backing) > 1023)) {
		log_set_err(err, errlen, "backing file name is empty or too long");
		return -EINVAL;
	}
	if (backing) {
		uint64_t bsize;

		r = probe_backing(path, backing, backing_fmt, fmt, &bsize, err, errlen);
		if (r < 0)
			return r;
		if (size == 0)
			size = bsize;
	}
	size = qcow2_align_up(size, 512);
	if (size > QCOW2_MAX_VIRTUAL_SIZE || plan_layout(size, cluster_bits, &l) < 0) {
		log_set_err(err, errlen, "virtual size too large for this cluster size");
		return -EFBIG;
	}
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		log_set_err(err, errlen, "cannot create: %s", strerror(-r));
		return r;
	}
	r = write_new_image(fd, size, cluster_bits, &l, backing, fmt);
	close(fd);
	if (r < 0) {
		log_set_err(err, errlen, "cannot write: %s", strerror(-r));
		unlink(path);
	}
	return r;
}

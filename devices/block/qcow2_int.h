/* Private to the qcow2 implementation (qcow2*.c): the open image's state and the helpers the files share. */
#ifndef HUTCH_DEVICES_BLOCK_QCOW2_INT_H
#define HUTCH_DEVICES_BLOCK_QCOW2_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/block/image.h"
#include "devices/block/qcow2.h"

/* qcow2.txt, "Header": the magic "QFI\xfb". */
#define QCOW2_MAGIC 0x514649fbu

/* qcow2.txt: incompatible feature bits. */
#define QCOW2_INCOMPAT_DIRTY	   (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT	   (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE   (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2	   (1ull << 4)
/* Compatible bit 0: lazy refcounts. */
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)

/* qcow2.txt: header field offsets (big-endian). */
#define QCOW2_HDR_SIZE	    24
#define QCOW2_HDR_L1_SIZE   36
#define QCOW2_HDR_RT_OFFSET 48
#define QCOW2_HDR_INCOMPAT  72
#define QCOW2_HDR_AUTOCLEAR 88
#define QCOW2_HDR_V2_LENGTH 72
#define QCOW2_HDR_V3_LENGTH 104

/* Header extension types (qcow2.txt, "Header extensions"). */
#define QCOW2_EXT_END		 0x00000000u
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE	 0x6803f857u
#define QCOW2_EXT_DATA_FILE	 0x44415441u
#define QCOW2_EXT_CRYPTO	 0x0537be77u

/* L1 and L2 entries (qcow2.txt, "Cluster mapping"). */
#define QCOW2_OFLAG_COPIED     (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO       1ull
#define QCOW2_OFFSET_MASK      0x00fffffffffffe00ull /* bits 9-55 */
#define QCOW2_L1_RESERVED      0x7f000000000001ffull
#define QCOW2_L2_RESERVED      0x3f000000000001feull
#define QCOW2_RT_RESERVED      0x00000000000001ffull

/* Memory caps on what an image can make us load (QEMU uses the same ones). */
#define QCOW2_MAX_L1_BYTES	 (32u << 20)
#define QCOW2_MAX_RT_BYTES	 (8u << 20)
#define QCOW2_MAX_SNAPSHOTS	 65536u
#define QCOW2_MAX_SNAPSHOT_BYTES (64u << 20)
/* Virtual sizes and host offsets stay below 2^56 (the L2 offset field) and 2^63. */
#define QCOW2_MAX_VIRTUAL_SIZE (1ull << 62)
#define QCOW2_MAX_HOST_OFFSET  (1ull << 56)

struct qcow2_cache_entry {
	uint64_t offset; /* host offset of the table; 0: slot empty */
	uint64_t lru;	 /* larger: used more recently */
	bool dirty;
	uint8_t *data; /* one cluster, as on disk (big-endian) */
};

/* A bounded, LRU write-back cache of cluster-sized tables (L2 tables or refcount blocks). */
struct qcow2_cache {
	struct qcow2_cache_entry *entries;
	unsigned count;
	uint64_t clock;
	bool is_l2; /* write-back of an L2 table must follow the refcounts and data (ordering) */
};

struct qcow2_snapshot {
	uint64_t l1_offset;
	uint32_t l1_size;
};

struct qcow2_feature_name {
	uint8_t type, bit;
	char name[47];
};

struct qcow2 {
	struct disk *disk;
	int fd;
	bool readonly;
	pthread_mutex_t lock; /* everything below but the constants */
	pthread_cond_t idle;  /* inflight dropped to 0 */
	unsigned inflight;    /* data transfers running outside the lock */

	/* The header, checked. */
	uint32_t version;
	unsigned cluster_bits, refcount_order, refcount_bits;
	uint64_t cluster_size;
	uint64_t size;
	uint64_t incompat, compat, autoclear;
	uint32_t header_length;
	char backing_file[1024];
	char backing_format[16];
	struct qcow2_feature_name *feature_names;
	unsigned nb_feature_names;

	uint64_t l1_offset;
	uint32_t l1_size;
	uint64_t *l1; /* host byte order */

	uint64_t rt_offset;
	uint32_t rt_clusters;
	uint64_t rt_entries;
	uint64_t *rt; /* host byte order */

	uint32_t nb_snapshots;
	uint64_t snapshots_offset, snapshots_size;
	struct qcow2_snapshot *snapshots;

	unsigned l2_bits;	/* log2 of the entries in an L2 table */
	unsigned rb_bits;	/* log2 of the entries in a refcount block */
	uint64_t rc_max;	/* the largest refcount */
	uint64_t file_end;	/* bytes: past every cluster in use (allocation appends here) */
	uint64_t free_hint;	/* cluster index below which none is free */
	uint64_t compress_next; /* host byte offset for the next compressed cluster; 0: none */

	bool lazy;	/* lazy refcounts: refcounts may lag (dirty bit set first) */
	bool dirty_set; /* the dirty bit is set on disk (by us or found) */
	bool unsynced;	/* something was written since the last fdatasync */
	bool broken;	/* corruption found at run time: no more writes */

	struct qcow2_cache l2_cache, rb_cache;
	struct image *backing;

	/* Compressed clusters: buffers and the last one decompressed. */
	uint8_t *zin, *zout;
	uint64_t zout_entry; /* the L2 entry whose data zout holds; 0: none */
};

/* Big-endian loads and stores. */
static inline uint64_t qcow2_be64(const void *p)
{
	const uint8_t *b = p;

	return (uint64_t)b[0] << 56 | (uint64_t)b[1] << 48 | (uint64_t)b[2] << 40 |
	       (uint64_t)b[3] << 32 | (uint64_t)b[4] << 24 | (uint64_t)b[5] << 16 |
	       (uint64_t)b[6] << 8 | b[7];
}

static inline uint32_t qcow2_be32(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline uint16_t qcow2_be16(const void *p)
{
	const uint8_t *b = p;

	return (uint16_t)(b[0] << 8 | b[1]);
}

static inline void qcow2_put_be64(void *p, uint64_t v)
{
	uint8_t *b = p;

	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

static inline void qcow2_put_be32(void *p, uint32_t v)
{
	uint8_t *b = p;

	for (int i = 3; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

static inline uint64_t qcow2_align_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

/* Compressed cluster descriptor (qcow2.txt): host byte offset and the bytes to read. */
static inline void qcow2_compressed_range(const struct qcow2 *q, uint64_t entry, uint64_t *off,
					  uint64_t *len)
{
	unsigned x = 62 - (q->cluster_bits - 8);
	uint64_t sectors = ((entry >> x) & ((1ull << (q->cluster_bits - 8)) - 1)) + 1;

	*off = entry & ((1ull << x) - 1);
	*len = sectors * 512 - (*off & 511);
}

/* qcow2.c */
int qcow2_pread_full(struct qcow2 *q, void *buf, size_t len, uint64_t off);
int qcow2_pwrite_full(struct qcow2 *q, const void *buf, size_t len, uint64_t off);
int qcow2_sync(struct qcow2 *q);
/* Whether [off, off+len) overlaps the header, L1 table, refcount table or snapshot table. */
bool qcow2_overlaps_fixed(const struct qcow2 *q, uint64_t off, uint64_t len);
/* Marks the image corrupt (header bit, best effort) and refuses writes from now on: -EIO. */
int qcow2_corrupt(struct qcow2 *q, const char *what, uint64_t off);
/* Before an L2 table or L1 entry reaches the disk: refcounts, then fdatasync. */
int qcow2_barrier(struct qcow2 *q);

/* qcow2_header.c */
int qcow2_read_header(struct qcow2 *q, char *err, size_t errlen);
int qcow2_write_header_u64(struct qcow2 *q, unsigned off, uint64_t v);
int qcow2_mark_dirty(struct qcow2 *q);
int qcow2_mark_clean(struct qcow2 *q);

/* qcow2_cache.c */
int qcow2_cache_init(struct qcow2_cache *c, unsigned count, uint64_t cluster_size, bool is_l2);
void qcow2_cache_free(struct qcow2_cache *c);
/* The table at host offset off: read in when read, else a zeroed new one (marked dirty). */
int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t off, bool read,
		    uint8_t **table);
void qcow2_cache_mark_dirty(struct qcow2_cache *c, const uint8_t *table);
/* Writes back every dirty table (for L2, after qcow2_barrier()). */
int qcow2_cache_flush(struct qcow2 *q, struct qcow2_cache *c);
/* Writes back the one table now (after qcow2_barrier() for L2). */
int qcow2_cache_write_table(struct qcow2 *q, struct qcow2_cache *c, const uint8_t *table);

/* qcow2_refcount.c */
int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *val);
/* Adds delta to the refcount of each of n clusters from host offset off. */
int qcow2_refcount_add(struct qcow2 *q, uint64_t off, uint64_t n, int delta);
/*
 * n contiguous free clusters with refcount 1 now: their host offset, or
 * -errno (-ENOSPC: a run this long does not fit between the refcount blocks
 * that new space needs; up to qcow2_max_run() bytes always fit).
 */
int64_t qcow2_alloc_clusters(struct qcow2 *q, uint64_t n);
/* Bytes of the longest run to ask qcow2_alloc_clusters() for: half a refcount block's range. */
static inline uint64_t qcow2_max_run(const struct qcow2 *q)
{
	return 1ull << (q->rb_bits - 1 + q->cluster_bits);
}
/* Drops one reference from every cluster the compressed entry touches. */
int qcow2_free_compressed(struct qcow2 *q, uint64_t entry);
int qcow2_check_locked(struct qcow2 *q, int mode, struct qcow2_check_result *res, char *err,
		       size_t errlen);
#define QCOW2_CHECK_ONLY      0
#define QCOW2_CHECK_FIX_LEAKS 1
#define QCOW2_CHECK_FIX_ALL   2 /* a dirty image with lazy refcounts: refcounts from references */

#endif

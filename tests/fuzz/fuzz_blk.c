/*
 * Fuzz target for the virtio-blk request parser (devices/virtio/blk_request.c)
 * behind the chain walker (devices/virtio/queue.c), structure-aware: a valid
 * queue geometry in a small guest memory, then a guest driver that builds
 * requests (well-formed ones from a few bytes, or raw descriptors, indirect
 * tables and buffer bytes) while the device pops each chain, parses it,
 * carries it out on its buffers and completes it.
 *
 * Guest memory: R0 [0x1000, 0x9000) and R1 [0x10000, 0x11000), each an
 * exactly sized malloc'd block, with a gap between them. R0 holds the rings
 * (0x1000), an indirect table area (0x2000, 256 entries) and buffers
 * (0x3000 to its end); all of R1 is buffers.
 *
 * The input starts with 4 header bytes:
 *   byte 0  bits 0-2: queue size 1 << (n % 7) (1 to 64); bit 3:
 *           VIRTIO_F_INDIRECT_DESC; bit 4: VIRTIO_F_EVENT_IDX; bit 5: read-only
 *           disk; bit 6: discard; bit 7: write zeroes negotiated
 *   byte 1  bits 0-2: capacity, see CAPACITIES
 *   byte 2  max_segments, modulo 40 (some above BLK_MAX_SEGMENTS)
 *   byte 3  bits 0-2 / 4-6: max discard / write-zeroes sectors, see MAX_SECTORS
 * then operations, an opcode byte (modulo OP__COUNT) and its arguments
 * (a missing argument byte at the end of the input reads as 0):
 *   OP_REQ    kind sector_mode sector_arg len_lo len_hi layout [type[4]] [seg[3]...]
 *             a whole request, laid out in guest memory and made available,
 *             see make_request()
 *   OP_DESC   i desc[8]     raw descriptor i % size of the table, see make_desc()
 *   OP_TABLE  i desc[8]     raw entry i of the indirect table area
 *   OP_AVAIL  n heads[n]    n chain heads into the avail ring, then avail->idx += n
 *   OP_POKE   lo hi n b[n]  n % 32 raw bytes into the buffers at hi:lo (bit 15: R1)
 *   OP_POP                  one virtq_pop() and what the device does with it
 *   OP_DRAIN                pop until the ring is empty or broken
 *   OP_LIMITS b0 b1 b2 b3   new device limits, as header bytes 0 (bits 5-7 only) to 3
 * and at the end of the input one more OP_DRAIN.
 *
 * Whatever the input, nothing may crash or touch memory outside the guest
 * buffers: the device reads every byte of an OUT's data, writes every byte
 * of an IN's and the ID bytes of a GET_ID, and writes every status byte the
 * parser points to. Each result must be what blk_request.h promises (checked
 * against a copy of the chain's bytes taken here), and every chain is
 * completed, with no more bytes written than its writable buffers hold.
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/blk_request.h"
#include "devices/virtio/queue.h"
#include "vmm/memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz_blk: %s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                            \
			abort();                                                             \
		}                                                                            \
	} while (0)

enum { OP_REQ, OP_DESC, OP_TABLE, OP_AVAIL, OP_POKE, OP_POP, OP_DRAIN, OP_LIMITS, OP__COUNT };

#define R0_GPA	    0x1000ULL
#define R0_SIZE	    0x8000ULL
#define GAP_GPA	    0x9000ULL
#define GAP_SIZE    0x7000ULL
#define R1_GPA	    0x10000ULL
#define R1_SIZE	    0x1000ULL
#define DESC_GPA    0x1000ULL
#define AVAIL_GPA   0x1400ULL
#define USED_GPA    0x1600ULL
#define TABLE_GPA   0x2000ULL
#define TABLE_SLOTS 256
#define BUF_GPA	    0x3000ULL /* to the end of R0 */
#define BUF_SIZE    (R0_GPA + R0_SIZE - BUF_GPA)
#define MAX_SIZE    64
#define MAX_PIECES  64 /* descriptors one OP_REQ builds, at most */

static const uint64_t CAPACITIES[8] = {
	0, 1, 8, 2048, 1ULL << 20, 1ULL << 40, UINT64_MAX - 1, UINT64_MAX,
};
static const uint32_t MAX_SECTORS[8] = { 0, 1, 2, 8, 64, 4096, 0x7fffffff, UINT32_MAX };

struct input {
	const uint8_t *p, *end;
};

static uint8_t next(struct input *in)
{
	return in->p < in->end ? *in->p++ : 0;
}

static uint16_t next16(struct input *in)
{
	uint16_t lo = next(in);

	return lo | (uint16_t)(next(in) << 8);
}

static uint32_t next32(struct input *in)
{
	uint32_t lo = next16(in);

	return lo | (uint32_t)next16(in) << 16;
}

struct state {
	struct gmem mem;
	uint8_t *r0, *r1;
	struct virtq vq;
	struct blk_limits limits;
	uint16_t size;
	uint16_t avail_idx;  /* the driver's */
	uint16_t next_desc;  /* where OP_REQ puts its next descriptors */
	unsigned next_table; /* ... its next indirect table */
	uint64_t next_buf[2];
};

/* Big: static, as in fuzz_queue.c. */
static struct virtq_chain chain;
static struct blk_request req;
static uint8_t scratch[4096];
static volatile uint8_t read_sink;

static void *guest(struct state *s, uint64_t gpa, size_t len)
{
	void *p = gmem_ptr(&s->mem, gpa, len);

	CHECK(p);
	return p;
}

static void put16(struct state *s, uint64_t gpa, uint16_t v)
{
	uint16_t le = htole16(v);

	memcpy(guest(s, gpa, 2), &le, 2);
}

static uint32_t get32(struct state *s, uint64_t gpa)
{
	uint32_t le;

	memcpy(&le, guest(s, gpa, 4), 4);
	return le32toh(le);
}

static void put_desc(struct state *s, uint64_t gpa, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t nx)
{
	struct virtq_desc d = { htole64(addr), htole32(len), htole16(flags), htole16(nx) };

	memcpy(guest(s, gpa, sizeof(d)), &d, sizeof(d));
}

static void set_limits(struct state *s, uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3)
{
	s->limits = (struct blk_limits){
		.capacity = CAPACITIES[b1 & 7],
		.readonly = b0 & 0x20,
		.discard = b0 & 0x40,
		.write_zeroes = b0 & 0x80,
		.max_discard_sectors = MAX_SECTORS[b3 & 7],
		.max_write_zeroes_sectors = MAX_SECTORS[(b3 >> 4) & 7],
		.max_segments = b2 % 40,
	};
}

/* ------------------------------------------------- the raw driver ---- */

/*
 * A descriptor from 8 input bytes: mode, offset (2), length (2), flags,
 * next (2). The mode picks where addr points (bits 0-2) and what len is
 * (bits 3-5): mostly buffers, some across a region's end, in the gap or
 * wrapping around.
 */
static void raw_desc(struct state *s, uint64_t gpa, struct input *in, uint16_t modulus)
{
	uint8_t mode = next(in);
	uint16_t off = next16(in), len16 = next16(in);
	uint8_t flags = next(in);
	uint16_t nx = next16(in);
	uint64_t addr;
	uint32_t len;

	switch (mode & 7) {
	case 0: addr = BUF_GPA + off % BUF_SIZE; break;
	case 1: addr = R1_GPA + off % R1_SIZE; break;
	case 2: addr = TABLE_GPA + 16 * (off % TABLE_SLOTS); break;
	case 3: addr = (off & 0x8000 ? R1_GPA + R1_SIZE : R0_GPA + R0_SIZE) - (off & 0x3f); break;
	case 4: addr = GAP_GPA + off % GAP_SIZE; break;
	case 5: addr = UINT64_MAX - off; break;
	default: addr = R0_GPA + off % R0_SIZE; break;
	}
	switch ((mode >> 3) & 7) {
	case 0: len = len16 % 64; break;
	case 1: len = 16 * (len16 % (TABLE_SLOTS + 4)); break;
	case 2: len = len16; break;
	case 3: len = UINT32_MAX - len16; break;
	case 4: len = 512 * (len16 % 17) + (len16 >> 12); break;
	default: len = len16 % 24; break;
	}
	put_desc(s, gpa, addr, len, flags, nx & 0x8000 ? nx & 0xff : nx % modulus);
}

static void make_avail(struct state *s, uint16_t head)
{
	put16(s, AVAIL_GPA + 4 + 2ULL * (s->avail_idx & (s->size - 1)), head);
	s->avail_idx++;
	put16(s, AVAIL_GPA + 2, s->avail_idx);
}

/* ---------------------------------------- the well-formed driver ---- */

/* Part of a request: bytes [off, off + len) of its guest memory. */
struct piece {
	uint32_t off, len;
	bool writable;
};

struct layout {
	struct piece pieces[MAX_PIECES];
	unsigned num;
};

static void add_piece(struct layout *l, uint32_t off, uint32_t len, bool writable)
{
	if (len && l->num < MAX_PIECES)
		l->pieces[l->num++] = (struct piece){ off, len, writable };
}

/* Splits [off, off + len) into pieces as mode says: whole, by unit, unevenly, bytes first. */
static void split(struct layout *l, uint32_t off, uint32_t len, bool writable, unsigned mode,
		  uint32_t unit)
{
	uint32_t end = off + len;

	switch (mode) {
	case 1:
		for (; off + unit < end && l->num < MAX_PIECES - 2; off += unit)
			add_piece(l, off, unit, writable);
		break;
	case 2:
		add_piece(l, off, len / 3 + 1 < len ? len / 3 + 1 : len, writable);
		off += len / 3 + 1 < len ? len / 3 + 1 : len;
		add_piece(l, off, (end - off) / 2, writable);
		off += (end - off) / 2;
		break;
	case 3:
		for (unsigned i = 0; i < 32 && off + 1 < end && l->num < MAX_PIECES - 2; i++)
			add_piece(l, off++, 1, writable);
		break;
	}
	add_piece(l, off, end - off, writable);
}

/* Where a request of len bytes goes: R1 or R0's buffers, after the last one, wrapping. */
static uint64_t alloc_buf(struct state *s, uint32_t len, bool in_r1)
{
	uint64_t base[2] = { BUF_GPA, R1_GPA }, size[2] = { BUF_SIZE, R1_SIZE };
	unsigned r = in_r1 && len <= R1_SIZE;
	uint64_t gpa;

	if (s->next_buf[r] + len > size[r])
		s->next_buf[r] = 0;
	gpa = base[r] + s->next_buf[r];
	s->next_buf[r] += len;
	return gpa;
}

/* A segment from 3 input bytes: sector, length and flags, near the edges that matter. */
static void make_segment(struct state *s, uint8_t *p, struct input *in, uint32_t max)
{
	uint8_t a = next(in), n = next(in), f = next(in);
	uint64_t sector = a & 0x80 ? s->limits.capacity - (a & 0x7f) : a;
	uint32_t num_sectors, flags;

	if (n < 0xf0)
		num_sectors = n;
	else
		num_sectors = n & 1 ? max + (n & 0x0e) / 2 : UINT32_MAX - (n & 0x0e);
	if (f < 0x80)
		flags = f & 1;
	else
		flags = 1u << (f & 31);
	sector = htole64(sector);
	num_sectors = htole32(num_sectors);
	flags = htole32(flags);
	memcpy(p, &sector, 8);
	memcpy(p + 8, &num_sectors, 4);
	memcpy(p + 12, &flags, 4);
}

/*
 * OP_REQ: kind (bits 0-2, see types[]; a raw type follows in 4 bytes for
 * 7), sector mode (bits 0-1: arg, capacity - arg, UINT64_MAX - arg,
 * capacity + arg) and arg, a 16-bit length, a layout byte:
 *   bit 0     an indirect table instead of direct descriptors
 *   bits 1-2  the header whole, in 16 single bytes, as 5 + 11, or sharing
 *             its last buffer with the start of readable data
 *   bits 3-4  the data whole, in sectors (segments), in 3 uneven pieces,
 *             or first up to 32 single bytes
 *   bit 5     the status byte the tail of writable data, not its own buffer
 *   bit 6     in R1 rather than R0
 *   bit 7     the data in the wrong direction
 * Data length: for DISCARD and WRITE_ZEROES, (len & 0xfff) % 36 segments, 3 input
 * bytes each (make_segment()), plus (len >> 12) & 7 stray bytes when bit 15 is
 * set; otherwise (len % 17) sectors, or len & 0x1fff bytes when bit 15 is.
 */
static void make_request(struct state *s, struct input *in)
{
	static const uint32_t types[7] = {
		VIRTIO_BLK_T_IN,
		VIRTIO_BLK_T_OUT,
		VIRTIO_BLK_T_FLUSH,
		VIRTIO_BLK_T_GET_ID,
		VIRTIO_BLK_T_DISCARD,
		VIRTIO_BLK_T_WRITE_ZEROES,
		14,
	};
	uint8_t kind = next(in), sector_mode = next(in), arg = next(in);
	uint16_t len16 = next16(in);
	uint8_t layout = next(in);
	uint32_t type = (kind & 7) < 7 ? types[kind & 7] : next32(in);
	bool segments = type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES;
	bool writable = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID ||
			type == VIRTIO_BLK_T_FLUSH;
	uint64_t cap = s->limits.capacity, sector, gpa, sector_le;
	uint32_t len, nseg = 0, type_le = htole32(type), reserved = 0;
	struct layout l = { .num = 0 };
	uint8_t *p;

	switch (sector_mode & 3) {
	case 0: sector = arg; break;
	case 1: sector = cap - arg; break;
	case 2: sector = UINT64_MAX - arg; break;
	default: sector = cap + arg; break;
	}
	if (segments) {
		nseg = (len16 & 0xfff) % 36;
		len = 16 * nseg + (len16 & 0x8000 ? (len16 >> 12) & 7 : 0);
	} else {
		len = len16 & 0x8000 ? len16 & 0x1fff : 512 * (len16 % 17);
	}
	if (layout & 0x80)
		writable = !writable;

	gpa = alloc_buf(s, 16 + len + 1, layout & 0x40);
	p = guest(s, gpa, 16 + len + 1);
	sector_le = htole64(sector);
	memcpy(p, &type_le, 4);
	memcpy(p + 4, &reserved, 4);
	memcpy(p + 8, &sector_le, 8);
	memset(p + 16, 0x6b, len + 1);
	for (uint32_t i = 0; i < nseg; i++)
		make_segment(s, p + 16 + 16 * i, in,
			     type == VIRTIO_BLK_T_DISCARD ? s->limits.max_discard_sectors
							  : s->limits.max_write_zeroes_sectors);

	/* The header, then the data, then the status byte, as pieces of [0, 16 + len + 1). */
	switch ((layout >> 1) & 3) {
	case 0: add_piece(&l, 0, 16, false); break;
	case 1: split(&l, 0, 16, false, 3, 1); break;
	case 2: split(&l, 0, 16, false, 2, 0); break;
	default: split(&l, 0, writable || len == 0 ? 16 : 16 + len / 2 + 1, false, 0, 0); break;
	}
	if (l.num && l.pieces[l.num - 1].off + l.pieces[l.num - 1].len > 16)
		split(&l, 17 + len / 2, len - len / 2 - 1, writable, (layout >> 3) & 3,
		      segments ? 16 : 512);
	else
		split(&l, 16, len, writable, (layout >> 3) & 3, segments ? 16 : 512);
	if ((layout & 0x20) && writable && l.num && l.pieces[l.num - 1].writable)
		l.pieces[l.num - 1].len++;
	else
		add_piece(&l, 16 + len, 1, true);

	if (layout & 1) {
		/* An indirect table: its entries chain 0, 1, 2, ... */
		if (s->next_table + l.num > TABLE_SLOTS)
			s->next_table = 0;
		for (unsigned i = 0; i < l.num; i++)
			put_desc(s, TABLE_GPA + 16ULL * (s->next_table + i), gpa + l.pieces[i].off,
				 l.pieces[i].len,
				 (i + 1 < l.num ? VIRTQ_DESC_F_NEXT : 0) |
					 (l.pieces[i].writable ? VIRTQ_DESC_F_WRITE : 0),
				 (uint16_t)(i + 1));
		put_desc(s, DESC_GPA + 16ULL * s->next_desc, TABLE_GPA + 16ULL * s->next_table,
			 16 * l.num, VIRTQ_DESC_F_INDIRECT, 0);
		s->next_table += l.num;
		make_avail(s, s->next_desc);
		s->next_desc = (s->next_desc + 1) & (s->size - 1);
		return;
	}
	/* Direct: consecutive descriptors, wrapping; more than size overwrite themselves. */
	make_avail(s, s->next_desc);
	for (unsigned i = 0; i < l.num; i++) {
		uint16_t idx = s->next_desc, nx = (idx + 1) & (s->size - 1);

		put_desc(s, DESC_GPA + 16ULL * idx, gpa + l.pieces[i].off, l.pieces[i].len,
			 (i + 1 < l.num ? VIRTQ_DESC_F_NEXT : 0) |
				 (l.pieces[i].writable ? VIRTQ_DESC_F_WRITE : 0),
			 nx);
		s->next_desc = nx;
	}
}

/* ------------------------------------------------------ the device ---- */

/* Bytes [off, off + len) of iov[0, num), copied one at a time; fewer when they end. */
static size_t gather(const struct iovec *iov, unsigned num, uint32_t off, uint8_t *dst, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < num && done < len; i++) {
		const uint8_t *base = iov[i].iov_base;

		for (size_t j = 0; j < iov[i].iov_len && done < len; j++) {
			if (off) {
				off--;
				continue;
			}
			dst[done++] = base[j];
		}
	}
	return done;
}

static bool inside(const void *p, size_t len, const struct iovec *iov)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)iov->iov_base;

	return a >= b && len <= iov->iov_len && a - b <= iov->iov_len - len;
}

/* data[] is exactly bytes [off, off + len) of iov[0, num), trimmed. */
static void check_data(const struct iovec *iov, unsigned num, uint32_t off, uint64_t len)
{
	uint64_t sum = 0;
	unsigned k = 0;

	CHECK(req.data_num <= VIRTQ_MAX_IOV);
	for (unsigned i = 0; i < req.data_num; i++) {
		CHECK(req.data[i].iov_len > 0);
		sum += req.data[i].iov_len;
	}
	CHECK(sum == req.data_len && sum == len);
	for (unsigned i = 0; i < num && len; i++) {
		uint64_t n = iov[i].iov_len;

		if (off >= n) {
			off -= n;
			continue;
		}
		n -= off;
		if (n > len)
			n = len;
		CHECK(k < req.data_num);
		CHECK(req.data[k].iov_base == (uint8_t *)iov[i].iov_base + off);
		CHECK(req.data[k].iov_len == n);
		CHECK(inside(req.data[k].iov_base, n, &iov[i]));
		k++;
		len -= n;
		off = 0;
	}
	CHECK(len == 0 && k == req.data_num);
}

static bool in_range(const struct blk_limits *limits, uint64_t sector, uint64_t count)
{
	return sector <= limits->capacity && count <= limits->capacity - sector;
}

static void check_segments(const struct blk_limits *limits, uint32_t out_len)
{
	uint32_t max = req.type == VIRTIO_BLK_T_DISCARD ? limits->max_discard_sectors
							: limits->max_write_zeroes_sectors;
	uint8_t raw[16];

	CHECK(req.type == VIRTIO_BLK_T_DISCARD ? limits->discard : limits->write_zeroes);
	CHECK(!limits->readonly && chain.in_len == 1 && req.data_num == 0);
	CHECK(req.num_segments >= 1 && req.num_segments <= BLK_MAX_SEGMENTS &&
	      req.num_segments <= limits->max_segments);
	CHECK(out_len == 16 + 16 * req.num_segments);
	for (unsigned i = 0; i < req.num_segments; i++) {
		const struct blk_segment *seg = &req.segments[i];
		uint64_t sector;
		uint32_t num_sectors, flags;

		CHECK(gather(chain.iov, chain.out_num, 16 + 16 * i, raw, 16) == 16);
		memcpy(&sector, raw, 8);
		memcpy(&num_sectors, raw + 8, 4);
		memcpy(&flags, raw + 12, 4);
		CHECK(seg->sector == le64toh(sector) && seg->num_sectors == le32toh(num_sectors) &&
		      seg->flags == le32toh(flags));
		CHECK(seg->flags == 0 || (seg->flags == VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP &&
					  req.type == VIRTIO_BLK_T_WRITE_ZEROES));
		CHECK(seg->num_sectors <= max && in_range(limits, seg->sector, seg->num_sectors));
	}
}

/* What blk_request.h promises for this chain and result. */
static void check_request(struct state *s, enum blk_request_error err)
{
	const struct iovec *out = chain.iov, *in = chain.iov + chain.out_num;
	const struct iovec *last = chain.in_num ? &in[chain.in_num - 1] : NULL;
	uint8_t header[16];
	uint64_t sector;
	uint32_t type;

	CHECK((unsigned)err <= BLK_E_SEGMENTS);
	CHECK(strcmp(blk_request_strerror(err), "unknown block request error") != 0);
	if (!last) {
		CHECK(err == BLK_E_NO_STATUS && req.status == NULL);
		return;
	}
	CHECK(err != BLK_E_NO_STATUS);
	CHECK(req.status == (uint8_t *)last->iov_base + last->iov_len - 1);
	if (gather(out, chain.out_num, 0, header, 16) < 16) {
		CHECK(err == BLK_E_SHORT_HEADER);
		return;
	}
	CHECK(err != BLK_E_SHORT_HEADER);
	memcpy(&type, header, 4);
	memcpy(&sector, header + 8, 8);
	CHECK(req.type == le32toh(type) && req.sector == le64toh(sector));
	if (err != BLK_E_OK) {
		CHECK(req.data_num == 0 && req.data_len == 0 && req.num_segments == 0);
		return;
	}
	switch (req.type) {
	case VIRTIO_BLK_T_IN:
		CHECK(chain.out_len == 16 && req.data_len % 512 == 0);
		CHECK(in_range(&s->limits, req.sector, req.data_len / 512));
		check_data(in, chain.in_num, 0, chain.in_len - 1);
		break;
	case VIRTIO_BLK_T_OUT:
		CHECK(!s->limits.readonly && chain.in_len == 1 && req.data_len % 512 == 0);
		CHECK(in_range(&s->limits, req.sector, req.data_len / 512));
		check_data(out, chain.out_num, 16, chain.out_len - 16);
		break;
	case VIRTIO_BLK_T_GET_ID:
		CHECK(chain.out_len == 16 && chain.in_len >= 2);
		check_data(in, chain.in_num, 0, chain.in_len - 1);
		break;
	case VIRTIO_BLK_T_FLUSH: CHECK(req.data_num == 0 && req.data_len == 0); break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: check_segments(&s->limits, chain.out_len); break;
	default: CHECK(!"an unknown type was accepted");
	}
	if (req.type != VIRTIO_BLK_T_DISCARD && req.type != VIRTIO_BLK_T_WRITE_ZEROES)
		CHECK(req.num_segments == 0);
}

/* Carries the request out on its buffers; returns the bytes written for the used ring. */
static uint32_t carry_out(enum blk_request_error err)
{
	static const char id[VIRTIO_BLK_ID_BYTES] = "hutch-fuzz";
	uint32_t written = 0;

	if (err == BLK_E_NO_STATUS)
		return 0;
	if (err != BLK_E_OK) {
		*req.status = blk_request_status(err);
		return 1;
	}
	for (unsigned i = 0; i < req.data_num; i++) {
		uint8_t *base = req.data[i].iov_base;
		size_t len = req.data[i].iov_len;

		switch (req.type) {
		case VIRTIO_BLK_T_OUT:
			/* Every byte read (memcpy is checked as a whole under ASan). */
			for (size_t off = 0; off < len; off += sizeof(scratch))
				memcpy(scratch, base + off,
				       len - off < sizeof(scratch) ? len - off : sizeof(scratch));
			read_sink = scratch[0];
			break;
		case VIRTIO_BLK_T_IN:
			memset(base, 0x5a, len);
			written += len;
			break;
		case VIRTIO_BLK_T_GET_ID:
			if (written < sizeof(id)) {
				size_t n = len < sizeof(id) - written ? len : sizeof(id) - written;

				memcpy(base, id + written, n);
				written += n;
			}
			break;
		}
	}
	*req.status = VIRTIO_BLK_S_OK;
	return written + 1;
}

static void push(struct state *s, uint16_t head, uint32_t len)
{
	uint16_t slot = s->vq.used_idx & (s->size - 1);
	int ret = virtq_push(&s->vq, head, len);

	CHECK(ret == 0);
	CHECK(get32(s, USED_GPA + 4 + 8ULL * slot) == head);
	CHECK(get32(s, USED_GPA + 8 + 8ULL * slot) == len);
}

/* One virtq_pop() and what the device does with it; the result of the pop. */
static int pop(struct state *s)
{
	int ret = virtq_pop(&s->vq, &chain);
	enum blk_request_error err;
	uint32_t written;

	if (ret == 1) {
		err = blk_request_parse(&chain, &s->limits, &req);
		check_request(s, err);
		written = carry_out(err);
		CHECK(written <= chain.in_len);
		push(s, chain.head, written);
	} else if (ret < 0 && !virtq_error_is_ring(ret)) {
		CHECK(chain.head < s->size && !s->vq.broken);
		push(s, chain.head, 0);
	} else if (ret < 0) {
		CHECK(s->vq.broken && chain.head == VIRTQ_NO_HEAD);
	}
	return ret;
}

/* Until empty or broken; each pop takes an avail entry, at most size of them wait. */
static void drain(struct state *s)
{
	int ret;

	do
		ret = pop(s);
	while (ret == 1 || (ret < 0 && !virtq_error_is_ring(ret)));
}

static void run(struct state *s, struct input *in)
{
	while (in->p < in->end) {
		uint8_t op = next(in) % OP__COUNT, b0, b1, b2, b3;
		unsigned n;
		uint16_t off;

		switch (op) {
		case OP_REQ: make_request(s, in); break;
		case OP_DESC:
			n = next(in);
			raw_desc(s, DESC_GPA + 16ULL * (n & (s->size - 1)), in, s->size);
			break;
		case OP_TABLE:
			n = next(in);
			raw_desc(s, TABLE_GPA + 16ULL * (n % TABLE_SLOTS), in, 8);
			break;
		case OP_AVAIL:
			n = next(in) % (2 * MAX_SIZE + 2);
			for (unsigned i = 0; i < n; i++) {
				uint8_t b = next(in);

				put16(s,
				      AVAIL_GPA + 4 + 2ULL * ((s->avail_idx + i) & (s->size - 1)),
				      b < 0xf0 ? b % s->size : (uint16_t)(b << 8 | b));
			}
			s->avail_idx += n;
			put16(s, AVAIL_GPA + 2, s->avail_idx);
			break;
		case OP_POKE:
			off = next16(in);
			n = next(in) % 32;
			for (unsigned i = 0; i < n; i++) {
				uint64_t gpa = off & 0x8000 ? R1_GPA + (off + i) % R1_SIZE
							    : BUF_GPA + (off + i) % BUF_SIZE;

				*(uint8_t *)guest(s, gpa, 1) = next(in);
			}
			break;
		case OP_POP: (void)pop(s); break;
		case OP_LIMITS:
			b0 = next(in);
			b1 = next(in);
			b2 = next(in);
			b3 = next(in);
			set_limits(s, b0, b1, b2, b3);
			break;
		default: drain(s); break;
		}
	}
	drain(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, data + size };
	struct state s = { 0 };
	uint8_t cfg = next(&in), b1 = next(&in), b2 = next(&in), b3 = next(&in);

	s.r0 = malloc(R0_SIZE);
	s.r1 = malloc(R1_SIZE);
	CHECK(s.r0 && s.r1);
	memset(s.r0, 0, R0_SIZE);
	memset(s.r1, 0, R1_SIZE);
	CHECK(gmem_add_region(&s.mem, R0_GPA, R0_SIZE, s.r0) == 0);
	CHECK(gmem_add_region(&s.mem, R1_GPA, R1_SIZE, s.r1) == 0);
	s.size = (uint16_t)(1u << ((cfg & 7) % 7));
	set_limits(&s, cfg, b1, b2, b3);
	CHECK(virtq_init(&s.vq, &s.mem, s.size, DESC_GPA, AVAIL_GPA, USED_GPA, cfg & 0x08,
			 cfg & 0x10) == 0);
	run(&s, &in);
	free(s.r0);
	free(s.r1);
	return 0;
}

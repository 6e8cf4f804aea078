/*
 * Fuzz target for the split virtqueue chain walker (devices/virtio/queue.c),
 * structure-aware: a valid queue geometry in a small guest memory, then a
 * guest driver that writes descriptors, indirect tables and ring fields from
 * the input while the device pops, pushes and decides on notifications.
 *
 * Guest memory: R0 [0x1000, 0x9000) and R1 [0x10000, 0x11000), each an
 * exactly sized malloc'd block, with a gap between them, and R2, 8 MiB at
 * 4 GiB, mapped once for all inputs, for chains of more than 4 GiB.
 *
 * The input starts with 4 header bytes:
 *   byte 0  bits 0-2: queue size 1 << n (1 to 128); bit 3: VIRTIO_F_INDIRECT_DESC;
 *           bit 4: VIRTIO_F_EVENT_IDX; bits 5-7: ring placement, see place_rings()
 *   byte 1-2  the 16-bit index both sides start at (little-endian)
 *   byte 3  bit 0: pre-fill the descriptor table with one-buffer chains
 * then operations, an opcode byte (modulo OP__COUNT) and its arguments
 * (a missing argument byte at the end of the input reads as 0):
 *   OP_DESC   i desc[8]     descriptor i % size of the table, see put_desc()
 *   OP_TABLE  i desc[8]     entry i of the indirect table area at TABLE_GPA
 *   OP_AVAIL  n heads[n]    n chain heads into the avail ring, then avail->idx += n
 *   OP_IDX    lo hi         avail->idx = hi:lo
 *   OP_POP                  one virtq_pop()
 *   OP_PUSH   k lo hi       virtq_push() of in-flight chain k with up to hi:lo bytes
 *   OP_NOTIFY               virtq_should_notify() since the last notification
 *   OP_POKE   where n b[n]  n raw bytes into the rings (flags, used_event, ...)
 *   OP_DRAIN                pop until 0 or an error, pushing each chain
 *   OP_FILL   lo hi desc[8] entries 0 to n - 1 of the indirect table area
 *                           (n = hi:lo % 1024 + 1), all like desc, chained in order
 * and at the end of the input one more OP_DRAIN.
 *
 * Whatever the input, nothing may crash or touch memory outside the guest
 * buffers (the device touches the first and last bytes of every buffer it
 * is handed), a good chain must be what the contract promises, a bad chain
 * must leave the queue usable with its head to complete, and a bad ring must
 * stop the queue.
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devices/virtio/queue.h"
#include "vmm/memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                            \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "fuzz_queue: %s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                              \
			abort();                                                               \
		}                                                                              \
	} while (0)

enum {
	OP_DESC,
	OP_TABLE,
	OP_AVAIL,
	OP_IDX,
	OP_POP,
	OP_PUSH,
	OP_NOTIFY,
	OP_POKE,
	OP_DRAIN,
	OP_FILL,
	OP__COUNT
};

#define R0_GPA	    0x1000ULL
#define R0_SIZE	    0x8000ULL
#define GAP_GPA	    0x9000ULL
#define GAP_SIZE    0x7000ULL
#define R1_GPA	    0x10000ULL
#define R1_SIZE	    0x1000ULL
#define R2_GPA	    0x100000000ULL
#define R2_SIZE	    0x800000ULL
#define TABLE_GPA   0x5000ULL /* 1024 entries of indirect tables, the end of R0 */
#define TABLE_SLOTS 1024
#define MAX_SIZE    128

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

struct state {
	struct gmem mem;
	uint8_t *r0, *r1;
	struct virtq vq;
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx;    /* the driver's */
	uint16_t notified_idx; /* used idx at the last notification decision */
	/* Chains popped and not yet pushed. */
	unsigned in_flight;
	uint16_t flight_head[MAX_SIZE];
	uint32_t flight_in_len[MAX_SIZE];
};

static struct virtq_chain chain;
static uint8_t *r2;		   /* mapped for the first input, kept for all */
static volatile uint8_t read_sink; /* the device reads its readable buffers */

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

static uint16_t get16(struct state *s, uint64_t gpa)
{
	uint16_t le;

	memcpy(&le, guest(s, gpa, 2), 2);
	return le16toh(le);
}

static uint32_t get32(struct state *s, uint64_t gpa)
{
	uint32_t le;

	memcpy(&le, guest(s, gpa, 4), 4);
	return le32toh(le);
}

/*
 * A descriptor from 8 input bytes: mode, offset (2), length (2), flags,
 * next (2). The mode picks where addr points (bits 0-2) and what len is
 * (bits 3-5), so that most buffers land in RAM, in the indirect table area
 * or just across an edge, and some in the gap or where addr + len wraps.
 */
static uint64_t region_end(uint16_t off)
{
	if (off & 0x8000)
		return R1_GPA + R1_SIZE;
	return off & 0x4000 ? R2_GPA + R2_SIZE : R0_GPA + R0_SIZE;
}

static struct virtq_desc make_desc(struct input *in, uint16_t modulus)
{
	uint8_t mode = next(in);
	uint16_t off = next16(in), len16 = next16(in);
	uint8_t flags = next(in);
	uint16_t nx = next16(in);
	struct virtq_desc d;
	uint64_t addr;
	uint32_t len;

	switch (mode & 7) {
	case 0: addr = R0_GPA + off % R0_SIZE; break;
	case 1: addr = (uint64_t)off * 0x100010001ULL << 8; break;
	case 2: addr = R1_GPA + off % R1_SIZE; break;
	case 3: addr = TABLE_GPA + 16 * (off % TABLE_SLOTS); break;
	case 4: addr = region_end(off) - (off & 0x3f); break;
	case 5: addr = GAP_GPA + off % GAP_SIZE; break;
	case 6: addr = UINT64_MAX - off; break;
	default: addr = R2_GPA + ((uint64_t)off << 7); break;
	}
	switch ((mode >> 3) & 7) {
	case 0: len = len16 % 0x200; break;
	case 1: len = 16 * (len16 % 1100); break; /* indirect tables, some too long */
	case 2: len = len16; break;
	case 3: len = UINT32_MAX - len16; break;
	case 4: len = (uint32_t)len16 << 7; break; /* up to R2's size */
	default: len = len16 % 64; break;
	}
	d.addr = htole64(addr);
	d.len = htole32(len);
	d.flags = htole16(flags);
	d.next = htole16(nx & 0x8000 ? nx & 0x3ff : nx % modulus);
	return d;
}

static void put_desc(struct state *s, uint64_t gpa, struct input *in, uint16_t modulus)
{
	struct virtq_desc d = make_desc(in, modulus);

	memcpy(guest(s, gpa, sizeof(d)), &d, sizeof(d));
}

/* A long indirect table in one go: n copies of one descriptor, chained. */
static void fill_table(struct state *s, struct input *in)
{
	unsigned n = next16(in) % TABLE_SLOTS + 1;
	struct virtq_desc d = make_desc(in, 1);
	uint16_t flags = le16toh(d.flags) & ~VIRTQ_DESC_F_NEXT;

	for (unsigned i = 0; i < n; i++) {
		d.flags = htole16(flags | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
		d.next = htole16(i + 1);
		memcpy(guest(s, TABLE_GPA + 16ULL * i, sizeof(d)), &d, sizeof(d));
	}
}

/*
 * Where the rings go, from the placement bits of the header. 0-4: the
 * usual, one after the other in R0; 5: in R1, each area ending as near its
 * region's end as its alignment lets; 6 and 7: a misaligned descriptor
 * table and an avail ring whose used_event field lies past the end of R1,
 * which virtq_init() must refuse.
 */
static void place_rings(struct state *s, unsigned placement)
{
	uint64_t avail_len = 6 + 2ULL * s->size, used_len = 6 + 8ULL * s->size;

	s->desc = R0_GPA;
	s->avail = R0_GPA + 16 * MAX_SIZE;
	s->used = R0_GPA + 0xa00;
	switch (placement) {
	case 5:
		s->desc = R1_GPA;
		s->used = (R1_GPA + R1_SIZE - used_len) & ~3ULL;
		s->avail = (s->used - avail_len) & ~1ULL;
		break;
	case 6: s->desc += 8; break;
	case 7: s->avail = R1_GPA + R1_SIZE - avail_len + 2; break;
	}
}

static bool inside(uintptr_t p, size_t len, uintptr_t block, size_t block_len)
{
	return p >= block && len <= block_len && p - block <= block_len - len;
}

/* A good chain: what the contract promises, and buffers the device can touch. */
static void check_chain(struct state *s)
{
	uint64_t out = 0, in = 0;

	CHECK(chain.head < s->size);
	CHECK(chain.out_num + chain.in_num <= VIRTQ_MAX_IOV);
	for (unsigned i = 0; i < chain.out_num + chain.in_num; i++) {
		uint8_t *base = chain.iov[i].iov_base;
		size_t len = chain.iov[i].iov_len;

		CHECK(len > 0);
		CHECK(inside((uintptr_t)base, len, (uintptr_t)s->r0, R0_SIZE) ||
		      inside((uintptr_t)base, len, (uintptr_t)s->r1, R1_SIZE) ||
		      inside((uintptr_t)base, len, (uintptr_t)r2, R2_SIZE));
		if (i < chain.out_num) {
			out += len;
			read_sink = base[0];
			read_sink = base[len - 1];
		} else {
			in += len;
			memset(base, 0xee, len < 16 ? len : 16);
			base[len - 1] = 0xee;
		}
	}
	CHECK(out == chain.out_len);
	CHECK(in == chain.in_len);
	CHECK(out + in <= UINT32_MAX);
}

static void push(struct state *s, unsigned k, uint32_t len)
{
	uint16_t head = s->flight_head[k];
	uint16_t slot = s->vq.used_idx & (s->size - 1);
	int ret = virtq_push(&s->vq, head, len);

	if (s->vq.broken) {
		CHECK(ret == -EIO);
		return;
	}
	CHECK(ret == 0);
	CHECK(get32(s, s->used + 4 + 8ULL * slot) == head);
	CHECK(get32(s, s->used + 8 + 8ULL * slot) == len);
	CHECK(get16(s, s->used + 2) == s->vq.used_idx);
	s->flight_head[k] = s->flight_head[s->in_flight - 1];
	s->flight_in_len[k] = s->flight_in_len[s->in_flight - 1];
	s->in_flight--;
}

/* One virtq_pop() and what a device does with its result. */
static int pop(struct state *s)
{
	bool was_broken = s->vq.broken;
	int ret = virtq_pop(&s->vq, &chain);

	if (was_broken)
		CHECK(ret == -VIRTQ_E_BROKEN);
	if (ret == 1) {
		check_chain(s);
		CHECK(s->in_flight < s->size);
		s->flight_head[s->in_flight] = chain.head;
		s->flight_in_len[s->in_flight] = chain.in_len;
		s->in_flight++;
	} else if (ret == 0) {
		CHECK(chain.head == VIRTQ_NO_HEAD && !s->vq.broken);
	} else if (virtq_error_is_ring(ret)) {
		CHECK(chain.head == VIRTQ_NO_HEAD && s->vq.broken);
		CHECK(strcmp(virtq_strerror(ret), "unknown virtqueue error") != 0);
	} else {
		/* A bad chain: complete it with an error, as a device must. */
		CHECK(ret >= -VIRTQ_E_TOO_MANY_IOV);
		CHECK(chain.head < s->size && !s->vq.broken);
		CHECK(chain.out_num == 0 && chain.in_num == 0);
		CHECK(chain.out_len == 0 && chain.in_len == 0);
		CHECK(s->in_flight < s->size);
		s->flight_head[s->in_flight] = chain.head;
		s->flight_in_len[s->in_flight] = 0;
		s->in_flight++;
		push(s, s->in_flight - 1, 0);
	}
	CHECK((uint16_t)(s->vq.last_avail_idx - s->vq.used_idx) == s->in_flight || s->vq.broken);
	return ret;
}

static void drain(struct state *s)
{
	while (pop(s) == 1)
		push(s, s->in_flight - 1, s->flight_in_len[s->in_flight - 1]);
}

static void run(struct state *s, struct input *in)
{
	while (in->p < in->end) {
		uint8_t op = next(in) % OP__COUNT;
		unsigned n, k;
		uint16_t where;

		switch (op) {
		case OP_DESC:
			n = next(in);
			put_desc(s, s->desc + 16ULL * (n & (s->size - 1)), in, s->size);
			break;
		case OP_TABLE:
			n = next(in);
			put_desc(s, TABLE_GPA + 16ULL * (n % TABLE_SLOTS), in, 8);
			break;
		case OP_AVAIL:
			n = next(in) % (2 * MAX_SIZE + 2);
			for (unsigned i = 0; i < n; i++) {
				uint8_t b = next(in);
				uint16_t head = b < 0xf0 ? b % s->size : (uint16_t)(b << 8 | b);

				put16(s, s->avail + 4 + 2ULL * ((s->avail_idx + i) & (s->size - 1)),
				      head);
			}
			s->avail_idx += n;
			put16(s, s->avail + 2, s->avail_idx);
			break;
		case OP_IDX:
			s->avail_idx = next16(in);
			put16(s, s->avail + 2, s->avail_idx);
			break;
		case OP_POP: (void)pop(s); break;
		case OP_PUSH:
			k = next(in);
			n = next16(in);
			if (s->in_flight) {
				k %= s->in_flight;
				push(s, k, n < s->flight_in_len[k] ? n : s->flight_in_len[k]);
			}
			break;
		case OP_NOTIFY:
			(void)virtq_should_notify(&s->vq, s->notified_idx);
			s->notified_idx = s->vq.used_idx;
			break;
		case OP_POKE:
			/* Mostly the flags, idx and trailing fields of both rings. */
			where = next(in);
			n = next(in) % 8;
			for (unsigned i = 0; i < n; i++) {
				uint64_t gpa;

				switch (where % 4) {
				case 0:
					gpa = s->avail + (where / 4 + i) % (6 + 2ULL * s->size);
					break;
				case 1:
					gpa = s->used + (where / 4 + i) % (6 + 8ULL * s->size);
					break;
				case 2: gpa = s->avail + 4 + 2ULL * s->size + i % 2; break;
				default: gpa = s->used + 4 + 8ULL * s->size + i % 2; break;
				}
				*(uint8_t *)guest(s, gpa, 1) = next(in);
			}
			break;
		case OP_FILL: fill_table(s, in); break;
		default: drain(s); break;
		}
	}
	drain(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, data + size };
	struct state s = { 0 };
	uint8_t cfg = next(&in);
	uint16_t start = next16(&in);
	uint8_t opts = next(&in);
	int ret;

	s.r0 = malloc(R0_SIZE);
	s.r1 = malloc(R1_SIZE);
	CHECK(s.r0 && s.r1);
	memset(s.r0, 0, R0_SIZE);
	memset(s.r1, 0, R1_SIZE);
	CHECK(gmem_add_region(&s.mem, R0_GPA, R0_SIZE, s.r0) == 0);
	CHECK(gmem_add_region(&s.mem, R1_GPA, R1_SIZE, s.r1) == 0);
	if (!r2) {
		r2 = mmap(NULL, R2_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			  0);
		CHECK(r2 != MAP_FAILED);
	}
	CHECK(gmem_add_region(&s.mem, R2_GPA, R2_SIZE, r2) == 0);

	s.size = 1u << (cfg & 7);
	place_rings(&s, cfg >> 5);
	ret = virtq_init(&s.vq, &s.mem, s.size, s.desc, s.avail, s.used, cfg & 0x08, cfg & 0x10);
	if (cfg >> 5 >= 6) {
		CHECK(ret == -EINVAL && s.vq.broken);
		CHECK(virtq_pop(&s.vq, &chain) == -VIRTQ_E_BROKEN);
		goto out;
	}
	CHECK(ret == 0);

	/* As if start chains had come and gone. */
	s.vq.last_avail_idx = s.vq.used_idx = start;
	s.avail_idx = s.notified_idx = start;
	put16(&s, s.avail + 2, start);
	put16(&s, s.used + 2, start);
	if (opts & 1)
		for (unsigned i = 0; i < s.size; i++) {
			struct virtq_desc d = { htole64(R0_GPA + 0x2000 + 32 * i), htole32(32),
						htole16(i % 2 ? VIRTQ_DESC_F_WRITE : 0), 0 };

			memcpy(guest(&s, s.desc + 16ULL * i, 16), &d, 16);
		}
	run(&s, &in);
out:
	free(s.r0);
	free(s.r1);
	return 0;
}

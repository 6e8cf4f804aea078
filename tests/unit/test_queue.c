/* Unit tests for the split virtqueue chain walker: hostile rings and chains first, then the happy paths. */
#include "test_util.h"

#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "devices/virtio/queue.h"
#include "vmm/memory.h"

/*
 * Guest memory shared by the tests, two exactly sized malloc'd regions (ASan
 * catches any access one past either) with a gap between them:
 *   A [0x10000, 0x20000)  rings at its start, buffers, indirect tables
 *   gap [0x20000, 0x30000)
 *   B [0x30000, 0x40000)  more buffers; the rings of the big queue
 */
#define A_GPA	  0x10000ULL
#define GAP_GPA	  0x20000ULL
#define B_GPA	  0x30000ULL
#define RSZ	  0x10000ULL
#define A_END	  (A_GPA + RSZ)
#define B_END	  (B_GPA + RSZ)
#define DESC_GPA  A_GPA
#define AVAIL_GPA (A_GPA + 0x1000)
#define USED_GPA  (A_GPA + 0x2000)
#define BUF_GPA	  (A_GPA + 0x4000) /* 16 KiB of buffers */
#define TABLE_GPA (A_GPA + 0x8000) /* 32 KiB for indirect tables */
#define QSIZE	  16

/* 2 GiB of address space (never touched) for the chains over 4 GiB. */
#define BIG_GPA 0x100000000ULL
#define BIG_LEN 0x80000000ULL

struct fixture {
	struct gmem mem;
	uint8_t *a, *b;
	void *big; /* mmap'd BIG_LEN bytes, or NULL */
	struct virtq vq;
	struct virtq_chain chain;
	uint64_t desc, avail, used;
	uint16_t size;
	uint16_t avail_idx; /* the driver's copy of avail->idx */
};

/* --- the test plays the driver --- */

static void *gpa_ptr(struct fixture *f, uint64_t gpa, size_t len)
{
	void *p = gmem_ptr(&f->mem, gpa, len);

	TEST_ASSERT(p, "test bug: [%#" PRIx64 ", +%zu) is not in guest RAM", gpa, len);
	return p;
}

static void put16(struct fixture *f, uint64_t gpa, uint16_t v)
{
	uint16_t le = htole16(v);

	memcpy(gpa_ptr(f, gpa, 2), &le, 2);
}

static uint16_t get16(struct fixture *f, uint64_t gpa)
{
	uint16_t le;

	memcpy(&le, gpa_ptr(f, gpa, 2), 2);
	return le16toh(le);
}

static uint32_t get32(struct fixture *f, uint64_t gpa)
{
	uint32_t le;

	memcpy(&le, gpa_ptr(f, gpa, 4), 4);
	return le32toh(le);
}

static void write_desc(struct fixture *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		       uint16_t flags, uint16_t next)
{
	struct virtq_desc d = {
		.addr = htole64(addr),
		.len = htole32(len),
		.flags = htole16(flags),
		.next = htole16(next),
	};

	memcpy(gpa_ptr(f, table + 16ULL * i, 16), &d, 16);
}

static void set_desc(struct fixture *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	write_desc(f, f->desc, i, addr, len, flags, next);
}

static void set_avail_idx(struct fixture *f, uint16_t idx)
{
	f->avail_idx = idx;
	put16(f, f->avail + 2, idx);
}

/* Puts head in the next avail ring entry and exposes it. */
static void make_avail(struct fixture *f, uint16_t head)
{
	put16(f, f->avail + 4 + 2ULL * (f->avail_idx % f->size), head);
	set_avail_idx(f, f->avail_idx + 1);
}

static uint64_t used_event_gpa(struct fixture *f)
{
	return f->avail + 4 + 2ULL * f->size;
}

static uint64_t avail_event_gpa(struct fixture *f)
{
	return f->used + 4 + 8ULL * f->size;
}

static void queue_setup_at(struct fixture *f, uint16_t size, uint64_t desc, uint64_t avail,
			   uint64_t used, bool indirect, bool event_idx)
{
	memset(gpa_ptr(f, desc, 16ULL * size), 0, 16ULL * size);
	memset(gpa_ptr(f, avail, 6 + 2ULL * size), 0, 6 + 2ULL * size);
	memset(gpa_ptr(f, used, 6 + 8ULL * size), 0, 6 + 8ULL * size);
	f->size = size;
	f->desc = desc;
	f->avail = avail;
	f->used = used;
	f->avail_idx = 0;
	TEST_ASSERT_EQ(virtq_init(&f->vq, &f->mem, size, desc, avail, used, indirect, event_idx),
		       0);
}

static void queue_setup(struct fixture *f, bool indirect, bool event_idx)
{
	queue_setup_at(f, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, indirect, event_idx);
}

/* Moves both sides' indices to idx, as if idx chains had come and gone. */
static void start_at(struct fixture *f, uint16_t idx)
{
	f->vq.last_avail_idx = idx;
	f->vq.used_idx = idx;
	set_avail_idx(f, idx);
	put16(f, f->used + 2, idx);
}

#define ASSERT_POP(f, expect)                                                        \
	do {                                                                         \
		int r_ = virtq_pop(&(f)->vq, &(f)->chain), e_ = (expect);            \
		TEST_ASSERT(r_ == e_, "virtq_pop() = %d (%s), expected %d (%s)", r_, \
			    r_ < 0 ? virtq_strerror(r_) : "-", e_,                   \
			    e_ < 0 ? virtq_strerror(e_) : "-");                      \
	} while (0)

#define ASSERT_IOV(f, i, gpa, len)                                                    \
	do {                                                                          \
		TEST_ASSERT_PTR_EQ((f)->chain.iov[i].iov_base, gpa_ptr(f, gpa, len)); \
		TEST_ASSERT_EQ((f)->chain.iov[i].iov_len, len);                       \
	} while (0)

/* A request-level rejection: head handed back, queue alive, nothing to use. */
static void assert_bad_chain(struct fixture *f, int err, uint16_t head)
{
	ASSERT_POP(f, -err);
	TEST_ASSERT(!virtq_error_is_ring(-err), "%s counts as a bad ring", virtq_strerror(-err));
	TEST_ASSERT(!f->vq.broken, "a bad chain broke the queue");
	TEST_ASSERT_EQ(f->chain.head, head);
	TEST_ASSERT_EQ(f->chain.out_num, 0);
	TEST_ASSERT_EQ(f->chain.in_num, 0);
	TEST_ASSERT_EQ(f->chain.out_len, 0);
	TEST_ASSERT_EQ(f->chain.in_len, 0);
}

/* A queue-level rejection: broken for good. */
static void assert_broken(struct fixture *f, int err)
{
	ASSERT_POP(f, -err);
	TEST_ASSERT(virtq_error_is_ring(-err), "%s is not a bad ring", virtq_strerror(-err));
	TEST_ASSERT(f->vq.broken, "queue not marked broken");
	TEST_ASSERT_EQ(f->chain.head, VIRTQ_NO_HEAD);
	ASSERT_POP(f, -VIRTQ_E_BROKEN);
	TEST_ASSERT_EQ(f->chain.head, VIRTQ_NO_HEAD);
	TEST_ASSERT_EQ(virtq_push(&f->vq, 0, 0), -EIO);
	TEST_ASSERT(!virtq_should_notify(&f->vq, f->vq.used_idx - 1), "notify on a broken queue");
}

/* Completes a bad chain as a device must, and checks the used element. */
static void complete_with_error(struct fixture *f)
{
	uint16_t slot = f->vq.used_idx % f->size;

	TEST_ASSERT_EQ(virtq_push(&f->vq, f->chain.head, 0), 0);
	TEST_ASSERT_EQ(get32(f, f->used + 4 + 8ULL * slot), f->chain.head);
	TEST_ASSERT_EQ(get32(f, f->used + 8 + 8ULL * slot), 0);
	TEST_ASSERT_EQ(get16(f, f->used + 2), f->vq.used_idx);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->a = malloc(RSZ);
	f->b = malloc(RSZ);
	if (!f->a || !f->b)
		return -1;
	memset(f->a, 0x5a, RSZ);
	memset(f->b, 0xa5, RSZ);
	if (gmem_add_region(&f->mem, A_GPA, RSZ, f->a) ||
	    gmem_add_region(&f->mem, B_GPA, RSZ, f->b))
		return -1;
	*state = f;
	queue_setup(f, true, false);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->big)
		munmap(f->big, BIG_LEN);
	free(f->a);
	free(f->b);
	free(f);
	return 0;
}

/* ---------------------------------------------------------------- init ---- */

static void test_init_rejects_bad_size(void **state)
{
	struct fixture *f = *state;
	static const uint16_t bad[] = { 0, 3, 24, 1000, 32767, 32769, 49152, 65535 };

	for (unsigned i = 0; i < ARRAY_LEN(bad); i++) {
		TEST_ASSERT_EQ(virtq_init(&f->vq, &f->mem, bad[i], DESC_GPA, AVAIL_GPA, USED_GPA,
					  true, true),
			       -EINVAL);
		TEST_ASSERT(f->vq.broken, "size %u: a rejected queue is not broken", bad[i]);
		ASSERT_POP(f, -VIRTQ_E_BROKEN);
	}
}

static void test_init_rejects_misaligned(void **state)
{
	struct fixture *f = *state;

	/* virtio 1.2 §2.7: alignment 16, 2, 4 */
	TEST_ASSERT_EQ(virtq_init(&f->vq, &f->mem, QSIZE, DESC_GPA + 8, AVAIL_GPA, USED_GPA, 0, 0),
		       -EINVAL);
	TEST_ASSERT_EQ(virtq_init(&f->vq, &f->mem, QSIZE, DESC_GPA, AVAIL_GPA + 1, USED_GPA, 0, 0),
		       -EINVAL);
	TEST_ASSERT_EQ(virtq_init(&f->vq, &f->mem, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA + 2, 0, 0),
		       -EINVAL);
	/* The minimum alignments themselves are fine. */
	TEST_ASSERT_EQ(virtq_init(&f->vq, &f->mem, QSIZE, DESC_GPA + 16, AVAIL_GPA + 2,
				  USED_GPA + 4, 0, 0),
		       0);
}

static void test_init_rejects_misaligned_host_memory(void **state)
{
	struct fixture *f = *state;
	uint64_t gpa = 0x50000;

	/* A region whose host address is odd although its guest address is
	 * aligned: the ring fields could not be accessed atomically. */
	TEST_ASSERT_EQ(gmem_add_region(&f->mem, gpa, 0x1000, f->b + 1), 0);
	TEST_ASSERT_EQ(virtq_init(&f->vq, &f->mem, QSIZE, DESC_GPA, gpa, USED_GPA, 0, 0), -EINVAL);
	TEST_ASSERT_EQ(virtq_init(&f->vq, &f->mem, QSIZE, DESC_GPA, AVAIL_GPA, gpa, 0, 0), -EINVAL);
	/* The descriptor table is only ever copied: any host alignment does. */
	TEST_ASSERT_EQ(virtq_init(&f->vq, &f->mem, QSIZE, gpa, AVAIL_GPA, USED_GPA, 0, 0), 0);
}

static void test_init_rejects_areas_outside_ram(void **state)
{
	struct fixture *f = *state;
	const uint64_t avail_len = 6 + 2 * QSIZE, used_len = 6 + 8 * QSIZE;

	TEST_ASSERT_EQ(virtq_init(&f->vq, &f->mem, QSIZE, GAP_GPA, AVAIL_GPA, USED_GPA, 0, 0),
		       -EINVAL);
	TEST_ASSERT_EQ(virtq_init(&f->vq, &f->mem, QSIZE, A_END - 16 * QSIZE + 16, AVAIL_GPA,
				  USED_GPA, 0, 0),
		       -EINVAL);
	TEST_ASSERT_EQ(virtq_init(&f->vq, &f->mem, QSIZE, DESC_GPA, AVAIL_GPA, 0, 0, 0), -EINVAL);
	TEST_ASSERT_EQ(virtq_init(&f->vq, &f->mem, QSIZE, DESC_GPA, UINT64_MAX - 1, USED_GPA, 0, 0),
		       -EINVAL);
	/* Only the trailing used_event / avail_event field sticks out. */
	TEST_ASSERT_EQ(
		virtq_init(&f->vq, &f->mem, QSIZE, DESC_GPA, A_END - avail_len + 2, USED_GPA, 0, 0),
		-EINVAL);
	TEST_ASSERT_EQ(
		virtq_init(&f->vq, &f->mem, QSIZE, DESC_GPA, AVAIL_GPA, A_END - used_len + 2, 0, 0),
		-EINVAL);
	/* A ring across the boundary between two regions is refused too. */
	TEST_ASSERT_EQ(virtq_init(&f->vq, &f->mem, QSIZE, B_GPA - 16, AVAIL_GPA, USED_GPA, 0, 0),
		       -EINVAL);
	/* Exactly at the end of a region is inside (the used ring, 2 mod 4
	 * bytes long, cannot end exactly at an aligned end). */
	TEST_ASSERT_EQ(virtq_init(&f->vq, &f->mem, QSIZE, B_END - 16 * QSIZE, A_END - avail_len,
				  USED_GPA, 0, 0),
		       0);
	TEST_ASSERT_EQ(
		virtq_init(&f->vq, &f->mem, QSIZE, DESC_GPA, AVAIL_GPA, B_END - used_len - 2, 0, 0),
		0);
}

static void test_init_accepts_max_size(void **state)
{
	struct fixture *f = *state;
	const uint64_t gpa = 0x100000, len = 0x100000;
	void *ram = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	TEST_ASSERT(ram != MAP_FAILED, "mmap");
	TEST_ASSERT_EQ(gmem_add_region(&f->mem, gpa, len, ram), 0);
	/* 512 KiB of descriptors, then 64 KiB + 6 and 256 KiB + 6 of rings. */
	queue_setup_at(f, VIRTQ_MAX_SIZE, gpa, gpa + 0x80000, gpa + 0x92000, false, true);
	set_desc(f, VIRTQ_MAX_SIZE - 1, BUF_GPA, 1, 0, 0);
	make_avail(f, VIRTQ_MAX_SIZE - 1);
	ASSERT_POP(f, 1);
	TEST_ASSERT_EQ(f->chain.head, VIRTQ_MAX_SIZE - 1);
	TEST_ASSERT_EQ(virtq_push(&f->vq, f->chain.head, 0), 0);
	munmap(ram, len);
}

/* ---------------------------------------------------------- bad rings ---- */

static void test_pop_head_out_of_range_breaks_ring(void **state)
{
	struct fixture *f = *state;

	make_avail(f, QSIZE);
	assert_broken(f, VIRTQ_E_RING_HEAD);

	queue_setup(f, true, false);
	make_avail(f, 0xffff);
	assert_broken(f, VIRTQ_E_RING_HEAD);
}

static void test_pop_avail_idx_jump_breaks_ring(void **state)
{
	struct fixture *f = *state;

	set_avail_idx(f, QSIZE + 1);
	assert_broken(f, VIRTQ_E_RING_AVAIL_IDX);

	queue_setup(f, true, false);
	start_at(f, 0xfff0);
	set_avail_idx(f, (uint16_t)(0xfff0 + QSIZE + 1)); /* across the 16-bit wrap */
	assert_broken(f, VIRTQ_E_RING_AVAIL_IDX);

	/* A full ring, exactly size entries, is fine. */
	queue_setup(f, true, false);
	set_desc(f, 0, BUF_GPA, 1, 0, 0);
	set_avail_idx(f, QSIZE);
	for (unsigned i = 0; i < QSIZE; i++)
		ASSERT_POP(f, 1);
	ASSERT_POP(f, 0);
}

static void test_pop_avail_idx_backwards_breaks_ring(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 0, BUF_GPA, 1, 0, 0);
	make_avail(f, 0);
	make_avail(f, 0);
	ASSERT_POP(f, 1);
	ASSERT_POP(f, 1);
	/* "A driver MUST NOT decrement the available idx" (§2.7.6.1). */
	set_avail_idx(f, 1);
	assert_broken(f, VIRTQ_E_RING_AVAIL_IDX);
}

static void test_pop_more_than_size_outstanding_breaks_ring(void **state)
{
	struct fixture *f = *state;

	/* size chains popped and not yet pushed hold every descriptor: one
	 * more avail entry means the driver reused one still in flight. */
	set_desc(f, 0, BUF_GPA, 1, 0, 0);
	for (unsigned i = 0; i < QSIZE; i++) {
		make_avail(f, 0);
		ASSERT_POP(f, 1);
	}
	make_avail(f, 0);
	assert_broken(f, VIRTQ_E_RING_AVAIL_IDX);

	/* After a push there is room for exactly one more. */
	queue_setup(f, true, false);
	set_desc(f, 0, BUF_GPA, 1, 0, 0);
	for (unsigned i = 0; i < QSIZE; i++) {
		make_avail(f, 0);
		ASSERT_POP(f, 1);
	}
	TEST_ASSERT_EQ(virtq_push(&f->vq, 0, 0), 0);
	make_avail(f, 0);
	ASSERT_POP(f, 1);
	make_avail(f, 0);
	assert_broken(f, VIRTQ_E_RING_AVAIL_IDX);
}

static void test_pop_ring_no_longer_in_ram_breaks_ring(void **state)
{
	struct fixture *f = *state;

	make_avail(f, 0);
	f->mem.nregions = 0; /* the memory map changed under the queue */
	assert_broken(f, VIRTQ_E_RING_RAM);
	f->mem.nregions = 2;
}

/* --------------------------------------------------------- bad chains ---- */

static void test_pop_next_out_of_range(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 3, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, QSIZE);
	make_avail(f, 3);
	assert_bad_chain(f, VIRTQ_E_NEXT, 3);
	TEST_ASSERT_EQ(f->vq.last_avail_idx, 1); /* the avail entry was consumed */
	complete_with_error(f);

	set_desc(f, 2, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0xffff);
	make_avail(f, 2);
	assert_bad_chain(f, VIRTQ_E_NEXT, 2);
	complete_with_error(f);

	/* The queue goes on. */
	set_desc(f, 5, BUF_GPA, 8, 0, 0);
	make_avail(f, 5);
	ASSERT_POP(f, 1);
	TEST_ASSERT_EQ(f->chain.head, 5);
}

static void test_pop_loop(void **state)
{
	struct fixture *f = *state;

	/* 0 -> 1 -> 0 -> ... */
	set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, BUF_GPA + 8, 8, VIRTQ_DESC_F_NEXT, 0);
	make_avail(f, 0);
	assert_bad_chain(f, VIRTQ_E_LOOP, 0);
	complete_with_error(f);

	/* A zero-length descriptor pointing at itself uses no iovec either. */
	set_desc(f, 7, 0, 0, VIRTQ_DESC_F_NEXT, 7);
	make_avail(f, 7);
	assert_bad_chain(f, VIRTQ_E_LOOP, 7);
	complete_with_error(f);

	/* The longest chain without a loop: all 16 descriptors. */
	for (unsigned i = 0; i < QSIZE; i++)
		set_desc(f, i, BUF_GPA + i, 1, i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	make_avail(f, 0);
	ASSERT_POP(f, 1);
	TEST_ASSERT_EQ(f->chain.out_num, QSIZE);
}

static void test_pop_writable_then_readable(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, BUF_GPA + 8, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, 2, BUF_GPA + 16, 8, VIRTQ_DESC_F_NEXT, 3);
	set_desc(f, 3, BUF_GPA + 24, 8, VIRTQ_DESC_F_WRITE, 0);
	make_avail(f, 0);
	assert_bad_chain(f, VIRTQ_E_ORDER, 0);
	complete_with_error(f);

	/* Even an empty readable descriptor may not follow a writable one. */
	set_desc(f, 2, 0, 0, VIRTQ_DESC_F_NEXT, 3);
	make_avail(f, 0);
	assert_bad_chain(f, VIRTQ_E_ORDER, 0);
}

static void test_pop_buffer_outside_ram(void **state)
{
	struct fixture *f = *state;
	static const struct {
		uint64_t addr;
		uint32_t len;
	} bad[] = {
		{ A_END - 8, 16 },	       /* straddles the end of A into the gap */
		{ GAP_GPA + 0x100, 1 },	       /* in the gap */
		{ B_GPA - 1, 2 },	       /* from the gap into B */
		{ B_END - 1, 2 },	       /* past the end of RAM */
		{ A_GPA, 2 * RSZ },	       /* longer than its region */
		{ 0, 1 },		       /* below all RAM */
		{ UINT64_MAX - 7, 16 },	       /* addr + len wraps */
		{ UINT64_MAX, 0xffffffff },    /* addr + len wraps far */
		{ B_GPA + 0x100, 0xffffffff }, /* the longest len */
	};

	for (unsigned i = 0; i < ARRAY_LEN(bad); i++) {
		/* A good readable buffer, then the bad one (as a writable). */
		set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
		set_desc(f, 1, bad[i].addr, bad[i].len, VIRTQ_DESC_F_WRITE, 0);
		make_avail(f, 0);
		assert_bad_chain(f, VIRTQ_E_BUFFER_RAM, 0);
		complete_with_error(f);
	}
	/* The last byte of each region is a good buffer. */
	set_desc(f, 0, A_END - 1, 1, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, B_END - 1, 1, VIRTQ_DESC_F_WRITE, 0);
	make_avail(f, 0);
	ASSERT_POP(f, 1);
	ASSERT_IOV(f, 0, A_END - 1, 1);
	ASSERT_IOV(f, 1, B_END - 1, 1);
}

static void test_pop_total_length_over_4g(void **state)
{
	struct fixture *f = *state;

	f->big = mmap(NULL, BIG_LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	TEST_ASSERT(f->big != MAP_FAILED, "mmap of %llu bytes of address space", BIG_LEN);
	TEST_ASSERT_EQ(gmem_add_region(&f->mem, BIG_GPA, BIG_LEN, f->big), 0);

	/* 2 GiB + 2 GiB = 2^32: one byte too many. */
	set_desc(f, 0, BIG_GPA, 0x80000000, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, BIG_GPA, 0x80000000, 0, 0);
	make_avail(f, 0);
	assert_bad_chain(f, VIRTQ_E_TOTAL_LEN, 0);
	complete_with_error(f);

	/* Readable and writable bytes count together. */
	set_desc(f, 1, BIG_GPA, 0x80000000, VIRTQ_DESC_F_WRITE, 0);
	make_avail(f, 0);
	assert_bad_chain(f, VIRTQ_E_TOTAL_LEN, 0);
	complete_with_error(f);

	/* 2^32 - 1 is the most. */
	set_desc(f, 1, BIG_GPA + 1, 0x7fffffff, VIRTQ_DESC_F_WRITE, 0);
	make_avail(f, 0);
	ASSERT_POP(f, 1);
	TEST_ASSERT_EQ(f->chain.out_len, 0x80000000);
	TEST_ASSERT_EQ(f->chain.in_len, 0x7fffffff);
}

static void test_pop_indirect_not_negotiated(void **state)
{
	struct fixture *f = *state;

	queue_setup(f, false, false);
	write_desc(f, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	set_desc(f, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	make_avail(f, 0);
	assert_bad_chain(f, VIRTQ_E_INDIRECT_NOT_NEGOTIATED, 0);
}

static void test_pop_indirect_nested(void **state)
{
	struct fixture *f = *state;

	write_desc(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	write_desc(f, TABLE_GPA, 1, TABLE_GPA + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
	write_desc(f, TABLE_GPA + 0x100, 0, BUF_GPA, 8, 0, 0);
	set_desc(f, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	make_avail(f, 0);
	assert_bad_chain(f, VIRTQ_E_INDIRECT_NESTED, 0);
}

static void test_pop_indirect_with_next(void **state)
{
	struct fixture *f = *state;

	write_desc(f, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	set_desc(f, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, BUF_GPA, 8, 0, 0);
	make_avail(f, 0);
	assert_bad_chain(f, VIRTQ_E_INDIRECT_NEXT, 0);
}

static void test_pop_indirect_bad_table(void **state)
{
	struct fixture *f = *state;
	static const uint32_t bad_len[] = { 0,	1,  8,		15,
					    17, 24, 0xfffffff0, 16 * (VIRTQ_MAX_IOV + 1) };
	static const struct {
		uint64_t addr;
		uint32_t len;
	} bad_place[] = {
		{ GAP_GPA, 16 },
		{ A_END - 16, 32 },
		{ UINT64_MAX - 15, 32 },
		{ 0, 16 },
	};

	for (unsigned i = 0; i < QSIZE; i++)
		write_desc(f, TABLE_GPA, i, BUF_GPA, 8, 0, 0);
	for (unsigned i = 0; i < ARRAY_LEN(bad_len); i++) {
		set_desc(f, 0, TABLE_GPA, bad_len[i], VIRTQ_DESC_F_INDIRECT, 0);
		make_avail(f, 0);
		assert_bad_chain(f, VIRTQ_E_INDIRECT_LEN, 0);
		complete_with_error(f);
	}
	for (unsigned i = 0; i < ARRAY_LEN(bad_place); i++) {
		set_desc(f, 0, bad_place[i].addr, bad_place[i].len, VIRTQ_DESC_F_INDIRECT, 0);
		make_avail(f, 0);
		assert_bad_chain(f, VIRTQ_E_INDIRECT_RAM, 0);
		complete_with_error(f);
	}
}

static void test_pop_indirect_bad_next(void **state)
{
	struct fixture *f = *state;

	/* next indexes the table, and must stay below its length (4). */
	write_desc(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 4);
	set_desc(f, 0, TABLE_GPA, 4 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	make_avail(f, 0);
	assert_bad_chain(f, VIRTQ_E_NEXT, 0);
	complete_with_error(f);

	/* 0 -> 1 -> 0: a loop inside the table. */
	write_desc(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	write_desc(f, TABLE_GPA, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	make_avail(f, 0);
	assert_bad_chain(f, VIRTQ_E_LOOP, 0);
	complete_with_error(f);

	/* A buffer outside RAM inside the table. */
	write_desc(f, TABLE_GPA, 1, GAP_GPA, 8, 0, 0);
	make_avail(f, 0);
	assert_bad_chain(f, VIRTQ_E_BUFFER_RAM, 0);
	complete_with_error(f);

	/* Order applies across the direct prefix and the table. */
	set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	write_desc(f, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	make_avail(f, 0);
	assert_bad_chain(f, VIRTQ_E_ORDER, 0);
}

static void test_pop_too_many_iovecs_via_indirect(void **state)
{
	struct fixture *f = *state;

	for (unsigned i = 0; i < VIRTQ_MAX_IOV; i++)
		write_desc(f, TABLE_GPA, i, BUF_GPA + i, 1,
			   i + 1 < VIRTQ_MAX_IOV ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	/* A full table is fine alone ... */
	set_desc(f, 0, TABLE_GPA, 16 * VIRTQ_MAX_IOV, VIRTQ_DESC_F_INDIRECT, 0);
	make_avail(f, 0);
	ASSERT_POP(f, 1);
	TEST_ASSERT_EQ(f->chain.out_num, VIRTQ_MAX_IOV);
	TEST_ASSERT_EQ(f->chain.out_len, VIRTQ_MAX_IOV);
	ASSERT_IOV(f, VIRTQ_MAX_IOV - 1, BUF_GPA + VIRTQ_MAX_IOV - 1, 1);
	TEST_ASSERT_EQ(virtq_push(&f->vq, 0, 0), 0);

	/* ... but not after one direct buffer. */
	set_desc(f, 1, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 0);
	make_avail(f, 1);
	assert_bad_chain(f, VIRTQ_E_TOO_MANY_IOV, 1);
	complete_with_error(f);

	/* An empty direct descriptor takes no iovec. */
	set_desc(f, 1, BUF_GPA, 0, VIRTQ_DESC_F_NEXT, 0);
	make_avail(f, 1);
	ASSERT_POP(f, 1);
	TEST_ASSERT_EQ(f->chain.out_num, VIRTQ_MAX_IOV);
}

static void test_pop_too_many_iovecs_direct(void **state)
{
	struct fixture *f = *state;
	const uint16_t size = 2048;

	/* 32 KiB of descriptors, 4 KiB + 6 of avail, 16 KiB + 6 of used in B. */
	queue_setup_at(f, size, B_GPA, B_GPA + 0x8000, B_GPA + 0xa000, false, false);
	for (unsigned i = 0; i < size; i++)
		set_desc(f, i, BUF_GPA + i, 1, i + 1 < size ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	set_desc(f, VIRTQ_MAX_IOV - 1, BUF_GPA, 1, 0, 0);
	make_avail(f, 0);
	ASSERT_POP(f, 1);
	TEST_ASSERT_EQ(f->chain.out_num, VIRTQ_MAX_IOV);

	set_desc(f, VIRTQ_MAX_IOV - 1, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, VIRTQ_MAX_IOV);
	set_desc(f, VIRTQ_MAX_IOV, BUF_GPA, 1, 0, 0);
	make_avail(f, 0);
	assert_bad_chain(f, VIRTQ_E_TOO_MANY_IOV, 0);

	/* Looping through non-empty buffers runs out of iovecs before the TTL. */
	set_desc(f, size - 1, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 0);
	set_desc(f, VIRTQ_MAX_IOV, BUF_GPA, 0, VIRTQ_DESC_F_NEXT, VIRTQ_MAX_IOV + 1);
	make_avail(f, 0);
	assert_bad_chain(f, VIRTQ_E_TOO_MANY_IOV, 0);
}

/* -------------------------------------------------------- good chains ---- */

static void test_pop_empty(void **state)
{
	struct fixture *f = *state;

	ASSERT_POP(f, 0);
	TEST_ASSERT_EQ(f->chain.head, VIRTQ_NO_HEAD);
	TEST_ASSERT_EQ(f->vq.last_avail_idx, 0);
	TEST_ASSERT(!f->vq.broken, "empty queue broken");
}

static void test_pop_simple_chain(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 9, BUF_GPA + 0x40, 100, 0, 0);
	make_avail(f, 9);
	ASSERT_POP(f, 1);
	TEST_ASSERT_EQ(f->chain.head, 9);
	TEST_ASSERT_EQ(f->chain.out_num, 1);
	TEST_ASSERT_EQ(f->chain.in_num, 0);
	TEST_ASSERT_EQ(f->chain.out_len, 100);
	TEST_ASSERT_EQ(f->chain.in_len, 0);
	ASSERT_IOV(f, 0, BUF_GPA + 0x40, 100);
	TEST_ASSERT_EQ(f->vq.last_avail_idx, 1);
	ASSERT_POP(f, 0);
}

static void test_pop_readable_then_writable(void **state)
{
	struct fixture *f = *state;
	struct iovec *in;

	/* A virtio-blk-like request: header, data in B, a zero-length
	 * descriptor anywhere, then data to fill and a status byte. */
	set_desc(f, 4, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, 2, B_GPA + 0x200, 512, VIRTQ_DESC_F_NEXT, 11);
	set_desc(f, 11, UINT64_MAX, 0, VIRTQ_DESC_F_NEXT, 6);
	set_desc(f, 6, B_GPA + 0x1000, 4096, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 15);
	set_desc(f, 15, BUF_GPA + 16, 1, VIRTQ_DESC_F_WRITE, 0xffff /* ignored: no NEXT */);
	make_avail(f, 4);
	ASSERT_POP(f, 1);
	TEST_ASSERT_EQ(f->chain.head, 4);
	TEST_ASSERT_EQ(f->chain.out_num, 2);
	TEST_ASSERT_EQ(f->chain.in_num, 2);
	TEST_ASSERT_EQ(f->chain.out_len, 16 + 512);
	TEST_ASSERT_EQ(f->chain.in_len, 4096 + 1);
	ASSERT_IOV(f, 0, BUF_GPA, 16);
	ASSERT_IOV(f, 1, B_GPA + 0x200, 512);
	ASSERT_IOV(f, 2, B_GPA + 0x1000, 4096);
	ASSERT_IOV(f, 3, BUF_GPA + 16, 1);
	in = virtq_chain_in(&f->chain);
	TEST_ASSERT_PTR_EQ(in, &f->chain.iov[2]);
	TEST_ASSERT_PTR_EQ(virtq_chain_out(&f->chain), &f->chain.iov[0]);

	/* Only writable, only readable: both fine. */
	set_desc(f, 0, BUF_GPA, 4, VIRTQ_DESC_F_WRITE, 0);
	make_avail(f, 0);
	ASSERT_POP(f, 1);
	TEST_ASSERT_EQ(f->chain.out_num, 0);
	TEST_ASSERT_EQ(f->chain.in_num, 1);
	TEST_ASSERT_PTR_EQ(virtq_chain_in(&f->chain), &f->chain.iov[0]);
}

static void test_pop_indirect_chain(void **state)
{
	struct fixture *f = *state;

	/* A direct readable prefix, then an indirect descriptor (whose WRITE
	 * flag the device must ignore, §2.7.5.3.2) with a mixed table in
	 * which entries chain out of order. */
	set_desc(f, 1, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 8);
	set_desc(f, 8, TABLE_GPA, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	write_desc(f, TABLE_GPA, 0, B_GPA, 64, VIRTQ_DESC_F_NEXT, 2);
	write_desc(f, TABLE_GPA, 2, B_GPA + 64, 32, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	write_desc(f, TABLE_GPA, 1, BUF_GPA + 16, 1, VIRTQ_DESC_F_WRITE, 0);
	make_avail(f, 1);
	ASSERT_POP(f, 1);
	TEST_ASSERT_EQ(f->chain.head, 1);
	TEST_ASSERT_EQ(f->chain.out_num, 2);
	TEST_ASSERT_EQ(f->chain.in_num, 2);
	TEST_ASSERT_EQ(f->chain.out_len, 80);
	TEST_ASSERT_EQ(f->chain.in_len, 33);
	ASSERT_IOV(f, 0, BUF_GPA, 16);
	ASSERT_IOV(f, 1, B_GPA, 64);
	ASSERT_IOV(f, 2, B_GPA + 64, 32);
	ASSERT_IOV(f, 3, BUF_GPA + 16, 1);

	/* The table may lie in another region than the ring. */
	write_desc(f, B_GPA + 0x800, 0, A_GPA + 0x3000, 7, VIRTQ_DESC_F_WRITE, 0);
	set_desc(f, 3, B_GPA + 0x800, 16, VIRTQ_DESC_F_INDIRECT, 0);
	make_avail(f, 3);
	ASSERT_POP(f, 1);
	TEST_ASSERT_EQ(f->chain.in_num, 1);
	ASSERT_IOV(f, 0, A_GPA + 0x3000, 7);
}

static void test_pop_zero_length_needs_no_ram(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 0, GAP_GPA, 0, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, 2, UINT64_MAX, 0, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
	set_desc(f, 3, A_END, 0, VIRTQ_DESC_F_WRITE, 0);
	make_avail(f, 0);
	ASSERT_POP(f, 1);
	TEST_ASSERT_EQ(f->chain.out_num, 1);
	TEST_ASSERT_EQ(f->chain.in_num, 0);
	ASSERT_IOV(f, 0, BUF_GPA, 4);

	/* A chain of nothing at all. */
	set_desc(f, 5, 0, 0, 0, 0);
	make_avail(f, 5);
	ASSERT_POP(f, 1);
	TEST_ASSERT_EQ(f->chain.head, 5);
	TEST_ASSERT_EQ(f->chain.out_num + f->chain.in_num, 0);
}

static void test_push_publishes_used_element(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 3, BUF_GPA, 8, 0, 0);
	set_desc(f, 12, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	make_avail(f, 3);
	make_avail(f, 12);
	ASSERT_POP(f, 1);
	ASSERT_POP(f, 1);

	TEST_ASSERT_EQ(virtq_push(&f->vq, QSIZE, 0), -EINVAL);
	TEST_ASSERT_EQ(get16(f, f->used + 2), 0);

	/* Out of order, as a device may complete them. */
	TEST_ASSERT_EQ(virtq_push(&f->vq, 12, 8), 0);
	TEST_ASSERT_EQ(get32(f, USED_GPA + 4), 12);
	TEST_ASSERT_EQ(get32(f, USED_GPA + 8), 8);
	TEST_ASSERT_EQ(get16(f, USED_GPA + 2), 1);
	TEST_ASSERT_EQ(virtq_push(&f->vq, 3, 0xffffffff), 0);
	TEST_ASSERT_EQ(get32(f, USED_GPA + 12), 3);
	TEST_ASSERT_EQ(get32(f, USED_GPA + 16), 0xffffffff);
	TEST_ASSERT_EQ(get16(f, USED_GPA + 2), 2);
	TEST_ASSERT_EQ(f->vq.used_idx, 2);

	/* Nothing in flight: a third push is the caller's bug. */
	TEST_ASSERT_EQ(virtq_push(&f->vq, 3, 0), -EINVAL);
	TEST_ASSERT_EQ(get16(f, USED_GPA + 2), 2);
	TEST_ASSERT(!f->vq.broken, "a refused push broke the queue");
}

static void test_many_pops_wrap_indices(void **state)
{
	struct fixture *f = *state;
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	uint16_t heads[QSIZE];
	unsigned total = 0;

	for (unsigned i = 0; i < QSIZE; i++)
		set_desc(f, i, BUF_GPA + 64 * i, i + 1, i % 2 ? VIRTQ_DESC_F_WRITE : 0, 0);
	/* About 170000 chains: the 16-bit indices wrap twice and more. */
	for (unsigned round = 0; round < 20000; round++) {
		unsigned batch = 1 + test_rand(&rng) % QSIZE;

		for (unsigned k = 0; k < batch; k++) {
			heads[k] = test_rand(&rng) % QSIZE;
			make_avail(f, heads[k]);
		}
		for (unsigned k = 0; k < batch; k++) {
			ASSERT_POP(f, 1);
			TEST_ASSERT_EQ(f->chain.head, heads[k]);
			TEST_ASSERT_EQ(f->chain.out_len + f->chain.in_len, heads[k] + 1u);
		}
		ASSERT_POP(f, 0);
		for (unsigned k = 0; k < batch; k++) {
			uint16_t slot = f->vq.used_idx % QSIZE;

			TEST_ASSERT_EQ(virtq_push(&f->vq, heads[k], heads[k]), 0);
			TEST_ASSERT_EQ(get32(f, USED_GPA + 4 + 8 * slot), heads[k]);
			TEST_ASSERT_EQ(get32(f, USED_GPA + 8 + 8 * slot), heads[k]);
		}
		total += batch;
		TEST_ASSERT_EQ(f->vq.last_avail_idx, (uint16_t)total);
		TEST_ASSERT_EQ(f->vq.used_idx, (uint16_t)total);
		TEST_ASSERT_EQ(get16(f, USED_GPA + 2), (uint16_t)total);
	}
	TEST_ASSERT(total > 2 * 65536, "only %u chains", total);
}

/* ------------------------------------------------------- notification ---- */

/* Makes n single-buffer chains available, pops and pushes them. */
static void cycle(struct fixture *f, unsigned n)
{
	set_desc(f, 0, BUF_GPA, 1, 0, 0);
	for (unsigned i = 0; i < n; i++) {
		make_avail(f, 0);
		ASSERT_POP(f, 1);
		TEST_ASSERT_EQ(virtq_push(&f->vq, 0, 0), 0);
	}
}

/* From used idx 'from', pushes n chains with used_event set to 'event'. */
static bool notify_after(struct fixture *f, uint16_t from, unsigned n, uint16_t event)
{
	queue_setup(f, true, true);
	start_at(f, from);
	put16(f, used_event_gpa(f), event);
	cycle(f, n);
	return virtq_should_notify(&f->vq, from);
}

static void test_notify_event_idx(void **state)
{
	struct fixture *f = *state;

	/* §2.7.7: notify when the push that wrote ring entry used_event is ours. */
	TEST_ASSERT(notify_after(f, 0, 1, 0), "event 0, push 0");
	TEST_ASSERT(!notify_after(f, 0, 1, 1), "event 1, push 0");
	TEST_ASSERT(notify_after(f, 0, 5, 3), "event 3, pushes 0-4");
	TEST_ASSERT(notify_after(f, 0, 5, 4), "event 4, pushes 0-4");
	TEST_ASSERT(!notify_after(f, 0, 5, 5), "event 5, pushes 0-4");
	TEST_ASSERT(!notify_after(f, 10, 5, 9), "event 9, pushes 10-14");
	TEST_ASSERT(!notify_after(f, 10, 5, 0x8000), "event far ahead");
	/* Across the 16-bit wrap. */
	TEST_ASSERT(notify_after(f, 0xffff, 1, 0xffff), "event 65535, push 65535");
	TEST_ASSERT(!notify_after(f, 0xffff, 1, 0), "event 0, push 65535");
	TEST_ASSERT(notify_after(f, 0xfffe, 3, 0), "event 0, pushes 65534-0");
	TEST_ASSERT(notify_after(f, 0xfffe, 3, 0xfffe), "event 65534, pushes 65534-0");
	TEST_ASSERT(!notify_after(f, 0xfffe, 3, 1), "event 1, pushes 65534-0");
	TEST_ASSERT(!notify_after(f, 0xfffe, 3, 0xfffd), "event 65533, pushes 65534-0");

	/* Nothing pushed, nothing to say. */
	queue_setup(f, true, true);
	TEST_ASSERT(!virtq_should_notify(&f->vq, 0), "notify without a push");

	/* With EVENT_IDX the flags are ignored (§2.7.7: "MUST ignore the lower bit"). */
	queue_setup(f, true, true);
	put16(f, f->avail, VIRTQ_AVAIL_F_NO_INTERRUPT);
	cycle(f, 1);
	TEST_ASSERT(virtq_should_notify(&f->vq, 0), "NO_INTERRUPT suppressed an event idx notify");

	/* One notification per used_event step, as a driver sees it. */
	queue_setup(f, true, true);
	put16(f, used_event_gpa(f), 2);
	cycle(f, 2);
	TEST_ASSERT(!virtq_should_notify(&f->vq, 0), "before used_event");
	cycle(f, 1);
	TEST_ASSERT(virtq_should_notify(&f->vq, 2), "at used_event");
	cycle(f, 1);
	TEST_ASSERT(!virtq_should_notify(&f->vq, 3), "past used_event");
}

static void test_notify_flags(void **state)
{
	struct fixture *f = *state;

	cycle(f, 1);
	TEST_ASSERT(virtq_should_notify(&f->vq, 0), "flags 0 MUST notify");
	put16(f, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
	cycle(f, 1);
	TEST_ASSERT(!virtq_should_notify(&f->vq, 1), "NO_INTERRUPT SHOULD NOT notify");
	/* used_event means nothing without EVENT_IDX. */
	put16(f, AVAIL_GPA, 0);
	put16(f, used_event_gpa(f), 0x1234);
	cycle(f, 1);
	TEST_ASSERT(virtq_should_notify(&f->vq, 2), "used_event honoured without EVENT_IDX");
	TEST_ASSERT(!virtq_should_notify(&f->vq, 3), "notify without a push");
}

static void test_pop_sets_avail_event(void **state)
{
	struct fixture *f = *state;

	queue_setup(f, true, true);
	put16(f, avail_event_gpa(f), 0xaaaa);
	set_desc(f, 0, BUF_GPA, 1, 0, 0);
	make_avail(f, 0);
	make_avail(f, 0);
	make_avail(f, 0);
	ASSERT_POP(f, 1);
	/* Busy: the driver need not notify while the device still pops. */
	TEST_ASSERT_EQ(get16(f, avail_event_gpa(f)), 0xaaaa);
	ASSERT_POP(f, 1);
	ASSERT_POP(f, 1);
	/* Empty: notify me when you write ring entry 3. */
	ASSERT_POP(f, 0);
	TEST_ASSERT_EQ(get16(f, avail_event_gpa(f)), 3);

	start_at(f, 0xffff);
	ASSERT_POP(f, 0);
	TEST_ASSERT_EQ(get16(f, avail_event_gpa(f)), 0xffff);
	make_avail(f, 0);
	ASSERT_POP(f, 1);
	ASSERT_POP(f, 0);
	TEST_ASSERT_EQ(get16(f, avail_event_gpa(f)), 0);

	/* Without EVENT_IDX the field is not the device's to write. */
	queue_setup(f, true, false);
	put16(f, avail_event_gpa(f), 0xaaaa);
	ASSERT_POP(f, 0);
	TEST_ASSERT_EQ(get16(f, avail_event_gpa(f)), 0xaaaa);
}

static void test_strerror(void **state)
{
	(void)state;
	for (int e = VIRTQ_E_BROKEN; e <= VIRTQ_E_TOO_MANY_IOV; e++) {
		if (e > VIRTQ_E_RING_RAM && e < VIRTQ_E_CHAIN_FIRST)
			continue;
		TEST_ASSERT(strcmp(virtq_strerror(-e), "unknown virtqueue error") != 0,
			    "no text for %d", e);
		TEST_ASSERT(virtq_error_is_ring(-e) == (e < VIRTQ_E_CHAIN_FIRST),
			    "wrong class for %d", e);
	}
	TEST_ASSERT(!virtq_error_is_ring(0) && !virtq_error_is_ring(1), "0 and 1 are no errors");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* hostile first */
		T(test_init_rejects_bad_size),
		T(test_init_rejects_misaligned),
		T(test_init_rejects_misaligned_host_memory),
		T(test_init_rejects_areas_outside_ram),
		T(test_pop_head_out_of_range_breaks_ring),
		T(test_pop_avail_idx_jump_breaks_ring),
		T(test_pop_avail_idx_backwards_breaks_ring),
		T(test_pop_more_than_size_outstanding_breaks_ring),
		T(test_pop_ring_no_longer_in_ram_breaks_ring),
		T(test_pop_next_out_of_range),
		T(test_pop_loop),
		T(test_pop_writable_then_readable),
		T(test_pop_buffer_outside_ram),
		T(test_pop_total_length_over_4g),
		T(test_pop_indirect_not_negotiated),
		T(test_pop_indirect_nested),
		T(test_pop_indirect_with_next),
		T(test_pop_indirect_bad_table),
		T(test_pop_indirect_bad_next),
		T(test_pop_too_many_iovecs_via_indirect),
		T(test_pop_too_many_iovecs_direct),
		/* then what must work */
		T(test_init_accepts_max_size),
		T(test_pop_empty),
		T(test_pop_simple_chain),
		T(test_pop_readable_then_writable),
		T(test_pop_indirect_chain),
		T(test_pop_zero_length_needs_no_ram),
		T(test_push_publishes_used_element),
		T(test_many_pops_wrap_indices),
		T(test_notify_event_idx),
		T(test_notify_flags),
		T(test_pop_sets_avail_event),
		T(test_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

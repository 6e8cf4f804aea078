/* Unit tests for guest physical memory: bounds of gmem_ptr, copies, and region registration. */
#include "test_util.h"

#include <errno.h>
#include <string.h>

#include "vmm/memory.h"
#include "vmm/x86/layout.h"

/*
 * Layout shared by most tests:
 *   A [0x1000, 0x2000)   B [0x2000, 0x3000)  (adjacent to A)
 *   gap [0x3000, 0x10000)
 *   C [0x10000, 0x11000)
 */
#define A_GPA 0x1000ULL
#define B_GPA 0x2000ULL
#define C_GPA 0x10000ULL
#define RSZ   0x1000ULL

struct fixture {
	struct gmem mem;
	uint8_t *a, *b, *c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	/* Exactly sized allocations: ASan catches any access one past. */
	f->a = malloc(RSZ);
	f->b = malloc(RSZ);
	f->c = malloc(RSZ);
	if (!f->a || !f->b || !f->c)
		return -1;
	memset(f->a, 0xaa, RSZ);
	memset(f->b, 0xbb, RSZ);
	memset(f->c, 0xcc, RSZ);
	if (gmem_add_region(&f->mem, A_GPA, RSZ, f->a) ||
	    gmem_add_region(&f->mem, B_GPA, RSZ, f->b) ||
	    gmem_add_region(&f->mem, C_GPA, RSZ, f->c))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->a);
	free(f->b);
	free(f->c);
	free(f);
	return 0;
}

/* --- hostile cases first --- */

static void test_ptr_one_past_region(void **state)
{
	struct fixture *f = *state;

	TEST_ASSERT_NULL(gmem_ptr(&f->mem, C_GPA + RSZ, 1));
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, C_GPA + RSZ - 1, 2));
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, C_GPA, RSZ + 1));
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, B_GPA + RSZ, 1)); /* B is followed by a gap */
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, A_GPA - 1, 1));   /* just below A */
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, A_GPA - 1, 2));   /* straddles A's start */
}

static void test_ptr_len0_at_end(void **state)
{
	struct fixture *f = *state;

	/* An empty range at the end of a region names no byte in it. */
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, C_GPA + RSZ, 0));
	/* ... and an empty range at its last byte is inside it. */
	TEST_ASSERT_PTR_EQ(gmem_ptr(&f->mem, C_GPA + RSZ - 1, 0), f->c + RSZ - 1);
	/* At A's end the address is B's first byte. */
	TEST_ASSERT_PTR_EQ(gmem_ptr(&f->mem, A_GPA + RSZ, 0), f->b);
}

static void test_ptr_overflow(void **state)
{
	struct fixture *f = *state;

	TEST_ASSERT_NULL(gmem_ptr(&f->mem, A_GPA + 0x800, SIZE_MAX));
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, A_GPA + 0x800, (size_t)(UINT64_MAX - (A_GPA + 0x800)) + 2));
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, UINT64_MAX, 1));
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, UINT64_MAX, SIZE_MAX));
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, UINT64_MAX, 0));
}

static void test_ptr_region_at_top_of_address_space(void **state)
{
	struct gmem mem = { 0 };
	uint8_t *buf = malloc(RSZ - 1);
	uint64_t gpa = UINT64_MAX - (RSZ - 1); /* region ends at 2^64 - 1 exclusive */

	(void)state;
	TEST_ASSERT(buf, "malloc");
	TEST_ASSERT_EQ(gmem_add_region(&mem, gpa, RSZ - 1, buf), 0);
	TEST_ASSERT_PTR_EQ(gmem_ptr(&mem, UINT64_MAX - 1, 1), buf + RSZ - 2);
	TEST_ASSERT_NULL(gmem_ptr(&mem, UINT64_MAX - 1, 2));
	TEST_ASSERT_NULL(gmem_ptr(&mem, UINT64_MAX, 1));
	TEST_ASSERT_NULL(gmem_ptr(&mem, UINT64_MAX - 0x10, 0x20)); /* gpa + len wraps */
	TEST_ASSERT_NULL(gmem_ptr(&mem, gpa, SIZE_MAX));
	TEST_ASSERT_PTR_EQ(gmem_ptr(&mem, gpa, RSZ - 1), buf);
	free(buf);
}

static void test_ptr_spanning_adjacent_regions(void **state)
{
	struct fixture *f = *state;

	/* A and B are contiguous in the guest but not in the host. */
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, B_GPA - 1, 2));
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, A_GPA, 2 * RSZ));
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, A_GPA + 0x10, RSZ));
}

static void test_ptr_gaps(void **state)
{
	struct fixture *f = *state;

	TEST_ASSERT_NULL(gmem_ptr(&f->mem, 0, 1));
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, 0xfff, 1));
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, 0x3000, 1));
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, 0x8000, 0x100));
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, C_GPA - 1, 1));
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, C_GPA - 1, 2));   /* gap into C */
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, B_GPA, C_GPA - B_GPA + 1)); /* B over the gap into C */
	TEST_ASSERT_NULL(gmem_ptr(&f->mem, 0x100000000ULL, 1));
}

static void test_ptr_empty_gmem(void **state)
{
	struct gmem mem = { 0 };

	(void)state;
	TEST_ASSERT_NULL(gmem_ptr(&mem, 0, 0));
	TEST_ASSERT_NULL(gmem_ptr(&mem, 0, 1));
	TEST_ASSERT_NULL(gmem_ptr(&mem, 0x1000, 1));
}

static void test_read_write_efault(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[16], canary[16];
	uint8_t src[2 * RSZ];

	memset(buf, 0x5a, sizeof(buf));
	memcpy(canary, buf, sizeof(buf));
	memset(src, 0x11, sizeof(src));

	TEST_ASSERT_EQ(gmem_read(&f->mem, buf, C_GPA + RSZ - 8, 16), -EFAULT);
	TEST_ASSERT(!memcmp(buf, canary, sizeof(buf)), "failed read wrote its buffer");
	TEST_ASSERT_EQ(gmem_read(&f->mem, buf, 0x3000, 1), -EFAULT);
	TEST_ASSERT_EQ(gmem_read(&f->mem, buf, UINT64_MAX, 1), -EFAULT);
	TEST_ASSERT_EQ(gmem_read(&f->mem, buf, B_GPA - 8, 16), -EFAULT);

	TEST_ASSERT_EQ(gmem_write(&f->mem, C_GPA + RSZ - 8, src, 16), -EFAULT);
	TEST_ASSERT_EQ(gmem_write(&f->mem, 0x3000, src, 1), -EFAULT);
	TEST_ASSERT_EQ(gmem_write(&f->mem, UINT64_MAX - 3, src, 8), -EFAULT);
	/* A write spanning A and B must not write either half. */
	TEST_ASSERT_EQ(gmem_write(&f->mem, A_GPA, src, 2 * RSZ), -EFAULT);
	for (size_t i = 0; i < RSZ; i++) {
		TEST_ASSERT_EQ(f->a[i], 0xaa);
		TEST_ASSERT_EQ(f->b[i], 0xbb);
		TEST_ASSERT_EQ(f->c[i], 0xcc);
	}
}

static void test_add_region_rejects(void **state)
{
	struct fixture *f = *state;
	uint8_t dummy;
	struct {
		uint64_t gpa, size;
		int err;
		const char *what;
	} cases[] = {
		{ 0x20000, 0, -EINVAL, "zero size" },
		{ UINT64_MAX, 2, -EINVAL, "gpa + size overflows" },
		{ 0x1000, UINT64_MAX, -EINVAL, "huge size overflows" },
		{ UINT64_MAX - 0xfff, 0x1000, -EINVAL, "ends exactly at 2^64" },
		{ A_GPA, RSZ, -EEXIST, "exact duplicate" },
		{ A_GPA - 0x800, RSZ, -EEXIST, "partial overlap at the start" },
		{ C_GPA + 0x800, RSZ, -EEXIST, "partial overlap at the end" },
		{ C_GPA - 0x10, RSZ + 0x20, -EEXIST, "containing" },
		{ C_GPA + 0x10, 0x10, -EEXIST, "contained" },
		{ C_GPA + RSZ - 1, 1, -EEXIST, "last byte" },
		{ C_GPA - 1, 2, -EEXIST, "first byte from below" },
		{ 0, UINT64_MAX, -EEXIST, "everything" },
		{ B_GPA - 1, 2, -EEXIST, "straddling A and B" },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		int ret = gmem_add_region(&f->mem, cases[i].gpa, cases[i].size, &dummy);

		TEST_ASSERT(ret == cases[i].err, "case '%s' [%#" PRIx64 ", +%#" PRIx64 "): got %d, want %d",
			    cases[i].what, cases[i].gpa, cases[i].size, ret, cases[i].err);
		TEST_ASSERT_EQ(f->mem.nregions, 3);
		TEST_ASSERT_EQ(f->mem.ram_size, 3 * RSZ);
	}
}

static void test_add_region_too_many(void **state)
{
	struct gmem mem = { 0 };
	uint8_t dummy;

	(void)state;
	for (unsigned i = 0; i < GMEM_MAX_REGIONS; i++)
		TEST_ASSERT_EQ(gmem_add_region(&mem, (uint64_t)i << 20, 0x1000, &dummy), 0);
	TEST_ASSERT_EQ(gmem_add_region(&mem, 0x40000000ULL, 0x1000, &dummy), -ENOSPC);
	TEST_ASSERT_EQ(mem.nregions, GMEM_MAX_REGIONS);
	TEST_ASSERT_EQ(mem.ram_size, GMEM_MAX_REGIONS * 0x1000ULL);
}

/* --- working cases --- */

static void test_add_region_adjacent_ok(void **state)
{
	struct fixture *f = *state;
	uint8_t dummy;

	TEST_ASSERT_EQ(gmem_add_region(&f->mem, B_GPA + RSZ, 0x1000, &dummy), 0);   /* after B */
	TEST_ASSERT_EQ(f->mem.nregions, 4);
	TEST_ASSERT_EQ(f->mem.ram_size, 4 * RSZ);
	TEST_ASSERT_PTR_EQ(gmem_ptr(&f->mem, B_GPA + RSZ, 1), &dummy);
}

static void test_ptr_inside(void **state)
{
	struct fixture *f = *state;

	TEST_ASSERT_PTR_EQ(gmem_ptr(&f->mem, A_GPA, 1), f->a);
	TEST_ASSERT_PTR_EQ(gmem_ptr(&f->mem, A_GPA + RSZ - 1, 1), f->a + RSZ - 1);
	TEST_ASSERT_PTR_EQ(gmem_ptr(&f->mem, A_GPA, RSZ), f->a);
	TEST_ASSERT_PTR_EQ(gmem_ptr(&f->mem, B_GPA, RSZ), f->b);
	TEST_ASSERT_PTR_EQ(gmem_ptr(&f->mem, C_GPA + 0x123, 0x10), f->c + 0x123);
	TEST_ASSERT_PTR_EQ(gmem_ptr(&f->mem, C_GPA + RSZ - 1, 1), f->c + RSZ - 1);
}

static void test_read_write_roundtrip(void **state)
{
	struct fixture *f = *state;
	uint8_t in[32], out[32];

	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 1);
	TEST_ASSERT_EQ(gmem_write(&f->mem, C_GPA + RSZ - sizeof(in), in, sizeof(in)), 0);
	TEST_ASSERT(!memcmp(f->c + RSZ - sizeof(in), in, sizeof(in)), "write landed elsewhere");
	TEST_ASSERT_EQ(gmem_read(&f->mem, out, C_GPA + RSZ - sizeof(out), sizeof(out)), 0);
	TEST_ASSERT(!memcmp(in, out, sizeof(in)), "read back differs");
	TEST_ASSERT_EQ(gmem_write(&f->mem, A_GPA, in, 0), 0);
	TEST_ASSERT_EQ(gmem_read(&f->mem, out, A_GPA + RSZ - 1, 1), 0);
	TEST_ASSERT_EQ(out[0], 0xaa);
}

static void test_alloc_x86(void **state)
{
	struct gmem mem;
	uint8_t b = 0x42;
	int ret;

	(void)state;
	TEST_ASSERT(gmem_alloc_x86(&mem, 0) != 0, "0 bytes of RAM accepted");

	ret = gmem_alloc_x86(&mem, 512ULL << 20);
	if (ret) {
		print_message("gmem_alloc_x86(512M) failed (%d): host refuses the mapping\n", ret);
		skip();
	}
	TEST_ASSERT_EQ(mem.nregions, 1);
	TEST_ASSERT_EQ(mem.regions[0].gpa, 0);
	TEST_ASSERT_EQ(mem.regions[0].size, 512ULL << 20);
	TEST_ASSERT_EQ(mem.ram_size, 512ULL << 20);
	TEST_ASSERT_EQ(gmem_write(&mem, (512ULL << 20) - 1, &b, 1), 0);
	TEST_ASSERT_EQ(gmem_write(&mem, 512ULL << 20, &b, 1), -EFAULT);
	gmem_free(&mem);
	TEST_ASSERT_EQ(mem.nregions, 0);
	TEST_ASSERT_EQ(mem.ram_size, 0);

	/* 4 GiB: 3 GiB below the MMIO hole and 1 GiB from 4 GiB up (MAP_NORESERVE, untouched). */
	ret = gmem_alloc_x86(&mem, 4ULL << 30);
	if (ret) {
		print_message("gmem_alloc_x86(4G) failed (%d): host refuses the mapping\n", ret);
		skip();
	}
	TEST_ASSERT_EQ(mem.nregions, 2);
	TEST_ASSERT_EQ(mem.regions[0].gpa, 0);
	TEST_ASSERT_EQ(mem.regions[0].size, X86_MMIO_HOLE_START);
	TEST_ASSERT_EQ(mem.regions[1].gpa, X86_HIGH_RAM_START);
	TEST_ASSERT_EQ(mem.regions[1].size, (4ULL << 30) - X86_MMIO_HOLE_START);
	TEST_ASSERT_EQ(mem.ram_size, 4ULL << 30);
	TEST_ASSERT_NULL(gmem_ptr(&mem, X86_MMIO_HOLE_START, 1));
	TEST_ASSERT_NULL(gmem_ptr(&mem, X86_HIGH_RAM_START - 1, 1));
	TEST_ASSERT_EQ(gmem_write(&mem, X86_MMIO_HOLE_START - 1, &b, 1), 0);
	TEST_ASSERT_EQ(gmem_write(&mem, X86_HIGH_RAM_START, &b, 1), 0);
	TEST_ASSERT_EQ(gmem_write(&mem, (5ULL << 30) - 1, &b, 1), 0);
	TEST_ASSERT_EQ(gmem_write(&mem, 5ULL << 30, &b, 1), -EFAULT);
	gmem_free(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ptr_one_past_region, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ptr_len0_at_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ptr_overflow, setup, teardown),
		cmocka_unit_test(test_ptr_region_at_top_of_address_space),
		cmocka_unit_test_setup_teardown(test_ptr_spanning_adjacent_regions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ptr_gaps, setup, teardown),
		cmocka_unit_test(test_ptr_empty_gmem),
		cmocka_unit_test_setup_teardown(test_read_write_efault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_region_rejects, setup, teardown),
		cmocka_unit_test(test_add_region_too_many),
		cmocka_unit_test_setup_teardown(test_add_region_adjacent_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ptr_inside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_write_roundtrip, setup, teardown),
		cmocka_unit_test(test_alloc_x86),
	};

	return cmocka_run_group_tests_name("memory", tests, NULL, NULL);
}

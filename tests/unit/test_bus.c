/* Unit tests for the I/O buses: registration, overlap rules and dispatch. */
#include "test_util.h"

#include <errno.h>
#include <string.h>

#include "vmm/bus.h"

/* A fake device that records its last access. */
struct fake_dev {
	unsigned id;
	unsigned reads, writes;
	uint64_t offset;
	unsigned len;
	uint8_t wdata[8];
};

static void fake_read(void *opaque, uint64_t offset, void *data, unsigned len)
{
	struct fake_dev *d = opaque;
	uint8_t *p = data;

	d->reads++;
	d->offset = offset;
	d->len = len;
	/* Byte i of the answer: device id in the high nibble, offset + i in the low. */
	for (unsigned i = 0; i < len; i++)
		p[i] = (uint8_t)(d->id << 4 | ((offset + i) & 0xf));
}

static void fake_write(void *opaque, uint64_t offset, const void *data, unsigned len)
{
	struct fake_dev *d = opaque;

	d->writes++;
	d->offset = offset;
	d->len = len;
	memcpy(d->wdata, data, len < sizeof(d->wdata) ? len : sizeof(d->wdata));
}

static const struct bus_dev_ops fake_ops = { .read = fake_read, .write = fake_write };
static const struct bus_dev_ops write_only_ops = { .write = fake_write };

static int setup(void **state)
{
	struct bus *bus = malloc(sizeof(*bus));

	if (!bus)
		return -1;
	bus_init(bus, "test");
	*state = bus;
	return 0;
}

static int teardown(void **state)
{
	bus_destroy(*state);
	free(*state);
	return 0;
}

static void assert_all_ones(const uint8_t *p, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		TEST_ASSERT(p[i] == 0xff, "byte %u of an unclaimed read is %#x", i, p[i]);
}

/* --- hostile cases first --- */

static void test_register_overlaps(void **state)
{
	struct bus *bus = *state;
	struct fake_dev d = { .id = 1 }, other = { .id = 2 };
	struct {
		uint64_t base, len;
		const char *what;
	} cases[] = {
		{ 0x100, 0x10, "exact" },
		{ 0xf8, 0x10, "partial, from below" },
		{ 0x108, 0x10, "partial, above" },
		{ 0xf0, 0x30, "containing" },
		{ 0x104, 0x4, "contained" },
		{ 0x100, 1, "first byte" },
		{ 0x10f, 1, "last byte" },
		{ 0xff, 2, "straddling the start" },
		{ 0x10f, 2, "straddling the end" },
		{ 0, UINT64_MAX, "everything" },
		{ 0x100, 0x8, "same base, shorter" },
		{ 0x100, 0x100, "same base, longer" },
	};

	TEST_ASSERT_EQ(bus_register(bus, 0x100, 0x10, &fake_ops, &d), 0);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		int ret = bus_register(bus, cases[i].base, cases[i].len, &fake_ops, &other);

		TEST_ASSERT(ret == -EEXIST, "overlap '%s' [%#" PRIx64 ", +%#" PRIx64 "): got %d",
			    cases[i].what, cases[i].base, cases[i].len, ret);
		TEST_ASSERT_EQ(bus->nranges, 1);
	}
	/* Neighbours on both sides at once, then the hole between them is taken. */
	TEST_ASSERT_EQ(bus_register(bus, 0x200, 0x10, &fake_ops, &other), 0);
	TEST_ASSERT_EQ(bus_register(bus, 0x10f, 0xf2, &fake_ops, &other), -EEXIST);
	TEST_ASSERT_EQ(bus_register(bus, 0x110, 0xf1, &fake_ops, &other), -EEXIST);
	TEST_ASSERT_EQ(bus_register(bus, 0x110, 0xf0, &fake_ops, &other), 0);
	TEST_ASSERT_EQ(bus->nranges, 3);
}

static void test_register_len0_and_overflow(void **state)
{
	struct bus *bus = *state;
	struct fake_dev d = { .id = 1 };

	TEST_ASSERT_EQ(bus_register(bus, 0x100, 0, &fake_ops, &d), -EINVAL);
	TEST_ASSERT_EQ(bus_register(bus, UINT64_MAX, 2, &fake_ops, &d), -EINVAL);
	TEST_ASSERT_EQ(bus_register(bus, 0x10, UINT64_MAX, &fake_ops, &d), -EINVAL);
	TEST_ASSERT_EQ(bus_register(bus, UINT64_MAX - 0xf, 0x11, &fake_ops, &d), -EINVAL);
	TEST_ASSERT_EQ(bus->nranges, 0);
	/* A range that ends at the very top is fine. */
	TEST_ASSERT_EQ(bus_register(bus, UINT64_MAX - 0xf, 0x10, &fake_ops, &d), 0);
	TEST_ASSERT_EQ(bus_register(bus, UINT64_MAX, 1, &fake_ops, &d), -EEXIST);
}

static void test_register_full(void **state)
{
	struct bus *bus = *state;
	struct fake_dev d = { .id = 1 };

	for (unsigned i = 0; i < BUS_MAX_RANGES; i++)
		TEST_ASSERT_EQ(bus_register(bus, i * 0x10ULL, 8, &fake_ops, &d), 0);
	TEST_ASSERT_EQ(bus_register(bus, 0x100000, 8, &fake_ops, &d), -ENOSPC);
	TEST_ASSERT_EQ(bus_register(bus, 0x8, 8, &fake_ops, &d), -ENOSPC);
	TEST_ASSERT_EQ(bus->nranges, BUS_MAX_RANGES);
}

static void test_unclaimed(void **state)
{
	struct bus *bus = *state;
	struct fake_dev d = { .id = 1 };
	uint8_t buf[8];

	/* Empty bus. */
	for (unsigned len = 1; len <= 8; len *= 2) {
		memset(buf, 0, sizeof(buf));
		TEST_ASSERT(!bus_read(bus, 0x3f8, buf, len), "read of an empty bus claimed");
		assert_all_ones(buf, len);
		TEST_ASSERT(!bus_write(bus, 0x3f8, buf, len), "write to an empty bus claimed");
	}
	TEST_ASSERT_EQ(bus_register(bus, 0x100, 8, &fake_ops, &d), 0);
	memset(buf, 0, sizeof(buf));
	TEST_ASSERT(!bus_read(bus, 0xff, buf, 1), "below the range");
	assert_all_ones(buf, 1);
	TEST_ASSERT(!bus_read(bus, 0x108, buf, 4), "one past the range");
	assert_all_ones(buf, 4);
	TEST_ASSERT(!bus_read(bus, UINT64_MAX, buf, 8), "top of the address space");
	assert_all_ones(buf, 8);
	TEST_ASSERT_EQ(d.reads + d.writes, 0);
}

static void test_straddling_access(void **state)
{
	struct bus *bus = *state;
	struct fake_dev a = { .id = 1 }, b = { .id = 2 };
	uint8_t buf[8] = { 0 };
	const uint8_t w[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	TEST_ASSERT_EQ(bus_register(bus, 0x100, 8, &fake_ops, &a), 0);
	TEST_ASSERT_EQ(bus_register(bus, 0x108, 8, &fake_ops, &b), 0); /* adjacent */

	/* Crossing from a into b belongs to neither. */
	TEST_ASSERT(!bus_read(bus, 0x106, buf, 4), "straddling read claimed");
	assert_all_ones(buf, 4);
	TEST_ASSERT(!bus_write(bus, 0x106, w, 4), "straddling write claimed");
	/* Crossing b's end into nothing. */
	memset(buf, 0, sizeof(buf));
	TEST_ASSERT(!bus_read(bus, 0x10f, buf, 2), "read past b's end claimed");
	assert_all_ones(buf, 2);
	TEST_ASSERT(!bus_write(bus, 0x10c, w, 8), "write past b's end claimed");
	/* Starting below a. */
	TEST_ASSERT(!bus_read(bus, 0xfe, buf, 4), "read into a from below claimed");
	TEST_ASSERT_EQ(a.reads + a.writes + b.reads + b.writes, 0);

	/* Up to the last byte exactly is fine. */
	TEST_ASSERT(bus_read(bus, 0x104, buf, 4), "read ending at a's last byte");
	TEST_ASSERT_EQ(a.offset, 4);
	TEST_ASSERT(bus_write(bus, 0x108, w, 8), "write covering all of b");
	TEST_ASSERT_EQ(b.offset, 0);
	TEST_ASSERT_EQ(b.len, 8);
}

static void test_range_at_top(void **state)
{
	struct bus *bus = *state;
	struct fake_dev d = { .id = 3 };
	uint8_t buf[2] = { 0 };

	TEST_ASSERT_EQ(bus_register(bus, UINT64_MAX - 7, 8, &fake_ops, &d), 0);
	TEST_ASSERT(bus_read(bus, UINT64_MAX, buf, 1), "last byte of the address space");
	TEST_ASSERT_EQ(d.offset, 7);
	TEST_ASSERT_EQ(buf[0], 0x37);
	/* addr + len wraps past 2^64. */
	memset(buf, 0, sizeof(buf));
	TEST_ASSERT(!bus_read(bus, UINT64_MAX, buf, 2), "access wrapping past 2^64 claimed");
	assert_all_ones(buf, 2);
	TEST_ASSERT_EQ(d.reads, 1);
}

/* --- working cases --- */

static void test_dispatch_relative_offsets(void **state)
{
	struct bus *bus = *state;
	struct fake_dev com1 = { .id = 1 }, mmio = { .id = 2 };
	uint8_t buf[4];
	uint32_t v = 0xdeadbeef;

	TEST_ASSERT_EQ(bus_register(bus, 0x3f8, 8, &fake_ops, &com1), 0);
	TEST_ASSERT_EQ(bus_register(bus, 0xfec00000ULL, 0x1000, &fake_ops, &mmio), 0);

	TEST_ASSERT(bus_read(bus, 0x3fd, buf, 1), "read at 0x3fd");
	TEST_ASSERT_EQ(com1.reads, 1);
	TEST_ASSERT_EQ(com1.offset, 5);
	TEST_ASSERT_EQ(com1.len, 1);
	TEST_ASSERT_EQ(buf[0], 0x15);

	TEST_ASSERT(bus_write(bus, 0xfec00010ULL, &v, 4), "write at 0xfec00010");
	TEST_ASSERT_EQ(mmio.writes, 1);
	TEST_ASSERT_EQ(mmio.offset, 0x10);
	TEST_ASSERT_EQ(mmio.len, 4);
	TEST_ASSERT(!memcmp(mmio.wdata, &v, 4), "written data differs");
	TEST_ASSERT_EQ(com1.writes, 0);

	TEST_ASSERT(bus_read(bus, 0xfec00ffcULL, buf, 4), "read of the last dword");
	TEST_ASSERT_EQ(mmio.offset, 0xffc);
	TEST_ASSERT_EQ(buf[0], 0x2c);
	TEST_ASSERT_EQ(buf[3], 0x2f);
}

static void test_write_only_device(void **state)
{
	struct bus *bus = *state;
	struct fake_dev d = { .id = 4 };
	uint8_t buf[2] = { 0 };

	TEST_ASSERT_EQ(bus_register(bus, 0x80, 1, &write_only_ops, &d), 0);
	/* Claimed, but with no read callback the answer is all ones. */
	TEST_ASSERT(bus_read(bus, 0x80, buf, 1), "read of a write-only device");
	TEST_ASSERT_EQ(buf[0], 0xff);
	TEST_ASSERT(bus_write(bus, 0x80, buf, 1), "write to a write-only device");
	TEST_ASSERT_EQ(d.writes, 1);
}

static void test_many_ranges_binary_search(void **state)
{
	struct bus *bus = *state;
	static struct fake_dev devs[BUS_MAX_RANGES];
	unsigned order[BUS_MAX_RANGES];
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	uint8_t buf[1];

	/* Register in a shuffled order: range i is [i * 0x100, i * 0x100 + 0x10 + i). */
	for (unsigned i = 0; i < BUS_MAX_RANGES; i++)
		order[i] = i;
	for (unsigned i = BUS_MAX_RANGES - 1; i > 0; i--) {
		unsigned j = (unsigned)(test_rand(&seed) % (i + 1)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned k = 0; k < BUS_MAX_RANGES; k++) {
		unsigned i = order[k];

		devs[i] = (struct fake_dev){ .id = i };
		TEST_ASSERT_EQ(bus_register(bus, i * 0x100ULL, 0x10 + i, &fake_ops, &devs[i]), 0);
	}
	for (unsigned i = 1; i < bus->nranges; i++)
		TEST_ASSERT(bus->ranges[i - 1].base < bus->ranges[i].base, "ranges not sorted at %u", i);

	for (unsigned i = 0; i < BUS_MAX_RANGES; i++) {
		uint64_t base = i * 0x100ULL, last = base + 0x10 + i - 1;

		TEST_ASSERT(bus_read(bus, base, buf, 1), "range %u start", i);
		TEST_ASSERT_EQ(devs[i].reads, 1);
		TEST_ASSERT_EQ(devs[i].offset, 0);
		TEST_ASSERT(bus_read(bus, last, buf, 1), "range %u last byte", i);
		TEST_ASSERT_EQ(devs[i].reads, 2);
		TEST_ASSERT_EQ(devs[i].offset, 0x10 + i - 1);
		TEST_ASSERT(!bus_read(bus, last + 1, buf, 1), "range %u one past", i);
		TEST_ASSERT(!bus_read(bus, base + 0xff, buf, 1), "gap after range %u", i);
	}
	for (unsigned i = 0; i < BUS_MAX_RANGES; i++)
		TEST_ASSERT_EQ(devs[i].reads, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_overlaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_len0_and_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unclaimed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_straddling_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_range_at_top, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dispatch_relative_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_only_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_ranges_binary_search, setup, teardown),
	};

	return cmocka_run_group_tests_name("bus", tests, NULL, NULL);
}

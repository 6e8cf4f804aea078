/* Unit tests for devices/pci/pci.c BARs and capabilities: placement, sizing, mapping, the list. */
#include "test_util.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "devices/pci/pci.h"
#include "vmm/bus.h"

/*
 * The windows of the tests. W32_BASE is only 4 KiB aligned, so that natural
 * alignment of bigger BARs shows; W64 lies above 4 GiB.
 */
#define W32_BASE 0xc0001000ULL
#define W32_SIZE 0x000ff000ULL /* up to 0xc0100000 */
#define W32_END	 (W32_BASE + W32_SIZE)
#define W64_BASE 0x1000000000ULL
#define W64_SIZE 0x40000000ULL
#define ECAM_GPA 0xe0000000ULL
#define SLOT	 3
#define DEVFN	 (SLOT << 3)

#define BAR_REG(i) (PCI_BAR0 + 4 * (i))

/* What a BAR's ops saw. */
struct bar_dev {
	unsigned id;
	unsigned reads, writes;
	uint64_t offset;
};

struct mapped_call {
	unsigned idx;
	uint64_t addr;
	bool mapped;
};

struct fixture {
	struct bus mmio;
	struct pci_bus bus;
	struct pci_device dev;
	struct bar_dev bars[PCI_NUM_BARS];
	struct mapped_call calls[32];
	unsigned ncalls;
	bool bus_locked_in_callback;
};

static void bar_read(void *opaque, uint64_t offset, void *data, unsigned len)
{
	struct bar_dev *b = opaque;

	b->reads++;
	b->offset = offset;
	memset(data, (int)(0xa0 | b->id), len);
}

static void bar_write(void *opaque, uint64_t offset, const void *data, unsigned len)
{
	struct bar_dev *b = opaque;

	(void)data;
	(void)len;
	b->writes++;
	b->offset = offset;
}

static const struct bus_dev_ops bar_ops = { .read = bar_read, .write = bar_write };

static void record_mapped(struct pci_device *dev, unsigned idx, uint64_t addr, bool mapped)
{
	struct fixture *f = dev->opaque;

	/* "with the bus lock held": trylock of a held non-recursive mutex fails */
	if (pthread_mutex_trylock(&f->bus.lock) == 0) {
		pthread_mutex_unlock(&f->bus.lock);
		f->bus_locked_in_callback = false;
	}
	if (f->ncalls < ARRAY_LEN(f->calls))
		f->calls[f->ncalls] = (struct mapped_call){ idx, addr, mapped };
	f->ncalls++; /* the lock serialises callers */
}

static const struct pci_device_ops recording_ops = { .bar_mapped = record_mapped };

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	bus_init(&f->mmio, "mmio");
	pci_bus_init(&f->bus);
	pci_bus_set_windows(&f->bus, &f->mmio, W32_BASE, W32_SIZE, W64_BASE, W64_SIZE);
	pci_device_init(&f->dev, 0x1af4, 0x1041, 0x020000, 1);
	f->dev.ops = &recording_ops;
	f->dev.opaque = f;
	f->bus_locked_in_callback = true;
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		f->bars[i].id = i;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	bus_destroy(&f->mmio);
	pthread_mutex_destroy(&f->bus.lock);
	free(f);
	return 0;
}

static int set_bar(struct fixture *f, unsigned idx, uint64_t size, bool mem64, bool prefetch)
{
	struct bar_dev *b = idx < PCI_NUM_BARS ? &f->bars[idx] : NULL;

	return pci_device_set_bar(&f->dev, idx, size, mem64, prefetch, &bar_ops, b);
}

static uint32_t cfg_read(struct fixture *f, unsigned offset, unsigned len)
{
	return pci_config_read(&f->bus, DEVFN, offset, len);
}

static void cfg_write(struct fixture *f, unsigned offset, unsigned len, uint32_t value)
{
	pci_config_write(&f->bus, DEVFN, offset, len, value);
}

static uint64_t bar_addr(struct fixture *f, unsigned idx, bool mem64)
{
	uint64_t lo = cfg_read(f, BAR_REG(idx), 4) & ~0xfu;

	return mem64 ? lo | (uint64_t)cfg_read(f, BAR_REG(idx + 1), 4) << 32 : lo;
}

/* True when a 4-byte read at addr reaches BAR idx's ops at offset. */
static bool reaches(struct fixture *f, uint64_t addr, unsigned idx, uint64_t offset)
{
	unsigned before = f->bars[idx].reads;
	uint32_t v = 0;
	bool claimed = bus_read(&f->mmio, addr, &v, 4);

	return claimed && f->bars[idx].reads == before + 1 && f->bars[idx].offset == offset &&
	       v == 0x01010101u * (0xa0 | idx);
}

static void assert_call(struct fixture *f, unsigned n, unsigned idx, uint64_t addr, bool mapped)
{
	TEST_ASSERT(n < f->ncalls, "bar_mapped call %u missing (%u calls)", n, f->ncalls);
	TEST_ASSERT(n < ARRAY_LEN(f->calls), "call %u not recorded", n);
	TEST_ASSERT_EQ(f->calls[n].idx, idx);
	TEST_ASSERT_EQ(f->calls[n].addr, addr);
	TEST_ASSERT_EQ(f->calls[n].mapped, mapped);
}

/* ------------------------------------------------------- declaration ---- */

static void test_set_bar_rejects_bad_index_and_size(void **state)
{
	struct fixture *f = *state;
	static const uint64_t bad_sizes[] = { 0, 1, 2048, 4095, 4097, 3 * 4096, 0x10001000 };

	TEST_ASSERT_EQ(set_bar(f, PCI_NUM_BARS, 4096, false, false), -EINVAL);
	TEST_ASSERT_EQ(set_bar(f, 1000, 4096, false, false), -EINVAL);
	/* A 64-bit BAR needs the next register too. */
	TEST_ASSERT_EQ(set_bar(f, PCI_NUM_BARS - 1, 4096, true, true), -EINVAL);
	for (unsigned i = 0; i < ARRAY_LEN(bad_sizes); i++) {
		TEST_ASSERT_EQ(set_bar(f, 0, bad_sizes[i], false, false), -EINVAL);
		TEST_ASSERT_EQ(set_bar(f, 0, bad_sizes[i], true, false), -EINVAL);
	}
	/* A 32-bit BAR decodes at most 2 GiB; a 64-bit one may be bigger. */
	TEST_ASSERT_EQ(set_bar(f, 0, 1ULL << 32, false, false), -EINVAL);
	TEST_ASSERT_EQ(set_bar(f, 0, 1ULL << 31, false, false), 0);
	TEST_ASSERT_EQ(set_bar(f, 0, 1ULL << 32, true, true), 0);
	/* Nothing was placed: all rejected calls left the BARs alone. */
	for (unsigned i = 1; i < PCI_NUM_BARS; i++)
		TEST_ASSERT_EQ(f->dev.bars[i].size, 0);
}

static void test_set_bar_64bit_takes_two_registers(void **state)
{
	struct fixture *f = *state;

	TEST_ASSERT_EQ(set_bar(f, 2, 0x10000, true, true), 0);
	/* BAR 3 is BAR 2's upper half: declaring it would corrupt BAR 2. */
	TEST_ASSERT_EQ(set_bar(f, 3, 4096, false, false), -EINVAL);
	/* Nor may a 64-bit BAR 1 take BAR 2's register. */
	TEST_ASSERT_EQ(set_bar(f, 1, 4096, true, false), -EINVAL);
	TEST_ASSERT_EQ(set_bar(f, 1, 4096, false, false), 0);
	TEST_ASSERT_EQ(set_bar(f, 4, 4096, false, false), 0);
	/* Writable address bits: above the size in the low dword, all of the high one. */
	TEST_ASSERT_EQ(f->dev.wmask[BAR_REG(2)], 0x00);
	TEST_ASSERT_EQ(f->dev.wmask[BAR_REG(2) + 1], 0x00);
	TEST_ASSERT_EQ(f->dev.wmask[BAR_REG(2) + 2], 0xff);
	TEST_ASSERT_EQ(f->dev.wmask[BAR_REG(3)], 0xff);
	TEST_ASSERT_EQ(f->dev.wmask[BAR_REG(3) + 3], 0xff);
	TEST_ASSERT_EQ(pci_bus_add(&f->bus, SLOT, &f->dev), 0);
	/* PCI 3.0 §6.2.5.1: type 2 (64-bit) in bits 2:1, prefetchable bit 3. */
	TEST_ASSERT_EQ(cfg_read(f, BAR_REG(2), 4) & 0xf, 0xc);
	TEST_ASSERT_EQ(cfg_read(f, BAR_REG(1), 4) & 0xf, 0x0);
	TEST_ASSERT_EQ(bar_addr(f, 2, true), W64_BASE);
	TEST_ASSERT_EQ(cfg_read(f, BAR_REG(3), 4), W64_BASE >> 32);
}

/* --------------------------------------------------------- placement ---- */

static void test_bus_add_places_bars_naturally_aligned(void **state)
{
	struct fixture *f = *state;

	TEST_ASSERT_EQ(set_bar(f, 0, 0x1000, false, false), 0); /* mmio32 */
	TEST_ASSERT_EQ(set_bar(f, 1, 0x10000, false, true), 0); /* 32-bit prefetch: mmio32 */
	TEST_ASSERT_EQ(set_bar(f, 2, 0x4000, true, true), 0);	/* mmio64 */
	TEST_ASSERT_EQ(set_bar(f, 4, 0x20000, true, false), 0); /* not prefetch: mmio32 */
	TEST_ASSERT_EQ(pci_bus_add(&f->bus, SLOT, &f->dev), 0);
	TEST_ASSERT_EQ(bar_addr(f, 0, false), W32_BASE);
	TEST_ASSERT_EQ(bar_addr(f, 1, false), 0xc0010000);
	TEST_ASSERT_EQ(bar_addr(f, 2, true), W64_BASE);
	TEST_ASSERT_EQ(bar_addr(f, 4, true), 0xc0020000);
	TEST_ASSERT_EQ(cfg_read(f, BAR_REG(1), 4) & 0xf, 0x8);
	TEST_ASSERT_EQ(cfg_read(f, BAR_REG(4), 4) & 0xf, 0x4);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		uint64_t size = f->dev.bars[i].size;

		if (size)
			TEST_ASSERT_EQ(bar_addr(f, i, f->dev.bars[i].mem64) & (size - 1), 0);
	}
	/* Nothing maps before the guest enables memory decoding. */
	TEST_ASSERT_EQ(f->mmio.nranges, 0);
	TEST_ASSERT_EQ(f->ncalls, 0);
}

static void test_bus_add_without_mmio64_uses_mmio32(void **state)
{
	struct fixture *f = *state;

	pci_bus_set_windows(&f->bus, &f->mmio, W32_BASE, W32_SIZE, 0, 0);
	TEST_ASSERT_EQ(set_bar(f, 0, 0x4000, true, true), 0);
	TEST_ASSERT_EQ(pci_bus_add(&f->bus, SLOT, &f->dev), 0);
	TEST_ASSERT_EQ(bar_addr(f, 0, true), 0xc0004000);
}

static void test_bus_add_full_window_is_enospc(void **state)
{
	struct fixture *f = *state;
	struct pci_device others[4];

	for (unsigned i = 0; i < ARRAY_LEN(others); i++)
		pci_device_init(&others[i], 1, (uint16_t)(2 + i), 0, 0);
	TEST_ASSERT_EQ(set_bar(f, 0, 0x40000, false, false), 0);
	TEST_ASSERT_EQ(pci_bus_add(&f->bus, SLOT, &f->dev), 0);
	TEST_ASSERT_EQ(bar_addr(f, 0, false), 0xc0040000);
	/* 1 MiB would start at 0xc0100000, the window's end. */
	TEST_ASSERT_EQ(pci_device_set_bar(&others[0], 0, 0x100000, false, false, &bar_ops, f->bars),
		       0);
	TEST_ASSERT_EQ(pci_bus_add(&f->bus, SLOT + 1, &others[0]), -ENOSPC);
	TEST_ASSERT_NULL(f->bus.slots[SLOT + 1]);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, (SLOT + 1) << 3, 0, 4), 0xffffffff);
	/* One that fits exactly up to the end is fine, and then the window is full. */
	TEST_ASSERT_EQ(pci_device_set_bar(&others[1], 0, 0x80000, false, false, &bar_ops, f->bars),
		       0);
	TEST_ASSERT_EQ(pci_bus_add(&f->bus, SLOT + 1, &others[1]), 0);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, (SLOT + 1) << 3, BAR_REG(0), 4), 0xc0080000);
	TEST_ASSERT_EQ(pci_device_set_bar(&others[2], 0, 0x1000, false, false, &bar_ops, f->bars),
		       0);
	TEST_ASSERT_EQ(pci_bus_add(&f->bus, SLOT + 2, &others[2]), -ENOSPC);
	/* A 64-bit prefetchable BAR bigger than mmio64 does not fit either. */
	TEST_ASSERT_EQ(
		pci_device_set_bar(&others[3], 0, W64_SIZE * 2, true, true, &bar_ops, f->bars), 0);
	TEST_ASSERT_EQ(pci_bus_add(&f->bus, SLOT + 2, &others[3]), -ENOSPC);
	/* No windows at all: no room. */
	pci_bus_set_windows(&f->bus, NULL, 0, 0, 0, 0);
	TEST_ASSERT_EQ(pci_bus_add(&f->bus, SLOT + 2, &others[2]), -ENOSPC);
	/* A device without BARs always fits. */
	pci_device_init(&others[2], 1, 2, 0, 0);
	TEST_ASSERT_EQ(pci_bus_add(&f->bus, SLOT + 2, &others[2]), 0);
}

/* ------------------------------------------------------------ sizing ---- */

static void test_bar_sizing(void **state)
{
	struct fixture *f = *state;

	TEST_ASSERT_EQ(set_bar(f, 0, 0x1000, false, false), 0);
	TEST_ASSERT_EQ(set_bar(f, 1, 0x8000, false, true), 0);
	TEST_ASSERT_EQ(set_bar(f, 2, 0x4000, true, true), 0);
	TEST_ASSERT_EQ(set_bar(f, 4, 1ULL << 33, true, true), 0); /* 8 GiB */
	pci_bus_set_windows(&f->bus, &f->mmio, W32_BASE, W32_SIZE, W64_BASE, 1ULL << 36);
	TEST_ASSERT_EQ(pci_bus_add(&f->bus, SLOT, &f->dev), 0);
	/* The guest writes all ones and reads back ~(size - 1), flags intact. */
	for (unsigned r = 0; r < PCI_NUM_BARS; r++)
		cfg_write(f, BAR_REG(r), 4, 0xffffffff);
	TEST_ASSERT_EQ(cfg_read(f, BAR_REG(0), 4), 0xfffff000);
	TEST_ASSERT_EQ(cfg_read(f, BAR_REG(1), 4), 0xffff8008);
	TEST_ASSERT_EQ(cfg_read(f, BAR_REG(2), 4), 0xffffc00c);
	TEST_ASSERT_EQ(cfg_read(f, BAR_REG(3), 4), 0xffffffff);
	TEST_ASSERT_EQ(cfg_read(f, BAR_REG(4), 4), 0x0000000c);
	TEST_ASSERT_EQ(cfg_read(f, BAR_REG(5), 4), 0xfffffffe);
	/* The flag bits are read-only whatever the guest writes. */
	cfg_write(f, BAR_REG(1), 4, 0);
	TEST_ASSERT_EQ(cfg_read(f, BAR_REG(1), 4), 0x00000008);
	cfg_write(f, BAR_REG(2), 1, 0x01);
	TEST_ASSERT_EQ(cfg_read(f, BAR_REG(2), 4), 0xffffc00c);
	/* Sub-size address bits stay 0. */
	cfg_write(f, BAR_REG(0), 4, 0xc0001234);
	TEST_ASSERT_EQ(cfg_read(f, BAR_REG(0), 4), 0xc0001000);
	/* Never mapped meanwhile: decoding was off. */
	TEST_ASSERT_EQ(f->ncalls, 0);
}

/* ----------------------------------------------------------- mapping ---- */

/* BAR 0: 4 KiB at W32_BASE, BAR 2: 16 KiB 64-bit prefetchable at W64_BASE. */
static void add_two_bars(struct fixture *f)
{
	TEST_ASSERT_EQ(set_bar(f, 0, 0x1000, false, false), 0);
	TEST_ASSERT_EQ(set_bar(f, 2, 0x4000, true, true), 0);
	TEST_ASSERT_EQ(pci_bus_add(&f->bus, SLOT, &f->dev), 0);
}

static void test_bar_outside_windows_stays_unmapped(void **state)
{
	struct fixture *f = *state;
	const uint64_t w64_end = W64_BASE + W64_SIZE;

	add_two_bars(f);
	/* Over RAM, and straddling the start of mmio32 (at 0xc0001000). */
	cfg_write(f, BAR_REG(0), 4, 0x00100000);
	cfg_write(f, BAR_REG(2), 4, 0xc0000000);
	cfg_write(f, BAR_REG(3), 4, 0);
	cfg_write(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	TEST_ASSERT_EQ(f->mmio.nranges, 0);
	TEST_ASSERT_EQ(f->ncalls, 0);
	TEST_ASSERT(!f->dev.bars[0].mapped && !f->dev.bars[2].mapped, "a BAR mapped");
	/* Just past the end of mmio64. */
	cfg_write(f, BAR_REG(2), 4, (uint32_t)w64_end);
	cfg_write(f, BAR_REG(3), 4, (uint32_t)(w64_end >> 32));
	TEST_ASSERT_EQ(f->ncalls, 0);
	/* The last page of mmio32 is inside. */
	cfg_write(f, BAR_REG(0), 4, (uint32_t)W32_END - 0x1000);
	TEST_ASSERT_EQ(f->ncalls, 1);
	assert_call(f, 0, 0, W32_END - 0x1000, true);
	/* High half, low half, high half: outside until the last write. */
	cfg_write(f, BAR_REG(3), 4, 0xffffffff);
	cfg_write(f, BAR_REG(2), 4, (uint32_t)W64_BASE + 0x4000);
	TEST_ASSERT_EQ(f->ncalls, 1);
	cfg_write(f, BAR_REG(3), 4, (uint32_t)(W64_BASE >> 32));
	TEST_ASSERT_EQ(f->ncalls, 2);
	assert_call(f, 1, 2, W64_BASE + 0x4000, true);
	/* A BAR whose end would wrap around 2^64. */
	cfg_write(f, BAR_REG(3), 4, 0xffffffff);
	cfg_write(f, BAR_REG(2), 4, 0xffffc000);
	TEST_ASSERT(!f->dev.bars[2].mapped, "BAR at the top of the address space mapped");
	TEST_ASSERT_EQ(f->mmio.nranges, 1);
	assert_call(f, f->ncalls - 1, 2, W64_BASE + 0x4000, false);
}

static void test_bar_maps_only_while_memory_decoding(void **state)
{
	struct fixture *f = *state;

	add_two_bars(f);
	TEST_ASSERT(!reaches(f, W32_BASE, 0, 0), "BAR 0 decodes before COMMAND.MEMORY");
	cfg_write(f, PCI_COMMAND, 2, 0x0004); /* bus master only */
	TEST_ASSERT_EQ(f->ncalls, 0);
	cfg_write(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	TEST_ASSERT_EQ(f->ncalls, 2);
	assert_call(f, 0, 0, W32_BASE, true);
	assert_call(f, 1, 2, W64_BASE, true);
	TEST_ASSERT(f->bus_locked_in_callback, "bar_mapped called without the bus lock");
	TEST_ASSERT(reaches(f, W32_BASE + 0xffc, 0, 0xffc), "BAR 0 not reached");
	TEST_ASSERT(reaches(f, W64_BASE + 0x10, 2, 0x10), "BAR 2 not reached");
	TEST_ASSERT(!reaches(f, W32_BASE + 0x1000, 0, 0x1000), "BAR 0 is too big");
	/* Rewriting the same command maps nothing twice. */
	cfg_write(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | 0x0004);
	TEST_ASSERT_EQ(f->ncalls, 2);
	/* Turning decoding off unmaps both. */
	cfg_write(f, PCI_COMMAND, 1, 0);
	TEST_ASSERT_EQ(f->ncalls, 4);
	assert_call(f, 2, 0, W32_BASE, false);
	assert_call(f, 3, 2, W64_BASE, false);
	TEST_ASSERT_EQ(f->mmio.nranges, 0);
	TEST_ASSERT(!reaches(f, W32_BASE, 0, 0), "BAR 0 still decodes");
	TEST_ASSERT(!f->dev.bars[0].mapped && !f->dev.bars[2].mapped, "still marked mapped");
}

static void test_bar_moves_when_reprogrammed(void **state)
{
	struct fixture *f = *state;
	const uint64_t to = W64_BASE + 0x100000;

	add_two_bars(f);
	cfg_write(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	f->ncalls = 0;
	cfg_write(f, BAR_REG(0), 4, 0xc0080000);
	TEST_ASSERT_EQ(f->ncalls, 2);
	assert_call(f, 0, 0, W32_BASE, false);
	assert_call(f, 1, 0, 0xc0080000, true);
	TEST_ASSERT(reaches(f, 0xc0080000, 0, 0), "BAR 0 not at its new address");
	TEST_ASSERT(!reaches(f, W32_BASE, 0, 0), "BAR 0 still at its old address");
	/* A 64-bit prefetchable BAR may live in mmio32 too. */
	cfg_write(f, BAR_REG(2), 4, 0xc0040000);
	cfg_write(f, BAR_REG(3), 4, 0);
	TEST_ASSERT(reaches(f, 0xc0040000, 2, 0), "BAR 2 not in mmio32");
	/* The byte-wise move of both halves ends at the final address. */
	for (unsigned i = 0; i < 8; i++)
		cfg_write(f, BAR_REG(2) + i, 1, (uint32_t)(to >> (8 * i)) & 0xff);
	TEST_ASSERT(reaches(f, to + 0x3ffc, 2, 0x3ffc), "BAR 2 not moved up");
	TEST_ASSERT_EQ(f->dev.bars[2].mapped_at, to);
	TEST_ASSERT_EQ(f->mmio.nranges, 2);
	assert_call(f, f->ncalls - 1, 2, to, true);
}

static void test_bar_overlap_stays_unmapped(void **state)
{
	struct fixture *f = *state;
	struct bar_dev other = { .id = 9 };
	uint32_t v;

	add_two_bars(f);
	TEST_ASSERT_EQ(bus_register(&f->mmio, 0xc0080000, 0x2000, &bar_ops, &other), 0);
	cfg_write(f, BAR_REG(0), 4, 0xc0081000);
	cfg_write(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	TEST_ASSERT(!f->dev.bars[0].mapped, "BAR 0 mapped over another range");
	TEST_ASSERT(f->dev.bars[2].mapped, "BAR 2 not mapped");
	TEST_ASSERT_EQ(f->ncalls, 1);
	assert_call(f, 0, 2, W64_BASE, true);
	/* The other range still gets its accesses. */
	TEST_ASSERT(bus_read(&f->mmio, 0xc0081000, &v, 4), "other range lost");
	TEST_ASSERT_EQ(other.reads, 1);
	TEST_ASSERT_EQ(other.offset, 0x1000);
	TEST_ASSERT_EQ(f->bars[0].reads, 0);
	/* Two BARs of the device over each other: the second one loses. */
	cfg_write(f, BAR_REG(0), 4, 0xc0040000);
	TEST_ASSERT(f->dev.bars[0].mapped, "BAR 0 not mapped at a free address");
	cfg_write(f, BAR_REG(3), 4, 0);
	cfg_write(f, BAR_REG(2), 4, 0xc0040000);
	TEST_ASSERT(!f->dev.bars[2].mapped, "BAR 2 mapped over BAR 0");
	TEST_ASSERT(reaches(f, 0xc0040000, 0, 0), "BAR 0 lost its range");
	/* Moving it away again maps it. */
	cfg_write(f, BAR_REG(2), 4, 0xc0044000);
	TEST_ASSERT(reaches(f, 0xc0044000, 2, 0), "BAR 2 not mapped once free");
}

static void test_bar_without_mmio_bus_never_maps(void **state)
{
	struct fixture *f = *state;

	pci_bus_set_windows(&f->bus, NULL, W32_BASE, W32_SIZE, W64_BASE, W64_SIZE);
	add_two_bars(f);
	cfg_write(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	TEST_ASSERT_EQ(f->ncalls, 0);
	TEST_ASSERT(!f->dev.bars[0].mapped, "BAR mapped without a bus");
}

/* ECAM on the same MMIO bus: a config write arrives with its lock already held. */
static void test_bar_mapped_through_ecam(void **state)
{
	struct fixture *f = *state;
	const uint64_t ecam = ECAM_GPA;
	uint16_t cmd = PCI_COMMAND_MEMORY;
	uint32_t v = 0;

	add_two_bars(f);
	TEST_ASSERT_EQ(bus_register(&f->mmio, ecam, PCI_ECAM_BUS_SIZE, &pci_ecam_bus_ops, &f->bus),
		       0);
	TEST_ASSERT(bus_write(&f->mmio, ecam + (DEVFN << 12) + PCI_COMMAND, &cmd, 2), "ECAM");
	TEST_ASSERT(reaches(f, W32_BASE, 0, 0), "BAR 0 not mapped through ECAM");
	v = 0xffffffff;
	TEST_ASSERT(bus_write(&f->mmio, ecam + (DEVFN << 12) + BAR_REG(0), &v, 4), "ECAM");
	TEST_ASSERT(bus_read(&f->mmio, ecam + (DEVFN << 12) + BAR_REG(0), &v, 4), "ECAM");
	TEST_ASSERT_EQ(v, 0xfffff000);
	TEST_ASSERT(!f->dev.bars[0].mapped, "BAR 0 mapped at its sizing pattern");
}

struct toggler {
	struct fixture *f;
	bool through_ecam;
	unsigned n;
};

/* Toggles memory decoding: through ECAM (a vCPU's MMIO exit) or mechanism #1 (port I/O). */
static void *toggle_decoding(void *arg)
{
	struct toggler *t = arg;
	uint32_t addr = 0x80000000u | DEVFN << 8 | PCI_COMMAND;

	for (unsigned i = 0; i < t->n; i++) {
		uint16_t cmd = i % 2 ? PCI_COMMAND_MEMORY : 0;
		uint32_t v = 0;

		if (t->through_ecam) {
			bus_write(&t->f->mmio, ECAM_GPA + (DEVFN << 12) + PCI_COMMAND, &cmd, 2);
			bus_read(&t->f->mmio, W32_BASE, &v, 4);
		} else {
			pci_conf1_bus_ops.write(&t->f->bus, 0, &addr, 4);
			pci_conf1_bus_ops.write(&t->f->bus, 4, &cmd, 2);
		}
	}
	return NULL;
}

/* Both config paths take the MMIO bus lock before the PCI bus lock: no deadlock. */
static void test_config_paths_share_lock_order(void **state)
{
	struct fixture *f = *state;
	struct toggler t[2] = { { f, true, 20000 }, { f, false, 20000 } };
	pthread_t threads[2];
	bool memory;

	add_two_bars(f);
	TEST_ASSERT_EQ(
		bus_register(&f->mmio, ECAM_GPA, PCI_ECAM_BUS_SIZE, &pci_ecam_bus_ops, &f->bus), 0);
	for (unsigned i = 0; i < 2; i++)
		TEST_ASSERT_EQ(pthread_create(&threads[i], NULL, toggle_decoding, &t[i]), 0);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	TEST_ASSERT(f->ncalls >= 4, "decoding toggled only %u times", f->ncalls);
	/* Whoever wrote last decides; the BARs agree with it. */
	memory = cfg_read(f, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY;
	TEST_ASSERT_EQ(f->dev.bars[0].mapped, memory);
	TEST_ASSERT_EQ(f->dev.bars[2].mapped, memory);
	TEST_ASSERT_EQ(f->mmio.nranges, memory ? 3 : 1);
	TEST_ASSERT(f->bus_locked_in_callback, "bar_mapped called without the bus lock");
}

/* ------------------------------------------------------ capabilities ---- */

static void test_add_cap_rejects_what_does_not_fit(void **state)
{
	struct fixture *f = *state;
	uint8_t cap[PCI_CONFIG_SIZE] = { 0x09 };

	TEST_ASSERT_EQ(pci_device_add_cap(&f->dev, cap, 0), -ENOSPC);
	TEST_ASSERT_EQ(pci_device_add_cap(&f->dev, cap, 1), -ENOSPC);
	TEST_ASSERT_EQ(pci_device_add_cap(&f->dev, cap, PCI_CONFIG_SIZE - PCI_CAP_FIRST + 1),
		       -ENOSPC);
	TEST_ASSERT_EQ(pci_device_add_cap(&f->dev, cap, 100000), -ENOSPC);
	/* Nothing changed: no list yet. */
	TEST_ASSERT_EQ(f->dev.config[PCI_STATUS] & PCI_STATUS_CAP_LIST, 0);
	TEST_ASSERT_EQ(f->dev.config[PCI_CAPABILITY_LIST], 0);
	/* Exactly the rest of config space fits, and then nothing more. */
	TEST_ASSERT_EQ(pci_device_add_cap(&f->dev, cap, PCI_CONFIG_SIZE - PCI_CAP_FIRST),
		       PCI_CAP_FIRST);
	TEST_ASSERT_EQ(pci_device_add_cap(&f->dev, cap, 2), -ENOSPC);
	TEST_ASSERT_EQ(f->dev.config[PCI_CAP_FIRST + 1], 0);
}

static void test_add_cap_builds_list(void **state)
{
	struct fixture *f = *state;
	const uint8_t a[5] = { 0x09, 0xee, 0x05, 0x11, 0x22 }; /* next pointer junk: ignored */
	const uint8_t b[16] = { 0x11, 0x77, 0x03 };
	const uint8_t c[2] = { 0x05, 0x00 };
	unsigned seen = 0, ptr;
	int off[3];

	off[0] = pci_device_add_cap(&f->dev, a, sizeof(a));
	off[1] = pci_device_add_cap(&f->dev, b, sizeof(b));
	off[2] = pci_device_add_cap(&f->dev, c, sizeof(c));
	TEST_ASSERT_EQ(off[0], 0x40);
	TEST_ASSERT_EQ(off[1], 0x48); /* 0x45 rounded up to a dword */
	TEST_ASSERT_EQ(off[2], 0x58);
	TEST_ASSERT_EQ(pci_bus_add(&f->bus, SLOT, &f->dev), 0);
	TEST_ASSERT_EQ(cfg_read(f, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, PCI_STATUS_CAP_LIST);
	/* Walk it as a guest does; the guest cannot change it. */
	cfg_write(f, PCI_CAPABILITY_LIST, 1, 0x80);
	cfg_write(f, 0x48, 4, 0xffffffff);
	cfg_write(f, PCI_STATUS, 2, 0);
	TEST_ASSERT_EQ(cfg_read(f, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, PCI_STATUS_CAP_LIST);
	for (ptr = cfg_read(f, PCI_CAPABILITY_LIST, 1); ptr; ptr = cfg_read(f, ptr + 1, 1)) {
		TEST_ASSERT(seen < 3, "list longer than 3");
		TEST_ASSERT_EQ(ptr, off[seen]);
		TEST_ASSERT_EQ(ptr & 3, 0);
		seen++;
	}
	TEST_ASSERT_EQ(seen, 3);
	TEST_ASSERT_EQ(cfg_read(f, 0x40, 1), 0x09);
	TEST_ASSERT_EQ(cfg_read(f, 0x42, 2), 0x1105);
	TEST_ASSERT_EQ(cfg_read(f, 0x44, 1), 0x22);
	TEST_ASSERT_EQ(cfg_read(f, 0x48, 4), 0x00035811);
	TEST_ASSERT_EQ(cfg_read(f, 0x58, 2), 0x0005);
}

static void test_add_cap_fills_config_space(void **state)
{
	struct fixture *f = *state;
	const uint8_t cap[6] = { 0x09 };
	unsigned n = 0;
	int off;

	/* 6 bytes each, dword aligned: 8 per capability, 24 fit in [0x40, 0x100). */
	while ((off = pci_device_add_cap(&f->dev, cap, sizeof(cap))) >= 0) {
		TEST_ASSERT_EQ(off, PCI_CAP_FIRST + 8 * n);
		n++;
		TEST_ASSERT(n <= 24, "more capabilities than fit");
	}
	TEST_ASSERT_EQ(off, -ENOSPC);
	TEST_ASSERT_EQ(n, 24);
	TEST_ASSERT_EQ(f->dev.config[0xf8 + 1], 0);
	TEST_ASSERT_EQ(f->dev.config[0xf0 + 1], 0xf8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_bar_rejects_bad_index_and_size, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_set_bar_64bit_takes_two_registers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bus_add_full_window_is_enospc, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bar_outside_windows_stays_unmapped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bar_overlap_stays_unmapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_without_mmio_bus_never_maps, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_add_cap_rejects_what_does_not_fit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bus_add_places_bars_naturally_aligned, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bus_add_without_mmio64_uses_mmio32, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_maps_only_while_memory_decoding, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bar_moves_when_reprogrammed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_mapped_through_ecam, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_paths_share_lock_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_add_cap_builds_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_cap_fills_config_space, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

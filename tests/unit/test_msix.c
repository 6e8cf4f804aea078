/* Unit tests for devices/pci/msix.c: the capability, the vector table, masking, PBA and routes. */
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "devices/pci/msix.h"
#include "fake_platform.h"

#define SLOT	  2
#define DEVFN	  (SLOT << 3)
#define NVEC	  4
#define BIR	  2
#define TABLE_OFF 0x1000
#define PBA_OFF	  0x1800

#define CTRL_ENABLE 0x8000
#define CTRL_MASK   0x4000
#define MSG_ADDR    0xfee00000u

struct fixture {
	struct fake_platform plat;
	struct pci_bus bus;
	struct pci_device dev;
	struct msix msix;
	bool msix_ready;
};

static void forward_config(struct pci_device *dev, unsigned offset, unsigned len)
{
	struct fixture *f = dev->opaque;

	if (f->msix_ready)
		msix_config_written(&f->msix, offset, len);
}

static const struct pci_device_ops msix_dev_ops = { .config_written = forward_config };

static int setup_bare(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	fake_platform_init(&f->plat);
	pci_bus_init(&f->bus);
	pci_device_init(&f->dev, 0x1af4, 0x1041, 0x020000, 1);
	f->dev.ops = &msix_dev_ops;
	f->dev.opaque = f;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	struct fixture *f;

	if (setup_bare(state))
		return -1;
	f = *state;
	if (msix_init(&f->msix, &f->dev, &f->plat.ops, NVEC, BIR, TABLE_OFF, PBA_OFF))
		return -1;
	f->msix_ready = true;
	return pci_bus_add(&f->bus, SLOT, &f->dev) ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->msix_ready)
		msix_destroy(&f->msix);
	pthread_mutex_destroy(&f->bus.lock);
	free(f);
	return 0;
}

/* --- the test plays the guest --- */

static void ctrl_write(struct fixture *f, uint16_t ctrl)
{
	pci_config_write(&f->bus, DEVFN, f->msix.cap + 2, 2, ctrl);
}

static uint32_t table_read(struct fixture *f, uint64_t offset, unsigned len)
{
	uint32_t v[2] = { 0, 0 };

	msix_table_read(&f->msix, offset, v, len);
	return v[0];
}

static void table_write(struct fixture *f, uint64_t offset, unsigned len, uint64_t value)
{
	msix_table_write(&f->msix, offset, &value, len);
}

static void entry_write(struct fixture *f, unsigned v, unsigned word, uint32_t value)
{
	table_write(f, 16ULL * v + 4 * word, 4, value);
}

static void program(struct fixture *f, unsigned v, uint32_t data)
{
	entry_write(f, v, 0, MSG_ADDR);
	entry_write(f, v, 1, 0);
	entry_write(f, v, 2, data);
}

static void set_masked(struct fixture *f, unsigned v, bool masked)
{
	entry_write(f, v, 3, masked);
}

static uint64_t pba(struct fixture *f)
{
	uint64_t v = 0;

	msix_pba_read(&f->msix, 0, &v, 8);
	return v;
}

static uint64_t fired(struct fixture *f, unsigned v)
{
	return eventfd_take(f->msix.vec[v].fd);
}

static unsigned routes(struct fixture *f, unsigned v)
{
	return fake_route_count(&f->plat, (unsigned)f->msix.vec[v].gsi);
}

/* Vector v programmed and unmasked, MSI-X enabled and not function-masked. */
static void make_deliverable(struct fixture *f, unsigned v)
{
	program(f, v, 0x40 + v);
	set_masked(f, v, false);
	ctrl_write(f, CTRL_ENABLE);
}

/* ------------------------------------------------------------- init ---- */

static void test_init_rejects_bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct msix m;

	TEST_ASSERT_EQ(msix_init(&m, &f->dev, &f->plat.ops, 0, BIR, 0, 0x800), -EINVAL);
	TEST_ASSERT_EQ(msix_init(&m, &f->dev, &f->plat.ops, MSIX_MAX_VECTORS + 1, BIR, 0, 0x800),
		       -EINVAL);
	TEST_ASSERT_EQ(msix_init(&m, &f->dev, &f->plat.ops, NVEC, PCI_NUM_BARS, 0, 0x800), -EINVAL);
	/* PCI 3.0 §6.8.2.4: the BIR takes the offsets' low 3 bits. */
	TEST_ASSERT_EQ(msix_init(&m, &f->dev, &f->plat.ops, NVEC, BIR, 4, 0x800), -EINVAL);
	TEST_ASSERT_EQ(msix_init(&m, &f->dev, &f->plat.ops, NVEC, BIR, 0, 0x801), -EINVAL);
	TEST_ASSERT_EQ(f->plat.gsi_allocs, 0);
	TEST_ASSERT_EQ(f->dev.config[PCI_CAPABILITY_LIST], 0);
}

static void test_init_platform_failures(void **state)
{
	struct fixture *f = *state;

	f->plat.gsi_alloc_error = -ENOSPC;
	TEST_ASSERT_EQ(msix_init(&f->msix, &f->dev, &f->plat.ops, NVEC, BIR, 0, 0x800), -ENOSPC);
	msix_destroy(&f->msix);
	f->plat.gsi_alloc_error = 0;
	f->plat.irqfd_error = -EBADF;
	TEST_ASSERT_EQ(msix_init(&f->msix, &f->dev, &f->plat.ops, NVEC, BIR, 0, 0x800), -EBADF);
	msix_destroy(&f->msix);
}

static void test_init_binds_one_irqfd_per_vector(void **state)
{
	struct fixture *f = *state;

	TEST_ASSERT_EQ(f->plat.gsi_allocs, NVEC);
	TEST_ASSERT_EQ(f->plat.irqfds_assigned, NVEC);
	TEST_ASSERT_EQ(f->plat.routes, 0); /* routes wait for the guest's messages */
	for (unsigned v = 0; v < NVEC; v++) {
		TEST_ASSERT_EQ(f->msix.vec[v].gsi, FAKE_FIRST_GSI + v);
		TEST_ASSERT(f->msix.vec[v].fd >= 0, "vector %u has no eventfd", v);
		TEST_ASSERT_EQ(f->plat.irqfd_of[f->msix.vec[v].gsi], f->msix.vec[v].fd);
		TEST_ASSERT(fcntl(f->msix.vec[v].fd, F_GETFL) & O_NONBLOCK, "blocking eventfd");
	}
}

static void test_cap_layout(void **state)
{
	struct fixture *f = *state;
	unsigned cap = f->msix.cap;

	TEST_ASSERT_EQ(cap & 3, 0);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, PCI_CAPABILITY_LIST, 1), cap);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST,
		       PCI_STATUS_CAP_LIST);
	/* PCI 3.0 §6.8.2: ID 0x11, Message Control (table size N-1), table and PBA dwords. */
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, cap, 1), 0x11);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, cap + 1, 1), 0);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, cap + 2, 2), NVEC - 1);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, cap + 4, 4), TABLE_OFF | BIR);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, cap + 8, 4), PBA_OFF | BIR);
	/* Only enable and function mask are the guest's to change. */
	pci_config_write(&f->bus, DEVFN, cap, 4, 0xffffffff);
	pci_config_write(&f->bus, DEVFN, cap + 4, 4, 0xffffffff);
	pci_config_write(&f->bus, DEVFN, cap + 8, 4, 0xffffffff);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, cap, 4),
		       (0xc000u | (NVEC - 1)) << 16 | 0x11);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, cap + 4, 4), TABLE_OFF | BIR);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, cap + 8, 4), PBA_OFF | BIR);
	TEST_ASSERT(f->msix.enabled && f->msix.masked, "enable and mask not seen");
}

static void test_cap_table_size_of_64_vectors(void **state)
{
	struct fixture *f = *state;
	struct pci_device dev;
	struct msix m;

	pci_device_init(&dev, 1, 2, 0, 0);
	TEST_ASSERT_EQ(msix_init(&m, &dev, &f->plat.ops, MSIX_MAX_VECTORS, 0, 0, 0x400), 0);
	TEST_ASSERT_EQ(dev.config[m.cap + 2] | dev.config[m.cap + 3] << 8, MSIX_MAX_VECTORS - 1);
	TEST_ASSERT_EQ(dev.config[m.cap + 8] | dev.config[m.cap + 9] << 8, 0x400);
	/* The PBA's upper dword holds vectors 32-63. */
	msix_notify(&m, 40);
	{
		uint32_t hi = 0, lo = 0;

		msix_pba_read(&m, 4, &hi, 4);
		msix_pba_read(&m, 0, &lo, 4);
		TEST_ASSERT_EQ(hi, 1u << 8);
		TEST_ASSERT_EQ(lo, 0);
	}
	msix_destroy(&m);
}

/* ------------------------------------------------------------ table ---- */

static void test_table_ignores_bad_accesses(void **state)
{
	struct fixture *f = *state;
	uint8_t bytes[8];

	program(f, 0, 0x1234);
	/* Reads: only naturally aligned dwords and qwords inside the table. */
	TEST_ASSERT_EQ(table_read(f, 8, 1) & 0xff, 0xff);
	TEST_ASSERT_EQ(table_read(f, 8, 2) & 0xffff, 0xffff);
	TEST_ASSERT_EQ(table_read(f, 9, 4), 0xffffffff);
	TEST_ASSERT_EQ(table_read(f, 4, 8), 0xffffffff);
	TEST_ASSERT_EQ(table_read(f, MSIX_TABLE_SIZE(NVEC), 4), 0xffffffff);
	TEST_ASSERT_EQ(table_read(f, MSIX_TABLE_SIZE(NVEC) - 4, 8), 0xffffffff);
	memset(bytes, 0, sizeof(bytes));
	msix_table_read(&f->msix, 8, bytes, 3);
	TEST_ASSERT_EQ(bytes[0] & bytes[1] & bytes[2], 0xff);
	TEST_ASSERT_EQ(bytes[3], 0);
	/* Writes of the same kinds are dropped. */
	table_write(f, 8, 1, 0x55);
	table_write(f, 8, 2, 0x5555);
	table_write(f, 10, 4, 0x55555555);
	table_write(f, 4, 8, 0x5555555555555555);
	table_write(f, 12, 1, 0);
	table_write(f, MSIX_TABLE_SIZE(NVEC), 4, 0);
	table_write(f, MSIX_TABLE_SIZE(NVEC) - 4, 8, 0);
	TEST_ASSERT_EQ(table_read(f, 8, 4), 0x1234);
	TEST_ASSERT_EQ(table_read(f, MSIX_TABLE_SIZE(NVEC) - 4, 4), 1); /* last entry masked */
	TEST_ASSERT_EQ(table_read(f, 12, 4), 1);
}

static void test_table_write_and_read_back(void **state)
{
	struct fixture *f = *state;
	uint64_t q = 0;

	/* Power-on: every entry masked, message 0. */
	for (unsigned v = 0; v < NVEC; v++) {
		TEST_ASSERT_EQ(table_read(f, 16 * v, 4), 0);
		TEST_ASSERT_EQ(table_read(f, 16 * v + 4, 4), 0);
		TEST_ASSERT_EQ(table_read(f, 16 * v + 8, 4), 0);
		TEST_ASSERT_EQ(table_read(f, 16 * v + 12, 4), 1);
	}
	/* Qword writes and reads of the address, and of data + control. */
	table_write(f, 16, 8, 0x00000001fee01004);
	table_write(f, 24, 8, 0x0000000000004055);
	msix_table_read(&f->msix, 16, &q, 8);
	TEST_ASSERT_EQ(q, 0x00000001fee01004);
	msix_table_read(&f->msix, 24, &q, 8);
	TEST_ASSERT_EQ(q, 0x0000000000004055); /* unmasked */
	/* PCI 3.0 §6.8.2.6/.9: address bits 1:0 and control bits 31:1 read 0. */
	entry_write(f, 2, 0, 0xfee00003);
	entry_write(f, 2, 3, 0xfffffffe);
	TEST_ASSERT_EQ(table_read(f, 32, 4), 0xfee00000);
	TEST_ASSERT_EQ(table_read(f, 44, 4), 0);
	entry_write(f, 2, 3, 0xffffffff);
	TEST_ASSERT_EQ(table_read(f, 44, 4), 1);
	/* Other entries untouched. */
	TEST_ASSERT_EQ(table_read(f, 0, 4), 0);
	TEST_ASSERT_EQ(table_read(f, 12, 4), 1);
}

/* --------------------------------------------------------- delivery ---- */

static void test_notify_ignores_bad_vectors(void **state)
{
	struct fixture *f = *state;
	static const unsigned bad[] = { NVEC, MSIX_MAX_VECTORS, MSIX_NO_VECTOR, 0x10000, ~0u };

	for (unsigned v = 0; v < NVEC; v++)
		make_deliverable(f, v);
	for (unsigned i = 0; i < ARRAY_LEN(bad); i++)
		msix_notify(&f->msix, bad[i]);
	ctrl_write(f, 0);
	for (unsigned i = 0; i < ARRAY_LEN(bad); i++)
		msix_notify(&f->msix, bad[i]);
	TEST_ASSERT_EQ(pba(f), 0);
	for (unsigned v = 0; v < NVEC; v++)
		TEST_ASSERT_EQ(fired(f, v), 0);
	TEST_ASSERT_EQ(f->plat.routes, 0);
}

static void test_vector_waits_while_disabled(void **state)
{
	struct fixture *f = *state;

	program(f, 1, 0x41);
	set_masked(f, 1, false);
	msix_notify(&f->msix, 1);
	msix_notify(&f->msix, 1);
	TEST_ASSERT_EQ(fired(f, 1), 0);
	TEST_ASSERT_EQ(pba(f), 1u << 1);
	/* Enabled but function-masked: still pending. */
	ctrl_write(f, CTRL_ENABLE | CTRL_MASK);
	TEST_ASSERT_EQ(fired(f, 1), 0);
	TEST_ASSERT_EQ(pba(f), 1u << 1);
	/* Function unmask delivers it, once. */
	ctrl_write(f, CTRL_ENABLE);
	TEST_ASSERT_EQ(fired(f, 1), 1);
	TEST_ASSERT_EQ(pba(f), 0);
	TEST_ASSERT_EQ(f->plat.route[f->msix.vec[1].gsi].addr, MSG_ADDR);
	TEST_ASSERT_EQ(f->plat.route[f->msix.vec[1].gsi].data, 0x41);
	/* Now it goes straight through. */
	msix_notify(&f->msix, 1);
	TEST_ASSERT_EQ(fired(f, 1), 1);
	TEST_ASSERT_EQ(pba(f), 0);
	/* Disabling again holds it back until enabled. */
	ctrl_write(f, 0);
	msix_notify(&f->msix, 1);
	TEST_ASSERT_EQ(fired(f, 1), 0);
	TEST_ASSERT_EQ(pba(f), 1u << 1);
	ctrl_write(f, CTRL_ENABLE);
	TEST_ASSERT_EQ(fired(f, 1), 1);
	TEST_ASSERT_EQ(pba(f), 0);
}

static void test_vector_waits_while_entry_masked(void **state)
{
	struct fixture *f = *state;

	program(f, 0, 0x40);
	program(f, 3, 0x43);
	ctrl_write(f, CTRL_ENABLE);
	msix_notify(&f->msix, 0);
	msix_notify(&f->msix, 3);
	TEST_ASSERT_EQ(fired(f, 0), 0);
	TEST_ASSERT_EQ(fired(f, 3), 0);
	TEST_ASSERT_EQ(pba(f), 0x9);
	/* Unmasking entry 3 delivers 3 only. */
	set_masked(f, 3, false);
	TEST_ASSERT_EQ(fired(f, 3), 1);
	TEST_ASSERT_EQ(fired(f, 0), 0);
	TEST_ASSERT_EQ(pba(f), 0x1);
	/* A write to another word of a masked entry delivers nothing. */
	entry_write(f, 0, 2, 0x50);
	TEST_ASSERT_EQ(fired(f, 0), 0);
	TEST_ASSERT_EQ(pba(f), 0x1);
	/* Enabling when already enabled delivers nothing either. */
	ctrl_write(f, CTRL_ENABLE);
	TEST_ASSERT_EQ(fired(f, 0), 0);
	/* Unmasking it with a qword write of data + control does. */
	table_write(f, 8, 8, 0x50);
	TEST_ASSERT_EQ(fired(f, 0), 1);
	TEST_ASSERT_EQ(f->plat.route[f->msix.vec[0].gsi].data, 0x50);
	TEST_ASSERT_EQ(pba(f), 0);
	/* Masked again: pending again. */
	set_masked(f, 3, true);
	msix_notify(&f->msix, 3);
	TEST_ASSERT_EQ(fired(f, 3), 0);
	TEST_ASSERT_EQ(pba(f), 0x8);
}

static void test_route_pushed_only_when_changed(void **state)
{
	struct fixture *f = *state;

	make_deliverable(f, 2);
	TEST_ASSERT_EQ(routes(f, 2), 0); /* lazily: not at write time */
	msix_notify(&f->msix, 2);
	TEST_ASSERT_EQ(routes(f, 2), 1);
	msix_notify(&f->msix, 2);
	msix_notify(&f->msix, 2);
	TEST_ASSERT_EQ(routes(f, 2), 1);
	TEST_ASSERT_EQ(fired(f, 2), 3);
	/* Rewriting the same message (as Linux does on every affinity change). */
	program(f, 2, 0x42);
	msix_notify(&f->msix, 2);
	TEST_ASSERT_EQ(routes(f, 2), 1);
	/* The same address with its read-only low bits set is the same address. */
	entry_write(f, 2, 0, MSG_ADDR | 3);
	msix_notify(&f->msix, 2);
	TEST_ASSERT_EQ(routes(f, 2), 1);
	/* Several changes, one push at the next delivery, with the last values. */
	entry_write(f, 2, 2, 0x99);
	entry_write(f, 2, 1, 0x1);
	entry_write(f, 2, 2, 0x77);
	TEST_ASSERT_EQ(routes(f, 2), 1);
	msix_notify(&f->msix, 2);
	TEST_ASSERT_EQ(routes(f, 2), 2);
	TEST_ASSERT_EQ(f->plat.route[f->msix.vec[2].gsi].addr, 0x1ULL << 32 | MSG_ADDR);
	TEST_ASSERT_EQ(f->plat.route[f->msix.vec[2].gsi].data, 0x77);
	TEST_ASSERT_EQ(fired(f, 2), 3);
	/* Other vectors were never routed. */
	TEST_ASSERT_EQ(f->plat.routes, 2);
}

static void test_route_failure_retried(void **state)
{
	struct fixture *f = *state;

	make_deliverable(f, 0);
	f->plat.msi_route_error = -ENOMEM;
	msix_notify(&f->msix, 0);
	/* Not raised with a stale route. */
	TEST_ASSERT_EQ(fired(f, 0), 0);
	f->plat.msi_route_error = 0;
	msix_notify(&f->msix, 0);
	TEST_ASSERT_EQ(routes(f, 0), 1);
	TEST_ASSERT_EQ(fired(f, 0), 1);
}

static void test_reset(void **state)
{
	struct fixture *f = *state;
	unsigned cap = f->msix.cap;

	for (unsigned v = 0; v < NVEC; v++)
		make_deliverable(f, v);
	ctrl_write(f, CTRL_ENABLE | CTRL_MASK);
	msix_notify(&f->msix, 0);
	msix_notify(&f->msix, 3);
	TEST_ASSERT_EQ(pba(f), 0x9);
	msix_reset(&f->msix);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, cap + 2, 2), NVEC - 1);
	TEST_ASSERT(!f->msix.enabled && !f->msix.masked, "still enabled or masked");
	TEST_ASSERT_EQ(pba(f), 0);
	for (unsigned v = 0; v < NVEC; v++) {
		TEST_ASSERT_EQ(table_read(f, 16 * v, 4), 0);
		TEST_ASSERT_EQ(table_read(f, 16 * v + 8, 4), 0);
		TEST_ASSERT_EQ(table_read(f, 16 * v + 12, 4), 1);
		TEST_ASSERT_EQ(fired(f, v), 0);
	}
	/* Nothing leaks out of a reset: enabling without unmasking fires nothing. */
	ctrl_write(f, CTRL_ENABLE);
	for (unsigned v = 0; v < NVEC; v++)
		TEST_ASSERT_EQ(fired(f, v), 0);
	/* The driver programs the same message again: it is delivered right. */
	make_deliverable(f, 3);
	msix_notify(&f->msix, 3);
	TEST_ASSERT_EQ(fired(f, 3), 1);
	TEST_ASSERT_EQ(f->plat.route[f->msix.vec[3].gsi].addr, MSG_ADDR);
	TEST_ASSERT_EQ(f->plat.route[f->msix.vec[3].gsi].data, 0x43);
}

static void test_pba_reads(void **state)
{
	struct fixture *f = *state;
	uint64_t v;

	msix_notify(&f->msix, 0);
	msix_notify(&f->msix, 2);
	v = 0;
	msix_pba_read(&f->msix, 0, &v, 4);
	TEST_ASSERT_EQ(v, 0x5);
	v = 0;
	msix_pba_read(&f->msix, 4, &v, 4);
	TEST_ASSERT_EQ(v, 0);
	/* Odd sizes, misaligned and past the PBA: 0. */
	v = ~0ULL;
	msix_pba_read(&f->msix, 0, &v, 2);
	TEST_ASSERT_EQ(v & 0xffff, 0);
	v = ~0ULL;
	msix_pba_read(&f->msix, 2, &v, 4);
	TEST_ASSERT_EQ(v & 0xffffffff, 0);
	v = ~0ULL;
	msix_pba_read(&f->msix, 8, &v, 8);
	TEST_ASSERT_EQ(v, 0);
	/* Config writes elsewhere change nothing. */
	pci_config_write(&f->bus, DEVFN, PCI_COMMAND, 2, 0x0006);
	pci_config_write(&f->bus, DEVFN, f->msix.cap, 2, 0xffff);
	TEST_ASSERT(!f->msix.enabled, "enabled by a write below Message Control");
	/* A byte write of Message Control's upper half does enable. */
	pci_config_write(&f->bus, DEVFN, f->msix.cap + 3, 1, CTRL_ENABLE >> 8);
	TEST_ASSERT(f->msix.enabled, "not enabled by a byte write");
	TEST_ASSERT_EQ(pba(f), 0x5); /* still masked entries */
}

/* --------------------------------------------------------- threads ---- */

struct notifier {
	struct msix *msix;
	unsigned n;
};

static void *notify_thread(void *arg)
{
	struct notifier *t = arg;

	for (unsigned i = 0; i < t->n; i++)
		msix_notify(t->msix, 1);
	return NULL;
}

/* An I/O thread raising a vector while the guest toggles its mask: none is lost. */
static void test_notify_races_with_masking(void **state)
{
	struct fixture *f = *state;
	struct notifier t = { &f->msix, 20000 };
	pthread_t thread;
	uint64_t total = 0;

	make_deliverable(f, 1);
	TEST_ASSERT_EQ(pthread_create(&thread, NULL, notify_thread, &t), 0);
	for (unsigned i = 0; i < 2000; i++) {
		set_masked(f, 1, i % 2 == 0);
		total += fired(f, 1);
	}
	pthread_join(thread, NULL);
	set_masked(f, 1, false);
	total += fired(f, 1);
	TEST_ASSERT_EQ(pba(f), 0);
	/* The last notification came after the last unmask or was pending at it. */
	TEST_ASSERT(total >= 1 && total <= t.n, "%" PRIu64 " deliveries", total);
	TEST_ASSERT_EQ(routes(f, 1), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_rejects_bad_arguments, setup_bare,
						teardown),
		cmocka_unit_test_setup_teardown(test_init_platform_failures, setup_bare, teardown),
		cmocka_unit_test_setup_teardown(test_table_ignores_bad_accesses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_ignores_bad_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_failure_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_binds_one_irqfd_per_vector, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cap_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_table_size_of_64_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_write_and_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vector_waits_while_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vector_waits_while_entry_masked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_route_pushed_only_when_changed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pba_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_races_with_masking, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

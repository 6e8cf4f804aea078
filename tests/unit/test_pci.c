/* Unit tests for devices/pci/pci.c: config space rules, mechanism #1, ECAM. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/pci/pci.h"

struct fixture {
	struct pci_bus bus;
	struct pci_device bridge;
	unsigned writes;
};

static void count_write(struct pci_device *dev, unsigned offset, unsigned len)
{
	struct fixture *f = dev->opaque;

	(void)offset;
	(void)len;
	f->writes++;
}

static const struct pci_device_ops counting_ops = { .config_written = count_write };

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	pci_bus_init(&f.bus);
	pci_device_init(&f.bridge, 0x1b36, 0x0008, 0x060000, 1);
	f.bridge.ops = &counting_ops;
	f.bridge.opaque = &f;
	assert_int_equal(pci_bus_add(&f.bus, 0, &f.bridge), 0);
	*state = &f;
	return 0;
}

static uint32_t port_in(struct fixture *f, unsigned port, unsigned len)
{
	uint32_t v = 0;

	pci_conf1_bus_ops.read(&f->bus, port - 0xcf8, &v, len);
	return v;
}

static void port_out(struct fixture *f, unsigned port, unsigned len, uint32_t v)
{
	pci_conf1_bus_ops.write(&f->bus, port - 0xcf8, &v, len);
}

/* Linux's pci_check_type1() and then its type 2 check must find only type 1. */
static void test_linux_type1_probe(void **state)
{
	struct fixture *f = *state;

	port_out(f, 0xcfb, 1, 0x01); /* a byte at 0xcfb: mechanism #2, ignored */
	port_out(f, 0xcf8, 4, 0x80000000);
	assert_int_equal(port_in(f, 0xcf8, 4), 0x80000000);
	assert_int_not_equal(port_in(f, 0xcf8, 1) & 0xff, 0); /* no type 2 */
	assert_int_not_equal(port_in(f, 0xcfa, 1) & 0xff, 0);
}

static void test_conf1_reads_header(void **state)
{
	struct fixture *f = *state;

	port_out(f, 0xcf8, 4, 0x80000000);
	assert_int_equal(port_in(f, 0xcfc, 4), 0x00081b36);
	assert_int_equal(port_in(f, 0xcfe, 2), 0x0008);
	port_out(f, 0xcf8, 4, 0x80000008);
	assert_int_equal(port_in(f, 0xcfc, 4), 0x06000001); /* class, revision */
	assert_int_equal(port_in(f, 0xcfd, 1), 0x00);
	assert_int_equal(port_in(f, 0xcff, 1), 0x06);
	/* Disabled, other bus, other slot, other function: all ones. */
	port_out(f, 0xcf8, 4, 0x00000000);
	assert_int_equal(port_in(f, 0xcfc, 4), 0xffffffff);
	port_out(f, 0xcf8, 4, 0x80010000);
	assert_int_equal(port_in(f, 0xcfc, 4), 0xffffffff);
	port_out(f, 0xcf8, 4, 0x80000800);
	assert_int_equal(port_in(f, 0xcfc, 4), 0xffffffff);
	port_out(f, 0xcf8, 4, 0x80000100);
	assert_int_equal(port_in(f, 0xcfc, 2), 0xffff);
}

static void test_writes_respect_mask(void **state)
{
	struct fixture *f = *state;

	pci_config_write(&f->bus, 0, PCI_VENDOR_ID, 4, 0xdeadbeef);
	assert_int_equal(pci_config_read(&f->bus, 0, PCI_VENDOR_ID, 4), 0x00081b36);
	pci_config_write(&f->bus, 0, PCI_COMMAND, 2, 0xffff);
	assert_int_equal(pci_config_read(&f->bus, 0, PCI_COMMAND, 2), 0x0547);
	pci_config_write(&f->bus, 0, 0x3c, 1, 0x0b);
	assert_int_equal(pci_config_read(&f->bus, 0, 0x3c, 1), 0x0b);
	assert_int_equal(f->writes, 3);
	/* Misaligned or odd-sized accesses are dropped and read all ones. */
	pci_config_write(&f->bus, 0, 0x3d, 2, 0xffff);
	pci_config_write(&f->bus, 0, 0x3c, 3, 0xffffff);
	assert_int_equal(f->writes, 3);
	assert_int_equal(pci_config_read(&f->bus, 0, 0x3d, 2), 0xffffffff);
	assert_int_equal(pci_config_read(&f->bus, 0, 0x3c, 1), 0x0b);
}

static void test_ecam(void **state)
{
	struct fixture *f = *state;
	uint32_t v = 0;

	pci_ecam_bus_ops.read(&f->bus, 0x0, &v, 4);
	assert_int_equal(v, 0x00081b36);
	pci_ecam_bus_ops.read(&f->bus, 0x100, &v, 4); /* extended space: absent */
	assert_int_equal(v, 0);
	pci_ecam_bus_ops.read(&f->bus, 0x8000, &v, 4); /* slot 1: empty */
	assert_int_equal(v, 0xffffffff);
	pci_ecam_bus_ops.read(&f->bus, 0x1000, &v, 2); /* function 1 */
	assert_int_equal(v & 0xffff, 0xffff);
	pci_ecam_bus_ops.read(&f->bus, PCI_ECAM_BUS_SIZE, &v, 4); /* past bus 0 */
	assert_int_equal(v, 0xffffffff);
	v = 0x0006;
	pci_ecam_bus_ops.write(&f->bus, PCI_COMMAND, &v, 2);
	assert_int_equal(pci_config_read(&f->bus, 0, PCI_COMMAND, 2), 0x0006);
	v = 0xffffffff;
	pci_ecam_bus_ops.write(&f->bus, 0xfff, &v, 1); /* beyond the stored space */
	pci_ecam_bus_ops.read(&f->bus, 0xffc, &v, 4);
	assert_int_equal(v, 0);
}

static void test_bus_add(void **state)
{
	struct fixture *f = *state;
	struct pci_device other;

	pci_device_init(&other, 1, 2, 0, 0);
	assert_int_equal(pci_bus_add(&f->bus, 0, &other), -EBUSY);
	assert_int_equal(pci_bus_add(&f->bus, PCI_SLOTS, &other), -EINVAL);
	assert_int_equal(pci_bus_add(&f->bus, 31, &other), 0);
	assert_int_equal(pci_config_read(&f->bus, 31 << 3, 0, 4), 0x00020001);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_linux_type1_probe, setup),
		cmocka_unit_test_setup(test_conf1_reads_header, setup),
		cmocka_unit_test_setup(test_writes_respect_mask, setup),
		cmocka_unit_test_setup(test_ecam, setup),
		cmocka_unit_test_setup(test_bus_add, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

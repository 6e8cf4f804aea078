/* Unit tests for devices/virtio/pci.c and virtio.c: the test plays a virtio 1.x PCI driver. */
#include "virtio_driver.h"

/* ----------------------------------------------------- hostile first ---- */

static void test_init_rejects_bad_devices(void **state)
{
	struct fixture *f = *state;
	struct virtio_pci *vp = calloc(1, sizeof(*vp));
	struct fake_dev *d = calloc(1, sizeof(*d));

	TEST_ASSERT(vp && d, "calloc");
	fake_dev_init(d, 0, CONFIG_SIZE);
	TEST_ASSERT_EQ(virtio_pci_init(vp, &d->vdev, &f->plat.ops, &f->mem, "t"), -EINVAL);
	fake_dev_init(d, VIRTIO_MAX_QUEUES + 1, CONFIG_SIZE);
	TEST_ASSERT_EQ(virtio_pci_init(vp, &d->vdev, &f->plat.ops, &f->mem, "t"), -EINVAL);
	fake_dev_init(d, 1, 0x1001);
	TEST_ASSERT_EQ(virtio_pci_init(vp, &d->vdev, &f->plat.ops, &f->mem, "t"), -EINVAL);
	/* Without device config there is no DEVICE_CFG capability. */
	fake_dev_init(d, 1, 0);
	TEST_ASSERT_EQ(virtio_pci_init(vp, &d->vdev, &f->plat.ops, &f->mem, "t"), 0);
	{
		unsigned types[8], n = 0;

		for (unsigned p = vp->pci.config[PCI_CAPABILITY_LIST]; p && n < 8;
		     p = vp->pci.config[p + 1]) {
			if (vp->pci.config[p] == 0x09)
				types[n++] = vp->pci.config[p + 3];
		}
		TEST_ASSERT_EQ(n, 4);
		TEST_ASSERT(types[0] == 1 && types[1] == 3 && types[2] == 2 && types[3] == 5,
			    "cfg_type order");
	}
	virtio_pci_destroy(vp);
	free(vp);
	free(d);
}

static void test_common_cfg_ignores_bad_accesses(void **state)
{
	struct fixture *f = *state;

	cc_write(f, DFSELECT, 2, 1); /* 32-bit field */
	cc_write(f, DFSELECT, 1, 1);
	cc_write(f, Q_SELECT, 4, 1); /* 16-bit field */
	cc_write(f, Q_SELECT, 1, 1);
	cc_write(f, STATUS, 2, S_ACK); /* 8-bit field */
	cc_write(f, STATUS, 4, S_ACK);
	cc_write(f, Q_DESC, 8, 0x12345000); /* 64-bit fields go in two halves */
	cc_write(f, Q_DESC + 2, 4, 0x12345000);
	cc_write(f, Q_SIZE + 1, 1, 1);
	cc_write(f, 0x38, 4, 1); /* past the structure */
	cc_write(f, 0xffc, 4, 1);
	TEST_ASSERT_EQ(cc_read(f, DFSELECT, 4), 0);
	TEST_ASSERT_EQ(cc_read(f, Q_SELECT, 2), 0);
	TEST_ASSERT_EQ(status(f), 0);
	TEST_ASSERT_EQ(cc_read(f, Q_DESC, 4), 0);
	TEST_ASSERT_EQ(cc_read(f, Q_SIZE, 2), qsize_max[0]);
	/* Reads of the wrong width or place: all ones. */
	TEST_ASSERT_EQ(cc_read(f, Q_SIZE, 4), 0xffffffff);
	TEST_ASSERT_EQ(cc_read(f, Q_SIZE, 1), 0xff);
	TEST_ASSERT_EQ(cc_read(f, STATUS, 2), 0xffff);
	TEST_ASSERT_EQ(cc_read(f, DF + 2, 2), 0xffff);
	TEST_ASSERT_EQ(bar4_read(f, Q_DESC, 8), ~0ULL);
	TEST_ASSERT_EQ(cc_read(f, 0x38, 4), 0xffffffff);
	TEST_ASSERT_EQ(bar4_read(f, 0xff8, 8), ~0ULL);
	/* ISR: a byte at offset 0 only; notify reads 0; writes there do nothing. */
	TEST_ASSERT_EQ(bar4_read(f, ISR, 2), 0xffff);
	TEST_ASSERT_EQ(bar4_read(f, ISR + 1, 1), 0xff);
	bar4_write(f, ISR, 1, 0xff);
	TEST_ASSERT_EQ(bar4_read(f, ISR, 1), 0);
	TEST_ASSERT_EQ(bar4_read(f, NOTIFY, 4), 0);
	TEST_ASSERT_EQ(f->d.config_writes, 0);
}

static void test_queue_select_out_of_range(void **state)
{
	struct fixture *f = *state;
	static const uint16_t bad[] = { 2, 63, 64, 0x8000, 0xffff };

	for (unsigned i = 0; i < ARRAY_LEN(bad); i++) {
		cc_write(f, Q_SELECT, 2, bad[i]);
		TEST_ASSERT_EQ(cc_read(f, Q_SELECT, 2), bad[i]);
		/* virtio 1.2 §4.1.4.3.2: an absent queue reads as size 0. */
		TEST_ASSERT_EQ(cc_read(f, Q_SIZE, 2), 0);
		cc_write(f, Q_SIZE, 2, 4);
		cc_write(f, Q_ENABLE, 2, 1);
		cc_write(f, Q_DESC, 4, 0x1000);
		cc_write(f, Q_MSIX, 2, 1);
		TEST_ASSERT_EQ(cc_read(f, Q_SIZE, 2), 0);
		TEST_ASSERT_EQ(cc_read(f, Q_ENABLE, 2), 0);
		TEST_ASSERT_EQ(cc_read(f, Q_DESC, 4), 0);
		/* Notifications for it go nowhere. */
		if (NOTIFY_MUL * bad[i] < 0x1000)
			bar4_write(f, NOTIFY + NOTIFY_MUL * bad[i], 2, bad[i]);
	}
	for (unsigned q = 0; q < 2; q++)
		TEST_ASSERT_EQ(eventfd_take(f->d.vdev.queues[q].kick_fd), 0);
}

static void test_device_cfg_bounds(void **state)
{
	struct fixture *f = *state;

	TEST_ASSERT_EQ(bar4_read(f, DEVCFG, 4), 0x13121110);
	TEST_ASSERT_EQ(bar4_read(f, DEVCFG + CONFIG_SIZE - 2, 2), 0x1918);
	TEST_ASSERT_EQ(bar4_read(f, DEVCFG + 6, 4), 0x19181716);
	/* Past config_size, or straddling its end: 0xff. */
	TEST_ASSERT_EQ(bar4_read(f, DEVCFG + CONFIG_SIZE - 2, 4), 0xffffffff);
	TEST_ASSERT_EQ(bar4_read(f, DEVCFG + CONFIG_SIZE, 1), 0xff);
	TEST_ASSERT_EQ(bar4_read(f, DEVCFG + 0xff8, 8), ~0ULL);
	/* Writes inside reach the device, outside do not. */
	bar4_write(f, DEVCFG + CONFIG_SIZE - 2, 4, 0);
	bar4_write(f, DEVCFG + 0x100, 1, 0);
	TEST_ASSERT_EQ(f->d.config_writes, 0);
	bar4_write(f, DEVCFG + 4, 2, 0xbeef);
	TEST_ASSERT_EQ(f->d.config_writes, 1);
	TEST_ASSERT_EQ(f->d.cfg_off, 4);
	TEST_ASSERT_EQ(f->d.cfg_len, 2);
	TEST_ASSERT_EQ(bar4_read(f, DEVCFG + 4, 2), 0xbeef);
	/* A change the device makes: generation and ISR bit 1 (§4.1.4.3.1, §4.1.4.5). */
	TEST_ASSERT_EQ(cc_read(f, CFGGEN, 1), 0);
	virtio_config_changed(&f->d.vdev);
	TEST_ASSERT_EQ(cc_read(f, CFGGEN, 1), 1);
	TEST_ASSERT_EQ(bar4_read(f, ISR, 1), 2);
}

static void test_features_need_version_1_and_offered_bits(void **state)
{
	struct fixture *f = *state;

	/* Without VERSION_1 (a legacy driver) or with bits not offered: refused. */
	TEST_ASSERT(!negotiate(f, F_DEV_LOW), "FEATURES_OK without VERSION_1");
	TEST_ASSERT_EQ(status(f), S_ACK | S_DRIVER);
	TEST_ASSERT(!negotiate(f, F_VERSION_1 | 1ULL << 1), "FEATURES_OK with an unoffered bit");
	TEST_ASSERT(!negotiate(f, F_VERSION_1 | 1ULL << 63), "FEATURES_OK with an unoffered bit");
	TEST_ASSERT_EQ(f->d.vdev.driver_features, 0);
	/* DRIVER_OK without FEATURES_OK is not taken, and activates nothing. */
	add_status(f, S_DRIVER_OK);
	TEST_ASSERT_EQ(status(f) & S_DRIVER_OK, 0);
	TEST_ASSERT_EQ(atomic_load(&f->d.activates), 0);
	/* Feature selects beyond 1 read 0 and write nothing. */
	cc_write(f, STATUS, 1, 0);
	cc_write(f, GFSELECT, 4, 2);
	cc_write(f, GF, 4, 0xffffffff);
	TEST_ASSERT_EQ(cc_read(f, GF, 4), 0);
	cc_write(f, DFSELECT, 4, 0xffffffff);
	TEST_ASSERT_EQ(cc_read(f, DF, 4), 0);
	TEST_ASSERT(negotiate(f, F_VERSION_1 | F_DEV_HIGH), "FEATURES_OK refused");
}

static void test_feature_negotiation(void **state)
{
	struct fixture *f = *state;
	const uint64_t want = F_VERSION_1 | F_DEV_HIGH | F_DEV_LOW;

	cc_write(f, DFSELECT, 4, 0);
	TEST_ASSERT_EQ(cc_read(f, DF, 4), (uint32_t)(F_DEV_LOW | 1ULL << VIRTIO_F_EVENT_IDX));
	cc_write(f, DFSELECT, 4, 1);
	TEST_ASSERT_EQ(cc_read(f, DF, 4), (F_VERSION_1 | F_DEV_HIGH) >> 32);
	TEST_ASSERT_EQ(cc_read(f, DFSELECT, 4), 1);
	TEST_ASSERT(negotiate(f, want), "FEATURES_OK refused");
	TEST_ASSERT_EQ(status(f), S_ACK | S_DRIVER | S_FEATURES_OK);
	TEST_ASSERT_EQ(f->d.vdev.driver_features, want);
	/* After FEATURES_OK the driver's features are fixed. */
	cc_write(f, GFSELECT, 4, 0);
	cc_write(f, GF, 4, 0);
	TEST_ASSERT_EQ(cc_read(f, GF, 4), (uint32_t)want);
	TEST_ASSERT_EQ(f->d.vdev.driver_features, want);
}

static void test_queue_configuration(void **state)
{
	struct fixture *f = *state;
	static const uint16_t bad_sizes[] = { 0, 3, 12, 32, 0xffff };

	TEST_ASSERT_EQ(cc_read(f, NUMQ, 2), 2);
	for (unsigned q = 0; q < 2; q++) {
		cc_write(f, Q_SELECT, 2, q);
		TEST_ASSERT_EQ(cc_read(f, Q_SIZE, 2), qsize_max[q]);
		TEST_ASSERT_EQ(cc_read(f, Q_NOFF, 2), q); /* at NOTIFY + q * multiplier */
		TEST_ASSERT_EQ(cc_read(f, Q_MSIX, 2), MSIX_NO_VECTOR);
		TEST_ASSERT_EQ(cc_read(f, Q_ENABLE, 2), 0);
	}
	cc_write(f, Q_SELECT, 2, 0);
	for (unsigned i = 0; i < ARRAY_LEN(bad_sizes); i++) {
		cc_write(f, Q_SIZE, 2, bad_sizes[i]);
		TEST_ASSERT_EQ(cc_read(f, Q_SIZE, 2), qsize_max[0]);
	}
	cc_write(f, Q_SIZE, 2, 1);
	TEST_ASSERT_EQ(cc_read(f, Q_SIZE, 2), 1);
	cc_write(f, Q_SIZE, 2, 8);
	TEST_ASSERT_EQ(cc_read(f, Q_SIZE, 2), 8);
	/* 64-bit addresses in two halves, either order. */
	cc_write(f, Q_DESC + 4, 4, 0x1);
	cc_write(f, Q_DESC, 4, 0x23456000);
	cc_write64(f, Q_AVAIL, 0xfedcba9876543210ULL);
	TEST_ASSERT_EQ(cc_read(f, Q_DESC, 4), 0x23456000);
	TEST_ASSERT_EQ(cc_read(f, Q_DESC + 4, 4), 0x1);
	TEST_ASSERT_EQ(cc_read(f, Q_AVAIL, 4), 0x76543210);
	TEST_ASSERT_EQ(cc_read(f, Q_AVAIL + 4, 4), 0xfedcba98);
	/* MSI-X vectors: 3 exist (config + 2 queues); others read back NO_VECTOR. */
	cc_write(f, Q_MSIX, 2, 2);
	TEST_ASSERT_EQ(cc_read(f, Q_MSIX, 2), 2);
	cc_write(f, Q_MSIX, 2, 3);
	TEST_ASSERT_EQ(cc_read(f, Q_MSIX, 2), MSIX_NO_VECTOR);
	cc_write(f, MSIX_CFG, 2, 0x7fff);
	TEST_ASSERT_EQ(cc_read(f, MSIX_CFG, 2), MSIX_NO_VECTOR);
	cc_write(f, MSIX_CFG, 2, 0);
	TEST_ASSERT_EQ(cc_read(f, MSIX_CFG, 2), 0);
	/* Enabled: size and addresses are frozen, the vector is not, and 0 does not disable. */
	cc_write(f, Q_ENABLE, 2, 1);
	cc_write(f, Q_SIZE, 2, 4);
	cc_write(f, Q_DESC, 4, 0x5000);
	cc_write(f, Q_USED + 4, 4, 0x5);
	cc_write(f, Q_ENABLE, 2, 0);
	cc_write(f, Q_MSIX, 2, 1);
	TEST_ASSERT_EQ(cc_read(f, Q_SIZE, 2), 8);
	TEST_ASSERT_EQ(cc_read(f, Q_DESC, 4), 0x23456000);
	TEST_ASSERT_EQ(cc_read(f, Q_USED + 4, 4), 0);
	TEST_ASSERT_EQ(cc_read(f, Q_ENABLE, 2), 1);
	TEST_ASSERT_EQ(cc_read(f, Q_MSIX, 2), 1);
	/* Queue 1 was not touched. */
	cc_write(f, Q_SELECT, 2, 1);
	TEST_ASSERT_EQ(cc_read(f, Q_ENABLE, 2), 0);
	TEST_ASSERT_EQ(cc_read(f, Q_DESC, 4), 0);
}

static void test_bad_ring_addresses_need_reset(void **state)
{
	struct fixture *f = *state;

	enable_msix(f);
	TEST_ASSERT(negotiate(f, F_VERSION_1), "FEATURES_OK refused");
	cc_write(f, MSIX_CFG, 2, 0);
	setup_queue_at(f, 0, ring_gpa(0, 0), ring_gpa(0, 1), ring_gpa(0, 2));
	/* Queue 1's used ring in the gap between the two RAM regions. */
	setup_queue_at(f, 1, ring_gpa(1, 0), ring_gpa(1, 1), A_GPA + RSZ + 0x100);
	add_status(f, S_DRIVER_OK);
	TEST_ASSERT_EQ(status(f), S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK | S_NEEDS_RESET);
	TEST_ASSERT_EQ(atomic_load(&f->d.activates), 0);
	/* The driver hears of it: configuration change interrupt and ISR bit 1. */
	TEST_ASSERT_EQ(vector_fired(f, 0), 1);
	TEST_ASSERT_EQ(bar4_read(f, ISR, 1), 2);
	/* NEEDS_RESET stays whatever the driver writes, until a reset. */
	cc_write(f, STATUS, 1, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	TEST_ASSERT_EQ(status(f) & S_NEEDS_RESET, S_NEEDS_RESET);
	notify(f, 0);
	settle(f);
	TEST_ASSERT_EQ(atomic_load(&f->d.notifies[0]), 0);
	cc_write(f, STATUS, 1, 0);
	TEST_ASSERT_EQ(status(f), 0);
	TEST_ASSERT_EQ(atomic_load(&f->d.resets), 0); /* never activated */
	/* Misaligned or outside RAM altogether: the same. */
	TEST_ASSERT(negotiate(f, F_VERSION_1), "FEATURES_OK refused");
	setup_queue_at(f, 0, ring_gpa(0, 0) + 8, ring_gpa(0, 1), ring_gpa(0, 2));
	setup_queue_at(f, 1, 0xfffffffffffff000ULL, ring_gpa(1, 1), ring_gpa(1, 2));
	add_status(f, S_DRIVER_OK);
	TEST_ASSERT_EQ(status(f) & S_NEEDS_RESET, S_NEEDS_RESET);
	TEST_ASSERT_EQ(atomic_load(&f->d.activates), 0);
	/* After a reset a good setup works. */
	driver_start(f);
	TEST_ASSERT_EQ(status(f) & S_NEEDS_RESET, 0);
	TEST_ASSERT_EQ(atomic_load(&f->d.activates), 1);
}

static void test_activate_failure_needs_reset(void **state)
{
	struct fixture *f = *state;

	f->d.activate_ret = -ENOMEM;
	driver_start(f);
	TEST_ASSERT_EQ(atomic_load(&f->d.activates), 1);
	TEST_ASSERT_EQ(status(f) & S_NEEDS_RESET, S_NEEDS_RESET);
	notify(f, 0);
	settle(f);
	TEST_ASSERT_EQ(atomic_load(&f->d.notifies[0]), 0);
	cc_write(f, STATUS, 1, 0);
	TEST_ASSERT_EQ(atomic_load(&f->d.resets), 0);
}

/* A driver clearing DRIVER_OK and setting it again must not activate a running device twice. */
static void test_status_bits_cannot_be_cleared(void **state)
{
	struct fixture *f = *state;
	const uint8_t running = S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK;

	driver_start(f);
	TEST_ASSERT_EQ(atomic_load(&f->d.activates), 1);
	cc_write(f, STATUS, 1, S_ACK | S_DRIVER | S_FEATURES_OK);
	cc_write(f, STATUS, 1, running);
	TEST_ASSERT_EQ(atomic_load(&f->d.activates), 1);
	/* Nor may it change the features under the running device. */
	cc_write(f, STATUS, 1, S_ACK | S_DRIVER);
	write_features(f, F_VERSION_1 | F_DEV_HIGH);
	cc_write(f, STATUS, 1, running);
	TEST_ASSERT_EQ(f->d.vdev.driver_features, F_VERSION_1 | F_DEV_LOW);
	TEST_ASSERT_EQ(atomic_load(&f->d.activates), 1);
	TEST_ASSERT_EQ(status(f), running);
	notify(f, 1);
	TEST_ASSERT(wait_for(&f->d.notifies[1], 1), "queue 1 not notified");
	/* FAILED is added like any other bit. */
	add_status(f, VIRTIO_STATUS_FAILED);
	TEST_ASSERT_EQ(status(f), running | VIRTIO_STATUS_FAILED);
}

/* --------------------------------------------------------- happy paths ---- */

static void test_vendor_capabilities(void **state)
{
	struct fixture *f = *state;
	static const struct {
		uint8_t type, len;
		uint32_t offset, length;
	} want[] = {
		{ 1, 16, COMMON, 0x38 },
		{ 3, 16, ISR, 1 },
		{ 4, 16, DEVCFG, CONFIG_SIZE },
		{ 2, 20, NOTIFY, 2 * NOTIFY_MUL },
		{ 5, 20, 0, 0 }, /* PCI configuration access, cap.bar 4 until the driver sets it */
	};
	unsigned p = pci_config_read(&f->bus, DEVFN, PCI_CAPABILITY_LIST, 1), n = 0;

	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, PCI_VENDOR_ID, 4),
		       (0x1040u + VIRTIO_ID_RNG) << 16 | 0x1af4);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, PCI_REVISION_ID, 4), 0xff000001);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST,
		       PCI_STATUS_CAP_LIST);
	for (; n < ARRAY_LEN(want); n++, p = pci_config_read(&f->bus, DEVFN, p + 1, 1)) {
		TEST_ASSERT(p >= PCI_CAP_FIRST && !(p & 3), "capability %u at %#x", n, p);
		/* virtio 1.2 §4.1.4: struct virtio_pci_cap */
		TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p, 1), 0x09);
		TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p + 2, 1), want[n].len);
		TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p + 3, 1), want[n].type);
		TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p + 4, 1), 4);
		TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p + 8, 4), want[n].offset);
		TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p + 12, 4), want[n].length);
		if (want[n].type == 2)
			TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p + 16, 4), NOTIFY_MUL);
	}
	/* Then MSI-X: 3 vectors, table at BAR 1 offset 0, PBA at 0x800. */
	TEST_ASSERT_EQ(p, f->vp.msix.cap);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p, 1), 0x11);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p + 2, 2), 2);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p + 4, 4), 0x000 | 1);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p + 8, 4), 0x800 | 1);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p + 1, 1), 0);
	/* BAR 1: 32-bit 4 KiB; BAR 4: 64-bit prefetchable 16 KiB in mmio64. */
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, PCI_BAR0 + 4, 4), W32_BASE);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, PCI_BAR0 + 16, 4), (uint32_t)W64_BASE | 0xc);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, PCI_BAR0 + 20, 4), W64_BASE >> 32);
	TEST_ASSERT_EQ(f->vp.pci.bars[4].size, 0x4000);
}

/* The PCI configuration access capability: the offset of its cap, by walking the list. */
static unsigned pci_cfg_cap(struct fixture *f)
{
	for (unsigned p = pci_config_read(&f->bus, DEVFN, PCI_CAPABILITY_LIST, 1); p;
	     p = pci_config_read(&f->bus, DEVFN, p + 1, 1))
		if (pci_config_read(&f->bus, DEVFN, p, 1) == 0x09 &&
		    pci_config_read(&f->bus, DEVFN, p + 3, 1) == 5)
			return p;
	TEST_ASSERT(false, "no VIRTIO_PCI_CAP_PCI_CFG capability");
	return 0;
}

/* Sets the window (cap.bar, cap.offset, cap.length) of the capability at p. */
static void pci_cfg_window(struct fixture *f, unsigned p, uint8_t bar, uint32_t off, uint32_t len)
{
	pci_config_write(&f->bus, DEVFN, p + 4, 1, bar);
	pci_config_write(&f->bus, DEVFN, p + 8, 4, off);
	pci_config_write(&f->bus, DEVFN, p + 12, 4, len);
}

/*
 * §4.1.4.9: pci_cfg_data reads and writes the BAR bytes the window names;
 * a window that is not 1, 2 or 4 aligned bytes inside one of the BARs
 * reaches nothing, whatever the guest put in it.
 */
static void test_pci_cfg_access(void **state)
{
	struct fixture *f = *state;
	unsigned p = pci_cfg_cap(f);
	static const struct {
		uint8_t bar;
		uint32_t off, len;
	} bad[] = {
		{ 4, COMMON + STATUS, 3 },
		{ 4, COMMON + STATUS, 0 },
		{ 4, COMMON + DFSELECT + 1, 2 },
		{ 4, 0x4000 - 2, 4 },
		{ 4, 0xfffffffc, 4 },
		{ 4, 0xffffffff, 1 },
		{ 0, 0, 4 },
		{ 2, 0, 4 },
		{ 0xff, 0, 4 },
	};

	/* A read: the device feature bits 0..31 (after a select through the window too). */
	pci_cfg_window(f, p, 4, COMMON + DFSELECT, 4);
	pci_config_write(&f->bus, DEVFN, p + 16, 4, 1);
	TEST_ASSERT_EQ(cc_read(f, DFSELECT, 4), 1);
	pci_config_write(&f->bus, DEVFN, p + 16, 4, 0);
	pci_cfg_window(f, p, 4, COMMON + DF, 4);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p + 16, 4), cc_read(f, DF, 4));
	/* A one-byte write: the status register. */
	pci_cfg_window(f, p, 4, COMMON + STATUS, 1);
	pci_config_write(&f->bus, DEVFN, p + 16, 1, VIRTIO_STATUS_ACKNOWLEDGE);
	TEST_ASSERT_EQ(status(f), VIRTIO_STATUS_ACKNOWLEDGE);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p + 16, 1), VIRTIO_STATUS_ACKNOWLEDGE);
	/* The other BAR: an MSI-X table entry's message data. */
	pci_cfg_window(f, p, 1, 8, 4);
	pci_config_write(&f->bus, DEVFN, p + 16, 4, 0x4242);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p + 16, 4), 0x4242);

	/* Bad windows: the data bytes stay what they were, the device untouched. */
	for (unsigned i = 0; i < ARRAY_LEN(bad); i++) {
		pci_cfg_window(f, p, bad[i].bar, bad[i].off, bad[i].len);
		pci_config_write(&f->bus, DEVFN, p + 16, 4, 0x5a5a5a5a);
		TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p + 16, 4), 0x5a5a5a5a);
		TEST_ASSERT_EQ(status(f), VIRTIO_STATUS_ACKNOWLEDGE);
		TEST_ASSERT_EQ(cc_read(f, DFSELECT, 4), 0);
	}
	/* The capability's header stays read-only. */
	pci_config_write(&f->bus, DEVFN, p, 4, 0);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p + 3, 1), 5);
	TEST_ASSERT_EQ(pci_config_read(&f->bus, DEVFN, p + 2, 1), 20);
}

static void test_driver_ok_activates_on_io_thread(void **state)
{
	struct fixture *f = *state;

	driver_start(f);
	TEST_ASSERT_EQ(status(f), S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	TEST_ASSERT_EQ(atomic_load(&f->d.activates), 1);
	/* A notify-area write wakes queue_notify through the kick eventfd. */
	notify(f, 1);
	TEST_ASSERT(wait_for(&f->d.notifies[1], 1), "queue 1 not notified");
	notify(f, 0);
	TEST_ASSERT(wait_for(&f->d.notifies[0], 1), "queue 0 not notified");
	/* Another width works too; other offsets do nothing. */
	bar4_write(f, NOTIFY + NOTIFY_MUL, 4, 1);
	TEST_ASSERT(wait_for(&f->d.notifies[1], 2), "4-byte notify lost");
	bar4_write(f, NOTIFY + 2, 2, 0);
	bar4_write(f, NOTIFY + 2 * NOTIFY_MUL, 2, 2);
	bar4_write(f, NOTIFY + 0xffc, 4, 0);
	settle(f);
	TEST_ASSERT_EQ(atomic_load(&f->d.notifies[0]), 1);
	TEST_ASSERT_EQ(atomic_load(&f->d.notifies[1]), 2);
	TEST_ASSERT_EQ(atomic_load(&f->d.off_thread), 0);
}

static void test_notify_before_driver_ok_is_kept(void **state)
{
	struct fixture *f = *state;

	TEST_ASSERT(negotiate(f, F_VERSION_1), "FEATURES_OK refused");
	setup_queue_at(f, 0, ring_gpa(0, 0), ring_gpa(0, 1), ring_gpa(0, 2));
	notify(f, 0);
	settle(f);
	TEST_ASSERT_EQ(atomic_load(&f->d.notifies[0]), 0);
	add_status(f, S_DRIVER_OK);
	TEST_ASSERT(wait_for(&f->d.notifies[0], 1), "early notification lost");
	/* Queue 1 was never enabled: its notifications go nowhere. */
	notify(f, 1);
	settle(f);
	TEST_ASSERT_EQ(atomic_load(&f->d.notifies[1]), 0);
}

static void test_reset_returns_to_power_on(void **state)
{
	struct fixture *f = *state;

	driver_start(f);
	cc_write(f, DFSELECT, 4, 1);
	cc_write(f, Q_SELECT, 2, 1);
	cc_write(f, STATUS, 1, 0);
	TEST_ASSERT_EQ(atomic_load(&f->d.resets), 1);
	TEST_ASSERT_EQ(atomic_load(&f->d.off_thread), 0);
	TEST_ASSERT_EQ(status(f), 0);
	TEST_ASSERT_EQ(f->d.vdev.driver_features, 0);
	TEST_ASSERT_EQ(cc_read(f, DFSELECT, 4), 0);
	TEST_ASSERT_EQ(cc_read(f, Q_SELECT, 2), 0);
	TEST_ASSERT_EQ(cc_read(f, MSIX_CFG, 2), MSIX_NO_VECTOR);
	cc_write(f, GFSELECT, 4, 1);
	TEST_ASSERT_EQ(cc_read(f, GF, 4), 0);
	for (unsigned q = 0; q < 2; q++) {
		cc_write(f, Q_SELECT, 2, q);
		TEST_ASSERT_EQ(cc_read(f, Q_ENABLE, 2), 0);
		TEST_ASSERT_EQ(cc_read(f, Q_SIZE, 2), qsize_max[q]);
		TEST_ASSERT_EQ(cc_read(f, Q_MSIX, 2), MSIX_NO_VECTOR);
		TEST_ASSERT_EQ(cc_read(f, Q_DESC, 4), 0);
		TEST_ASSERT_EQ(cc_read(f, Q_USED + 4, 4), 0);
	}
	/* The device is quiet now, and a second reset does not reset it again. */
	notify(f, 0);
	settle(f);
	TEST_ASSERT_EQ(atomic_load(&f->d.notifies[0]), 0);
	cc_write(f, STATUS, 1, 0);
	TEST_ASSERT_EQ(atomic_load(&f->d.resets), 1);
	/* And it starts again. */
	driver_start(f);
	TEST_ASSERT_EQ(atomic_load(&f->d.activates), 2);
	notify(f, 0);
	TEST_ASSERT(wait_for(&f->d.notifies[0], 1), "queue 0 not notified after a reset");
}

static void test_virtio_pop_bad_ring_needs_reset(void **state)
{
	struct fixture *f = *state;

	f->d.pop = true;
	enable_msix(f);
	driver_start(f);
	/* avail->idx runs more than the queue size ahead. */
	put16(f, ring_gpa(0, 1) + 2, qsize_max[0] + 1);
	notify(f, 0);
	TEST_ASSERT(wait_for(&f->d.notifies[0], 1), "queue 0 not notified");
	TEST_ASSERT_EQ(f->d.popped, 0);
	TEST_ASSERT_EQ(status(f) & S_NEEDS_RESET, S_NEEDS_RESET);
	TEST_ASSERT_EQ(vector_fired(f, 0), 1);
	TEST_ASSERT_EQ(bar4_read(f, ISR, 1) & 2, 2);
	TEST_ASSERT_EQ(get16(f, ring_gpa(0, 2) + 2), 0); /* nothing used */
	/* The queue stays stopped; queue 1 still works. */
	notify(f, 0);
	TEST_ASSERT(wait_for(&f->d.notifies[0], 2), "queue 0 not notified");
	TEST_ASSERT_EQ(vector_fired(f, 0), 0); /* logged and signalled once */
	TEST_ASSERT_EQ(f->d.popped, 0);
	cc_write(f, STATUS, 1, 0);
	TEST_ASSERT_EQ(status(f), 0);
}

/* One chain through queue 0: popped, completed, and the queue's vector fires. */
static void test_used_buffer_interrupt(void **state)
{
	struct fixture *f = *state;
	const uint64_t desc = ring_gpa(0, 0), avail = ring_gpa(0, 1), used = ring_gpa(0, 2);
	struct virtq_desc d = { htole64(B_GPA), htole32(64), htole16(VIRTQ_DESC_F_WRITE), 0 };

	f->d.pop = true;
	enable_msix(f);
	driver_start(f);
	TEST_ASSERT_EQ(gmem_write(&f->mem, desc, &d, sizeof(d)), 0);
	put16(f, avail + 4, 0);
	put16(f, avail + 2, 1);
	notify(f, 0);
	TEST_ASSERT(wait_for(&f->d.notifies[0], 1), "queue 0 not notified");
	TEST_ASSERT_EQ(f->d.popped, 1);
	TEST_ASSERT_EQ(get16(f, used + 2), 1);
	TEST_ASSERT_EQ(eventfd_wait(f->vp.msix.vec[1].fd, WAIT_MS), 1);
	TEST_ASSERT_EQ(bar4_read(f, ISR, 1), 1);
	TEST_ASSERT_EQ(bar4_read(f, ISR, 1), 0); /* reading clears */
	TEST_ASSERT_EQ(vector_fired(f, 0), 0);
	TEST_ASSERT_EQ(vector_fired(f, 2), 0);
	TEST_ASSERT_EQ(status(f) & S_NEEDS_RESET, 0);
}

/* A bad chain is completed with 0 bytes and the queue goes on: no reset needed. */
static void test_virtio_pop_completes_bad_chains(void **state)
{
	struct fixture *f = *state;
	const uint64_t desc = ring_gpa(0, 0), avail = ring_gpa(0, 1), used = ring_gpa(0, 2);
	const struct virtq_desc d[2] = {
		/* next past the queue size */
		{ htole64(B_GPA), htole32(8), htole16(VIRTQ_DESC_F_NEXT), htole16(qsize_max[0]) },
		{ htole64(B_GPA), htole32(64), htole16(VIRTQ_DESC_F_WRITE), 0 },
	};
	uint32_t elem[4];

	f->d.pop = true;
	driver_start(f);
	TEST_ASSERT_EQ(gmem_write(&f->mem, desc, d, sizeof(d)), 0);
	put16(f, avail + 4, 0);
	put16(f, avail + 6, 1);
	put16(f, avail + 2, 2);
	notify(f, 0);
	TEST_ASSERT(wait_for(&f->d.notifies[0], 1), "queue 0 not notified");
	TEST_ASSERT_EQ(f->d.popped, 1);
	TEST_ASSERT_EQ(get16(f, used + 2), 2);
	TEST_ASSERT_EQ(gmem_read(&f->mem, elem, used + 4, sizeof(elem)), 0);
	TEST_ASSERT_EQ(le32toh(elem[0]), 0); /* the bad chain, 0 bytes */
	TEST_ASSERT_EQ(le32toh(elem[1]), 0);
	TEST_ASSERT_EQ(le32toh(elem[2]), 1); /* the good one */
	TEST_ASSERT_EQ(le32toh(elem[3]), 64);
	TEST_ASSERT_EQ(status(f) & S_NEEDS_RESET, 0);
}

static void test_bar_mapping_moves_ioeventfds(void **state)
{
	struct fixture *f = *state;
	const uint64_t moved = W64_BASE + 0x100000;
	uint16_t q1 = 1;

	TEST_ASSERT_EQ(f->plat.nioevt, 0);
	pci_config_write(&f->bus, DEVFN, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	TEST_ASSERT_EQ(f->plat.nioevt, 2);
	for (unsigned q = 0; q < 2; q++) {
		TEST_ASSERT_EQ(f->plat.ioevt[q].addr, W64_BASE + NOTIFY + NOTIFY_MUL * q);
		TEST_ASSERT_EQ(f->plat.ioevt[q].len, 2);
		TEST_ASSERT_EQ(f->plat.ioevt[q].fd, f->d.vdev.queues[q].kick_fd);
	}
	TEST_ASSERT_EQ(f->vp.notify_base, W64_BASE + NOTIFY);
	/* Through the MMIO bus, as a vCPU exit: common config and notify. */
	driver_start(f);
	TEST_ASSERT(bus_write(&f->mmio, W64_BASE + NOTIFY + NOTIFY_MUL, &q1, 2), "BAR 4 unmapped");
	TEST_ASSERT(wait_for(&f->d.notifies[1], 1), "queue 1 not notified");
	/* The guest moves BAR 4: the doorbells follow. */
	pci_config_write(&f->bus, DEVFN, PCI_BAR0 + 16, 4, (uint32_t)moved);
	TEST_ASSERT_EQ(f->plat.nioevt, 2);
	TEST_ASSERT_EQ(f->plat.ioevt_deassigns, 2);
	TEST_ASSERT_EQ(f->plat.ioevt[0].addr & ~0xfffULL, moved + NOTIFY);
	TEST_ASSERT_EQ(f->vp.notify_base, moved + NOTIFY);
	/* Decoding off: gone. */
	pci_config_write(&f->bus, DEVFN, PCI_COMMAND, 2, 0);
	TEST_ASSERT_EQ(f->plat.nioevt, 0);
	TEST_ASSERT_EQ(f->vp.notify_base, 0);
	TEST_ASSERT(!bus_write(&f->mmio, moved + NOTIFY, &q1, 2), "BAR 4 still mapped");
}

static void test_destroy_resets_active_device(void **state)
{
	struct fixture *f = *state;

	driver_start(f);
	virtio_pci_destroy(&f->vp);
	f->destroyed = true;
	TEST_ASSERT_EQ(atomic_load(&f->d.resets), 1);
	TEST_ASSERT_EQ(atomic_load(&f->d.off_thread), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_init_rejects_bad_devices),
		T(test_common_cfg_ignores_bad_accesses),
		T(test_queue_select_out_of_range),
		T(test_device_cfg_bounds),
		T(test_features_need_version_1_and_offered_bits),
		T(test_bad_ring_addresses_need_reset),
		T(test_activate_failure_needs_reset),
		T(test_status_bits_cannot_be_cleared),
		T(test_virtio_pop_bad_ring_needs_reset),
		T(test_vendor_capabilities),
		T(test_pci_cfg_access),
		T(test_feature_negotiation),
		T(test_queue_configuration),
		T(test_driver_ok_activates_on_io_thread),
		T(test_notify_before_driver_ok_is_kept),
		T(test_reset_returns_to_power_on),
		T(test_used_buffer_interrupt),
		T(test_virtio_pop_completes_bad_chains),
		T(test_bar_mapping_moves_ioeventfds),
		T(test_destroy_resets_active_device),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}

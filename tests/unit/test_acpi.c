/* Unit tests for the ACPI table builder: layout, checksums, bounds, iasl disassembly checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm/x86/acpi.h"

#define GPA		0xe0000u
#define BUF_SIZE	0x20000u
#define CANARY_LEN	64
#define CANARY		0xa5
#define PVPANIC_PORT	0x505

/* the PCI setup the brief gives: ECAM for bus 0 only, both BAR windows */
#define ECAM_BASE	0xe0000000u
#define MMIO32_BASE	0xc0000000u
#define MMIO32_SIZE	0x20000000u
#define MMIO64_BASE	0x8000000000ull
#define MMIO64_SIZE	0x8000000000ull
#define POWER_GSI	9

static const unsigned ncpus_list[] = { 1, 2, 64, 255 };
#define NCPUS_COUNT (sizeof(ncpus_list) / sizeof(ncpus_list[0]))

struct tables {
	uint8_t *buf;
	long len;
	const uint8_t *xsdt, *fadt, *madt, *mcfg, *dsdt;
};

static struct acpi_config make_cfg(unsigned ncpus)
{
	struct acpi_config cfg = {
		.ncpus = ncpus,
		.ioapic_addr = 0xfec00000,
		.lapic_addr = 0xfee00000,
		.sleep_ctl_port = 0x600,
		.sleep_sts_port = 0x601,
		.reset_port = 0x602,
		.reset_value = 0x01,
		.pvpanic_port = PVPANIC_PORT,
	};
	return cfg;
}

static struct acpi_config make_pci_cfg(unsigned ncpus)
{
	struct acpi_config cfg = make_cfg(ncpus);

	cfg.pci_ecam_base = ECAM_BASE;
	cfg.pci_bus_end = 0;
	cfg.pci_mmio32_base = MMIO32_BASE;
	cfg.pci_mmio32_size = MMIO32_SIZE;
	cfg.pci_mmio64_base = MMIO64_BASE;
	cfg.pci_mmio64_size = MMIO64_SIZE;
	return cfg;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* Resolves a table's guest-physical address inside buf and validates it. */
static const uint8_t *table_at(const struct tables *t, uint64_t addr, const char *sig)
{
	const uint8_t *p;
	uint32_t len;

	assert_true(addr >= GPA);
	assert_true(addr - GPA + 36 <= (uint64_t)t->len);
	assert_int_equal(addr % 8, 0);
	p = t->buf + (addr - GPA);
	len = rd32(p + 4);
	assert_true(len >= 36);
	assert_true(addr - GPA + len <= (uint64_t)t->len);
	assert_memory_equal(p, sig, 4);
	assert_int_equal(sum(p, len), 0);
	assert_memory_equal(p + 10, "HUTCH ", 6);
	assert_memory_equal(p + 16, "HUTCHVM ", 8);
	return p;
}

/* Builds the tables for cfg and finds them all through the RSDP. */
static void build_cfg(struct tables *t, const struct acpi_config *cfg)
{
	const uint8_t *r;
	unsigned i, n;

	t->buf = calloc(1, BUF_SIZE);
	assert_non_null(t->buf);
	t->len = acpi_build(t->buf, BUF_SIZE, GPA, cfg);
	assert_true(t->len > 0 && t->len <= (long)BUF_SIZE);

	r = t->buf;		/* RSDP, ACPI 6.4 §5.2.5.3 */
	assert_memory_equal(r, "RSD PTR ", 8);
	assert_int_equal(sum(r, 20), 0);
	assert_int_equal(r[15], 2);
	assert_int_equal(rd32(r + 20), 36);
	assert_int_equal(sum(r, 36), 0);
	t->xsdt = table_at(t, rd64(r + 24), "XSDT");

	t->fadt = t->madt = t->mcfg = NULL;
	assert_int_equal((rd32(t->xsdt + 4) - 36) % 8, 0);
	n = (rd32(t->xsdt + 4) - 36) / 8;
	assert_int_equal(n, cfg->pci_ecam_base ? 3 : 2);
	for (i = 0; i < n; i++) {
		uint64_t a = rd64(t->xsdt + 36 + 8 * i);
		const uint8_t *p = t->buf + (a - GPA);

		assert_true(a >= GPA && a - GPA + 36 <= (uint64_t)t->len);
		if (!memcmp(p, "FACP", 4) && !t->fadt)
			t->fadt = table_at(t, a, "FACP");
		else if (!memcmp(p, "MCFG", 4) && !t->mcfg)
			t->mcfg = table_at(t, a, "MCFG");
		else if (!t->madt)
			t->madt = table_at(t, a, "APIC");
		else
			fail_msg("unexpected or repeated XSDT entry %u", i);
	}
	assert_non_null(t->fadt);
	assert_non_null(t->madt);
	if (cfg->pci_ecam_base)
		assert_non_null(t->mcfg);
	t->dsdt = table_at(t, rd64(t->fadt + 140), "DSDT");
	assert_int_equal(rd32(t->fadt + 40), rd64(t->fadt + 140));
}

static void build(struct tables *t, unsigned ncpus)
{
	struct acpi_config cfg = make_cfg(ncpus);

	build_cfg(t, &cfg);
}

static void check_gas_io8(const uint8_t *g, uint16_t port)
{
	assert_int_equal(g[0], 1);	/* System I/O */
	assert_int_equal(g[1], 8);
	assert_int_equal(g[2], 0);
	assert_int_equal(g[3], 1);	/* byte access */
	assert_int_equal(rd64(g + 4), port);
}

static void test_rsdp_xsdt(void **state)
{
	struct tables t;
	size_t i;

	(void)state;
	for (i = 0; i < NCPUS_COUNT; i++) {
		build(&t, ncpus_list[i]);
		free(t.buf);
	}
}

static void test_fadt(void **state)
{
	struct acpi_config cfg = make_cfg(2);
	struct tables t;
	uint32_t flags;

	(void)state;
	build(&t, 2);
	assert_int_equal(rd32(t.fadt + 4), 276);
	assert_int_equal(t.fadt[8], 6);
	flags = rd32(t.fadt + 112);
	assert_true(flags & (1u << 20));	/* HW_REDUCED_ACPI */
	assert_true(flags & (1u << 10));	/* RESET_REG_SUP */
	assert_int_equal(rd16(t.fadt + 109) & (1u << 5), 0);	/* CMOS RTC present */
	assert_true(rd16(t.fadt + 109) & (1u << 2));		/* no VGA */
	assert_int_equal(rd16(t.fadt + 109) & (1u << 3), 0);	/* MSI ok */
	check_gas_io8(t.fadt + 116, cfg.reset_port);
	assert_int_equal(t.fadt[128], cfg.reset_value);
	check_gas_io8(t.fadt + 244, cfg.sleep_ctl_port);
	check_gas_io8(t.fadt + 256, cfg.sleep_sts_port);
	free(t.buf);
}

static void test_madt(void **state)
{
	struct tables t;
	size_t i;

	(void)state;
	for (i = 0; i < NCPUS_COUNT; i++) {
		unsigned lapics = 0, ioapics = 0, isos = 0;
		const uint8_t *p, *end;

		build(&t, ncpus_list[i]);
		assert_int_equal(rd32(t.madt + 36), 0xfee00000);
		assert_int_equal(rd32(t.madt + 40) & 1, 1);	/* PCAT_COMPAT */
		end = t.madt + rd32(t.madt + 4);
		for (p = t.madt + 44; p < end; p += p[1]) {
			assert_true(p[1] >= 2 && p + p[1] <= end);
			if (p[0] == 0) {
				assert_int_equal(p[2], lapics);	/* UID */
				assert_int_equal(p[3], lapics);	/* APIC ID */
				assert_int_equal(rd32(p + 4) & 1, 1);
				lapics++;
			} else if (p[0] == 1) {
				assert_int_equal(rd32(p + 4), 0xfec00000);
				assert_int_equal(rd32(p + 8), 0);
				ioapics++;
			} else if (p[0] == 2) {
				assert_int_equal(p[3], 0);
				assert_int_equal(rd32(p + 4), 2);
				isos++;
			}
		}
		assert_ptr_equal(p, end);
		assert_int_equal(lapics, ncpus_list[i]);
		assert_int_equal(ioapics, 1);
		assert_int_equal(isos, 1);
		free(t.buf);
	}
}

static const uint8_t *find(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	size_t i;

	for (i = 0; i + m <= n; i++)
		if (!memcmp(hay + i, needle, m))
			return hay + i;
	return NULL;
}

/* ACPI 6.4 §20.2.4: decodes the PkgLength at p; *n gets its size in bytes. */
static size_t pkglen(const uint8_t *p, size_t *n)
{
	size_t v, i;

	*n = 1 + (p[0] >> 6);
	if (*n == 1)
		return p[0] & 0x3f;
	assert_int_equal(p[0] & 0x30, 0);	/* reserved in multi-byte form */
	v = p[0] & 0x0f;
	for (i = 1; i < *n; i++)
		v |= (size_t)p[i] << (4 + 8 * (i - 1));
	return v;
}

/* Checks "DeviceOp PkgLength name" at p and returns the end of the device. */
static const uint8_t *check_device(const uint8_t *p, const char *name)
{
	size_t n, len;

	assert_int_equal(p[0], 0x5b);
	assert_int_equal(p[1], 0x82);
	len = pkglen(p + 2, &n);
	assert_memory_equal(p + 2 + n, name, 4);
	return p + 2 + len;
}

static void test_dsdt(void **state)
{
	/* IO (Decode16, 0x505, 0x505, 1, 1), ACPI 6.4 §6.4.2.5 */
	static const uint8_t io[] = { 0x47, 0x01, 0x05, 0x05, 0x05, 0x05, 0x01, 0x01 };
	/* Package (4) { 5, 5, Zero, Zero } */
	static const uint8_t s5[] = { 0x12, 0x08, 0x04, 0x0a, ACPI_S5_SLP_TYP,
				      0x0a, ACPI_S5_SLP_TYP, 0x00, 0x00 };
	const uint8_t *p, *end;
	struct tables t;
	size_t len, n;

	(void)state;
	build(&t, 64);
	assert_int_equal(t.dsdt[8], 2);
	len = rd32(t.dsdt + 4);
	assert_non_null(find(t.dsdt, len, "QEMU0001", 9));
	assert_non_null(find(t.dsdt, len, "_S5_", 4));
	assert_non_null(find(t.dsdt, len, io, sizeof(io)));

	/* Name (_S5_, Package) then Scope (\_SB_) { PEVT, COM1 } to the end */
	p = find(t.dsdt, len, s5, sizeof(s5));
	assert_ptr_equal(p, t.dsdt + 36 + 5);
	p += sizeof(s5);
	assert_int_equal(p[0], 0x10);
	end = p + 1 + pkglen(p + 1, &n);
	assert_ptr_equal(end, t.dsdt + len);
	assert_memory_equal(p + 1 + n, "\\_SB_", 5);
	p = check_device(p + 1 + n + 5, "PEVT");
	p = check_device(p, "COM1");
	assert_ptr_equal(p, end);
	free(t.buf);
}

/* Returns the end of the Scope (\_SB_) and sets *dev to its first device. */
static const uint8_t *sb_scope(const struct tables *t, const uint8_t **dev)
{
	const uint8_t *p = t->dsdt + 36 + 5 + 9; /* after Name (_S5_, Package) */
	const uint8_t *end;
	size_t n;

	assert_int_equal(p[0], 0x10);
	end = p + 1 + pkglen(p + 1, &n);
	assert_ptr_equal(end, t->dsdt + rd32(t->dsdt + 4));
	assert_memory_equal(p + 1 + n, "\\_SB_", 5);
	*dev = p + 1 + n + 5;
	return end;
}

/* Checks that Name (_CRS, Buffer) in [p, end) holds exactly crs. */
static void check_crs(const uint8_t *p, const uint8_t *end, const uint8_t *crs, size_t len)
{
	const uint8_t *q = find(p, (size_t)(end - p), "\x08_CRS\x11", 6);
	size_t n, blen;

	assert_non_null(q);
	q += 6;
	blen = pkglen(q, &n);
	assert_ptr_equal(q + blen, end); /* _CRS is the device's last object */
	q += n;
	assert_int_equal(q[0], 0x0a);	 /* BufferSize: ByteConst */
	assert_int_equal(q[1], len);
	assert_ptr_equal(q + 2 + len, end);
	assert_memory_equal(q + 2, crs, len);
}

static void test_mcfg(void **state)
{
	struct acpi_config cfg = make_pci_cfg(2);
	struct tables t;
	size_t i;

	(void)state;
	for (i = 0; i < NCPUS_COUNT; i++) {
		cfg = make_pci_cfg(ncpus_list[i]);
		build_cfg(&t, &cfg);
		/* PCI Firmware 3.3 §4.1.2: header, 8 reserved, one 16-byte entry */
		assert_int_equal(rd32(t.mcfg + 4), 60);
		assert_int_equal(t.mcfg[8], 1);
		assert_int_equal(rd64(t.mcfg + 36), 0);
		assert_int_equal(rd64(t.mcfg + 44), ECAM_BASE);
		assert_int_equal(rd16(t.mcfg + 52), 0); /* segment */
		assert_int_equal(t.mcfg[54], 0);	 /* start bus */
		assert_int_equal(t.mcfg[55], 0);	 /* end bus */
		assert_int_equal(rd32(t.mcfg + 56), 0);
		/* the MADT and the rest stay as they were */
		assert_int_equal(rd32(t.madt + 4), 72 + 8 * ncpus_list[i]);
		free(t.buf);
	}

	cfg.pci_ecam_base = 0x4000000000ull;
	cfg.pci_bus_end = 255;
	build_cfg(&t, &cfg);
	assert_int_equal(rd64(t.mcfg + 44), 0x4000000000ull);
	assert_int_equal(t.mcfg[54], 0);
	assert_int_equal(t.mcfg[55], 255);
	free(t.buf);
}

static void test_dsdt_pci(void **state)
{
	/* ACPI 6.4 §6.4.3.5.1-3 and §6.4.2.5, written out by hand */
	static const uint8_t pci_crs[] = {
		/* WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
		 * 0, 0, 0, 0, 1) */
		0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
		/* IO (Decode16, 0xCF8, 0xCF8, 1, 8) */
		0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08,
		/* WordIO (..., EntireRange, 0, 0x0000, 0x0CF7, 0, 0x0CF8) */
		0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00, 0x00, 0x00,
		0xf7, 0x0c, 0x00, 0x00, 0xf8, 0x0c,
		/* WordIO (..., EntireRange, 0, 0x0D00, 0xFFFF, 0, 0xF300) */
		0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00, 0x00, 0x0d,
		0xff, 0xff, 0x00, 0x00, 0x00, 0xf3,
		/* DWordMemory (..., NonCacheable, ReadWrite, 0, 0xC0000000,
		 * 0xDFFFFFFF, 0, 0x20000000) */
		0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0xc0, 0xff, 0xff, 0xff, 0xdf, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x20,
		/* QWordMemory (..., Cacheable, ReadWrite, 0, 0x8000000000,
		 * 0xFFFFFFFFFF, 0, 0x8000000000) */
		0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x03,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00,
		0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00,
		/* EndTag */
		0x79, 0x00,
	};
	/* Memory32Fixed (ReadWrite, 0xE0000000, 0x100000), EndTag */
	static const uint8_t res_crs[] = { 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe0,
					   0x00, 0x00, 0x10, 0x00, 0x79, 0x00 };
	/* Method (_OSC, 4, NotSerialized) { Return (Arg3) } */
	static const uint8_t osc[] = { 0x14, 0x08, '_', 'O', 'S', 'C', 0x04, 0xa4, 0x6b };
	/* Name (_HID, EisaId ("PNP0A08")), Name (_CID, EisaId ("PNP0A03")) */
	static const uint8_t hid_cid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x08,
					   0x08, '_', 'C', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03 };
	static const uint8_t seg_bbn_uid[] = { 0x08, '_', 'S', 'E', 'G', 0x00, 0x08, '_', 'B', 'B',
					       'N', 0x00, 0x08, '_', 'U', 'I', 'D', 0x00 };
	static const uint8_t res_hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0c, 0x02 };
	struct acpi_config cfg = make_pci_cfg(4);
	const uint8_t *p, *pci0, *res0, *end;
	uint8_t no64[sizeof(pci_crs) - 46]; /* pci_crs without its QWordMemory */
	struct tables t;
	size_t n;

	(void)state;
	build_cfg(&t, &cfg);
	end = sb_scope(&t, &p);
	p = check_device(p, "PEVT");
	p = check_device(p, "COM1");
	pci0 = p;
	p = check_device(p, "PCI0");
	pkglen(pci0 + 2, &n); /* _HID and _CID come first */
	assert_ptr_equal(find(pci0, (size_t)(p - pci0), hid_cid, sizeof(hid_cid)), pci0 + 2 + n + 4);
	assert_non_null(find(pci0, (size_t)(p - pci0), seg_bbn_uid, sizeof(seg_bbn_uid)));
	assert_non_null(find(pci0, (size_t)(p - pci0), osc, sizeof(osc)));
	check_crs(pci0, p, pci_crs, sizeof(pci_crs));
	res0 = p;
	p = check_device(p, "RES0");
	assert_non_null(find(res0, (size_t)(p - res0), res_hid, sizeof(res_hid)));
	check_crs(res0, p, res_crs, sizeof(res_crs));
	assert_ptr_equal(p, end);
	free(t.buf);

	/* no 64-bit window: the QWordMemory goes, the rest stays */
	cfg.pci_mmio64_size = 0;
	build_cfg(&t, &cfg);
	end = sb_scope(&t, &p);
	p = check_device(check_device(p, "PEVT"), "COM1");
	pci0 = p;
	p = check_device(p, "PCI0");
	memcpy(no64, pci_crs, sizeof(no64) - 2);
	memcpy(no64 + sizeof(no64) - 2, "\x79\x00", 2);
	check_crs(pci0, p, no64, sizeof(no64));
	free(t.buf);
}

/* Without pci_ecam_base there is no PCI at all, whatever the other PCI
 * fields say: no MCFG, no PCI0 or RES0, the very same bytes as before. */
static void test_no_pci(void **state)
{
	struct acpi_config cfg;
	struct tables plain, t;
	const uint8_t *p, *end;
	size_t i;

	(void)state;
	for (i = 0; i < NCPUS_COUNT; i++) {
		build(&plain, ncpus_list[i]);
		assert_null(plain.mcfg);
		assert_null(find(plain.dsdt, rd32(plain.dsdt + 4), "PCI0", 4));
		assert_null(find(plain.dsdt, rd32(plain.dsdt + 4), "RES0", 4));
		end = sb_scope(&plain, &p);
		assert_ptr_equal(check_device(check_device(p, "PEVT"), "COM1"), end);

		cfg = make_pci_cfg(ncpus_list[i]);
		cfg.pci_ecam_base = 0;
		build_cfg(&t, &cfg);
		assert_int_equal(t.len, plain.len);
		assert_memory_equal(t.buf, plain.buf, (size_t)plain.len);
		free(t.buf);
		free(plain.buf);
	}
}

/*
 * With power_button_gsi, \_SB ends with PWRB and GED0, after PCI0 and RES0
 * when there is PCI; everything before them is byte-for-byte unchanged.
 */
static void test_dsdt_power_button(void **state)
{
	/* Name (_HID, EisaId ("PNP0C0C")), Name (_UID, Zero) */
	static const uint8_t pwrb[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0c, 0x0c,
					0x08, '_', 'U', 'I', 'D', 0x00 };
	/* Name (_HID, "ACPI0013"), Name (_UID, Zero) */
	static const uint8_t ged_ids[] = { 0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I',
					   '0', '0', '1', '3', 0x00,
					   0x08, '_', 'U', 'I', 'D', 0x00 };
	/* Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 9 },
	 * EndTag: ACPI 6.4 §6.4.3.6 */
	static const uint8_t irq[] = { 0x89, 0x06, 0x00, 0x03, 0x01, POWER_GSI, 0x00, 0x00, 0x00,
				       0x79, 0x00 };
	/* Method (_EVT, 1, NotSerialized) { Notify (\_SB.PWRB, 0x80) } */
	static const uint8_t evt[] = { 0x14, 0x13, '_', 'E', 'V', 'T', 0x01, 0x86, 0x5c, 0x2e,
				       '_', 'S', 'B', '_', 'P', 'W', 'R', 'B', 0x0a, 0x80 };
	const uint8_t *p, *dev, *end, *plain_dev, *plain_end;
	struct tables plain, t;
	size_t i, n;

	(void)state;
	for (i = 0; i < 2; i++) {
		struct acpi_config cfg = i ? make_pci_cfg(2) : make_cfg(2);

		build_cfg(&plain, &cfg);
		cfg.power_button_gsi = POWER_GSI;
		build_cfg(&t, &cfg);
		end = sb_scope(&t, &p);
		dev = p;
		p = check_device(check_device(p, "PEVT"), "COM1");
		if (i)
			p = check_device(check_device(p, "PCI0"), "RES0");
		/* the devices before PWRB are those of plain, in the same bytes */
		plain_end = sb_scope(&plain, &plain_dev);
		assert_int_equal(p - dev, plain_end - plain_dev);
		assert_memory_equal(dev, plain_dev, (size_t)(p - dev));

		dev = p;
		p = check_device(p, "PWRB");
		pkglen(dev + 2, &n);
		assert_int_equal((size_t)(p - dev), 2 + n + 4 + sizeof(pwrb));
		assert_memory_equal(dev + 2 + n + 4, pwrb, sizeof(pwrb));

		dev = p;
		p = check_device(p, "GED0");
		pkglen(dev + 2, &n);
		assert_memory_equal(dev + 2 + n + 4, ged_ids, sizeof(ged_ids));
		assert_non_null(find(dev, (size_t)(p - dev), irq, sizeof(irq)));
		/* _EVT is the device's last object */
		assert_ptr_equal(find(dev, (size_t)(p - dev), evt, sizeof(evt)),
				 p - sizeof(evt));
		assert_ptr_equal(p, end);
		free(t.buf);
		free(plain.buf);
	}
}

static void test_enospc(void **state)
{
	struct tables ref;
	size_t i, sz, j;

	(void)state;
	for (i = 0; i < 3 * NCPUS_COUNT; i++) {
		const unsigned ncpus = ncpus_list[i % NCPUS_COUNT];
		struct acpi_config cfg = i < NCPUS_COUNT ? make_cfg(ncpus) : make_pci_cfg(ncpus);
		size_t need;

		if (i >= 2 * NCPUS_COUNT)
			cfg.power_button_gsi = POWER_GSI;

		build_cfg(&ref, &cfg);
		need = (size_t)ref.len;
		for (sz = 0; sz <= need; sz++) {
			uint8_t *b = malloc(sz + CANARY_LEN);
			long rc;

			assert_non_null(b);
			memset(b, CANARY, sz + CANARY_LEN);
			rc = acpi_build(b, sz, GPA, &cfg);
			if (sz < need)
				assert_int_equal(rc, -ENOSPC);
			else
				assert_memory_equal(b, ref.buf, need);
			for (j = sz; j < sz + CANARY_LEN; j++)
				assert_int_equal(b[j], CANARY);
			free(b);
		}
		free(ref.buf);
	}
	assert_int_equal(acpi_build(NULL, 0, GPA, &(struct acpi_config){ .ncpus = 1 }), -ENOSPC);
}

static void test_einval(void **state)
{
	struct acpi_config cfg = make_cfg(0);
	uint8_t b[64];

	(void)state;
	assert_int_equal(acpi_build(b, sizeof(b), GPA, &cfg), -EINVAL);
	cfg.ncpus = 256;
	assert_int_equal(acpi_build(b, sizeof(b), GPA, &cfg), -EINVAL);
	cfg.ncpus = 1;
	assert_int_equal(acpi_build(b, sizeof(b), GPA + 8, &cfg), -EINVAL);
	assert_int_equal(acpi_build(b, sizeof(b), GPA, NULL), -EINVAL);

	/* the PCI ranges: a good one runs out of room, bad ones are refused */
	cfg = make_pci_cfg(1);
	cfg.pci_mmio32_base = 0xe0000000u; /* ends exactly at 4 GiB */
	assert_int_equal(acpi_build(b, sizeof(b), GPA, &cfg), -ENOSPC);
	cfg = make_pci_cfg(1);
	cfg.pci_ecam_base = ECAM_BASE + 0x1000; /* not 1 MiB aligned */
	assert_int_equal(acpi_build(b, sizeof(b), GPA, &cfg), -EINVAL);
	cfg = make_pci_cfg(1);
	cfg.pci_ecam_base = 0xfffffffffff00000ull; /* 2 buses wrap around */
	cfg.pci_bus_end = 1;
	assert_int_equal(acpi_build(b, sizeof(b), GPA, &cfg), -EINVAL);
	cfg = make_pci_cfg(1);
	cfg.pci_mmio32_base = 0xf0000000u; /* crosses 4 GiB */
	assert_int_equal(acpi_build(b, sizeof(b), GPA, &cfg), -EINVAL);
	cfg = make_pci_cfg(1);
	cfg.pci_mmio64_base = 0xffffffff00000000ull; /* wraps around */
	cfg.pci_mmio64_size = 0x200000000ull;
	assert_int_equal(acpi_build(b, sizeof(b), GPA, &cfg), -EINVAL);
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Returns the whole file as a NUL-terminated string (caller frees). */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *s;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return s;
}

/* Runs "iasl -d name.ext" in dir; fails on a non-zero exit or any
 * warning/error in its log; returns the disassembly (caller frees). */
static char *iasl_disassemble(const char *dir, const char *name, const char *ext,
			      const uint8_t *table)
{
	char path[256], cmd[512];
	char *log, *dsl;
	int rc;

	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
	write_file(path, table, rd32(table + 4));
	snprintf(cmd, sizeof(cmd), "cd '%s' && iasl -d %s.%s > %s.log 2>&1", dir, name, ext, name);
	rc = system(cmd);
	snprintf(path, sizeof(path), "%s/%s.log", dir, name);
	log = read_file(path);
	if (rc != 0 || strcasestr(log, "error") || strcasestr(log, "warning") ||
	    strcasestr(log, "incorrect"))
		fail_msg("iasl -d %s.%s failed (status %d):\n%s", name, ext, rc, log);
	free(log);
	snprintf(path, sizeof(path), "%s/%s.dsl", dir, name);
	dsl = read_file(path);
	if (getenv("ACPI_TEST_VERBOSE"))
		printf("%s\n", dsl);
	return dsl;
}

static void remove_files(const char *dir, const char *name, const char *ext)
{
	const char *exts[] = { ext, "log", "dsl" };
	char path[256];
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s.%s", dir, name, exts[i]);
		unlink(path);
	}
}

static char iasl_dir[32];

static int iasl_setup(void **state)
{
	(void)state;
	snprintf(iasl_dir, sizeof(iasl_dir), "/tmp/hutch-acpi-XXXXXX"); /* fresh each test */
	return mkdtemp(iasl_dir) ? 0 : -1;
}

/* Runs even when an assertion failed, so no temp files are left behind. */
static int iasl_teardown(void **state)
{
	(void)state;
	remove_files(iasl_dir, "dsdt", "aml");
	remove_files(iasl_dir, "facp", "dat");
	remove_files(iasl_dir, "apic", "dat");
	remove_files(iasl_dir, "dsdt-pci", "aml");
	remove_files(iasl_dir, "dsdt-hi", "aml");
	remove_files(iasl_dir, "mcfg", "dat");
	remove_files(iasl_dir, "dsdt-pwrb", "aml");
	return rmdir(iasl_dir);
}

static void test_iasl(void **state)
{
	struct tables t;
	const char *p;
	unsigned n = 0;
	char *dsl;

	(void)state;
	if (system("command -v iasl > /dev/null 2>&1") != 0) {
		printf("iasl not found (Debian: acpica-tools); skipping\n");
		skip();
	}
	build(&t, 2);

	dsl = iasl_disassemble(iasl_dir, "dsdt", "aml", t.dsdt);
	assert_non_null(strstr(dsl, "Name (_S5, Package (0x04)"));
	assert_non_null(strstr(dsl, "Scope (\\_SB)"));
	assert_non_null(strstr(dsl, "Name (_HID, \"QEMU0001\")"));
	assert_non_null(strstr(dsl, "Method (_STA, 0, NotSerialized)"));
	assert_non_null(strstr(dsl, "Return (0x0F)"));
	assert_non_null(strstr(dsl, "0x0505,"));
	assert_non_null(strstr(dsl, "EisaId (\"PNP0501\")"));
	free(dsl);

	/* data tables: iasl flags bad checksums and lengths as warnings */
	dsl = iasl_disassemble(iasl_dir, "facp", "dat", t.fadt);
	free(dsl);

	dsl = iasl_disassemble(iasl_dir, "apic", "dat", t.madt);
	for (p = dsl; (p = strstr(p, "[Processor Local APIC]")); p++)
		n++;
	assert_int_equal(n, 2);
	free(dsl);
	free(t.buf);
}

/* Counts the occurrences of needle in hay. */
static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (; (hay = strstr(hay, needle)); hay++)
		n++;
	return n;
}

#define PRODUCER_MIN_MAX     "ResourceProducer, MinFixed, MaxFixed"
#define PRODUCER_POS_MIN_MAX "ResourceProducer, PosDecode, MinFixed, MaxFixed"

static void test_iasl_pci(void **state)
{
	struct acpi_config cfg = make_pci_cfg(2);
	struct tables t;
	char *dsl;

	(void)state;
	if (system("command -v iasl > /dev/null 2>&1") != 0) {
		printf("iasl not found (Debian: acpica-tools); skipping\n");
		skip();
	}
	build_cfg(&t, &cfg);
	dsl = iasl_disassemble(iasl_dir, "dsdt-pci", "aml", t.dsdt);
	assert_non_null(strstr(dsl, "Device (PCI0)"));
	assert_non_null(strstr(dsl, "Name (_HID, EisaId (\"PNP0A08\")"));
	assert_non_null(strstr(dsl, "Name (_CID, EisaId (\"PNP0A03\")"));
	assert_non_null(strstr(dsl, "Name (_SEG, Zero)"));
	assert_non_null(strstr(dsl, "Name (_BBN, Zero)"));
	assert_non_null(strstr(dsl, "Method (_OSC, 4, NotSerialized)"));
	assert_non_null(strstr(dsl, "Return (Arg3)"));
	assert_int_equal(count(dsl, "ResourceTemplate ()"), 4);
	assert_int_equal(count(dsl, "WordBusNumber (" PRODUCER_MIN_MAX ", PosDecode,"), 1);
	assert_int_equal(count(dsl, "WordIO (" PRODUCER_MIN_MAX ", PosDecode, EntireRange,"), 2);
	assert_non_null(strstr(dsl, "0x0CF8,             // Range Minimum"));
	assert_non_null(strstr(dsl, "0x0CF7,             // Range Maximum"));
	assert_non_null(strstr(dsl, "0x0D00,             // Range Minimum"));
	assert_non_null(strstr(dsl, "0xFFFF,             // Range Maximum"));
	assert_int_equal(count(dsl, "DWordMemory (" PRODUCER_POS_MIN_MAX ", NonCacheable, ReadWrite,"),
			 1);
	assert_non_null(strstr(dsl, "0xC0000000,         // Range Minimum"));
	assert_non_null(strstr(dsl, "0xDFFFFFFF,         // Range Maximum"));
	assert_non_null(strstr(dsl, "0x20000000,         // Length"));
	assert_int_equal(count(dsl, "QWordMemory (" PRODUCER_POS_MIN_MAX ", Cacheable, ReadWrite,"), 1);
	assert_non_null(strstr(dsl, "0x0000008000000000, // Range Minimum"));
	assert_non_null(strstr(dsl, "0x000000FFFFFFFFFF, // Range Maximum"));
	assert_non_null(strstr(dsl, "0x0000008000000000, // Length"));
	assert_non_null(strstr(dsl, "Device (RES0)"));
	assert_non_null(strstr(dsl, "Name (_HID, EisaId (\"PNP0C02\")"));
	assert_non_null(strstr(dsl, "Memory32Fixed (ReadWrite,"));
	assert_non_null(strstr(dsl, "0xE0000000,         // Address Base"));
	assert_non_null(strstr(dsl, "0x00100000,         // Address Length"));
	free(dsl);

	dsl = iasl_disassemble(iasl_dir, "mcfg", "dat", t.mcfg);
	assert_non_null(strstr(dsl, "Signature : \"MCFG\""));
	assert_non_null(strstr(dsl, "Base Address : 00000000E0000000"));
	assert_non_null(strstr(dsl, "Segment Group Number : 0000"));
	assert_non_null(strstr(dsl, "Start Bus Number : 00"));
	assert_non_null(strstr(dsl, "End Bus Number : 00"));
	free(dsl);
	free(t.buf);

	/* ECAM above 4 GiB for 256 buses, no 64-bit window: RES0 gets a
	 * QWordMemory instead of Memory32Fixed */
	cfg.pci_ecam_base = 0x4000000000ull;
	cfg.pci_bus_end = 255;
	cfg.pci_mmio64_size = 0;
	build_cfg(&t, &cfg);
	dsl = iasl_disassemble(iasl_dir, "dsdt-hi", "aml", t.dsdt);
	assert_non_null(strstr(dsl, "0x00FF,             // Range Maximum"));
	assert_non_null(strstr(dsl, "0x0100,             // Length"));
	assert_int_equal(count(dsl, "QWordMemory (ResourceConsumer, PosDecode, MinFixed, MaxFixed, "
				    "NonCacheable, ReadWrite,"),
			 1);
	assert_non_null(strstr(dsl, "0x0000004000000000, // Range Minimum"));
	assert_non_null(strstr(dsl, "0x000000400FFFFFFF, // Range Maximum"));
	assert_non_null(strstr(dsl, "0x0000000010000000, // Length"));
	assert_null(strstr(dsl, "Memory32Fixed"));
	free(dsl);
	free(t.buf);
}

/* iasl finds the power button, the GED with its interrupt and _EVT, and
 * resolves the Notify target (an unresolved one disassembles as an
 * External, with a warning). */
static void test_iasl_power_button(void **state)
{
	struct acpi_config cfg = make_pci_cfg(2);
	struct tables t;
	char *dsl;

	(void)state;
	if (system("command -v iasl > /dev/null 2>&1") != 0) {
		printf("iasl not found (Debian: acpica-tools); skipping\n");
		skip();
	}
	cfg.power_button_gsi = POWER_GSI;
	build_cfg(&t, &cfg);
	dsl = iasl_disassemble(iasl_dir, "dsdt-pwrb", "aml", t.dsdt);
	assert_non_null(strstr(dsl, "Device (PWRB)"));
	assert_non_null(strstr(dsl, "Name (_HID, EisaId (\"PNP0C0C\")"));
	assert_non_null(strstr(dsl, "Device (GED0)"));
	assert_non_null(strstr(dsl, "Name (_HID, \"ACPI0013\""));
	assert_non_null(strstr(dsl, "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )"));
	assert_non_null(strstr(dsl, "0x00000009,"));
	assert_non_null(strstr(dsl, "Method (_EVT, 1, NotSerialized)"));
	assert_non_null(strstr(dsl, "Notify (\\_SB.PWRB, 0x80)"));
	assert_null(strstr(dsl, "External"));
	/* the rest is still there */
	assert_non_null(strstr(dsl, "Device (PCI0)"));
	assert_non_null(strstr(dsl, "EisaId (\"PNP0501\")"));
	free(dsl);
	free(t.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rsdp_xsdt),
		cmocka_unit_test(test_fadt),
		cmocka_unit_test(test_madt),
		cmocka_unit_test(test_dsdt),
		cmocka_unit_test(test_mcfg),
		cmocka_unit_test(test_dsdt_pci),
		cmocka_unit_test(test_no_pci),
		cmocka_unit_test(test_dsdt_power_button),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_einval),
		cmocka_unit_test_setup_teardown(test_iasl, iasl_setup, iasl_teardown),
		cmocka_unit_test_setup_teardown(test_iasl_pci, iasl_setup, iasl_teardown),
		cmocka_unit_test_setup_teardown(test_iasl_power_button, iasl_setup, iasl_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

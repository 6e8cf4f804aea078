/* Unit tests for the ACPI table builder: layout, checksums, bounds and an iasl disassembly check. */
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

static const unsigned ncpus_list[] = { 1, 2, 64, 255 };
#define NCPUS_COUNT (sizeof(ncpus_list) / sizeof(ncpus_list[0]))

struct tables {
	uint8_t *buf;
	long len;
	const uint8_t *xsdt, *fadt, *madt, *dsdt;
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

static void build(struct tables *t, unsigned ncpus)
{
	struct acpi_config cfg = make_cfg(ncpus);
	const uint8_t *r;
	unsigned i, n;

	t->buf = calloc(1, BUF_SIZE);
	assert_non_null(t->buf);
	t->len = acpi_build(t->buf, BUF_SIZE, GPA, &cfg);
	assert_true(t->len > 0 && t->len <= (long)BUF_SIZE);

	r = t->buf;		/* RSDP, ACPI 6.4 §5.2.5.3 */
	assert_memory_equal(r, "RSD PTR ", 8);
	assert_int_equal(sum(r, 20), 0);
	assert_int_equal(r[15], 2);
	assert_int_equal(rd32(r + 20), 36);
	assert_int_equal(sum(r, 36), 0);
	t->xsdt = table_at(t, rd64(r + 24), "XSDT");

	t->fadt = t->madt = NULL;
	n = (rd32(t->xsdt + 4) - 36) / 8;
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		uint64_t a = rd64(t->xsdt + 36 + 8 * i);
		const uint8_t *p = t->buf + (a - GPA);

		assert_true(a >= GPA && a - GPA + 36 <= (uint64_t)t->len);
		if (!memcmp(p, "FACP", 4))
			t->fadt = table_at(t, a, "FACP");
		else
			t->madt = table_at(t, a, "APIC");
	}
	assert_non_null(t->fadt);
	assert_non_null(t->madt);
	t->dsdt = table_at(t, rd64(t->fadt + 140), "DSDT");
	assert_int_equal(rd32(t->fadt + 40), rd64(t->fadt + 140));
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

static void test_enospc(void **state)
{
	struct tables ref;
	size_t i, sz, j;

	(void)state;
	for (i = 0; i < NCPUS_COUNT; i++) {
		struct acpi_config cfg = make_cfg(ncpus_list[i]);
		size_t need;

		build(&ref, ncpus_list[i]);
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

static char iasl_dir[] = "/tmp/hutch-acpi-XXXXXX";

static int iasl_setup(void **state)
{
	(void)state;
	return mkdtemp(iasl_dir) ? 0 : -1;
}

/* Runs even when an assertion failed, so no temp files are left behind. */
static int iasl_teardown(void **state)
{
	(void)state;
	remove_files(iasl_dir, "dsdt", "aml");
	remove_files(iasl_dir, "facp", "dat");
	remove_files(iasl_dir, "apic", "dat");
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rsdp_xsdt),
		cmocka_unit_test(test_fadt),
		cmocka_unit_test(test_madt),
		cmocka_unit_test(test_dsdt),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_einval),
		cmocka_unit_test_setup_teardown(test_iasl, iasl_setup, iasl_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* ACPI tables for x86 guests: RSDP, XSDT, hardware-reduced FADT, MADT, MCFG and an AML DSDT. */
#include "vmm/x86/acpi.h"
#include "vmm/x86/layout.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/*
 * Layout, all offsets relative to buf (guest sees buf at gpa), each table
 * 8-byte aligned:
 *
 *   RSDP (36) | XSDT (36 + 8 * n) | FADT (276) | MADT (72 + 8 * ncpus) |
 *   [MCFG (60)] | DSDT
 *
 * The MCFG, its XSDT entry and the DSDT's PCI0 and RES0 devices exist only
 * when cfg->pci_ecam_base is set; without it the output is byte-for-byte
 * what it was before PCI support. Likewise the DSDT's PWRB and GED0 with
 * cfg->power_button_gsi.
 *
 * Everything is written through struct out, which checks the remaining room
 * before every write and latches "full" instead of overflowing. Pointers
 * between tables are patched in at the end, then all checksums are set.
 */

#define OEM_ID	      "HUTCH "	 /* 6 bytes */
#define OEM_TABLE_ID  "HUTCHVM " /* 8 bytes */
#define CREATOR_ID    "HTCH"	 /* 4 bytes */
#define HYPERVISOR_ID "HUTCHVM " /* 8 bytes, FADT Hypervisor Vendor Identity */

/* ACPI 6.4 §5.2.5.3: RSDP structure, revision 2 (ACPI 2.0+) */
#define RSDP_LEN	  36
#define RSDP_V1_LEN	  20 /* "checksum" covers the first 20 bytes */
#define RSDP_CHECKSUM	  8
#define RSDP_OEMID	  9
#define RSDP_REVISION	  15
#define RSDP_LENGTH	  20
#define RSDP_XSDT	  24
#define RSDP_EXT_CHECKSUM 32

/* ACPI 6.4 §5.2.6: system description table header */
#define HDR_LEN	     36
#define HDR_LENGTH   4
#define HDR_CHECKSUM 9

/* ACPI 6.4 §5.2.8: XSDT; entries are 64-bit table addresses */
#define XSDT_ENTRIES_MAX 3 /* FADT, MADT, MCFG */

/* ACPI 6.4 §5.2.9, Table 5.9: FADT revision 6 field offsets */
#define FADT_LEN	    276
#define FADT_REVISION	    6
#define FADT_MINOR	    4 /* ACPI 6.4 */
#define FADT_DSDT	    40
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS	    112
#define FADT_RESET_REG	    116
#define FADT_RESET_VALUE    128
#define FADT_MINOR_VERSION  131
#define FADT_X_DSDT	    140
#define FADT_SLEEP_CONTROL  244
#define FADT_SLEEP_STATUS   256
#define FADT_HYPERVISOR_ID  268

/* ACPI 6.4 §5.2.9.3, Table 5.11: IA-PC boot architecture flags */
#define IAPC_VGA_NOT_PRESENT (1u << 2)
/* ACPI 6.4 §5.2.9, Table 5.10: fixed feature flags */
#define FADT_F_RESET_REG_SUP   (1u << 10)
#define FADT_F_HW_REDUCED_ACPI (1u << 20)

/* ACPI 6.4 §5.2.3.2, Table 5.1: Generic Address Structure */
#define GAS_LEN		12
#define GAS_SYSTEM_IO	1
#define GAS_ACCESS_BYTE 1

/* ACPI 6.4 §5.2.12: MADT */
#define MADT_REVISION	    5
#define MADT_LAPIC_ADDR	    36
#define MADT_FLAGS	    40
#define MADT_PCAT_COMPAT    (1u << 0)
#define MADT_LAPIC	    0 /* §5.2.12.2: Processor Local APIC */
#define MADT_LAPIC_LEN	    8
#define MADT_LAPIC_ENABLED  (1u << 0)
#define MADT_IOAPIC	    1 /* §5.2.12.3: I/O APIC */
#define MADT_IOAPIC_LEN	    12
#define MADT_ISO	    2 /* §5.2.12.5: Interrupt Source Override */
#define MADT_ISO_LEN	    10
#define MADT_LAPIC_NMI	    4 /* §5.2.12.7: Local APIC NMI */
#define MADT_LAPIC_NMI_LEN  6
#define MADT_ALL_PROCESSORS 0xff

/* PCI Firmware Specification 3.3 §4.1.2: MCFG with one allocation entry */
#define MCFG_REVISION  1
#define MCFG_ALLOC     (HDR_LEN + 8) /* after 8 reserved bytes */
#define MCFG_ALLOC_LEN 16
#define MCFG_LEN       (MCFG_ALLOC + MCFG_ALLOC_LEN)
#define ECAM_BUS_SHIFT 20 /* 1 MiB of configuration space per bus */

#define DSDT_REVISION 2 /* §5.2.11.1: >= 2 means 64-bit AML integers */

/* ACPI 6.4 §20.3: AML opcodes */
#define AML_ZERO_OP    0x00
#define AML_ONE_OP     0x01
#define AML_NAME_OP    0x08
#define AML_BYTE_PFX   0x0a
#define AML_WORD_PFX   0x0b
#define AML_DWORD_PFX  0x0c
#define AML_STRING_PFX 0x0d
#define AML_QWORD_PFX  0x0e
#define AML_SCOPE_OP   0x10
#define AML_BUFFER_OP  0x11
#define AML_PACKAGE_OP 0x12
#define AML_METHOD_OP  0x14
#define AML_ROOT_CHAR  0x5c
#define AML_EXT_PFX    0x5b
#define AML_DEVICE_OP  0x82 /* after AML_EXT_PFX */
#define AML_RETURN_OP  0xa4
#define AML_ARG3_OP    0x6b
#define AML_NOTIFY_OP  0x86
#define AML_DUAL_PFX   0x2e /* DualNamePrefix: two NameSegs follow */

/* ACPI 6.4 §6.4.2: small resource descriptors */
#define RES_IRQ_NOFLAGS 0x22 /* §6.4.2.1: IRQ, 2-byte form */
#define RES_IO		0x47 /* §6.4.2.5: I/O port, 8 bytes */
#define RES_IO_DECODE16 0x01
#define RES_END_TAG	0x79 /* §6.4.2.9: end tag, 2 bytes */

/* ACPI 6.4 §6.4.3: large resource descriptors, a 3-byte header (tag, le16
 * length of what follows) and then the item's data */
#define RES_MEM32_FIXED	    0x86 /* §6.4.3.4: 32-bit fixed memory range */
#define RES_EXT_IRQ	    0x89 /* §6.4.3.6: extended interrupt */
#define RES_EXT_IRQ_LEN	    9	 /* with one interrupt, no resource source */
#define EXT_IRQ_CONSUMER    (1u << 0)
#define EXT_IRQ_EDGE	    (1u << 1) /* bit 2 clear: active high; 3 clear: exclusive */
#define RES_MEM32_FIXED_LEN 12
#define RES_MEM_RW	    0x01
#define RES_DWORD_ADDR	    0x87 /* §6.4.3.5.2: DWord address space */
#define RES_WORD_ADDR	    0x88 /* §6.4.3.5.3: Word address space */
#define RES_QWORD_ADDR	    0x8a /* §6.4.3.5.1: QWord address space */
/* address space descriptors: byte 3, resource type */
#define ADDR_TYPE_MEM 0
#define ADDR_TYPE_IO  1
#define ADDR_TYPE_BUS 2
/* byte 4, general flags: bit 0 set is "consumes only", clear "produces and
 * consumes"; bit 1 clear is positive decode; min and max address fixed */
#define ADDR_GEN_CONSUMER  (1u << 0)
#define ADDR_GEN_MIN_FIXED (1u << 2)
#define ADDR_GEN_MAX_FIXED (1u << 3)
/* byte 5, type-specific flags, §6.4.3.5.5: memory (Table 6.50) _RW and _MEM,
 * I/O (Table 6.51) _RNG; bus numbers have none */
#define ADDR_MEM_RW	      (1u << 0)
#define ADDR_MEM_NONCACHEABLE (0u << 1)
#define ADDR_MEM_CACHEABLE    (1u << 1)
#define ADDR_IO_ENTIRE_RANGE  3u

#define PCI_CONF1_PORT 0xcf8 /* configuration mechanism #1: address + data */
#define PCI_CONF1_LEN  8

#define COM1_LEN 8 /* 16550 register block */

/* ACPI 6.4 §5.6.6: the device-specific notification for a power
 * button, "button pressed" */
#define NOTIFY_BUTTON_PRESSED 0x80

struct out {
	uint8_t *buf;
	size_t cap;
	size_t pos;
	bool full;
};

static bool room(struct out *o, size_t n)
{
	if (o->full || n > o->cap - o->pos)
		o->full = true;
	return !o->full;
}

/* Reserves n zeroed bytes and returns them, or NULL when out of room. */
static uint8_t *reserve(struct out *o, size_t n)
{
	uint8_t *p;

	if (!room(o, n))
		return NULL;
	p = o->buf + o->pos;
	memset(p, 0, n);
	o->pos += n;
	return p;
}

static void emit(struct out *o, const void *data, size_t n)
{
	uint8_t *p = reserve(o, n);

	if (p)
		memcpy(p, data, n);
}

static void emit8(struct out *o, uint8_t v)
{
	emit(o, &v, 1);
}

static void align8(struct out *o)
{
	reserve(o, (8 - (o->pos & 7)) & 7);
}

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	le16(p, (uint16_t)v);
	le16(p + 2, (uint16_t)(v >> 16));
}

static void le64(uint8_t *p, uint64_t v)
{
	le32(p, (uint32_t)v);
	le32(p + 4, (uint32_t)(v >> 32));
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;

	while (n--)
		sum = (uint8_t)(sum + *p++);
	return (uint8_t)-sum;
}

/* ACPI 6.4 §5.2.3.2: an 8-bit, byte-access System I/O register at port */
static void gas_io8(uint8_t *p, uint16_t port)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = 8; /* register bit width */
	p[2] = 0; /* register bit offset */
	p[3] = GAS_ACCESS_BYTE;
	le64(p + 4, port);
}

/* Writes a table header (ACPI 6.4 §5.2.6) and reserves len bytes for the
 * table; returns the table or NULL when out of room. */
static uint8_t *table_begin(struct out *o, const char sig[4], size_t len, uint8_t rev)
{
	uint8_t *t = reserve(o, len);

	if (!t)
		return NULL;
	memcpy(t, sig, 4);
	le32(t + HDR_LENGTH, (uint32_t)len);
	t[8] = rev;
	memcpy(t + 10, OEM_ID, 6);
	memcpy(t + 16, OEM_TABLE_ID, 8);
	le32(t + 24, 1); /* OEM revision */
	memcpy(t + 28, CREATOR_ID, 4);
	le32(t + 32, 1); /* creator revision */
	return t;
}

static void table_checksum(uint8_t *t)
{
	uint32_t len =
		(uint32_t)t[4] | (uint32_t)t[5] << 8 | (uint32_t)t[6] << 16 | (uint32_t)t[7] << 24;

	t[HDR_CHECKSUM] = 0;
	t[HDR_CHECKSUM] = checksum(t, len);
}

static void build_fadt(uint8_t *t, const struct acpi_config *cfg)
{
	le16(t + FADT_IAPC_BOOT_ARCH, IAPC_VGA_NOT_PRESENT);
	le32(t + FADT_FLAGS, FADT_F_HW_REDUCED_ACPI | FADT_F_RESET_REG_SUP);
	gas_io8(t + FADT_RESET_REG, cfg->reset_port);
	t[FADT_RESET_VALUE] = cfg->reset_value;
	t[FADT_MINOR_VERSION] = FADT_MINOR;
	gas_io8(t + FADT_SLEEP_CONTROL, cfg->sleep_ctl_port);
	gas_io8(t + FADT_SLEEP_STATUS, cfg->sleep_sts_port);
	memcpy(t + FADT_HYPERVISOR_ID, HYPERVISOR_ID, 8);
	/* DSDT / X_DSDT are patched in once the DSDT's place is known. */
}

static size_t madt_len(unsigned ncpus)
{
	return HDR_LEN + 8 + ncpus * MADT_LAPIC_LEN + MADT_IOAPIC_LEN + MADT_ISO_LEN +
	       MADT_LAPIC_NMI_LEN;
}

static void build_madt(uint8_t *t, const struct acpi_config *cfg)
{
	uint8_t *p = t + HDR_LEN + 8;
	unsigned i;

	le32(t + MADT_LAPIC_ADDR, cfg->lapic_addr);
	le32(t + MADT_FLAGS, MADT_PCAT_COMPAT);
	for (i = 0; i < cfg->ncpus; i++, p += MADT_LAPIC_LEN) {
		p[0] = MADT_LAPIC;
		p[1] = MADT_LAPIC_LEN;
		p[2] = (uint8_t)i; /* ACPI processor UID */
		p[3] = (uint8_t)i; /* APIC ID */
		le32(p + 4, MADT_LAPIC_ENABLED);
	}
	p[0] = MADT_IOAPIC;
	p[1] = MADT_IOAPIC_LEN;
	p[2] = 0; /* I/O APIC ID */
	le32(p + 4, cfg->ioapic_addr);
	le32(p + 8, 0); /* global system interrupt base */
	p += MADT_IOAPIC_LEN;
	/* ISA IRQ 0 (PIT) is wired to I/O APIC pin 2; flags 0: conforms to bus */
	p[0] = MADT_ISO;
	p[1] = MADT_ISO_LEN;
	p[2] = 0;	/* bus: ISA */
	p[3] = 0;	/* source: IRQ 0 */
	le32(p + 4, 2); /* GSI 2 */
	le16(p + 8, 0);
	p += MADT_ISO_LEN;
	/* NMI is delivered through LINT1 on every processor */
	p[0] = MADT_LAPIC_NMI;
	p[1] = MADT_LAPIC_NMI_LEN;
	p[2] = MADT_ALL_PROCESSORS;
	le16(p + 3, 0); /* flags: conforms to bus */
	p[5] = 1;	/* LINT1 */
}

/* ---- AML (ACPI 6.4 §20) ---- */

/* Opens a PkgLength-prefixed block; the length is inserted by aml_end(). */
static size_t aml_begin(struct out *o)
{
	return o->pos;
}

/* ACPI 6.4 §20.2.4: PkgLength counts itself plus what follows. One byte
 * holds up to 63; otherwise bits 7:6 of the lead byte give the number of
 * following bytes, bits 3:0 the low nibble, the rest follow 8 bits each. */
static void aml_end(struct out *o, size_t start)
{
	/* largest PkgLength encodable in 1..4 bytes: 6, 12, 20, 28 bits */
	static const size_t max[5] = { 0, 0x3f, 0xfff, 0xfffff, 0xfffffff };
	size_t body = o->pos - start, len, n, i;
	uint8_t enc[4];

	if (o->full)
		return;
	for (n = 1; n <= 4 && body + n > max[n]; n++)
		;
	if (n > 4) {
		o->full = true;
		return;
	}
	len = body + n;
	enc[0] = (uint8_t)(n == 1 ? len : ((n - 1) << 6 | (len & 0xf)));
	for (i = 1; i < n; i++)
		enc[i] = (uint8_t)(len >> (4 + 8 * (i - 1)));
	if (!reserve(o, n))
		return;
	memmove(o->buf + start + n, o->buf + start, body);
	memcpy(o->buf + start, enc, n);
}

/* ACPI 6.4 §20.2.2: NameSeg, exactly four characters */
static void aml_nameseg(struct out *o, const char *seg)
{
	emit(o, seg, 4);
}

/* ACPI 6.4 §20.2.3: ComputationalData integer, shortest encoding */
static void aml_integer(struct out *o, uint64_t v)
{
	uint8_t b[8];

	if (v == 0 || v == 1) {
		emit8(o, v ? AML_ONE_OP : AML_ZERO_OP);
		return;
	}
	le64(b, v);
	if (v <= 0xff) {
		emit8(o, AML_BYTE_PFX);
		emit(o, b, 1);
	} else if (v <= 0xffff) {
		emit8(o, AML_WORD_PFX);
		emit(o, b, 2);
	} else if (v <= 0xffffffff) {
		emit8(o, AML_DWORD_PFX);
		emit(o, b, 4);
	} else {
		emit8(o, AML_QWORD_PFX);
		emit(o, b, 8);
	}
}

static void aml_string(struct out *o, const char *s)
{
	emit8(o, AML_STRING_PFX);
	emit(o, s, strlen(s) + 1);
}

/* ACPI 6.4 §19.6.35: EISAID("PNPdddd") compressed into a DWordConst */
static void aml_eisaid(struct out *o, const char *id)
{
	static const char hex[] = "0123456789ABCDEF";
	uint8_t b[4];
	unsigned d[4], i;

	for (i = 0; i < 4; i++)
		d[i] = (unsigned)(strchr(hex, id[3 + i]) - hex);
	b[0] = (uint8_t)((id[0] & 0x1f) << 2 | (id[1] & 0x1f) >> 3);
	b[1] = (uint8_t)((id[1] & 0x07) << 5 | (id[2] & 0x1f));
	b[2] = (uint8_t)(d[0] << 4 | d[1]);
	b[3] = (uint8_t)(d[2] << 4 | d[3]);
	emit8(o, AML_DWORD_PFX);
	emit(o, b, 4);
}

/* Name (seg, ...): the caller emits the data object next. */
static void aml_name(struct out *o, const char *seg)
{
	emit8(o, AML_NAME_OP);
	aml_nameseg(o, seg);
}

static void aml_name_integer(struct out *o, const char *seg, uint64_t v)
{
	aml_name(o, seg);
	aml_integer(o, v);
}

/* ACPI 6.4 §20.2.5.4: Package (n) { integers } */
static void aml_package(struct out *o, const uint64_t *vals, uint8_t n)
{
	size_t start;
	unsigned i;

	emit8(o, AML_PACKAGE_OP);
	start = aml_begin(o);
	emit8(o, n); /* NumElements */
	for (i = 0; i < n; i++)
		aml_integer(o, vals[i]);
	aml_end(o, start);
}

/* ACPI 6.4 §20.2.5.4: Buffer (n) { bytes } */
static void aml_buffer(struct out *o, const uint8_t *data, size_t n)
{
	size_t start;

	emit8(o, AML_BUFFER_OP);
	start = aml_begin(o);
	aml_integer(o, n); /* BufferSize */
	emit(o, data, n);
	aml_end(o, start);
}

/* Scope (\seg) {: returns the block start for aml_end() */
static size_t aml_scope_root(struct out *o, const char *seg)
{
	size_t start;

	emit8(o, AML_SCOPE_OP);
	start = aml_begin(o);
	emit8(o, AML_ROOT_CHAR);
	aml_nameseg(o, seg);
	return start;
}

/* Device (seg) {: returns the block start for aml_end() */
static size_t aml_device(struct out *o, const char *seg)
{
	size_t start;

	emit8(o, AML_EXT_PFX);
	emit8(o, AML_DEVICE_OP);
	start = aml_begin(o);
	aml_nameseg(o, seg);
	return start;
}

/* Method (seg, 0, NotSerialized) { Return (v) } */
static void aml_method_return(struct out *o, const char *seg, uint64_t v)
{
	size_t start;

	emit8(o, AML_METHOD_OP);
	start = aml_begin(o);
	aml_nameseg(o, seg);
	emit8(o, 0); /* MethodFlags: 0 args, not serialized */
	emit8(o, AML_RETURN_OP);
	aml_integer(o, v);
	aml_end(o, start);
}

/* ACPI 6.4 §6.4.2.5: I/O port descriptor, 16-bit decode, fixed base */
static size_t res_io(uint8_t *r, uint16_t port, uint8_t len)
{
	r[0] = RES_IO;
	r[1] = RES_IO_DECODE16;
	le16(r + 2, port); /* range minimum base */
	le16(r + 4, port); /* range maximum base */
	r[6] = 1;	   /* base alignment */
	r[7] = len;	   /* range length */
	return 8;
}

/* ACPI 6.4 §6.4.2.1: IRQ descriptor without flags (edge, active high) */
static size_t res_irq(uint8_t *r, unsigned irq)
{
	r[0] = RES_IRQ_NOFLAGS;
	le16(r + 1, (uint16_t)(1u << irq));
	return 3;
}

/* ACPI 6.4 §6.4.2.9: end tag; a zero checksum means "valid" */
static size_t res_end(uint8_t *r)
{
	r[0] = RES_END_TAG;
	r[1] = 0;
	return 2;
}

/* Little-endian integer of width bytes (2, 4 or 8) */
static void le_n(uint8_t *p, unsigned width, uint64_t v)
{
	unsigned i;

	for (i = 0; i < width; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

/*
 * ACPI 6.4 §6.4.3.5.1-3: a Word (width 2), DWord (4) or QWord (8) address
 * space descriptor: positive decode, fixed range [min, min + len - 1],
 * granularity 0, no translation, no resource source. gen is 0 for a range
 * the device produces (a bridge window) or ADDR_GEN_CONSUMER.
 */
static size_t res_addr(uint8_t *r, unsigned width, uint8_t gen, uint8_t type, uint8_t tflags,
		       uint64_t min, uint64_t len)
{
	const size_t n = 6 + 5 * (size_t)width; /* header, 3 flag bytes, 5 fields */
	uint8_t *f = r + 6;

	r[0] = width == 2 ? RES_WORD_ADDR : width == 4 ? RES_DWORD_ADDR : RES_QWORD_ADDR;
	le16(r + 1, (uint16_t)(n - 3));
	r[3] = type;
	r[4] = (uint8_t)(gen | ADDR_GEN_MIN_FIXED | ADDR_GEN_MAX_FIXED);
	r[5] = tflags;
	le_n(f, width, 0);			   /* _GRA */
	le_n(f + width, width, min);		   /* _MIN */
	le_n(f + 2 * width, width, min + len - 1); /* _MAX */
	le_n(f + 3 * width, width, 0);		   /* _TRA */
	le_n(f + 4 * width, width, len);	   /* _LEN */
	return n;
}

/* ACPI 6.4 §6.4.3.4: Memory32Fixed (ReadWrite, base, len) */
static size_t res_mem32_fixed(uint8_t *r, uint32_t base, uint32_t len)
{
	r[0] = RES_MEM32_FIXED;
	le16(r + 1, RES_MEM32_FIXED_LEN - 3);
	r[3] = RES_MEM_RW;
	le32(r + 4, base);
	le32(r + 8, len);
	return RES_MEM32_FIXED_LEN;
}

/* ACPI 6.4 §6.4.3.6: Interrupt (ResourceConsumer, Edge, ActiveHigh,
 * Exclusive) { gsi } */
static size_t res_interrupt_edge(uint8_t *r, uint32_t gsi)
{
	r[0] = RES_EXT_IRQ;
	le16(r + 1, RES_EXT_IRQ_LEN - 3);
	r[3] = EXT_IRQ_CONSUMER | EXT_IRQ_EDGE;
	r[4] = 1; /* interrupt table length */
	le32(r + 5, gsi);
	return RES_EXT_IRQ_LEN;
}

/* Device (PEVT): pvpanic, bound by Linux's pvpanic-mmio via QEMU0001 */
static void aml_pvpanic(struct out *o, uint16_t port)
{
	uint8_t crs[16];
	size_t start, n;

	start = aml_device(o, "PEVT");
	aml_name(o, "_HID");
	aml_string(o, "QEMU0001");
	aml_method_return(o, "_STA", 0x0f); /* §6.3.7: present, enabled, shown, functioning */
	n = res_io(crs, port, 1);
	n += res_end(crs + n);
	aml_name(o, "_CRS");
	aml_buffer(o, crs, n);
	aml_end(o, start);
}

/* Device (COM1): the legacy 16550 UART, bound by Linux's 8250_pnp */
static void aml_com1(struct out *o)
{
	uint8_t crs[16];
	size_t start, n;

	start = aml_device(o, "COM1");
	aml_name(o, "_HID");
	aml_eisaid(o, "PNP0501");
	aml_name_integer(o, "_UID", 1);
	n = res_io(crs, X86_PORT_COM1, COM1_LEN);
	n += res_irq(crs + n, X86_IRQ_COM1);
	n += res_end(crs + n);
	aml_name(o, "_CRS");
	aml_buffer(o, crs, n);
	aml_end(o, start);
}

/* Device (PWRB): the power button (§4.8.2.2.1.2, control method variant),
 * bound by Linux's button driver, which reports KEY_POWER on an input
 * device and a "button/power" netlink event when notified. */
static void aml_power_button(struct out *o)
{
	size_t start;

	start = aml_device(o, "PWRB");
	aml_name(o, "_HID");
	aml_eisaid(o, "PNP0C0C");
	aml_name_integer(o, "_UID", 0);
	aml_end(o, start);
}

/*
 * Device (GED0): the Generic Event Device (§5.6.9), hardware-reduced ACPI's
 * way to signal events. Linux's acpi_ged requests its interrupt and, with
 * no _Exx method for the GSI, runs _EVT (GSI) on each edge; its only event
 * is the power button:
 *
 *   Method (_EVT, 1, NotSerialized) { Notify (\_SB.PWRB, 0x80) }
 */
static void aml_ged(struct out *o, uint32_t gsi)
{
	uint8_t crs[RES_EXT_IRQ_LEN + 2];
	size_t start, method, n;

	start = aml_device(o, "GED0");
	aml_name(o, "_HID");
	aml_string(o, "ACPI0013");
	aml_name_integer(o, "_UID", 0);
	n = res_interrupt_edge(crs, gsi);
	n += res_end(crs + n);
	aml_name(o, "_CRS");
	aml_buffer(o, crs, n);

	emit8(o, AML_METHOD_OP);
	method = aml_begin(o);
	aml_nameseg(o, "_EVT");
	emit8(o, 1); /* MethodFlags: 1 arg (the GSI), not serialized */
	emit8(o, AML_NOTIFY_OP);
	emit8(o, AML_ROOT_CHAR);
	emit8(o, AML_DUAL_PFX);
	aml_nameseg(o, "_SB_");
	aml_nameseg(o, "PWRB");
	aml_integer(o, NOTIFY_BUTTON_PRESSED);
	aml_end(o, method);
	aml_end(o, start);
}

static uint64_t ecam_len(const struct acpi_config *cfg)
{
	return ((uint64_t)cfg->pci_bus_end + 1) << ECAM_BUS_SHIFT;
}

/* Method (_OSC, 4, NotSerialized) { Return (Arg3) }: ACPI 6.4 §6.2.11 and
 * PCI Firmware 3.3 §4.5; every control the OS asks for is granted. */
static void aml_osc_grant_all(struct out *o)
{
	size_t start;

	emit8(o, AML_METHOD_OP);
	start = aml_begin(o);
	aml_nameseg(o, "_OSC");
	emit8(o, 4); /* MethodFlags: 4 args, not serialized */
	emit8(o, AML_RETURN_OP);
	emit8(o, AML_ARG3_OP);
	aml_end(o, start);
}

/*
 * Device (PCI0): the PCI Express root bridge of segment 0, bus 0, which
 * Linux's pci_root binds and pairs with the MCFG's ECAM region. Its _CRS
 * gives the bus range, the configuration ports it consumes and the I/O and
 * memory windows it forwards to the bus.
 */
static void aml_pci0(struct out *o, const struct acpi_config *cfg)
{
	uint8_t crs[160];
	size_t start, n = 0;

	start = aml_device(o, "PCI0");
	aml_name(o, "_HID");
	aml_eisaid(o, "PNP0A08");
	aml_name(o, "_CID");
	aml_eisaid(o, "PNP0A03");
	aml_name_integer(o, "_SEG", 0);
	aml_name_integer(o, "_BBN", 0);
	aml_name_integer(o, "_UID", 0);
	aml_osc_grant_all(o);

	n += res_addr(crs + n, 2, 0, ADDR_TYPE_BUS, 0, 0, (uint64_t)cfg->pci_bus_end + 1);
	n += res_io(crs + n, PCI_CONF1_PORT, PCI_CONF1_LEN);
	n += res_addr(crs + n, 2, 0, ADDR_TYPE_IO, ADDR_IO_ENTIRE_RANGE, 0, PCI_CONF1_PORT);
	n += res_addr(crs + n, 2, 0, ADDR_TYPE_IO, ADDR_IO_ENTIRE_RANGE,
		      PCI_CONF1_PORT + PCI_CONF1_LEN, 0x10000 - (PCI_CONF1_PORT + PCI_CONF1_LEN));
	if (cfg->pci_mmio32_size)
		n += res_addr(crs + n, 4, 0, ADDR_TYPE_MEM, ADDR_MEM_RW | ADDR_MEM_NONCACHEABLE,
			      cfg->pci_mmio32_base, cfg->pci_mmio32_size);
	if (cfg->pci_mmio64_size)
		n += res_addr(crs + n, 8, 0, ADDR_TYPE_MEM, ADDR_MEM_RW | ADDR_MEM_CACHEABLE,
			      cfg->pci_mmio64_base, cfg->pci_mmio64_size);
	n += res_end(crs + n);
	aml_name(o, "_CRS");
	aml_buffer(o, crs, n);
	aml_end(o, start);
}

/*
 * Device (RES0): motherboard resources (PNP0C02) holding the ECAM range, so
 * Linux finds MMCONFIG "reserved as ACPI motherboard resource" and uses it.
 * Memory32Fixed when ECAM lies below 4 GiB, a QWordMemory otherwise.
 */
static void aml_res0(struct out *o, const struct acpi_config *cfg)
{
	const uint64_t base = cfg->pci_ecam_base, len = ecam_len(cfg);
	uint8_t crs[64];
	size_t start, n;

	start = aml_device(o, "RES0");
	aml_name(o, "_HID");
	aml_eisaid(o, "PNP0C02");
	aml_name_integer(o, "_UID", 0);
	if (base + len <= 0x100000000ull)
		n = res_mem32_fixed(crs, (uint32_t)base, (uint32_t)len);
	else
		n = res_addr(crs, 8, ADDR_GEN_CONSUMER, ADDR_TYPE_MEM,
			     ADDR_MEM_RW | ADDR_MEM_NONCACHEABLE, base, len);
	n += res_end(crs + n);
	aml_name(o, "_CRS");
	aml_buffer(o, crs, n);
	aml_end(o, start);
}

/* ACPI 6.4 §5.2.11.1: DSDT; returns the table or NULL when out of room. */
static uint8_t *build_dsdt(struct out *o, const struct acpi_config *cfg)
{
	/* §7.4.2: \_S5 = { SLP_TYPa, SLP_TYPb, reserved, reserved } */
	static const uint64_t s5[4] = { ACPI_S5_SLP_TYP, ACPI_S5_SLP_TYP, 0, 0 };
	size_t off = o->pos, sb;
	uint8_t *t;

	if (!table_begin(o, "DSDT", HDR_LEN, DSDT_REVISION))
		return NULL;
	aml_name(o, "_S5_");
	aml_package(o, s5, 4);
	sb = aml_scope_root(o, "_SB_");
	aml_pvpanic(o, cfg->pvpanic_port);
	aml_com1(o);
	if (cfg->pci_ecam_base) {
		aml_pci0(o, cfg);
		aml_res0(o, cfg);
	}
	if (cfg->power_button_gsi) {
		aml_power_button(o);
		aml_ged(o, cfg->power_button_gsi);
	}
	aml_end(o, sb);
	if (o->full)
		return NULL;
	t = o->buf + off;
	le32(t + HDR_LENGTH, (uint32_t)(o->pos - off));
	return t;
}

/* PCI Firmware Specification 3.3 §4.1.2: one ECAM region, segment 0 */
static void build_mcfg(uint8_t *t, const struct acpi_config *cfg)
{
	uint8_t *a = t + MCFG_ALLOC;

	le64(a, cfg->pci_ecam_base);
	le16(a + 8, 0);		  /* PCI segment group */
	a[10] = 0;		  /* start bus */
	a[11] = cfg->pci_bus_end; /* end bus */
}

static void build_rsdp(uint8_t *r, uint64_t xsdt_gpa)
{
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + RSDP_OEMID, OEM_ID, 6);
	r[RSDP_REVISION] = 2;
	le32(r + RSDP_LENGTH, RSDP_LEN);
	le64(r + RSDP_XSDT, xsdt_gpa); /* RsdtAddress stays 0: XSDT only */
	r[RSDP_CHECKSUM] = checksum(r, RSDP_V1_LEN);
	r[RSDP_EXT_CHECKSUM] = checksum(r, RSDP_LEN);
}

/* The PCI fields must describe ranges that neither wrap nor, for the
 * 32-bit window, cross 4 GiB; ECAM must be 1 MiB aligned. */
static bool pci_config_ok(const struct acpi_config *cfg)
{
	const uint64_t ecam = cfg->pci_ecam_base, len = ecam_len(cfg);
	const uint64_t b64 = cfg->pci_mmio64_base, s64 = cfg->pci_mmio64_size;

	if (!ecam)
		return true;
	if ((ecam & ((1u << ECAM_BUS_SHIFT) - 1)) || ecam + len - 1 < ecam)
		return false;
	if ((uint64_t)cfg->pci_mmio32_base + cfg->pci_mmio32_size > 0x100000000ull)
		return false;
	return !s64 || b64 + s64 - 1 >= b64;
}

long acpi_build(void *buf, size_t size, uint64_t gpa, const struct acpi_config *cfg)
{
	struct out o = { .buf = buf, .cap = buf ? size : 0 };
	uint8_t *rsdp, *xsdt, *fadt, *madt, *mcfg = NULL, *dsdt;
	uint64_t dsdt_gpa, entries[XSDT_ENTRIES_MAX];
	unsigned nent, i;

	if (!cfg || cfg->ncpus == 0 || cfg->ncpus > 255 || (gpa & 15) || !pci_config_ok(cfg))
		return -EINVAL;
	nent = cfg->pci_ecam_base ? 3 : 2;

	rsdp = reserve(&o, RSDP_LEN);
	align8(&o);
	xsdt = table_begin(&o, "XSDT", HDR_LEN + 8 * (size_t)nent, 1);
	align8(&o);
	fadt = table_begin(&o, "FACP", FADT_LEN, FADT_REVISION);
	align8(&o);
	madt = table_begin(&o, "APIC", madt_len(cfg->ncpus), MADT_REVISION);
	align8(&o);
	if (cfg->pci_ecam_base) {
		mcfg = table_begin(&o, "MCFG", MCFG_LEN, MCFG_REVISION);
		align8(&o);
	}
	dsdt = build_dsdt(&o, cfg);
	if (o.full || !rsdp || !xsdt || !fadt || !madt || !dsdt || (cfg->pci_ecam_base && !mcfg))
		return -ENOSPC;

	build_fadt(fadt, cfg);
	build_madt(madt, cfg);
	if (mcfg)
		build_mcfg(mcfg, cfg);
	dsdt_gpa = gpa + (uint64_t)(dsdt - o.buf);
	if (dsdt_gpa <= 0xffffffffu) /* §5.2.9: DSDT is a 0-4 GiB address */
		le32(fadt + FADT_DSDT, (uint32_t)dsdt_gpa);
	le64(fadt + FADT_X_DSDT, dsdt_gpa);
	entries[0] = gpa + (uint64_t)(fadt - o.buf);
	entries[1] = gpa + (uint64_t)(madt - o.buf);
	if (mcfg)
		entries[2] = gpa + (uint64_t)(mcfg - o.buf);
	for (i = 0; i < nent; i++)
		le64(xsdt + HDR_LEN + 8 * i, entries[i]);

	table_checksum(dsdt);
	table_checksum(fadt);
	table_checksum(madt);
	if (mcfg)
		table_checksum(mcfg);
	table_checksum(xsdt);
	build_rsdp(rsdp, gpa + (uint64_t)(xsdt - o.buf));
	return (long)o.pos;
}

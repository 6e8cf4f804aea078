/*
 * Unit tests for the x86 Linux loader: bzImage setup header parsing (boot.rst),
 * PVH ELF parsing, the e820 map and boot_load end to end into a fake guest RAM.
 * The kernel images are synthesized here, byte by byte, from the specifications.
 */
#include "test_util.h"

#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "vmm/memory.h"
#include "vmm/x86/boot.h"

/* Setup header offsets from Documentation/arch/x86/boot.rst. */
#define OFF_SENTINEL       0x1ef
#define OFF_SETUP_SECTS    0x1f1
#define OFF_SYSSIZE        0x1f4
#define OFF_BOOT_FLAG      0x1fe
#define OFF_JUMP           0x200
#define OFF_HEADER         0x202
#define OFF_VERSION        0x206
#define OFF_TYPE_OF_LOADER 0x210
#define OFF_LOADFLAGS      0x211
#define OFF_HEAP_END_PTR   0x224
#define OFF_INITRD_MAX     0x22c
#define OFF_KERNEL_ALIGN   0x230
#define OFF_RELOCATABLE    0x234
#define OFF_XLOADFLAGS     0x236
#define OFF_CMDLINE_SIZE   0x238
#define OFF_PREF_ADDRESS   0x258
#define OFF_INIT_SIZE      0x260
#define OFF_KERNEL_INFO    0x268
#define HEADER_END_2_15    0x26c   /* end of the 2.15 setup header */

/* Where hutch promises to put things (boot.h, layout.h; checked as an ABI). */
#define GDT_ADDR        0x500ULL
#define PVH_INFO_ADDR   0x6000ULL
#define ZERO_PAGE_ADDR  0x7000ULL
#define PML4_ADDR       0x9000ULL
#define PDPT_ADDR       0xa000ULL
#define PD_ADDR         0xb000ULL
#define CMDLINE_ADDR    0x20000ULL
#define CMDLINE_MAX     0x10000ULL
#define HIGH_MEM        0x100000ULL
#define LOW_RAM_END     0x9fc00ULL
#define PVH_MAGIC       0x336ec578u

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define RAM_SIZE (64 * MiB)

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)(p[0] | p[1] << 8 | p[2] << 16) | (uint32_t)p[3] << 24; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

/* Copies len bytes into an exactly sized heap buffer, so ASan sees any read past the end. */
static uint8_t *exact_copy(const uint8_t *src, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	TEST_ASSERT(p, "malloc(%zu)", len);
	if (len)
		memcpy(p, src, len);
	return p;
}

/* ------------------------------------------------------------------ */
/* Synthesized bzImage                                                  */

struct bz_opts {
	uint8_t setup_sects;
	size_t kernel_len;         /* protected-mode bytes after the setup */
	uint32_t syssize;          /* 16-byte paragraphs; 0: derived from kernel_len */
	uint16_t version;
	uint16_t xloadflags;
	uint8_t relocatable;
	uint32_t kernel_alignment;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
	uint8_t jump;              /* header end = 0x202 + jump */
};

static struct bz_opts bz_default(void)
{
	return (struct bz_opts){
		.setup_sects = 1,
		.kernel_len = 8192,
		.version = 0x020f,
		.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G,
		.relocatable = 1,
		.kernel_alignment = 0x200000,
		.pref_address = 0x1000000,
		.init_size = 0x800000,
		.initrd_addr_max = 0x7fffffff,
		.cmdline_size = 2047,
		.jump = HEADER_END_2_15 - OFF_HEADER,
	};
}

static uint8_t kernel_byte(size_t i)
{
	return (uint8_t)((i * 131 + 7) ^ (i >> 8));
}

static size_t bz_setup_size(const struct bz_opts *o)
{
	return ((size_t)(o->setup_sects ? o->setup_sects : 4) + 1) * 512;
}

static uint8_t *make_bzimage(const struct bz_opts *o, size_t *len)
{
	size_t setup = bz_setup_size(o);
	uint8_t *img;

	*len = setup + o->kernel_len;
	img = calloc(1, *len);
	TEST_ASSERT(img, "calloc");
	img[OFF_SENTINEL] = 0xff;               /* header.S sets it; loaders must not copy it */
	img[OFF_SETUP_SECTS] = o->setup_sects;
	put32(img + OFF_SYSSIZE, o->syssize ? o->syssize : (uint32_t)((o->kernel_len + 15) / 16));
	put16(img + OFF_BOOT_FLAG, 0xaa55);
	img[OFF_JUMP] = 0xeb;
	img[OFF_JUMP + 1] = o->jump;
	memcpy(img + OFF_HEADER, "HdrS", 4);
	put16(img + OFF_VERSION, o->version);
	img[OFF_LOADFLAGS] = LOADED_HIGH | QUIET_FLAG | CAN_USE_HEAP;
	put16(img + OFF_HEAP_END_PTR, 0xde00);
	put32(img + OFF_INITRD_MAX, o->initrd_addr_max);
	put32(img + OFF_KERNEL_ALIGN, o->kernel_alignment);
	img[OFF_RELOCATABLE] = o->relocatable;
	put16(img + OFF_XLOADFLAGS, o->xloadflags);
	put32(img + OFF_CMDLINE_SIZE, o->cmdline_size);
	put64(img + OFF_PREF_ADDRESS, o->pref_address);
	put32(img + OFF_INIT_SIZE, o->init_size);
	put32(img + OFF_KERNEL_INFO, 0x12345);
	for (size_t i = OFF_KERNEL_INFO + 4; i < 0x280; i++)
		img[i] = 0xee;                  /* past the 2.15 header: must not be copied */
	for (size_t i = 0; i < o->kernel_len; i++)
		img[setup + i] = kernel_byte(i);
	return img;
}

/* ------------------------------------------------------------------ */
/* Synthesized ELF vmlinux with a PVH note                              */

#define PVH_ENTRY     0x1000123u
#define SEG0_PADDR    0x1000000ULL
#define SEG0_OFFSET   0x1000
#define SEG0_FILESZ   0x2000
#define SEG0_MEMSZ    0x5000          /* 0x3000 of bss */
#define SEG1_PADDR    0x1400000ULL
#define SEG1_OFFSET   0x3000
#define SEG1_FILESZ   0x1000
#define NOTES_OFFSET  0x4000          /* the notes end the file */

enum { PH_LOAD0, PH_NOTE, PH_LOAD1, PH_COUNT };

static size_t put_note(uint8_t *p, const char *name, uint32_t namesz, uint32_t type,
		       const void *desc, uint32_t descsz)
{
	size_t pos = 0;

	put32(p, namesz);
	put32(p + 4, descsz);
	put32(p + 8, type);
	pos = 12;
	memcpy(p + pos, name, namesz);
	pos += (namesz + 3) & ~3u;
	memcpy(p + pos, desc, descsz);
	pos += (descsz + 3) & ~3u;
	return pos;
}

/* Notes: a GNU build id, a Xen note of another type, then XEN_ELFNOTE_PHYS32_ENTRY. */
static size_t default_notes(uint8_t *p)
{
	static const uint8_t build_id[20] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	uint8_t entry[4], hypercall[8];
	size_t n = 0;

	put32(entry, PVH_ENTRY);
	put64(hypercall, 0xffffffff81001000ULL);
	n += put_note(p + n, "GNU", 4, NT_GNU_BUILD_ID, build_id, sizeof(build_id));
	n += put_note(p + n, "Xen", 4, 2 /* XEN_ELFNOTE_HYPERCALL_PAGE */, hypercall, 8);
	n += put_note(p + n, "Xen", 4, 18 /* XEN_ELFNOTE_PHYS32_ENTRY */, entry, 4);
	return n;
}

static uint8_t seg_byte(unsigned seg, size_t i)
{
	return (uint8_t)(seg * 0x40 + i * 13 + (i >> 9));
}

static void set_phdr(uint8_t *img, unsigned i, const Elf64_Phdr *ph)
{
	memcpy(img + sizeof(Elf64_Ehdr) + i * sizeof(*ph), ph, sizeof(*ph));
}

static Elf64_Phdr get_phdr(const uint8_t *img, unsigned i)
{
	Elf64_Phdr ph;

	memcpy(&ph, img + sizeof(Elf64_Ehdr) + i * sizeof(ph), sizeof(ph));
	return ph;
}

static Elf64_Ehdr get_ehdr(const uint8_t *img)
{
	Elf64_Ehdr eh;

	memcpy(&eh, img, sizeof(eh));
	return eh;
}

static void set_ehdr(uint8_t *img, const Elf64_Ehdr *eh)
{
	memcpy(img, eh, sizeof(*eh));
}

/* Builds the default PVH image; notes (and their length) may be given to replace the default ones. */
static uint8_t *make_pvh_elf_notes(const uint8_t *notes, size_t notes_len, size_t *len)
{
	uint8_t note_buf[256];
	uint8_t *img;
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph;

	if (!notes) {
		notes_len = default_notes(note_buf);
		notes = note_buf;
	}
	*len = NOTES_OFFSET + notes_len;
	img = calloc(1, *len);
	TEST_ASSERT(img, "calloc");

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = 0xffffffff81000000ULL;
	eh.e_phoff = sizeof(Elf64_Ehdr);
	eh.e_ehsize = sizeof(Elf64_Ehdr);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = PH_COUNT;
	set_ehdr(img, &eh);

	ph = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = SEG0_OFFSET,
			   .p_vaddr = 0xffffffff81000000ULL, .p_paddr = SEG0_PADDR,
			   .p_filesz = SEG0_FILESZ, .p_memsz = SEG0_MEMSZ, .p_align = 0x200000 };
	set_phdr(img, PH_LOAD0, &ph);
	ph = (Elf64_Phdr){ .p_type = PT_NOTE, .p_flags = PF_R, .p_offset = NOTES_OFFSET,
			   .p_filesz = notes_len, .p_memsz = notes_len, .p_align = 4 };
	set_phdr(img, PH_NOTE, &ph);
	ph = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W, .p_offset = SEG1_OFFSET,
			   .p_vaddr = 0xffffffff81400000ULL, .p_paddr = SEG1_PADDR,
			   .p_filesz = SEG1_FILESZ, .p_memsz = SEG1_FILESZ, .p_align = 0x200000 };
	set_phdr(img, PH_LOAD1, &ph);

	for (size_t i = 0; i < SEG0_FILESZ; i++)
		img[SEG0_OFFSET + i] = seg_byte(0, i);
	for (size_t i = 0; i < SEG1_FILESZ; i++)
		img[SEG1_OFFSET + i] = seg_byte(1, i);
	memcpy(img + NOTES_OFFSET, notes, notes_len);
	return img;
}

static uint8_t *make_pvh_elf(size_t *len)
{
	return make_pvh_elf_notes(NULL, 0, len);
}

/* ------------------------------------------------------------------ */
/* Guest RAM                                                            */

struct env {
	struct gmem mem;
	uint8_t *ram;
};

static int setup_ram(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	e->ram = malloc(RAM_SIZE);
	if (!e->ram)
		return -1;
	memset(e->ram, 0xcc, RAM_SIZE); /* so that zeroing (bss) is visible */
	if (gmem_add_region(&e->mem, 0, RAM_SIZE, e->ram))
		return -1;
	*state = e;
	return 0;
}

static int teardown_ram(void **state)
{
	struct env *e = *state;

	free(e->ram);
	free(e);
	return 0;
}

static uint64_t rd64(const struct gmem *mem, uint64_t gpa)
{
	uint8_t b[8];

	TEST_ASSERT(gmem_read(mem, b, gpa, 8) == 0, "read of %#" PRIx64 " out of RAM", gpa);
	return get64(b);
}

static uint32_t rd32(const struct gmem *mem, uint64_t gpa)
{
	uint8_t b[4];

	TEST_ASSERT(gmem_read(mem, b, gpa, 4) == 0, "read of %#" PRIx64 " out of RAM", gpa);
	return get32(b);
}

#define NOT_MAPPED UINT64_MAX

/* Walks 4-level page tables as the CPU would. */
static uint64_t translate(const struct gmem *mem, uint64_t cr3, uint64_t va)
{
	const uint64_t addr_mask = 0x000ffffffffff000ULL;
	uint64_t table = cr3 & addr_mask;

	for (int level = 3; level >= 0; level--) {
		unsigned shift = 12 + 9 * (unsigned)level;
		uint64_t e = rd64(mem, table + ((va >> shift) & 511) * 8);

		if (!(e & 1))
			return NOT_MAPPED;
		TEST_ASSERT(e & 2, "entry %#" PRIx64 " at level %d not writable", e, level);
		if (level == 0 || ((e & 0x80) && (level == 1 || level == 2))) {
			uint64_t page_mask = (1ULL << shift) - 1;

			return (e & addr_mask & ~page_mask) | (va & page_mask);
		}
		table = e & addr_mask;
	}
	return NOT_MAPPED;
}

static void assert_e820_sane(const struct boot_e820 *map, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		TEST_ASSERT(map[i].size > 0, "entry %u is empty", i);
		TEST_ASSERT(map[i].type == 1 || map[i].type == 2, "entry %u has type %u", i, map[i].type);
		TEST_ASSERT(map[i].addr + map[i].size > map[i].addr, "entry %u wraps", i);
		if (map[i].type == 1)
			TEST_ASSERT(map[i].addr + map[i].size <= 0xc0000000ULL || map[i].addr >= 0x100000000ULL,
				    "RAM entry %u [%#" PRIx64 ", +%#" PRIx64 ") reaches into the MMIO hole",
				    i, map[i].addr, map[i].size);
		if (i > 0)
			TEST_ASSERT(map[i - 1].addr + map[i - 1].size <= map[i].addr,
				    "entries %u and %u unsorted or overlapping", i - 1, i);
	}
}

static void assert_e820_entry(const struct boot_e820 *e, uint64_t addr, uint64_t size, uint32_t type)
{
	TEST_ASSERT(e->addr == addr && e->size == size && e->type == type,
		    "e820 [%#" PRIx64 ", +%#" PRIx64 ") type %u, want [%#" PRIx64 ", +%#" PRIx64 ") type %u",
		    e->addr, e->size, e->type, addr, size, type);
}

static void assert_gdt(const struct gmem *mem)
{
	TEST_ASSERT_EQ(rd64(mem, GDT_ADDR + 0x00), 0);
	TEST_ASSERT_EQ(rd64(mem, GDT_ADDR + 0x08), 0);
	TEST_ASSERT_EQ(rd64(mem, GDT_ADDR + BOOT_GDT_CS64), 0x00af9b000000ffffULL);
	TEST_ASSERT_EQ(rd64(mem, GDT_ADDR + BOOT_GDT_DS), 0x00cf93000000ffffULL);
	TEST_ASSERT_EQ(rd64(mem, GDT_ADDR + BOOT_GDT_CS32), 0x00cf9b000000ffffULL);
}

static void assert_identity_map(const struct gmem *mem)
{
	/* PML4 at 0x9000 -> PDPT at 0xa000 -> four PDs of 2 MiB pages from 0xb000. */
	TEST_ASSERT_EQ(rd64(mem, PML4_ADDR) & ~0xfffULL, PDPT_ADDR);
	for (unsigned g = 0; g < 4; g++) {
		uint64_t pdpte = rd64(mem, PDPT_ADDR + g * 8);

		TEST_ASSERT_EQ(pdpte & ~0xfffULL, PD_ADDR + g * 0x1000);
		TEST_ASSERT((rd64(mem, PD_ADDR + g * 0x1000) & 0x83) == 0x83, "PD %u entry 0 not a 2 MiB page", g);
	}
	TEST_ASSERT_EQ(rd64(mem, PDPT_ADDR + 4 * 8), 0);
	TEST_ASSERT_EQ(rd64(mem, PML4_ADDR + 8), 0);

	static const uint64_t addrs[] = {
		0, 0x7000, 0x9000, 0x20000, 0x100000, 0x1000200, 0x12345678, 0x3ffffff,
		0x40000000, 0x80000000, 0xbfffffff, 0xc0000000, 0xfee00000, 0xffffffff,
	};

	for (size_t i = 0; i < ARRAY_LEN(addrs); i++) {
		uint64_t pa = translate(mem, PML4_ADDR, addrs[i]);

		TEST_ASSERT(pa == addrs[i], "va %#" PRIx64 " maps to %#" PRIx64, addrs[i], pa);
	}
}

/* ------------------------------------------------------------------ */
/* boot_parse_bzimage: hostile cases                                    */

static void test_bz_truncated_every_length(void **state)
{
	struct env *e = *state;
	struct bz_opts o = bz_default();
	size_t full;
	uint8_t *img = make_bzimage(&o, &full);
	struct bzimage_info info;
	struct boot_request req = { .cmdline = "console=ttyS0" };
	struct boot_entry entry;

	for (size_t len = 0; len < full; len++) {
		uint8_t *p = exact_copy(img, len);
		int ret = boot_parse_bzimage(p, len, &info);
		int want = len < OFF_HEADER + 4 ? BOOT_E_FORMAT : BOOT_E_TRUNCATED;

		TEST_ASSERT(ret == want, "length %zu of %zu: %d (%s), want %d", len, full, ret,
			    boot_strerror(ret), want);
		req.kernel = p;
		req.kernel_len = len;
		ret = boot_load(&e->mem, &req, &entry);
		TEST_ASSERT(ret == want, "boot_load of length %zu: %d", len, ret);
		free(p);
	}
	TEST_ASSERT_EQ(boot_parse_bzimage(img, full, &info), BOOT_OK);
	free(img);
}

static void test_bz_bad_magic(void **state)
{
	struct bz_opts o = bz_default();
	struct bzimage_info info;
	size_t len;
	uint8_t *img = make_bzimage(&o, &len);
	uint8_t *zeros = calloc(1, 16384);

	(void)state;
	put16(img + OFF_BOOT_FLAG, 0x55aa);
	TEST_ASSERT_EQ(boot_parse_bzimage(img, len, &info), BOOT_E_FORMAT);
	put16(img + OFF_BOOT_FLAG, 0xaa55);
	memcpy(img + OFF_HEADER, "HdrT", 4);
	TEST_ASSERT_EQ(boot_parse_bzimage(img, len, &info), BOOT_E_FORMAT);
	memcpy(img + OFF_HEADER, "hdrs", 4);
	TEST_ASSERT_EQ(boot_parse_bzimage(img, len, &info), BOOT_E_FORMAT);
	TEST_ASSERT(zeros, "calloc");
	TEST_ASSERT_EQ(boot_parse_bzimage(zeros, 16384, &info), BOOT_E_FORMAT);
	memset(zeros, 0xff, 16384);
	TEST_ASSERT_EQ(boot_parse_bzimage(zeros, 16384, &info), BOOT_E_FORMAT);
	free(zeros);
	free(img);
}

static void test_bz_old_protocol(void **state)
{
	static const uint16_t old[] = { 0x0000, 0x0100, 0x0200, 0x0209, 0x020a, 0x020b };
	struct bzimage_info info;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(old); i++) {
		struct bz_opts o = bz_default();
		size_t len;
		uint8_t *img;
		int ret;

		o.version = old[i];
		img = make_bzimage(&o, &len);
		ret = boot_parse_bzimage(img, len, &info);
		TEST_ASSERT(ret == BOOT_E_PROTOCOL_OLD, "version %#x: %d", old[i], ret);
		free(img);
	}
}

static void test_bz_not_64bit(void **state)
{
	static const uint16_t flags[] = { 0, XLF_CAN_BE_LOADED_ABOVE_4G, XLF_EFI_HANDOVER_64, 0xfffe };
	struct bzimage_info info;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(flags); i++) {
		struct bz_opts o = bz_default();
		size_t len;
		uint8_t *img;

		o.xloadflags = flags[i];
		img = make_bzimage(&o, &len);
		TEST_ASSERT_EQ(boot_parse_bzimage(img, len, &info), BOOT_E_NOT_64BIT);
		free(img);
	}
}

static void test_bz_syssize(void **state)
{
	static const uint32_t bad[] = { 8192 / 16 + 1, 0x10000, 0x0fffffff, 0xffffffff, 0 };
	struct bzimage_info info;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		struct bz_opts o = bz_default();
		size_t len;
		uint8_t *img = make_bzimage(&o, &len);

		put32(img + OFF_SYSSIZE, bad[i]);
		TEST_ASSERT(boot_parse_bzimage(img, len, &info) == BOOT_E_TRUNCATED,
			    "syssize %#x paragraphs with %zu kernel bytes", bad[i], o.kernel_len);
		free(img);
	}
	/* setup_sects larger than the file. */
	{
		struct bz_opts o = bz_default();
		size_t len;
		uint8_t *img = make_bzimage(&o, &len);

		img[OFF_SETUP_SECTS] = 255;
		TEST_ASSERT_EQ(boot_parse_bzimage(img, len, &info), BOOT_E_TRUNCATED);
		img[OFF_SETUP_SECTS] = 16; /* setup == whole file, no kernel */
		TEST_ASSERT_EQ(boot_parse_bzimage(img, 17 * 512, &info), BOOT_E_TRUNCATED);
		free(img);
	}
}

/*
 * pref_address is rounded up to kernel_alignment after the check that it is
 * at least 1 MiB, so a huge pref_address wraps round to load address 0: the
 * kernel is then copied over the GDT, zero page, page tables and command
 * line, and boot_load still reports success.
 */
static void test_bz_pref_address_wraps(void **state)
{
	struct env *e = *state;
	struct bz_opts o = bz_default();
	struct bzimage_info info;
	struct boot_request req = { .cmdline = "console=ttyS0" };
	struct boot_entry entry;
	size_t len;
	uint8_t *img;
	int ret;

	o.pref_address = 0xffffffffffe00001ULL;
	img = make_bzimage(&o, &len);
	ret = boot_parse_bzimage(img, len, &info);
	TEST_ASSERT(ret != BOOT_OK || info.load_addr >= HIGH_MEM,
		    "parse: %d, load_addr %#" PRIx64, ret, info.load_addr);
	req.kernel = img;
	req.kernel_len = len;
	ret = boot_load(&e->mem, &req, &entry);
	TEST_ASSERT(ret != BOOT_OK || entry.rip >= HIGH_MEM + 0x200,
		    "loaded with rip %#" PRIx64, entry.rip);
	free(img);
}

static void test_bz_huge_pref_address(void **state)
{
	struct env *e = *state;
	static const uint64_t prefs[] = { 0xffffffffffe00000ULL, 0x100000000ULL, 0x8000000ULL,
					  RAM_SIZE - 0x200000 };
	struct boot_request req = { .cmdline = "console=ttyS0" };
	struct boot_entry entry;

	for (size_t i = 0; i < ARRAY_LEN(prefs); i++) {
		struct bz_opts o = bz_default();
		size_t len;
		uint8_t *img;
		int ret;

		o.pref_address = prefs[i];
		img = make_bzimage(&o, &len);
		req.kernel = img;
		req.kernel_len = len;
		ret = boot_load(&e->mem, &req, &entry);
		TEST_ASSERT(ret == BOOT_E_NO_ROOM, "pref_address %#" PRIx64 ": %d", prefs[i], ret);
		free(img);
	}
}

static void test_bz_fuzz_header(void **state)
{
	struct env *e = *state;
	struct bz_opts o = bz_default();
	size_t len;
	uint8_t *orig, *img;
	uint64_t seed = 0x1234567887654321ULL;
	struct bzimage_info info;
	struct boot_request req = { .cmdline = "console=ttyS0 root=/dev/vda" };
	struct boot_entry entry;
	static uint8_t initrd[12345];

	o.kernel_len = 2048;
	o.init_size = 0x10000;
	orig = make_bzimage(&o, &len);
	img = malloc(len);
	TEST_ASSERT(img, "malloc");
	req.initrd = initrd;
	req.initrd_len = sizeof(initrd);
	for (unsigned iter = 0; iter < 20000; iter++) {
		unsigned nflips = 1 + (unsigned)(test_rand(&seed) % 6);
		int ret;

		memcpy(img, orig, len);
		for (unsigned k = 0; k < nflips; k++) {
			size_t off = OFF_SETUP_SECTS + (size_t)(test_rand(&seed) % (0x270 - OFF_SETUP_SECTS));

			img[off] = (uint8_t)test_rand(&seed);
		}
		ret = boot_parse_bzimage(img, len, &info);
		TEST_ASSERT(ret >= BOOT_OK && ret < BOOT_E__COUNT, "iteration %u: %d", iter, ret);
		if (ret == BOOT_OK) {
			TEST_ASSERT_EQ(info.setup_size + info.kernel_size, len);
			TEST_ASSERT(info.header_end <= info.setup_size, "header_end %zu", info.header_end);
			TEST_ASSERT(info.init_size >= info.kernel_size, "init_size %u", info.init_size);
		}
		if (iter % 8)
			continue;
		req.kernel = img;
		req.kernel_len = len;
		ret = boot_load(&e->mem, &req, &entry);
		TEST_ASSERT(ret >= BOOT_OK && ret < BOOT_E__COUNT, "iteration %u: load %d", iter, ret);
		if (ret == BOOT_OK) {
			TEST_ASSERT_EQ(entry.mode, BOOT_ENTRY_LONG64);
			TEST_ASSERT_EQ(entry.arg, ZERO_PAGE_ADDR);
		}
	}
	free(img);
	free(orig);
}

/* boot_parse_bzimage: working cases */

static void test_bz_parse_fields(void **state)
{
	struct bz_opts o = bz_default();
	struct bzimage_info info;
	size_t len;
	uint8_t *img = make_bzimage(&o, &len);

	(void)state;
	TEST_ASSERT_EQ(boot_parse_bzimage(img, len, &info), BOOT_OK);
	TEST_ASSERT_EQ(info.version, 0x020f);
	TEST_ASSERT_EQ(info.setup_size, 1024);
	TEST_ASSERT_EQ(info.kernel_size, 8192);
	TEST_ASSERT_EQ(info.load_addr, 0x1000000);
	TEST_ASSERT_EQ(info.init_size, 0x800000);
	TEST_ASSERT_EQ(info.initrd_addr_max, 0x7fffffff);
	TEST_ASSERT_EQ(info.cmdline_size, 2047);
	TEST_ASSERT_EQ(info.header_end, HEADER_END_2_15);
	free(img);

	/* Oldest accepted protocol. */
	o.version = 0x020c;
	img = make_bzimage(&o, &len);
	TEST_ASSERT_EQ(boot_parse_bzimage(img, len, &info), BOOT_OK);
	TEST_ASSERT_EQ(info.version, 0x020c);
	free(img);
}

/* Builds the image o describes and parses it, which must succeed. */
static void parse_ok(const struct bz_opts *o, struct bzimage_info *info)
{
	size_t len;
	uint8_t *img = make_bzimage(o, &len);

	TEST_ASSERT_EQ(boot_parse_bzimage(img, len, info), BOOT_OK);
	free(img);
}

static void test_bz_parse_variants(void **state)
{
	struct bzimage_info info;
	struct bz_opts o;

	(void)state;
	/* setup_sects 0 means 4. */
	o = bz_default();
	o.setup_sects = 0;
	parse_ok(&o, &info);
	TEST_ASSERT_EQ(info.setup_size, 5 * 512);
	TEST_ASSERT_EQ(info.kernel_size, 8192);

	/* Not relocatable: the default 1 MiB, whatever pref_address says. (With a
	 * kernel_alignment, hutch rounds that up too: 2 MiB for the default.) */
	o = bz_default();
	o.relocatable = 0;
	o.kernel_alignment = 0;
	parse_ok(&o, &info);
	TEST_ASSERT_EQ(info.load_addr, HIGH_MEM);

	/* pref_address below 1 MiB is not honoured. */
	o = bz_default();
	o.pref_address = 0x8000;
	o.kernel_alignment = 0;
	parse_ok(&o, &info);
	TEST_ASSERT_EQ(info.load_addr, HIGH_MEM);

	/* Rounded up to kernel_alignment. */
	o = bz_default();
	o.pref_address = 0x1000001;
	parse_ok(&o, &info);
	TEST_ASSERT_EQ(info.load_addr, 0x1200000);

	/* An alignment that is not a power of two is ignored. */
	o = bz_default();
	o.pref_address = 0x1000001;
	o.kernel_alignment = 0x300000;
	parse_ok(&o, &info);
	TEST_ASSERT_EQ(info.load_addr, 0x1000001);

	/* init_size smaller than the kernel itself grows to it. */
	o = bz_default();
	o.init_size = 0x100;
	parse_ok(&o, &info);
	TEST_ASSERT_EQ(info.init_size, 8192);

	/* Trailing bytes past syssize are part of the kernel. */
	o = bz_default();
	o.syssize = 8192 / 16 - 4;
	parse_ok(&o, &info);
	TEST_ASSERT_EQ(info.kernel_size, 8192);
}

/* ------------------------------------------------------------------ */
/* boot_parse_pvh_elf: hostile cases                                    */

static void test_pvh_truncated_every_length(void **state)
{
	struct env *e = *state;
	size_t full;
	uint8_t *img = make_pvh_elf(&full);
	struct pvh_info info;
	struct boot_request req = { .cmdline = "console=ttyS0" };
	struct boot_entry entry;

	for (size_t len = 0; len < full; len++) {
		uint8_t *p = exact_copy(img, len);
		int ret = boot_parse_pvh_elf(p, len, &info);

		TEST_ASSERT(ret != BOOT_OK, "length %zu of %zu parsed", len, full);
		if (len < SELFMAG)
			TEST_ASSERT_EQ(ret, BOOT_E_FORMAT);
		else if (len < sizeof(Elf64_Ehdr))
			TEST_ASSERT_EQ(ret, BOOT_E_TRUNCATED);
		else
			TEST_ASSERT(ret == BOOT_E_ELF_PHDR, "length %zu: %d (%s)", len, ret, boot_strerror(ret));
		req.kernel = p;
		req.kernel_len = len;
		ret = boot_load(&e->mem, &req, &entry);
		TEST_ASSERT(ret != BOOT_OK, "boot_load of length %zu succeeded", len);
		free(p);
	}
	TEST_ASSERT_EQ(boot_parse_pvh_elf(img, full, &info), BOOT_OK);
	free(img);
}

static void test_pvh_not_x86_64(void **state)
{
	struct pvh_info info;
	size_t len;
	uint8_t *img = make_pvh_elf(&len);
	Elf64_Ehdr eh = get_ehdr(img), bad;
	uint8_t elf32[sizeof(Elf32_Ehdr) + sizeof(Elf32_Phdr)] = { 0 };
	Elf32_Ehdr eh32 = { 0 };
	Elf32_Phdr ph32 = { 0 };
	uint8_t *p;

	(void)state;
	bad = eh;
	bad.e_ident[EI_CLASS] = ELFCLASS32;
	set_ehdr(img, &bad);
	TEST_ASSERT_EQ(boot_parse_pvh_elf(img, len, &info), BOOT_E_ELF_CLASS);
	bad = eh;
	bad.e_ident[EI_CLASS] = ELFCLASSNONE;
	set_ehdr(img, &bad);
	TEST_ASSERT_EQ(boot_parse_pvh_elf(img, len, &info), BOOT_E_ELF_CLASS);
	bad = eh;
	bad.e_ident[EI_DATA] = ELFDATA2MSB;
	set_ehdr(img, &bad);
	TEST_ASSERT_EQ(boot_parse_pvh_elf(img, len, &info), BOOT_E_ELF_CLASS);
	bad = eh;
	bad.e_machine = EM_386;
	set_ehdr(img, &bad);
	TEST_ASSERT_EQ(boot_parse_pvh_elf(img, len, &info), BOOT_E_ELF_CLASS);
	bad = eh;
	bad.e_machine = EM_AARCH64;
	set_ehdr(img, &bad);
	TEST_ASSERT_EQ(boot_parse_pvh_elf(img, len, &info), BOOT_E_ELF_CLASS);
	free(img);

	/* A genuine little i386 ELF32 (header and one program header). */
	memcpy(eh32.e_ident, ELFMAG, SELFMAG);
	eh32.e_ident[EI_CLASS] = ELFCLASS32;
	eh32.e_ident[EI_DATA] = ELFDATA2LSB;
	eh32.e_ident[EI_VERSION] = EV_CURRENT;
	eh32.e_type = ET_EXEC;
	eh32.e_machine = EM_386;
	eh32.e_version = EV_CURRENT;
	eh32.e_phoff = sizeof(Elf32_Ehdr);
	eh32.e_ehsize = sizeof(Elf32_Ehdr);
	eh32.e_phentsize = sizeof(Elf32_Phdr);
	eh32.e_phnum = 1;
	ph32.p_type = PT_LOAD;
	ph32.p_paddr = 0x100000;
	memcpy(elf32, &eh32, sizeof(eh32));
	memcpy(elf32 + sizeof(eh32), &ph32, sizeof(ph32));
	p = exact_copy(elf32, sizeof(elf32));
	TEST_ASSERT_EQ(boot_parse_pvh_elf(p, sizeof(elf32), &info), BOOT_E_ELF_CLASS);
	free(p);
}

static void test_pvh_bad_phdr_table(void **state)
{
	struct pvh_info info;
	size_t len;
	uint8_t *img = make_pvh_elf(&len);
	Elf64_Ehdr eh = get_ehdr(img), bad;

	(void)state;
#define TRY(field, value)                                                                    \
	do {                                                                                 \
		bad = eh;                                                                    \
		bad.field = value;                                                           \
		set_ehdr(img, &bad);                                                         \
		TEST_ASSERT(boot_parse_pvh_elf(img, len, &info) == BOOT_E_ELF_PHDR,          \
			    #field " = " #value);                                            \
	} while (0)
	TRY(e_phoff, len);
	TRY(e_phoff, len - 1);
	TRY(e_phoff, len - PH_COUNT * sizeof(Elf64_Phdr) + 1);
	TRY(e_phoff, UINT64_MAX);
	TRY(e_phoff, UINT64_MAX - 0x40 + 1);
	TRY(e_phoff, 0x8000000000000000ULL);
	TRY(e_phnum, 0);
	TRY(e_phnum, 0xffff);
	TRY(e_phnum, (uint16_t)(len / sizeof(Elf64_Phdr) + 1));
	TRY(e_phentsize, 0);
	TRY(e_phentsize, sizeof(Elf32_Phdr));
	TRY(e_phentsize, 64);
#undef TRY
	free(img);
}

static void test_pvh_bad_segments(void **state)
{
	struct pvh_info info;
	size_t len;
	uint8_t *img = make_pvh_elf(&len);
	Elf64_Phdr load = get_phdr(img, PH_LOAD0), note = get_phdr(img, PH_NOTE), bad;

	(void)state;
#define TRY(which, orig, field, value)                                                       \
	do {                                                                                 \
		int ret_;                                                                    \
		bad = orig;                                                                  \
		bad.field = value;                                                           \
		set_phdr(img, which, &bad);                                                  \
		ret_ = boot_parse_pvh_elf(img, len, &info);                                  \
		set_phdr(img, which, &orig);                                                 \
		TEST_ASSERT(ret_ == BOOT_E_ELF_PHDR, #which ": " #field " = " #value ": %d", ret_); \
	} while (0)
	TRY(PH_LOAD0, load, p_filesz, SEG0_MEMSZ + 1);                /* filesz > memsz */
	TRY(PH_LOAD0, load, p_offset, UINT64_MAX);
	TRY(PH_LOAD0, load, p_offset, len);
	TRY(PH_LOAD0, load, p_offset, len - SEG0_FILESZ + 1);
	TRY(PH_LOAD0, load, p_offset, 0x8000000000000000ULL);
	TRY(PH_LOAD0, load, p_paddr, UINT64_MAX - 0xfff);            /* paddr + memsz wraps */
	TRY(PH_LOAD0, load, p_paddr, 0ULL - SEG0_MEMSZ);            /* ends exactly at 2^64 */
	TRY(PH_NOTE, note, p_offset, UINT64_MAX);
	TRY(PH_NOTE, note, p_offset, len);
	TRY(PH_NOTE, note, p_filesz, len);
	TRY(PH_NOTE, note, p_filesz, UINT64_MAX);
#undef TRY

	/* offset + filesz overflowing 64 bits, with memsz to match. */
	bad = load;
	bad.p_filesz = UINT64_MAX - 0x800;
	bad.p_memsz = UINT64_MAX;
	set_phdr(img, PH_LOAD0, &bad);
	TEST_ASSERT_EQ(boot_parse_pvh_elf(img, len, &info), BOOT_E_ELF_PHDR);
	/* memsz huge, filesz fine, paddr + memsz wraps. */
	bad = load;
	bad.p_memsz = UINT64_MAX;
	set_phdr(img, PH_LOAD0, &bad);
	TEST_ASSERT_EQ(boot_parse_pvh_elf(img, len, &info), BOOT_E_ELF_PHDR);
	set_phdr(img, PH_LOAD0, &load);

	/* No PT_LOAD at all (the note is there). */
	bad = load;
	bad.p_type = PT_NULL;
	set_phdr(img, PH_LOAD0, &bad);
	set_phdr(img, PH_LOAD1, &bad);
	TEST_ASSERT_EQ(boot_parse_pvh_elf(img, len, &info), BOOT_E_ELF_PHDR);
	/* A PT_LOAD with memsz 0 does not count as one. */
	bad = load;
	bad.p_filesz = 0;
	bad.p_memsz = 0;
	set_phdr(img, PH_LOAD0, &bad);
	TEST_ASSERT_EQ(boot_parse_pvh_elf(img, len, &info), BOOT_E_ELF_PHDR);
	free(img);
}

/* More PT_LOADs than PVH_MAX_SEGMENTS. */
static void test_pvh_too_many_segments(void **state)
{
	struct pvh_info info;

	(void)state;
	for (unsigned nload = PVH_MAX_SEGMENTS; nload <= PVH_MAX_SEGMENTS + 1; nload++) {
		size_t len;
		uint8_t *img = make_pvh_elf(&len);
		Elf64_Ehdr eh = get_ehdr(img);
		Elf64_Phdr note = get_phdr(img, PH_NOTE), load = get_phdr(img, PH_LOAD1);
		int ret;

		/* Phdrs 0..nload-1 are 4 KiB PT_LOADs, then the note: all below 0x1000. */
		TEST_ASSERT(sizeof(Elf64_Ehdr) + (nload + 1) * sizeof(Elf64_Phdr) <= SEG0_OFFSET,
			    "phdrs overlap the segments");
		eh.e_phnum = (uint16_t)(nload + 1);
		set_ehdr(img, &eh);
		for (unsigned i = 0; i < nload; i++) {
			load.p_paddr = SEG0_PADDR + i * 0x1000ULL;
			set_phdr(img, i, &load);
		}
		set_phdr(img, nload, &note);
		ret = boot_parse_pvh_elf(img, len, &info);
		if (nload <= PVH_MAX_SEGMENTS) {
			TEST_ASSERT(ret == BOOT_OK, "%u segments: %d", nload, ret);
			TEST_ASSERT_EQ(info.nsegments, nload);
			TEST_ASSERT_EQ(info.kernel_end, SEG0_PADDR + nload * 0x1000ULL);
		} else {
			TEST_ASSERT(ret == BOOT_E_ELF_PHDR, "%u segments: %d", nload, ret);
		}
		free(img);
	}
}

/* Notes sit at the very end of an exactly sized buffer: any overread is an ASan error. */
static int parse_with_notes(const uint8_t *notes, size_t notes_len, struct pvh_info *info)
{
	size_t len;
	uint8_t *img = make_pvh_elf_notes(notes, notes_len, &len);
	uint8_t *p = exact_copy(img, len);
	int ret = boot_parse_pvh_elf(p, len, info);

	free(p);
	free(img);
	return ret;
}

static void test_pvh_hostile_notes(void **state)
{
	struct pvh_info info;
	uint8_t notes[256], entry[4];
	size_t n;

	(void)state;
	put32(entry, PVH_ENTRY);

	/* Only a GNU note. */
	n = put_note(notes, "GNU", 4, NT_GNU_BUILD_ID, entry, 4);
	TEST_ASSERT_EQ(parse_with_notes(notes, n, &info), BOOT_E_NO_PVH);
	/* Empty note segment, and one shorter than a note header. */
	TEST_ASSERT_EQ(parse_with_notes(notes, 0, &info), BOOT_E_NO_PVH);
	TEST_ASSERT_EQ(parse_with_notes(notes, 11, &info), BOOT_E_NO_PVH);

	/* The right note, cut at every length: never found, never read past. */
	n = put_note(notes, "Xen", 4, 18, entry, 4);
	for (size_t cut = 0; cut < n; cut++)
		TEST_ASSERT(parse_with_notes(notes, cut, &info) == BOOT_E_NO_PVH, "cut at %zu", cut);
	TEST_ASSERT_EQ(parse_with_notes(notes, n, &info), BOOT_OK);
	TEST_ASSERT_EQ(info.entry, PVH_ENTRY);

	/* namesz and descsz that overflow the segment (and 32-bit sums). */
	static const uint32_t huge[] = { 0xffffffff, 0xfffffffd, 0xfffffffc, 0x80000000, 13, 17 };
	for (size_t i = 0; i < ARRAY_LEN(huge); i++) {
		n = put_note(notes, "Xen", 4, 18, entry, 4);
		put32(notes, huge[i]);     /* namesz */
		TEST_ASSERT(parse_with_notes(notes, n, &info) == BOOT_E_NO_PVH, "namesz %#x", huge[i]);
		n = put_note(notes, "Xen", 4, 18, entry, 4);
		put32(notes + 4, huge[i]); /* descsz */
		TEST_ASSERT(parse_with_notes(notes, n, &info) == BOOT_E_NO_PVH, "descsz %#x", huge[i]);
	}

	/* A bad first note hides a good second one: parsing stops, no crash. */
	n = put_note(notes, "GNU", 4, 3, entry, 4);
	put32(notes + 4, 0xfffffff0);
	n += put_note(notes + n, "Xen", 4, 18, entry, 4);
	TEST_ASSERT_EQ(parse_with_notes(notes, n, &info), BOOT_E_NO_PVH);

	/* Wrong name, wrong name size, wrong type, too short a descriptor. */
	n = put_note(notes, "XEN", 4, 18, entry, 4);
	TEST_ASSERT_EQ(parse_with_notes(notes, n, &info), BOOT_E_NO_PVH);
	n = put_note(notes, "Xen\0\0\0\0", 8, 18, entry, 4);
	TEST_ASSERT_EQ(parse_with_notes(notes, n, &info), BOOT_E_NO_PVH);
	n = put_note(notes, "Xen", 4, 17, entry, 4);
	TEST_ASSERT_EQ(parse_with_notes(notes, n, &info), BOOT_E_NO_PVH);
	n = put_note(notes, "Xen", 4, 18, entry, 2);
	TEST_ASSERT_EQ(parse_with_notes(notes, n, &info), BOOT_E_NO_PVH);
	n = put_note(notes, "Xen", 4, 18, entry, 0);
	TEST_ASSERT_EQ(parse_with_notes(notes, n, &info), BOOT_E_NO_PVH);

	/* No PT_NOTE at all. */
	{
		size_t len;
		uint8_t *img = make_pvh_elf(&len);
		Elf64_Phdr ph = get_phdr(img, PH_NOTE);

		ph.p_type = PT_NULL;
		set_phdr(img, PH_NOTE, &ph);
		TEST_ASSERT_EQ(boot_parse_pvh_elf(img, len, &info), BOOT_E_NO_PVH);
		free(img);
	}
}

static void test_pvh_fuzz(void **state)
{
	struct env *e = *state;
	size_t len;
	uint8_t *orig = make_pvh_elf(&len), *img = malloc(len);
	uint64_t seed = 0xfeedfacecafebeefULL;
	struct pvh_info info;
	struct boot_request req = { .cmdline = "console=ttyS0" };
	struct boot_entry entry;
	static uint8_t initrd[4097];
	const size_t hdr_end = sizeof(Elf64_Ehdr) + PH_COUNT * sizeof(Elf64_Phdr);

	TEST_ASSERT(img, "malloc");
	req.initrd = initrd;
	req.initrd_len = sizeof(initrd);
	for (unsigned iter = 0; iter < 20000; iter++) {
		unsigned nflips = 1 + (unsigned)(test_rand(&seed) % 8);
		int ret;

		memcpy(img, orig, len);
		for (unsigned k = 0; k < nflips; k++) {
			uint64_t r = test_rand(&seed);
			size_t off = (r & 1) ? NOTES_OFFSET + (size_t)((r >> 1) % (len - NOTES_OFFSET))
					     : (size_t)((r >> 1) % hdr_end);

			img[off] = (uint8_t)test_rand(&seed);
		}
		ret = boot_parse_pvh_elf(img, len, &info);
		TEST_ASSERT(ret >= BOOT_OK && ret < BOOT_E__COUNT, "iteration %u: %d", iter, ret);
		if (ret == BOOT_OK) {
			TEST_ASSERT(info.nsegments >= 1 && info.nsegments <= PVH_MAX_SEGMENTS, "nsegments");
			for (unsigned i = 0; i < info.nsegments; i++) {
				TEST_ASSERT(info.segments[i].offset <= len &&
					    info.segments[i].filesz <= len - info.segments[i].offset,
					    "iteration %u: segment %u outside the file", iter, i);
				TEST_ASSERT(info.segments[i].filesz <= info.segments[i].memsz, "filesz");
			}
		}
		if (iter % 8)
			continue;
		req.kernel = img;
		req.kernel_len = len;
		ret = boot_load(&e->mem, &req, &entry);
		TEST_ASSERT(ret >= BOOT_OK && ret < BOOT_E__COUNT, "iteration %u: load %d", iter, ret);
	}
	free(img);
	free(orig);
}

/* boot_parse_pvh_elf: working cases */

static void test_pvh_parse(void **state)
{
	struct pvh_info info;
	size_t len;
	uint8_t *img = make_pvh_elf(&len);

	(void)state;
	TEST_ASSERT_EQ(boot_parse_pvh_elf(img, len, &info), BOOT_OK);
	TEST_ASSERT_EQ(info.entry, PVH_ENTRY);
	TEST_ASSERT_EQ(info.nsegments, 2);
	TEST_ASSERT_EQ(info.segments[0].paddr, SEG0_PADDR);
	TEST_ASSERT_EQ(info.segments[0].offset, SEG0_OFFSET);
	TEST_ASSERT_EQ(info.segments[0].filesz, SEG0_FILESZ);
	TEST_ASSERT_EQ(info.segments[0].memsz, SEG0_MEMSZ);
	TEST_ASSERT_EQ(info.segments[1].paddr, SEG1_PADDR);
	TEST_ASSERT_EQ(info.segments[1].offset, SEG1_OFFSET);
	TEST_ASSERT_EQ(info.segments[1].filesz, SEG1_FILESZ);
	TEST_ASSERT_EQ(info.segments[1].memsz, SEG1_FILESZ);
	TEST_ASSERT_EQ(info.kernel_end, SEG1_PADDR + SEG1_FILESZ);
	free(img);
}

static void test_pvh_parse_two_note_segments(void **state)
{
	struct pvh_info info;
	size_t len;
	uint8_t *img = make_pvh_elf(&len);
	Elf64_Phdr note = get_phdr(img, PH_NOTE), first = note;

	(void)state;
	/* The first PT_NOTE holds only the GNU note; a fourth phdr, a second PT_NOTE, the rest. */
	first.p_filesz = 12 + 4 + 20; /* the GNU build id note */
	set_phdr(img, PH_NOTE, &first);
	TEST_ASSERT_EQ(boot_parse_pvh_elf(img, len, &info), BOOT_E_NO_PVH);
	{
		Elf64_Ehdr eh = get_ehdr(img);

		eh.e_phnum = PH_COUNT + 1;
		set_ehdr(img, &eh);
		note.p_offset += first.p_filesz;
		note.p_filesz -= first.p_filesz;
		set_phdr(img, PH_COUNT, &note);
	}
	TEST_ASSERT_EQ(boot_parse_pvh_elf(img, len, &info), BOOT_OK);
	TEST_ASSERT_EQ(info.entry, PVH_ENTRY);
	free(img);
}

/* ------------------------------------------------------------------ */
/* boot_e820_map                                                        */

static void test_e820_512m(void **state)
{
	struct gmem mem = { 0 };
	uint8_t never_touched;
	struct boot_e820 map[BOOT_E820_MAX + 1];
	unsigned n;

	(void)state;
	TEST_ASSERT_EQ(gmem_add_region(&mem, 0, 512 * MiB, &never_touched), 0);
	memset(map, 0x5a, sizeof(map));
	n = boot_e820_map(&mem, map, BOOT_E820_MAX);
	TEST_ASSERT_EQ(n, 3);
	assert_e820_sane(map, n);
	assert_e820_entry(&map[0], 0, 0x9fc00, 1);
	assert_e820_entry(&map[1], 0x9fc00, 0x100000 - 0x9fc00, 2);
	assert_e820_entry(&map[2], 0x100000, 512 * MiB - 0x100000, 1);
	TEST_ASSERT_EQ(map[3].addr, 0x5a5a5a5a5a5a5a5aULL); /* nothing written past n */
}

static void test_e820_4g(void **state)
{
	struct gmem mem = { 0 };
	uint8_t never_touched;
	struct boot_e820 map[BOOT_E820_MAX];
	unsigned n;
	uint64_t ram = 0;

	(void)state;
	TEST_ASSERT_EQ(gmem_add_region(&mem, 0, 3 * GiB, &never_touched), 0);
	TEST_ASSERT_EQ(gmem_add_region(&mem, 4 * GiB, 1 * GiB, &never_touched), 0);
	n = boot_e820_map(&mem, map, BOOT_E820_MAX);
	TEST_ASSERT_EQ(n, 4);
	assert_e820_sane(map, n);
	assert_e820_entry(&map[0], 0, 0x9fc00, 1);
	assert_e820_entry(&map[1], 0x9fc00, 0x100000 - 0x9fc00, 2);
	assert_e820_entry(&map[2], 0x100000, 3 * GiB - 0x100000, 1);
	assert_e820_entry(&map[3], 4 * GiB, 1 * GiB, 1);
	for (unsigned i = 0; i < n; i++)
		if (map[i].type == 1)
			ram += map[i].size;
	/* All RAM but the reserved EBDA/BIOS area [0x9fc00, 1 MiB). */
	TEST_ASSERT_EQ(ram, 4 * GiB - (0x100000 - 0x9fc00));
}

static void test_e820_max_respected(void **state)
{
	struct gmem mem = { 0 };
	uint8_t never_touched;
	struct boot_e820 map[BOOT_E820_MAX];

	(void)state;
	TEST_ASSERT_EQ(gmem_add_region(&mem, 0, 3 * GiB, &never_touched), 0);
	TEST_ASSERT_EQ(gmem_add_region(&mem, 4 * GiB, 1 * GiB, &never_touched), 0);
	for (unsigned max = 0; max <= 4; max++) {
		unsigned n;

		memset(map, 0x5a, sizeof(map));
		n = boot_e820_map(&mem, map, max);
		TEST_ASSERT(n == max, "max %u gave %u", max, n);
		for (unsigned i = max; i < BOOT_E820_MAX; i++)
			TEST_ASSERT(map[i].addr == 0x5a5a5a5a5a5a5a5aULL, "max %u: entry %u written", max, i);
		assert_e820_sane(map, n);
	}
}

/* ------------------------------------------------------------------ */
/* boot_load: bzImage                                                   */

static void fill_initrd(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 29 + (i >> 12) + 0x11);
}

static void test_bz_load(void **state)
{
	struct env *e = *state;
	struct bz_opts o = bz_default();
	size_t len;
	uint8_t *img = make_bzimage(&o, &len);
	static uint8_t initrd[100003];
	const char *cmdline = "console=ttyS0 root=/dev/ram0 rdinit=/init";
	struct boot_request req = {
		.kernel = img, .kernel_len = len, .initrd = initrd, .initrd_len = sizeof(initrd),
		.cmdline = cmdline, .rsdp_addr = 0xe0000,
	};
	struct boot_entry entry = { 0 };
	struct boot_params bp;
	struct boot_e820 map[BOOT_E820_MAX];
	unsigned n;
	uint64_t top;

	fill_initrd(initrd, sizeof(initrd));
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_OK);

	TEST_ASSERT_EQ(entry.mode, BOOT_ENTRY_LONG64);
	TEST_ASSERT_EQ(entry.rip, 0x1000000 + 0x200);
	TEST_ASSERT_EQ(entry.arg, ZERO_PAGE_ADDR);

	/* The protected-mode kernel at its load address. */
	for (size_t i = 0; i < o.kernel_len; i++)
		TEST_ASSERT(e->ram[0x1000000 + i] == kernel_byte(i), "kernel byte %zu", i);

	TEST_ASSERT_EQ(gmem_read(&e->mem, &bp, ZERO_PAGE_ADDR, sizeof(bp)), 0);
	/* Setup header copied from the image... */
	TEST_ASSERT_EQ(bp.hdr.setup_sects, 1);
	TEST_ASSERT_EQ(bp.hdr.boot_flag, 0xaa55);
	TEST_ASSERT_EQ(bp.hdr.header, 0x53726448);
	TEST_ASSERT_EQ(bp.hdr.version, 0x020f);
	TEST_ASSERT_EQ(bp.hdr.syssize, 8192 / 16);
	TEST_ASSERT_EQ(bp.hdr.heap_end_ptr, 0xde00);
	TEST_ASSERT_EQ(bp.hdr.kernel_alignment, 0x200000);
	TEST_ASSERT_EQ(bp.hdr.init_size, 0x800000);
	TEST_ASSERT_EQ(bp.hdr.kernel_info_offset, 0x12345);
	TEST_ASSERT_EQ(bp.sentinel, 0); /* only the header is copied, not the byte before it */
	/* ... and the loader's own fields. */
	TEST_ASSERT_EQ(bp.hdr.type_of_loader, 0xff);
	TEST_ASSERT(bp.hdr.loadflags & LOADED_HIGH, "LOADED_HIGH lost");
	TEST_ASSERT(bp.hdr.loadflags & KEEP_SEGMENTS, "KEEP_SEGMENTS not set");
	TEST_ASSERT(!(bp.hdr.loadflags & QUIET_FLAG), "QUIET_FLAG not cleared");
	TEST_ASSERT_EQ(bp.hdr.code32_start, 0x1000000);
	TEST_ASSERT_EQ(bp.acpi_rsdp_addr, 0xe0000);

	/* Command line. */
	TEST_ASSERT_EQ(bp.hdr.cmd_line_ptr, CMDLINE_ADDR);
	TEST_ASSERT_EQ(bp.ext_cmd_line_ptr, 0);
	TEST_ASSERT(!memcmp(e->ram + CMDLINE_ADDR, cmdline, strlen(cmdline) + 1), "command line bytes");

	/* Initrd: page aligned, as high as it goes below RAM's top, above the kernel. */
	top = RAM_SIZE; /* initrd_addr_max 0x7fffffff is above RAM */
	TEST_ASSERT_EQ(bp.hdr.ramdisk_size, sizeof(initrd));
	TEST_ASSERT_EQ(bp.hdr.ramdisk_image % 4096, 0);
	TEST_ASSERT(bp.hdr.ramdisk_image >= 0x1000000 + o.init_size, "initrd at %#x overlaps the kernel",
		    bp.hdr.ramdisk_image);
	TEST_ASSERT((uint64_t)bp.hdr.ramdisk_image + sizeof(initrd) <= top, "initrd past RAM");
	TEST_ASSERT_EQ(bp.hdr.ramdisk_image, (top - sizeof(initrd)) & ~0xfffULL);
	TEST_ASSERT(!memcmp(e->ram + bp.hdr.ramdisk_image, initrd, sizeof(initrd)), "initrd bytes");

	/* e820 table. */
	n = boot_e820_map(&e->mem, map, BOOT_E820_MAX);
	TEST_ASSERT_EQ(bp.e820_entries, 3);
	TEST_ASSERT_EQ(n, 3);
	for (unsigned i = 0; i < n; i++) {
		TEST_ASSERT_EQ(bp.e820_table[i].addr, map[i].addr);
		TEST_ASSERT_EQ(bp.e820_table[i].size, map[i].size);
		TEST_ASSERT_EQ(bp.e820_table[i].type, map[i].type);
	}
	TEST_ASSERT_EQ(bp.e820_table[2].addr, HIGH_MEM);
	TEST_ASSERT_EQ(bp.e820_table[2].size, RAM_SIZE - HIGH_MEM);

	assert_gdt(&e->mem);
	assert_identity_map(&e->mem);
	TEST_ASSERT_EQ(translate(&e->mem, PML4_ADDR, 0x100000000ULL), NOT_MAPPED);
	TEST_ASSERT_EQ(translate(&e->mem, PML4_ADDR, 1ULL << 39), NOT_MAPPED);
	free(img);
}

static void test_bz_load_header_copy_bounds(void **state)
{
	struct env *e = *state;
	struct boot_request req = { .cmdline = "" };
	struct boot_entry entry;
	struct boot_params bp;
	struct bz_opts o = bz_default();
	size_t len;
	uint8_t *img;

	/* A 2.12 header ends at 0x248 (jump byte 0x46): what follows is not header. */
	o.version = 0x020c;
	o.jump = 0x46;
	img = make_bzimage(&o, &len);
	req.kernel = img;
	req.kernel_len = len;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_OK);
	TEST_ASSERT_EQ(gmem_read(&e->mem, &bp, ZERO_PAGE_ADDR, sizeof(bp)), 0);
	TEST_ASSERT_EQ(bp.hdr.version, 0x020c);
	TEST_ASSERT_EQ(bp.hdr.cmdline_size, 2047);       /* at 0x238, inside */
	TEST_ASSERT_EQ(bp.hdr.pref_address, 0);          /* at 0x258, outside */
	TEST_ASSERT_EQ(bp.hdr.init_size, 0);
	TEST_ASSERT_EQ(bp.hdr.kernel_info_offset, 0);
	free(img);

	/* A jump byte far past the header copies no more than struct setup_header. */
	o = bz_default();
	o.jump = 0xff;
	img = make_bzimage(&o, &len);
	req.kernel = img;
	req.kernel_len = len;
	memset(e->ram + ZERO_PAGE_ADDR, 0xcc, 4096);
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_OK);
	TEST_ASSERT_EQ(gmem_read(&e->mem, &bp, ZERO_PAGE_ADDR, sizeof(bp)), 0);
	TEST_ASSERT_EQ(bp.hdr.kernel_info_offset, 0x12345);
	for (size_t i = OFF_SETUP_SECTS + sizeof(struct setup_header); i < 0x290; i++)
		TEST_ASSERT(((uint8_t *)&bp)[i] == 0, "boot_params byte %#zx is %#x", i, ((uint8_t *)&bp)[i]);
	free(img);
}

static void test_bz_load_initrd_addr_max(void **state)
{
	struct env *e = *state;
	struct bz_opts o = bz_default();
	size_t len;
	uint8_t *img;
	static uint8_t initrd[70000];
	struct boot_request req = { .initrd = initrd, .initrd_len = sizeof(initrd), .cmdline = "x" };
	struct boot_entry entry;
	struct boot_params bp;

	fill_initrd(initrd, sizeof(initrd));
	o.initrd_addr_max = 0x2ffffff; /* below RAM's top at 64 MiB */
	img = make_bzimage(&o, &len);
	req.kernel = img;
	req.kernel_len = len;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_OK);
	TEST_ASSERT_EQ(gmem_read(&e->mem, &bp, ZERO_PAGE_ADDR, sizeof(bp)), 0);
	TEST_ASSERT_EQ(bp.hdr.ramdisk_image, (0x3000000 - sizeof(initrd)) & ~0xfffULL);
	TEST_ASSERT((uint64_t)bp.hdr.ramdisk_image + sizeof(initrd) - 1 <= o.initrd_addr_max,
		    "initrd ends past initrd_addr_max");
	TEST_ASSERT(!memcmp(e->ram + bp.hdr.ramdisk_image, initrd, sizeof(initrd)), "initrd bytes");
	free(img);
}

static void test_bz_load_no_initrd(void **state)
{
	struct env *e = *state;
	struct bz_opts o = bz_default();
	size_t len;
	uint8_t *img = make_bzimage(&o, &len);
	uint8_t byte = 1;
	struct boot_request req = { .kernel = img, .kernel_len = len, .cmdline = "" };
	struct boot_entry entry;
	struct boot_params bp;

	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_OK);
	TEST_ASSERT_EQ(gmem_read(&e->mem, &bp, ZERO_PAGE_ADDR, sizeof(bp)), 0);
	TEST_ASSERT_EQ(bp.hdr.ramdisk_image, 0);
	TEST_ASSERT_EQ(bp.hdr.ramdisk_size, 0);
	TEST_ASSERT_EQ(e->ram[CMDLINE_ADDR], 0);
	/* A non-NULL initrd of length 0 is no initrd. */
	req.initrd = &byte;
	req.initrd_len = 0;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_OK);
	TEST_ASSERT_EQ(gmem_read(&e->mem, &bp, ZERO_PAGE_ADDR, sizeof(bp)), 0);
	TEST_ASSERT_EQ(bp.hdr.ramdisk_image, 0);
	TEST_ASSERT_EQ(bp.hdr.ramdisk_size, 0);
	free(img);
}

static char *make_cmdline(size_t len)
{
	char *s = malloc(len + 1);

	TEST_ASSERT(s, "malloc");
	for (size_t i = 0; i < len; i++)
		s[i] = (char)('a' + i % 26);
	s[len] = '\0';
	return s;
}

static void test_bz_load_cmdline_too_long(void **state)
{
	struct env *e = *state;
	struct bz_opts o = bz_default();
	size_t len;
	uint8_t *img = make_bzimage(&o, &len);
	struct boot_request req = { .kernel = img, .kernel_len = len };
	struct boot_entry entry;
	char *s;

	s = make_cmdline(2047);
	req.cmdline = s;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_OK);
	TEST_ASSERT(!memcmp(e->ram + CMDLINE_ADDR, s, 2048), "command line bytes");
	free(s);
	s = make_cmdline(2048);
	req.cmdline = s;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_E_CMDLINE_TOO_LONG);
	free(s);
	free(img);

	/* A kernel that accepts anything is still limited by hutch's command line area. */
	o.cmdline_size = 0xffffffff;
	img = make_bzimage(&o, &len);
	req.kernel = img;
	req.kernel_len = len;
	s = make_cmdline(CMDLINE_MAX - 1);
	req.cmdline = s;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_OK);
	free(s);
	s = make_cmdline(CMDLINE_MAX);
	req.cmdline = s;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_E_CMDLINE_TOO_LONG);
	free(s);
	s = make_cmdline(1 << 20);
	req.cmdline = s;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_E_CMDLINE_TOO_LONG);
	free(s);
	free(img);

	/* cmdline_size 0: only the empty command line fits. */
	o.cmdline_size = 0;
	img = make_bzimage(&o, &len);
	req.kernel = img;
	req.kernel_len = len;
	req.cmdline = "";
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_OK);
	req.cmdline = "x";
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_E_CMDLINE_TOO_LONG);
	free(img);
}

static void test_bz_load_initrd_no_room(void **state)
{
	struct env *e = *state;
	struct bz_opts o = bz_default();
	size_t len;
	uint8_t *img = make_bzimage(&o, &len);
	uint8_t *big = malloc(RAM_SIZE + MiB);
	struct boot_request req = { .kernel = img, .kernel_len = len, .cmdline = "", .initrd = big };
	struct boot_entry entry;

	TEST_ASSERT(big, "malloc");
	memset(big, 0x77, RAM_SIZE + MiB);
	/* Bigger than RAM. */
	req.initrd_len = RAM_SIZE + MiB;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_E_INITRD_NO_ROOM);
	req.initrd_len = RAM_SIZE;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_E_INITRD_NO_ROOM);
	/* Fits in RAM, but not between the kernel's end (24 MiB) and the top (64 MiB). */
	req.initrd_len = 40 * MiB + 1;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_E_INITRD_NO_ROOM);
	req.initrd_len = 40 * MiB;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_OK);
	free(img);

	/* initrd_addr_max below the kernel. */
	o.initrd_addr_max = 0xfffff;
	img = make_bzimage(&o, &len);
	req.kernel = img;
	req.kernel_len = len;
	req.initrd_len = 4096;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_E_INITRD_NO_ROOM);
	free(img);
	o.initrd_addr_max = 0;
	img = make_bzimage(&o, &len);
	req.kernel = img;
	req.kernel_len = len;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_E_INITRD_NO_ROOM);
	free(img);
	free(big);
}

static void test_bz_load_no_room(void **state)
{
	struct env *e = *state;
	struct bz_opts o = bz_default();
	size_t len;
	uint8_t *img;
	struct boot_request req = { .cmdline = "" };
	struct boot_entry entry;

	/* init_size reaching past the top of RAM. */
	o.init_size = RAM_SIZE - 0x1000000 + 1;
	img = make_bzimage(&o, &len);
	req.kernel = img;
	req.kernel_len = len;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_E_NO_ROOM);
	free(img);
	o.init_size = 0xffffffff;
	img = make_bzimage(&o, &len);
	req.kernel = img;
	req.kernel_len = len;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_E_NO_ROOM);
	free(img);
	/* Exactly up to the top fits. */
	o.init_size = RAM_SIZE - 0x1000000;
	img = make_bzimage(&o, &len);
	req.kernel = img;
	req.kernel_len = len;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_OK);

	/* No RAM at address 0, or too little of it. */
	{
		struct gmem high = { 0 }, tiny = { 0 };
		uint8_t *small = calloc(1, 2 * MiB);

		TEST_ASSERT(small, "calloc");
		TEST_ASSERT_EQ(gmem_add_region(&high, 4 * GiB, RAM_SIZE, e->ram), 0);
		TEST_ASSERT_EQ(boot_load(&high, &req, &entry), BOOT_E_NO_ROOM);
		TEST_ASSERT_EQ(gmem_add_region(&tiny, 0, 2 * MiB, small), 0);
		TEST_ASSERT_EQ(boot_load(&tiny, &req, &entry), BOOT_E_NO_ROOM);
		free(small);
	}
	free(img);
}

/* ------------------------------------------------------------------ */
/* boot_load: PVH                                                       */

/* Xen's struct hvm_start_info (start_info.h), by offset. */
#define SI_MAGIC          0
#define SI_VERSION        4
#define SI_FLAGS          8
#define SI_NR_MODULES     12
#define SI_MODLIST_PADDR  16
#define SI_CMDLINE_PADDR  24
#define SI_RSDP_PADDR     32
#define SI_MEMMAP_PADDR   40
#define SI_MEMMAP_ENTRIES 48
#define MEMMAP_ENTRY_SIZE 24     /* addr, size, type, reserved */
#define MODLIST_ENTRY_SIZE 32    /* paddr, size, cmdline_paddr, reserved */

static void test_pvh_load(void **state)
{
	struct env *e = *state;
	size_t len;
	uint8_t *img = make_pvh_elf(&len);
	static uint8_t initrd[123457];
	const char *cmdline = "console=ttyS0 earlyprintk=serial";
	struct boot_request req = {
		.kernel = img, .kernel_len = len, .initrd = initrd, .initrd_len = sizeof(initrd),
		.cmdline = cmdline, .rsdp_addr = 0xe0000,
	};
	struct boot_entry entry = { 0 };
	struct boot_e820 map[BOOT_E820_MAX];
	uint64_t memmap, modlist, initrd_addr;
	unsigned n;

	fill_initrd(initrd, sizeof(initrd));
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_OK);
	TEST_ASSERT_EQ(entry.mode, BOOT_ENTRY_PVH32);
	TEST_ASSERT_EQ(entry.rip, PVH_ENTRY);
	TEST_ASSERT_EQ(entry.arg, PVH_INFO_ADDR);

	/* Segments at their physical addresses, bss zeroed. */
	for (size_t i = 0; i < SEG0_FILESZ; i++)
		TEST_ASSERT(e->ram[SEG0_PADDR + i] == seg_byte(0, i), "segment 0 byte %zu", i);
	for (size_t i = SEG0_FILESZ; i < SEG0_MEMSZ; i++)
		TEST_ASSERT(e->ram[SEG0_PADDR + i] == 0, "bss byte %zu not zeroed", i);
	TEST_ASSERT_EQ(e->ram[SEG0_PADDR + SEG0_MEMSZ], 0xcc); /* nothing past memsz */
	for (size_t i = 0; i < SEG1_FILESZ; i++)
		TEST_ASSERT(e->ram[SEG1_PADDR + i] == seg_byte(1, i), "segment 1 byte %zu", i);
	TEST_ASSERT_EQ(e->ram[SEG1_PADDR + SEG1_FILESZ], 0xcc);

	/* start_info. */
	TEST_ASSERT_EQ(rd32(&e->mem, PVH_INFO_ADDR + SI_MAGIC), PVH_MAGIC);
	TEST_ASSERT_EQ(rd32(&e->mem, PVH_INFO_ADDR + SI_VERSION), 1);
	TEST_ASSERT_EQ(rd32(&e->mem, PVH_INFO_ADDR + SI_FLAGS), 0);
	TEST_ASSERT_EQ(rd64(&e->mem, PVH_INFO_ADDR + SI_RSDP_PADDR), 0xe0000);
	TEST_ASSERT_EQ(rd64(&e->mem, PVH_INFO_ADDR + SI_CMDLINE_PADDR), CMDLINE_ADDR);
	TEST_ASSERT(!memcmp(e->ram + CMDLINE_ADDR, cmdline, strlen(cmdline) + 1), "command line bytes");

	/* The initrd as module 0. */
	TEST_ASSERT_EQ(rd32(&e->mem, PVH_INFO_ADDR + SI_NR_MODULES), 1);
	modlist = rd64(&e->mem, PVH_INFO_ADDR + SI_MODLIST_PADDR);
	TEST_ASSERT(modlist && modlist + MODLIST_ENTRY_SIZE <= LOW_RAM_END,
		    "modlist at %#" PRIx64, modlist);
	initrd_addr = rd64(&e->mem, modlist);
	TEST_ASSERT_EQ(rd64(&e->mem, modlist + 8), sizeof(initrd));
	TEST_ASSERT_EQ(rd64(&e->mem, modlist + 16), 0);
	TEST_ASSERT_EQ(initrd_addr % 4096, 0);
	TEST_ASSERT(initrd_addr >= SEG1_PADDR + SEG1_FILESZ, "initrd at %#" PRIx64 " overlaps the kernel",
		    initrd_addr);
	TEST_ASSERT(initrd_addr + sizeof(initrd) <= RAM_SIZE, "initrd past RAM");
	TEST_ASSERT_EQ(initrd_addr, (RAM_SIZE - sizeof(initrd)) & ~0xfffULL);
	TEST_ASSERT(!memcmp(e->ram + initrd_addr, initrd, sizeof(initrd)), "initrd bytes");

	/* The memory map, as boot_e820_map gives it. */
	n = boot_e820_map(&e->mem, map, BOOT_E820_MAX);
	TEST_ASSERT_EQ(rd32(&e->mem, PVH_INFO_ADDR + SI_MEMMAP_ENTRIES), n);
	TEST_ASSERT_EQ(n, 3);
	memmap = rd64(&e->mem, PVH_INFO_ADDR + SI_MEMMAP_PADDR);
	TEST_ASSERT(memmap && memmap + n * MEMMAP_ENTRY_SIZE <= LOW_RAM_END,
		    "memmap at %#" PRIx64, memmap);
	for (unsigned i = 0; i < n; i++) {
		uint64_t ent = memmap + i * MEMMAP_ENTRY_SIZE;

		TEST_ASSERT_EQ(rd64(&e->mem, ent), map[i].addr);
		TEST_ASSERT_EQ(rd64(&e->mem, ent + 8), map[i].size);
		TEST_ASSERT_EQ(rd32(&e->mem, ent + 16), map[i].type);
		TEST_ASSERT_EQ(rd32(&e->mem, ent + 20), 0);
	}
	assert_gdt(&e->mem);
	free(img);
}

static void test_pvh_load_no_initrd(void **state)
{
	struct env *e = *state;
	size_t len;
	uint8_t *img = make_pvh_elf(&len);
	struct boot_request req = { .kernel = img, .kernel_len = len, .cmdline = "" };
	struct boot_entry entry;

	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_OK);
	TEST_ASSERT_EQ(rd32(&e->mem, PVH_INFO_ADDR + SI_NR_MODULES), 0);
	TEST_ASSERT_EQ(rd64(&e->mem, PVH_INFO_ADDR + SI_MODLIST_PADDR), 0);
	TEST_ASSERT_EQ(e->ram[CMDLINE_ADDR], 0);
	free(img);
}

static void test_pvh_load_errors(void **state)
{
	struct env *e = *state;
	size_t len;
	uint8_t *img = make_pvh_elf(&len);
	Elf64_Phdr load = get_phdr(img, PH_LOAD0), bad;
	static uint8_t initrd[8192];
	struct boot_request req = { .kernel = img, .kernel_len = len, .cmdline = "" };
	struct boot_entry entry;
	char *s;
	static const struct {
		uint64_t paddr, memsz;
		const char *what;
	} cases[] = {
		{ 0x80000, SEG0_MEMSZ, "below 1 MiB" },
		{ 0, SEG0_MEMSZ, "at 0" },
		{ 0xfe000, SEG0_MEMSZ, "across 1 MiB" },
		{ 0x8000000, SEG0_MEMSZ, "past RAM" },
		{ RAM_SIZE - 0x1000, SEG0_MEMSZ, "across the top of RAM" },
		{ SEG0_PADDR, RAM_SIZE, "bss past RAM" },
		{ 0x100000000ULL, SEG0_MEMSZ, "above 4 GiB" },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		int ret;

		bad = load;
		bad.p_paddr = cases[i].paddr;
		bad.p_memsz = cases[i].memsz;
		set_phdr(img, PH_LOAD0, &bad);
		ret = boot_load(&e->mem, &req, &entry);
		TEST_ASSERT(ret == BOOT_E_NO_ROOM, "segment %s: %d", cases[i].what, ret);
	}
	set_phdr(img, PH_LOAD0, &load);

	req.initrd = initrd;
	req.initrd_len = RAM_SIZE - SEG1_PADDR; /* no room above the kernel's end */
	{
		uint8_t *big = malloc(req.initrd_len);

		TEST_ASSERT(big, "malloc");
		req.initrd = big;
		TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_E_INITRD_NO_ROOM);
		free(big);
	}
	req.initrd = initrd;
	req.initrd_len = sizeof(initrd);
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_OK);

	s = make_cmdline(CMDLINE_MAX);
	req.cmdline = s;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_E_CMDLINE_TOO_LONG);
	s[CMDLINE_MAX - 1] = '\0';
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_OK);
	free(s);
	free(img);
}

static void test_boot_load_garbage(void **state)
{
	struct env *e = *state;
	struct boot_request req = { .cmdline = "" };
	struct boot_entry entry;
	static const uint8_t elf_magic[] = { 0x7f, 'E', 'L', 'F' };
	uint8_t *p;

	p = exact_copy(elf_magic, 0);
	req.kernel = p;
	req.kernel_len = 0;
	TEST_ASSERT_EQ(boot_load(&e->mem, &req, &entry), BOOT_E_FORMAT);
	free(p);
	for (size_t len = 1; len <= sizeof(elf_magic); len++) {
		int ret, want = len < SELFMAG ? BOOT_E_FORMAT : BOOT_E_TRUNCATED;

		p = exact_copy(elf_magic, len);
		req.kernel = p;
		req.kernel_len = len;
		ret = boot_load(&e->mem, &req, &entry);
		TEST_ASSERT(ret == want, "ELF magic cut at %zu: %d, want %d", len, ret, want);
		free(p);
	}
}

/* ------------------------------------------------------------------ */

static void test_strerror(void **state)
{
	static const int out_of_range[] = { -1, -EINVAL, BOOT_E__COUNT, BOOT_E__COUNT + 1, 1000,
					    INT_MAX, INT_MIN };

	(void)state;
	for (int i = 0; i < BOOT_E__COUNT; i++) {
		const char *s = boot_strerror(i);

		TEST_ASSERT(s && s[0], "boot_strerror(%d) empty", i);
		for (int j = 0; j < i; j++)
			TEST_ASSERT(strcmp(s, boot_strerror(j)), "errors %d and %d read the same", j, i);
	}
	for (size_t i = 0; i < ARRAY_LEN(out_of_range); i++) {
		const char *s = boot_strerror(out_of_range[i]);

		TEST_ASSERT(s && s[0], "boot_strerror(%d) empty", out_of_range[i]);
	}
}

int main(void)
{
#define R(fn) cmocka_unit_test_setup_teardown(fn, setup_ram, teardown_ram)
	const struct CMUnitTest tests[] = {
		/* hostile first */
		R(test_bz_truncated_every_length),
		cmocka_unit_test(test_bz_bad_magic),
		cmocka_unit_test(test_bz_old_protocol),
		cmocka_unit_test(test_bz_not_64bit),
		cmocka_unit_test(test_bz_syssize),
		R(test_bz_pref_address_wraps),
		R(test_bz_huge_pref_address),
		R(test_bz_fuzz_header),
		R(test_bz_load_cmdline_too_long),
		R(test_bz_load_initrd_no_room),
		R(test_bz_load_no_room),
		R(test_pvh_truncated_every_length),
		cmocka_unit_test(test_pvh_not_x86_64),
		cmocka_unit_test(test_pvh_bad_phdr_table),
		cmocka_unit_test(test_pvh_bad_segments),
		cmocka_unit_test(test_pvh_too_many_segments),
		cmocka_unit_test(test_pvh_hostile_notes),
		R(test_pvh_fuzz),
		R(test_pvh_load_errors),
		R(test_boot_load_garbage),
		cmocka_unit_test(test_e820_max_respected),
		/* working */
		cmocka_unit_test(test_bz_parse_fields),
		cmocka_unit_test(test_bz_parse_variants),
		cmocka_unit_test(test_pvh_parse),
		cmocka_unit_test(test_pvh_parse_two_note_segments),
		cmocka_unit_test(test_e820_512m),
		cmocka_unit_test(test_e820_4g),
		R(test_bz_load),
		R(test_bz_load_header_copy_bounds),
		R(test_bz_load_initrd_addr_max),
		R(test_bz_load_no_initrd),
		R(test_pvh_load),
		R(test_pvh_load_no_initrd),
		cmocka_unit_test(test_strerror),
	};
#undef R

	return cmocka_run_group_tests_name("boot", tests, NULL, NULL);
}

/* x86-64 Linux boot loader: bzImage (64-bit boot protocol) and ELF vmlinux (PVH). */
#include "vmm/x86/boot.h"

#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "vmm/x86/layout.h"

static const char *const boot_errors[BOOT_E__COUNT] = {
	[BOOT_OK] = "no error",
	[BOOT_E_TRUNCATED] = "kernel image is truncated",
	[BOOT_E_FORMAT] = "not a Linux kernel (no bzImage header, not an ELF vmlinux)",
	[BOOT_E_PROTOCOL_OLD] = "bzImage boot protocol too old (need 2.12 or later)",
	[BOOT_E_NOT_64BIT] = "bzImage has no 64-bit entry point",
	[BOOT_E_ELF_CLASS] = "ELF kernel is not a 64-bit x86-64 image",
	[BOOT_E_ELF_PHDR] = "ELF kernel has invalid program headers",
	[BOOT_E_NO_PVH] = "ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)",
	[BOOT_E_NO_ROOM] = "kernel does not fit in guest RAM",
	[BOOT_E_INITRD_NO_ROOM] = "initrd does not fit in guest RAM below the kernel's limit",
	[BOOT_E_CMDLINE_TOO_LONG] = "kernel command line is longer than the kernel accepts",
};

const char *boot_strerror(int err)
{
	if (err < 0 || err >= BOOT_E__COUNT)
		return "unknown boot error";
	return boot_errors[err];
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

/* boot.rst: offsets of the setup header fields hutch reads. */
#define HDR_SETUP_SECTS	 0x1f1
#define HDR_SYSSIZE	 0x1f4
#define HDR_BOOT_FLAG	 0x1fe /* 0xaa55 */
#define HDR_JUMP	 0x200 /* its second byte + 0x202 = end of header */
#define HDR_MAGIC	 0x202 /* "HdrS" */
#define HDR_VERSION	 0x206
#define HDR_INITRD_MAX	 0x22c
#define HDR_KERNEL_ALIGN 0x230
#define HDR_RELOCATABLE	 0x234
#define HDR_XLOADFLAGS	 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE	 0x260
#define HDR_MIN_LEN	 0x268 /* through init_size */

int boot_parse_bzimage(const uint8_t *img, size_t len, struct bzimage_info *info)
{
	size_t setup_sects, syssize;
	uint64_t align, pref;

	memset(info, 0, sizeof(*info));
	if (len < HDR_MIN_LEN)
		return len >= HDR_MAGIC + 4 && get32(img + HDR_MAGIC) == 0x53726448
			       ? BOOT_E_TRUNCATED
			       : BOOT_E_FORMAT;
	if (get16(img + HDR_BOOT_FLAG) != 0xaa55 || get32(img + HDR_MAGIC) != 0x53726448)
		return BOOT_E_FORMAT;
	info->version = get16(img + HDR_VERSION);
	/* 2.12 added xloadflags, which is how a kernel says it has a 64-bit entry. */
	if (info->version < 0x020c)
		return BOOT_E_PROTOCOL_OLD;
	if (!(get16(img + HDR_XLOADFLAGS) & XLF_KERNEL_64))
		return BOOT_E_NOT_64BIT;
	setup_sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4; /* boot.rst: 0 means 4 */
	info->setup_size = (setup_sects + 1) * 512;
	syssize = (size_t)get32(img + HDR_SYSSIZE) * 16; /* in 16-byte paragraphs */
	if (info->setup_size >= len || syssize == 0 || syssize > len - info->setup_size)
		return BOOT_E_TRUNCATED;
	info->kernel_size = len - info->setup_size;
	info->header_end = HDR_MAGIC + img[HDR_JUMP + 1];
	if (info->header_end > info->setup_size)
		return BOOT_E_TRUNCATED;

	align = get32(img + HDR_KERNEL_ALIGN);
	pref = get32(img + HDR_PREF_ADDRESS) | (uint64_t)get32(img + HDR_PREF_ADDRESS + 4) << 32;
	if (!img[HDR_RELOCATABLE] || pref < X86_HIGH_MEM_START)
		pref = X86_HIGH_MEM_START; /* code32_start default */
	if (align && (align & (align - 1)) == 0) {
		/* A hostile pref_address must not wrap round to 0. */
		if (pref > UINT64_MAX - (align - 1))
			return BOOT_E_NO_ROOM;
		pref = (pref + align - 1) & ~(align - 1);
	}
	info->load_addr = pref;
	info->init_size = get32(img + HDR_INIT_SIZE);
	if (info->init_size < info->kernel_size)
		info->init_size = (uint32_t)info->kernel_size;
	info->initrd_addr_max = get32(img + HDR_INITRD_MAX);
	info->cmdline_size = get32(img + HDR_CMDLINE_SIZE);
	return BOOT_OK;
}

/* Finds XEN_ELFNOTE_PHYS32_ENTRY (type 18, name "Xen") in one PT_NOTE segment. */
static bool pvh_find_note(const uint8_t *notes, size_t len, uint32_t *entry)
{
	size_t pos = 0;

	while (len - pos >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		size_t name_len, desc_len;

		memcpy(&nh, notes + pos, sizeof(nh));
		pos += sizeof(nh);
		name_len = ((size_t)nh.n_namesz + 3) & ~(size_t)3;
		desc_len = ((size_t)nh.n_descsz + 3) & ~(size_t)3;
		if (name_len > len - pos || desc_len > len - pos - name_len)
			return false;
		if (nh.n_type == 18 && nh.n_namesz == 4 && memcmp(notes + pos, "Xen", 4) == 0 &&
		    nh.n_descsz >= 4) {
			*entry = get32(notes + pos + name_len);
			return true;
		}
		pos += name_len + desc_len;
	}
	return false;
}

static int pvh_add_segment(struct pvh_info *info, const Elf64_Phdr *ph, size_t len)
{
	if (ph->p_offset > len || ph->p_filesz > len - ph->p_offset || ph->p_filesz > ph->p_memsz ||
	    ph->p_paddr + ph->p_memsz < ph->p_paddr)
		return BOOT_E_ELF_PHDR;
	if (info->nsegments == PVH_MAX_SEGMENTS)
		return BOOT_E_ELF_PHDR;
	info->segments[info->nsegments].paddr = ph->p_paddr;
	info->segments[info->nsegments].offset = ph->p_offset;
	info->segments[info->nsegments].filesz = ph->p_filesz;
	info->segments[info->nsegments].memsz = ph->p_memsz;
	info->nsegments++;
	if (ph->p_paddr + ph->p_memsz > info->kernel_end)
		info->kernel_end = ph->p_paddr + ph->p_memsz;
	return BOOT_OK;
}

int boot_parse_pvh_elf(const uint8_t *img, size_t len, struct pvh_info *info)
{
	Elf64_Ehdr eh;
	bool have_entry = false;

	memset(info, 0, sizeof(*info));
	if (len < SELFMAG || memcmp(img, ELFMAG, SELFMAG) != 0)
		return BOOT_E_FORMAT;
	if (len < sizeof(eh))
		return BOOT_E_TRUNCATED;
	memcpy(&eh, img, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64)
		return BOOT_E_ELF_CLASS;
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff > len ||
	    (size_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
		return BOOT_E_ELF_PHDR;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		int ret;

		memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD && ph.p_memsz) {
			ret = pvh_add_segment(info, &ph, len);
			if (ret)
				return ret;
		} else if (ph.p_type == PT_NOTE && !have_entry) {
			if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
				return BOOT_E_ELF_PHDR;
			have_entry = pvh_find_note(img + ph.p_offset, ph.p_filesz, &info->entry);
		}
	}
	if (!have_entry)
		return BOOT_E_NO_PVH;
	if (info->nsegments == 0)
		return BOOT_E_ELF_PHDR;
	return BOOT_OK;
}

/* The top of the RAM below the 32-bit hole. */
static uint64_t low_ram_end(const struct gmem *mem)
{
	for (unsigned i = 0; i < mem->nregions; i++)
		if (mem->regions[i].gpa == 0)
			return mem->regions[i].size;
	return 0;
}

unsigned boot_e820_map(const struct gmem *mem, struct boot_e820 *map, unsigned max)
{
	unsigned n = 0;

	/* Low RAM, then the EBDA/BIOS area (where the ACPI tables are) reserved. */
	if (n < max)
		map[n++] = (struct boot_e820){ 0, X86_LOW_RAM_END, 1 };
	if (n < max)
		map[n++] = (struct boot_e820){ X86_EBDA_START, X86_HIGH_MEM_START - X86_EBDA_START,
					       2 };
	for (unsigned i = 0; i < mem->nregions && n < max; i++) {
		const struct gmem_region *r = &mem->regions[i];

		if (r->gpa == 0 && r->size > X86_HIGH_MEM_START)
			map[n++] = (struct boot_e820){ X86_HIGH_MEM_START,
						       r->size - X86_HIGH_MEM_START, 1 };
		else if (r->gpa != 0)
			map[n++] = (struct boot_e820){ r->gpa, r->size, 1 };
	}
	return n;
}

/* A flat GDT descriptor: base 0, limit 4 GiB (granularity 4 KiB). */
static uint64_t gdt_flat(uint64_t access, uint64_t flags)
{
	return 0xffffULL | access << 40 | 0xfULL << 48 | flags << 52;
}

static int write_gdt(const struct gmem *mem)
{
	uint64_t gdt[BOOT_GDT_ENTRIES] = {
		[BOOT_GDT_CS64 / 8] = gdt_flat(0x9b, 0xa), /* present, code exec/read; G, L */
		[BOOT_GDT_DS / 8] = gdt_flat(0x93, 0xc),   /* present, data read/write; G, D/B */
		[BOOT_GDT_CS32 / 8] = gdt_flat(0x9b, 0xc), /* present, code exec/read; G, D/B */
	};

	return gmem_write(mem, X86_GDT_ADDR, gdt, sizeof(gdt));
}

/* Identity-maps the low 4 GiB with 2 MiB pages (boot.rst: the 64-bit entry
 * needs the kernel, boot_params, command line and initrd identity-mapped). */
static int write_page_tables(const struct gmem *mem)
{
	uint64_t pml4[512] = { X86_PDPT_ADDR | 0x3 }; /* present, writable */
	uint64_t pdpt[512] = { 0 };
	uint64_t pd[512];
	int ret;

	for (unsigned g = 0; g < 4; g++) {
		pdpt[g] = (X86_PD_ADDR + g * 0x1000) | 0x3;
		for (unsigned i = 0; i < 512; i++)
			pd[i] = ((uint64_t)g << 30 | (uint64_t)i << 21) | 0x83; /* PS */
		ret = gmem_write(mem, X86_PD_ADDR + g * 0x1000, pd, sizeof(pd));
		if (ret)
			return ret;
	}
	ret = gmem_write(mem, X86_PML4_ADDR, pml4, sizeof(pml4));
	return ret ? ret : gmem_write(mem, X86_PDPT_ADDR, pdpt, sizeof(pdpt));
}

/* Puts the initrd as high as allowed, page aligned, above the kernel. */
static int place_initrd(const struct gmem *mem, const struct boot_request *req, uint64_t max_addr,
			uint64_t kernel_end, uint64_t *addr)
{
	uint64_t top = low_ram_end(mem);

	*addr = 0;
	if (!req->initrd || req->initrd_len == 0)
		return BOOT_OK;
	if (max_addr + 1 < top)
		top = max_addr + 1;
	if (req->initrd_len > top || ((top - req->initrd_len) & ~0xfffULL) < kernel_end)
		return BOOT_E_INITRD_NO_ROOM;
	*addr = (top - req->initrd_len) & ~0xfffULL;
	if (gmem_write(mem, *addr, req->initrd, req->initrd_len))
		return BOOT_E_INITRD_NO_ROOM;
	return BOOT_OK;
}

static int write_cmdline(const struct gmem *mem, const char *cmdline, size_t max)
{
	size_t len = strlen(cmdline);

	if (len > max || len >= X86_CMDLINE_MAX)
		return BOOT_E_CMDLINE_TOO_LONG;
	if (gmem_write(mem, X86_CMDLINE_ADDR, cmdline, len + 1))
		return BOOT_E_NO_ROOM;
	return BOOT_OK;
}

static void fill_e820(const struct gmem *mem, struct boot_params *bp)
{
	struct boot_e820 map[BOOT_E820_MAX];
	unsigned n = boot_e820_map(mem, map, BOOT_E820_MAX);

	for (unsigned i = 0; i < n; i++) {
		bp->e820_table[i].addr = map[i].addr;
		bp->e820_table[i].size = map[i].size;
		bp->e820_table[i].type = map[i].type;
	}
	bp->e820_entries = (uint8_t)n;
}

static int load_bzimage(const struct gmem *mem, const struct boot_request *req,
			struct boot_entry *entry)
{
	struct bzimage_info info;
	struct boot_params bp;
	uint64_t initrd_addr;
	size_t hdr_len;
	int ret = boot_parse_bzimage(req->kernel, req->kernel_len, &info);

	if (ret)
		return ret;
	if (info.load_addr + info.init_size > low_ram_end(mem) ||
	    gmem_write(mem, info.load_addr, req->kernel + info.setup_size, info.kernel_size))
		return BOOT_E_NO_ROOM;
	ret = write_cmdline(mem, req->cmdline, info.cmdline_size);
	if (ret)
		return ret;
	ret = place_initrd(mem, req, info.initrd_addr_max, info.load_addr + info.init_size,
			   &initrd_addr);
	if (ret)
		return ret;

	/* boot.rst: copy the setup header from the image into the zero page,
	 * then fill in the fields the boot loader owns. */
	memset(&bp, 0, sizeof(bp));
	hdr_len = info.header_end - HDR_SETUP_SECTS;
	if (hdr_len > sizeof(bp.hdr))
		hdr_len = sizeof(bp.hdr);
	memcpy(&bp.hdr, req->kernel + HDR_SETUP_SECTS, hdr_len);
	bp.hdr.type_of_loader = 0xff; /* undefined boot loader */
	bp.hdr.loadflags |= KEEP_SEGMENTS;
	bp.hdr.loadflags &= (uint8_t)~QUIET_FLAG;
	bp.hdr.cmd_line_ptr = (uint32_t)X86_CMDLINE_ADDR;
	bp.hdr.ramdisk_image = (uint32_t)initrd_addr;
	bp.hdr.ramdisk_size = initrd_addr ? (uint32_t)req->initrd_len : 0;
	bp.hdr.code32_start = (uint32_t)info.load_addr;
	bp.acpi_rsdp_addr = req->rsdp_addr;
	fill_e820(mem, &bp);
	if (gmem_write(mem, X86_ZERO_PAGE_ADDR, &bp, sizeof(bp)))
		return BOOT_E_NO_ROOM;

	entry->mode = BOOT_ENTRY_LONG64;
	entry->rip = info.load_addr + 0x200; /* boot.rst: 64-bit entry at +0x200 */
	entry->arg = X86_ZERO_PAGE_ADDR;
	return BOOT_OK;
}

/* Xen public/arch-x86/hvm/start_info.h, version 1: the PVH boot ABI. */
struct pvh_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};
struct pvh_modlist_entry {
	uint64_t paddr, size, cmdline_paddr, reserved;
};
struct pvh_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};
#define PVH_START_MAGIC 0x336ec578

struct pvh_page {
	struct pvh_start_info info;
	struct pvh_modlist_entry module;
	struct pvh_memmap_entry memmap[BOOT_E820_MAX];
};

static int write_pvh_info(const struct gmem *mem, const struct boot_request *req,
			  uint64_t initrd_addr)
{
	struct boot_e820 map[BOOT_E820_MAX];
	unsigned n = boot_e820_map(mem, map, BOOT_E820_MAX);
	struct pvh_page page;

	memset(&page, 0, sizeof(page));
	page.info.magic = PVH_START_MAGIC;
	page.info.version = 1;
	page.info.cmdline_paddr = X86_CMDLINE_ADDR;
	page.info.rsdp_paddr = req->rsdp_addr;
	page.info.memmap_paddr = X86_PVH_INFO_ADDR + offsetof(struct pvh_page, memmap);
	page.info.memmap_entries = n;
	if (initrd_addr) {
		page.info.nr_modules = 1;
		page.info.modlist_paddr = X86_PVH_INFO_ADDR + offsetof(struct pvh_page, module);
		page.module.paddr = initrd_addr;
		page.module.size = req->initrd_len;
	}
	for (unsigned i = 0; i < n; i++)
		page.memmap[i] =
			(struct pvh_memmap_entry){ map[i].addr, map[i].size, map[i].type, 0 };
	return gmem_write(mem, X86_PVH_INFO_ADDR, &page, sizeof(page));
}

static int load_pvh(const struct gmem *mem, const struct boot_request *req,
		    struct boot_entry *entry)
{
	struct pvh_info info;
	uint64_t initrd_addr;
	int ret = boot_parse_pvh_elf(req->kernel, req->kernel_len, &info);

	if (ret)
		return ret;
	for (unsigned i = 0; i < info.nsegments; i++) {
		uint8_t *dst = gmem_ptr(mem, info.segments[i].paddr, info.segments[i].memsz);

		if (!dst || info.segments[i].paddr < X86_HIGH_MEM_START)
			return BOOT_E_NO_ROOM;
		memcpy(dst, req->kernel + info.segments[i].offset, info.segments[i].filesz);
		memset(dst + info.segments[i].filesz, 0,
		       info.segments[i].memsz - info.segments[i].filesz);
	}
	ret = write_cmdline(mem, req->cmdline, X86_CMDLINE_MAX - 1);
	if (ret)
		return ret;
	/* PVH has no initrd limit of its own; stay below 4 GiB like bzImage. */
	ret = place_initrd(mem, req, 0xffffffffULL, info.kernel_end, &initrd_addr);
	if (ret)
		return ret;
	if (write_pvh_info(mem, req, initrd_addr))
		return BOOT_E_NO_ROOM;
	entry->mode = BOOT_ENTRY_PVH32;
	entry->rip = info.entry;
	entry->arg = X86_PVH_INFO_ADDR;
	return BOOT_OK;
}

int boot_check_kernel(const uint8_t *img, size_t len)
{
	struct bzimage_info bz;
	struct pvh_info pvh;

	if (len >= SELFMAG && memcmp(img, ELFMAG, SELFMAG) == 0)
		return boot_parse_pvh_elf(img, len, &pvh);
	return boot_parse_bzimage(img, len, &bz);
}

int boot_load(const struct gmem *mem, const struct boot_request *req, struct boot_entry *entry)
{
	bool elf = req->kernel_len >= SELFMAG && memcmp(req->kernel, ELFMAG, SELFMAG) == 0;
	int ret = elf ? load_pvh(mem, req, entry) : load_bzimage(mem, req, entry);

	if (ret)
		return ret;
	if (write_gdt(mem) || write_page_tables(mem))
		return BOOT_E_NO_ROOM;
	return BOOT_OK;
}

/*
 * Fuzz target for the x86 boot loader (vmm/x86/boot.c).
 *
 * The kernel image is untrusted input: whatever file the user passes as
 * --kernel. The loader must never crash, read past the image or write
 * outside guest RAM, and what it reports as loaded must be where it says.
 *
 * Input layout (everything after the first 4 bytes is the kernel image):
 *
 *   byte 0   bits 0-2  guest RAM layout, an index into layouts[]
 *            bits 3-4  command line, see make_cmdline()
 *            bits 5-6  initrd, see set_initrd()
 *            bit 7     rsdp_addr 0 instead of the BIOS area
 *   bytes 1-3          a 24-bit little-endian parameter for the above
 *   bytes 4-           the kernel image
 *
 * Each guest RAM region is its own heap block of exactly the region's size
 * and the image, command line and initrd are exactly sized as well, so
 * AddressSanitizer sees any access past any of them.
 */
#include <asm/bootparam.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/memory.h"
#include "vmm/x86/boot.h"
#include "vmm/x86/layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MiB (1024ULL * 1024)
#define CTRL_LEN 4

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "fuzz_boot: %s:%d: invariant failed: %s\n", \
				__FILE__, __LINE__, #cond);                          \
			abort();                                                     \
		}                                                                    \
	} while (0)

/* Guest RAM: 'low' bytes at 0 and 'high' bytes at 4 GiB (0 = no region). */
struct layout {
	uint64_t low, high;
};

static const struct layout layouts[8] = {
	{ 32 * MiB, 0 },               /* the ordinary case */
	{ 16 * MiB, 8 * MiB },         /* RAM above 4 GiB too */
	{ 2 * MiB, 0 },                /* room for a small kernel only */
	{ 0x140000, 0x1000 },          /* 1.25 MiB: just above the boot data */
	{ 1 * MiB, 0 },                /* boot data fits, no kernel does */
	{ 0x10000, 0 },                /* not even the command line fits */
	{ 0, 8 * MiB },                /* no RAM at 0 at all */
	{ 24 * MiB + 0x1234, 4 * MiB + 0x10 }, /* sizes not page aligned */
};

/* One exactly sized heap block per region of each layout, kept across runs. */
static uint8_t *ram_blocks[8][2];

static uint8_t *ram_block(unsigned layout, unsigned which, uint64_t size)
{
	if (!ram_blocks[layout][which]) {
		ram_blocks[layout][which] = malloc(size);
		if (!ram_blocks[layout][which]) {
			perror("fuzz_boot: malloc");
			abort();
		}
	}
	return ram_blocks[layout][which];
}

static void build_gmem(struct gmem *mem, unsigned idx)
{
	const struct layout *l = &layouts[idx];

	memset(mem, 0, sizeof(*mem));
	if (l->low)
		CHECK(gmem_add_region(mem, 0, l->low, ram_block(idx, 0, l->low)) == 0);
	if (l->high)
		CHECK(gmem_add_region(mem, X86_HIGH_RAM_START, l->high,
				      ram_block(idx, 1, l->high)) == 0);
}

/* Initrd contents: a pattern that no loader write produces by accident. */
#define INITRD_POOL (16 * MiB)
static uint8_t *initrd_pool;

static const uint8_t *initrd_tail(size_t len)
{
	if (!initrd_pool) {
		initrd_pool = malloc(INITRD_POOL);
		CHECK(initrd_pool != NULL);
		for (size_t i = 0; i < INITRD_POOL; i++)
			initrd_pool[i] = (uint8_t)(i * 7 + (i >> 12) + 1);
	}
	/* The block's end is the initrd's end: reading past it is caught. */
	return initrd_pool + INITRD_POOL - len;
}

static void set_initrd(struct boot_request *req, unsigned mode, uint32_t param)
{
	switch (mode) {
	case 0: /* none */
		req->initrd = NULL;
		req->initrd_len = 0;
		break;
	case 1: /* param bytes long; 0 means a pointer but no bytes */
		req->initrd_len = param % INITRD_POOL;
		req->initrd = initrd_tail(req->initrd_len);
		break;
	case 2: /* the image itself, as a user mixing up the two files would */
		req->initrd = req->kernel;
		req->initrd_len = req->kernel_len;
		break;
	default: /* absurdly long: any copy of it would read far past the pool */
		req->initrd = initrd_tail(0) - 1;
		req->initrd_len = SIZE_MAX - param;
		break;
	}
}

/* A NUL-terminated command line in an exactly sized block; free() it. */
static char *make_cmdline(unsigned mode, uint32_t param, const uint8_t *img, size_t len)
{
	static const char normal[] = "console=ttyS0 root=/dev/vda rw panic=-1";
	struct bzimage_info bz;
	size_t n;
	char *s;

	switch (mode) {
	case 0:
		n = sizeof(normal) - 1;
		break;
	case 1:
		n = 0;
		break;
	case 2: /* anything up to twice what hutch can place */
		n = param % (2 * X86_CMDLINE_MAX + 1);
		break;
	default: /* right at the limits: the kernel's cmdline_size, or hutch's own */
		if (boot_parse_bzimage(img, len, &bz) == BOOT_OK)
			n = bz.cmdline_size;
		else
			n = X86_CMDLINE_MAX;
		n = n + (param & 3) >= 2 ? n + (param & 3) - 2 : 0;
		if (n > 2 * X86_CMDLINE_MAX)
			n = 2 * X86_CMDLINE_MAX;
		break;
	}
	s = malloc(n + 1);
	CHECK(s != NULL);
	if (mode == 0)
		memcpy(s, normal, n);
	else
		for (size_t i = 0; i < n; i++)
			s[i] = (char)('a' + i % 26);
	s[n] = '\0';
	return s;
}

static uint64_t low_ram(const struct gmem *mem)
{
	for (unsigned i = 0; i < mem->nregions; i++)
		if (mem->regions[i].gpa == 0)
			return mem->regions[i].size;
	return 0;
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

static void check_cmdline(const struct gmem *mem, const char *cmdline)
{
	size_t n = strlen(cmdline) + 1;
	const uint8_t *g = gmem_ptr(mem, X86_CMDLINE_ADDR, n);

	CHECK(g != NULL);
	CHECK(memcmp(g, cmdline, n) == 0);
}

/* After a successful bzImage load: everything is where boot_params says. */
static void check_bzimage(const struct gmem *mem, const struct boot_request *req,
			  const struct boot_entry *entry)
{
	struct bzimage_info bz;
	struct boot_params bp;
	uint64_t low = low_ram(mem), kend;
	const uint8_t *g;

	CHECK(boot_parse_bzimage(req->kernel, req->kernel_len, &bz) == BOOT_OK);
	CHECK(bz.setup_size < req->kernel_len);
	CHECK(bz.kernel_size == req->kernel_len - bz.setup_size);
	CHECK(bz.header_end <= bz.setup_size);
	CHECK(bz.init_size >= bz.kernel_size);

	CHECK(entry->mode == BOOT_ENTRY_LONG64);
	CHECK(entry->arg == X86_ZERO_PAGE_ADDR);
	CHECK(entry->rip == bz.load_addr + 0x200);

	/* The kernel lies above the boot data and, with its init_size, in low RAM. */
	CHECK(bz.load_addr >= X86_HIGH_MEM_START);
	CHECK(bz.load_addr <= low && bz.init_size <= low - bz.load_addr);
	kend = bz.load_addr + bz.init_size;
	g = gmem_ptr(mem, bz.load_addr, bz.kernel_size);
	CHECK(g != NULL);
	CHECK(memcmp(g, req->kernel + bz.setup_size, bz.kernel_size) == 0);

	CHECK(gmem_read(mem, &bp, X86_ZERO_PAGE_ADDR, sizeof(bp)) == 0);
	CHECK(bp.hdr.cmd_line_ptr == X86_CMDLINE_ADDR);
	CHECK(strlen(req->cmdline) <= bz.cmdline_size);
	check_cmdline(mem, req->cmdline);
	CHECK(bp.hdr.code32_start == (uint32_t)bz.load_addr);
	CHECK(bp.e820_entries <= BOOT_E820_MAX);

	if (req->initrd && req->initrd_len) {
		uint64_t a = bp.hdr.ramdisk_image, n = req->initrd_len;

		CHECK(bp.hdr.ramdisk_size == n);
		CHECK(n <= low);
		CHECK(a >= kend);                          /* above the kernel's init_size */
		CHECK(a <= low - n);                       /* inside low RAM */
		CHECK(a + n - 1 <= bz.initrd_addr_max);    /* below the kernel's limit */
		g = gmem_ptr(mem, a, n);
		CHECK(g != NULL);
		CHECK(memcmp(g, req->initrd, n) == 0);
	} else {
		CHECK(bp.hdr.ramdisk_image == 0 && bp.hdr.ramdisk_size == 0);
	}
}

/* Xen's hvm_start_info (version 1): offsets of the fields checked here. */
#define SI_MAGIC        0
#define SI_VERSION      4
#define SI_NR_MODULES   12
#define SI_MODLIST      16
#define SI_CMDLINE      24
#define SI_MEMMAP_N     48
#define SI_LEN          56
#define PVH_MAGIC       0x336ec578

/* After a successful PVH load: segments, initrd and start_info are consistent. */
static void check_pvh(const struct gmem *mem, const struct boot_request *req,
		      const struct boot_entry *entry)
{
	struct pvh_info pvh;
	const uint8_t *si, *g;

	CHECK(boot_parse_pvh_elf(req->kernel, req->kernel_len, &pvh) == BOOT_OK);
	CHECK(pvh.nsegments >= 1 && pvh.nsegments <= PVH_MAX_SEGMENTS);

	CHECK(entry->mode == BOOT_ENTRY_PVH32);
	CHECK(entry->rip == pvh.entry);
	CHECK(entry->arg == X86_PVH_INFO_ADDR);

	for (unsigned i = 0; i < pvh.nsegments; i++) {
		uint64_t paddr = pvh.segments[i].paddr, off = pvh.segments[i].offset;
		uint64_t filesz = pvh.segments[i].filesz, memsz = pvh.segments[i].memsz;
		bool overwritten = false;

		CHECK(paddr >= X86_HIGH_MEM_START);
		CHECK(off <= req->kernel_len && filesz <= req->kernel_len - off);
		CHECK(filesz <= memsz);
		CHECK(paddr + memsz <= pvh.kernel_end && paddr + memsz > paddr);
		g = gmem_ptr(mem, paddr, memsz);
		CHECK(g != NULL);
		/* A later segment on top of this one is the image's business. */
		for (unsigned j = i + 1; j < pvh.nsegments; j++)
			if (ranges_overlap(paddr, memsz, pvh.segments[j].paddr,
					   pvh.segments[j].memsz))
				overwritten = true;
		if (overwritten)
			continue;
		CHECK(memcmp(g, req->kernel + off, filesz) == 0);
		for (uint64_t k = filesz; k < memsz; k++)
			CHECK(g[k] == 0);
	}

	si = gmem_ptr(mem, X86_PVH_INFO_ADDR, SI_LEN);
	CHECK(si != NULL);
	CHECK(get_le(si + SI_MAGIC, 4) == PVH_MAGIC);
	CHECK(get_le(si + SI_VERSION, 4) == 1);
	CHECK(get_le(si + SI_CMDLINE, 8) == X86_CMDLINE_ADDR);
	CHECK(get_le(si + SI_MEMMAP_N, 4) <= BOOT_E820_MAX);
	check_cmdline(mem, req->cmdline);

	if (req->initrd && req->initrd_len) {
		uint64_t n = req->initrd_len, a;
		const uint8_t *mod;

		CHECK(get_le(si + SI_NR_MODULES, 4) == 1);
		mod = gmem_ptr(mem, get_le(si + SI_MODLIST, 8), 16);
		CHECK(mod != NULL);
		a = get_le(mod, 8);
		CHECK(get_le(mod + 8, 8) == n);
		CHECK(n <= 0x100000000ULL && a <= 0x100000000ULL - n); /* below 4 GiB */
		CHECK(a >= pvh.kernel_end);
		for (unsigned i = 0; i < pvh.nsegments; i++)
			CHECK(!ranges_overlap(a, n, pvh.segments[i].paddr,
					      pvh.segments[i].memsz));
		g = gmem_ptr(mem, a, n);
		CHECK(g != NULL);
		CHECK(memcmp(g, req->initrd, n) == 0);
	} else {
		CHECK(get_le(si + SI_NR_MODULES, 4) == 0);
	}
}

/* boot_e820_map() must stay within whatever array it is given. */
static void check_e820(const struct gmem *mem)
{
	for (unsigned max = 0; max <= BOOT_E820_MAX; max++) {
		struct boot_e820 *map = malloc(max ? max * sizeof(*map) : 1);
		unsigned n;

		CHECK(map != NULL);
		n = boot_e820_map(mem, map, max);
		CHECK(n <= max);
		for (unsigned i = 0; i < n; i++)
			CHECK(map[i].type == 1 || map[i].type == 2);
		free(map);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct boot_request req;
	struct boot_entry entry;
	struct gmem mem;
	unsigned layout, ctrl;
	uint32_t param;
	bool elf;
	char *cmdline;
	int chk, parsed, ret;

	if (size < CTRL_LEN)
		return 0;
	ctrl = data[0];
	param = (uint32_t)get_le(data + 1, 3);
	memset(&req, 0, sizeof(req));
	req.kernel = data + CTRL_LEN;
	req.kernel_len = size - CTRL_LEN;

	/* Both parsers take anything; the pre-flight check agrees with the one
	 * for the image's format. */
	chk = boot_check_kernel(req.kernel, req.kernel_len);
	CHECK(chk >= 0 && chk < BOOT_E__COUNT);
	CHECK(boot_strerror(chk) != NULL);
	elf = req.kernel_len >= 4 && memcmp(req.kernel, "\177ELF", 4) == 0;
	{
		struct pvh_info pvh;
		struct bzimage_info bz;
		int ret_pvh = boot_parse_pvh_elf(req.kernel, req.kernel_len, &pvh);
		int ret_bz = boot_parse_bzimage(req.kernel, req.kernel_len, &bz);

		CHECK(ret_pvh >= 0 && ret_pvh < BOOT_E__COUNT);
		CHECK(ret_bz >= 0 && ret_bz < BOOT_E__COUNT);
		parsed = elf ? ret_pvh : ret_bz;
	}
	CHECK(parsed == chk);
	CHECK(boot_strerror(-1) != NULL && boot_strerror(BOOT_E__COUNT) != NULL);

	layout = ctrl & 7;
	build_gmem(&mem, layout);
	check_e820(&mem);
	cmdline = make_cmdline((ctrl >> 3) & 3, param, req.kernel, req.kernel_len);
	req.cmdline = cmdline;
	set_initrd(&req, (ctrl >> 5) & 3, param);
	req.rsdp_addr = (ctrl & 0x80) ? 0 : X86_BIOS_START;

	memset(&entry, 0, sizeof(entry));
	ret = boot_load(&mem, &req, &entry);
	CHECK(ret >= 0 && ret < BOOT_E__COUNT);
	CHECK(boot_strerror(ret) != NULL);
	if (chk != BOOT_OK) {
		/* boot_check_kernel() refused it: boot_load() refuses it the same way. */
		CHECK(ret == chk);
	} else {
		/* Accepted images fail to load only for want of room or a long cmdline. */
		CHECK(ret == BOOT_OK || ret == BOOT_E_NO_ROOM || ret == BOOT_E_INITRD_NO_ROOM ||
		      ret == BOOT_E_CMDLINE_TOO_LONG);
	}
	if (ret == BOOT_OK) {
		if (elf)
			check_pvh(&mem, &req, &entry);
		else
			check_bzimage(&mem, &req, &entry);
	}
	free(cmdline);
	return 0;
}

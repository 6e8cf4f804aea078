/* x86-64 Linux boot: the bzImage boot protocol and the PVH entry of an ELF vmlinux. */
#ifndef HUTCH_VMM_X86_BOOT_H
#define HUTCH_VMM_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/memory.h"

/* Why a kernel or its load was refused; see boot_strerror(). */
enum boot_err {
	BOOT_OK = 0,
	BOOT_E_TRUNCATED = 1,	 /* shorter than its own headers say */
	BOOT_E_FORMAT,		 /* neither a bzImage nor an ELF vmlinux */
	BOOT_E_PROTOCOL_OLD,	 /* boot protocol older than 2.12 */
	BOOT_E_NOT_64BIT,	 /* bzImage without a 64-bit entry point */
	BOOT_E_ELF_CLASS,	 /* ELF that is not x86-64 */
	BOOT_E_ELF_PHDR,	 /* bad program headers */
	BOOT_E_NO_PVH,		 /* ELF without a PVH entry note */
	BOOT_E_NO_ROOM,		 /* kernel does not fit in guest RAM */
	BOOT_E_INITRD_NO_ROOM,	 /* initrd does not fit below its limit */
	BOOT_E_CMDLINE_TOO_LONG, /* longer than the kernel accepts */
	BOOT_E__COUNT
};

const char *boot_strerror(int err);

/* What hutch needs from a bzImage's setup header (boot.rst). */
struct bzimage_info {
	uint16_t version;	  /* boot protocol, e.g. 0x020f */
	size_t setup_size;	  /* bytes of real-mode setup code, incl. boot sector */
	size_t kernel_size;	  /* bytes of protected-mode kernel after it */
	uint64_t load_addr;	  /* where the protected-mode kernel goes */
	uint32_t init_size;	  /* memory the kernel needs from load_addr while it starts */
	uint32_t initrd_addr_max; /* highest address the initrd may occupy */
	uint32_t cmdline_size;	  /* longest command line, without the NUL */
	size_t header_end;	  /* file offset where the setup header ends */
};

int boot_parse_bzimage(const uint8_t *img, size_t len, struct bzimage_info *info)
	__attribute__((warn_unused_result));

/* What hutch needs from an ELF vmlinux with a PVH note. */
#define PVH_MAX_SEGMENTS 16
struct pvh_info {
	uint32_t entry; /* XEN_ELFNOTE_PHYS32_ENTRY: 32-bit physical entry */
	unsigned nsegments;
	struct {
		uint64_t paddr, offset, filesz, memsz;
	} segments[PVH_MAX_SEGMENTS];
	uint64_t kernel_end; /* highest paddr + memsz of any segment */
};

int boot_parse_pvh_elf(const uint8_t *img, size_t len, struct pvh_info *info)
	__attribute__((warn_unused_result));

/* Checks that a kernel image is one boot_load() can take, before any VM exists. */
int boot_check_kernel(const uint8_t *img, size_t len) __attribute__((warn_unused_result));

/* The e820 map hutch gives a guest of this RAM layout. */
#define BOOT_E820_MAX 8
struct boot_e820 {
	uint64_t addr, size;
	uint32_t type; /* 1 RAM, 2 reserved */
};
unsigned boot_e820_map(const struct gmem *mem, struct boot_e820 *map, unsigned max);

/* How the first vCPU must start. */
enum boot_entry_mode {
	BOOT_ENTRY_LONG64, /* 64-bit mode, identity paging, rsi = boot_params */
	BOOT_ENTRY_PVH32,  /* 32-bit protected mode, no paging, ebx = start_info */
};

struct boot_entry {
	enum boot_entry_mode mode;
	uint64_t rip;
	uint64_t arg; /* rsi (bzImage) or ebx (PVH) */
};

struct boot_request {
	const uint8_t *kernel;
	size_t kernel_len;
	const uint8_t *initrd; /* may be NULL */
	size_t initrd_len;
	const char *cmdline; /* not NULL */
	uint64_t rsdp_addr;
};

/*
 * Loads kernel, initrd and command line into guest memory, writes the
 * boot_params or PVH start_info, GDT and page tables, and fills *entry.
 * Chooses PVH for an ELF image and the 64-bit boot protocol for a bzImage.
 * Returns BOOT_OK or an enum boot_err.
 */
int boot_load(const struct gmem *mem, const struct boot_request *req, struct boot_entry *entry)
	__attribute__((warn_unused_result));

/* GDT selectors the loader sets up (boot.rst: __BOOT_CS 0x10, __BOOT_DS 0x18). */
#define BOOT_GDT_CS64	 0x10
#define BOOT_GDT_DS	 0x18
#define BOOT_GDT_CS32	 0x20
#define BOOT_GDT_ENTRIES 5

#endif

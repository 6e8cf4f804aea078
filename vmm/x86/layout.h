/* The x86 guest physical address map: where hutch puts RAM, boot data and devices. */
#ifndef HUTCH_VMM_X86_LAYOUT_H
#define HUTCH_VMM_X86_LAYOUT_H

/* RAM below 1 MiB the guest may use (the EBDA and BIOS area start above). */
#define X86_LOW_RAM_END	   0x9fc00ULL
#define X86_EBDA_START	   0x9fc00ULL
#define X86_BIOS_START	   0xe0000ULL  /* ACPI tables, up to the reset vector */
#define X86_HIGH_MEM_START 0x100000ULL /* 1 MiB */

/* Boot data, all below 1 MiB and below the EBDA. */
#define X86_GDT_ADDR	   0x500ULL
#define X86_PVH_INFO_ADDR  0x6000ULL
#define X86_ZERO_PAGE_ADDR 0x7000ULL /* boot_params */
#define X86_PML4_ADDR	   0x9000ULL
#define X86_PDPT_ADDR	   0xa000ULL
#define X86_PD_ADDR	   0xb000ULL /* four PDs: identity map of 4 GiB */
#define X86_CMDLINE_ADDR   0x20000ULL
#define X86_CMDLINE_MAX	   0x10000ULL
#define X86_BOOT_STACK	   0x8ff0ULL

/* The 32-bit MMIO hole: RAM stops at 3 GiB and resumes at 4 GiB. */
#define X86_MMIO_HOLE_START 0xc0000000ULL
#define X86_HIGH_RAM_START  0x100000000ULL
/* PCI: BARs go into the bottom of the hole, then ECAM for bus 0. */
#define X86_PCI_MMIO32_BASE   0xc0000000ULL
#define X86_PCI_MMIO32_SIZE   0x20000000ULL
#define X86_PCI_ECAM_BASE     0xe0000000ULL
#define X86_PCI_ECAM_SIZE     0x100000ULL /* bus 0 only */
#define X86_IOAPIC_ADDR	      0xfec00000ULL
#define X86_LAPIC_ADDR	      0xfee00000ULL
#define X86_TSS_ADDR	      0xfffbd000ULL
#define X86_IDENTITY_MAP_ADDR 0xfffbc000ULL

/* Legacy and hutch-specific I/O ports. */
#define X86_PORT_PCI_CONF1	0xcf8
#define X86_PORT_COM1		0x3f8
#define X86_IRQ_COM1		4
#define X86_PORT_PVPANIC	0x505
#define X86_PORT_ACPI_SLEEP_CTL 0x600
#define X86_PORT_ACPI_SLEEP_STS 0x601
#define X86_PORT_ACPI_RESET	0x602
#define X86_ACPI_RESET_VALUE	0x01

/* Interrupt of the power button's Generic Event Device: ISA IRQ 9, free in
 * a hardware-reduced machine (it has no SCI), IOAPIC pin 9. */
#define X86_GSI_POWER_BUTTON 9

#endif

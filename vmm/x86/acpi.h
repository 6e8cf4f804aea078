/* ACPI tables for x86 guests: RSDP, XSDT, FADT (hardware-reduced), MADT, MCFG, DSDT. */
#ifndef HUTCH_VMM_X86_ACPI_H
#define HUTCH_VMM_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

struct acpi_config {
	unsigned ncpus;		 /* local APIC IDs 0..ncpus-1 */
	uint32_t ioapic_addr;	 /* 0xfec00000 */
	uint32_t lapic_addr;	 /* 0xfee00000 */
	uint16_t sleep_ctl_port; /* FADT SLEEP_CONTROL_REG, 8-bit System I/O */
	uint16_t sleep_sts_port; /* FADT SLEEP_STATUS_REG, 8-bit System I/O */
	uint16_t reset_port;	 /* FADT RESET_REG, 8-bit System I/O */
	uint8_t reset_value;
	uint16_t pvpanic_port; /* DSDT device QEMU0001, one I/O port */
	/*
	 * PCI Express root bus 0 with ECAM: an MCFG table and \_SB.PCI0
	 * (PNP0A08). pci_ecam_base 0 means no PCI at all. ECAM covers buses
	 * 0..pci_bus_end, 1 MiB each, and must be 1 MiB aligned. The 32-bit
	 * and 64-bit BAR windows are left out of PCI0's _CRS when their size
	 * is 0; neither may wrap around.
	 */
	uint64_t pci_ecam_base;
	uint8_t pci_bus_end;
	uint32_t pci_mmio32_base, pci_mmio32_size;
	uint64_t pci_mmio64_base, pci_mmio64_size; /*
	 * A power button, \_SB.PWRB (PNP0C0C), notified by a Generic Event
	 * Device, \_SB.GED0 (ACPI0013), whenever this GSI sees a rising edge
	 * (edge-triggered, active high). 0 means no power button.
	 */
	uint32_t power_button_gsi;
};

/* The value the DSDT's \_S5 package gives as SLP_TYP: the guest writes
 * (ACPI_S5_SLP_TYP << 2) | (1 << 5) to the sleep control register to power off. */
#define ACPI_S5_SLP_TYP 5

/*
 * Builds all tables into buf, which the guest will see at guest physical
 * address gpa. The RSDP comes first, at gpa (which must be 16-byte aligned
 * and, for legacy scanning, within 0xe0000-0xfffff). Returns the number of
 * bytes used, -ENOSPC when buf is too small, or -EINVAL for a bad cfg.
 */
long acpi_build(void *buf, size_t size, uint64_t gpa, const struct acpi_config *cfg);

#endif

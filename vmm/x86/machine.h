/* The x86 PC hutch builds: legacy devices, ACPI tables, boot and vCPU state. */
#ifndef HUTCH_VMM_X86_MACHINE_H
#define HUTCH_VMM_X86_MACHINE_H

#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/power.h"
#include "devices/legacy/pvpanic.h"
#include "devices/legacy/rtc.h"
#include "devices/legacy/serial.h"
#include "devices/pci/pci.h"
#include "vmm/vm.h"
#include "vmm/x86/boot.h"

struct machine {
	struct vm vm;
	struct power_sink power;
	struct serial com1;
	struct rtc rtc;
	struct i8042 kbc;
	struct pvpanic pvpanic;
	struct acpi_pm acpi_pm;
	struct pci_bus pci;
	struct pci_device pci_host_bridge;
	/* called with each byte the guest writes to COM1 */
	void (*console_out)(void *opaque, uint8_t byte);
	void *console_opaque;
};

/*
 * After vm_create(): creates vCPUs, devices and ACPI tables, loads the
 * kernel and sets the boot vCPU's registers. On a kernel the boot loader
 * refuses, returns the positive enum boot_err; -errno on host errors.
 */
int machine_x86_setup(struct machine *m, const struct boot_request *req);

#endif

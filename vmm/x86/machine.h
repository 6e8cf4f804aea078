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
#include "devices/virtio/pci.h"
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
	struct pci_platform pci_platform; /* KVM interrupt routes and eventfds for PCI devices */
	struct virtio_pci *virtio[PCI_SLOTS];
	unsigned nvirtio;
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

/*
 * Before machine_x86_setup(): plugs a virtio device (ops, features, queues
 * and config filled in) into the next PCI slot, its work on a new I/O
 * thread named thread_name. 0 or -errno.
 */
int machine_add_virtio(struct machine *m, struct virtio_dev *vdev, const char *thread_name);

/* After the vCPUs stopped: resets virtio devices and stops their I/O threads. */
void machine_stop_devices(struct machine *m);

/* Presses the ACPI power button (the DSDT's \_SB.PWRB): the guest's
 * acpi_ged and button drivers turn it into KEY_POWER, and the guest decides
 * what to do (the test guest's acpid powers off). Any thread. */
void machine_power_button(struct machine *m);

#endif

/* PCI bus 0: configuration space of its devices, reached by mechanism #1 and by ECAM. */
#ifndef HUTCH_DEVICES_PCI_PCI_H
#define HUTCH_DEVICES_PCI_PCI_H

#include <pthread.h>
#include <stdint.h>

#include "vmm/bus.h"

#define PCI_SLOTS	  32
#define PCI_CONFIG_SIZE	  256 /* conventional space; the PCIe extension reads 0 */
#define PCI_ECAM_BUS_SIZE (1u << 20)

/* Type 0 header offsets (PCI Local Bus spec 3.0 §6.1). */
#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_COMMAND		0x04
#define PCI_STATUS		0x06
#define PCI_REVISION_ID		0x08
#define PCI_CLASS_PROG		0x09
#define PCI_CLASS_DEVICE	0x0a
#define PCI_HEADER_TYPE		0x0e
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID	0x2e

struct pci_device;

struct pci_device_ops {
	/* after the guest wrote config bytes [offset, offset+len) */
	void (*config_written)(struct pci_device *dev, unsigned offset, unsigned len);
};

struct pci_device {
	uint8_t config[PCI_CONFIG_SIZE];
	uint8_t wmask[PCI_CONFIG_SIZE];	  /* bits the guest may change */
	const struct pci_device_ops *ops; /* may be NULL */
	void *opaque;
};

struct pci_bus {
	pthread_mutex_t lock; /* config accesses from several vCPUs */
	struct pci_device *slots[PCI_SLOTS];
	uint32_t conf1_address; /* mechanism #1 CONFIG_ADDRESS (port 0xcf8) */
};

void pci_bus_init(struct pci_bus *bus);
/* Plugs dev into slot (function 0); -EBUSY if taken, -EINVAL if out of range. */
int pci_bus_add(struct pci_bus *bus, unsigned slot, struct pci_device *dev)
	__attribute__((warn_unused_result));

/* Header fields every device sets before it is plugged in. */
void pci_device_init(struct pci_device *dev, uint16_t vendor, uint16_t device, uint32_t class_code,
		     uint8_t revision);

/* Config access for bus 0, devfn = slot << 3 | function. Absent: all ones. */
uint32_t pci_config_read(struct pci_bus *bus, unsigned devfn, unsigned offset, unsigned len);
void pci_config_write(struct pci_bus *bus, unsigned devfn, unsigned offset, unsigned len,
		      uint32_t value);

extern const struct bus_dev_ops pci_conf1_bus_ops; /* ports 0xcf8-0xcff */
extern const struct bus_dev_ops pci_ecam_bus_ops;  /* one bus: 1 MiB of MMIO */

#endif

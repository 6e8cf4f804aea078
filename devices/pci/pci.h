/* PCI bus 0: configuration space of its devices, reached by mechanism #1 and by ECAM. */
#ifndef HUTCH_DEVICES_PCI_PCI_H
#define HUTCH_DEVICES_PCI_PCI_H

#include <pthread.h>
#include <stdbool.h>
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
#define PCI_BAR0		0x10
#define PCI_CAPABILITY_LIST	0x34

#define PCI_COMMAND_MEMORY  0x0002
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_NUM_BARS	    6
#define PCI_CAP_FIRST	    0x40 /* capabilities live in [0x40, 0x100) */

/* An MMIO BAR (PCI 3.0 §6.2.5.1); I/O BARs are not needed by hutch's devices. */
struct pci_bar {
	uint64_t size; /* power of 2, at least 4 KiB; 0: BAR absent */
	bool mem64;    /* 64-bit BAR: takes this register and the next */
	bool prefetch;
	const struct bus_dev_ops *ops; /* accesses at offsets into the BAR */
	void *opaque;
	uint64_t mapped_at; /* guest-physical address while mapped */
	bool mapped;
};

/*
 * What a PCI device needs from the machine, without knowing KVM: interrupt
 * routes for MSI-X and eventfds for doorbell writes. Every member returns 0
 * (or a GSI) or -errno.
 */
struct pci_platform {
	int (*gsi_alloc)(void *opaque);
	/* gsi raises the MSI with this address and data */
	int (*msi_route)(void *opaque, unsigned gsi, uint64_t addr, uint32_t data);
	/* writes to fd raise gsi */
	int (*irqfd)(void *opaque, int fd, unsigned gsi, bool assign);
	/* guest writes of len bytes at addr signal fd instead of exiting */
	int (*ioeventfd)(void *opaque, uint64_t addr, unsigned len, int fd, bool assign);
	void *opaque;
};

struct pci_device;

struct pci_device_ops {
	/* after the guest wrote config bytes [offset, offset+len), with the bus lock held */
	void (*config_written)(struct pci_device *dev, unsigned offset, unsigned len);
	/* before the guest reads config bytes [offset, offset+len), which it may
	 * refresh; with the bus lock held (and the MMIO bus's, as for writes) */
	void (*config_read)(struct pci_device *dev, unsigned offset, unsigned len);
	/* after BAR idx was mapped at addr, or unmapped (mapped false), with the bus lock held */
	void (*bar_mapped)(struct pci_device *dev, unsigned idx, uint64_t addr, bool mapped);
};

struct pci_device {
	uint8_t config[PCI_CONFIG_SIZE];
	uint8_t wmask[PCI_CONFIG_SIZE];	  /* bits the guest may change */
	const struct pci_device_ops *ops; /* may be NULL */
	void *opaque;
	struct pci_bar bars[PCI_NUM_BARS];
	uint8_t cap_end; /* where the next capability goes */
	struct pci_bus *bus;
};

/* A range of guest-physical addresses that BARs are placed in. */
struct pci_window {
	uint64_t base, size;
	uint64_t next; /* first free address */
};

struct pci_bus {
	pthread_mutex_t lock; /* config accesses from several vCPUs */
	struct pci_device *slots[PCI_SLOTS];
	uint32_t conf1_address; /* mechanism #1 CONFIG_ADDRESS (port 0xcf8) */
	struct bus *mmio;	/* where BARs are mapped; NULL: BARs never map */
	struct pci_window mmio32, mmio64;
};

void pci_bus_init(struct pci_bus *bus);

/*
 * BARs are placed in and may only be mapped inside these windows (the ones
 * ACPI describes): 64-bit prefetchable BARs in mmio64 when it has a size,
 * everything else in mmio32.
 */
void pci_bus_set_windows(struct pci_bus *bus, struct bus *mmio, uint64_t base32, uint64_t size32,
			 uint64_t base64, uint64_t size64);
/*
 * Plugs dev into slot (function 0) and places its BARs; -EBUSY if taken,
 * -EINVAL if out of range, -ENOSPC when a BAR does not fit in its window.
 * BARs map once the guest enables memory decoding.
 */
int pci_bus_add(struct pci_bus *bus, unsigned slot, struct pci_device *dev)
	__attribute__((warn_unused_result));

/* Header fields every device sets before it is plugged in. */
void pci_device_init(struct pci_device *dev, uint16_t vendor, uint16_t device, uint32_t class_code,
		     uint8_t revision);

/* Declares BAR idx (before pci_bus_add()); -EINVAL for a bad index or size. */
int pci_device_set_bar(struct pci_device *dev, unsigned idx, uint64_t size, bool mem64,
		       bool prefetch, const struct bus_dev_ops *ops, void *opaque)
	__attribute__((warn_unused_result));

/*
 * Appends a capability (cap[0] is its ID; cap[1], the next pointer, is
 * filled in) to the list; returns its config offset, or -ENOSPC. The caller
 * sets wmask for the fields the guest may write.
 */
int pci_device_add_cap(struct pci_device *dev, const void *cap, unsigned len);

/* Config access for bus 0, devfn = slot << 3 | function. Absent: all ones. */
uint32_t pci_config_read(struct pci_bus *bus, unsigned devfn, unsigned offset, unsigned len);
void pci_config_write(struct pci_bus *bus, unsigned devfn, unsigned offset, unsigned len,
		      uint32_t value);

extern const struct bus_dev_ops pci_conf1_bus_ops; /* ports 0xcf8-0xcff */
extern const struct bus_dev_ops pci_ecam_bus_ops;  /* one bus: 1 MiB of MMIO */

#endif

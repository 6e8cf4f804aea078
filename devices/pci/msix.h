/* MSI-X (PCI 3.0 §6.8.2): the capability, the vector table and PBA in a BAR, delivery by irqfd. */
#ifndef HUTCH_DEVICES_PCI_MSIX_H
#define HUTCH_DEVICES_PCI_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/pci/pci.h"

#define MSIX_MAX_VECTORS 64
#define MSIX_NO_VECTOR	 0xffff /* virtio 1.2 §4.1.5.1.2: VIRTIO_MSI_NO_VECTOR */

struct msix_vector {
	uint32_t addr_lo, addr_hi, data, ctrl; /* the table entry, as the guest wrote it */
	int fd;				       /* eventfd bound to gsi by irqfd */
	int gsi;
	bool route_stale; /* addr or data changed since KVM last got the route */
};

struct msix {
	pthread_mutex_t lock; /* vCPUs write the table, I/O threads raise vectors */
	struct pci_device *dev;
	const struct pci_platform *platform;
	unsigned nvec;
	uint8_t cap; /* config offset of the capability */
	bool enabled, masked;
	uint64_t pending; /* PBA: one bit per vector (MSIX_MAX_VECTORS <= 64) */
	struct msix_vector vec[MSIX_MAX_VECTORS];
};

/* The bytes of BAR space the table and PBA of nvec vectors take. */
#define MSIX_TABLE_SIZE(nvec) ((nvec)*16u)
#define MSIX_PBA_SIZE(nvec)   ((((nvec) + 63u) / 64u) * 8u)

/*
 * Adds the capability to dev, with the table at table_offset and the PBA at
 * pba_offset of BAR bar, and binds one eventfd and GSI per vector. The
 * caller routes accesses to that BAR range to msix_table_read/write().
 * 0 or -errno.
 */
int msix_init(struct msix *msix, struct pci_device *dev, const struct pci_platform *platform,
	      unsigned nvec, unsigned bar, uint32_t table_offset, uint32_t pba_offset)
	__attribute__((warn_unused_result));
void msix_destroy(struct msix *msix);

/* Accesses at offset from the table's start (the PBA follows at pba - table). */
void msix_table_read(struct msix *msix, uint64_t offset, void *data, unsigned len);
void msix_table_write(struct msix *msix, uint64_t offset, const void *data, unsigned len);
void msix_pba_read(struct msix *msix, uint64_t offset, void *data, unsigned len);

/* After config bytes [offset, offset+len) were written: enable and function mask. */
void msix_config_written(struct msix *msix, unsigned offset, unsigned len);

/* Raises vector (or marks it pending while masked); any thread. Ignores MSIX_NO_VECTOR. */
void msix_notify(struct msix *msix, unsigned vector);

/* Back to the power-on state: disabled, every vector masked, nothing pending. */
void msix_reset(struct msix *msix);

#endif

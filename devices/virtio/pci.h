/* The virtio 1.x modern PCI transport (virtio 1.2 §4.1): any virtio device as a PCI function. */
#ifndef HUTCH_DEVICES_VIRTIO_PCI_H
#define HUTCH_DEVICES_VIRTIO_PCI_H

#include "devices/pci/msix.h"
#include "devices/pci/pci.h"
#include "devices/virtio/virtio.h"

struct virtio_pci {
	struct pci_device pci;
	struct msix msix;
	struct virtio_dev *vdev;
	const struct pci_platform *platform;
	uint16_t config_msix_vector;
	uint16_t queue_select;
	uint32_t device_feature_select, driver_feature_select;
	uint64_t driver_features; /* being written; accepted at FEATURES_OK */
	uint8_t isr;
	uint64_t notify_base; /* guest address of the notify area while mapped, else 0 */
	uint8_t cfg_cap;      /* config offset of the VIRTIO_PCI_CAP_PCI_CFG capability */
};

/*
 * Wraps vdev (with its ops, features, queues and config filled in) in a PCI
 * function whose work runs on a new I/O thread named thread_name (or on
 * vdev->loop when the caller set it, to share one thread); plug
 * vp->pci into a bus with pci_bus_add() afterwards. 0 or -errno.
 */
int virtio_pci_init(struct virtio_pci *vp, struct virtio_dev *vdev,
		    const struct pci_platform *platform, const struct gmem *mem,
		    const char *thread_name) __attribute__((warn_unused_result));

/* Stops the I/O thread (resetting an active device first). */
void virtio_pci_destroy(struct virtio_pci *vp);

#endif

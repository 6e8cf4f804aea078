/* What a virtio device is, independent of its transport: ops, feature bits, queues, interrupts. */
#ifndef HUTCH_DEVICES_VIRTIO_VIRTIO_H
#define HUTCH_DEVICES_VIRTIO_VIRTIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/queue.h"
#include "vmm/evloop.h"
#include "vmm/memory.h"

/* virtio 1.2 §5: device IDs. */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG	  4
#define VIRTIO_ID_GPU	  16
#define VIRTIO_ID_INPUT	  18

/* virtio 1.2 §2.1: device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER	  2
#define VIRTIO_STATUS_DRIVER_OK	  4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED	  0x80

/* virtio 1.2 §6: reserved feature bits. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

#define VIRTIO_MAX_QUEUES 64

struct virtio_dev;

/* One device type; the transport calls these and never writes into them. */
struct virtio_dev_ops {
	const char *name;   /* "virtio-blk" */
	uint16_t device_id; /* VIRTIO_ID_* */
	uint32_t pci_class; /* class code for the PCI transport */
	/* on a vCPU thread, when the driver writes the device configuration; the
	 * device stores what it accepts (under vdev->lock). NULL: read-only. */
	void (*config_write)(struct virtio_dev *vdev, unsigned offset, const void *data,
			     unsigned len);
	/* on the I/O thread, after DRIVER_OK: the queues are set up; 0 or -errno */
	int (*activate)(struct virtio_dev *vdev);
	/* on the I/O thread, when the driver notified queue q */
	void (*queue_notify)(struct virtio_dev *vdev, unsigned q);
	/* on the I/O thread, on a reset after activate(): stop using the queues and
	 * finish all work that touches guest memory before returning */
	void (*reset)(struct virtio_dev *vdev);
};

struct virtio_queue {
	struct virtq vq;
	uint16_t size_max; /* what the device offers */
	uint16_t size;	   /* what the driver chose */
	uint16_t msix_vector;
	bool enabled;
	uint64_t desc, driver, device; /* ring addresses as written */
	int kick_fd;		       /* eventfd the driver's notifications arrive on */
	uint16_t signalled_used;       /* used->idx at the last interrupt decision */
	struct virtio_dev *vdev;
	unsigned index;
};

struct virtio_transport_ops {
	/* raises the interrupt of queue q, or the configuration change interrupt (q < 0) */
	void (*notify)(struct virtio_dev *vdev, int q);
};

/*
 * One device instance. The device fills in ops, opaque, features,
 * num_queues, queues[].size_max and config before handing it to a transport.
 */
struct virtio_dev {
	const struct virtio_dev_ops *ops;
	void *opaque; /* the device's own state */
	const struct gmem *mem;
	uint64_t features;	  /* offered: device bits plus the VIRTIO_F_* ones */
	uint64_t driver_features; /* accepted at FEATURES_OK */
	unsigned num_queues;
	struct virtio_queue queues[VIRTIO_MAX_QUEUES];
	uint8_t *config; /* device configuration space, little-endian */
	unsigned config_size;

	/* Managed by the transport. */
	pthread_mutex_t lock; /* status and config, between vCPUs and the I/O thread */
	uint8_t status;
	atomic_uint config_generation;
	bool active;	     /* activate() ran and reset() has not */
	struct evloop *loop; /* the device's I/O thread; set before the transport to share one */
	bool owns_loop;	     /* the transport created loop and destroys it */
	const struct virtio_transport_ops *transport;
	void *transport_opaque;
};

static inline bool virtio_has_feature(const struct virtio_dev *vdev, unsigned bit)
{
	return vdev->driver_features >> bit & 1;
}

/*
 * On the I/O thread: the next chain of queue q into chain; 1, or 0 when the
 * queue is empty or broken. Bad chains are completed with 0 bytes and
 * logged; a bad ring marks the device DEVICE_NEEDS_RESET and logs.
 */
int virtio_pop(struct virtio_dev *vdev, unsigned q, struct virtq_chain *chain);

/* On the I/O thread: returns a chain with written bytes; no interrupt yet. */
void virtio_push(struct virtio_dev *vdev, unsigned q, uint16_t head, uint32_t written);

/* On the I/O thread: interrupts the driver if pushes since the last call warrant it. */
void virtio_notify(struct virtio_dev *vdev, unsigned q);

/* Any thread: the device configuration changed (config_generation, interrupt). */
void virtio_config_changed(struct virtio_dev *vdev);

/* Any thread: the device is unusable until the driver resets it (virtio 1.2 §2.1.2). */
void virtio_set_needs_reset(struct virtio_dev *vdev, const char *why);

#endif

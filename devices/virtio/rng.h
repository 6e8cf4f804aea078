/* virtio-rng (virtio 1.2 §5.4): entropy for the guest from the host's getrandom(). */
#ifndef HUTCH_DEVICES_VIRTIO_RNG_H
#define HUTCH_DEVICES_VIRTIO_RNG_H

#include "devices/virtio/virtio.h"

struct virtio_rng {
	struct virtio_dev vdev;
	struct virtq_chain chain;
};

/* Fills in rng->vdev for a transport. */
void virtio_rng_init(struct virtio_rng *rng);

#endif

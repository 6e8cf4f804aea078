/* virtio-rng: every device-writable buffer the guest offers is filled from getrandom(). */
#include "devices/virtio/rng.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

/* Per request, so one guest cannot keep the I/O thread in getrandom() for long. */
#define RNG_MAX_BYTES 65536

static int rng_activate(struct virtio_dev *vdev)
{
	(void)vdev;
	return 0;
}

static uint32_t rng_fill(struct virtq_chain *chain)
{
	struct iovec *in = virtq_chain_in(chain);
	uint32_t done = 0;

	for (unsigned i = 0; i < chain->in_num && done < RNG_MAX_BYTES; i++) {
		size_t want = in[i].iov_len;

		if (want > RNG_MAX_BYTES - done)
			want = RNG_MAX_BYTES - done;
		while (want) {
			ssize_t n = getrandom((uint8_t *)in[i].iov_base + (in[i].iov_len - want),
					      want, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return done;
			want -= (size_t)n;
			done += (uint32_t)n;
		}
	}
	return done;
}

static void rng_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_rng *rng = vdev->opaque;

	while (virtio_pop(vdev, q, &rng->chain) == 1)
		virtio_push(vdev, q, rng->chain.head, rng_fill(&rng->chain));
	virtio_notify(vdev, q);
}

static void rng_reset(struct virtio_dev *vdev)
{
	(void)vdev; /* nothing in flight: requests complete synchronously */
}

static const struct virtio_dev_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.pci_class = 0xff0000, /* unassigned class, as other VMMs use */
	.activate = rng_activate,
	.queue_notify = rng_queue_notify,
	.reset = rng_reset,
};

void virtio_rng_init(struct virtio_rng *rng)
{
	memset(rng, 0, sizeof(*rng));
	rng->vdev.ops = &rng_ops;
	rng->vdev.opaque = rng;
	rng->vdev.features = 1ULL << VIRTIO_F_INDIRECT_DESC | 1ULL << VIRTIO_F_EVENT_IDX;
	rng->vdev.num_queues = 1;
	rng->vdev.queues[0].size_max = 256;
}

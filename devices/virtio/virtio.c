/* Transport-independent virtio helpers: chains in and out of queues, interrupts, error states. */
#include "devices/virtio/virtio.h"

#include <errno.h>

#include "vmm/log.h"

void virtio_set_needs_reset(struct virtio_dev *vdev, const char *why)
{
	bool first;

	pthread_mutex_lock(&vdev->lock);
	/* virtio 1.2 §2.1.2: only meaningful once the driver is using the device */
	first = (vdev->status & VIRTIO_STATUS_DRIVER_OK) &&
		!(vdev->status & VIRTIO_STATUS_NEEDS_RESET);
	if (first)
		vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	pthread_mutex_unlock(&vdev->lock);
	if (first) {
		LOG_RATELIMITED("%s: %s; the device needs a reset", vdev->ops->name, why);
		vdev->transport->notify(vdev, -1);
	}
}

int virtio_pop(struct virtio_dev *vdev, unsigned q, struct virtq_chain *chain)
{
	struct virtio_queue *queue = &vdev->queues[q];

	for (;;) {
		int ret = virtq_pop(&queue->vq, chain);

		if (ret >= 0)
			return ret;
		if (virtq_error_is_ring(ret)) {
			if (ret != -VIRTQ_E_BROKEN)
				virtio_set_needs_reset(vdev, virtq_strerror(ret));
			return 0;
		}
		LOG_RATELIMITED("%s: queue %u: bad descriptor chain: %s", vdev->ops->name, q,
				virtq_strerror(ret));
		virtio_push(vdev, q, chain->head, 0);
	}
}

void virtio_push(struct virtio_dev *vdev, unsigned q, uint16_t head, uint32_t written)
{
	int ret = virtq_push(&vdev->queues[q].vq, head, written);

	if (ret == -EINVAL)
		LOG_RATELIMITED("%s: queue %u: pushing head %u failed", vdev->ops->name, q, head);
}

void virtio_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_queue *queue = &vdev->queues[q];
	uint16_t old = queue->signalled_used;

	queue->signalled_used = queue->vq.used_idx;
	if (virtq_should_notify(&queue->vq, old))
		vdev->transport->notify(vdev, (int)q);
}

void virtio_config_changed(struct virtio_dev *vdev)
{
	atomic_fetch_add(&vdev->config_generation, 1);
	vdev->transport->notify(vdev, -1);
}

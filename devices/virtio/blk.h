/* virtio-blk (virtio 1.2 §5.2): a disk image as a guest block device, multiqueue, asynchronous. */
#ifndef HUTCH_DEVICES_VIRTIO_BLK_H
#define HUTCH_DEVICES_VIRTIO_BLK_H

#include "devices/block/aio.h"
#include "devices/block/disk.h"
#include "devices/virtio/blk_request.h"
#include "devices/virtio/virtio.h"

#define VIRTIO_BLK_QUEUE_SIZE  256
#define VIRTIO_BLK_CONFIG_SIZE 60 /* up to write_zeroes_may_unmap and padding */

struct virtio_blk;

/* A request the device is carrying out. */
struct blk_slot {
	struct blk_io io;
	struct blk_queue *queue;
	uint16_t head;
	uint8_t *status;	    /* in guest RAM */
	uint32_t written;	    /* bytes for the used ring on success */
	struct iovec inline_iov[8]; /* most requests; more are allocated */
	struct iovec *iov;
	void *bounce; /* a host copy of the data (a write to a probed raw image's first sector) */
	struct blk_slot *next_free;
};

struct blk_queue {
	struct virtio_blk *blk;
	unsigned index;
	struct blk_aio *aio;
	struct blk_slot *slots; /* VIRTIO_BLK_QUEUE_SIZE of them */
	struct blk_slot *free;
	unsigned completed; /* since the last interrupt decision */
};

struct virtio_blk {
	struct virtio_dev vdev;
	struct disk disk;
	char serial[VIRTIO_BLK_ID_BYTES];
	enum blk_aio_engine engine;
	struct blk_limits limits;
	uint8_t config[VIRTIO_BLK_CONFIG_SIZE];
	struct blk_queue queues[VIRTIO_MAX_QUEUES];
	/* scratch of the I/O thread: one chain and one parsed request at a time */
	struct virtq_chain chain;
	struct blk_request req;
};

/*
 * Fills in blk->vdev for an opened disk: num_queues queues (one per vCPU is
 * the usual choice), serial (may be NULL) reported by GET_ID. The disk must
 * stay open while the device exists. 0 or -EINVAL.
 */
int virtio_blk_init(struct virtio_blk *blk, const struct disk *disk, unsigned num_queues,
		    const char *serial, enum blk_aio_engine engine)
	__attribute__((warn_unused_result));

#endif

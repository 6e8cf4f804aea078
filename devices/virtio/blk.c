/* virtio-blk: requests from the queues to asynchronous I/O on the disk, and back. */
#include "devices/virtio/blk.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "devices/block/qcow2.h"
#include "vmm/iov.h"
#include "vmm/log.h"
#include "vmm/le.h"

/* virtio 1.2 §5.2.3: feature bits. */
#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_BLK_SIZE	  6
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_MQ		  12
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* virtio 1.2 §5.2.4: struct virtio_blk_config offsets. */
#define CFG_CAPACITY		0
#define CFG_SEG_MAX		12
#define CFG_BLK_SIZE		20
#define CFG_WRITEBACK		32
#define CFG_NUM_QUEUES		34
#define CFG_MAX_DISCARD_SECTORS 36
#define CFG_MAX_DISCARD_SEG	40
#define CFG_DISCARD_ALIGNMENT	44
#define CFG_MAX_WZEROES_SECTORS 48
#define CFG_MAX_WZEROES_SEG	52
#define CFG_WZEROES_MAY_UNMAP	56

/* Per segment: 2 GiB, well inside what one fallocate() does quickly. */
#define BLK_MAX_DISCARD_SECTORS (1u << 22)

/* --- completions --- */

static void blk_slot_release(struct blk_queue *queue, struct blk_slot *slot)
{
	if (slot->iov != slot->inline_iov)
		free(slot->iov);
	slot->iov = NULL;
	free(slot->bounce);
	slot->bounce = NULL;
	slot->next_free = queue->free;
	queue->free = slot;
}

static void blk_complete(struct blk_queue *queue, uint16_t head, uint8_t *status, uint8_t value,
			 uint32_t written)
{
	/* The status byte goes last: the driver owns the buffer once it is pushed. */
	*(volatile uint8_t *)status = value;
	virtio_push(&queue->blk->vdev, queue->index, head, written);
	queue->completed++;
}

static void blk_io_done(struct blk_io *io, int result)
{
	struct blk_slot *slot = io->opaque;
	struct blk_queue *queue = slot->queue;

	if (result < 0)
		LOG_RATELIMITED("%s: I/O error at byte %llu: %s", queue->blk->disk.path,
				(unsigned long long)io->offset, strerror(-result));
	blk_complete(queue, slot->head, slot->status,
		     result < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK,
		     result < 0 ? 1 : slot->written);
	blk_slot_release(queue, slot);
}

/* --- submission --- */

/* GET_ID: the serial, NUL-padded; done at once. */
static void blk_get_id(struct blk_queue *queue, const struct blk_request *req)
{
	size_t copied =
		iov_from_buf(req->data, req->data_num, 0, queue->blk->serial, VIRTIO_BLK_ID_BYTES);

	blk_complete(queue, queue->blk->chain.head, req->status, VIRTIO_BLK_S_OK,
		     (uint32_t)copied + 1);
}

/*
 * A write to the first sector of an image taken for raw only because no
 * format was given: the guest must not make it look like a qcow2 image
 * (which would then be opened as one, its backing file a host file of the
 * guest's choosing). The data is copied out of guest RAM first, so that the
 * guest cannot change it between the check and the write. -EPERM refuses.
 */
static int blk_guard_first_sector(struct blk_slot *slot, const struct blk_request *req)
{
	slot->bounce = malloc(req->data_len);
	if (!slot->bounce)
		return -ENOMEM;
	iov_to_buf(req->data, req->data_num, 0, slot->bounce, req->data_len);
	if (qcow2_probe(slot->bounce, req->data_len)) {
		LOG_RATELIMITED("%s: refused a guest write of a qcow2 header to this raw image "
				"(format detected, not given: say format=raw to allow it)",
				slot->queue->blk->disk.path);
		return -EPERM;
	}
	slot->iov[0] = (struct iovec){ slot->bounce, req->data_len };
	slot->io.iovcnt = 1;
	return 0;
}

static int blk_fill_io(struct blk_slot *slot, const struct blk_request *req)
{
	struct blk_io *io = &slot->io;

	memset(io, 0, sizeof(*io));
	io->done = blk_io_done;
	io->opaque = slot;
	slot->written = 1;
	switch (req->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		io->op = req->type == VIRTIO_BLK_T_IN ? BLK_IO_READ : BLK_IO_WRITE;
		slot->iov = req->data_num <= 8 ? slot->inline_iov
					       : malloc(req->data_num * sizeof(struct iovec));
		if (!slot->iov)
			return -ENOMEM;
		memcpy(slot->iov, req->data, req->data_num * sizeof(struct iovec));
		io->iov = slot->iov;
		io->iovcnt = req->data_num;
		io->offset = req->sector * VIRTIO_BLK_SECTOR_SIZE;
		if (req->type == VIRTIO_BLK_T_IN)
			slot->written += req->data_len;
		else if (req->sector == 0 && slot->queue->blk->disk.probed_raw)
			return blk_guard_first_sector(slot, req);
		return 0;
	case VIRTIO_BLK_T_FLUSH: io->op = BLK_IO_FLUSH; return 0;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		/* the device offers one segment per request (max_*_seg = 1) */
		io->op = req->type == VIRTIO_BLK_T_DISCARD ? BLK_IO_DISCARD : BLK_IO_WRITE_ZEROES;
		io->offset = req->segments[0].sector * VIRTIO_BLK_SECTOR_SIZE;
		io->len = (uint64_t)req->segments[0].num_sectors * VIRTIO_BLK_SECTOR_SIZE;
		return 0;
	}
	return -EINVAL;
}

/* One popped chain: completed at once (errors, GET_ID) or handed to the disk. */
static void blk_handle_chain(struct blk_queue *queue)
{
	struct virtio_blk *blk = queue->blk;
	struct blk_request *req = &blk->req;
	enum blk_request_error err = blk_request_parse(&blk->chain, &blk->limits, req);
	struct blk_slot *slot;
	int ret;

	if (err == BLK_E_NO_STATUS) {
		LOG_RATELIMITED("%s: request without a status byte", blk->disk.path);
		virtio_push(&blk->vdev, queue->index, blk->chain.head, 0);
		queue->completed++;
		return;
	}
	if (err != BLK_E_OK) {
		LOG_RATELIMITED("%s: bad request: %s", blk->disk.path, blk_request_strerror(err));
		blk_complete(queue, blk->chain.head, req->status, blk_request_status(err), 1);
		return;
	}
	if (req->type == VIRTIO_BLK_T_GET_ID) {
		blk_get_id(queue, req);
		return;
	}
	if ((req->type == VIRTIO_BLK_T_IN || req->type == VIRTIO_BLK_T_OUT) && !req->data_len) {
		blk_complete(queue, blk->chain.head, req->status, VIRTIO_BLK_S_OK, 1);
		return; /* nothing to transfer */
	}
	slot = queue->free;
	queue->free = slot->next_free;
	slot->head = blk->chain.head;
	slot->status = req->status;
	ret = blk_fill_io(slot, req);
	if (!ret)
		ret = blk_aio_submit(queue->aio, &slot->io);
	if (ret) {
		blk_complete(queue, slot->head, slot->status, VIRTIO_BLK_S_IOERR, 1);
		blk_slot_release(queue, slot);
	}
}

static void blk_queue_interrupt(struct blk_queue *queue)
{
	if (queue->completed) {
		queue->completed = 0;
		virtio_notify(&queue->blk->vdev, queue->index);
	}
}

/*
 * Takes requests while there are free slots: with all slots busy (the queue
 * is larger than nothing but that), the rest wait for completions, which
 * call this again.
 */
static void blk_process_queue(struct blk_queue *queue)
{
	do {
		while (queue->free &&
		       virtio_pop(&queue->blk->vdev, queue->index, &queue->blk->chain) == 1)
			blk_handle_chain(queue);
		blk_aio_kick(queue->aio);
		/* Reads from the page cache often complete inside the submit: reap
		 * them now, saving a wakeup, and complete them with one interrupt. */
	} while (blk_aio_complete(queue->aio) && queue->free);
	blk_queue_interrupt(queue);
}

static void blk_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_blk *blk = vdev->opaque;

	blk_process_queue(&blk->queues[q]);
}

/* The aio eventfd: completions are waiting. */
static void blk_aio_ready(void *opaque)
{
	struct blk_queue *queue = opaque;
	bool was_full = !queue->free;

	blk_aio_complete(queue->aio);
	if (was_full)
		blk_process_queue(queue); /* chains left waiting for a slot */
	else
		blk_queue_interrupt(queue);
}

/* --- lifecycle --- */

static void blk_queue_stop(struct blk_queue *queue)
{
	if (!queue->aio)
		return;
	blk_aio_drain(queue->aio);
	evloop_del(queue->blk->vdev.loop, blk_aio_fd(queue->aio));
	blk_aio_destroy(queue->aio);
	queue->aio = NULL;
	free(queue->slots);
	queue->slots = NULL;
}

static int blk_queue_start(struct virtio_blk *blk, unsigned q)
{
	struct blk_queue *queue = &blk->queues[q];
	unsigned n = blk->vdev.queues[q].size;

	queue->blk = blk;
	queue->index = q;
	queue->completed = 0;
	queue->slots = calloc(n, sizeof(*queue->slots));
	queue->aio = blk_aio_create(&blk->disk, n, blk->engine);
	if (!queue->slots || !queue->aio)
		goto err;
	queue->free = NULL;
	for (unsigned i = 0; i < n; i++) {
		queue->slots[i].queue = queue;
		queue->slots[i].next_free = queue->free;
		queue->free = &queue->slots[i];
	}
	if (evloop_add(blk->vdev.loop, blk_aio_fd(queue->aio), blk_aio_ready, queue))
		goto err;
	return 0;
err:
	if (queue->aio)
		blk_aio_destroy(queue->aio);
	queue->aio = NULL;
	free(queue->slots);
	queue->slots = NULL;
	return -ENOMEM;
}

static void blk_reset(struct virtio_dev *vdev)
{
	struct virtio_blk *blk = vdev->opaque;

	for (unsigned q = 0; q < vdev->num_queues; q++)
		blk_queue_stop(&blk->queues[q]);
}

static int blk_activate(struct virtio_dev *vdev)
{
	struct virtio_blk *blk = vdev->opaque;

	blk->limits.discard = virtio_has_feature(vdev, VIRTIO_BLK_F_DISCARD);
	blk->limits.write_zeroes = virtio_has_feature(vdev, VIRTIO_BLK_F_WRITE_ZEROES);
	for (unsigned q = 0; q < vdev->num_queues; q++) {
		if (!vdev->queues[q].enabled)
			continue;
		if (blk_queue_start(blk, q)) {
			blk_reset(vdev);
			return -ENOMEM;
		}
	}
	return 0;
}

static const struct virtio_dev_ops blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.pci_class = 0x018000, /* mass storage, other */
	.activate = blk_activate,
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
};

static void blk_fill_config(struct virtio_blk *blk)
{
	uint8_t *c = blk->config;

	put_le64(c + CFG_CAPACITY, blk->limits.capacity);
	/* header and status take two descriptors of a chain */
	put_le32(c + CFG_SEG_MAX, VIRTIO_BLK_QUEUE_SIZE - 2);
	put_le32(c + CFG_BLK_SIZE, VIRTIO_BLK_SECTOR_SIZE);
	c[CFG_WRITEBACK] = 1; /* a write cache: the guest must FLUSH */
	put_le16(c + CFG_NUM_QUEUES, (uint16_t)blk->vdev.num_queues);
	put_le32(c + CFG_MAX_DISCARD_SECTORS, BLK_MAX_DISCARD_SECTORS);
	put_le32(c + CFG_MAX_DISCARD_SEG, 1);
	put_le32(c + CFG_DISCARD_ALIGNMENT, 8); /* 4 KiB: what hole punching frees */
	put_le32(c + CFG_MAX_WZEROES_SECTORS, BLK_MAX_DISCARD_SECTORS);
	put_le32(c + CFG_MAX_WZEROES_SEG, 1);
	c[CFG_WZEROES_MAY_UNMAP] = 1;
}

int virtio_blk_init(struct virtio_blk *blk, const struct disk *disk, unsigned num_queues,
		    const char *serial, enum blk_aio_engine engine)
{
	struct virtio_dev *vdev = &blk->vdev;

	if (!num_queues || num_queues > VIRTIO_MAX_QUEUES)
		return -EINVAL;
	memset(blk, 0, offsetof(struct virtio_blk, chain));
	blk->disk = *disk;
	blk->engine = engine;
	if (serial)
		memcpy(blk->serial, serial, strnlen(serial, sizeof(blk->serial)));
	blk->limits = (struct blk_limits){
		.capacity = disk->size / VIRTIO_BLK_SECTOR_SIZE,
		.readonly = disk->readonly,
		.max_discard_sectors = BLK_MAX_DISCARD_SECTORS,
		.max_write_zeroes_sectors = BLK_MAX_DISCARD_SECTORS,
		.max_segments = 1,
	};
	vdev->ops = &blk_ops;
	vdev->opaque = blk;
	vdev->num_queues = num_queues;
	for (unsigned q = 0; q < num_queues; q++)
		vdev->queues[q].size_max = VIRTIO_BLK_QUEUE_SIZE;
	vdev->features = 1ULL << VIRTIO_F_INDIRECT_DESC | 1ULL << VIRTIO_F_EVENT_IDX |
			 1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE |
			 1ULL << VIRTIO_BLK_F_FLUSH;
	if (num_queues > 1)
		vdev->features |= 1ULL << VIRTIO_BLK_F_MQ;
	if (disk->readonly)
		vdev->features |= 1ULL << VIRTIO_BLK_F_RO;
	else
		vdev->features |= 1ULL << VIRTIO_BLK_F_DISCARD | 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	vdev->config = blk->config;
	vdev->config_size = VIRTIO_BLK_CONFIG_SIZE;
	blk_fill_config(blk);
	return 0;
}

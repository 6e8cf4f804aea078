/* Split virtqueues (virtio 1.2 §2.7): the one chain walker every virtio device shares. */
#ifndef HUTCH_DEVICES_VIRTIO_QUEUE_H
#define HUTCH_DEVICES_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/memory.h"

/* virtio 1.2 §2.7: "The maximum Queue Size value is 32768." */
#define VIRTQ_MAX_SIZE 32768

/*
 * The most iovecs one chain may produce, and the most descriptors one
 * indirect table may hold. virtio 1.2 §2.7.4.1 lets a device have "a
 * reasonable limit of descriptors it will allow in a chain". Not tied to
 * the queue size: Linux builds indirect tables as long as the device's
 * segment limit, whatever the queue size.
 */
#define VIRTQ_MAX_IOV 1024

/* chain->head when there is no chain to complete (no buffer, or a bad ring). */
#define VIRTQ_NO_HEAD 0xffff

/* virtio 1.2 §2.7.5: descriptor flags. */
#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

/* virtio 1.2 §2.7.6: avail->flags, used-buffer notification suppression. */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

/* A descriptor as the guest lays it out (virtio 1.2 §2.7.5), little-endian. */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/*
 * Why virtq_pop() refused, as the negative of these. Two classes:
 *
 * - Bad ring (VIRTQ_E_RING_*, VIRTQ_E_BROKEN): the queue itself is unusable.
 *   vq->broken is set, chain->head is VIRTQ_NO_HEAD and nothing can be
 *   completed. The caller sets DEVICE_NEEDS_RESET and logs (rate-limited).
 * - Bad chain (everything from VIRTQ_E_CHAIN_FIRST): one request is
 *   malformed. The queue goes on; chain->head names the request and the
 *   avail entry was consumed, so the caller must complete it with an error
 *   (virtq_push(vq, chain->head, 0)).
 *
 * virtq_error_is_ring() tells them apart.
 */
enum virtq_error {
	VIRTQ_E_BROKEN = 1,	/* the queue was already broken (or never initialised) */
	VIRTQ_E_RING_AVAIL_IDX, /* avail->idx more than the queue size ahead, or went back */
	VIRTQ_E_RING_HEAD,	/* an avail ring entry (chain head) >= queue size */
	VIRTQ_E_RING_RAM,	/* a ring area is no longer in guest RAM */

	VIRTQ_E_CHAIN_FIRST = 16,
	VIRTQ_E_NEXT = VIRTQ_E_CHAIN_FIRST, /* next >= queue size (or >= indirect table length) */
	VIRTQ_E_LOOP,			    /* more descriptors than the table holds: a loop */
	VIRTQ_E_INDIRECT_NOT_NEGOTIATED,    /* VIRTQ_DESC_F_INDIRECT without the feature */
	VIRTQ_E_INDIRECT_NESTED,	    /* VIRTQ_DESC_F_INDIRECT inside an indirect table */
	VIRTQ_E_INDIRECT_NEXT,		    /* VIRTQ_DESC_F_INDIRECT together with _NEXT */
	VIRTQ_E_INDIRECT_LEN, /* table length 0, not a multiple of 16, or > VIRTQ_MAX_IOV entries */
	VIRTQ_E_INDIRECT_RAM, /* indirect table not inside one RAM region */
	VIRTQ_E_BUFFER_RAM,   /* a buffer not inside one RAM region */
	VIRTQ_E_TOTAL_LEN,    /* the buffers add up to more than UINT32_MAX bytes */
	VIRTQ_E_ORDER,	      /* a device-readable descriptor after a device-writable one */
	VIRTQ_E_TOO_MANY_IOV, /* more than VIRTQ_MAX_IOV non-empty buffers */
};

struct virtq {
	const struct gmem *mem;
	uint64_t desc; /* guest-physical addresses of the three areas */
	uint64_t avail;
	uint64_t used;
	uint16_t size;		 /* power of 2, at most VIRTQ_MAX_SIZE */
	uint16_t last_avail_idx; /* next avail ring entry the device will take */
	uint16_t used_idx;	 /* the used->idx the device last published */
	bool indirect;		 /* VIRTIO_F_INDIRECT_DESC negotiated */
	bool event_idx;		 /* VIRTIO_F_EVENT_IDX negotiated */
	bool broken;		 /* the ring is bad: the queue stops, the device needs a reset */
};

/*
 * A validated descriptor chain. Device-readable buffers come first, so one
 * array holds both: iov[0, out_num) are device-readable ("out" of the
 * driver), iov[out_num, out_num + in_num) device-writable. Every iov_base
 * is a host pointer from gmem_ptr() to iov_len > 0 bytes of guest RAM.
 */
struct virtq_chain {
	uint16_t head; /* to pass to virtq_push(); VIRTQ_NO_HEAD if none */
	unsigned out_num, in_num;
	uint32_t out_len, in_len; /* bytes in the readable and in the writable buffers */
	struct iovec iov[VIRTQ_MAX_IOV];
};

static inline struct iovec *virtq_chain_out(struct virtq_chain *chain)
{
	return chain->iov;
}

static inline struct iovec *virtq_chain_in(struct virtq_chain *chain)
{
	return chain->iov + chain->out_num;
}

/* True when err (a virtq_pop() result) means the ring, not one chain, is bad. */
static inline bool virtq_error_is_ring(int err)
{
	return err < 0 && -err < VIRTQ_E_CHAIN_FIRST;
}

/* A one-line description of a negative virtq_pop() result. */
const char *virtq_strerror(int err);

/*
 * Sets up vq for the rings the driver configured. 0, or -EINVAL when size is
 * not a power of 2 in [1, VIRTQ_MAX_SIZE], an area is misaligned (desc 16,
 * avail 2, used 4: virtio 1.2 §2.7) or an area, including its trailing
 * used_event/avail_event field, is not wholly inside one RAM region. On
 * failure vq is left broken, so that virtq_pop() touches nothing.
 * Indices start at 0, as after a device reset.
 */
int virtq_init(struct virtq *vq, const struct gmem *mem, uint16_t size, uint64_t desc,
	       uint64_t avail, uint64_t used, bool indirect, bool event_idx)
	__attribute__((warn_unused_result));

/* Takes the next available chain: 1, 0 (none) or -enum virtq_error. See queue.c. */
int virtq_pop(struct virtq *vq, struct virtq_chain *chain) __attribute__((warn_unused_result));

/*
 * Returns chain head to the driver with written_len bytes written to its
 * device-writable buffers, and publishes it. 0; -EINVAL when head >= size or
 * nothing is in flight (more pushes than pops); -EIO when the queue is broken
 * (nothing is written then).
 */
int virtq_push(struct virtq *vq, uint16_t head, uint32_t written_len)
	__attribute__((warn_unused_result));

/*
 * Gives back the last n chains popped and not yet pushed: they stay
 * available to the device (a receive queue took more buffers than a frame
 * needed). 0, or -EINVAL when fewer than n are in flight.
 */
int virtq_unpop(struct virtq *vq, uint16_t n) __attribute__((warn_unused_result));

/*
 * After one or more virtq_push() calls that moved used->idx from
 * old_used_idx to vq->used_idx: whether the driver wants a used buffer
 * notification (virtio 1.2 §2.7.7). False when nothing was pushed.
 */
bool virtq_should_notify(struct virtq *vq, uint16_t old_used_idx);

#endif

/* Split virtqueues (virtio 1.2 §2.7): validating chain walker, used ring, notification logic. */
#include "devices/virtio/queue.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

/* virtio 1.2 §2.7.8: one used ring element. */
struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

/*
 * Guest-physical layout of the rings (virtio 1.2 §2.7.6, §2.7.8): flags and
 * idx, then the ring, then one trailing le16 (used_event after the avail
 * ring, avail_event after the used ring) that exists whatever the features.
 */
#define VIRTQ_DESC_SIZE	       16
#define VIRTQ_RING_IDX	       2 /* offset of idx in both rings */
#define VIRTQ_RING_ENTRIES     4 /* offset of ring[] in both rings */
#define VIRTQ_AVAIL_ENTRY_SIZE 2
#define VIRTQ_USED_ENTRY_SIZE  8

static uint64_t virtq_avail_bytes(uint16_t size)
{
	return VIRTQ_RING_ENTRIES + VIRTQ_AVAIL_ENTRY_SIZE * (uint64_t)size + 2;
}

static uint64_t virtq_used_bytes(uint16_t size)
{
	return VIRTQ_RING_ENTRIES + VIRTQ_USED_ENTRY_SIZE * (uint64_t)size + 2;
}

/* A le16 field of a ring; init checked that the whole ring is in RAM. */
static uint16_t *virtq_ring_u16(const struct virtq *vq, uint64_t gpa)
{
	return gmem_ptr(vq->mem, gpa, sizeof(uint16_t));
}

static uint64_t virtq_used_event_gpa(const struct virtq *vq)
{
	return vq->avail + VIRTQ_RING_ENTRIES + VIRTQ_AVAIL_ENTRY_SIZE * (uint64_t)vq->size;
}

static uint64_t virtq_avail_event_gpa(const struct virtq *vq)
{
	return vq->used + VIRTQ_RING_ENTRIES + VIRTQ_USED_ENTRY_SIZE * (uint64_t)vq->size;
}

static uint64_t virtq_avail_entry_gpa(const struct virtq *vq, uint16_t idx)
{
	return vq->avail + VIRTQ_RING_ENTRIES +
	       VIRTQ_AVAIL_ENTRY_SIZE * (uint64_t)(idx & (vq->size - 1));
}

static uint64_t virtq_used_entry_gpa(const struct virtq *vq, uint16_t idx)
{
	return vq->used + VIRTQ_RING_ENTRIES +
	       VIRTQ_USED_ENTRY_SIZE * (uint64_t)(idx & (vq->size - 1));
}

static int virtq_break(struct virtq *vq, enum virtq_error why)
{
	vq->broken = true;
	return -(int)why;
}

const char *virtq_strerror(int err)
{
	switch (-err) {
	case VIRTQ_E_BROKEN: return "virtqueue is broken";
	case VIRTQ_E_RING_AVAIL_IDX: return "avail idx moved by more than the queue size";
	case VIRTQ_E_RING_HEAD: return "avail ring entry out of range";
	case VIRTQ_E_RING_RAM: return "virtqueue ring outside guest RAM";
	case VIRTQ_E_NEXT: return "descriptor next index out of range";
	case VIRTQ_E_LOOP: return "descriptor chain loops";
	case VIRTQ_E_INDIRECT_NOT_NEGOTIATED: return "indirect descriptor not negotiated";
	case VIRTQ_E_INDIRECT_NESTED: return "nested indirect descriptor";
	case VIRTQ_E_INDIRECT_NEXT: return "indirect descriptor with NEXT flag";
	case VIRTQ_E_INDIRECT_LEN: return "bad indirect table length";
	case VIRTQ_E_INDIRECT_RAM: return "indirect table outside guest RAM";
	case VIRTQ_E_BUFFER_RAM: return "buffer outside guest RAM";
	case VIRTQ_E_TOTAL_LEN: return "descriptor chain longer than 4 GiB";
	case VIRTQ_E_ORDER: return "device-readable descriptor after device-writable one";
	case VIRTQ_E_TOO_MANY_IOV: return "too many descriptors in chain";
	}
	return "unknown virtqueue error";
}

int virtq_init(struct virtq *vq, const struct gmem *mem, uint16_t size, uint64_t desc,
	       uint64_t avail, uint64_t used, bool indirect, bool event_idx)
{
	void *desc_hva, *avail_hva, *used_hva;

	/* Until every check passed, a pop finds the queue broken. */
	*vq = (struct virtq){ .mem = mem, .broken = true };
	/* virtio 1.2 §2.7: "Queue Size value is always a power of 2", at most 32768. */
	if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1)))
		return -EINVAL;
	/* virtio 1.2 §2.7: alignment 16 (descriptor table), 2 (avail), 4 (used). */
	if (desc % 16 || avail % 2 || used % 4)
		return -EINVAL;
	desc_hva = gmem_ptr(mem, desc, VIRTQ_DESC_SIZE * (size_t)size);
	avail_hva = gmem_ptr(mem, avail, virtq_avail_bytes(size));
	used_hva = gmem_ptr(mem, used, virtq_used_bytes(size));
	if (!desc_hva || !avail_hva || !used_hva)
		return -EINVAL;
	/* The atomic accesses to the ring fields need them aligned on the host too. */
	if ((uintptr_t)avail_hva % 2 || (uintptr_t)used_hva % 4)
		return -EINVAL;

	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->size = size;
	vq->indirect = indirect;
	vq->event_idx = event_idx;
	vq->broken = false;
	return 0;
}

/*
 * How many avail ring entries wait to be popped, in *pending. Bounds
 * avail->idx: together with the chains popped but not yet pushed, the
 * driver cannot have more than size chains outstanding, because each one
 * holds at least one descriptor of the table (virtio 1.2 §2.7.13: "the ring
 * buffer is the same size as the descriptor table"). An idx that went
 * backwards ("MUST NOT decrement", §2.7.6.1) shows up as a huge delta.
 */
static int virtq_avail_pending(struct virtq *vq, unsigned *pending)
{
	uint16_t *idx_hva = virtq_ring_u16(vq, vq->avail + VIRTQ_RING_IDX);
	uint16_t idx, in_flight;

	if (!idx_hva)
		return virtq_break(vq, VIRTQ_E_RING_RAM);
	/*
	 * Acquire: pairs with the barrier the driver issues before it
	 * increments avail->idx (§2.7.13.3.1), so that the ring entries and
	 * descriptors read after this are at least as new as this idx.
	 */
	idx = le16toh(__atomic_load_n(idx_hva, __ATOMIC_ACQUIRE));
	in_flight = (uint16_t)(vq->last_avail_idx - vq->used_idx);
	*pending = (uint16_t)(idx - vq->last_avail_idx);
	if (*pending + in_flight > vq->size)
		return virtq_break(vq, VIRTQ_E_RING_AVAIL_IDX);
	return 0;
}

/*
 * With VIRTIO_F_EVENT_IDX, about to report an empty ring: asks the driver
 * to notify as soon as it adds the entry at last_avail_idx (avail_event,
 * §2.7.10), then looks again for entries added meanwhile.
 */
static int virtq_arm_event(struct virtq *vq, unsigned *pending)
{
	uint16_t *event_hva = virtq_ring_u16(vq, virtq_avail_event_gpa(vq));

	if (!event_hva)
		return virtq_break(vq, VIRTQ_E_RING_RAM);
	__atomic_store_n(event_hva, htole16(vq->last_avail_idx), __ATOMIC_RELAXED);
	/*
	 * Full barrier: avail_event must be visible to the driver before we
	 * read avail->idx again. The driver does the mirror image (stores
	 * avail->idx, full barrier, reads avail_event: §2.7.13.4.1), so
	 * either we see its new idx here or it sees our avail_event and
	 * notifies; without the barrier both could miss and the queue stalls.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return virtq_avail_pending(vq, pending);
}

/* Walk state shared by the direct and the indirect part of one chain. */
struct virtq_walk {
	struct virtq_chain *chain;
	uint64_t total; /* bytes in all buffers so far */
	bool writable;	/* a device-writable descriptor was seen */
};

/* Copies one descriptor to host memory: the guest may rewrite it meanwhile. */
static int virtq_read_desc(const struct virtq *vq, uint64_t gpa, struct virtq_desc *desc)
{
	struct virtq_desc raw;

	if (gmem_read(vq->mem, &raw, gpa, sizeof(raw)))
		return -EFAULT;
	desc->addr = le64toh(raw.addr);
	desc->len = le32toh(raw.len);
	desc->flags = le16toh(raw.flags);
	desc->next = le16toh(raw.next);
	return 0;
}

static int virtq_add_buffer(const struct virtq *vq, struct virtq_walk *walk,
			    const struct virtq_desc *desc)
{
	struct virtq_chain *chain = walk->chain;
	bool writable = desc->flags & VIRTQ_DESC_F_WRITE;
	void *hva;

	/* §2.7.4.2: "MUST place any device-writable descriptor elements after
	 * any device-readable descriptor elements". */
	if (writable)
		walk->writable = true;
	else if (walk->writable)
		return -VIRTQ_E_ORDER;
	/* Nothing to read or write: no pointer needed, no iovec used. */
	if (desc->len == 0)
		return 0;
	if (chain->out_num + chain->in_num == VIRTQ_MAX_IOV)
		return -VIRTQ_E_TOO_MANY_IOV;
	hva = gmem_ptr(vq->mem, desc->addr, desc->len);
	if (!hva)
		return -VIRTQ_E_BUFFER_RAM;
	/* §2.7.5.2: "MUST NOT add a descriptor chain longer than 2^32 bytes". */
	walk->total += desc->len;
	if (walk->total > UINT32_MAX)
		return -VIRTQ_E_TOTAL_LEN;
	chain->iov[chain->out_num + chain->in_num] = (struct iovec){ hva, desc->len };
	if (writable) {
		chain->in_num++;
		chain->in_len += desc->len;
	} else {
		chain->out_num++;
		chain->out_len += desc->len;
	}
	return 0;
}

/* The rest of a chain is the indirect table desc points to (§2.7.5.3). */
static int virtq_walk_indirect(const struct virtq *vq, struct virtq_walk *walk,
			       const struct virtq_desc *desc)
{
	struct virtq_desc entry;
	uint32_t entries, i = 0;
	int ret;

	/* §2.7.5.3.1: only when negotiated, and never together with NEXT. */
	if (!vq->indirect)
		return -VIRTQ_E_INDIRECT_NOT_NEGOTIATED;
	if (desc->flags & VIRTQ_DESC_F_NEXT)
		return -VIRTQ_E_INDIRECT_NEXT;
	if (desc->len == 0 || desc->len % VIRTQ_DESC_SIZE ||
	    desc->len / VIRTQ_DESC_SIZE > VIRTQ_MAX_IOV)
		return -VIRTQ_E_INDIRECT_LEN;
	if (!gmem_ptr(vq->mem, desc->addr, desc->len))
		return -VIRTQ_E_INDIRECT_RAM;
	entries = desc->len / VIRTQ_DESC_SIZE;

	/* The table starts at index 0; a longer walk than its length loops. */
	for (uint32_t ttl = entries; ttl > 0; ttl--) {
		if (virtq_read_desc(vq, desc->addr + (uint64_t)i * VIRTQ_DESC_SIZE, &entry))
			return -VIRTQ_E_INDIRECT_RAM;
		/* §2.7.5.3.1: "only one table per descriptor" */
		if (entry.flags & VIRTQ_DESC_F_INDIRECT)
			return -VIRTQ_E_INDIRECT_NESTED;
		ret = virtq_add_buffer(vq, walk, &entry);
		if (ret)
			return ret;
		if (!(entry.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (entry.next >= entries)
			return -VIRTQ_E_NEXT;
		i = entry.next;
	}
	return -VIRTQ_E_LOOP;
}

/* Walks the chain at head (< size) into chain: 0 or -enum virtq_error. */
static int virtq_walk_chain(struct virtq *vq, struct virtq_chain *chain, uint16_t head)
{
	struct virtq_walk walk = { .chain = chain };
	struct virtq_desc desc;
	uint16_t i = head;
	int ret;

	/* TTL: a chain longer than the table must visit a descriptor twice. */
	for (unsigned ttl = vq->size; ttl > 0; ttl--) {
		if (virtq_read_desc(vq, vq->desc + (uint64_t)i * VIRTQ_DESC_SIZE, &desc))
			return virtq_break(vq, VIRTQ_E_RING_RAM);
		/* §2.7.5.3.2: zero or more direct descriptors, then at most one
		 * indirect one, whose WRITE flag the device ignores. */
		if (desc.flags & VIRTQ_DESC_F_INDIRECT)
			return virtq_walk_indirect(vq, &walk, &desc);
		ret = virtq_add_buffer(vq, &walk, &desc);
		if (ret)
			return ret;
		if (!(desc.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (desc.next >= vq->size)
			return -VIRTQ_E_NEXT;
		i = desc.next;
	}
	return -VIRTQ_E_LOOP;
}

/* Empties chain (not its iov array: 16 KiB to clear for nothing). */
static void virtq_chain_reset(struct virtq_chain *chain, uint16_t head)
{
	chain->head = head;
	chain->out_num = 0;
	chain->in_num = 0;
	chain->out_len = 0;
	chain->in_len = 0;
}

/*
 * virtq_pop: take the next chain the driver made available.
 *
 * Checks, before anything is handed out:
 *  - the queue is not broken;
 *  - avail->idx is at most size entries ahead of used_idx (counting the
 *    chains popped but not yet pushed) and did not go backwards;
 *  - the head index taken from the avail ring is below size;
 *  - every next index is below size (below the table length inside an
 *    indirect table), and a chain visits at most size descriptors (at most
 *    the table length inside an indirect table): loops end there;
 *  - VIRTQ_DESC_F_INDIRECT only when negotiated, not with NEXT, not inside
 *    an indirect table; the table length is a non-zero multiple of 16 of at
 *    most VIRTQ_MAX_IOV entries and the table lies inside one RAM region;
 *  - every buffer of non-zero length lies inside one RAM region
 *    (gmem_ptr()), with no overflow of addr + len: one that runs from a
 *    region into the next is refused even where the two are adjacent in
 *    guest-physical space; zero-length buffers take no iovec and need no
 *    RAM, whatever their address;
 *  - no device-readable descriptor follows a device-writable one;
 *  - at most VIRTQ_MAX_IOV non-empty buffers, at most UINT32_MAX bytes.
 * Each descriptor is copied out of guest memory once per visit and only
 * the copy is examined, so the guest cannot change it between check and use.
 *
 * Returns:
 *  1  a valid chain. chain->head is its head; iov[0, out_num) are the
 *     device-readable buffers (out_len bytes), iov[out_num, out_num + in_num)
 *     the device-writable ones (in_len bytes).
 *  0  nothing new. chain->head is VIRTQ_NO_HEAD. With VIRTIO_F_EVENT_IDX,
 *     avail_event has been set to last_avail_idx first, so the driver will
 *     notify when it adds the next chain.
 *  -VIRTQ_E_NEXT and the other errors from VIRTQ_E_CHAIN_FIRST on: a bad
 *     chain. Its avail entry is consumed; chain->head is valid; the iovec
 *     counts and lengths are 0. The queue goes on.
 *  -VIRTQ_E_RING_* and -VIRTQ_E_BROKEN (virtq_error_is_ring()): a bad ring.
 *     vq->broken is set and every later pop returns -VIRTQ_E_BROKEN without
 *     touching guest memory; chain->head is VIRTQ_NO_HEAD.
 *
 * Stays the caller's job:
 *  - serialising the calls for one queue (nothing here locks);
 *  - on a bad ring: set DEVICE_NEEDS_RESET, notify a configuration change,
 *    log (rate-limited; nothing here logs) and stop using the queue;
 *  - on a bad chain: complete it, virtq_push(vq, chain->head, 0), with the
 *    device's error status where it has one; never drop it, or the guest
 *    hangs waiting for it;
 *  - pushing every popped head exactly once, with a written_len no larger
 *    than in_len;
 *  - the contents of the buffers: they are guest memory that can change at
 *    any time and may overlap each other or the rings; copy a header out
 *    before checking it, and never write to the device-readable buffers;
 *  - with VIRTIO_F_EVENT_IDX, popping until 0 before waiting for the next
 *    notification (only a pop that returns 0 re-arms it).
 */
int virtq_pop(struct virtq *vq, struct virtq_chain *chain)
{
	uint16_t *entry_hva;
	unsigned pending;
	uint16_t head;
	int ret;

	virtq_chain_reset(chain, VIRTQ_NO_HEAD);
	if (vq->broken)
		return -VIRTQ_E_BROKEN;
	ret = virtq_avail_pending(vq, &pending);
	if (ret == 0 && pending == 0 && vq->event_idx)
		ret = virtq_arm_event(vq, &pending);
	if (ret || pending == 0)
		return ret;

	entry_hva = virtq_ring_u16(vq, virtq_avail_entry_gpa(vq, vq->last_avail_idx));
	if (!entry_hva)
		return virtq_break(vq, VIRTQ_E_RING_RAM);
	/* Relaxed: ordered after the avail->idx load by its acquire. */
	head = le16toh(__atomic_load_n(entry_hva, __ATOMIC_RELAXED));
	if (head >= vq->size)
		return virtq_break(vq, VIRTQ_E_RING_HEAD);
	vq->last_avail_idx++;

	ret = virtq_walk_chain(vq, chain, head);
	if (ret) {
		/* No half-walked chain is ever handed out. */
		virtq_chain_reset(chain, virtq_error_is_ring(ret) ? VIRTQ_NO_HEAD : head);
		return ret;
	}
	chain->head = head;
	return 1;
}

int virtq_push(struct virtq *vq, uint16_t head, uint32_t written_len)
{
	struct virtq_used_elem *elem;
	uint16_t *idx_hva;

	if (vq->broken)
		return -EIO;
	if (head >= vq->size || vq->last_avail_idx == vq->used_idx)
		return -EINVAL;
	elem = gmem_ptr(vq->mem, virtq_used_entry_gpa(vq, vq->used_idx), sizeof(*elem));
	idx_hva = virtq_ring_u16(vq, vq->used + VIRTQ_RING_IDX);
	if (!elem || !idx_hva) {
		vq->broken = true;
		return -EIO;
	}
	/* Relaxed: the guest reads them only after the release below. */
	__atomic_store_n(&elem->id, htole32(head), __ATOMIC_RELAXED);
	__atomic_store_n(&elem->len, htole32(written_len), __ATOMIC_RELAXED);
	vq->used_idx++;
	/*
	 * Release: the element above, and whatever the device wrote into the
	 * buffers before this call, must be visible before the idx that hands
	 * them to the driver (§2.7.8.2: "MUST set len prior to updating the
	 * used idx", "MUST write at least len bytes ... prior to updating").
	 * Writes from another thread must have been ordered before this call.
	 */
	__atomic_store_n(idx_hva, htole16(vq->used_idx), __ATOMIC_RELEASE);
	return 0;
}

bool virtq_should_notify(struct virtq *vq, uint16_t old_used_idx)
{
	uint16_t *hva, new_used_idx = vq->used_idx;

	if (vq->broken || new_used_idx == old_used_idx)
		return false;
	/*
	 * Full barrier: the used->idx store in virtq_push() must be visible
	 * before we read the driver's suppression state. The driver mirrors
	 * this (writes used_event or clears its flag, full barrier, rereads
	 * used->idx: §2.7.14), so one of us sees the other; without it the
	 * notification could be lost with the driver asleep.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		uint16_t used_event;

		hva = virtq_ring_u16(vq, virtq_used_event_gpa(vq));
		if (!hva)
			return true; /* the driver MUST handle spurious notifications */
		used_event = le16toh(__atomic_load_n(hva, __ATOMIC_RELAXED));
		/*
		 * §2.7.7: notify when the push that moved idx from used_event to
		 * used_event + 1 is among ours, i.e. used_event lies in
		 * [old, new) modulo 2^16.
		 */
		return (uint16_t)(new_used_idx - used_event - 1) <
		       (uint16_t)(new_used_idx - old_used_idx);
	}
	hva = virtq_ring_u16(vq, vq->avail);
	if (!hva)
		return true;
	/* §2.7.7: without EVENT_IDX, flags 1 means "SHOULD NOT", 0 "MUST". */
	return !(le16toh(__atomic_load_n(hva, __ATOMIC_RELAXED)) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

int virtq_unpop(struct virtq *vq, uint16_t n)
{
	if ((uint16_t)(vq->last_avail_idx - vq->used_idx) < n)
		return -EINVAL;
	vq->last_avail_idx = (uint16_t)(vq->last_avail_idx - n);
	return 0;
}

/* virtio-blk requests (virtio 1.2 §5.2.6): a validated descriptor chain turned into a request, no I/O. */
#ifndef HUTCH_DEVICES_VIRTIO_BLK_REQUEST_H
#define HUTCH_DEVICES_VIRTIO_BLK_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/virtio/queue.h"

/* virtio 1.2 §5.2.6: request types. */
#define VIRTIO_BLK_T_IN		  0
#define VIRTIO_BLK_T_OUT	  1
#define VIRTIO_BLK_T_FLUSH	  4
#define VIRTIO_BLK_T_GET_ID	  8
#define VIRTIO_BLK_T_DISCARD	  11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

/* virtio 1.2 §5.2.6: status byte values. */
#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_SECTOR_SIZE 512
#define VIRTIO_BLK_ID_BYTES    20 /* GET_ID: the serial, NUL-padded, not NUL-terminated */

/* virtio 1.2 §5.2.6.2: discard/write-zeroes segment flag. */
#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1

/* The most discard / write-zeroes segments one request may carry. */
#define BLK_MAX_SEGMENTS 32

/* What the device offers and what the parser checks requests against. */
struct blk_limits {
	uint64_t capacity; /* disk size in 512-byte sectors */
	bool readonly;	   /* VIRTIO_BLK_F_RO offered: OUT, DISCARD, WRITE_ZEROES refused */
	bool discard;	   /* VIRTIO_BLK_F_DISCARD negotiated */
	bool write_zeroes; /* VIRTIO_BLK_F_WRITE_ZEROES negotiated */
	uint32_t max_discard_sectors; /* config max_discard_sectors (per segment) */
	uint32_t max_write_zeroes_sectors;
	/* config max_discard_seg / max_write_zeroes_seg; more than BLK_MAX_SEGMENTS counts as that */
	uint32_t max_segments;
};

struct blk_segment {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

/* Why a chain is not a request the device can carry out: see blk_request_strerror(). */
enum blk_request_error {
	BLK_E_OK = 0,
	BLK_E_NO_STATUS,    /* no device-writable byte for the status: cannot even complete */
	BLK_E_SHORT_HEADER, /* fewer than 16 device-readable bytes for the header */
	BLK_E_UNSUPPORTED,  /* unknown type, op not negotiated, or a bad segment flag */
	BLK_E_READONLY,	    /* a write-type request on a read-only disk */
	BLK_E_DIRECTION, /* IN with data buffers the device may not write, OUT the reverse, ... */
	BLK_E_LENGTH,	 /* data not a multiple of 512, no GET_ID buffer, or a chain over 4 GiB */
	BLK_E_RANGE,	 /* sectors past capacity, or sector arithmetic overflows */
	BLK_E_SEGMENTS,	 /* segment array empty, not whole, too many, or a segment too long */
};

/*
 * A parsed request. data[] are the buffers between the header and the status
 * byte (host pointers into guest RAM from the chain, trimmed, none empty):
 * device-readable for OUT, device-writable for IN and GET_ID, none otherwise.
 * Segments of DISCARD and WRITE_ZEROES are copied out of guest memory.
 */
struct blk_request {
	uint32_t type;
	uint64_t sector; /* as the driver wrote it, also where unused (FLUSH, DISCARD, ...) */
	struct iovec data[VIRTQ_MAX_IOV];
	unsigned data_num;
	uint32_t data_len; /* bytes in data[] */
	uint8_t *status;   /* the status byte in guest RAM, or NULL (BLK_E_NO_STATUS) */
	struct blk_segment segments[BLK_MAX_SEGMENTS];
	unsigned num_segments;
};

/*
 * Parses chain (already validated by virtq_pop(): every iov is inside guest
 * RAM, readable before writable) into req. Copies the header (and segments)
 * out of guest memory before deciding anything, because the guest may change
 * them meanwhile. Never touches memory outside the chain's buffers: it reads
 * the header and segment bytes and nothing else, and writes nothing.
 *
 * The layout (virtio 1.2 §5.2.6): a 16-byte header at the start of the
 * device-readable buffers, split across iovecs in any way; the status byte
 * is the last byte of the device-writable buffers, a 1-byte iovec of its own
 * or the tail of a bigger one. Per type, BLK_E_OK means:
 *  IN        nothing readable beyond the header; data[] the writable bytes
 *            before the status, a multiple of 512 (0 allowed), within capacity
 *            from sector on. The device fills all of data[].
 *  OUT       not read-only; nothing writable but the status; data[] the
 *            readable bytes after the header, same length and range rules.
 *  FLUSH     always (sector and any data are ignored: §5.2.6.1 has the driver
 *            send sector 0 and "SHOULD NOT include any data"); data[] empty.
 *  GET_ID    nothing readable beyond the header; data[] the writable bytes
 *            before the status, at least 1. The device writes the first
 *            min(VIRTIO_BLK_ID_BYTES, data_len) bytes of the NUL-padded ID
 *            (Linux passes exactly 20) and completes with that many plus 1.
 *  DISCARD, WRITE_ZEROES
 *            the feature negotiated (else BLK_E_UNSUPPORTED); not read-only;
 *            nothing writable but the status; the readable bytes after the
 *            header a whole number of 16-byte segments, 1 to
 *            min(max_segments, BLK_MAX_SEGMENTS) of them; no flag bits but
 *            UNMAP, and no UNMAP on DISCARD (BLK_E_UNSUPPORTED: §5.2.6.2);
 *            each num_sectors at most the op's max (BLK_E_SEGMENTS) and each
 *            range within capacity (BLK_E_RANGE). The flags of all segments
 *            are checked before any size or range. segments[] hold them,
 *            data[] is empty. Segments of 0 sectors are accepted.
 *  others    BLK_E_UNSUPPORTED.
 * The checks run in this order: status byte, total length, header, then
 * per type support, read-only, direction, length, range, as listed above.
 *
 * On any result but BLK_E_NO_STATUS, req->status is set and the caller
 * completes the request with blk_request_status(result) when it is not
 * BLK_E_OK (having written nothing else). type and sector are those of the
 * header once it was read; on any error data_num, data_len and num_segments
 * are 0. With BLK_E_NO_STATUS the caller completes the chain with 0 bytes
 * written.
 */
enum blk_request_error blk_request_parse(const struct virtq_chain *chain,
					 const struct blk_limits *limits, struct blk_request *req)
	__attribute__((warn_unused_result));

/* The status byte a rejected request completes with: UNSUPP or IOERR. */
uint8_t blk_request_status(enum blk_request_error err);

const char *blk_request_strerror(enum blk_request_error err);

#endif

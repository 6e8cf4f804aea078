/* virtio-blk request parser (virtio 1.2 §5.2.6): a validated chain in, a request out, no I/O. */
#include "devices/virtio/blk_request.h"

#include <endian.h>
#include <stddef.h>
#include <string.h>

#include "vmm/iov.h"

/* virtio 1.2 §5.2.6: struct virtio_blk_req begins le32 type, le32 reserved, le64 sector. */
#define BLK_HEADER_SIZE	  16
#define BLK_HEADER_TYPE	  0
#define BLK_HEADER_SECTOR 8

/* virtio 1.2 §5.2.6: struct virtio_blk_discard_write_zeroes, le64 sector,
 * le32 num_sectors, le32 flags. */
#define BLK_SEGMENT_SIZE 16

/*
 * The chain as the parser sees it: the readable and the writable iovecs
 * with their byte counts summed here, not taken from chain->out_len and
 * in_len, so that nothing is trusted beyond what the iovecs themselves say.
 */
struct blk_view {
	const struct iovec *out, *in;
	unsigned out_num, in_num;
	uint64_t out_len, in_len;
};

/* Sums iov[0, num) into *total; false when it passes UINT32_MAX (virtq_pop() never does). */
static bool blk_sum(const struct iovec *iov, unsigned num, uint64_t *total)
{
	*total = 0;
	for (unsigned i = 0; i < num; i++) {
		if (iov[i].iov_len > UINT32_MAX)
			return false;
		*total += iov[i].iov_len;
		if (*total > UINT32_MAX)
			return false;
	}
	return true;
}

/*
 * Counts beyond the iov array (a caller's bug, never virtq_pop()'s) are
 * clamped so that no iovec past VIRTQ_MAX_IOV is ever read.
 */
static void blk_view_init(const struct virtq_chain *chain, struct blk_view *view)
{
	view->out_num = chain->out_num < VIRTQ_MAX_IOV ? chain->out_num : VIRTQ_MAX_IOV;
	view->in_num = chain->in_num < VIRTQ_MAX_IOV - view->out_num
			       ? chain->in_num
			       : VIRTQ_MAX_IOV - view->out_num;
	view->out = chain->iov;
	view->in = chain->iov + view->out_num;
}

/* Sums both directions; false for more than UINT32_MAX bytes in all. */
static bool blk_view_sum(struct blk_view *view)
{
	return blk_sum(view->out, view->out_num, &view->out_len) &&
	       blk_sum(view->in, view->in_num, &view->in_len) &&
	       view->out_len + view->in_len <= UINT32_MAX;
}

/* §5.2.6: "u8 status" is the last field, so the last byte of the writable buffers. */
static uint8_t *blk_status_byte(const struct blk_view *view)
{
	/* Empty iovecs (virtq_pop() makes none) cannot hold it: skip them. */
	for (unsigned i = view->in_num; i > 0; i--) {
		const struct iovec *iov = &view->in[i - 1];

		if (iov->iov_len)
			return (uint8_t *)iov->iov_base + iov->iov_len - 1;
	}
	return NULL;
}

/* Points req->data at bytes [offset, offset + len) of iov[0, num), trimmed, no empty iovecs. */
static void blk_slice(struct blk_request *req, const struct iovec *iov, unsigned num,
		      uint64_t offset, uint64_t len)
{
	for (unsigned i = 0; i < num && len > 0; i++) {
		uint64_t n = iov[i].iov_len;

		if (offset >= n) {
			offset -= n;
			continue;
		}
		n -= offset;
		if (n > len)
			n = len;
		req->data[req->data_num++] =
			(struct iovec){ (uint8_t *)iov[i].iov_base + offset, (size_t)n };
		req->data_len += (uint32_t)n;
		len -= n;
		offset = 0;
	}
}

/* [sector, sector + num_sectors) lies within the disk; written so that nothing overflows. */
static bool blk_in_range(const struct blk_limits *limits, uint64_t sector, uint64_t num_sectors)
{
	return sector <= limits->capacity && num_sectors <= limits->capacity - sector;
}

/* IN: nothing readable but the header; the writable bytes before the status are the data. */
static enum blk_request_error blk_parse_in(const struct blk_view *view,
					   const struct blk_limits *limits, struct blk_request *req)
{
	uint64_t len = view->in_len - 1;

	if (view->out_len > BLK_HEADER_SIZE)
		return BLK_E_DIRECTION;
	if (len % VIRTIO_BLK_SECTOR_SIZE)
		return BLK_E_LENGTH;
	if (!blk_in_range(limits, req->sector, len / VIRTIO_BLK_SECTOR_SIZE))
		return BLK_E_RANGE;
	blk_slice(req, view->in, view->in_num, 0, len);
	return BLK_E_OK;
}

/* OUT: the readable bytes after the header are the data; nothing writable but the status. */
static enum blk_request_error
blk_parse_out(const struct blk_view *view, const struct blk_limits *limits, struct blk_request *req)
{
	uint64_t len = view->out_len - BLK_HEADER_SIZE;

	/* §5.2.6.2: IOERR "for a write request if the VIRTIO_BLK_F_RO feature if offered" */
	if (limits->readonly)
		return BLK_E_READONLY;
	if (view->in_len > 1)
		return BLK_E_DIRECTION;
	if (len % VIRTIO_BLK_SECTOR_SIZE)
		return BLK_E_LENGTH;
	if (!blk_in_range(limits, req->sector, len / VIRTIO_BLK_SECTOR_SIZE))
		return BLK_E_RANGE;
	blk_slice(req, view->out, view->out_num, BLK_HEADER_SIZE, len);
	return BLK_E_OK;
}

/* GET_ID: like IN, with at least one byte for the ID. */
static enum blk_request_error blk_parse_get_id(const struct blk_view *view, struct blk_request *req)
{
	if (view->out_len > BLK_HEADER_SIZE)
		return BLK_E_DIRECTION;
	if (view->in_len < 2)
		return BLK_E_LENGTH;
	blk_slice(req, view->in, view->in_num, 0, view->in_len - 1);
	return BLK_E_OK;
}

/* Decodes the segments gathered into raw; checks the flags of all of them before the ranges. */
static enum blk_request_error blk_check_segments(const uint8_t *raw, unsigned num, bool discard,
						 const struct blk_limits *limits,
						 struct blk_request *req)
{
	uint32_t max_sectors =
		discard ? limits->max_discard_sectors : limits->max_write_zeroes_sectors;

	for (unsigned i = 0; i < num; i++) {
		struct blk_segment *seg = &req->segments[i];
		uint64_t sector;
		uint32_t num_sectors, flags;

		memcpy(&sector, raw + BLK_SEGMENT_SIZE * i, 8);
		memcpy(&num_sectors, raw + BLK_SEGMENT_SIZE * i + 8, 4);
		memcpy(&flags, raw + BLK_SEGMENT_SIZE * i + 12, 4);
		seg->sector = le64toh(sector);
		seg->num_sectors = le32toh(num_sectors);
		seg->flags = le32toh(flags);
		/*
		 * §5.2.6.2: "MUST set the status byte to VIRTIO_BLK_S_UNSUPP for
		 * discard and write zeroes commands if any unknown flag is set",
		 * and for discard commands "if the unmap flag is set".
		 */
		if (seg->flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
			return BLK_E_UNSUPPORTED;
		if (discard && (seg->flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
			return BLK_E_UNSUPPORTED;
	}
	for (unsigned i = 0; i < num; i++) {
		const struct blk_segment *seg = &req->segments[i];

		if (seg->num_sectors > max_sectors)
			return BLK_E_SEGMENTS;
		if (!blk_in_range(limits, seg->sector, seg->num_sectors))
			return BLK_E_RANGE;
	}
	req->num_segments = num;
	return BLK_E_OK;
}

/* DISCARD and WRITE_ZEROES: an array of segments after the header, nothing writable but the status. */
static enum blk_request_error blk_parse_segments(const struct blk_view *view,
						 const struct blk_limits *limits,
						 struct blk_request *req)
{
	bool discard = req->type == VIRTIO_BLK_T_DISCARD;
	uint8_t raw[BLK_MAX_SEGMENTS * BLK_SEGMENT_SIZE];
	uint64_t len = view->out_len - BLK_HEADER_SIZE;
	uint32_t max =
		limits->max_segments < BLK_MAX_SEGMENTS ? limits->max_segments : BLK_MAX_SEGMENTS;

	if (!(discard ? limits->discard : limits->write_zeroes))
		return BLK_E_UNSUPPORTED;
	if (limits->readonly)
		return BLK_E_READONLY;
	if (view->in_len > 1)
		return BLK_E_DIRECTION;
	if (len == 0 || len % BLK_SEGMENT_SIZE || len / BLK_SEGMENT_SIZE > max)
		return BLK_E_SEGMENTS;
	/* Copied once: the checks and the device both use this copy only. */
	if (iov_to_buf(view->out, view->out_num, BLK_HEADER_SIZE, raw, len) != len)
		return BLK_E_SEGMENTS; /* cannot happen: out_len counted these bytes */
	return blk_check_segments(raw, (unsigned)(len / BLK_SEGMENT_SIZE), discard, limits, req);
}

enum blk_request_error blk_request_parse(const struct virtq_chain *chain,
					 const struct blk_limits *limits, struct blk_request *req)
{
	uint8_t header[BLK_HEADER_SIZE];
	enum blk_request_error err;
	struct blk_view view;
	uint64_t sector;
	uint32_t type;

	req->type = 0;
	req->sector = 0;
	req->data_num = 0;
	req->data_len = 0;
	req->num_segments = 0;
	blk_view_init(chain, &view);
	req->status = blk_status_byte(&view);
	if (!req->status)
		return BLK_E_NO_STATUS;
	if (!blk_view_sum(&view))
		return BLK_E_LENGTH;
	/* The guest may rewrite the header meanwhile: decide on a copy only. */
	if (iov_to_buf(view.out, view.out_num, 0, header, sizeof(header)) < sizeof(header))
		return BLK_E_SHORT_HEADER;
	memcpy(&type, header + BLK_HEADER_TYPE, sizeof(type));
	memcpy(&sector, header + BLK_HEADER_SECTOR, sizeof(sector));
	req->type = le32toh(type);
	req->sector = le64toh(sector);

	switch (req->type) {
	case VIRTIO_BLK_T_IN: err = blk_parse_in(&view, limits, req); break;
	case VIRTIO_BLK_T_OUT: err = blk_parse_out(&view, limits, req); break;
	/* §5.2.6.1: the driver sets sector 0 and SHOULD NOT include data: neither matters. */
	case VIRTIO_BLK_T_FLUSH: err = BLK_E_OK; break;
	case VIRTIO_BLK_T_GET_ID: err = blk_parse_get_id(&view, req); break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: err = blk_parse_segments(&view, limits, req); break;
	default: err = BLK_E_UNSUPPORTED; break;
	}
	if (err != BLK_E_OK) {
		/* Nothing of a rejected request is to be used but its status byte. */
		req->data_num = 0;
		req->data_len = 0;
		req->num_segments = 0;
	}
	return err;
}

uint8_t blk_request_status(enum blk_request_error err)
{
	return err == BLK_E_UNSUPPORTED ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
}

const char *blk_request_strerror(enum blk_request_error err)
{
	switch (err) {
	case BLK_E_OK: return "valid request";
	case BLK_E_NO_STATUS: return "no device-writable byte for the status";
	case BLK_E_SHORT_HEADER: return "request header shorter than 16 bytes";
	case BLK_E_UNSUPPORTED: return "request type or flag not supported";
	case BLK_E_READONLY: return "write to a read-only disk";
	case BLK_E_DIRECTION: return "data buffers in the wrong direction";
	case BLK_E_LENGTH: return "bad data length";
	case BLK_E_RANGE: return "sectors past the end of the disk";
	case BLK_E_SEGMENTS: return "bad discard or write-zeroes segments";
	}
	return "unknown block request error";
}

/* virtio-blk request parser: placeholder, being written. */
#include "devices/virtio/blk_request.h"

enum blk_request_error blk_request_parse(const struct virtq_chain *chain,
					 const struct blk_limits *limits, struct blk_request *req)
{
	(void)chain;
	(void)limits;
	req->status = NULL;
	return BLK_E_NO_STATUS;
}

uint8_t blk_request_status(enum blk_request_error err)
{
	return err == BLK_E_UNSUPPORTED ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
}

const char *blk_request_strerror(enum blk_request_error err)
{
	(void)err;
	return "?";
}

/* Asynchronous disk I/O: placeholder, being written. */
#include "devices/block/aio.h"

#include <errno.h>
#include <stddef.h>

struct blk_aio *blk_aio_create(const struct disk *disk, unsigned depth, enum blk_aio_engine engine)
{
	(void)disk;
	(void)depth;
	(void)engine;
	errno = ENOSYS;
	return NULL;
}

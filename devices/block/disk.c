/* Disk image files: placeholder, being written. */
#include "devices/block/disk.h"

#include <errno.h>

int disk_open(struct disk *disk, const char *path, bool readonly, char *err, size_t errlen)
{
	(void)disk;
	(void)path;
	(void)readonly;
	(void)err;
	(void)errlen;
	return -ENOSYS;
}

void disk_close(struct disk *disk)
{
	(void)disk;
}

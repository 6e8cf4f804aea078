/* A disk image file opened for a block device: size, read-only flag and an exclusive lock. */
#ifndef HUTCH_DEVICES_BLOCK_DISK_H
#define HUTCH_DEVICES_BLOCK_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct disk {
	int fd;
	uint64_t size; /* bytes */
	bool readonly;
	const char *path; /* as given; not owned */
};

/*
 * Opens path as a raw image, read-only or read-write, and locks it the way
 * QEMU does, so that two VMs (hutch or QEMU) cannot both open one image
 * writable: a writable open takes an exclusive lock, a read-only one a
 * shared lock, both without waiting. Regular files and block devices only.
 * 0, or -errno with one line naming the problem (without a "hutch: path: "
 * prefix, e.g. "is locked by another process (in use by another VM?)")
 * written to err.
 */
int disk_open(struct disk *disk, const char *path, bool readonly, char *err, size_t errlen)
	__attribute__((warn_unused_result));
void disk_close(struct disk *disk);

#endif

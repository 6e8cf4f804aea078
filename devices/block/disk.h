/* A disk image file opened for a block device: size, read-only flag and an exclusive lock. */
#ifndef HUTCH_DEVICES_BLOCK_DISK_H
#define HUTCH_DEVICES_BLOCK_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct image;

struct disk {
	int fd;
	uint64_t size; /* bytes */
	bool readonly;
	const char *path; /* as given; not owned */
	/*
	 * Set for a format other than raw (qcow2): I/O goes through image_*()
	 * on the thread pool instead of straight to fd. Not owned.
	 */
	struct image *image;
	/* raw only because nothing else was detected: refuse a guest write that
	 * would make the first sector look like another format */
	bool probed_raw;
};

/*
 * Opens path as a raw image, read-only or read-write, and locks it the way
 * QEMU does, so that two VMs (hutch or QEMU) cannot both open one image
 * writable: a writable open takes an exclusive lock, a read-only one a
 * shared lock, both without waiting. Regular files and block devices only.
 * 0, or -errno with one line naming the problem (without a "hutch: path: "
 * prefix, e.g. "is locked by another process (in use by another VM?)")
 * written to err (which may be NULL). On failure disk->fd is -1.
 *
 * The lock is an open file description lock (F_OFD_SETLK) over the whole
 * file: F_WRLCK when writable, F_RDLCK when read-only. It conflicts with a
 * second disk_open() even in the same process, and with the byte locks
 * QEMU takes, except that a read-only open here does not notice a QEMU
 * that already writes (QEMU's locks are all shared ones); a QEMU that
 * starts later does notice it. -EAGAIN when locked. Buffered I/O
 * (no O_DIRECT); the fd is close-on-exec and blocking.
 */
int disk_open(struct disk *disk, const char *path, bool readonly, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Closes the file, which drops the lock, and resets disk (fd -1). Twice is harmless. */
void disk_close(struct disk *disk);

#endif

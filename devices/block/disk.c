/* Disk image files: open a raw image or block device, find its size, lock it against other VMs. */
#include "devices/block/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/log.h"

static int disk_get_size(struct disk *disk, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(disk->fd, &st) < 0) {
		int r = -errno;

		log_set_err(err, errlen, "cannot stat: %s", strerror(-r));
		return r;
	}
	if (S_ISREG(st.st_mode)) {
		disk->size = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		/* st_size is 0 for a block device; the kernel knows the real size. */
		if (ioctl(disk->fd, BLKGETSIZE64, &disk->size) < 0) {
			int r = -errno;

			log_set_err(err, errlen, "cannot get block device size: %s", strerror(-r));
			return r;
		}
		return 0;
	}
	log_set_err(err, errlen, "not a regular file or block device");
	return -EINVAL;
}

/*
 * QEMU (file-posix.c, raw_apply_lock_bytes) takes shared open file
 * description locks on single bytes at offsets 100 + permission (what it
 * uses) and 200 + permission (what it does not share). Our lock covers the
 * whole file, every one of those bytes included, so:
 *  - writable here (F_WRLCK) conflicts with any QEMU or hutch open;
 *  - read-only here (F_RDLCK) coexists with other readers but makes QEMU's
 *    check for a writer's lock fail, so no QEMU opens it writable meanwhile.
 * OFD locks, unlike POSIX ones, belong to the open file description, so two
 * disk_open() calls in one process conflict too, and closing some other
 * descriptor of the same file does not drop the lock.
 */
static int disk_lock(struct disk *disk, char *err, size_t errlen)
{
	struct flock fl = {
		.l_type = disk->readonly ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 0, /* to the end of the file, however it grows */
		.l_pid = 0, /* fcntl(2): must be 0 for OFD locks */
	};

	int r;

	if (fcntl(disk->fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	r = -errno;
	/* fcntl(2): a conflicting lock is EAGAIN or EACCES, depending on the system. */
	if (r == -EAGAIN || r == -EACCES) {
		log_set_err(err, errlen, "is locked by another process (in use by another VM?)");
		return -EAGAIN;
	}
	log_set_err(err, errlen, "cannot lock: %s", strerror(-r));
	return r;
}

int disk_open(struct disk *disk, const char *path, bool readonly, char *err, size_t errlen)
{
	int r;

	*disk = (struct disk){ .fd = -1, .readonly = readonly, .path = path };
	/*
	 * O_NONBLOCK so that a FIFO given by mistake does not hang the open
	 * waiting for a writer, O_NOCTTY so that a terminal does not become
	 * ours; both are dropped or harmless once the type is known.
	 */
	disk->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (disk->fd < 0) {
		r = -errno;
		log_set_err(err, errlen, "%s", strerror(-r));
		return r;
	}
	/* Type first: "is locked" would be a confusing answer for a directory. */
	r = disk_get_size(disk, err, errlen);
	if (r < 0)
		goto err_close;
	if (fcntl(disk->fd, F_SETFL, 0) < 0) {
		r = -errno;
		log_set_err(err, errlen, "cannot clear O_NONBLOCK: %s", strerror(-r));
		goto err_close;
	}
	r = disk_lock(disk, err, errlen);
	if (r < 0)
		goto err_close;
	return 0;

err_close:
	close(disk->fd);
	disk->fd = -1;
	return r;
}

void disk_close(struct disk *disk)
{
	/* The OFD lock goes with the last descriptor of the open file description. */
	if (disk->fd >= 0)
		close(disk->fd);
	*disk = (struct disk){ .fd = -1 };
}

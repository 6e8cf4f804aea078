/* Asynchronous I/O on a disk: Linux io_uring, or a thread pool where io_uring is unavailable. */
#ifndef HUTCH_DEVICES_BLOCK_AIO_H
#define HUTCH_DEVICES_BLOCK_AIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/block/disk.h"

enum blk_io_op {
	BLK_IO_READ,	    /* preadv(iov, offset) */
	BLK_IO_WRITE,	    /* pwritev(iov, offset) */
	BLK_IO_FLUSH,	    /* fdatasync(): data written before it is on stable storage */
	BLK_IO_DISCARD,	    /* [offset, offset+len) may read back as anything: punch a hole */
	BLK_IO_WRITE_ZEROES /* [offset, offset+len) reads back as zeroes */
};

struct blk_io;
typedef void blk_io_done_fn(struct blk_io *io, int result);

/*
 * One request, owned by the caller from blk_aio_submit() until its done
 * callback runs. The iovec array and the buffers it points to must stay
 * valid until then too.
 */
struct blk_io {
	enum blk_io_op op;
	const struct iovec *iov; /* READ, WRITE */
	unsigned iovcnt;
	uint64_t offset; /* bytes; READ, WRITE, DISCARD, WRITE_ZEROES */
	uint64_t len;	 /* bytes; DISCARD, WRITE_ZEROES */
	/*
	 * Called from blk_aio_complete() (never from inside blk_aio_submit()),
	 * on the thread that calls blk_aio_complete(). result is 0 for
	 * success (READ and WRITE transferred every byte: short transfers are
	 * continued inside the engine; a read that hits end of file is
	 * -EIO), or -errno.
	 */
	blk_io_done_fn *done;
	void *opaque;	  /* the caller's */
	uint64_t priv[4]; /* the engine's */
};

enum blk_aio_engine {
	BLK_AIO_AUTO,	 /* io_uring if the kernel allows it, else threads */
	BLK_AIO_URING,	 /* io_uring only: blk_aio_create() fails without it */
	BLK_AIO_THREADS, /* the thread pool */
};

struct blk_aio;

/*
 * An I/O context for one disk, used by one thread (a virtqueue's I/O
 * thread): at most depth requests in flight. NULL with errno set on
 * failure. The disk outlives the context.
 *
 * It may be created on another thread, but blk_aio_submit(), _kick(),
 * _complete() and _drain() must all run on the one thread, which must not
 * exit while requests are in flight (Linux cancels the io_uring requests of
 * a thread that exits). depth is 1 to 32768 (EINVAL otherwise); the thread
 * pool has min(depth, 4) workers, started with every signal blocked.
 */
struct blk_aio *blk_aio_create(const struct disk *disk, unsigned depth, enum blk_aio_engine engine);
/* Drains first if anything is in flight, calling done callbacks from here. NULL is fine. */
void blk_aio_destroy(struct blk_aio *aio);

/* "io_uring" or "threads". */
const char *blk_aio_engine_name(const struct blk_aio *aio);

/*
 * A file descriptor (an eventfd) that becomes readable when completions are
 * waiting for blk_aio_complete(); poll it for EPOLLIN, level- or
 * edge-triggered: blk_aio_complete() empties it, and it may be readable
 * with nothing to reap (then blk_aio_complete() returns 0). With io_uring,
 * the kernel may interrupt the thread's epoll_wait() (EINTR) to finish
 * requests it submitted; wait again.
 */
int blk_aio_fd(const struct blk_aio *aio);

/*
 * Queues io. It may not start until blk_aio_kick() (batching). 0, or
 * -EAGAIN when depth requests are already in flight (the caller retries
 * after completions), or -errno. done is never called from here.
 * Checked before the depth, and then done is never called for io:
 * -EINVAL: unknown op, no done, more than IOV_MAX iovecs or SSIZE_MAX
 *   bytes, or a range past INT64_MAX;
 * -EROFS: WRITE, DISCARD or WRITE_ZEROES on a read-only disk.
 * The range is not checked against disk->size: the device does that. A
 * write past the end of a regular file grows it. DISCARD is a hint: where
 * holes cannot be punched (EOPNOTSUPP) it succeeds, doing nothing.
 * WRITE_ZEROES tries FALLOC_FL_ZERO_RANGE, then PUNCH_HOLE, then writes
 * zeroes, remembering per context what the file system refused.
 */
int blk_aio_submit(struct blk_aio *aio, struct blk_io *io) __attribute__((warn_unused_result));

/*
 * Starts everything queued by blk_aio_submit() (one io_uring_submit(), or
 * one wakeup of the workers). Call it once per batch of submissions.
 */
void blk_aio_kick(struct blk_aio *aio);

/*
 * Reads the eventfd, reaps what completed and calls each done callback.
 * Returns how many completed. Never blocks. A done callback may call
 * blk_aio_submit() and blk_aio_kick(), but not blk_aio_complete(),
 * blk_aio_drain() or blk_aio_destroy().
 */
unsigned blk_aio_complete(struct blk_aio *aio);

/* Waits until nothing is in flight, calling done callbacks as they complete. */
void blk_aio_drain(struct blk_aio *aio);

/* Requests in flight (submitted, done not yet called). */
unsigned blk_aio_inflight(const struct blk_aio *aio);

#endif

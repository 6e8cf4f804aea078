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
 */
struct blk_aio *blk_aio_create(const struct disk *disk, unsigned depth, enum blk_aio_engine engine);
void blk_aio_destroy(struct blk_aio *aio); /* after blk_aio_drain() */

/* "io_uring" or "threads". */
const char *blk_aio_engine_name(const struct blk_aio *aio);

/*
 * A file descriptor (an eventfd) that becomes readable when completions are
 * waiting for blk_aio_complete(); poll it for EPOLLIN.
 */
int blk_aio_fd(const struct blk_aio *aio);

/*
 * Queues io. It may not start until blk_aio_kick() (batching). 0, or
 * -EAGAIN when depth requests are already in flight (the caller retries
 * after completions), or -errno. done is never called from here.
 */
int blk_aio_submit(struct blk_aio *aio, struct blk_io *io) __attribute__((warn_unused_result));

/* Starts everything queued by blk_aio_submit() (one io_uring_submit()). */
void blk_aio_kick(struct blk_aio *aio);

/*
 * Reads the eventfd, reaps what completed and calls each done callback.
 * Returns how many completed. Never blocks.
 */
unsigned blk_aio_complete(struct blk_aio *aio);

/* Waits until nothing is in flight, calling done callbacks as they complete. */
void blk_aio_drain(struct blk_aio *aio);

/* Requests in flight (submitted, done not yet called). */
unsigned blk_aio_inflight(const struct blk_aio *aio);

#endif

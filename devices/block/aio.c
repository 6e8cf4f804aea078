/* Asynchronous disk I/O: an io_uring per context, or a small thread pool without io_uring. */
#include "devices/block/aio.h"

#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/block/image.h"

#define BLK_AIO_MAX_DEPTH    32768 /* IORING_MAX_ENTRIES, and virtio 1.2 §2.7's largest queue */
#define BLK_POOL_MAX_THREADS 4
#define BLK_ZERO_CHUNK	     (1u << 20) /* bytes per write when zeroes must be written out */
#define BLK_AGAIN	     1		/* a step's result: issue the request again */

/*
 * How WRITE_ZEROES is done, tried in this order. Each of the first two fails
 * with EOPNOTSUPP where the file system or device cannot do it (tmpfs has no
 * ZERO_RANGE, ramfs no fallocate at all).
 */
enum blk_zero_method {
	BLK_ZERO_RANGE, /* fallocate(FALLOC_FL_ZERO_RANGE) */
	BLK_ZERO_PUNCH, /* fallocate(PUNCH_HOLE | KEEP_SIZE): a hole reads back as zeroes */
	BLK_ZERO_WRITE, /* write zeroes from a zero-filled buffer */
};

/*
 * The engine's part of struct blk_io, kept in its priv[]. Both engines run
 * a request as a series of steps (one preadv(), one fallocate(), ...), with
 * the same code deciding after each what comes next: blk_step().
 */
struct blk_io_state {
	uint64_t total; /* bytes to move: the iovecs' sum, or len for DISCARD, WRITE_ZEROES */
	uint64_t done;	/* bytes moved so far */
	union {
		struct iovec *rest;  /* while running: what is left after a short transfer */
		struct blk_io *next; /* threads, while on a list (rest is NULL then) */
	};
	uint16_t rest_cnt;   /* at most IOV_MAX */
	uint8_t zero_method; /* WRITE_ZEROES: enum blk_zero_method */
	int result;	     /* threads: the outcome, for blk_aio_complete() */
};

_Static_assert(sizeof(struct blk_io_state) <= sizeof(((struct blk_io *)0)->priv),
	       "struct blk_io has no room for the engine's state");

struct blk_io_list {
	struct blk_io *head, **tail;
};

struct blk_aio {
	const struct disk *disk;
	enum blk_aio_engine engine; /* BLK_AIO_URING or BLK_AIO_THREADS once created */
	unsigned depth;
	unsigned inflight;
	int efd;
	const void *zeroes; /* BLK_ZERO_CHUNK bytes, mapped read-only */
	/* Where WRITE_ZEROES starts: a method refused once is not asked again. Atomic: workers. */
	uint8_t zero_method;

	struct io_uring ring;

	struct blk_io_list pending; /* submitted, not yet kicked: the caller's alone */
	pthread_mutex_t lock;
	pthread_cond_t work_cond;
	struct blk_io_list work; /* under lock: kicked, for a worker to take */
	struct blk_io_list done; /* under lock: finished, for blk_aio_complete() */
	bool stop;		 /* under lock: workers exit once work is empty */
	pthread_t threads[BLK_POOL_MAX_THREADS];
	unsigned nthreads;
};

/* ------------------------------------------------------------ common ---- */

static struct blk_io_state *blk_state(struct blk_io *io)
{
	/* priv[] is the engine's to use; the project builds with -fno-strict-aliasing. */
	return (struct blk_io_state *)io->priv;
}

static void blk_list_init(struct blk_io_list *list)
{
	list->head = NULL;
	list->tail = &list->head;
}

static void blk_list_push(struct blk_io_list *list, struct blk_io *io)
{
	blk_state(io)->next = NULL;
	*list->tail = io;
	list->tail = &blk_state(io)->next;
}

static struct blk_io *blk_list_pop(struct blk_io_list *list)
{
	struct blk_io *io = list->head;

	if (io) {
		list->head = blk_state(io)->next;
		if (!list->head)
			list->tail = &list->head;
		blk_state(io)->next = NULL; /* which makes rest NULL too */
	}
	return io;
}

/* Appends all of from to to, leaving from empty. */
static void blk_list_splice(struct blk_io_list *to, struct blk_io_list *from)
{
	if (!from->head)
		return;
	*to->tail = from->head;
	to->tail = from->tail;
	blk_list_init(from);
}

/* Makes the eventfd readable: a completion is waiting, or a kick must be retried. */
static void blk_aio_nudge(struct blk_aio *aio)
{
	uint64_t one = 1;
	ssize_t n;

	/* Only EINTR can stop it: the counter cannot reach its maximum of 2^64 - 2. */
	do
		n = write(aio->efd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
}

static void blk_zero_method_refused(struct blk_aio *aio, unsigned method)
{
	if (__atomic_load_n(&aio->zero_method, __ATOMIC_RELAXED) <= method)
		__atomic_store_n(&aio->zero_method, (uint8_t)(method + 1), __ATOMIC_RELAXED);
}

/*
 * Points *copy, *cnt at the part of io's buffers after the first done bytes.
 * The caller's array is const, so this is a private copy, allocated on
 * first need with room for all of io's iovecs and rewritten in place after
 * every further short transfer.
 */
static int blk_iov_rest(const struct blk_io *io, uint64_t done, struct iovec **copy, unsigned *cnt)
{
	unsigned i = 0, n = 0;

	if (!*copy) {
		*copy = malloc(io->iovcnt * sizeof(**copy));
		if (!*copy)
			return -ENOMEM;
	}
	while (i < io->iovcnt && done >= io->iov[i].iov_len)
		done -= io->iov[i++].iov_len;
	for (; i < io->iovcnt; i++, n++) {
		(*copy)[n].iov_base = (char *)io->iov[i].iov_base + done;
		(*copy)[n].iov_len = io->iov[i].iov_len - done;
		done = 0;
	}
	*cnt = n;
	return 0;
}

/* Checks io before it is queued; *total is the bytes it covers. */
static int blk_io_check(const struct blk_aio *aio, const struct blk_io *io, uint64_t *total)
{
	*total = io->len;
	if (!io->done || (unsigned)io->op > BLK_IO_WRITE_ZEROES)
		return -EINVAL;
	if (io->op == BLK_IO_FLUSH)
		return 0;
	if (io->op != BLK_IO_READ && aio->disk->readonly)
		return -EROFS;
	if (io->op == BLK_IO_READ || io->op == BLK_IO_WRITE) {
		/* preadv(2): EINVAL beyond IOV_MAX buffers or SSIZE_MAX bytes. */
		if (io->iovcnt > IOV_MAX || (io->iovcnt && !io->iov))
			return -EINVAL;
		*total = 0;
		for (unsigned i = 0; i < io->iovcnt; i++) {
			if (io->iov[i].iov_len > SSIZE_MAX - *total)
				return -EINVAL;
			*total += io->iov[i].iov_len;
		}
	}
	/* off_t is signed: the last byte must have an offset. */
	if (io->offset > INT64_MAX || *total > INT64_MAX - io->offset)
		return -EINVAL;
	return 0;
}

static void blk_io_finish(struct blk_aio *aio, struct blk_io *io, int result)
{
	free(blk_state(io)->rest); /* threads: already freed, and rest is next: NULL */
	aio->inflight--;
	/* The caller owns io again from here on and may even resubmit it. */
	io->done(io, result);
}

/* The system call that the next step of a request makes. */
enum blk_call {
	BLK_CALL_READ,	       /* preadv() */
	BLK_CALL_WRITE,	       /* pwritev() */
	BLK_CALL_FDATASYNC,    /* fdatasync() */
	BLK_CALL_FALLOCATE,    /* fallocate(blk_fallocate_mode()) */
	BLK_CALL_WRITE_ZEROES, /* pwrite() from the zero buffer */
	BLK_CALL_NOTHING,      /* a 0-byte DISCARD or WRITE_ZEROES: fallocate(2) says EINVAL */
};

static enum blk_call blk_next_call(struct blk_io *io)
{
	struct blk_io_state *st = blk_state(io);

	switch (io->op) {
	case BLK_IO_READ: return BLK_CALL_READ;
	case BLK_IO_WRITE: return BLK_CALL_WRITE;
	case BLK_IO_FLUSH: return BLK_CALL_FDATASYNC;
	case BLK_IO_DISCARD:
	case BLK_IO_WRITE_ZEROES: break;
	}
	if (!st->total)
		return BLK_CALL_NOTHING;
	if (io->op == BLK_IO_WRITE_ZEROES && st->zero_method == BLK_ZERO_WRITE)
		return BLK_CALL_WRITE_ZEROES;
	return BLK_CALL_FALLOCATE;
}

static int blk_fallocate_mode(struct blk_io *io)
{
	if (io->op == BLK_IO_WRITE_ZEROES && blk_state(io)->zero_method == BLK_ZERO_RANGE)
		return FALLOC_FL_ZERO_RANGE;
	return FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
}

static unsigned blk_zero_chunk(uint64_t left)
{
	return left < BLK_ZERO_CHUNK ? (unsigned)left : BLK_ZERO_CHUNK;
}

/* After a READ or WRITE moved res bytes: 0 when complete, BLK_AGAIN, or -errno. */
static int blk_rw_step(struct blk_io *io, int res)
{
	struct blk_io_state *st = blk_state(io);
	unsigned cnt;
	int r;

	if (res < 0)
		return res;
	st->done += (unsigned)res;
	if (st->done >= st->total)
		return 0;
	if (res == 0)
		return -EIO; /* end of file: the rest of the read has no data */
	r = blk_iov_rest(io, st->done, &st->rest, &cnt);
	if (r < 0)
		return r;
	st->rest_cnt = (uint16_t)cnt;
	return BLK_AGAIN;
}

static int blk_zero_step(struct blk_aio *aio, struct blk_io *io, int res)
{
	struct blk_io_state *st = blk_state(io);

	if (!st->total)
		return res; /* BLK_CALL_NOTHING */
	if (io->op == BLK_IO_DISCARD)
		return res == -EOPNOTSUPP ? 0 : res; /* discard is a hint (aio.h) */
	if (st->zero_method != BLK_ZERO_WRITE) {
		if (res != -EOPNOTSUPP)
			return res;
		blk_zero_method_refused(aio, st->zero_method++);
		return BLK_AGAIN;
	}
	if (res <= 0)
		return res < 0 ? res : -EIO;
	st->done += (unsigned)res;
	return st->done < st->total ? BLK_AGAIN : 0;
}

/*
 * Decides what follows a step that returned res (bytes, 0, or -errno, as
 * in a CQE): 0 or -errno when io is finished, BLK_AGAIN to issue the next
 * step, whose arguments are now in io's state.
 */
static int blk_step(struct blk_aio *aio, struct blk_io *io, int res)
{
	if (res == -EINTR || res == -EAGAIN)
		return BLK_AGAIN;
	switch (io->op) {
	case BLK_IO_READ:
	case BLK_IO_WRITE: return blk_rw_step(io, res);
	case BLK_IO_FLUSH: return res;
	case BLK_IO_DISCARD:
	case BLK_IO_WRITE_ZEROES: return blk_zero_step(aio, io, res);
	}
	return -EINVAL;
}

/* ---------------------------------------------------------- io_uring ---- */

/* Kernels before 5.6 have io_uring without all of the operations used here. */
static int blk_uring_probe(struct io_uring *ring)
{
	static const int ops[] = { IORING_OP_NOP,   IORING_OP_READV,	 IORING_OP_WRITEV,
				   IORING_OP_FSYNC, IORING_OP_FALLOCATE, IORING_OP_WRITE };
	struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
	int r = 0;

	if (!probe)
		return -ENOSYS;
	for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!io_uring_opcode_supported(probe, ops[i]))
			r = -EOPNOTSUPP;
	io_uring_free_probe(probe);
	return r;
}

static int blk_uring_start(struct blk_aio *aio)
{
	/*
	 * The SQ has at least depth entries, and a request holds at most one
	 * SQE at a time, so io_uring_get_sqe() cannot run out; the CQ, twice
	 * the SQ, cannot overflow either.
	 */
	int r = io_uring_queue_init(aio->depth, &aio->ring, 0);

	if (r < 0)
		return r;
	r = blk_uring_probe(&aio->ring);
	if (r == 0)
		r = io_uring_register_eventfd(&aio->ring, aio->efd);
	if (r < 0) {
		io_uring_queue_exit(&aio->ring);
		return r;
	}
	aio->engine = BLK_AIO_URING;
	return 0;
}

/* Queues an SQE for the next step of io: what blk_pool_issue() does, as an SQE. */
static int blk_uring_prep(struct blk_aio *aio, struct blk_io *io)
{
	struct blk_io_state *st = blk_state(io);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&aio->ring);
	const struct iovec *iov = st->rest ? st->rest : io->iov;
	unsigned cnt = st->rest ? st->rest_cnt : io->iovcnt;
	uint64_t offset = io->offset + st->done, left = st->total - st->done;
	int fd = aio->disk->fd;

	if (!sqe)
		return -EBUSY; /* cannot happen: see blk_uring_start() */
	switch (blk_next_call(io)) {
	case BLK_CALL_READ: io_uring_prep_readv(sqe, fd, iov, cnt, offset); break;
	case BLK_CALL_WRITE: io_uring_prep_writev(sqe, fd, iov, cnt, offset); break;
	case BLK_CALL_FDATASYNC: io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC); break;
	case BLK_CALL_NOTHING: io_uring_prep_nop(sqe); break;
	case BLK_CALL_WRITE_ZEROES:
		io_uring_prep_write(sqe, fd, aio->zeroes, blk_zero_chunk(left), offset);
		break;
	case BLK_CALL_FALLOCATE:
		io_uring_prep_fallocate(sqe, fd, blk_fallocate_mode(io), (off_t)offset,
					(off_t)left);
		break;
	}
	io_uring_sqe_set_data(sqe, io);
	return 0;
}

static void blk_uring_kick(struct blk_aio *aio)
{
	unsigned ready = io_uring_sq_ready(&aio->ring);
	int r;

	if (!ready)
		return;
	do
		r = io_uring_submit(&aio->ring);
	while (r == -EINTR);
	/*
	 * -EAGAIN or -EBUSY (the kernel is short of memory), or not all taken:
	 * the rest stay in the ring. Make the eventfd readable so that
	 * blk_aio_complete(), which kicks again, runs soon rather than the
	 * requests sitting there with nothing to wake anyone.
	 */
	if (r < 0 || (unsigned)r < ready)
		blk_aio_nudge(aio);
}

static unsigned blk_uring_complete(struct blk_aio *aio)
{
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	while (io_uring_peek_cqe(&aio->ring, &cqe) == 0) {
		struct blk_io *io = io_uring_cqe_get_data(cqe);
		int r = blk_step(aio, io, cqe->res);

		io_uring_cqe_seen(&aio->ring, cqe);
		if (r == BLK_AGAIN) {
			r = blk_uring_prep(aio, io);
			if (r == 0)
				continue;
		}
		blk_io_finish(aio, io, r);
		n++;
	}
	/* Continuations of short transfers, and any kick that failed. */
	blk_uring_kick(aio);
	return n;
}

/* ------------------------------------------------------- thread pool ---- */

/* Makes the system call for the next step of io: blk_uring_prep() without the ring. */
static int blk_pool_issue(struct blk_aio *aio, struct blk_io *io)
{
	struct blk_io_state *st = blk_state(io);
	const struct iovec *iov = st->rest ? st->rest : io->iov;
	int cnt = st->rest ? st->rest_cnt : (int)io->iovcnt, fd = aio->disk->fd;
	off_t offset = (off_t)(io->offset + st->done);
	uint64_t left = st->total - st->done;
	ssize_t n = 0;

	switch (blk_next_call(io)) {
	case BLK_CALL_READ: n = preadv(fd, iov, cnt, offset); break;
	case BLK_CALL_WRITE: n = pwritev(fd, iov, cnt, offset); break;
	case BLK_CALL_FDATASYNC: n = fdatasync(fd); break;
	case BLK_CALL_NOTHING: break;
	case BLK_CALL_WRITE_ZEROES:
		n = pwrite(fd, aio->zeroes, blk_zero_chunk(left), offset);
		break;
	case BLK_CALL_FALLOCATE:
		n = fallocate(fd, blk_fallocate_mode(io), offset, (off_t)left);
		break;
	}
	/* At most MAX_RW_COUNT (INT_MAX rounded down to a page) bytes move at once. */
	return n < 0 ? -errno : (int)n;
}

/* A request on an image format (qcow2): the format's own calls, whole requests at once. */
static int blk_image_io(struct image *img, struct blk_io *io)
{
	switch (io->op) {
	case BLK_IO_READ: return image_preadv(img, io->iov, io->iovcnt, io->offset);
	case BLK_IO_WRITE: return image_pwritev(img, io->iov, io->iovcnt, io->offset);
	case BLK_IO_FLUSH: return image_flush(img);
	case BLK_IO_DISCARD: return image_discard(img, io->offset, io->len);
	case BLK_IO_WRITE_ZEROES: return image_write_zeroes(img, io->offset, io->len);
	}
	return -EINVAL;
}

static void *blk_pool_worker(void *opaque)
{
	struct blk_aio *aio = opaque;
	struct blk_io_state *st;
	struct blk_io *io;

	for (;;) {
		pthread_mutex_lock(&aio->lock);
		while (!aio->work.head && !aio->stop)
			pthread_cond_wait(&aio->work_cond, &aio->lock);
		io = blk_list_pop(&aio->work);
		pthread_mutex_unlock(&aio->lock);
		if (!io)
			return NULL; /* stopped, and nothing left */

		st = blk_state(io);
		if (aio->disk->image)
			st->result = blk_image_io(aio->disk->image, io);
		else
			do
				st->result = blk_step(aio, io, blk_pool_issue(aio, io));
			while (st->result == BLK_AGAIN);
		free(st->rest);
		st->rest = NULL;

		/* The unlock publishes result to the caller's thread, which takes the lock. */
		pthread_mutex_lock(&aio->lock);
		blk_list_push(&aio->done, io);
		pthread_mutex_unlock(&aio->lock);
		blk_aio_nudge(aio);
	}
}

static void blk_pool_stop(struct blk_aio *aio)
{
	pthread_mutex_lock(&aio->lock);
	aio->stop = true;
	pthread_cond_broadcast(&aio->work_cond);
	pthread_mutex_unlock(&aio->lock);
	for (unsigned i = 0; i < aio->nthreads; i++)
		pthread_join(aio->threads[i], NULL);
	pthread_cond_destroy(&aio->work_cond);
	pthread_mutex_destroy(&aio->lock);
}

static int blk_pool_start(struct blk_aio *aio)
{
	unsigned want = aio->depth < BLK_POOL_MAX_THREADS ? aio->depth : BLK_POOL_MAX_THREADS;
	sigset_t all, old;
	int r;

	blk_list_init(&aio->pending);
	blk_list_init(&aio->work);
	blk_list_init(&aio->done);
	r = pthread_mutex_init(&aio->lock, NULL);
	if (r)
		return -r;
	r = pthread_cond_init(&aio->work_cond, NULL);
	if (r) {
		pthread_mutex_destroy(&aio->lock);
		return -r;
	}
	/* Workers inherit this mask: signals meant for vCPU or I/O threads must not land here. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; aio->nthreads < want; aio->nthreads++) {
		r = pthread_create(&aio->threads[aio->nthreads], NULL, blk_pool_worker, aio);
		if (r)
			break;
		pthread_setname_np(aio->threads[aio->nthreads], "blk-aio");
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		blk_pool_stop(aio);
		return -r;
	}
	aio->engine = BLK_AIO_THREADS;
	return 0;
}

static void blk_pool_kick(struct blk_aio *aio)
{
	if (!aio->pending.head)
		return;
	pthread_mutex_lock(&aio->lock);
	blk_list_splice(&aio->work, &aio->pending);
	pthread_cond_broadcast(&aio->work_cond);
	pthread_mutex_unlock(&aio->lock);
}

static unsigned blk_pool_complete(struct blk_aio *aio)
{
	struct blk_io_list done;
	struct blk_io *io;
	unsigned n = 0;

	blk_list_init(&done);
	pthread_mutex_lock(&aio->lock);
	blk_list_splice(&done, &aio->done);
	pthread_mutex_unlock(&aio->lock);
	/* Pop before done(): the callback may reuse io, and its priv with it. */
	while ((io = blk_list_pop(&done))) {
		blk_io_finish(aio, io, blk_state(io)->result);
		n++;
	}
	return n;
}

/* ---------------------------------------------------------- the API ---- */

static void blk_aio_free(struct blk_aio *aio)
{
	if (aio->engine == BLK_AIO_URING)
		io_uring_queue_exit(&aio->ring);
	else if (aio->engine == BLK_AIO_THREADS)
		blk_pool_stop(aio);
	if (aio->zeroes != MAP_FAILED)
		munmap((void *)aio->zeroes, BLK_ZERO_CHUNK);
	if (aio->efd >= 0)
		close(aio->efd);
	free(aio);
}

struct blk_aio *blk_aio_create(const struct disk *disk, unsigned depth, enum blk_aio_engine engine)
{
	struct blk_aio *aio;
	int r = -ENOSYS;

	if (!disk || disk->fd < 0 || !depth || depth > BLK_AIO_MAX_DEPTH ||
	    (unsigned)engine > BLK_AIO_THREADS) {
		errno = EINVAL;
		return NULL;
	}
	aio = calloc(1, sizeof(*aio));
	if (!aio)
		return NULL;
	aio->disk = disk;
	aio->depth = depth;
	aio->engine = BLK_AIO_AUTO; /* neither started yet */
	aio->zeroes = MAP_FAILED;
	aio->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (aio->efd < 0) {
		r = -errno;
		goto err_free;
	}
	/* Anonymous and never written: every page is the shared zero page. */
	aio->zeroes = mmap(NULL, BLK_ZERO_CHUNK, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (aio->zeroes == MAP_FAILED) {
		r = -errno;
		goto err_free;
	}
	/* an image format's requests are the format's calls: the pool's job */
	if (disk->image && engine == BLK_AIO_URING) {
		r = -EINVAL;
		goto err_free;
	}
	if (engine != BLK_AIO_THREADS && !disk->image)
		r = blk_uring_start(aio);
	if (r < 0 && engine != BLK_AIO_URING)
		r = blk_pool_start(aio);
	if (r < 0)
		goto err_free;
	return aio;

err_free:
	blk_aio_free(aio);
	errno = -r;
	return NULL;
}

void blk_aio_destroy(struct blk_aio *aio)
{
	if (!aio)
		return;
	/* Neither the kernel nor a worker may touch the caller's buffers after this. */
	blk_aio_drain(aio);
	blk_aio_free(aio);
}

const char *blk_aio_engine_name(const struct blk_aio *aio)
{
	return aio->engine == BLK_AIO_URING ? "io_uring" : "threads";
}

int blk_aio_fd(const struct blk_aio *aio)
{
	return aio->efd;
}

int blk_aio_submit(struct blk_aio *aio, struct blk_io *io)
{
	struct blk_io_state *st;
	uint64_t total;
	int r = blk_io_check(aio, io, &total);

	if (r < 0)
		return r;
	if (aio->inflight >= aio->depth)
		return -EAGAIN;
	st = blk_state(io);
	*st = (struct blk_io_state){ .total = total };
	if (io->op == BLK_IO_WRITE_ZEROES)
		st->zero_method = __atomic_load_n(&aio->zero_method, __ATOMIC_RELAXED);
	if (aio->engine == BLK_AIO_URING) {
		r = blk_uring_prep(aio, io);
		if (r < 0)
			return r;
	} else {
		blk_list_push(&aio->pending, io);
	}
	aio->inflight++;
	return 0;
}

void blk_aio_kick(struct blk_aio *aio)
{
	if (aio->engine == BLK_AIO_URING)
		blk_uring_kick(aio);
	else
		blk_pool_kick(aio);
}

unsigned blk_aio_complete(struct blk_aio *aio)
{
	uint64_t count;
	ssize_t n;

	/*
	 * Reset the eventfd before reaping, not after: a completion that
	 * lands after the reap then sets it again instead of being missed.
	 * EAGAIN (nothing signalled) is fine: the eventfd is non-blocking.
	 */
	n = read(aio->efd, &count, sizeof(count));
	(void)n;
	if (aio->engine == BLK_AIO_URING)
		return blk_uring_complete(aio);
	return blk_pool_complete(aio);
}

void blk_aio_drain(struct blk_aio *aio)
{
	struct pollfd pfd = { .fd = aio->efd, .events = POLLIN };

	while (aio->inflight) {
		blk_aio_kick(aio);
		if (blk_aio_complete(aio))
			continue;
		/* Errors (EINTR, ENOMEM) only mean another turn round the loop. */
		(void)poll(&pfd, 1, -1);
	}
}

unsigned blk_aio_inflight(const struct blk_aio *aio)
{
	return aio->inflight;
}

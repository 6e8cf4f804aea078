/* Asynchronous disk I/O: one io_uring per context, or a small thread pool where io_uring is unavailable. */
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

#define BLK_AIO_MAX_DEPTH \
	32768 /* IORING_MAX_ENTRIES; a virtqueue holds no more (virtio 1.2 §2.7) */
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

/* The engine's part of struct blk_io, kept in its priv[]. */
union blk_io_priv {
	struct {
		uint64_t total;	    /* bytes to move: the iovecs' sum, or len when writing zeroes */
		uint64_t done;	    /* bytes moved so far */
		struct iovec *rest; /* private copy of what is left after a short transfer */
		uint16_t rest_cnt;  /* at most IOV_MAX */
		uint8_t zero_method;
	} ring;
	struct {
		struct blk_io *next; /* on a pending, work or done list */
		int result;
	} pool;
};

_Static_assert(sizeof(union blk_io_priv) <= sizeof(((struct blk_io *)0)->priv),
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

static union blk_io_priv *blk_priv(struct blk_io *io)
{
	/* priv[] is the engine's to use; the project builds with -fno-strict-aliasing. */
	return (union blk_io_priv *)io->priv;
}

static void blk_list_init(struct blk_io_list *list)
{
	list->head = NULL;
	list->tail = &list->head;
}

static void blk_list_push(struct blk_io_list *list, struct blk_io *io)
{
	blk_priv(io)->pool.next = NULL;
	*list->tail = io;
	list->tail = &blk_priv(io)->pool.next;
}

static struct blk_io *blk_list_pop(struct blk_io_list *list)
{
	struct blk_io *io = list->head;

	if (io) {
		list->head = blk_priv(io)->pool.next;
		if (!list->head)
			list->tail = &list->head;
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

static int blk_fallocate_mode(enum blk_io_op op, unsigned zero_method)
{
	if (op == BLK_IO_WRITE_ZEROES && zero_method == BLK_ZERO_RANGE)
		return FALLOC_FL_ZERO_RANGE;
	return FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
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
	aio->inflight--;
	/* The caller owns io again from here on and may even resubmit it. */
	io->done(io, result);
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

/* Queues an SQE for the next step of io. */
static int blk_uring_prep(struct blk_aio *aio, struct blk_io *io)
{
	union blk_io_priv *p = blk_priv(io);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&aio->ring);
	const struct iovec *iov = p->ring.rest ? p->ring.rest : io->iov;
	unsigned cnt = p->ring.rest ? p->ring.rest_cnt : io->iovcnt;
	uint64_t offset = io->offset + p->ring.done, left = p->ring.total - p->ring.done;
	int fd = aio->disk->fd, mode = blk_fallocate_mode(io->op, p->ring.zero_method);

	if (!sqe)
		return -EBUSY; /* cannot happen: see blk_uring_start() */
	switch (io->op) {
	case BLK_IO_READ: io_uring_prep_readv(sqe, fd, iov, cnt, offset); break;
	case BLK_IO_WRITE: io_uring_prep_writev(sqe, fd, iov, cnt, offset); break;
	case BLK_IO_FLUSH: io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC); break;
	case BLK_IO_DISCARD:
	case BLK_IO_WRITE_ZEROES:
		if (!left)
			io_uring_prep_nop(sqe); /* fallocate(2) refuses len 0 with EINVAL */
		else if (io->op == BLK_IO_WRITE_ZEROES && p->ring.zero_method == BLK_ZERO_WRITE)
			io_uring_prep_write(sqe, fd, aio->zeroes,
					    left < BLK_ZERO_CHUNK ? (unsigned)left : BLK_ZERO_CHUNK,
					    offset);
		else
			io_uring_prep_fallocate(sqe, fd, mode, (off_t)offset, (off_t)left);
		break;
	}
	io_uring_sqe_set_data(sqe, io);
	return 0;
}

/* After a READ or WRITE moved res bytes: 0 when complete, BLK_AGAIN, or -errno. */
static int blk_uring_rw_step(struct blk_io *io, int res)
{
	union blk_io_priv *p = blk_priv(io);
	unsigned cnt;
	int r;

	if (res < 0)
		return res;
	p->ring.done += (unsigned)res;
	if (p->ring.done >= p->ring.total)
		return 0;
	if (res == 0)
		return -EIO; /* end of file: the rest of the read has no data */
	r = blk_iov_rest(io, p->ring.done, &p->ring.rest, &cnt);
	if (r < 0)
		return r;
	p->ring.rest_cnt = (uint16_t)cnt;
	return BLK_AGAIN;
}

static int blk_uring_zero_step(struct blk_aio *aio, struct blk_io *io, int res)
{
	union blk_io_priv *p = blk_priv(io);

	if (p->ring.total == 0)
		return res; /* the NOP */
	if (io->op == BLK_IO_DISCARD)
		return res == -EOPNOTSUPP ? 0 : res; /* discard is a hint (aio.h) */
	if (p->ring.zero_method != BLK_ZERO_WRITE) {
		if (res != -EOPNOTSUPP)
			return res;
		blk_zero_method_refused(aio, p->ring.zero_method++);
		return BLK_AGAIN;
	}
	if (res <= 0)
		return res < 0 ? res : -EIO;
	p->ring.done += (unsigned)res;
	return p->ring.done < p->ring.total ? BLK_AGAIN : 0;
}

static int blk_uring_step(struct blk_aio *aio, struct blk_io *io, int res)
{
	if (res == -EINTR || res == -EAGAIN)
		return BLK_AGAIN;
	switch (io->op) {
	case BLK_IO_READ:
	case BLK_IO_WRITE: return blk_uring_rw_step(io, res);
	case BLK_IO_FLUSH: return res;
	case BLK_IO_DISCARD:
	case BLK_IO_WRITE_ZEROES: return blk_uring_zero_step(aio, io, res);
	}
	return -EINVAL;
}

static void blk_uring_kick(struct blk_aio *aio)
{
	int r;

	if (!io_uring_sq_ready(&aio->ring))
		return;
	do
		r = io_uring_submit(&aio->ring);
	while (r == -EINTR);
	/*
	 * -EAGAIN or -EBUSY: the kernel is short of memory. The SQEs stay in
	 * the ring; make the eventfd readable so that blk_aio_complete(),
	 * which kicks again, runs soon rather than the requests sitting there.
	 */
	if (r < 0)
		blk_aio_nudge(aio);
}

static unsigned blk_uring_complete(struct blk_aio *aio)
{
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	while (io_uring_peek_cqe(&aio->ring, &cqe) == 0) {
		struct blk_io *io = io_uring_cqe_get_data(cqe);
		int r = blk_uring_step(aio, io, cqe->res);

		io_uring_cqe_seen(&aio->ring, cqe);
		if (r == BLK_AGAIN) {
			r = blk_uring_prep(aio, io);
			if (r == 0)
				continue;
		}
		free(blk_priv(io)->ring.rest);
		blk_io_finish(aio, io, r);
		n++;
	}
	/* Continuations of short transfers, and any kick that failed. */
	blk_uring_kick(aio);
	return n;
}

static int blk_uring_submit(struct blk_aio *aio, struct blk_io *io, uint64_t total)
{
	union blk_io_priv *p = blk_priv(io);

	p->ring.total = total;
	if (io->op == BLK_IO_WRITE_ZEROES)
		p->ring.zero_method = __atomic_load_n(&aio->zero_method, __ATOMIC_RELAXED);
	return blk_uring_prep(aio, io);
}

/* ------------------------------------------------------- thread pool ---- */

/* fallocate(2), repeated when a signal interrupts it; 0 or -errno. */
static int blk_fallocate(int fd, int mode, uint64_t offset, uint64_t len)
{
	int r;

	do
		r = fallocate(fd, mode, (off_t)offset, (off_t)len);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static int blk_fdatasync(int fd)
{
	int r;

	do
		r = fdatasync(fd);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static int blk_pool_rw(int fd, struct blk_io *io)
{
	const struct iovec *iov = io->iov;
	struct iovec *copy = NULL;
	unsigned cnt = io->iovcnt;
	uint64_t done = 0, total = 0;
	int r = 0;

	for (unsigned i = 0; i < io->iovcnt; i++)
		total += io->iov[i].iov_len; /* blk_io_check() ruled out overflow */
	while (done < total) {
		off_t offset = (off_t)(io->offset + done);
		ssize_t n = io->op == BLK_IO_READ ? preadv(fd, iov, (int)cnt, offset)
						  : pwritev(fd, iov, (int)cnt, offset);

		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO; /* 0: end of file */
			break;
		}
		done += (uint64_t)n;
		if (done < total) {
			r = blk_iov_rest(io, done, &copy, &cnt);
			if (r < 0)
				break;
			iov = copy;
		}
	}
	free(copy);
	return r;
}

static int blk_pool_write_zeroes(struct blk_aio *aio, struct blk_io *io)
{
	int fd = aio->disk->fd, r;
	unsigned method = __atomic_load_n(&aio->zero_method, __ATOMIC_RELAXED);
	uint64_t done = 0;

	for (; method < BLK_ZERO_WRITE; method++) {
		r = blk_fallocate(fd, blk_fallocate_mode(io->op, method), io->offset, io->len);
		if (r != -EOPNOTSUPP)
			return r;
		blk_zero_method_refused(aio, method);
	}
	while (done < io->len) {
		uint64_t left = io->len - done;
		ssize_t n = pwrite(fd, aio->zeroes, left < BLK_ZERO_CHUNK ? left : BLK_ZERO_CHUNK,
				   (off_t)(io->offset + done));

		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (uint64_t)n;
	}
	return 0;
}

static int blk_pool_do(struct blk_aio *aio, struct blk_io *io)
{
	int fd = aio->disk->fd, r;

	switch (io->op) {
	case BLK_IO_READ:
	case BLK_IO_WRITE: return blk_pool_rw(fd, io);
	case BLK_IO_FLUSH: return blk_fdatasync(fd);
	case BLK_IO_DISCARD:
		if (!io->len)
			return 0;
		r = blk_fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, io->offset,
				  io->len);
		return r == -EOPNOTSUPP ? 0 : r; /* discard is a hint (aio.h) */
	case BLK_IO_WRITE_ZEROES: return io->len ? blk_pool_write_zeroes(aio, io) : 0;
	}
	return -EINVAL;
}

static void *blk_pool_worker(void *opaque)
{
	struct blk_aio *aio = opaque;
	struct blk_io *io;

	for (;;) {
		pthread_mutex_lock(&aio->lock);
		while (!aio->work.head && !aio->stop)
			pthread_cond_wait(&aio->work_cond, &aio->lock);
		io = blk_list_pop(&aio->work);
		pthread_mutex_unlock(&aio->lock);
		if (!io)
			return NULL; /* stopped, and nothing left */

		blk_priv(io)->pool.result = blk_pool_do(aio, io);

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
		blk_io_finish(aio, io, blk_priv(io)->pool.result);
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
	if (engine != BLK_AIO_THREADS)
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
	uint64_t total;
	int r = blk_io_check(aio, io, &total);

	if (r < 0)
		return r;
	if (aio->inflight >= aio->depth)
		return -EAGAIN;
	memset(io->priv, 0, sizeof(io->priv));
	if (aio->engine == BLK_AIO_URING) {
		r = blk_uring_submit(aio, io, total);
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

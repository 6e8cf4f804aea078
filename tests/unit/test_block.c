/* Unit tests for the block backend: disk_open()'s checks and locks first, then both aio engines. */
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "devices/block/aio.h"
#include "devices/block/disk.h"

#define DISK_SIZE  (1u << 20)
#define LOCKED_MSG "is locked by another process (in use by another VM?)"
#define ZSIZE	   (3u << 20) /* the zero-writing tests' disk: more than 2 chunks of zeroes */
#define CHILD_SKIP 77	      /* a child's exit code: the test cannot run here */

/* Linux's MAX_RW_COUNT: one read or write never moves more than this. */
#define MAX_RW_COUNT (INT_MAX & ~4095L)

/* ------------------------------------------------------------ helpers ---- */

static const char *tmp_dir(void)
{
	const char *dir = getenv("TMPDIR");

	return dir && *dir ? dir : "/tmp";
}

/* A new file of size bytes filled with a pattern; its name goes into path. */
static void make_file(char *path, size_t pathlen, uint64_t size)
{
	int fd;

	snprintf(path, pathlen, "%s/hutch-test-block-XXXXXX", tmp_dir());
	fd = mkstemp(path);
	TEST_ASSERT(fd >= 0, "mkstemp(%s): %s", path, strerror(errno));
	TEST_ASSERT_EQ(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

static uint8_t pattern(uint64_t offset, unsigned seed)
{
	return (uint8_t)(offset * 31 + seed * 7 + (offset >> 9));
}

static void fill(uint8_t *p, size_t len, uint64_t offset, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(offset + i, seed);
}

/* Checks [offset, offset+len) of fd against the pattern (or zeroes for seed -1). */
static void check_file(int fd, uint64_t offset, size_t len, int seed)
{
	uint8_t *buf = malloc(len);

	TEST_ASSERT(buf, "malloc");
	TEST_ASSERT_EQ(pread(fd, buf, len, (off_t)offset), len);
	for (size_t i = 0; i < len; i++) {
		uint8_t want = seed < 0 ? 0 : pattern(offset + i, (unsigned)seed);

		TEST_ASSERT(buf[i] == want, "byte %#" PRIx64 " is %#x, expected %#x", offset + i,
			    buf[i], want);
	}
	free(buf);
}

/*
 * Runs fn in a child process, for what must not leak into the test
 * process (seccomp filters, rlimits, mount namespaces). The child cannot
 * use cmocka's assertions: it returns 0, CHILD_SKIP, or the failing line.
 */
static int run_in_child(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	TEST_ASSERT(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(fn(arg));
	TEST_ASSERT_EQ(waitpid(pid, &status, 0), pid);
	TEST_ASSERT(WIFEXITED(status), "child died, status %#x", status);
	return WEXITSTATUS(status);
}

#define CHILD_CHECK(cond)                                                                 \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "child: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			return 1;                                                         \
		}                                                                         \
	} while (0)

static void assert_child_ok(int rc)
{
	if (rc == CHILD_SKIP) {
		print_message("[   SKIP   ] not possible here (see above)\n");
		skip();
	}
	TEST_ASSERT(rc == 0, "child failed with %d: see its message above", rc);
}

/* ---------------------------------------------------- disk: hostile ---- */

struct disk_fixture {
	char path[256];
	struct disk a, b;
};

static int disk_setup(void **state)
{
	struct disk_fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->a.fd = f->b.fd = -1;
	make_file(f->path, sizeof(f->path), DISK_SIZE);
	*state = f;
	return 0;
}

static int disk_teardown(void **state)
{
	struct disk_fixture *f = *state;

	disk_close(&f->a);
	disk_close(&f->b);
	unlink(f->path);
	free(f);
	return 0;
}

static void test_disk_open_missing(void **state)
{
	struct disk_fixture *f = *state;
	char err[128] = "";

	strcat(f->path, ".missing");
	TEST_ASSERT_EQ(disk_open(&f->a, f->path, false, err, sizeof(err)), -ENOENT);
	TEST_ASSERT(!strcmp(err, strerror(ENOENT)), "err is \"%s\"", err);
	TEST_ASSERT_EQ(f->a.fd, -1);
	f->path[strlen(f->path) - strlen(".missing")] = '\0';
	/* No room for the message is no reason to crash. */
	TEST_ASSERT_EQ(disk_open(&f->a, "/nonexistent/disk.img", true, NULL, 0), -ENOENT);
}

static void test_disk_open_directory(void **state)
{
	struct disk_fixture *f = *state;
	char err[128] = "";

	TEST_ASSERT_EQ(disk_open(&f->a, tmp_dir(), true, err, sizeof(err)), -EINVAL);
	TEST_ASSERT(!strcmp(err, "not a regular file or block device"), "err is \"%s\"", err);
	TEST_ASSERT_EQ(f->a.fd, -1);
	TEST_ASSERT_EQ(disk_open(&f->a, tmp_dir(), false, err, sizeof(err)), -EISDIR);
	TEST_ASSERT(!strcmp(err, strerror(EISDIR)), "err is \"%s\"", err);
}

static void test_disk_open_fifo_does_not_block(void **state)
{
	struct disk_fixture *f = *state;
	char err[128] = "";

	/* Opening a FIFO read-only would wait for a writer without O_NONBLOCK. */
	unlink(f->path);
	TEST_ASSERT_EQ(mkfifo(f->path, 0600), 0);
	TEST_ASSERT_EQ(disk_open(&f->a, f->path, true, err, sizeof(err)), -EINVAL);
	TEST_ASSERT(!strcmp(err, "not a regular file or block device"), "err is \"%s\"", err);
	TEST_ASSERT_EQ(disk_open(&f->a, "/dev/null", false, err, sizeof(err)), -EINVAL);
}

static void test_disk_lock_two_writable(void **state)
{
	struct disk_fixture *f = *state;
	char err[128] = "";

	TEST_ASSERT_EQ(disk_open(&f->a, f->path, false, err, sizeof(err)), 0);
	/* OFD locks belong to the open file description: one process conflicts with itself. */
	TEST_ASSERT_EQ(disk_open(&f->b, f->path, false, err, sizeof(err)), -EAGAIN);
	TEST_ASSERT(!strcmp(err, LOCKED_MSG), "err is \"%s\"", err);
	TEST_ASSERT_EQ(f->b.fd, -1);
	TEST_ASSERT_EQ(disk_open(&f->b, f->path, true, err, sizeof(err)), -EAGAIN);

	/* Unlike a POSIX lock, closing another descriptor of the file keeps it. */
	close(open(f->path, O_RDONLY | O_CLOEXEC));
	TEST_ASSERT_EQ(disk_open(&f->b, f->path, false, err, sizeof(err)), -EAGAIN);

	/* Closing the disk drops it. */
	disk_close(&f->a);
	TEST_ASSERT_EQ(f->a.fd, -1);
	TEST_ASSERT_EQ(disk_open(&f->b, f->path, false, err, sizeof(err)), 0);
}

static void test_disk_lock_readonly_then_writable(void **state)
{
	struct disk_fixture *f = *state;
	struct disk c;

	TEST_ASSERT_EQ(disk_open(&f->a, f->path, true, NULL, 0), 0);
	TEST_ASSERT_EQ(disk_open(&f->b, f->path, true, NULL, 0), 0);
	TEST_ASSERT_EQ(disk_open(&c, f->path, false, NULL, 0), -EAGAIN);
	disk_close(&f->a);
	TEST_ASSERT_EQ(disk_open(&c, f->path, false, NULL, 0), -EAGAIN);
	disk_close(&f->b);
	TEST_ASSERT_EQ(disk_open(&c, f->path, false, NULL, 0), 0);
	disk_close(&c);
}

static int child_open_writable(void *path)
{
	struct disk d;
	char err[128];
	int r = disk_open(&d, path, false, err, sizeof(err));

	CHILD_CHECK(r == -EAGAIN);
	CHILD_CHECK(!strcmp(err, LOCKED_MSG));
	CHILD_CHECK(disk_open(&d, path, true, err, sizeof(err)) == -EAGAIN);
	return 0;
}

static void test_disk_lock_other_process(void **state)
{
	struct disk_fixture *f = *state;

	TEST_ASSERT_EQ(disk_open(&f->a, f->path, false, NULL, 0), 0);
	assert_child_ok(run_in_child(child_open_writable, f->path));
}

/*
 * QEMU (block/file-posix.c) takes shared OFD locks on byte 100 + n for each
 * permission n it holds (1: write) and tests byte 200 + n for a lock before
 * it takes permission n.
 */
static void test_disk_lock_against_qemu(void **state)
{
	struct disk_fixture *f = *state;
	struct flock qemu_write = {
		.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 101, .l_len = 1
	};
	struct flock probe = {
		.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 201, .l_len = 1
	};
	int qemu = open(f->path, O_RDWR | O_CLOEXEC);

	TEST_ASSERT(qemu >= 0, "open: %s", strerror(errno));
	/* A QEMU that writes: hutch must not open the image writable. */
	TEST_ASSERT_EQ(fcntl(qemu, F_OFD_SETLK, &qemu_write), 0);
	TEST_ASSERT_EQ(disk_open(&f->a, f->path, false, NULL, 0), -EAGAIN);
	qemu_write.l_type = F_UNLCK;
	TEST_ASSERT_EQ(fcntl(qemu, F_OFD_SETLK, &qemu_write), 0);

	/* hutch writes: QEMU cannot take its lock. */
	TEST_ASSERT_EQ(disk_open(&f->a, f->path, false, NULL, 0), 0);
	qemu_write.l_type = F_RDLCK;
	TEST_ASSERT_EQ(fcntl(qemu, F_OFD_SETLK, &qemu_write), -1);
	TEST_ASSERT(errno == EAGAIN || errno == EACCES, "errno %d", errno);
	disk_close(&f->a);

	/* hutch reads: QEMU's test before it writes finds a lock. */
	TEST_ASSERT_EQ(disk_open(&f->a, f->path, true, NULL, 0), 0);
	TEST_ASSERT_EQ(fcntl(qemu, F_OFD_GETLK, &probe), 0);
	TEST_ASSERT(probe.l_type != F_UNLCK, "QEMU would see no lock on byte 201");
	close(qemu);
}

/* ----------------------------------------------------- disk: working ---- */

static void test_disk_size_and_fields(void **state)
{
	struct disk_fixture *f = *state;
	struct stat st;
	int flags;

	TEST_ASSERT_EQ(truncate(f->path, 3 * DISK_SIZE + 512), 0);
	TEST_ASSERT_EQ(disk_open(&f->a, f->path, false, NULL, 0), 0);
	TEST_ASSERT_EQ(f->a.size, 3 * DISK_SIZE + 512);
	TEST_ASSERT(!f->a.readonly, "readonly");
	TEST_ASSERT_PTR_EQ(f->a.path, f->path);
	flags = fcntl(f->a.fd, F_GETFL);
	TEST_ASSERT_EQ(flags & (O_ACCMODE | O_NONBLOCK), O_RDWR);
	TEST_ASSERT(fcntl(f->a.fd, F_GETFD) & FD_CLOEXEC, "no FD_CLOEXEC");
	disk_close(&f->a);

	TEST_ASSERT_EQ(truncate(f->path, 0), 0);
	TEST_ASSERT_EQ(disk_open(&f->a, f->path, true, NULL, 0), 0);
	TEST_ASSERT_EQ(f->a.size, 0);
	TEST_ASSERT(f->a.readonly, "not readonly");
	TEST_ASSERT_EQ(fcntl(f->a.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	TEST_ASSERT_EQ(fstat(f->a.fd, &st), 0);
	TEST_ASSERT(S_ISREG(st.st_mode), "not the file");
	disk_close(&f->a);
	disk_close(&f->a); /* twice is harmless */
}

/* ------------------------------------------------------ aio fixtures ---- */

static enum blk_aio_engine engine_uring = BLK_AIO_URING;
static enum blk_aio_engine engine_threads = BLK_AIO_THREADS;

struct fixture;

struct req {
	struct blk_io io;
	struct fixture *f;
	struct iovec iov[8];
	int result;
	unsigned calls;
	unsigned order; /* completion order, from 0 */
};

struct fixture {
	enum blk_aio_engine engine;
	char path[256];
	struct disk disk;
	struct blk_aio *aio;
	bool in_submit; /* done must not run in here */
	unsigned completed;
	void (*then)(struct req *req); /* run by req_done(), for the resubmit test */
};

static int aio_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->engine = *(enum blk_aio_engine *)*state;
	make_file(f->path, sizeof(f->path), DISK_SIZE);
	if (disk_open(&f->disk, f->path, false, NULL, 0))
		return -1;
	*state = f;
	return 0;
}

static int aio_teardown(void **state)
{
	struct fixture *f = *state;

	blk_aio_destroy(f->aio);
	disk_close(&f->disk);
	unlink(f->path);
	free(f);
	return 0;
}

/* Creates the context on disk; skips the io_uring tests where the kernel refuses it. */
static struct blk_aio *aio_open(struct fixture *f, const struct disk *disk, unsigned depth)
{
	struct blk_aio *aio = blk_aio_create(disk, depth, f->engine);

	if (!aio && f->engine == BLK_AIO_URING && errno != EINVAL) {
		print_message("[   SKIP   ] io_uring unavailable: %s\n", strerror(errno));
		skip();
	}
	TEST_ASSERT(aio, "blk_aio_create: %s", strerror(errno));
	TEST_ASSERT(!strcmp(blk_aio_engine_name(aio),
			    f->engine == BLK_AIO_URING ? "io_uring" : "threads"),
		    "engine %s", blk_aio_engine_name(aio));
	return aio;
}

static void aio_start(struct fixture *f, unsigned depth)
{
	f->aio = aio_open(f, &f->disk, depth);
}

/*
 * Skips the test where the engine is unavailable, leaving no context and no
 * threads behind: a child forked from a process with threads may inherit
 * locks that no thread of its own will ever release.
 */
static void need_engine(struct fixture *f)
{
	blk_aio_destroy(aio_open(f, &f->disk, 1));
}

static void req_done(struct blk_io *io, int result)
{
	struct req *req = io->opaque;

	TEST_ASSERT(!req->f->in_submit, "done called from inside blk_aio_submit() or kick()");
	req->calls++;
	req->result = result;
	req->order = req->f->completed++;
	if (req->f->then)
		req->f->then(req);
}

static void req_init(struct fixture *f, struct req *req, enum blk_io_op op, uint64_t offset)
{
	memset(req, 0, sizeof(*req));
	req->f = f;
	req->result = 1; /* no result yet */
	req->io.op = op;
	req->io.offset = offset;
	req->io.iov = req->iov;
	req->io.done = req_done;
	req->io.opaque = req;
}

static void req_add(struct req *req, void *base, size_t len)
{
	TEST_ASSERT(req->io.iovcnt < ARRAY_LEN(req->iov), "test bug: too many iovecs");
	req->iov[req->io.iovcnt++] = (struct iovec){ base, len };
}

static int submit_on(struct fixture *f, struct blk_aio *aio, struct req *req)
{
	int r;

	f->in_submit = true;
	r = blk_aio_submit(aio, &req->io);
	f->in_submit = false;
	return r;
}

static int submit(struct fixture *f, struct req *req)
{
	return submit_on(f, f->aio, req);
}

static void kick(struct fixture *f)
{
	f->in_submit = true;
	blk_aio_kick(f->aio);
	f->in_submit = false;
}

/* Submits one request, waits for it and returns its result. */
static int run_req(struct fixture *f, struct req *req)
{
	TEST_ASSERT_EQ(submit(f, req), 0);
	kick(f);
	blk_aio_drain(f->aio);
	TEST_ASSERT_EQ(blk_aio_inflight(f->aio), 0);
	TEST_ASSERT_EQ(req->calls, 1);
	return req->result;
}

static int run_op(struct fixture *f, enum blk_io_op op, uint64_t offset, uint64_t len)
{
	struct req req;

	req_init(f, &req, op, offset);
	req.io.len = len;
	return run_req(f, &req);
}

/* ------------------------------------------------------- aio: hostile ---- */

static void test_aio_create_rejects(void **state)
{
	struct disk_fixture *f = *state;
	struct disk closed = { .fd = -1 };

	TEST_ASSERT_EQ(disk_open(&f->a, f->path, false, NULL, 0), 0);
	errno = 0;
	TEST_ASSERT_NULL(blk_aio_create(&f->a, 0, BLK_AIO_AUTO));
	TEST_ASSERT_EQ(errno, EINVAL);
	errno = 0;
	TEST_ASSERT_NULL(blk_aio_create(&f->a, 32769, BLK_AIO_THREADS));
	TEST_ASSERT_EQ(errno, EINVAL);
	errno = 0;
	TEST_ASSERT_NULL(blk_aio_create(&f->a, 8, (enum blk_aio_engine)7));
	TEST_ASSERT_EQ(errno, EINVAL);
	errno = 0;
	TEST_ASSERT_NULL(blk_aio_create(&closed, 8, BLK_AIO_AUTO));
	TEST_ASSERT_EQ(errno, EINVAL);
	blk_aio_destroy(NULL);
}

static void test_aio_submit_rejects(void **state)
{
	struct fixture *f = *state;
	struct disk ro;
	struct blk_aio *ro_aio;
	struct req req, reqs[BLK_IO_WRITE_ZEROES + 1];
	uint8_t buf[16];

	aio_start(f, 4);
	req_init(f, &req, (enum blk_io_op)42, 0);
	TEST_ASSERT_EQ(submit(f, &req), -EINVAL);
	req_init(f, &req, BLK_IO_READ, 0);
	req.io.done = NULL;
	TEST_ASSERT_EQ(submit(f, &req), -EINVAL);
	req_init(f, &req, BLK_IO_READ, 0);
	req.io.iovcnt = IOV_MAX + 1;
	TEST_ASSERT_EQ(submit(f, &req), -EINVAL);
	req_init(f, &req, BLK_IO_READ, (uint64_t)INT64_MAX - 8);
	req_add(&req, buf, sizeof(buf));
	TEST_ASSERT_EQ(submit(f, &req), -EINVAL);
	req_init(f, &req, BLK_IO_WRITE, 0);
	req_add(&req, buf, SIZE_MAX / 2);
	req_add(&req, buf, SIZE_MAX / 2);
	TEST_ASSERT_EQ(submit(f, &req), -EINVAL);
	req_init(f, &req, BLK_IO_DISCARD, UINT64_MAX - 4096);
	req.io.len = 8192;
	TEST_ASSERT_EQ(submit(f, &req), -EINVAL);
	TEST_ASSERT_EQ(blk_aio_inflight(f->aio), 0);

	/* A read-only disk refuses every write up front. */
	TEST_ASSERT_EQ(disk_open(&ro, f->path, true, NULL, 0), -EAGAIN);
	disk_close(&f->disk);
	TEST_ASSERT_EQ(disk_open(&ro, f->path, true, NULL, 0), 0);
	ro_aio = aio_open(f, &ro, 4);
	for (enum blk_io_op op = BLK_IO_READ; op <= BLK_IO_WRITE_ZEROES; op++) {
		req_init(f, &reqs[op], op, 0);
		req_add(&reqs[op], buf, sizeof(buf));
		reqs[op].io.len = sizeof(buf);
		TEST_ASSERT_EQ(submit_on(f, ro_aio, &reqs[op]),
			       op == BLK_IO_READ || op == BLK_IO_FLUSH ? 0 : -EROFS);
	}
	blk_aio_destroy(ro_aio);
	for (enum blk_io_op op = BLK_IO_READ; op <= BLK_IO_WRITE_ZEROES; op++) {
		bool ok = op == BLK_IO_READ || op == BLK_IO_FLUSH;

		TEST_ASSERT_EQ(reqs[op].calls, ok);
		TEST_ASSERT_EQ(reqs[op].result, ok ? 0 : 1);
	}
	disk_close(&ro);
	TEST_ASSERT_EQ(disk_open(&f->disk, f->path, false, NULL, 0), 0);
}

static void test_aio_read_past_eof(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[4096];
	struct req req;

	aio_start(f, 4);
	/* Straddling the end: a short read, then end of file. */
	req_init(f, &req, BLK_IO_READ, DISK_SIZE - 1000);
	req_add(&req, buf, 3000);
	req_add(&req, buf + 3000, 1096);
	TEST_ASSERT_EQ(run_req(f, &req), -EIO);
	/* Wholly past it. */
	req_init(f, &req, BLK_IO_READ, DISK_SIZE);
	req_add(&req, buf, 512);
	TEST_ASSERT_EQ(run_req(f, &req), -EIO);
	req_init(f, &req, BLK_IO_READ, 10ULL * DISK_SIZE);
	req_add(&req, buf, 1);
	TEST_ASSERT_EQ(run_req(f, &req), -EIO);
	/* Nothing to read is no error, wherever. */
	req_init(f, &req, BLK_IO_READ, 10ULL * DISK_SIZE);
	TEST_ASSERT_EQ(run_req(f, &req), 0);
	/* Up to the last byte exactly is fine. */
	req_init(f, &req, BLK_IO_READ, DISK_SIZE - sizeof(buf));
	req_add(&req, buf, sizeof(buf));
	TEST_ASSERT_EQ(run_req(f, &req), 0);
}

static void test_aio_depth_limit(void **state)
{
	struct fixture *f = *state;
	struct req reqs[5];
	uint8_t buf[5][512];

	aio_start(f, 4);
	for (unsigned i = 0; i < 5; i++) {
		req_init(f, &reqs[i], BLK_IO_READ, 512 * i);
		req_add(&reqs[i], buf[i], sizeof(buf[i]));
	}
	for (unsigned i = 0; i < 4; i++)
		TEST_ASSERT_EQ(submit(f, &reqs[i]), 0);
	TEST_ASSERT_EQ(blk_aio_inflight(f->aio), 4);
	TEST_ASSERT_EQ(submit(f, &reqs[4]), -EAGAIN);
	kick(f);
	/* Still full until done has been called, whatever the kernel finished. */
	usleep(10000);
	TEST_ASSERT_EQ(submit(f, &reqs[4]), -EAGAIN);
	TEST_ASSERT_EQ(blk_aio_inflight(f->aio), 4);
	blk_aio_drain(f->aio);
	TEST_ASSERT_EQ(blk_aio_inflight(f->aio), 0);
	for (unsigned i = 0; i < 4; i++)
		TEST_ASSERT_EQ(reqs[i].calls, 1);
	TEST_ASSERT_EQ(reqs[4].calls, 0);
	TEST_ASSERT_EQ(run_req(f, &reqs[4]), 0);
}

/* A write that the file size limit cuts short: what fits is written, then EFBIG. */
static int child_short_write(void *opaque)
{
	struct fixture *f = opaque;
	struct rlimit lim = { .rlim_cur = DISK_SIZE + 1000, .rlim_max = RLIM_INFINITY };
	struct blk_aio *aio = blk_aio_create(&f->disk, 4, f->engine);
	struct req req;
	uint8_t buf[3000], back[1000];

	/* A context of its own: the parent's worker threads do not exist in a child. */
	CHILD_CHECK(aio);
	signal(SIGXFSZ, SIG_IGN);
	CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	req_init(f, &req, BLK_IO_WRITE, DISK_SIZE - 500);
	fill(buf, sizeof(buf), DISK_SIZE - 500, 3);
	req.iov[0] = (struct iovec){ buf, 700 };
	req.iov[1] = (struct iovec){ buf + 700, 2300 };
	req.io.iovcnt = 2;
	CHILD_CHECK(blk_aio_submit(aio, &req.io) == 0);
	blk_aio_kick(aio);
	blk_aio_drain(aio);
	CHILD_CHECK(req.calls == 1);
	CHILD_CHECK(req.result == -EFBIG);
	CHILD_CHECK(pread(f->disk.fd, back, 1000, DISK_SIZE - 500) == 1000);
	CHILD_CHECK(!memcmp(back, buf, 1000));
	blk_aio_destroy(aio);
	return 0;
}

static void test_aio_short_write_then_error(void **state)
{
	struct fixture *f = *state;

	need_engine(f);
	assert_child_ok(run_in_child(child_short_write, f));
}

/* -------------------------------------------------------- aio: working ---- */

#define RW_LEN 70157 /* the sum of either set of iovec lengths */

static void test_aio_write_read_iovecs(void **state)
{
	struct fixture *f = *state;
	static const size_t wlen[] = { 1, 511, 4099, 0, 7, 65536, 3 };
	static const size_t rlen[] = { 4096, 3, 0, 60000, 5000, 1, 1057 };
	uint8_t *data = malloc(RW_LEN), *back = calloc(1, RW_LEN);
	const uint64_t offset = 12345;
	struct req req;
	size_t at = 0;

	TEST_ASSERT(data && back, "malloc");
	aio_start(f, 8);
	fill(data, RW_LEN, offset, 1);
	req_init(f, &req, BLK_IO_WRITE, offset);
	for (unsigned i = 0; i < ARRAY_LEN(wlen); at += wlen[i++])
		req_add(&req, data + at, wlen[i]);
	TEST_ASSERT_EQ(at, RW_LEN);
	TEST_ASSERT_EQ(run_req(f, &req), 0);
	check_file(f->disk.fd, offset, RW_LEN, 1);

	req_init(f, &req, BLK_IO_READ, offset);
	at = 0;
	for (unsigned i = 0; i < ARRAY_LEN(rlen); at += rlen[i++])
		req_add(&req, back + at, rlen[i]);
	TEST_ASSERT_EQ(at, RW_LEN);
	TEST_ASSERT_EQ(run_req(f, &req), 0);
	TEST_ASSERT(!memcmp(data, back, RW_LEN), "read back differs");
	/* The request is the caller's again and untouched where it is the caller's. */
	TEST_ASSERT_EQ(req.io.iovcnt, ARRAY_LEN(rlen));
	TEST_ASSERT_PTR_EQ(req.io.iov, req.iov);
	TEST_ASSERT_EQ(req.iov[1].iov_len, 3);
	free(data);
	free(back);
}

/*
 * Linux moves at most MAX_RW_COUNT bytes per read, so a read of more comes
 * back short in the middle of an iovec and must be continued. A sparse
 * tmpfs file reads from the zero page: no memory is used for the 2 GiB.
 */
static void test_aio_huge_read_continues(void **state)
{
	struct fixture *f = *state;
	const size_t chunk = 2100003; /* odd, so that the cut is mid-iovec */
	const unsigned n = 1023;
	const uint64_t total = (uint64_t)chunk * n + 4096;
	struct disk mem = { .fd = memfd_create("hutch-test", MFD_CLOEXEC) };
	uint8_t *scratch = malloc(chunk), marker[4096], back[4096];
	struct iovec *iov = calloc(n + 1, sizeof(*iov));
	struct blk_aio *aio;
	struct req req;

	TEST_ASSERT(mem.fd >= 0 && scratch && iov, "memfd_create or malloc");
	TEST_ASSERT(total > MAX_RW_COUNT, "test bug: total %#" PRIx64, total);
	TEST_ASSERT_EQ(ftruncate(mem.fd, (off_t)total), 0);
	fill(marker, sizeof(marker), total - 4096, 9);
	TEST_ASSERT_EQ(pwrite(mem.fd, marker, sizeof(marker), (off_t)(total - 4096)), 4096);
	for (unsigned i = 0; i < n; i++)
		iov[i] = (struct iovec){ scratch,
					 chunk }; /* the kernel may write one buffer often */
	iov[n] = (struct iovec){ back, sizeof(back) };

	aio = aio_open(f, &mem, 2);
	req_init(f, &req, BLK_IO_READ, 0);
	req.io.iov = iov;
	req.io.iovcnt = n + 1;
	TEST_ASSERT_EQ(submit_on(f, aio, &req), 0);
	blk_aio_kick(aio);
	blk_aio_drain(aio);
	TEST_ASSERT_EQ(req.calls, 1);
	TEST_ASSERT_EQ(req.result, 0);
	TEST_ASSERT(!memcmp(marker, back, sizeof(back)), "the last iovec was not read");
	TEST_ASSERT_EQ(iov[0].iov_len, chunk); /* the caller's array is const */
	blk_aio_destroy(aio);
	close(mem.fd);
	free(iov);
	free(scratch);
}

static void test_aio_flush(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[4096];
	struct req req;

	aio_start(f, 4);
	fill(buf, sizeof(buf), 0, 2);
	req_init(f, &req, BLK_IO_WRITE, 0);
	req_add(&req, buf, sizeof(buf));
	TEST_ASSERT_EQ(run_req(f, &req), 0);
	TEST_ASSERT_EQ(run_op(f, BLK_IO_FLUSH, 0, 0), 0);
	check_file(f->disk.fd, 0, sizeof(buf), 2);
}

/* Writes the pattern over the whole disk. */
static void fill_disk(struct fixture *f, unsigned seed)
{
	uint8_t *buf = malloc(DISK_SIZE);

	TEST_ASSERT(buf, "malloc");
	fill(buf, DISK_SIZE, 0, seed);
	TEST_ASSERT_EQ(pwrite(f->disk.fd, buf, DISK_SIZE, 0), DISK_SIZE);
	TEST_ASSERT_EQ(fsync(f->disk.fd), 0);
	free(buf);
}

static void test_aio_discard(void **state)
{
	struct fixture *f = *state;
	struct stat before, after;

	aio_start(f, 4);
	fill_disk(f, 4);
	TEST_ASSERT_EQ(fstat(f->disk.fd, &before), 0);
	TEST_ASSERT_EQ(run_op(f, BLK_IO_DISCARD, 65536, 256 * 1024), 0);
	TEST_ASSERT_EQ(run_op(f, BLK_IO_DISCARD, 4096, 0), 0);
	TEST_ASSERT_EQ(fstat(f->disk.fd, &after), 0);
	/* ext4, xfs, btrfs and tmpfs punch holes: the range reads back as zeroes. */
	check_file(f->disk.fd, 0, 65536, 4);
	check_file(f->disk.fd, 65536, 256 * 1024, -1);
	check_file(f->disk.fd, 65536 + 256 * 1024, DISK_SIZE - 65536 - 256 * 1024, 4);
	TEST_ASSERT_EQ(after.st_size, DISK_SIZE);
	TEST_ASSERT(after.st_blocks < before.st_blocks, "no space freed: %ld -> %ld blocks",
		    (long)before.st_blocks, (long)after.st_blocks);
}

static void test_aio_write_zeroes(void **state)
{
	struct fixture *f = *state;

	aio_start(f, 4);
	fill_disk(f, 5);
	/* Unaligned at both ends: the file system zeroes partial blocks itself. */
	TEST_ASSERT_EQ(run_op(f, BLK_IO_WRITE_ZEROES, 1000, 70000), 0);
	TEST_ASSERT_EQ(run_op(f, BLK_IO_WRITE_ZEROES, 4096, 0), 0);
	check_file(f->disk.fd, 0, 1000, 5);
	check_file(f->disk.fd, 1000, 70000, -1);
	check_file(f->disk.fd, 71000, DISK_SIZE - 71000, 5);
	TEST_ASSERT_EQ(lseek(f->disk.fd, 0, SEEK_END), DISK_SIZE);
}

/*
 * Runs WRITE_ZEROES twice on a disk made from fd, the second time after the
 * engine learnt which method the file system refuses, each over more than
 * one chunk of zeroes the engine writes where it must.
 */
static int zero_twice(struct fixture *f, int fd)
{
	static const uint64_t range[2][2] = { { 777, 2 * ZSIZE / 3 }, { 5000, ZSIZE / 2 + 1 } };
	struct disk d = { .fd = fd, .size = ZSIZE };
	struct blk_aio *aio = blk_aio_create(&d, 4, f->engine);
	uint8_t *buf = malloc(ZSIZE), *back = malloc(ZSIZE);
	struct req req;

	CHILD_CHECK(aio && buf && back);
	for (unsigned i = 0; i < 2; i++) {
		fill(buf, ZSIZE, 0, 6 + i);
		CHILD_CHECK(pwrite(fd, buf, ZSIZE, 0) == ZSIZE);
		req_init(f, &req, BLK_IO_WRITE_ZEROES, range[i][0]);
		req.io.len = range[i][1];
		CHILD_CHECK(blk_aio_submit(aio, &req.io) == 0);
		blk_aio_kick(aio);
		blk_aio_drain(aio);
		CHILD_CHECK(req.calls == 1 && req.result == 0);
		CHILD_CHECK(pread(fd, back, ZSIZE, 0) == ZSIZE);
		memset(buf + range[i][0], 0, range[i][1]);
		CHILD_CHECK(!memcmp(back, buf, ZSIZE));
		CHILD_CHECK(lseek(fd, 0, SEEK_END) == ZSIZE);
	}
	blk_aio_destroy(aio);
	free(buf);
	free(back);
	return 0;
}

/* tmpfs has no FALLOC_FL_ZERO_RANGE: WRITE_ZEROES falls back to punching a hole. */
static int child_zeroes_tmpfs(void *opaque)
{
	int fd = memfd_create("hutch-test", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, ZSIZE) < 0)
		return CHILD_SKIP;
	return zero_twice(opaque, fd);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = -1;

	if (fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text))
		r = 0;
	if (fd >= 0)
		close(fd);
	return r;
}

/* A mount namespace of our own: as root, or else inside a user namespace as its root. */
static int enter_mount_namespace(void)
{
	char map[64];
	uid_t uid = getuid();
	gid_t gid = getgid();

	if (unshare(CLONE_NEWNS) == 0)
		return 0;
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return -1;
	/* user_namespaces(7): setgroups must be denied before an unprivileged gid_map. */
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	if (write_file("/proc/self/setgroups", "deny") < 0 ||
	    write_file("/proc/self/uid_map", map) < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	return write_file("/proc/self/gid_map", map);
}

/* ramfs has no fallocate at all: WRITE_ZEROES falls back to writing zeroes. */
static int child_zeroes_ramfs(void *opaque)
{
	struct fixture *f = opaque;
	char dir[300], file[320];
	int fd;

	snprintf(dir, sizeof(dir), "%s.mnt", f->path);
	snprintf(file, sizeof(file), "%s/disk", dir);
	if (mkdir(dir, 0700) < 0)
		return CHILD_SKIP;
	/* Only this child's mount namespace sees the mount; it goes when the child exits. */
	if (enter_mount_namespace() < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("hutch-test", dir, "ramfs", 0, NULL) < 0) {
		rmdir(dir);
		return CHILD_SKIP;
	}
	fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	CHILD_CHECK(fd >= 0);
	CHILD_CHECK(ftruncate(fd, ZSIZE) == 0);
	CHILD_CHECK(zero_twice(f, fd) == 0);
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	return 0;
}

static void test_aio_write_zeroes_fallbacks(void **state)
{
	struct fixture *f = *state;

	need_engine(f);
	assert_child_ok(run_in_child(child_zeroes_tmpfs, f));
	assert_child_ok(run_in_child(child_zeroes_ramfs, f));
}

/* Submits N requests over the N slots of the disk: op, with a FLUSH first if flush_first. */
static void submit_slots(struct fixture *f, struct req *reqs, enum blk_io_op op, uint8_t *base,
			 bool flush_first)
{
	enum { N = 64, SLOT = DISK_SIZE / N };

	for (unsigned i = 0; i < N; i++) {
		/* Sizes from 1 byte to a whole slot, so that some finish early. */
		size_t len = i % 3 == 0 ? SLOT : 1 + (i * 977) % SLOT;

		req_init(f, &reqs[i], i == 0 && flush_first ? BLK_IO_FLUSH : op,
			 (uint64_t)i * SLOT);
		req_add(&reqs[i], base + (size_t)i * SLOT, len / 2);
		req_add(&reqs[i], base + (size_t)i * SLOT + len / 2, len - len / 2);
		TEST_ASSERT_EQ(submit(f, &reqs[i]), 0);
	}
}

/* Waits for all N, each of which must complete once, successfully; true if in order. */
static bool wait_slots(struct fixture *f, struct req *reqs, unsigned n)
{
	uint64_t seen = 0;
	bool in_order = true;

	f->completed = 0;
	TEST_ASSERT_EQ(blk_aio_inflight(f->aio), n);
	kick(f);
	blk_aio_drain(f->aio);
	TEST_ASSERT_EQ(f->completed, n);
	for (unsigned i = 0; i < n; i++) {
		TEST_ASSERT_EQ(reqs[i].calls, 1);
		TEST_ASSERT_EQ(reqs[i].result, 0);
		TEST_ASSERT(!(seen & (1ULL << reqs[i].order)), "order %u twice", reqs[i].order);
		seen |= 1ULL << reqs[i].order;
		in_order &= reqs[i].order == i;
	}
	return in_order;
}

static void test_aio_many_in_flight(void **state)
{
	struct fixture *f = *state;
	enum { N = 64, SLOT = DISK_SIZE / N };
	struct req *reqs = calloc(N, sizeof(*reqs));
	uint8_t *data = malloc(DISK_SIZE), *back = calloc(1, DISK_SIZE);
	struct req extra;
	bool in_order;

	TEST_ASSERT(reqs && data && back, "malloc");
	aio_start(f, N);
	fill(data, DISK_SIZE, 0, 7);
	submit_slots(f, reqs, BLK_IO_WRITE, data, false);
	req_init(f, &extra, BLK_IO_FLUSH, 0);
	TEST_ASSERT_EQ(submit(f, &extra), -EAGAIN);
	wait_slots(f, reqs, N);
	/*
	 * A flush of the megabyte just written, ahead of the reads: it takes
	 * milliseconds where they take microseconds, so they are likely (not
	 * certain) to overtake it, on a worker thread or in io-wq.
	 */
	submit_slots(f, reqs, BLK_IO_READ, back, true);
	in_order = wait_slots(f, reqs, N);
	check_file(f->disk.fd, 0, SLOT, 7); /* slot 0, which the flush did not read */
	for (unsigned i = 1; i < N; i++) {
		size_t len = reqs[i].iov[0].iov_len + reqs[i].iov[1].iov_len;

		TEST_ASSERT(!memcmp(data + (size_t)i * SLOT, back + (size_t)i * SLOT, len),
			    "request %u read back wrong", i);
	}
	print_message("[   INFO   ] %s: completions %s (the flush was #%u of %u)\n",
		      blk_aio_engine_name(f->aio),
		      in_order ? "in submission order" : "out of order", reqs[0].order, N);
	free(reqs);
	free(data);
	free(back);
}

static void test_aio_eventfd_and_complete(void **state)
{
	struct fixture *f = *state;
	struct pollfd pfd = { .events = POLLIN };
	uint8_t buf[8][4096];
	struct req reqs[8];
	unsigned done = 0;

	aio_start(f, 8);
	pfd.fd = blk_aio_fd(f->aio);
	TEST_ASSERT_EQ(poll(&pfd, 1, 0), 0);
	TEST_ASSERT_EQ(blk_aio_complete(f->aio), 0);
	for (unsigned i = 0; i < 8; i++) {
		req_init(f, &reqs[i], i % 2 ? BLK_IO_READ : BLK_IO_WRITE, 4096 * i);
		req_add(&reqs[i], buf[i], sizeof(buf[i]));
		TEST_ASSERT_EQ(submit(f, &reqs[i]), 0);
	}
	kick(f);
	/* As an I/O thread's event loop would: wait, then reap, until all are done. */
	while (done < 8) {
		TEST_ASSERT_EQ(poll(&pfd, 1, 5000), 1);
		TEST_ASSERT(pfd.revents & POLLIN, "revents %#x", pfd.revents);
		done += blk_aio_complete(f->aio);
		TEST_ASSERT_EQ(blk_aio_inflight(f->aio), 8 - done);
	}
	TEST_ASSERT_EQ(done, 8);
	for (unsigned i = 0; i < 8; i++)
		TEST_ASSERT(reqs[i].calls == 1 && reqs[i].result == 0, "request %u", i);
	/* Reaped: quiet again. */
	TEST_ASSERT_EQ(blk_aio_complete(f->aio), 0);
	TEST_ASSERT_EQ(poll(&pfd, 1, 0), 0);
}

static void resubmit_then(struct req *req)
{
	/* done may queue more work: here, the next 512 bytes, 16 times over. */
	if (req->io.offset < 15 * 512) {
		req->io.offset += 512;
		TEST_ASSERT_EQ(submit(req->f, req), 0);
		kick(req->f);
	}
}

static void test_aio_done_may_resubmit(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[512];
	struct req req;

	aio_start(f, 1);
	f->then = resubmit_then;
	req_init(f, &req, BLK_IO_WRITE, 0);
	fill(buf, sizeof(buf), 0, 8);
	req_add(&req, buf, sizeof(buf));
	TEST_ASSERT_EQ(submit(f, &req), 0);
	kick(f);
	blk_aio_drain(f->aio);
	TEST_ASSERT_EQ(req.calls, 16);
	TEST_ASSERT_EQ(req.result, 0);
	TEST_ASSERT_EQ(blk_aio_inflight(f->aio), 0);
}

static void test_aio_destroy_drains(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[4][4096];
	struct req reqs[4];

	aio_start(f, 4);
	for (unsigned i = 0; i < 4; i++) {
		req_init(f, &reqs[i], BLK_IO_READ, 8192 * i);
		req_add(&reqs[i], buf[i], sizeof(buf[i]));
		TEST_ASSERT_EQ(submit(f, &reqs[i]), 0);
	}
	/* Two kicked, two only queued: all complete before destroy returns. */
	kick(f);
	blk_aio_destroy(f->aio);
	f->aio = NULL;
	for (unsigned i = 0; i < 4; i++)
		TEST_ASSERT(reqs[i].calls == 1 && reqs[i].result == 0, "request %u", i);
}

/* ------------------------------------------------- engine selection ---- */

static void test_aio_auto_prefers_io_uring(void **state)
{
	struct disk_fixture *f = *state;
	struct blk_aio *uring, *any;

	TEST_ASSERT_EQ(disk_open(&f->a, f->path, false, NULL, 0), 0);
	uring = blk_aio_create(&f->a, 8, BLK_AIO_URING);
	any = blk_aio_create(&f->a, 8, BLK_AIO_AUTO);
	TEST_ASSERT(any, "AUTO: %s", strerror(errno));
	TEST_ASSERT(!strcmp(blk_aio_engine_name(any), uring ? "io_uring" : "threads"),
		    "AUTO chose %s", blk_aio_engine_name(any));
	print_message("[   INFO   ] io_uring is %savailable here\n", uring ? "" : "not ");
	blk_aio_destroy(uring);
	blk_aio_destroy(any);
}

/* With io_uring_setup() refused as a seccomp filter would, AUTO uses the threads. */
static int child_no_io_uring(void *opaque)
{
	struct disk_fixture *f = opaque;
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = ARRAY_LEN(filter), .filter = filter };
	struct blk_aio *aio;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return CHILD_SKIP;
	errno = 0;
	CHILD_CHECK(!blk_aio_create(&f->a, 8, BLK_AIO_URING));
	CHILD_CHECK(errno == EPERM);
	aio = blk_aio_create(&f->a, 8, BLK_AIO_AUTO);
	CHILD_CHECK(aio);
	CHILD_CHECK(!strcmp(blk_aio_engine_name(aio), "threads"));
	blk_aio_destroy(aio);
	return 0;
}

static void test_aio_falls_back_without_io_uring(void **state)
{
	struct disk_fixture *f = *state;

	TEST_ASSERT_EQ(disk_open(&f->a, f->path, false, NULL, 0), 0);
	assert_child_ok(run_in_child(child_no_io_uring, f));
}

#define D(fn)	   cmocka_unit_test_setup_teardown(fn, disk_setup, disk_teardown)
#define A(fn, eng) cmocka_unit_test_prestate_setup_teardown(fn, aio_setup, aio_teardown, &eng)
#define BOTH(fn)   A(fn, engine_uring), A(fn, engine_threads)

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* hostile first */
		D(test_disk_open_missing),
		D(test_disk_open_directory),
		D(test_disk_open_fifo_does_not_block),
		D(test_disk_lock_two_writable),
		D(test_disk_lock_readonly_then_writable),
		D(test_disk_lock_other_process),
		D(test_disk_lock_against_qemu),
		D(test_aio_create_rejects),
		BOTH(test_aio_submit_rejects),
		BOTH(test_aio_read_past_eof),
		BOTH(test_aio_depth_limit),
		BOTH(test_aio_short_write_then_error),
		/* then what must work */
		D(test_disk_size_and_fields),
		D(test_aio_auto_prefers_io_uring),
		D(test_aio_falls_back_without_io_uring),
		BOTH(test_aio_write_read_iovecs),
		BOTH(test_aio_huge_read_continues),
		BOTH(test_aio_flush),
		BOTH(test_aio_discard),
		BOTH(test_aio_write_zeroes),
		BOTH(test_aio_write_zeroes_fallbacks),
		BOTH(test_aio_many_in_flight),
		BOTH(test_aio_eventfd_and_complete),
		BOTH(test_aio_done_may_resubmit),
		BOTH(test_aio_destroy_drains),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

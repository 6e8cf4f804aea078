/* Unit tests for vmm/evloop.c: calls onto the I/O thread, handlers added and deleted under it. */
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "vmm/evloop.h"

#define WAIT_MS 5000 /* for what must happen; a miss fails the test, not hangs it */

struct fixture {
	struct evloop *loop;
	int fds[4];
};

static int new_eventfd(void)
{
	return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	TEST_ASSERT(write(fd, &one, sizeof(one)) == sizeof(one), "eventfd write");
}

static bool readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1;
}

static void drain(int fd)
{
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0) {
		/* not readable: fine */
	}
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Waits until *v reaches want; false after WAIT_MS. */
static bool wait_for(atomic_uint *v, unsigned want)
{
	for (unsigned ms = 0; ms < WAIT_MS; ms++) {
		if (atomic_load(v) >= want)
			return true;
		sleep_ms(1);
	}
	return atomic_load(v) >= want;
}

static void noop(void *opaque)
{
	(void)opaque;
}

/* Two round trips: every batch of events that was ready before has been handled. */
static void settle(struct evloop *loop)
{
	evloop_call(loop, noop, NULL);
	evloop_call(loop, noop, NULL);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->loop = evloop_create("test-evloop");
	if (!f->loop)
		return -1;
	for (unsigned i = 0; i < ARRAY_LEN(f->fds); i++) {
		f->fds[i] = new_eventfd();
		if (f->fds[i] < 0)
			return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	evloop_destroy(f->loop);
	for (unsigned i = 0; i < ARRAY_LEN(f->fds); i++)
		close(f->fds[i]);
	free(f);
	return 0;
}

/* ----------------------------------------------------------- handlers ---- */

struct counter {
	struct evloop *loop;
	int fd;
	atomic_uint runs;
	atomic_uint off_thread; /* runs not on the loop's thread */
	atomic_bool running;
	unsigned hold_ms; /* how long each run takes */
};

static void count_and_drain(void *opaque)
{
	struct counter *c = opaque;

	atomic_store(&c->running, true);
	if (!evloop_on_thread(c->loop))
		atomic_fetch_add(&c->off_thread, 1);
	drain(c->fd);
	if (c->hold_ms)
		sleep_ms(c->hold_ms);
	atomic_fetch_add(&c->runs, 1);
	atomic_store(&c->running, false);
}

static void test_add_rejects_bad_fds(void **state)
{
	struct fixture *f = *state;
	struct counter c = { .loop = f->loop, .fd = f->fds[0] };
	int pipefd[2];

	TEST_ASSERT_EQ(evloop_add(f->loop, -1, count_and_drain, &c), -EBADF);
	TEST_ASSERT_EQ(evloop_add(f->loop, 999999, count_and_drain, &c), -EBADF);
	TEST_ASSERT_EQ(evloop_add(f->loop, f->fds[0], count_and_drain, &c), 0);
	TEST_ASSERT_EQ(evloop_add(f->loop, f->fds[0], count_and_drain, &c), -EEXIST);
	TEST_ASSERT_EQ(evloop_del(f->loop, f->fds[1]), -ENOENT);
	TEST_ASSERT_EQ(evloop_del(f->loop, -1), -ENOENT);
	TEST_ASSERT_EQ(evloop_del(f->loop, f->fds[0]), 0);
	TEST_ASSERT_EQ(evloop_del(f->loop, f->fds[0]), -ENOENT);
	/* Once closed, an fd number can be watched again. */
	TEST_ASSERT_EQ(pipe(pipefd), 0);
	TEST_ASSERT_EQ(evloop_add(f->loop, pipefd[0], count_and_drain, &c), 0);
	TEST_ASSERT_EQ(evloop_del(f->loop, pipefd[0]), 0);
	close(pipefd[0]);
	close(pipefd[1]);
	TEST_ASSERT_EQ(atomic_load(&c.runs), 0);
}

static void test_add_and_del_from_another_thread(void **state)
{
	struct fixture *f = *state;
	struct counter c = { .loop = f->loop, .fd = f->fds[0] };

	TEST_ASSERT(!evloop_on_thread(f->loop), "the test thread is the loop's");
	TEST_ASSERT_EQ(evloop_add(f->loop, c.fd, count_and_drain, &c), 0);
	signal_fd(c.fd);
	TEST_ASSERT(wait_for(&c.runs, 1), "handler did not run");
	signal_fd(c.fd);
	TEST_ASSERT(wait_for(&c.runs, 2), "handler did not run again");
	TEST_ASSERT_EQ(atomic_load(&c.off_thread), 0);
	TEST_ASSERT_EQ(evloop_del(f->loop, c.fd), 0);
	signal_fd(c.fd);
	settle(f->loop);
	sleep_ms(20);
	TEST_ASSERT_EQ(atomic_load(&c.runs), 2);
	TEST_ASSERT(readable(c.fd), "a deleted handler drained its fd");
	TEST_ASSERT(!atomic_load(&c.running), "a deleted handler runs");
	/* Added again, the pending signal is seen (level-triggered). */
	TEST_ASSERT_EQ(evloop_add(f->loop, c.fd, count_and_drain, &c), 0);
	TEST_ASSERT(wait_for(&c.runs, 3), "pending signal lost");
}

/* "once evloop_del() returns, fn is not running and will not run again" */
static void test_del_waits_for_running_handler(void **state)
{
	struct fixture *f = *state;
	struct counter c = { .loop = f->loop, .fd = f->fds[0], .hold_ms = 100 };

	TEST_ASSERT_EQ(evloop_add(f->loop, c.fd, count_and_drain, &c), 0);
	signal_fd(c.fd);
	for (unsigned ms = 0; ms < WAIT_MS && !atomic_load(&c.running); ms++)
		sleep_ms(1);
	TEST_ASSERT(atomic_load(&c.running), "handler never started");
	TEST_ASSERT_EQ(evloop_del(f->loop, c.fd), 0);
	TEST_ASSERT(!atomic_load(&c.running), "evloop_del() returned while fn runs");
	TEST_ASSERT_EQ(atomic_load(&c.runs), 1);
}

/* A handler whose fd never stops being readable does not starve calls. */
static void test_busy_handler_does_not_starve_calls(void **state)
{
	struct fixture *f = *state;
	struct counter c = { .loop = f->loop, .fd = -1 }; /* drains nothing */
	atomic_uint calls = 0;

	signal_fd(f->fds[0]);
	TEST_ASSERT_EQ(evloop_add(f->loop, f->fds[0], count_and_drain, &c), 0);
	TEST_ASSERT(wait_for(&c.runs, 10), "busy handler not run");
	for (unsigned i = 0; i < 100; i++) {
		evloop_call(f->loop, noop, NULL);
		atomic_fetch_add(&calls, 1);
	}
	TEST_ASSERT_EQ(atomic_load(&calls), 100);
	TEST_ASSERT_EQ(evloop_del(f->loop, f->fds[0]), 0);
}

/* --------------------------------------------------- the same batch ---- */

struct batch {
	struct evloop *loop;
	int fd_a, fd_b, fd_c;
	struct counter b, c;
	atomic_uint a_runs;
	int add_a, add_b, del_b, add_c, del_a;
};

static void handler_c(void *opaque)
{
	struct batch *t = opaque;

	/* Its fd is never written before the checks: a run is a stale event. */
	if (readable(t->fd_c))
		count_and_drain(&t->c);
	else
		atomic_fetch_add(&t->c.off_thread, 100);
}

/*
 * Fills this thread's malloc cache for handler-sized chunks, so that the
 * next free() of a handler goes where the next calloc() takes from: with
 * glibc, a handler added right after one was deleted then gets the same
 * address. A loop that compares stale event pointers with live handlers
 * would take that new handler for the deleted one.
 */
static void make_next_calloc_reuse(void)
{
	void *p[16];

	for (unsigned i = 0; i < ARRAY_LEN(p); i++)
		p[i] = malloc(32);
	for (unsigned i = 0; i < ARRAY_LEN(p); i++)
		free(p[i]);
}

static void handler_a(void *opaque)
{
	struct batch *t = opaque;

	atomic_fetch_add(&t->a_runs, 1);
	drain(t->fd_a);
	make_next_calloc_reuse();
	t->del_b = evloop_del(t->loop, t->fd_b);
	t->add_c = evloop_add(t->loop, t->fd_c, handler_c, t);
	t->del_a = evloop_del(t->loop, t->fd_a); /* itself */
}

static void arm_a_then_b(void *opaque)
{
	struct batch *t = opaque;

	/* Both readable before they are added: one epoll batch reports a, then b. */
	signal_fd(t->fd_a);
	signal_fd(t->fd_b);
	t->add_a = evloop_add(t->loop, t->fd_a, handler_a, t);
	t->add_b = evloop_add(t->loop, t->fd_b, count_and_drain, &t->b);
}

static void test_handler_deletes_others_in_same_batch(void **state)
{
	struct fixture *f = *state;
	struct batch *t = calloc(1, sizeof(*t));

	TEST_ASSERT(t, "calloc");
	*t = (struct batch){ .loop = f->loop,
			     .fd_a = f->fds[0],
			     .fd_b = f->fds[1],
			     .fd_c = f->fds[2],
			     .b = { .loop = f->loop, .fd = f->fds[1] },
			     .c = { .loop = f->loop, .fd = f->fds[2] } };
	evloop_call(f->loop, arm_a_then_b, t);
	TEST_ASSERT_EQ(t->add_a, 0);
	TEST_ASSERT_EQ(t->add_b, 0);
	TEST_ASSERT(wait_for(&t->a_runs, 1), "handler a did not run");
	settle(f->loop);
	TEST_ASSERT_EQ(t->del_b, 0);
	TEST_ASSERT_EQ(t->add_c, 0);
	TEST_ASSERT_EQ(t->del_a, 0);
	TEST_ASSERT_EQ(atomic_load(&t->a_runs), 1);
	TEST_ASSERT_EQ(atomic_load(&t->b.runs), 0);
	TEST_ASSERT_EQ(atomic_load(&t->c.off_thread), 0); /* c ran for b's event */
	TEST_ASSERT(readable(t->fd_b), "deleted handler b ran");
	/* c works as any handler, and a and b are gone. */
	signal_fd(t->fd_c);
	TEST_ASSERT(wait_for(&t->c.runs, 1), "handler c did not run");
	TEST_ASSERT_EQ(evloop_del(f->loop, t->fd_a), -ENOENT);
	TEST_ASSERT_EQ(evloop_del(f->loop, t->fd_b), -ENOENT);
	TEST_ASSERT_EQ(evloop_del(f->loop, t->fd_c), 0);
	free(t);
}

/* -------------------------------------------------------------- calls ---- */

struct call_probe {
	struct evloop *loop;
	bool on_thread, inner_ran, inner_on_thread;
	bool inner_ran_before_return, done;
};

static void inner_call(void *opaque)
{
	struct call_probe *p = opaque;

	p->inner_ran = true;
	p->inner_on_thread = evloop_on_thread(p->loop);
}

static void slow_call(void *opaque)
{
	struct call_probe *p = opaque;

	p->on_thread = evloop_on_thread(p->loop);
	sleep_ms(50);
	/* From the loop's own thread: runs at once, not deadlocked. */
	evloop_call(p->loop, inner_call, p);
	p->inner_ran_before_return = p->inner_ran;
	p->done = true;
}

static void test_call_runs_on_loop_thread_and_waits(void **state)
{
	struct fixture *f = *state;
	struct call_probe p = { .loop = f->loop };

	evloop_call(f->loop, slow_call, &p);
	TEST_ASSERT(p.done, "evloop_call() returned before fn did");
	TEST_ASSERT(p.on_thread, "fn ran off the loop thread");
	TEST_ASSERT(p.inner_ran_before_return, "nested call did not run directly");
	TEST_ASSERT(p.inner_on_thread, "nested fn ran off the loop thread");
}

struct caller {
	struct evloop *loop;
	unsigned *count; /* only ever touched on the loop thread */
	unsigned off_thread;
	unsigned n;
};

static void bump(void *opaque)
{
	struct caller *c = opaque;

	if (!evloop_on_thread(c->loop))
		c->off_thread++;
	(*c->count)++;
}

static void *call_many(void *arg)
{
	struct caller *c = arg;

	for (unsigned i = 0; i < c->n; i++)
		evloop_call(c->loop, bump, c);
	return NULL;
}

static void test_calls_from_many_threads(void **state)
{
	struct fixture *f = *state;
	struct counter h = { .loop = f->loop, .fd = f->fds[0] };
	struct caller callers[4];
	pthread_t threads[4];
	unsigned count = 0;

	/* A handler kept busy meanwhile. */
	TEST_ASSERT_EQ(evloop_add(f->loop, h.fd, count_and_drain, &h), 0);
	for (unsigned i = 0; i < 4; i++) {
		callers[i] = (struct caller){ f->loop, &count, 0, 2000 };
		TEST_ASSERT_EQ(pthread_create(&threads[i], NULL, call_many, &callers[i]), 0);
	}
	for (unsigned i = 0; i < 200; i++)
		signal_fd(h.fd);
	for (unsigned i = 0; i < 4; i++)
		pthread_join(threads[i], NULL);
	TEST_ASSERT_EQ(count, 4 * 2000);
	for (unsigned i = 0; i < 4; i++)
		TEST_ASSERT_EQ(callers[i].off_thread, 0);
	TEST_ASSERT(wait_for(&h.runs, 1), "handler starved");
}

/* ------------------------------------------------------------ destroy ---- */

static void test_destroy_with_handlers_registered(void **state)
{
	struct fixture *f = *state;
	struct counter c[3];
	struct evloop *loop = evloop_create("test-destroy");

	TEST_ASSERT(loop, "evloop_create");
	for (unsigned i = 0; i < 3; i++) {
		c[i] = (struct counter){ .loop = loop, .fd = f->fds[i] };
		TEST_ASSERT_EQ(evloop_add(loop, f->fds[i], count_and_drain, &c[i]), 0);
	}
	signal_fd(f->fds[0]);
	TEST_ASSERT(wait_for(&c[0].runs, 1), "handler did not run");
	signal_fd(f->fds[1]); /* may or may not run: destroy is allowed to drop it */
	signal_fd(f->fds[3]);
	TEST_ASSERT_EQ(evloop_add(loop, f->fds[3], noop, NULL), 0); /* readable, never drained */
	evloop_destroy(loop);
	/* The fds are the caller's, still open. */
	for (unsigned i = 0; i < 4; i++)
		TEST_ASSERT(fcntl(f->fds[i], F_GETFD) >= 0, "fd %u closed by destroy", i);
	TEST_ASSERT(readable(f->fds[3]), "fd 3 drained");
	evloop_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_rejects_bad_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handler_deletes_others_in_same_batch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_busy_handler_does_not_starve_calls, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_destroy_with_handlers_registered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_add_and_del_from_another_thread, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_del_waits_for_running_handler, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_call_runs_on_loop_thread_and_waits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_calls_from_many_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

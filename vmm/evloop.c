/* I/O threads: epoll loops that run device callbacks; everything else reaches them by evloop_call(). */
#include "vmm/evloop.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define EVLOOP_MAX_EVENTS 32

struct evloop_handler {
	int fd;
	evloop_fn *fn;
	void *opaque;
	struct evloop_handler *next;
};

struct evloop {
	pthread_t thread;
	int epoll_fd;
	int wake_fd; /* eventfd: a call is posted, or the loop must stop */
	bool stop;
	struct evloop_handler *handlers;
	struct evloop_handler *dead; /* deleted during this batch of events: freed after it */

	/* One evloop_call() at a time hands its function over here. */
	pthread_mutex_t call_lock;
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	evloop_fn *call_fn;
	void *call_opaque;
	bool call_done;

	/* With a poll hook, the loop poll()s the epoll fd with the hook's fds. */
	struct evloop_poll_hook hook;
	bool has_hook;
	struct evloop_pollset pollset;
};

struct add_args {
	struct evloop *loop;
	int fd;
	evloop_fn *fn;
	void *opaque;
	int ret;
};

/* On the loop thread: handlers change only here, so no handler runs while freed. */
static void evloop_add_on_thread(void *opaque)
{
	struct add_args *a = opaque;
	struct evloop_handler *h = calloc(1, sizeof(*h));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!h) {
		a->ret = -ENOMEM;
		return;
	}
	*h = (struct evloop_handler){ a->fd, a->fn, a->opaque, a->loop->handlers };
	ev.data.ptr = h;
	if (epoll_ctl(a->loop->epoll_fd, EPOLL_CTL_ADD, a->fd, &ev) < 0) {
		a->ret = -errno;
		free(h);
		return;
	}
	a->loop->handlers = h;
	a->ret = 0;
}

static void evloop_del_on_thread(void *opaque)
{
	struct add_args *a = opaque;
	struct evloop_handler **pp = &a->loop->handlers;

	a->ret = -ENOENT;
	for (; *pp; pp = &(*pp)->next) {
		struct evloop_handler *h = *pp;

		if (h->fd == a->fd) {
			epoll_ctl(a->loop->epoll_fd, EPOLL_CTL_DEL, h->fd, NULL);
			*pp = h->next;
			/* Events of this batch may still name it: disarm, free later. */
			h->fn = NULL;
			h->next = a->loop->dead;
			a->loop->dead = h;
			a->ret = 0;
			return;
		}
	}
}

int evloop_add(struct evloop *loop, int fd, evloop_fn *fn, void *opaque)
{
	struct add_args a = { loop, fd, fn, opaque, 0 };

	evloop_call(loop, evloop_add_on_thread, &a);
	return a.ret;
}

int evloop_del(struct evloop *loop, int fd)
{
	struct add_args a = { loop, fd, NULL, NULL, 0 };

	evloop_call(loop, evloop_del_on_thread, &a);
	return a.ret;
}

bool evloop_on_thread(const struct evloop *loop)
{
	return pthread_equal(pthread_self(), loop->thread);
}

void evloop_call(struct evloop *loop, evloop_fn *fn, void *opaque)
{
	uint64_t one = 1;

	if (evloop_on_thread(loop)) {
		fn(opaque);
		return;
	}
	pthread_mutex_lock(&loop->call_lock);
	pthread_mutex_lock(&loop->lock);
	loop->call_fn = fn;
	loop->call_opaque = opaque;
	loop->call_done = false;
	pthread_mutex_unlock(&loop->lock);
	while (write(loop->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&loop->lock);
	while (!loop->call_done)
		pthread_cond_wait(&loop->done_cond, &loop->lock);
	pthread_mutex_unlock(&loop->lock);
	pthread_mutex_unlock(&loop->call_lock);
}

static void evloop_run_call(struct evloop *loop)
{
	uint64_t n;
	evloop_fn *fn;
	void *opaque;

	if (read(loop->wake_fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&loop->lock);
	fn = loop->call_fn;
	opaque = loop->call_opaque;
	loop->call_fn = NULL;
	pthread_mutex_unlock(&loop->lock);
	if (!fn)
		return;
	fn(opaque);
	pthread_mutex_lock(&loop->lock);
	loop->call_done = true;
	pthread_cond_broadcast(&loop->done_cond);
	pthread_mutex_unlock(&loop->lock);
}

static void evloop_free_list(struct evloop_handler *h)
{
	while (h) {
		struct evloop_handler *next = h->next;

		free(h);
		h = next;
	}
}

int evloop_pollset_add(struct evloop_pollset *set, int fd, short events)
{
	if (set->n == set->cap) {
		unsigned cap = set->cap ? set->cap * 2 : 16;
		struct pollfd *fds = realloc(set->fds, cap * sizeof(*fds));

		if (!fds)
			return -ENOMEM;
		set->fds = fds;
		set->cap = cap;
	}
	set->fds[set->n] = (struct pollfd){ .fd = fd, .events = events };
	return (int)set->n++;
}

void evloop_set_poll_hook(struct evloop *loop, const struct evloop_poll_hook *hook)
{
	loop->has_hook = hook != NULL;
	if (hook)
		loop->hook = *hook;
}

/*
 * Waits for epoll events; with a poll hook, poll()s the epoll fd (readable
 * when an event is pending) together with the hook's descriptors first.
 */
static int evloop_wait(struct evloop *loop, struct epoll_event *events)
{
	struct evloop_pollset *set = &loop->pollset;
	int timeout = -1;

	if (!loop->has_hook)
		return epoll_wait(loop->epoll_fd, events, EVLOOP_MAX_EVENTS, -1);
	set->n = 0;
	if (evloop_pollset_add(set, loop->epoll_fd, POLLIN) < 0)
		return epoll_wait(loop->epoll_fd, events, EVLOOP_MAX_EVENTS, 100);
	loop->hook.prepare(loop->hook.opaque, set, &timeout);
	if (poll(set->fds, set->n, timeout) < 0)
		for (unsigned i = 0; i < set->n; i++)
			set->fds[i].revents = 0;
	loop->hook.dispatch(loop->hook.opaque, set);
	return epoll_wait(loop->epoll_fd, events, EVLOOP_MAX_EVENTS, 0);
}

static void *evloop_thread(void *arg)
{
	struct evloop *loop = arg;
	struct epoll_event events[EVLOOP_MAX_EVENTS];

	while (!loop->stop) {
		int n = evloop_wait(loop, events);

		for (int i = 0; i < n; i++) {
			struct evloop_handler *h = events[i].data.ptr;

			/* A handler deleted by an earlier callback of this batch is
			 * disarmed but not yet freed: its event is skipped. Freeing it
			 * at once would let a handler added meanwhile get its address
			 * and run for the stale event. */
			if (!h) {
				evloop_run_call(loop);
			} else if (h->fn) {
				h->fn(h->opaque);
			}
		}
		evloop_free_list(loop->dead);
		loop->dead = NULL;
	}
	return NULL;
}

static void evloop_stop_on_thread(void *opaque)
{
	struct evloop *loop = opaque;

	loop->stop = true;
}

struct evloop *evloop_create(const char *name)
{
	struct evloop *loop = calloc(1, sizeof(*loop));
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	if (!loop)
		return NULL;
	loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->epoll_fd < 0 || loop->wake_fd < 0 ||
	    epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, loop->wake_fd, &ev) < 0)
		goto err;
	pthread_mutex_init(&loop->call_lock, NULL);
	pthread_mutex_init(&loop->lock, NULL);
	pthread_cond_init(&loop->done_cond, NULL);
	if (pthread_create(&loop->thread, NULL, evloop_thread, loop))
		goto err;
	pthread_setname_np(loop->thread, name);
	return loop;
err:
	if (loop->epoll_fd >= 0)
		close(loop->epoll_fd);
	if (loop->wake_fd >= 0)
		close(loop->wake_fd);
	free(loop);
	return NULL;
}

void evloop_destroy(struct evloop *loop)
{
	if (!loop)
		return;
	evloop_call(loop, evloop_stop_on_thread, loop);
	pthread_join(loop->thread, NULL);
	evloop_free_list(loop->handlers);
	evloop_free_list(loop->dead);
	free(loop->pollset.fds);
	close(loop->epoll_fd);
	close(loop->wake_fd);
	pthread_mutex_destroy(&loop->call_lock);
	pthread_mutex_destroy(&loop->lock);
	pthread_cond_destroy(&loop->done_cond);
	free(loop);
}

/* I/O threads: an epoll loop per thread that runs device work off the vCPU threads. */
#ifndef HUTCH_VMM_EVLOOP_H
#define HUTCH_VMM_EVLOOP_H

#include <poll.h>
#include <stdbool.h>

struct evloop;
typedef void evloop_fn(void *opaque);

/* Starts a thread named name (at most 15 characters) running an empty loop. NULL on failure. */
struct evloop *evloop_create(const char *name);

/* Stops the thread and frees the loop; handlers still registered are dropped. */
void evloop_destroy(struct evloop *loop);

/*
 * Calls fn(opaque) on the loop's thread whenever fd is readable (level-
 * triggered). Any thread; once evloop_del() returns, fn is not running and
 * will not run again for fd. 0 or -errno.
 */
int evloop_add(struct evloop *loop, int fd, evloop_fn *fn, void *opaque)
	__attribute__((warn_unused_result));
int evloop_del(struct evloop *loop, int fd);

/*
 * Runs fn(opaque) on the loop's thread and waits until it returned, so that
 * fn is ordered with every handler. Directly when called on that thread.
 */
void evloop_call(struct evloop *loop, evloop_fn *fn, void *opaque);

/*
 * For libraries that poll a changing set of file descriptors (libslirp):
 * before each wait the loop calls prepare(), which adds descriptors with
 * evloop_pollset_add() and may lower *timeout_ms (-1: none); after the wait
 * (readiness or timeout) it calls dispatch(), which reads revents.
 */
struct evloop_pollset {
	struct pollfd *fds;
	unsigned n, cap;
};

struct evloop_poll_hook {
	void (*prepare)(void *opaque, struct evloop_pollset *set, int *timeout_ms);
	void (*dispatch)(void *opaque, struct evloop_pollset *set);
	void *opaque;
};

/* Adds fd; returns its index in set->fds, or -ENOMEM. */
int evloop_pollset_add(struct evloop_pollset *set, int fd, short events);

/* Installs (or with NULL removes) the loop's one poll hook; on the loop's thread. */
void evloop_set_poll_hook(struct evloop *loop, const struct evloop_poll_hook *hook);

/* True on the loop's own thread. */
bool evloop_on_thread(const struct evloop *loop);

#endif

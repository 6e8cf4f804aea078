/* I/O threads: an epoll loop per thread that runs device work off the vCPU threads. */
#ifndef HUTCH_VMM_EVLOOP_H
#define HUTCH_VMM_EVLOOP_H

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

/* True on the loop's own thread. */
bool evloop_on_thread(const struct evloop *loop);

#endif

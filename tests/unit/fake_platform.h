/*
 * A struct pci_platform for the unit tests: it records what devices ask of
 * the machine (GSIs, MSI routes, irqfds, ioeventfds) and can be told to fail.
 * The eventfds are real, so a test reads them to see whether a vector fired.
 */
#ifndef HUTCH_TESTS_UNIT_FAKE_PLATFORM_H
#define HUTCH_TESTS_UNIT_FAKE_PLATFORM_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "devices/pci/pci.h"

#define FAKE_FIRST_GSI 24
#define FAKE_MAX_GSI   128
#define FAKE_MAX_IOEVT 64

struct fake_route {
	uint64_t addr;
	uint32_t data;
	unsigned count; /* msi_route calls for this GSI */
};

struct fake_ioeventfd {
	uint64_t addr;
	unsigned len;
	int fd;
};

struct fake_platform {
	struct pci_platform ops;
	pthread_mutex_t lock; /* msi_route runs on I/O threads too */
	unsigned next_gsi;
	int gsi_alloc_error, msi_route_error, irqfd_error; /* returned when non-zero */
	unsigned gsi_allocs, routes, irqfds_assigned;
	struct fake_route route[FAKE_MAX_GSI];
	int irqfd_of[FAKE_MAX_GSI]; /* the fd bound to each GSI, -1 if none */
	struct fake_ioeventfd ioevt[FAKE_MAX_IOEVT];
	unsigned nioevt;
	unsigned ioevt_assigns, ioevt_deassigns;
};

static inline int fake_gsi_alloc(void *opaque)
{
	struct fake_platform *p = opaque;

	if (p->gsi_alloc_error)
		return p->gsi_alloc_error;
	p->gsi_allocs++;
	return (int)p->next_gsi++;
}

static inline int fake_msi_route(void *opaque, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct fake_platform *p = opaque;
	int ret = p->msi_route_error;

	pthread_mutex_lock(&p->lock);
	if (!ret && gsi < FAKE_MAX_GSI) {
		p->route[gsi].addr = addr;
		p->route[gsi].data = data;
		p->route[gsi].count++;
		p->routes++;
	} else if (!ret) {
		ret = -EINVAL;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

static inline int fake_irqfd(void *opaque, int fd, unsigned gsi, bool assign)
{
	struct fake_platform *p = opaque;

	if (p->irqfd_error)
		return p->irqfd_error;
	if (gsi >= FAKE_MAX_GSI)
		return -EINVAL;
	p->irqfd_of[gsi] = assign ? fd : -1;
	p->irqfds_assigned += assign;
	return 0;
}

static inline int fake_ioeventfd(void *opaque, uint64_t addr, unsigned len, int fd, bool assign)
{
	struct fake_platform *p = opaque;

	if (assign) {
		if (p->nioevt == FAKE_MAX_IOEVT)
			return -ENOSPC;
		p->ioevt[p->nioevt++] = (struct fake_ioeventfd){ addr, len, fd };
		p->ioevt_assigns++;
		return 0;
	}
	for (unsigned i = 0; i < p->nioevt; i++) {
		if (p->ioevt[i].addr == addr && p->ioevt[i].len == len && p->ioevt[i].fd == fd) {
			p->ioevt[i] = p->ioevt[--p->nioevt];
			p->ioevt_deassigns++;
			return 0;
		}
	}
	return -ENOENT;
}

static inline void fake_platform_init(struct fake_platform *p)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	p->next_gsi = FAKE_FIRST_GSI;
	for (unsigned i = 0; i < FAKE_MAX_GSI; i++)
		p->irqfd_of[i] = -1;
	p->ops = (struct pci_platform){ fake_gsi_alloc, fake_msi_route, fake_irqfd, fake_ioeventfd,
					p };
}

static inline unsigned fake_route_count(struct fake_platform *p, unsigned gsi)
{
	unsigned n;

	pthread_mutex_lock(&p->lock);
	n = p->route[gsi].count;
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* The count an eventfd held (0 if it was not readable), which resets it. */
static inline uint64_t eventfd_take(int fd)
{
	uint64_t n = 0;

	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

/* Like eventfd_take(), but waits up to timeout_ms for fd to become readable. */
static inline uint64_t eventfd_wait(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, timeout_ms) != 1)
		return 0;
	return eventfd_take(fd);
}

#endif

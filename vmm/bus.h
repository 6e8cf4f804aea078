/* Port-I/O and MMIO buses: address ranges mapped to device callbacks. */
#ifndef HUTCH_VMM_BUS_H
#define HUTCH_VMM_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct bus_dev_ops {
	/* on a guest read of len bytes at offset within the device's range */
	void (*read)(void *opaque, uint64_t offset, void *data, unsigned len);
	/* on a guest write of len bytes at offset within the device's range */
	void (*write)(void *opaque, uint64_t offset, const void *data, unsigned len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_dev_ops *ops;
	void *opaque;
};

#define BUS_MAX_RANGES 64

struct bus {
	const char *name;
	struct bus_range ranges[BUS_MAX_RANGES]; /* sorted by base, never overlapping */
	unsigned nranges;
	pthread_mutex_t lock; /* recursive; serialises device callbacks across vCPU threads */
};

void bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);

/* Registers [base, base+len); -EEXIST on overlap, -ENOSPC when full, -EINVAL on len 0/overflow. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_dev_ops *ops,
		 void *opaque) __attribute__((warn_unused_result));

/* Removes the range at base registered with opaque; -ENOENT if there is none. */
int bus_unregister(struct bus *bus, uint64_t base, void *opaque);

/*
 * Dispatches an access. Reads of unclaimed addresses return all ones and
 * writes to them are dropped; returns false in that case so the caller may
 * count it.
 */
bool bus_read(struct bus *bus, uint64_t addr, void *data, unsigned len);
bool bus_write(struct bus *bus, uint64_t addr, const void *data, unsigned len);

#endif

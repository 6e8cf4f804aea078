/* Address-range buses that route guest port I/O and MMIO exits to devices. */
#include "vmm/bus.h"

#include <errno.h>
#include <string.h>

void bus_init(struct bus *bus, const char *name)
{
	pthread_mutexattr_t attr;

	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	/* Recursive: a device callback may map or unmap ranges of its own bus
	 * (a PCI BAR moved by a config write that arrived through ECAM). */
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&bus->lock, &attr);
	pthread_mutexattr_destroy(&attr);
}

void bus_destroy(struct bus *bus)
{
	pthread_mutex_destroy(&bus->lock);
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_dev_ops *ops,
		 void *opaque)
{
	unsigned pos = 0;
	int ret = 0;

	if (len == 0 || base + len - 1 < base)
		return -EINVAL;
	pthread_mutex_lock(&bus->lock);
	if (bus->nranges == BUS_MAX_RANGES) {
		ret = -ENOSPC;
		goto out;
	}
	while (pos < bus->nranges && bus->ranges[pos].base < base)
		pos++;
	/* Neighbours on either side must not reach into the new range. */
	if (pos > 0) {
		const struct bus_range *prev = &bus->ranges[pos - 1];

		if (prev->base + prev->len - 1 >= base) {
			ret = -EEXIST;
			goto out;
		}
	}
	if (pos < bus->nranges && bus->ranges[pos].base <= base + len - 1) {
		ret = -EEXIST;
		goto out;
	}
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos],
		(bus->nranges - pos) * sizeof(bus->ranges[0]));
	bus->ranges[pos] = (struct bus_range){ base, len, ops, opaque };
	bus->nranges++;
out:
	pthread_mutex_unlock(&bus->lock);
	return ret;
}

int bus_unregister(struct bus *bus, uint64_t base, void *opaque)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&bus->lock);
	for (unsigned i = 0; i < bus->nranges; i++) {
		if (bus->ranges[i].base == base && bus->ranges[i].opaque == opaque) {
			memmove(&bus->ranges[i], &bus->ranges[i + 1],
				(bus->nranges - i - 1) * sizeof(bus->ranges[0]));
			bus->nranges--;
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&bus->lock);
	return ret;
}

/* Binary search; caller holds the lock. An access must lie wholly inside one range. */
static const struct bus_range *bus_find(const struct bus *bus, uint64_t addr, unsigned len)
{
	unsigned lo = 0, hi = bus->nranges;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &bus->ranges[mid];

		if (addr < r->base) {
			hi = mid;
		} else if (addr - r->base >= r->len) {
			lo = mid + 1;
		} else {
			if (len > r->len - (addr - r->base))
				return NULL;
			return r;
		}
	}
	return NULL;
}

bool bus_read(struct bus *bus, uint64_t addr, void *data, unsigned len)
{
	const struct bus_range *r;

	if (len == 0)
		return false; /* devices assume at least one byte */
	pthread_mutex_lock(&bus->lock);
	r = bus_find(bus, addr, len);
	if (r && r->ops->read) {
		const struct bus_range copy = *r; /* the callback may change the bus */

		copy.ops->read(copy.opaque, addr - copy.base, data, len);
	} else {
		memset(data, 0xff, len);
	}
	pthread_mutex_unlock(&bus->lock);
	return r != NULL;
}

bool bus_write(struct bus *bus, uint64_t addr, const void *data, unsigned len)
{
	const struct bus_range *r;

	if (len == 0)
		return false; /* devices assume at least one byte */
	pthread_mutex_lock(&bus->lock);
	r = bus_find(bus, addr, len);
	if (r && r->ops->write) {
		const struct bus_range copy = *r; /* the callback may change the bus */

		copy.ops->write(copy.opaque, addr - copy.base, data, len);
	}
	pthread_mutex_unlock(&bus->lock);
	return r != NULL;
}

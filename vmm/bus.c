/* Address-range buses that route guest port I/O and MMIO exits to devices. */
#include "vmm/bus.h"

#include <errno.h>
#include <string.h>

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	pthread_mutex_init(&bus->lock, NULL);
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
	if (r && r->ops->read)
		r->ops->read(r->opaque, addr - r->base, data, len);
	else
		memset(data, 0xff, len);
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
	if (r && r->ops->write)
		r->ops->write(r->opaque, addr - r->base, data, len);
	pthread_mutex_unlock(&bus->lock);
	return r != NULL;
}

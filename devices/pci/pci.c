/* PCI configuration space: the header rules shared by all devices, mechanism #1 and ECAM. */
#include "devices/pci/pci.h"

#include <errno.h>
#include <string.h>

#include "vmm/log.h"

#define CONF1_ENABLE	     0x80000000u
#define PCI_COMMAND_WRITABLE 0x0547 /* I/O, memory, bus master, parity, SERR, INTx off */

void pci_bus_init(struct pci_bus *bus)
{
	memset(bus, 0, sizeof(*bus));
	pthread_mutex_init(&bus->lock, NULL);
}

void pci_bus_set_windows(struct pci_bus *bus, struct bus *mmio, uint64_t base32, uint64_t size32,
			 uint64_t base64, uint64_t size64)
{
	bus->mmio = mmio;
	bus->mmio32 = (struct pci_window){ base32, size32, base32 };
	bus->mmio64 = (struct pci_window){ base64, size64, base64 };
}

static struct pci_window *pci_bar_window(struct pci_bus *bus, const struct pci_bar *bar)
{
	return bar->mem64 && bar->prefetch && bus->mmio64.size ? &bus->mmio64 : &bus->mmio32;
}

static void pci_bar_write_addr(struct pci_device *dev, unsigned idx, uint64_t addr)
{
	const struct pci_bar *bar = &dev->bars[idx];
	uint8_t *reg = dev->config + PCI_BAR0 + 4 * idx;
	/* PCI 3.0 §6.2.5.1: bit 0 memory, bits 2:1 type (2: 64-bit), bit 3 prefetchable */
	uint32_t lo = (uint32_t)addr | (bar->mem64 ? 0x4u : 0) | (bar->prefetch ? 0x8u : 0);

	for (unsigned i = 0; i < 4; i++)
		reg[i] = (uint8_t)(lo >> (8 * i));
	if (bar->mem64) {
		for (unsigned i = 0; i < 4; i++)
			reg[4 + i] = (uint8_t)(addr >> (32 + 8 * i));
	}
}

/* Naturally aligned, first fit, like firmware would. */
static int pci_place_bars(struct pci_bus *bus, struct pci_device *dev)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *bar = &dev->bars[i];
		struct pci_window *w = pci_bar_window(bus, bar);
		uint64_t addr;

		if (!bar->size)
			continue;
		addr = (w->next + bar->size - 1) & ~(bar->size - 1);
		if (addr < w->next || addr - w->base > w->size ||
		    w->size - (addr - w->base) < bar->size)
			return -ENOSPC;
		w->next = addr + bar->size;
		pci_bar_write_addr(dev, i, addr);
	}
	return 0;
}

int pci_bus_add(struct pci_bus *bus, unsigned slot, struct pci_device *dev)
{
	int ret;

	if (slot >= PCI_SLOTS)
		return -EINVAL;
	if (bus->slots[slot])
		return -EBUSY;
	ret = pci_place_bars(bus, dev);
	if (ret)
		return ret;
	dev->bus = bus;
	bus->slots[slot] = dev;
	return 0;
}

int pci_device_set_bar(struct pci_device *dev, unsigned idx, uint64_t size, bool mem64,
		       bool prefetch, const struct bus_dev_ops *ops, void *opaque)
{
	uint64_t mask = ~(size - 1);

	if (idx + (mem64 ? 1 : 0) >= PCI_NUM_BARS || size < 4096 || (size & (size - 1)) ||
	    (!mem64 && size > (1ULL << 31)))
		return -EINVAL;
	/* A 64-bit BAR's upper register is not a BAR of its own. */
	if ((idx > 0 && dev->bars[idx - 1].size && dev->bars[idx - 1].mem64) ||
	    (mem64 && dev->bars[idx + 1].size))
		return -EINVAL;
	dev->bars[idx] = (struct pci_bar){ size, mem64, prefetch, ops, opaque, 0, false };
	/* Address bits above the size are writable: sizing reads back ~(size-1). */
	for (unsigned i = 0; i < (mem64 ? 8u : 4u); i++)
		dev->wmask[PCI_BAR0 + 4 * idx + i] = (uint8_t)(mask >> (8 * i));
	dev->wmask[PCI_BAR0 + 4 * idx] &= 0xf0; /* the flag bits are read-only */
	return 0;
}

int pci_device_add_cap(struct pci_device *dev, const void *cap, unsigned len)
{
	unsigned off = dev->cap_end ? dev->cap_end : PCI_CAP_FIRST;
	uint8_t *link = dev->config + PCI_CAPABILITY_LIST;

	off = (off + 3) & ~3u; /* PCI 3.0 §6.7: dword aligned */
	if (len < 2 || off + len > PCI_CONFIG_SIZE)
		return -ENOSPC;
	while (*link)
		link = dev->config + *link + 1;
	memcpy(dev->config + off, cap, len);
	dev->config[off + 1] = 0;
	*link = (uint8_t)off;
	dev->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	dev->cap_end = (uint8_t)(off + len < PCI_CONFIG_SIZE ? off + len : 0xff);
	return (int)off;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void pci_device_init(struct pci_device *dev, uint16_t vendor, uint16_t device, uint32_t class_code,
		     uint8_t revision)
{
	memset(dev, 0, sizeof(*dev));
	put16(dev->config + PCI_VENDOR_ID, vendor);
	put16(dev->config + PCI_DEVICE_ID, device);
	dev->config[PCI_REVISION_ID] = revision;
	dev->config[PCI_CLASS_PROG] = (uint8_t)class_code;
	put16(dev->config + PCI_CLASS_DEVICE, (uint16_t)(class_code >> 8));
	put16(dev->config + PCI_SUBSYSTEM_VENDOR_ID, vendor);
	put16(dev->config + PCI_SUBSYSTEM_ID, device);
	put16(dev->wmask + PCI_COMMAND, PCI_COMMAND_WRITABLE);
	dev->wmask[0x0c] = 0xff; /* cache line size */
	dev->wmask[0x0d] = 0xff; /* latency timer */
	dev->wmask[0x3c] = 0xff; /* interrupt line: scratch for the OS */
}

/* The address BAR idx decodes now, or false when it must not be mapped. */
static bool pci_bar_decoded(const struct pci_device *dev, unsigned idx, uint64_t *addr)
{
	const struct pci_bar *bar = &dev->bars[idx];
	const struct pci_window *w;
	const uint8_t *reg = dev->config + PCI_BAR0 + 4 * idx;
	uint64_t a = 0;

	if (!(dev->config[PCI_COMMAND] & PCI_COMMAND_MEMORY) || !dev->bus || !dev->bus->mmio)
		return false;
	for (unsigned i = 0; i < (bar->mem64 ? 8u : 4u); i++)
		a |= (uint64_t)reg[i] << (8 * i);
	a &= ~(bar->size - 1);
	/* Only inside a window ACPI gave the OS: never over RAM, ECAM or the APICs. */
	for (int i = 0; i < 2; i++) {
		w = i ? &dev->bus->mmio64 : &dev->bus->mmio32;
		if (w->size && a >= w->base && a - w->base < w->size &&
		    w->size - (a - w->base) >= bar->size) {
			*addr = a;
			return true;
		}
	}
	return false;
}

/* After a write to COMMAND or a BAR: map, move or unmap BARs to match. */
static void pci_update_bars(struct pci_device *dev)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *bar = &dev->bars[i];
		uint64_t addr = 0;
		bool decode;

		if (!bar->size)
			continue;
		decode = pci_bar_decoded(dev, i, &addr);
		if (bar->mapped && (!decode || addr != bar->mapped_at)) {
			bus_unregister(dev->bus->mmio, bar->mapped_at, bar->opaque);
			bar->mapped = false;
			if (dev->ops && dev->ops->bar_mapped)
				dev->ops->bar_mapped(dev, i, bar->mapped_at, false);
		}
		if (decode && !bar->mapped) {
			if (bus_register(dev->bus->mmio, addr, bar->size, bar->ops, bar->opaque)) {
				LOG_RATELIMITED(
					"pci: BAR %u at %#llx overlaps another; left unmapped", i,
					(unsigned long long)addr);
				continue;
			}
			bar->mapped = true;
			bar->mapped_at = addr;
			if (dev->ops && dev->ops->bar_mapped)
				dev->ops->bar_mapped(dev, i, addr, true);
		}
	}
}

/* Only function 0 of each slot exists; the caller holds the lock. */
static struct pci_device *pci_find(struct pci_bus *bus, unsigned devfn)
{
	if (devfn & 7 || (devfn >> 3) >= PCI_SLOTS)
		return NULL;
	return bus->slots[devfn >> 3];
}

static int pci_access_ok(unsigned offset, unsigned len)
{
	/* Naturally aligned 1, 2 or 4 bytes, as both mechanisms deliver them. */
	return (len == 1 || len == 2 || len == 4) && (offset & (len - 1)) == 0;
}

uint32_t pci_config_read(struct pci_bus *bus, unsigned devfn, unsigned offset, unsigned len)
{
	struct pci_device *dev;
	uint32_t value = 0;

	if (!pci_access_ok(offset, len))
		return 0xffffffffu;
	/* the same locks as a write: a read may reach into a BAR (config_read) */
	if (bus->mmio)
		pthread_mutex_lock(&bus->mmio->lock);
	pthread_mutex_lock(&bus->lock);
	dev = pci_find(bus, devfn);
	if (!dev) {
		value = 0xffffffffu >> (32 - 8 * len);
	} else if (offset < PCI_CONFIG_SIZE) {
		if (dev->ops && dev->ops->config_read)
			dev->ops->config_read(dev, offset, len);
		for (unsigned i = 0; i < len; i++)
			value |= (uint32_t)dev->config[offset + i] << (8 * i);
	}
	pthread_mutex_unlock(&bus->lock);
	if (bus->mmio)
		pthread_mutex_unlock(&bus->mmio->lock);
	return value;
}

void pci_config_write(struct pci_bus *bus, unsigned devfn, unsigned offset, unsigned len,
		      uint32_t value)
{
	struct pci_device *dev;

	if (!pci_access_ok(offset, len) || offset >= PCI_CONFIG_SIZE)
		return;
	/* A write may map BARs: take the MMIO bus lock first, always, so that
	 * ECAM (which already holds it) and mechanism #1 agree on the order. */
	if (bus->mmio)
		pthread_mutex_lock(&bus->mmio->lock);
	pthread_mutex_lock(&bus->lock);
	dev = pci_find(bus, devfn);
	if (dev) {
		for (unsigned i = 0; i < len; i++) {
			uint8_t mask = dev->wmask[offset + i];
			uint8_t byte = (uint8_t)(value >> (8 * i));

			dev->config[offset + i] =
				(uint8_t)((dev->config[offset + i] & ~mask) | (byte & mask));
		}
		if (offset < PCI_BAR0 + 4 * PCI_NUM_BARS && offset + len > PCI_COMMAND)
			pci_update_bars(dev);
		if (dev->ops && dev->ops->config_written)
			dev->ops->config_written(dev, offset, len);
	}
	pthread_mutex_unlock(&bus->lock);
	if (bus->mmio)
		pthread_mutex_unlock(&bus->mmio->lock);
}

static void store(void *data, unsigned len, uint32_t value)
{
	for (unsigned i = 0; i < len; i++)
		((uint8_t *)data)[i] = i < 4 ? (uint8_t)(value >> (8 * i)) : 0xff;
}

static uint32_t load(const void *data, unsigned len)
{
	uint32_t value = 0;

	for (unsigned i = 0; i < len && i < 4; i++)
		value |= (uint32_t)((const uint8_t *)data)[i] << (8 * i);
	return value;
}

/*
 * Mechanism #1: CONFIG_ADDRESS at 0xcf8 (dword accesses only; byte accesses
 * there are mechanism #2's, which hutch lacks), CONFIG_DATA at 0xcfc-0xcff.
 */
static void conf1_read(void *opaque, uint64_t offset, void *data, unsigned len)
{
	struct pci_bus *bus = opaque;
	uint32_t addr = bus->conf1_address;

	if (offset < 4) {
		store(data, len, offset == 0 && len == 4 ? addr : 0xffffffffu);
		return;
	}
	if (!(addr & CONF1_ENABLE) || ((addr >> 16) & 0xff) != 0) {
		store(data, len, 0xffffffffu);
		return;
	}
	store(data, len,
	      pci_config_read(bus, (addr >> 8) & 0xff, (addr & 0xfc) + (unsigned)(offset - 4),
			      len));
}

static void conf1_write(void *opaque, uint64_t offset, const void *data, unsigned len)
{
	struct pci_bus *bus = opaque;
	uint32_t addr = bus->conf1_address;

	if (offset < 4) {
		if (offset == 0 && len == 4)
			bus->conf1_address = load(data, len) & 0x80fffffcu;
		return;
	}
	if (!(addr & CONF1_ENABLE) || ((addr >> 16) & 0xff) != 0)
		return;
	pci_config_write(bus, (addr >> 8) & 0xff, (addr & 0xfc) + (unsigned)(offset - 4), len,
			 load(data, len));
}

const struct bus_dev_ops pci_conf1_bus_ops = {
	.read = conf1_read,
	.write = conf1_write,
};

/* ECAM (PCIe base spec §7.2.2): bus 20-27, device 15-19, function 12-14, register 0-11. */
static void ecam_read(void *opaque, uint64_t offset, void *data, unsigned len)
{
	if (offset >= PCI_ECAM_BUS_SIZE) {
		store(data, len, 0xffffffffu);
		return;
	}
	store(data, len,
	      pci_config_read(opaque, (unsigned)(offset >> 12) & 0xff, offset & 0xfff, len));
}

static void ecam_write(void *opaque, uint64_t offset, const void *data, unsigned len)
{
	if (offset < PCI_ECAM_BUS_SIZE)
		pci_config_write(opaque, (unsigned)(offset >> 12) & 0xff, offset & 0xfff, len,
				 load(data, len));
}

const struct bus_dev_ops pci_ecam_bus_ops = {
	.read = ecam_read,
	.write = ecam_write,
};

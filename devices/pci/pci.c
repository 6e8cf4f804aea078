/* PCI configuration space: the header rules shared by all devices, mechanism #1 and ECAM. */
#include "devices/pci/pci.h"

#include <errno.h>
#include <string.h>

#define CONF1_ENABLE	     0x80000000u
#define PCI_COMMAND_WRITABLE 0x0547 /* I/O, memory, bus master, parity, SERR, INTx off */

void pci_bus_init(struct pci_bus *bus)
{
	memset(bus, 0, sizeof(*bus));
	pthread_mutex_init(&bus->lock, NULL);
}

int pci_bus_add(struct pci_bus *bus, unsigned slot, struct pci_device *dev)
{
	if (slot >= PCI_SLOTS)
		return -EINVAL;
	if (bus->slots[slot])
		return -EBUSY;
	bus->slots[slot] = dev;
	return 0;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void pci_device_init(struct pci_device *dev, uint16_t vendor, uint16_t device, uint32_t class_code,
		     uint8_t revision)
{
	memset(dev->config, 0, sizeof(dev->config));
	memset(dev->wmask, 0, sizeof(dev->wmask));
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
	pthread_mutex_lock(&bus->lock);
	dev = pci_find(bus, devfn);
	if (!dev) {
		value = 0xffffffffu >> (32 - 8 * len);
	} else if (offset < PCI_CONFIG_SIZE) {
		for (unsigned i = 0; i < len; i++)
			value |= (uint32_t)dev->config[offset + i] << (8 * i);
	}
	pthread_mutex_unlock(&bus->lock);
	return value;
}

void pci_config_write(struct pci_bus *bus, unsigned devfn, unsigned offset, unsigned len,
		      uint32_t value)
{
	struct pci_device *dev;

	if (!pci_access_ok(offset, len) || offset >= PCI_CONFIG_SIZE)
		return;
	pthread_mutex_lock(&bus->lock);
	dev = pci_find(bus, devfn);
	if (dev) {
		for (unsigned i = 0; i < len; i++) {
			uint8_t mask = dev->wmask[offset + i];
			uint8_t byte = (uint8_t)(value >> (8 * i));

			dev->config[offset + i] =
				(uint8_t)((dev->config[offset + i] & ~mask) | (byte & mask));
		}
		if (dev->ops && dev->ops->config_written)
			dev->ops->config_written(dev, offset, len);
	}
	pthread_mutex_unlock(&bus->lock);
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

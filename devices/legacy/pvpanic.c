/* pvpanic over port I/O: bit 0 written means the guest panicked. */
#include "devices/legacy/pvpanic.h"

#include <stdio.h>
#include <string.h>

/* Linux include/uapi/misc/pvpanic.h event bits. */
#define PVPANIC_PANICKED     0x01
#define PVPANIC_CRASH_LOADED 0x02

static void pvpanic_read(void *opaque, uint64_t offset, void *data, unsigned len)
{
	(void)opaque;
	(void)offset;
	/* The driver reads the events this device supports. */
	memset(data, 0, len);
	*(uint8_t *)data = PVPANIC_PANICKED | PVPANIC_CRASH_LOADED;
}

static void pvpanic_write(void *opaque, uint64_t offset, const void *data, unsigned len)
{
	struct pvpanic *pv = opaque;
	uint8_t events = *(const uint8_t *)data;

	(void)offset;
	(void)len;
	if (events & PVPANIC_PANICKED)
		pv->power->event(pv->power->opaque, POWER_EVENT_PANIC);
	/* CRASH_LOADED means a kdump kernel takes over: let the guest run. */
}

const struct bus_dev_ops pvpanic_bus_ops = {
	.read = pvpanic_read,
	.write = pvpanic_write,
};

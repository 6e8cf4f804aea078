/* pvpanic: the guest reports a kernel panic through one I/O port (ACPI QEMU0001). */
#ifndef HUTCH_DEVICES_LEGACY_PVPANIC_H
#define HUTCH_DEVICES_LEGACY_PVPANIC_H

#include "devices/legacy/power.h"
#include "vmm/bus.h"

struct pvpanic {
	const struct power_sink *power;
};

extern const struct bus_dev_ops pvpanic_bus_ops; /* one port */

#endif

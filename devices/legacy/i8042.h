/* i8042 keyboard controller, reduced to its reset line. */
#ifndef HUTCH_DEVICES_LEGACY_I8042_H
#define HUTCH_DEVICES_LEGACY_I8042_H

#include "devices/legacy/power.h"
#include "vmm/bus.h"

struct i8042 {
	const struct power_sink *power;
};

extern const struct bus_dev_ops i8042_bus_ops; /* ports 0x60-0x64 */

#endif

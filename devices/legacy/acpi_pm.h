/* The hardware-reduced ACPI sleep control, sleep status and reset registers. */
#ifndef HUTCH_DEVICES_LEGACY_ACPI_PM_H
#define HUTCH_DEVICES_LEGACY_ACPI_PM_H

#include <stdint.h>

#include "devices/legacy/power.h"
#include "vmm/bus.h"

struct acpi_pm {
	const struct power_sink *power;
	uint8_t s5_slp_typ;  /* the SLP_TYP the DSDT's \_S5 announces */
	uint8_t reset_value; /* the FADT's RESET_VALUE */
};

/* Three one-byte ports: sleep control (+0), sleep status (+1), reset (+2). */
extern const struct bus_dev_ops acpi_pm_bus_ops;

#endif

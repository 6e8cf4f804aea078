/* ACPI power management for a hardware-reduced platform: S5 power-off and reset. */
#include "devices/legacy/acpi_pm.h"

#include <string.h>

/* ACPI 6.4 §4.8.3.7: sleep control register, SLP_TYP bits 2-4 and SLP_EN bit 5. */
#define SLEEP_CTL_SLP_TYP(v) (((v) >> 2) & 0x7)
#define SLEEP_CTL_SLP_EN     0x20

static void acpi_pm_read(void *opaque, uint64_t offset, void *data, unsigned len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, len); /* no wake status: hutch never sleeps and wakes */
}

static void acpi_pm_write(void *opaque, uint64_t offset, const void *data, unsigned len)
{
	struct acpi_pm *pm = opaque;
	uint8_t val = *(const uint8_t *)data;

	(void)len;
	if (offset == 0 && (val & SLEEP_CTL_SLP_EN) && SLEEP_CTL_SLP_TYP(val) == pm->s5_slp_typ)
		pm->power->event(pm->power->opaque, POWER_EVENT_OFF);
	else if (offset == 2 && val == pm->reset_value)
		pm->power->event(pm->power->opaque, POWER_EVENT_RESET);
}

const struct bus_dev_ops acpi_pm_bus_ops = {
	.read = acpi_pm_read,
	.write = acpi_pm_write,
};

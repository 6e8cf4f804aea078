/* How legacy devices tell the machine that the guest wants to stop. */
#ifndef HUTCH_DEVICES_LEGACY_POWER_H
#define HUTCH_DEVICES_LEGACY_POWER_H

enum power_event {
	POWER_EVENT_OFF,   /* ACPI S5 */
	POWER_EVENT_RESET, /* ACPI reset register or keyboard controller reset */
	POWER_EVENT_PANIC, /* pvpanic: the guest kernel panicked */
};

struct power_sink {
	/* from a vCPU thread, when the guest asks for event */
	void (*event)(void *opaque, enum power_event event);
	void *opaque;
};

#endif

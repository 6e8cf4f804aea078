/* MC146818 CMOS real-time clock showing the host's time (UTC). */
#ifndef HUTCH_DEVICES_LEGACY_RTC_H
#define HUTCH_DEVICES_LEGACY_RTC_H

#include <stdint.h>
#include <time.h>

#include "vmm/bus.h"

struct rtc {
	uint8_t index;
	uint8_t cmos[128];	 /* status B and the non-clock bytes are stored */
	time_t (*now)(time_t *); /* time(); replaceable by tests */
};

extern const struct bus_dev_ops rtc_bus_ops; /* ports 0x70-0x71 */

void rtc_init(struct rtc *rtc);
uint8_t rtc_read(struct rtc *rtc, unsigned port);
void rtc_write(struct rtc *rtc, unsigned port, uint8_t val);

#endif

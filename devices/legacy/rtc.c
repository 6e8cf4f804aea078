/* CMOS RTC: time registers computed from the host clock at each read, the rest plain storage. */
#include "devices/legacy/rtc.h"

#include <string.h>

/* MC146818 register indexes. */
enum {
	RTC_SECONDS = 0x00,
	RTC_MINUTES = 0x02,
	RTC_HOURS = 0x04,
	RTC_WEEKDAY = 0x06,
	RTC_DAY = 0x07,
	RTC_MONTH = 0x08,
	RTC_YEAR = 0x09,
	RTC_STATUS_A = 0x0a,
	RTC_STATUS_B = 0x0b,
	RTC_STATUS_C = 0x0c,
	RTC_STATUS_D = 0x0d,
	RTC_CENTURY = 0x32,
};
#define STATUS_B_24H 0x02
#define STATUS_B_BIN 0x04 /* binary rather than BCD */
#define STATUS_D_VRT 0x80 /* valid RAM and time */

void rtc_init(struct rtc *rtc)
{
	memset(rtc, 0, sizeof(*rtc));
	rtc->now = time;
	rtc->cmos[RTC_STATUS_A] = 0x26; /* 32.768 kHz base, 1024 Hz rate; UIP clear */
	rtc->cmos[RTC_STATUS_B] = STATUS_B_24H;
}

static uint8_t rtc_encode(const struct rtc *rtc, int val)
{
	if (rtc->cmos[RTC_STATUS_B] & STATUS_B_BIN)
		return (uint8_t)val;
	return (uint8_t)((val / 10) << 4 | (val % 10));
}

static uint8_t rtc_clock(const struct rtc *rtc, unsigned reg)
{
	time_t t = rtc->now(NULL);
	struct tm tm;
	int hour;

	gmtime_r(&t, &tm);
	switch (reg) {
	case RTC_SECONDS: return rtc_encode(rtc, tm.tm_sec);
	case RTC_MINUTES: return rtc_encode(rtc, tm.tm_min);
	case RTC_HOURS:
		if (rtc->cmos[RTC_STATUS_B] & STATUS_B_24H)
			return rtc_encode(rtc, tm.tm_hour);
		/* 12-hour mode: 12, 1..11, with bit 7 for PM. */
		hour = tm.tm_hour % 12 ? tm.tm_hour % 12 : 12;
		return (uint8_t)(rtc_encode(rtc, hour) | (tm.tm_hour >= 12 ? 0x80 : 0));
	case RTC_WEEKDAY: return rtc_encode(rtc, tm.tm_wday + 1);
	case RTC_DAY: return rtc_encode(rtc, tm.tm_mday);
	case RTC_MONTH: return rtc_encode(rtc, tm.tm_mon + 1);
	case RTC_YEAR: return rtc_encode(rtc, tm.tm_year % 100);
	default: return rtc_encode(rtc, (tm.tm_year + 1900) / 100); /* century */
	}
}

uint8_t rtc_read(struct rtc *rtc, unsigned port)
{
	unsigned reg = rtc->index & 0x7f; /* bit 7 of the index port masks NMIs */

	if (port == 0)
		return 0xff;
	switch (reg) {
	case RTC_SECONDS:
	case RTC_MINUTES:
	case RTC_HOURS:
	case RTC_WEEKDAY:
	case RTC_DAY:
	case RTC_MONTH:
	case RTC_YEAR:
	case RTC_CENTURY: return rtc_clock(rtc, reg);
	case RTC_STATUS_C: return 0; /* no interrupt flags: hutch raises no RTC interrupts */
	case RTC_STATUS_D: return STATUS_D_VRT;
	default: return rtc->cmos[reg];
	}
}

void rtc_write(struct rtc *rtc, unsigned port, uint8_t val)
{
	unsigned reg;

	if (port == 0) {
		rtc->index = val;
		return;
	}
	reg = rtc->index & 0x7f;
	/* The clock follows the host; setting it from the guest is ignored.
	 * The alarm registers (1, 3, 5) in between are plain storage. */
	if (reg == RTC_SECONDS || reg == RTC_MINUTES || reg == RTC_HOURS ||
	    (reg >= RTC_WEEKDAY && reg <= RTC_YEAR) || reg == RTC_CENTURY || reg == RTC_STATUS_C ||
	    reg == RTC_STATUS_D)
		return;
	if (reg == RTC_STATUS_A)
		val &= 0x7f; /* UIP is read-only */
	rtc->cmos[reg] = val;
}

static void rtc_bus_read(void *opaque, uint64_t offset, void *data, unsigned len)
{
	memset(data, 0, len);
	*(uint8_t *)data = rtc_read(opaque, (unsigned)offset);
}

static void rtc_bus_write(void *opaque, uint64_t offset, const void *data, unsigned len)
{
	(void)len;
	rtc_write(opaque, (unsigned)offset, *(const uint8_t *)data);
}

const struct bus_dev_ops rtc_bus_ops = {
	.read = rtc_bus_read,
	.write = rtc_bus_write,
};

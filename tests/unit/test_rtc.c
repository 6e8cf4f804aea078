/* Unit tests for the CMOS RTC: clock registers in BCD, binary and 12-hour modes, and CMOS storage. */
#include "test_util.h"

#include <string.h>

#include "devices/legacy/rtc.h"

enum {
	SECONDS = 0x00, ALARM_SECONDS = 0x01, MINUTES = 0x02, ALARM_MINUTES = 0x03,
	HOURS = 0x04, ALARM_HOURS = 0x05, WEEKDAY = 0x06, DAY = 0x07, MONTH = 0x08,
	YEAR = 0x09, STATUS_A = 0x0a, STATUS_B = 0x0b, STATUS_C = 0x0c, STATUS_D = 0x0d,
	CENTURY = 0x32,
};
#define B_24H 0x02
#define B_BIN 0x04

/* 2026-11-28 21:55:56 UTC, a Saturday (`date -u -d @1795902956`). */
#define T_2026_11_28_215556 1795902956
static time_t fake_time = T_2026_11_28_215556;

static time_t fake_now(time_t *t)
{
	if (t)
		*t = fake_time;
	return fake_time;
}

static int setup(void **state)
{
	struct rtc *rtc = malloc(sizeof(*rtc));

	if (!rtc)
		return -1;
	rtc_init(rtc);
	rtc->now = fake_now;
	fake_time = T_2026_11_28_215556;
	*state = rtc;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static uint8_t reg_read(struct rtc *rtc, uint8_t reg)
{
	rtc_write(rtc, 0, reg);
	return rtc_read(rtc, 1);
}

static void reg_write(struct rtc *rtc, uint8_t reg, uint8_t val)
{
	rtc_write(rtc, 0, reg);
	rtc_write(rtc, 1, val);
}

struct clock_regs {
	uint8_t sec, min, hour, wday, day, mon, year, cent;
};

static void assert_clock(struct rtc *rtc, struct clock_regs want, uint8_t index_bits)
{
	TEST_ASSERT_EQ(reg_read(rtc, index_bits | SECONDS), want.sec);
	TEST_ASSERT_EQ(reg_read(rtc, index_bits | MINUTES), want.min);
	TEST_ASSERT_EQ(reg_read(rtc, index_bits | HOURS), want.hour);
	TEST_ASSERT_EQ(reg_read(rtc, index_bits | WEEKDAY), want.wday);
	TEST_ASSERT_EQ(reg_read(rtc, index_bits | DAY), want.day);
	TEST_ASSERT_EQ(reg_read(rtc, index_bits | MONTH), want.mon);
	TEST_ASSERT_EQ(reg_read(rtc, index_bits | YEAR), want.year);
	TEST_ASSERT_EQ(reg_read(rtc, index_bits | CENTURY), want.cent);
}

/* --- hostile cases first --- */

static void test_clock_writes_ignored(void **state)
{
	struct rtc *rtc = *state;
	const uint8_t regs[] = { SECONDS, MINUTES, HOURS, WEEKDAY, DAY, MONTH, YEAR, CENTURY };

	for (size_t i = 0; i < ARRAY_LEN(regs); i++) {
		reg_write(rtc, regs[i], 0x00);
		reg_write(rtc, regs[i] | 0x80, 0x59);
	}
	reg_write(rtc, STATUS_C, 0xff);
	reg_write(rtc, STATUS_D, 0x00);
	assert_clock(rtc, (struct clock_regs){ 0x56, 0x55, 0x21, 0x07, 0x28, 0x11, 0x26, 0x20 }, 0);
	TEST_ASSERT_EQ(reg_read(rtc, STATUS_C), 0x00);
	TEST_ASSERT_EQ(reg_read(rtc, STATUS_D), 0x80);
}

static void test_status_a_uip_read_only(void **state)
{
	struct rtc *rtc = *state;

	TEST_ASSERT_EQ(reg_read(rtc, STATUS_A), 0x26);
	reg_write(rtc, STATUS_A, 0xa6);
	TEST_ASSERT_EQ(reg_read(rtc, STATUS_A), 0x26); /* UIP never reads as set */
	reg_write(rtc, STATUS_A, 0xff);
	TEST_ASSERT_EQ(reg_read(rtc, STATUS_A), 0x7f);
}

static void test_index_nmi_bit_ignored(void **state)
{
	struct rtc *rtc = *state;

	assert_clock(rtc, (struct clock_regs){ 0x56, 0x55, 0x21, 0x07, 0x28, 0x11, 0x26, 0x20 }, 0x80);
	reg_write(rtc, 0x80 | 0x40, 0x3c);
	TEST_ASSERT_EQ(reg_read(rtc, 0x40), 0x3c);
	reg_write(rtc, 0x41, 0xc3);
	TEST_ASSERT_EQ(reg_read(rtc, 0xc1), 0xc3);
	TEST_ASSERT_EQ(reg_read(rtc, 0x80 | STATUS_D), 0x80);
}

static void test_index_port_read(void **state)
{
	struct rtc *rtc = *state;

	rtc_write(rtc, 0, SECONDS);
	TEST_ASSERT_EQ(rtc_read(rtc, 0), 0xff);          /* the index port is write-only */
	TEST_ASSERT_EQ(rtc_read(rtc, 1), 0x56);          /* and reading it kept the index */
}

static void test_bus_access(void **state)
{
	struct rtc *rtc = *state;
	struct bus bus;
	uint8_t idx = 0x80 | MINUTES;
	uint32_t wide = 0xffffffff;

	bus_init(&bus, "pio");
	TEST_ASSERT_EQ(bus_register(&bus, 0x70, 2, &rtc_bus_ops, rtc), 0);
	TEST_ASSERT(bus_write(&bus, 0x70, &idx, 1), "index write");
	TEST_ASSERT(bus_read(&bus, 0x71, &wide, 4) == false, "4-byte read at 0x71 straddles the range");
	TEST_ASSERT(bus_read(&bus, 0x71, &wide, 1), "data read");
	TEST_ASSERT_EQ(wide & 0xff, 0x55);
	TEST_ASSERT(bus_read(&bus, 0x70, &wide, 2), "2-byte read of both ports");
	TEST_ASSERT_EQ(wide & 0xffff, 0x00ff); /* register in the low byte, zeros above */
	bus_destroy(&bus);
}

/* --- working cases --- */

static void test_bcd_24h(void **state)
{
	struct rtc *rtc = *state;

	TEST_ASSERT_EQ(reg_read(rtc, STATUS_B), B_24H);
	assert_clock(rtc, (struct clock_regs){ 0x56, 0x55, 0x21, 0x07, 0x28, 0x11, 0x26, 0x20 }, 0);
}

static void test_binary_24h(void **state)
{
	struct rtc *rtc = *state;

	reg_write(rtc, STATUS_B, B_24H | B_BIN);
	TEST_ASSERT_EQ(reg_read(rtc, STATUS_B), B_24H | B_BIN);
	assert_clock(rtc, (struct clock_regs){ 56, 55, 21, 7, 28, 11, 26, 20 }, 0);
}

static void test_12h(void **state)
{
	struct rtc *rtc = *state;
	const struct {
		time_t t;
		const char *when;
		uint8_t bcd, bin;
	} cases[] = {
		{ T_2026_11_28_215556, "21:55:56", 0x80 | 0x09, 0x80 | 9 },
		{ 1795907109, "23:05:09", 0x80 | 0x11, 0x80 | 11 },
		{ 1795825807, "00:30:07 (12 AM)", 0x12, 12 },
		{ 1795867200, "12:00:00 (12 PM)", 0x80 | 0x12, 0x80 | 12 },
		{ 951786123, "2000-02-29 01:02:03", 0x01, 1 },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		uint8_t got;

		fake_time = cases[i].t;
		reg_write(rtc, STATUS_B, 0);
		got = reg_read(rtc, HOURS);
		TEST_ASSERT(got == cases[i].bcd, "%s BCD: %#x, want %#x", cases[i].when, got, cases[i].bcd);
		reg_write(rtc, STATUS_B, B_BIN);
		got = reg_read(rtc, HOURS);
		TEST_ASSERT(got == cases[i].bin, "%s binary: %#x, want %#x", cases[i].when, got, cases[i].bin);
	}
	/* Minutes and seconds are unaffected by the 12-hour mode. */
	fake_time = T_2026_11_28_215556;
	reg_write(rtc, STATUS_B, 0);
	TEST_ASSERT_EQ(reg_read(rtc, MINUTES), 0x55);
	TEST_ASSERT_EQ(reg_read(rtc, SECONDS), 0x56);
}

static void test_century_and_leap_day(void **state)
{
	struct rtc *rtc = *state;

	fake_time = 4102444799; /* 2099-12-31 23:59:59, Thursday */
	assert_clock(rtc, (struct clock_regs){ 0x59, 0x59, 0x23, 0x05, 0x31, 0x12, 0x99, 0x20 }, 0);
	fake_time = 4102444800; /* 2100-01-01 00:00:00, Friday */
	assert_clock(rtc, (struct clock_regs){ 0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x00, 0x21 }, 0);
	fake_time = 951786123;  /* 2000-02-29 01:02:03, Tuesday */
	assert_clock(rtc, (struct clock_regs){ 0x03, 0x02, 0x01, 0x03, 0x29, 0x02, 0x00, 0x20 }, 0);
	fake_time = 0;          /* 1970-01-01 00:00:00, Thursday */
	assert_clock(rtc, (struct clock_regs){ 0x00, 0x00, 0x00, 0x05, 0x01, 0x01, 0x70, 0x19 }, 0);
}

static void test_status_c_d(void **state)
{
	struct rtc *rtc = *state;

	TEST_ASSERT_EQ(reg_read(rtc, STATUS_D), 0x80);
	TEST_ASSERT_EQ(reg_read(rtc, STATUS_C), 0x00);
}

static void test_cmos_storage_roundtrip(void **state)
{
	struct rtc *rtc = *state;

	for (unsigned reg = 0x0e; reg < 0x80; reg++) {
		if (reg == CENTURY)
			continue;
		reg_write(rtc, (uint8_t)reg, (uint8_t)(reg ^ 0x5a));
	}
	for (unsigned reg = 0x0e; reg < 0x80; reg++) {
		if (reg == CENTURY)
			continue;
		TEST_ASSERT(reg_read(rtc, (uint8_t)reg) == (uint8_t)(reg ^ 0x5a), "CMOS byte %#x", reg);
	}
	/* Status B is storage too (its mode bits were checked above). */
	reg_write(rtc, STATUS_B, 0x12);
	TEST_ASSERT_EQ(reg_read(rtc, STATUS_B), 0x12);
	/* The clock still reads right with the storage full of junk. */
	reg_write(rtc, STATUS_B, B_24H);
	assert_clock(rtc, (struct clock_regs){ 0x56, 0x55, 0x21, 0x07, 0x28, 0x11, 0x26, 0x20 }, 0);
}

/*
 * MC146818 registers 1, 3 and 5 are the alarm seconds, minutes and hours:
 * read/write storage (Linux's rtc-cmos cmos_set_alarm() writes them and
 * cmos_read_alarm() reads them back). hutch drops the writes.
 */
static void test_alarm_registers_roundtrip(void **state)
{
	struct rtc *rtc = *state;

	reg_write(rtc, ALARM_SECONDS, 0x30);
	reg_write(rtc, ALARM_MINUTES, 0x45);
	reg_write(rtc, ALARM_HOURS, 0x06);
	TEST_ASSERT_EQ(reg_read(rtc, ALARM_SECONDS), 0x30);
	TEST_ASSERT_EQ(reg_read(rtc, ALARM_MINUTES), 0x45);
	TEST_ASSERT_EQ(reg_read(rtc, ALARM_HOURS), 0x06);
}

static void test_default_now_is_time(void **state)
{
	struct rtc rtc;

	(void)state;
	rtc_init(&rtc);
	TEST_ASSERT(rtc.now == time, "rtc_init does not use time()");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_clock_writes_ignored),
		T(test_status_a_uip_read_only),
		T(test_index_nmi_bit_ignored),
		T(test_index_port_read),
		T(test_bus_access),
		T(test_bcd_24h),
		T(test_binary_24h),
		T(test_12h),
		T(test_century_and_leap_day),
		T(test_status_c_d),
		T(test_cmos_storage_roundtrip),
		T(test_alarm_registers_roundtrip),
		cmocka_unit_test(test_default_now_is_time),
	};
#undef T

	return cmocka_run_group_tests_name("rtc", tests, NULL, NULL);
}

/* Unit tests for the 16550A UART: interrupts, the receive FIFO, DLAB, loopback and Linux's probe. */
#include "test_util.h"

#include <string.h>

#include "devices/legacy/serial.h"

/* Register offsets and bits, from the PC16550D data sheet. */
enum { RBR = 0, THR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
#define IER_RDI   0x01
#define IER_THRI  0x02
#define LSR_DR    0x01
#define LSR_THRE  0x20
#define LSR_TEMT  0x40
#define LCR_DLAB  0x80

struct fake {
	struct serial s;
	bool level;
	unsigned irq_calls, raises, lowers;
	bool redundant;        /* set_irq called with the level it already had */
	uint8_t tx[512];
	size_t ntx;
};

static void fake_set_irq(void *opaque, bool level)
{
	struct fake *f = opaque;

	if (level == f->level)
		f->redundant = true;
	f->level = level;
	f->irq_calls++;
	if (level)
		f->raises++;
	else
		f->lowers++;
}

static void fake_tx(void *opaque, uint8_t byte)
{
	struct fake *f = opaque;

	if (f->ntx < sizeof(f->tx))
		f->tx[f->ntx] = byte;
	f->ntx++;
}

static const struct serial_ops fake_ops = { .set_irq = fake_set_irq, .tx = fake_tx };

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	serial_init(&f->s, &fake_ops, f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	int ret = 0;

	if (f->redundant) {
		print_error("set_irq was called without a change of level\n");
		ret = -1;
	}
	serial_destroy(&f->s);
	free(f);
	return ret;
}

/* --- hostile cases first --- */

static void test_rx_fifo_full(void **state)
{
	struct fake *f = *state;
	uint8_t in[100], out;

	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	TEST_ASSERT_EQ(serial_receive(&f->s, in, sizeof(in)), SERIAL_RX_FIFO);
	TEST_ASSERT_EQ(serial_receive(&f->s, in, 1), 0);
	TEST_ASSERT_EQ(serial_receive(&f->s, in, 0), 0);
	for (unsigned i = 0; i < SERIAL_RX_FIFO; i++) {
		TEST_ASSERT(serial_read(&f->s, LSR) & LSR_DR, "DR clear with %u bytes left",
			    SERIAL_RX_FIFO - i);
		out = serial_read(&f->s, RBR);
		TEST_ASSERT_EQ(out, i);
	}
	TEST_ASSERT_EQ(serial_read(&f->s, LSR) & LSR_DR, 0);
	TEST_ASSERT_EQ(serial_read(&f->s, RBR), 0); /* empty: reads as 0, no underflow */
	TEST_ASSERT_EQ(serial_read(&f->s, LSR) & LSR_DR, 0);
	TEST_ASSERT_EQ(serial_receive(&f->s, in, 1), 1);
	TEST_ASSERT_EQ(serial_read(&f->s, RBR), 0);
}

static void test_rx_fifo_wraparound(void **state)
{
	struct fake *f = *state;
	uint8_t in[SERIAL_RX_FIFO];

	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(0x80 + i);
	/* Move the FIFO's head round several times, 40 bytes at a time. */
	for (unsigned round = 0; round < 10; round++) {
		TEST_ASSERT_EQ(serial_receive(&f->s, in, 40), 40);
		for (unsigned i = 0; i < 40; i++)
			TEST_ASSERT_EQ(serial_read(&f->s, RBR), in[i]);
		TEST_ASSERT_EQ(serial_read(&f->s, LSR) & LSR_DR, 0);
	}
	/* Fill to the brim across the wrap point and check the order. */
	TEST_ASSERT_EQ(serial_receive(&f->s, in, 30), 30);
	for (unsigned i = 0; i < 20; i++)
		TEST_ASSERT_EQ(serial_read(&f->s, RBR), in[i]);
	TEST_ASSERT_EQ(serial_receive(&f->s, in, sizeof(in)), SERIAL_RX_FIFO - 10);
	for (unsigned i = 20; i < 30; i++)
		TEST_ASSERT_EQ(serial_read(&f->s, RBR), in[i]);
	for (unsigned i = 0; i < SERIAL_RX_FIFO - 10; i++)
		TEST_ASSERT_EQ(serial_read(&f->s, RBR), in[i]);
	TEST_ASSERT_EQ(serial_read(&f->s, LSR) & LSR_DR, 0);
}

static void test_register_offset_masked(void **state)
{
	struct fake *f = *state;

	/* Offsets beyond 7 alias the 8 registers rather than index anything. */
	serial_write(&f->s, 8 + SCR, 0x5c);
	TEST_ASSERT_EQ(serial_read(&f->s, SCR), 0x5c);
	TEST_ASSERT_EQ(serial_read(&f->s, 0xffffffffu), 0x5c);
	serial_write(&f->s, 0x100 + THR, 'q');
	TEST_ASSERT_EQ(f->ntx, 1);
	TEST_ASSERT_EQ(f->tx[0], 'q');
}

static void test_read_only_registers(void **state)
{
	struct fake *f = *state;
	uint8_t lsr = serial_read(&f->s, LSR), msr = serial_read(&f->s, MSR);

	serial_write(&f->s, LSR, 0x00);
	serial_write(&f->s, MSR, 0x00);
	TEST_ASSERT_EQ(serial_read(&f->s, LSR), lsr);
	TEST_ASSERT_EQ(serial_read(&f->s, MSR), msr);
	TEST_ASSERT_EQ(f->ntx, 0);
	TEST_ASSERT_EQ(f->irq_calls, 0);
}

static void test_bus_access(void **state)
{
	struct fake *f = *state;
	struct bus bus;
	uint8_t b = 'z';
	uint32_t wide = 0xffffffff;

	bus_init(&bus, "pio");
	TEST_ASSERT_EQ(bus_register(&bus, 0x3f8, 8, &serial_bus_ops, &f->s), 0);
	TEST_ASSERT(bus_write(&bus, 0x3f8, &b, 1), "THR write");
	TEST_ASSERT_EQ(f->ntx, 1);
	TEST_ASSERT_EQ(f->tx[0], 'z');
	/* A wider read returns the register in the low byte and zeros above. */
	TEST_ASSERT(bus_read(&bus, 0x3fc, &wide, 4), "MCR read");
	TEST_ASSERT_EQ(wide, 0x08);
	wide = 0xffffffff;
	TEST_ASSERT(bus_read(&bus, 0x3fd, &wide, 2), "LSR read");
	TEST_ASSERT_EQ(wide, 0xffff0000u | LSR_THRE | LSR_TEMT);
	TEST_ASSERT(!bus_read(&bus, 0x3fd, &wide, 4), "read past the UART claimed");
	b = 0x77;
	TEST_ASSERT(bus_write(&bus, 0x3ff, &b, 1), "SCR write");
	TEST_ASSERT_EQ(serial_read(&f->s, SCR), 0x77);
	bus_destroy(&bus);
}

/* --- working cases --- */

static void test_reset_state(void **state)
{
	struct fake *f = *state;

	TEST_ASSERT_EQ(serial_read(&f->s, IER), 0);
	TEST_ASSERT_EQ(serial_read(&f->s, IIR), 0x01);
	TEST_ASSERT_EQ(serial_read(&f->s, LSR), LSR_THRE | LSR_TEMT);
	TEST_ASSERT_EQ(serial_read(&f->s, MSR), 0xb0); /* DCD, DSR, CTS */
	TEST_ASSERT_EQ(f->irq_calls, 0);
}

static void test_thr_transmits(void **state)
{
	struct fake *f = *state;
	const char *msg = "Linux version";

	for (const char *p = msg; *p; p++)
		serial_write(&f->s, THR, (uint8_t)*p);
	TEST_ASSERT_EQ(f->ntx, strlen(msg));
	TEST_ASSERT(!memcmp(f->tx, msg, strlen(msg)), "transmitted bytes differ");
	TEST_ASSERT_EQ(serial_read(&f->s, LSR), LSR_THRE | LSR_TEMT);
	TEST_ASSERT_EQ(f->irq_calls, 0); /* no interrupts enabled */
}

static void test_thre_irq(void **state)
{
	struct fake *f = *state;

	serial_write(&f->s, IER, IER_THRI);
	TEST_ASSERT(f->level, "enabling THRI with an empty THR raises the line");
	TEST_ASSERT_EQ(f->raises, 1);
	TEST_ASSERT_EQ(serial_read(&f->s, IER), IER_THRI);
	TEST_ASSERT_EQ(serial_read(&f->s, IIR), 0x02);
	TEST_ASSERT(!f->level, "reading IIR while it reports THRE clears it");
	TEST_ASSERT_EQ(serial_read(&f->s, IIR), 0x01);

	/* Each THR write empties at once and raises THRE again. */
	serial_write(&f->s, THR, 'x');
	TEST_ASSERT(f->level, "THRE after a THR write");
	TEST_ASSERT_EQ(serial_read(&f->s, IIR), 0x02);
	TEST_ASSERT(!f->level, "THRE cleared");

	/* Disabling THRI lowers the line even with THRE pending. */
	serial_write(&f->s, THR, 'y');
	TEST_ASSERT(f->level, "THRE after a second THR write");
	serial_write(&f->s, IER, 0);
	TEST_ASSERT(!f->level, "line stays up with THRI disabled");
	TEST_ASSERT_EQ(serial_read(&f->s, IIR), 0x01);
}

static void test_thre_irq_fifo_bits(void **state)
{
	struct fake *f = *state;

	serial_write(&f->s, FCR, 0x01);
	TEST_ASSERT_EQ(serial_read(&f->s, IIR), 0xc1);
	serial_write(&f->s, IER, IER_THRI);
	TEST_ASSERT(f->level, "THRE with FIFOs on");
	TEST_ASSERT_EQ(serial_read(&f->s, IIR), 0xc2);
	TEST_ASSERT(!f->level, "reading IIR (0xc2) clears THRE");
	TEST_ASSERT_EQ(serial_read(&f->s, IIR), 0xc1);
	serial_write(&f->s, FCR, 0x00);
	TEST_ASSERT_EQ(serial_read(&f->s, IIR), 0x01);
}

/* serial8250_do_startup's check that THRE is re-asserted when THRI is re-enabled. */
static void test_thre_reasserted_on_reenable(void **state)
{
	struct fake *f = *state;
	uint8_t iir1, iir;

	serial_write(&f->s, IER, IER_THRI);
	iir1 = serial_read(&f->s, IIR);
	serial_write(&f->s, IER, 0);
	serial_write(&f->s, IER, IER_THRI);
	iir = serial_read(&f->s, IIR);
	serial_write(&f->s, IER, 0);
	TEST_ASSERT(!(iir1 & 0x01) && !(iir & 0x01),
		    "THRE not re-asserted: iir1 %#x iir %#x (Linux would set UART_BUG_THRE)", iir1, iir);
	TEST_ASSERT(!f->level, "line left up");
}

static void test_rx_irq(void **state)
{
	struct fake *f = *state;

	TEST_ASSERT_EQ(serial_receive(&f->s, (const uint8_t *)"hi", 2), 2);
	TEST_ASSERT_EQ(serial_read(&f->s, LSR), LSR_THRE | LSR_TEMT | LSR_DR);
	TEST_ASSERT(!f->level, "RX raised the line with RDI disabled");
	TEST_ASSERT_EQ(serial_read(&f->s, IIR), 0x01);

	serial_write(&f->s, IER, IER_RDI);
	TEST_ASSERT(f->level, "enabling RDI with data waiting raises the line");
	TEST_ASSERT_EQ(serial_read(&f->s, IIR), 0x04);
	TEST_ASSERT(f->level, "reading IIR does not clear RDI");
	TEST_ASSERT_EQ(serial_read(&f->s, RBR), 'h');
	TEST_ASSERT(f->level, "one byte left");
	TEST_ASSERT_EQ(serial_read(&f->s, RBR), 'i');
	TEST_ASSERT(!f->level, "draining the FIFO lowers the line");
	TEST_ASSERT_EQ(serial_read(&f->s, LSR), LSR_THRE | LSR_TEMT);
	TEST_ASSERT_EQ(serial_read(&f->s, IIR), 0x01);

	TEST_ASSERT_EQ(serial_receive(&f->s, (const uint8_t *)"!", 1), 1);
	TEST_ASSERT(f->level, "new data raises the line again");
	serial_write(&f->s, FCR, 0x01);
	TEST_ASSERT_EQ(serial_read(&f->s, IIR), 0xc4);
	TEST_ASSERT_EQ(serial_read(&f->s, RBR), '!');
	TEST_ASSERT(!f->level, "line down");
	TEST_ASSERT_EQ(f->raises, 2);
	TEST_ASSERT_EQ(f->lowers, 2);
}

static void test_rx_before_thre_priority(void **state)
{
	struct fake *f = *state;

	serial_write(&f->s, IER, IER_RDI | IER_THRI);
	TEST_ASSERT_EQ(serial_receive(&f->s, (const uint8_t *)"a", 1), 1);
	/* Both pending: RDI is reported, and reading IIR leaves THRE pending. */
	TEST_ASSERT_EQ(serial_read(&f->s, IIR), 0x04);
	TEST_ASSERT_EQ(serial_read(&f->s, RBR), 'a');
	TEST_ASSERT(f->level, "THRE still pending");
	TEST_ASSERT_EQ(serial_read(&f->s, IIR), 0x02);
	TEST_ASSERT(!f->level, "all sources cleared");
	TEST_ASSERT_EQ(serial_read(&f->s, IIR), 0x01);
}

static void test_fcr_clear_rx(void **state)
{
	struct fake *f = *state;

	serial_write(&f->s, IER, IER_RDI);
	TEST_ASSERT_EQ(serial_receive(&f->s, (const uint8_t *)"hello", 5), 5);
	TEST_ASSERT(f->level, "RX pending");
	serial_write(&f->s, FCR, 0x07); /* enable, clear RX, clear TX */
	TEST_ASSERT(!f->level, "clearing the FIFO lowers the line");
	TEST_ASSERT_EQ(serial_read(&f->s, LSR) & LSR_DR, 0);
	TEST_ASSERT_EQ(serial_read(&f->s, IIR), 0xc1);
	TEST_ASSERT_EQ(serial_receive(&f->s, (const uint8_t *)"x", 1), 1);
	TEST_ASSERT_EQ(serial_read(&f->s, RBR), 'x');
	/* Without the clear bit, data stays. */
	TEST_ASSERT_EQ(serial_receive(&f->s, (const uint8_t *)"y", 1), 1);
	serial_write(&f->s, FCR, 0x01);
	TEST_ASSERT_EQ(serial_read(&f->s, RBR), 'y');
}

static void test_dlab(void **state)
{
	struct fake *f = *state;

	serial_write(&f->s, IER, IER_RDI);
	TEST_ASSERT_EQ(serial_receive(&f->s, (const uint8_t *)"r", 1), 1);

	serial_write(&f->s, LCR, LCR_DLAB | 0x03);
	TEST_ASSERT_EQ(serial_read(&f->s, LCR), LCR_DLAB | 0x03);
	serial_write(&f->s, 0, 0x01); /* 115200 baud */
	serial_write(&f->s, 1, 0x00);
	TEST_ASSERT_EQ(f->ntx, 0);
	TEST_ASSERT_EQ(serial_read(&f->s, 0), 0x01);
	TEST_ASSERT_EQ(serial_read(&f->s, 1), 0x00);
	serial_write(&f->s, 1, 0xab);
	TEST_ASSERT_EQ(serial_read(&f->s, 1), 0xab);
	/* The divisor read did not consume the received byte. */
	TEST_ASSERT(serial_read(&f->s, LSR) & LSR_DR, "DLAB read of offset 0 drained RX");

	serial_write(&f->s, LCR, 0x03);
	TEST_ASSERT_EQ(serial_read(&f->s, IER), IER_RDI); /* IER untouched by the DLM write */
	TEST_ASSERT_EQ(serial_read(&f->s, RBR), 'r');
	serial_write(&f->s, THR, 'T');
	TEST_ASSERT_EQ(f->ntx, 1);
	TEST_ASSERT_EQ(f->tx[0], 'T');
	serial_write(&f->s, LCR, LCR_DLAB);
	TEST_ASSERT_EQ(serial_read(&f->s, 0), 0x01);
	TEST_ASSERT_EQ(serial_read(&f->s, 1), 0xab);
}

static void test_loopback(void **state)
{
	struct fake *f = *state;

	/* Linux's autoconfig: MCR = LOOP | OUT2 | RTS, expects MSR status bits DCD | CTS. */
	serial_write(&f->s, MCR, 0x1a);
	TEST_ASSERT_EQ(serial_read(&f->s, MSR) & 0xf0, 0x90);
	serial_write(&f->s, MCR, 0x10);
	TEST_ASSERT_EQ(serial_read(&f->s, MSR) & 0xf0, 0x00);
	serial_write(&f->s, MCR, 0x11);
	TEST_ASSERT_EQ(serial_read(&f->s, MSR) & 0xf0, 0x20); /* DTR -> DSR */
	serial_write(&f->s, MCR, 0x14);
	TEST_ASSERT_EQ(serial_read(&f->s, MSR) & 0xf0, 0x40); /* OUT1 -> RI */
	serial_write(&f->s, MCR, 0x1f);
	TEST_ASSERT_EQ(serial_read(&f->s, MSR) & 0xf0, 0xf0);
	TEST_ASSERT_EQ(serial_read(&f->s, MCR), 0x1f);

	/* THR goes to the receiver, not out. */
	serial_write(&f->s, IER, IER_RDI);
	serial_write(&f->s, THR, 0x42);
	TEST_ASSERT_EQ(f->ntx, 0);
	TEST_ASSERT(serial_read(&f->s, LSR) & LSR_DR, "looped byte not received");
	TEST_ASSERT(f->level, "looped byte raises RDI");
	/* Outside input is cut off meanwhile. */
	TEST_ASSERT_EQ(serial_receive(&f->s, (const uint8_t *)"zz", 2), 0);
	TEST_ASSERT_EQ(serial_read(&f->s, RBR), 0x42);
	TEST_ASSERT(!f->level, "line down after reading the looped byte");
	TEST_ASSERT_EQ(serial_read(&f->s, LSR) & LSR_DR, 0);

	/* Back to normal. */
	serial_write(&f->s, MCR, 0x0b);
	TEST_ASSERT_EQ(serial_read(&f->s, MSR) & 0xf0, 0xb0);
	serial_write(&f->s, THR, 0x43);
	TEST_ASSERT_EQ(f->ntx, 1);
	TEST_ASSERT_EQ(f->tx[0], 0x43);
	TEST_ASSERT_EQ(serial_receive(&f->s, (const uint8_t *)"z", 1), 1);
}

static void test_scratch(void **state)
{
	struct fake *f = *state;

	for (unsigned v = 0; v < 256; v++) {
		serial_write(&f->s, SCR, (uint8_t)v);
		TEST_ASSERT_EQ(serial_read(&f->s, SCR), v);
	}
	serial_write(&f->s, LCR, LCR_DLAB);
	serial_write(&f->s, SCR, 0xa5);
	TEST_ASSERT_EQ(serial_read(&f->s, SCR), 0xa5);
}

/* The probe sequence of drivers/tty/serial/8250 autoconfig(), which must find a 16550A. */
static void test_linux_autoconfig(void **state)
{
	struct fake *f = *state;
	uint8_t scratch, scratch2, scratch3, save_mcr, save_lcr;

	scratch = serial_read(&f->s, IER);
	serial_write(&f->s, IER, 0);
	scratch2 = serial_read(&f->s, IER) & 0x0f;
	serial_write(&f->s, IER, 0x0f);
	scratch3 = serial_read(&f->s, IER) & 0x0f;
	serial_write(&f->s, IER, scratch);
	TEST_ASSERT(scratch2 == 0 && scratch3 == 0x0f, "IER test: %#x %#x", scratch2, scratch3);

	save_mcr = serial_read(&f->s, MCR);
	save_lcr = serial_read(&f->s, LCR);
	serial_write(&f->s, MCR, 0x10 | 0x0a);
	TEST_ASSERT_EQ(serial_read(&f->s, MSR) & 0xf0, 0x90);
	serial_write(&f->s, MCR, save_mcr);

	serial_write(&f->s, LCR, 0xbf);  /* UART_LCR_CONF_MODE_B */
	serial_write(&f->s, 2, 0);       /* EFR, which a 16550A does not have */
	serial_write(&f->s, LCR, 0);
	serial_write(&f->s, FCR, 0x01);
	TEST_ASSERT_EQ(serial_read(&f->s, IIR) >> 6, 3); /* 16550A */
	/* autoconfig_16550a: not a 16750 (64-byte FIFO bit does not stick). */
	serial_write(&f->s, LCR, 0);
	serial_write(&f->s, FCR, 0x01 | 0x20);
	TEST_ASSERT_NE(serial_read(&f->s, IIR) >> 5, 7);
	serial_write(&f->s, LCR, save_lcr);
	TEST_ASSERT_EQ(f->ntx, 0);
	TEST_ASSERT_EQ(serial_read(&f->s, MCR), save_mcr);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_rx_fifo_full),
		T(test_rx_fifo_wraparound),
		T(test_register_offset_masked),
		T(test_read_only_registers),
		T(test_bus_access),
		T(test_reset_state),
		T(test_thr_transmits),
		T(test_thre_irq),
		T(test_thre_irq_fifo_bits),
		T(test_thre_reasserted_on_reenable),
		T(test_rx_irq),
		T(test_rx_before_thre_priority),
		T(test_fcr_clear_rx),
		T(test_dlab),
		T(test_loopback),
		T(test_scratch),
		T(test_linux_autoconfig),
	};
#undef T

	return cmocka_run_group_tests_name("serial", tests, NULL, NULL);
}

/*
 * Fuzz target for the legacy devices a guest drives through port I/O:
 * the 16550A UART (devices/legacy/serial.c) and the CMOS RTC
 * (devices/legacy/rtc.c), both directly and through the port bus
 * (vmm/bus.c) the way vCPU exits reach them.
 *
 * The input is a sequence of operations. Each starts with an opcode byte
 * (taken modulo OP__COUNT) followed by its argument bytes; a missing
 * argument byte at the end of the input reads as 0.
 *
 *   OP_UART_WRITE  reg val          serial_write(reg, val)
 *   OP_UART_READ   reg              serial_read(reg)
 *   OP_UART_RX     n bytes[n]       serial_receive() of up to n input bytes
 *   OP_RTC_WRITE   port val         rtc_write(port, val)
 *   OP_RTC_READ    port             rtc_read(port)
 *   OP_BUS_WRITE   where len bytes  bus_write() of 1-8 bytes, see bus_port()
 *   OP_BUS_READ    where len        bus_read() of 1-8 bytes
 *   OP_SET_TIME    t0 t1 t2 t3 t4   the host clock the RTC shows (40 bits, LE)
 *
 * Whatever the sequence, nothing may crash or touch memory it does not own,
 * the receive FIFO stays within bounds and the interrupt line the device
 * drives matches the state it keeps.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/legacy/rtc.h"
#include "devices/legacy/serial.h"
#include "vmm/bus.h"
#include "vmm/x86/layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "fuzz_serial: %s:%d: invariant failed: %s\n",  \
				__FILE__, __LINE__, #cond);                            \
			abort();                                                       \
		}                                                                      \
	} while (0)

enum {
	OP_UART_WRITE, OP_UART_READ, OP_UART_RX, OP_RTC_WRITE, OP_RTC_READ,
	OP_BUS_WRITE, OP_BUS_READ, OP_SET_TIME, OP__COUNT
};

#define PORT_RTC 0x70

struct input {
	const uint8_t *p, *end;
};

static uint8_t next(struct input *in)
{
	return in->p < in->end ? *in->p++ : 0;
}

/* What the UART's callbacks observed. */
struct uart_obs {
	bool level;
	unsigned irq_changes;
	unsigned long tx_bytes;
};

static void obs_set_irq(void *opaque, bool level)
{
	struct uart_obs *o = opaque;

	/* The device calls this only when the level really changes. */
	CHECK(level != o->level);
	o->level = level;
	o->irq_changes++;
}

static void obs_tx(void *opaque, uint8_t byte)
{
	struct uart_obs *o = opaque;

	(void)byte;
	o->tx_bytes++;
}

static const struct serial_ops obs_ops = { .set_irq = obs_set_irq, .tx = obs_tx };

static time_t fake_time;

static time_t fake_now(time_t *t)
{
	if (t)
		*t = fake_time;
	return fake_time;
}

/*
 * A port for a bus access: mostly around the UART and the RTC, straddling
 * their edges, sometimes nowhere in particular.
 */
static uint64_t bus_port(uint8_t where)
{
	if (where < 0x80)
		return X86_PORT_COM1 - 4 + (where & 0x0f);   /* 0x3f4-0x403 */
	if (where < 0xc0)
		return PORT_RTC - 2 + (where & 0x07);         /* 0x6e-0x75 */
	return (uint64_t)where << 4;
}

static void check_uart(const struct serial *s, const struct uart_obs *o)
{
	CHECK(s->rx_count <= SERIAL_RX_FIFO);
	CHECK(s->rx_head < SERIAL_RX_FIFO);
	CHECK(s->irq_level == o->level);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, data + size };
	struct uart_obs obs = { 0 };
	struct serial uart;
	struct rtc rtc;
	struct bus pio;

	serial_init(&uart, &obs_ops, &obs);
	rtc_init(&rtc);
	fake_time = 1700000000; /* November 2023 */
	rtc.now = fake_now;
	bus_init(&pio, "fuzz-pio");
	CHECK(bus_register(&pio, X86_PORT_COM1, 8, &serial_bus_ops, &uart) == 0);
	CHECK(bus_register(&pio, PORT_RTC, 2, &rtc_bus_ops, &rtc) == 0);

	while (in.p < in.end) {
		uint8_t op = next(&in) % OP__COUNT, a, b;
		/* Bus data sits at the end of this array: ASan sees overruns. */
		uint8_t buf[8];
		unsigned len;
		size_t n, got;

		switch (op) {
		case OP_UART_WRITE:
			a = next(&in);
			b = next(&in);
			serial_write(&uart, a, b);
			break;
		case OP_UART_READ:
			(void)serial_read(&uart, next(&in));
			break;
		case OP_UART_RX:
			n = next(&in);
			if (n > (size_t)(in.end - in.p))
				n = (size_t)(in.end - in.p);
			got = serial_receive(&uart, in.p, n);
			CHECK(got <= n);
			in.p += n;
			break;
		case OP_RTC_WRITE:
			a = next(&in);
			b = next(&in);
			rtc_write(&rtc, a, b);
			break;
		case OP_RTC_READ:
			(void)rtc_read(&rtc, next(&in));
			break;
		case OP_BUS_WRITE:
			a = next(&in);
			len = next(&in) % 8 + 1; /* KVM: port I/O 1, 2 or 4 bytes, MMIO up to 8 */
			for (unsigned i = 0; i < len; i++)
				buf[8 - len + i] = next(&in);
			(void)bus_write(&pio, bus_port(a), buf + 8 - len, len);
			break;
		case OP_BUS_READ:
			a = next(&in);
			len = next(&in) % 8 + 1;
			(void)bus_read(&pio, bus_port(a), buf + 8 - len, len);
			break;
		default: /* OP_SET_TIME */
			fake_time = 0;
			for (unsigned i = 0; i < 5; i++)
				fake_time |= (time_t)next(&in) << (8 * i);
			break;
		}
		check_uart(&uart, &obs);
		CHECK(rtc.now == fake_now);
	}

	bus_destroy(&pio);
	serial_destroy(&uart);
	return 0;
}

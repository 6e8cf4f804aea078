/* 16550A UART emulation: registers, a receive FIFO and the interrupt identification logic. */
#include "devices/legacy/serial.h"

#include <string.h>

/* Register offsets and bits, from the National Semiconductor PC16550D data sheet. */
enum {
	UART_RBR_THR = 0,
	UART_IER = 1,
	UART_IIR_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};
#define IER_RDI		0x01 /* receive data available interrupt */
#define IER_THRI	0x02 /* transmit holding register empty interrupt */
#define IIR_NONE	0x01
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_FIFO	0xc0 /* "FIFOs enabled": how Linux recognises a 16550A */
#define FCR_FIFO_ENABLE 0x01
#define FCR_CLEAR_RX	0x02
#define LCR_DLAB	0x80
#define MCR_DTR		0x01
#define MCR_RTS		0x02
#define MCR_OUT1	0x04
#define MCR_OUT2	0x08
#define MCR_LOOP	0x10
#define LSR_DR		0x01
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80

void serial_init(struct serial *s, const struct serial_ops *ops, void *opaque)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->ops = ops;
	s->opaque = opaque;
	s->mcr = MCR_OUT2;
	s->dll = 0x0c; /* 9600 baud; meaningless here but what firmware leaves */
}

void serial_destroy(struct serial *s)
{
	pthread_mutex_destroy(&s->lock);
}

static uint8_t serial_iir(const struct serial *s)
{
	uint8_t fifo = (s->fcr & FCR_FIFO_ENABLE) ? IIR_FIFO : 0;

	/* Priority: received data before transmitter empty. */
	if ((s->ier & IER_RDI) && s->rx_count)
		return IIR_RDI | fifo;
	if ((s->ier & IER_THRI) && s->thr_empty_irq)
		return IIR_THRI | fifo;
	return IIR_NONE | fifo;
}

/* Caller holds the lock. Drives the line to match the pending interrupts. */
static void serial_update_irq(struct serial *s)
{
	bool level = !(serial_iir(s) & IIR_NONE);

	if (level != s->irq_level) {
		s->irq_level = level;
		s->ops->set_irq(s->opaque, level);
	}
}

static size_t serial_rx_push(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	while (n < len && s->rx_count < SERIAL_RX_FIFO) {
		s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_FIFO] = buf[n++];
		s->rx_count++;
	}
	return n;
}

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	/* In loopback the line is cut from the outside world. */
	n = (s->mcr & MCR_LOOP) ? 0 : serial_rx_push(s, buf, len);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

static uint8_t serial_msr(const struct serial *s)
{
	if (s->mcr & MCR_LOOP) {
		/* Loopback wires the modem outputs back to the inputs; Linux's
		 * autoconfig checks this to find the UART. */
		return (uint8_t)((s->mcr & MCR_RTS ? MSR_CTS : 0) |
				 (s->mcr & MCR_DTR ? MSR_DSR : 0) |
				 (s->mcr & MCR_OUT1 ? MSR_RI : 0) |
				 (s->mcr & MCR_OUT2 ? MSR_DCD : 0));
	}
	return MSR_DCD | MSR_DSR | MSR_CTS;
}

static uint8_t serial_read_locked(struct serial *s, unsigned reg)
{
	uint8_t val;

	switch (reg) {
	case UART_RBR_THR:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (!s->rx_count)
			return 0;
		val = s->rx[s->rx_head];
		s->rx_head = (s->rx_head + 1) % SERIAL_RX_FIFO;
		s->rx_count--;
		return val;
	case UART_IER: return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case UART_IIR_FCR:
		val = serial_iir(s);
		/* Reading IIR while it reports THRE clears that source. */
		if ((val & 0x0f) == IIR_THRI)
			s->thr_empty_irq = false;
		return val;
	case UART_LCR: return s->lcr;
	case UART_MCR: return s->mcr;
	case UART_LSR:
		/* The transmitter is instantaneous: always empty. */
		return LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0);
	case UART_MSR: return serial_msr(s);
	default: return s->scr;
	}
}

static void serial_transmit(struct serial *s, uint8_t val)
{
	if (s->mcr & MCR_LOOP)
		serial_rx_push(s, &val, 1);
	else
		s->ops->tx(s->opaque, val);
	/* The byte left at once, so the holding register is empty again. */
	s->thr_empty_irq = true;
}

static void serial_write_locked(struct serial *s, unsigned reg, uint8_t val)
{
	switch (reg) {
	case UART_RBR_THR:
		if (s->lcr & LCR_DLAB)
			s->dll = val;
		else
			serial_transmit(s, val);
		break;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = val;
			break;
		}
		/* Enabling THRE interrupts with an empty THR raises one at once. */
		if (!(s->ier & IER_THRI) && (val & IER_THRI))
			s->thr_empty_irq = true;
		s->ier = val & 0x0f;
		break;
	case UART_IIR_FCR:
		if (val & FCR_CLEAR_RX)
			s->rx_head = s->rx_count = 0;
		s->fcr = val & 0xc9;
		break;
	case UART_LCR: s->lcr = val; break;
	case UART_MCR: s->mcr = val & 0x1f; break;
	case UART_SCR: s->scr = val; break;
	default: /* LSR and MSR are read-only */ break;
	}
}

uint8_t serial_read(struct serial *s, unsigned reg)
{
	uint8_t val;

	pthread_mutex_lock(&s->lock);
	val = serial_read_locked(s, reg & 7);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return val;
}

void serial_write(struct serial *s, unsigned reg, uint8_t val)
{
	pthread_mutex_lock(&s->lock);
	serial_write_locked(s, reg & 7, val);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_bus_read(void *opaque, uint64_t offset, void *data, unsigned len)
{
	memset(data, 0, len);
	*(uint8_t *)data = serial_read(opaque, (unsigned)offset);
}

static void serial_bus_write(void *opaque, uint64_t offset, const void *data, unsigned len)
{
	(void)len;
	serial_write(opaque, (unsigned)offset, *(const uint8_t *)data);
}

const struct bus_dev_ops serial_bus_ops = {
	.read = serial_bus_read,
	.write = serial_bus_write,
};

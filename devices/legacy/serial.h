/* A 16550A UART: the guest's first console. */
#ifndef HUTCH_DEVICES_LEGACY_SERIAL_H
#define HUTCH_DEVICES_LEGACY_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/bus.h"

#define SERIAL_RX_FIFO 64

struct serial_ops {
	/* whenever the interrupt line should change level */
	void (*set_irq)(void *opaque, bool level);
	/* for each byte the guest transmits */
	void (*tx)(void *opaque, uint8_t byte);
};

struct serial {
	pthread_mutex_t lock; /* vCPU accesses vs. input from the console thread */
	const struct serial_ops *ops;
	void *opaque;
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thr_empty_irq; /* THRE interrupt pending until IIR read or THR write */
	bool irq_level;
	uint8_t rx[SERIAL_RX_FIFO];
	unsigned rx_head, rx_count;
};

extern const struct bus_dev_ops serial_bus_ops; /* 8 ports */

void serial_init(struct serial *s, const struct serial_ops *ops, void *opaque);
void serial_destroy(struct serial *s);

/* Queues input for the guest; returns how many bytes fitted. */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);

/* Register access, also used by the bus callbacks. */
uint8_t serial_read(struct serial *s, unsigned reg);
void serial_write(struct serial *s, unsigned reg, uint8_t val);

#endif

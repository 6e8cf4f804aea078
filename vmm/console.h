/* hutch's standard input and output as the guest's serial console. */
#ifndef HUTCH_VMM_CONSOLE_H
#define HUTCH_VMM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/legacy/serial.h"
#include "vmm/vm.h"

/* Takes up to len bytes of input for the guest; returns how many it took. */
typedef size_t console_input_fn(void *opaque, const uint8_t *buf, size_t len);

/*
 * Puts a terminal stdin into raw mode (restored at exit, also on fatal
 * signals) and starts a thread feeding stdin to input (the UART, or
 * virtio-console). Ctrl-a x stops the VM. At EOF the thread ends and the VM
 * keeps running.
 */
int console_start(console_input_fn *input, void *opaque, struct vm *vm);

/* For each byte the guest writes: to stdout. */
void console_output(void *opaque, uint8_t byte);
void console_write(void *opaque, const uint8_t *buf, size_t len);

/* The size of the terminal on stdout; false when it is not a terminal. */
bool console_size(uint16_t *cols, uint16_t *rows);

/* Restores the terminal if hutch changed it; safe to call repeatedly. */
void console_restore(void);

#endif

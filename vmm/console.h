/* hutch's standard input and output as the guest's serial console. */
#ifndef HUTCH_VMM_CONSOLE_H
#define HUTCH_VMM_CONSOLE_H

#include <stdint.h>

#include "devices/legacy/serial.h"
#include "vmm/vm.h"

/*
 * Puts a terminal stdin into raw mode (restored at exit, also on fatal
 * signals) and starts a thread feeding stdin to the UART. Ctrl-a x stops
 * the VM. At EOF the thread ends and the VM keeps running.
 */
int console_start(struct serial *uart, struct vm *vm);

/* For each byte the guest writes: to stdout. */
void console_output(void *opaque, uint8_t byte);

/* Restores the terminal if hutch changed it; safe to call repeatedly. */
void console_restore(void);

#endif

/* The virtio devices a configuration asks for: opened, created and plugged into the machine. */
#ifndef HUTCH_VMM_DEVICES_H
#define HUTCH_VMM_DEVICES_H

#include "vmm/config.h"
#include "vmm/x86/machine.h"

/*
 * Opens every disk (user errors: one line, VM_EXIT_USAGE) and plugs disks,
 * the console and the entropy device into m in that order, so disks are
 * vda, vdb, ... in --disk order. 0, VM_EXIT_USAGE or VM_EXIT_ERROR.
 */
int devices_create(struct machine *m, const struct vm_config *cfg);

/* Starts feeding standard input to the guest's console: COM1 or virtio-console. */
int devices_start_console(struct machine *m);

/* On SIGWINCH: tells the guest the terminal's new size. */
void devices_console_resized(void);

/* The guest's screen and input; NULL with --display off. */
struct display *devices_display(void);

/* After machine_stop_devices(): closes the disks. */
void devices_destroy(void);

#endif

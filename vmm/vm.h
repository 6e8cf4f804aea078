/* A virtual machine: the KVM VM, its guest memory, buses, vCPUs and stop logic. */
#ifndef HUTCH_VMM_VM_H
#define HUTCH_VMM_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/bus.h"
#include "vmm/config.h"
#include "vmm/memory.h"

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
};

/* hutch's exit codes. */
enum {
	VM_EXIT_OK = 0,	   /* guest powered off or rebooted, or user quit */
	VM_EXIT_ERROR = 1, /* triple fault, KVM error, host failure */
	VM_EXIT_USAGE = 2, /* bad arguments or input files */
	VM_EXIT_PANIC = 3, /* guest kernel panicked (pvpanic) */
};

struct vm {
	int kvm_fd;
	int vm_fd;
	struct gmem mem;
	struct bus pio;
	struct bus mmio;
	unsigned ncpus;
	struct vcpu *vcpus;
	size_t run_size;
	struct kvm_cpuid2 *supported_cpuid;
	atomic_bool stopping;
	atomic_int exit_code; /* -1 until someone asks the VM to stop */
	int stop_fd;	      /* eventfd: the main loop wakes when a stop is requested */
};

/* Opens /dev/kvm, creates the VM with in-kernel irqchip and PIT, and maps RAM.
 * Prints one line and returns -errno on failure. */
int vm_create(struct vm *vm, const struct vm_config *cfg);
void vm_destroy(struct vm *vm);

/* Creates the vCPU file descriptors (before ACPI and boot setup). */
int vm_create_vcpus(struct vm *vm);
/* Starts one thread per vCPU. */
int vm_start(struct vm *vm);
/* Asks the VM to stop with this exit code; the first request wins. Any thread. */
void vm_request_stop(struct vm *vm, int exit_code);
/* After a stop request: kicks every vCPU out of KVM_RUN and joins the threads. */
void vm_stop_vcpus(struct vm *vm);

/* Drives an ISA interrupt line of the in-kernel PIC and IOAPIC. */
void vm_set_irq(struct vm *vm, unsigned irq, bool level);

/* vcpu.c */
int vcpu_init(struct vm *vm, struct vcpu *vcpu, unsigned id);
void *vcpu_thread(void *arg);
void vcpu_dump(const struct vcpu *vcpu);

#endif

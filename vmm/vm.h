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
	/* under vm->pause_lock: the thread is in its run loop, as self */
	bool in_loop;
	pthread_t self;
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

	/* GSI routing: KVM's table is replaced whole, so hutch keeps a copy. */
	pthread_mutex_t irq_lock;
	struct kvm_irq_routing *routes; /* irqchip pins, then one MSI entry per GSI */
	unsigned routes_cap;
	unsigned next_gsi;

	/*
	 * Pause: vCPU threads park at the top of their run loop, holding no
	 * lock, while 'paused' is set. pause_op_lock serializes vm_pause()
	 * and vm_resume(); pause_lock guards the rest and the vCPUs' in_loop.
	 */
	pthread_mutex_t pause_op_lock;
	pthread_mutex_t pause_lock;
	pthread_cond_t unpaused;     /* parked vCPUs wait here */
	pthread_cond_t parked;	     /* vm_pause() waits here for the vCPUs */
	atomic_bool paused;	     /* written under pause_lock, read anywhere */
	unsigned vcpus_in_loop;	     /* threads between loop entry and exit */
	unsigned vcpus_parked;	     /* of those, how many are parked */
	struct kvm_clock_data clock; /* kvmclock when paused, if clock_saved */
	bool clock_saved;
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
/* After a stop request: kicks every vCPU out of KVM_RUN and joins the threads.
 * Parked (paused) vCPUs are woken and stop too. */
void vm_stop_vcpus(struct vm *vm);

/*
 * Pauses the guest: returns once every vCPU thread is out of KVM_RUN and
 * parked, which a vCPU inside a device callback reaches when the callback
 * returns. The guest's kvmclock stands still while paused (KVM_GET_CLOCK
 * here, KVM_SET_CLOCK in vm_resume()); its TSC does not, so a guest that
 * uses the TSC as clocksource sees time jump by the pause. Idempotent; any
 * thread but a vCPU's (-EDEADLK). Before vm_start(), vCPUs park at once
 * when they start. -ESHUTDOWN when the VM is stopping.
 */
int vm_pause(struct vm *vm) __attribute__((warn_unused_result));
/* Lets parked vCPUs run again; idempotent, any thread. 0 or -errno (the
 * guest runs again even when restoring its clock failed). */
int vm_resume(struct vm *vm);
bool vm_paused(struct vm *vm);

/* Drives an ISA interrupt line of the in-kernel PIC and IOAPIC. */
void vm_set_irq(struct vm *vm, unsigned irq, bool level);

/* Allocates a GSI for an MSI; -ENOSPC when none is left. */
int vm_gsi_alloc(struct vm *vm);
/* Points gsi (from vm_gsi_alloc()) at the MSI message addr/data. 0 or -errno. */
int vm_gsi_route_msi(struct vm *vm, unsigned gsi, uint64_t addr, uint32_t data);
/* Binds (or unbinds) an eventfd to gsi: a write to fd raises the interrupt in KVM. */
int vm_irqfd(struct vm *vm, int fd, unsigned gsi, bool assign);
/* Binds (or unbinds) an eventfd to guest writes of len bytes at an MMIO address. */
int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, int fd, bool assign);

/* vcpu.c */
int vcpu_init(struct vm *vm, struct vcpu *vcpu, unsigned id);
void *vcpu_thread(void *arg);
void vcpu_dump(const struct vcpu *vcpu);

#endif

/* vCPU threads: run KVM_RUN and dispatch exits to the buses. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "vmm/log.h"
#include "vmm/vm.h"

int vcpu_init(struct vm *vm, struct vcpu *vcpu, unsigned id)
{
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (vcpu->fd < 0) {
		fprintf(stderr, "hutch: KVM_CREATE_VCPU %u: %s\n", id, strerror(errno));
		return -errno;
	}
	vcpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		fprintf(stderr, "hutch: mmap of vCPU %u: %s\n", id, strerror(errno));
		return -errno;
	}
	return 0;
}

static void vcpu_handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	/* String I/O (rep outsb and friends) arrives as 'count' accesses. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			bus_write(&vcpu->vm->pio, run->io.port, data, run->io.size);
		else
			bus_read(&vcpu->vm->pio, run->io.port, data, run->io.size);
	}
}

static void vcpu_handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	unsigned len =
		run->mmio.len <= sizeof(run->mmio.data) ? run->mmio.len : sizeof(run->mmio.data);

	if (run->mmio.is_write) {
		if (!bus_write(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len))
			LOG_RATELIMITED("vCPU %u: write to unclaimed MMIO 0x%llx", vcpu->id,
					(unsigned long long)run->mmio.phys_addr);
	} else {
		bus_read(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
	}
}

/* Returns false when the vCPU must stop. */
static bool vcpu_handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO: vcpu_handle_io(vcpu); return true;
	case KVM_EXIT_MMIO: vcpu_handle_mmio(vcpu); return true;
	case KVM_EXIT_INTR: return true;
	case KVM_EXIT_SHUTDOWN:
		fprintf(stderr, "hutch: vCPU %u: triple fault (guest CPU reset); state:\n",
			vcpu->id);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		fprintf(stderr, "hutch: vCPU %u: VM entry failed, reason 0x%llx\n", vcpu->id,
			(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		fprintf(stderr, "hutch: vCPU %u: KVM internal error, suberror %u\n", vcpu->id,
			run->internal.suberror);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ||
		    run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
			vm_request_stop(vcpu->vm, VM_EXIT_OK);
			return false;
		}
		fprintf(stderr, "hutch: vCPU %u: system event %u\n", vcpu->id,
			run->system_event.type);
		break;
	default:
		fprintf(stderr, "hutch: vCPU %u: unexpected exit reason %u\n", vcpu->id,
			run->exit_reason);
		break;
	}
	vcpu_dump(vcpu);
	vm_request_stop(vcpu->vm, VM_EXIT_ERROR);
	return false;
}

/* Makes the thread visible to vm_pause(), which kicks and waits for it. */
static void vcpu_loop_enter(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	pthread_mutex_lock(&vm->pause_lock);
	vcpu->self = pthread_self();
	vcpu->in_loop = true;
	vm->vcpus_in_loop++;
	pthread_mutex_unlock(&vm->pause_lock);
}

static void vcpu_loop_leave(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	pthread_mutex_lock(&vm->pause_lock);
	vcpu->in_loop = false;
	vm->vcpus_in_loop--;
	pthread_cond_broadcast(&vm->parked); /* one fewer for vm_pause() to wait for */
	pthread_mutex_unlock(&vm->pause_lock);
}

/*
 * Waits, out of KVM_RUN and holding no other lock, until the VM is resumed
 * or stopping. On the way out it clears immediate_exit (set by the pause
 * kick) and only then lets the caller look at 'stopping' and 'paused'
 * again: a stop or pause that sets its flag after that look also sets
 * immediate_exit after the clear, so KVM_RUN returns at once (the fence
 * keeps the clear from passing the loads, as x86 lets stores do).
 */
static void vcpu_park(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	pthread_mutex_lock(&vm->pause_lock);
	if (atomic_load(&vm->paused) && !atomic_load(&vm->stopping)) {
		vm->vcpus_parked++;
		pthread_cond_broadcast(&vm->parked);
		while (atomic_load(&vm->paused) && !atomic_load(&vm->stopping))
			pthread_cond_wait(&vm->unpaused, &vm->pause_lock);
		vm->vcpus_parked--;
	}
	pthread_mutex_unlock(&vm->pause_lock);
	vcpu->run->immediate_exit = 0;
	atomic_thread_fence(memory_order_seq_cst);
}

void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	sigset_t kick;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", vcpu->id);
	pthread_setname_np(pthread_self(), name);
	/* The main thread kicks with SIGUSR1; everything else stays blocked. */
	sigemptyset(&kick);
	sigaddset(&kick, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);

	vcpu_loop_enter(vcpu);
	while (!atomic_load(&vcpu->vm->stopping)) {
		if (atomic_load(&vcpu->vm->paused)) {
			vcpu_park(vcpu);
			continue; /* look at 'stopping' and 'paused' again */
		}
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "hutch: vCPU %u: KVM_RUN: %s\n", vcpu->id, strerror(errno));
			vm_request_stop(vcpu->vm, VM_EXIT_ERROR);
			break;
		}
		if (!vcpu_handle_exit(vcpu))
			break;
	}
	vcpu_loop_leave(vcpu);
	return NULL;
}

static void dump_segment(const char *name, const struct kvm_segment *s)
{
	fprintf(stderr,
		"  %-3s sel=%04x base=%016llx limit=%08x type=%x p=%u dpl=%u db=%u l=%u g=%u\n",
		name, s->selector, (unsigned long long)s->base, s->limit, s->type, s->present,
		s->dpl, s->db, s->l, s->g);
}

void vcpu_dump(const struct vcpu *vcpu)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(stderr, "  (cannot read vCPU %u registers: %s)\n", vcpu->id,
			strerror(errno));
		return;
	}
	fprintf(stderr, "  rip=%016llx rsp=%016llx rflags=%016llx\n", (unsigned long long)r.rip,
		(unsigned long long)r.rsp, (unsigned long long)r.rflags);
	fprintf(stderr, "  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n",
		(unsigned long long)r.rax, (unsigned long long)r.rbx, (unsigned long long)r.rcx,
		(unsigned long long)r.rdx);
	fprintf(stderr, "  rsi=%016llx rdi=%016llx rbp=%016llx\n", (unsigned long long)r.rsi,
		(unsigned long long)r.rdi, (unsigned long long)r.rbp);
	fprintf(stderr, "  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%016llx\n",
		(unsigned long long)s.cr0, (unsigned long long)s.cr2, (unsigned long long)s.cr3,
		(unsigned long long)s.cr4, (unsigned long long)s.efer);
	dump_segment("cs", &s.cs);
	dump_segment("ss", &s.ss);
	dump_segment("ds", &s.ds);
	fprintf(stderr, "  gdt base=%016llx limit=%04x  idt base=%016llx limit=%04x\n",
		(unsigned long long)s.gdt.base, s.gdt.limit, (unsigned long long)s.idt.base,
		s.idt.limit);
}

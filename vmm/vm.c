/* VM lifecycle: create the KVM VM, map guest RAM, run and stop the vCPU threads. */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/x86/layout.h"

static int vm_fail(const char *what)
{
	int err = errno;

	fprintf(stderr, "hutch: %s: %s\n", what, strerror(err));
	return -err;
}

/* Capabilities hutch cannot run without. */
static int vm_check_caps(int kvm_fd)
{
	static const struct {
		int cap;
		const char *name;
	} caps[] = {
		{ KVM_CAP_IRQCHIP, "in-kernel irqchip" },
		{ KVM_CAP_PIT2, "in-kernel PIT" },
		{ KVM_CAP_USER_MEMORY, "user memory" },
		{ KVM_CAP_IMMEDIATE_EXIT, "immediate exit" },
		{ KVM_CAP_EXT_CPUID, "KVM_GET_SUPPORTED_CPUID" },
		{ KVM_CAP_IRQ_ROUTING, "GSI routing" },
		{ KVM_CAP_IRQFD, "irqfd" },
		{ KVM_CAP_IOEVENTFD, "ioeventfd" },
	};

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0) {
			fprintf(stderr, "hutch: /dev/kvm lacks %s\n", caps[i].name);
			return -ENOTSUP;
		}
	}
	return 0;
}

static int vm_get_supported_cpuid(struct vm *vm)
{
	for (unsigned nent = 128; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));

		if (!c)
			return -ENOMEM;
		c->nent = nent;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			vm->supported_cpuid = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG)
			return vm_fail("KVM_GET_SUPPORTED_CPUID");
	}
	return -E2BIG;
}

static int vm_map_memory(struct vm *vm, uint64_t mem_size)
{
	int ret = gmem_alloc_x86(&vm->mem, mem_size);

	if (ret) {
		fprintf(stderr, "hutch: cannot allocate %llu MiB of guest RAM: %s\n",
			(unsigned long long)(mem_size >> 20), strerror(-ret));
		return ret;
	}
	for (unsigned i = 0; i < vm->mem.nregions; i++) {
		struct kvm_userspace_memory_region region = {
			.slot = i,
			.guest_phys_addr = vm->mem.regions[i].gpa,
			.memory_size = vm->mem.regions[i].size,
			.userspace_addr = (uintptr_t)vm->mem.regions[i].hva,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
			return vm_fail("KVM_SET_USER_MEMORY_REGION");
	}
	return 0;
}

static int vm_create_irqchip(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	/* Intel needs these two pages below 4 GiB for real-mode emulation;
	 * they sit in the MMIO hole, never in RAM. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)X86_TSS_ADDR) < 0)
		return vm_fail("KVM_SET_TSS_ADDR");
	uint64_t identity = X86_IDENTITY_MAP_ADDR;
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
		return vm_fail("KVM_SET_IDENTITY_MAP_ADDR");
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP) < 0)
		return vm_fail("KVM_CREATE_IRQCHIP");
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return vm_fail("KVM_CREATE_PIT2");
	return 0;
}

/* KVM's default routing for its in-kernel irqchip (which KVM_SET_GSI_ROUTING
 * replaces): GSI 0-15 to the PICs and IOAPIC pins 0-15, 16-23 to the IOAPIC. */
#define VM_IRQCHIP_GSIS 24
#define VM_MAX_GSI	1024

static void vm_route_irqchip(struct kvm_irq_routing *r)
{
	for (unsigned gsi = 0; gsi < VM_IRQCHIP_GSIS; gsi++) {
		if (gsi < 16 && gsi != 2) {
			r->entries[r->nr++] = (struct kvm_irq_routing_entry){
				.gsi = gsi,
				.type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
						       : KVM_IRQCHIP_PIC_SLAVE,
					       gsi % 8 },
			};
		}
		r->entries[r->nr++] = (struct kvm_irq_routing_entry){
			.gsi = gsi,
			.type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { KVM_IRQCHIP_IOAPIC, gsi },
		};
	}
}

int vm_gsi_alloc(struct vm *vm)
{
	int gsi;

	pthread_mutex_lock(&vm->irq_lock);
	gsi = vm->next_gsi < VM_MAX_GSI ? (int)vm->next_gsi++ : -ENOSPC;
	pthread_mutex_unlock(&vm->irq_lock);
	return gsi;
}

int vm_gsi_route_msi(struct vm *vm, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct kvm_irq_routing_entry e = {
		.gsi = gsi,
		.type = KVM_IRQ_ROUTING_MSI,
		.u.msi = { .address_lo = (uint32_t)addr,
			   .address_hi = (uint32_t)(addr >> 32),
			   .data = data },
	};
	struct kvm_irq_routing *r;
	unsigned i;
	int ret = 0;

	pthread_mutex_lock(&vm->irq_lock);
	if (!vm->routes) {
		vm->routes_cap = VM_IRQCHIP_GSIS * 2 + 64;
		vm->routes = calloc(1, sizeof(*r) + vm->routes_cap * sizeof(r->entries[0]));
		if (!vm->routes) {
			ret = -ENOMEM;
			goto out;
		}
		vm_route_irqchip(vm->routes);
	}
	r = vm->routes;
	for (i = 0; i < r->nr && r->entries[i].gsi != gsi; i++)
		;
	if (i == r->nr && r->nr == vm->routes_cap) {
		unsigned cap = vm->routes_cap * 2;
		struct kvm_irq_routing *bigger =
			realloc(r, sizeof(*r) + cap * sizeof(r->entries[0]));

		if (!bigger) {
			ret = -ENOMEM;
			goto out;
		}
		vm->routes = r = bigger;
		vm->routes_cap = cap;
	}
	if (i == r->nr)
		r->nr++;
	r->entries[i] = e;
	if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, r) < 0)
		ret = -errno;
out:
	pthread_mutex_unlock(&vm->irq_lock);
	return ret;
}

int vm_irqfd(struct vm *vm, int fd, unsigned gsi, bool assign)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)fd,
		.gsi = gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};

	return ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, int fd, bool assign)
{
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

int vm_create(struct vm *vm, const struct vm_config *cfg)
{
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->stop_fd = -1;
	atomic_init(&vm->exit_code, -1);
	atomic_init(&vm->stopping, false);
	pthread_mutex_init(&vm->irq_lock, NULL);
	pthread_mutex_init(&vm->pause_op_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->unpaused, NULL);
	pthread_cond_init(&vm->parked, NULL);
	atomic_init(&vm->paused, false);
	vm->next_gsi = VM_IRQCHIP_GSIS;
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	vm->ncpus = cfg->ncpus;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		int err = errno;

		fprintf(stderr, "hutch: /dev/kvm: %s%s\n", strerror(err),
			err == ENOENT
				? " (no KVM here: enable virtualization, or see tests/kvmhost)"
			: err == EACCES ? " (add yourself to the group that owns it, usually kvm)"
					: "");
		return -err;
	}
	if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		fprintf(stderr, "hutch: /dev/kvm: unsupported KVM API version\n");
		return -ENOTSUP;
	}
	ret = vm_check_caps(vm->kvm_fd);
	if (ret)
		return ret;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return vm_fail("KVM_CREATE_VM");
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0)
		return vm_fail("eventfd");
	ret = vm_get_supported_cpuid(vm);
	if (!ret)
		ret = vm_create_irqchip(vm);
	if (!ret)
		ret = vm_map_memory(vm, cfg->mem_size);
	return ret;
}

int vm_create_vcpus(struct vm *vm)
{
	int size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);

	if (size <= 0)
		return vm_fail("KVM_GET_VCPU_MMAP_SIZE");
	vm->run_size = (size_t)size;
	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (unsigned i = 0; i < vm->ncpus; i++)
		vm->vcpus[i].fd = -1;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		int ret = vcpu_init(vm, &vm->vcpus[i], i);

		if (ret)
			return ret;
	}
	return 0;
}

static void vcpu_kick_handler(int sig)
{
	(void)sig; /* only there to interrupt KVM_RUN with EINTR */
}

int vm_start(struct vm *vm)
{
	struct sigaction sa = { .sa_handler = vcpu_kick_handler };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		int ret = pthread_create(&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]);

		if (ret) {
			errno = ret;
			vm_request_stop(vm, VM_EXIT_ERROR);
			return vm_fail("cannot start vCPU thread");
		}
		vm->vcpus[i].started = true;
	}
	return 0;
}

void vm_request_stop(struct vm *vm, int exit_code)
{
	int none = -1;
	uint64_t one = 1;

	atomic_compare_exchange_strong(&vm->exit_code, &none, exit_code);
	atomic_store(&vm->stopping, true);
	if (write(vm->stop_fd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow with a handful of writes; a failed
		 * write still leaves 'stopping' set for every poller. */
	}
}

/*
 * Gets a vCPU out of KVM_RUN, or keeps it from entering, so that it looks
 * at vm->stopping and vm->paused again; the caller set those first.
 * immediate_exit closes the race where the signal lands just before the
 * thread re-enters KVM_RUN; the thread clears it before it checks them.
 */
static void vcpu_kick(struct vcpu *vcpu, pthread_t thread)
{
	vcpu->run->immediate_exit = 1;
	pthread_kill(thread, SIGUSR1);
}

void vm_stop_vcpus(struct vm *vm)
{
	atomic_store(&vm->stopping, true);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		if (vm->vcpus[i].started)
			vcpu_kick(&vm->vcpus[i], vm->vcpus[i].thread);
	}
	/* Parked vCPUs check 'stopping' under pause_lock before they wait. */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->unpaused);
	pthread_cond_broadcast(&vm->parked);
	pthread_mutex_unlock(&vm->pause_lock);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		if (vm->vcpus[i].started)
			pthread_join(vm->vcpus[i].thread, NULL);
		vm->vcpus[i].started = false;
	}
}

/* A vCPU thread that paused the VM would wait for itself to park. */
static bool vm_on_vcpu_thread(struct vm *vm)
{
	bool on = false;

	pthread_mutex_lock(&vm->pause_lock);
	for (unsigned i = 0; vm->vcpus && i < vm->ncpus && !on; i++)
		on = vm->vcpus[i].in_loop && pthread_equal(vm->vcpus[i].self, pthread_self());
	pthread_mutex_unlock(&vm->pause_lock);
	return on;
}

/*
 * KVM API, KVM_GET_CLOCK / KVM_SET_CLOCK: kvmclock (the guest's clocksource
 * unless it prefers a stable TSC) would otherwise jump by the whole pause
 * at resume, which fires every timer at once and makes the soft-lockup
 * watchdog report stuck CPUs. Without KVM_CAP_ADJUST_CLOCK the clock simply
 * runs on. KVM_KVMCLOCK_CTRL sets PVCLOCK_GUEST_STOPPED, which tells that
 * watchdog the vCPU was stopped, for a guest whose clock does jump (TSC);
 * it fails harmlessly when the guest does not use kvmclock.
 */
static void vm_save_clock(struct vm *vm)
{
	vm->clock_saved = false;
	for (unsigned i = 0; i < vm->ncpus; i++)
		ioctl(vm->vcpus[i].fd, KVM_KVMCLOCK_CTRL, 0);
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK) <= 0)
		return;
	memset(&vm->clock, 0, sizeof(vm->clock));
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &vm->clock) < 0) {
		perror("hutch: KVM_GET_CLOCK");
		return;
	}
	vm->clock_saved = true;
}

static int vm_restore_clock(struct vm *vm)
{
	/* flags 0: the value as saved, not advanced by the host's realtime */
	struct kvm_clock_data clock = { .clock = vm->clock.clock };

	if (!vm->clock_saved)
		return 0;
	vm->clock_saved = false;
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0) {
		int err = errno;

		perror("hutch: KVM_SET_CLOCK");
		return -err;
	}
	return 0;
}

int vm_pause(struct vm *vm)
{
	int ret = 0;

	if (vm_on_vcpu_thread(vm))
		return -EDEADLK;
	pthread_mutex_lock(&vm->pause_op_lock);
	pthread_mutex_lock(&vm->pause_lock);
	if (!atomic_load(&vm->paused)) {
		atomic_store(&vm->paused, true);
		for (unsigned i = 0; vm->vcpus && i < vm->ncpus; i++) {
			if (vm->vcpus[i].in_loop)
				vcpu_kick(&vm->vcpus[i], vm->vcpus[i].self);
		}
		/* A vCPU that leaves its loop instead (stop, error) wakes us too. */
		while (!atomic_load(&vm->stopping) && vm->vcpus_parked < vm->vcpus_in_loop)
			pthread_cond_wait(&vm->parked, &vm->pause_lock);
		if (!atomic_load(&vm->stopping) && vm->vcpus)
			vm_save_clock(vm);
	}
	if (atomic_load(&vm->stopping))
		ret = -ESHUTDOWN;
	pthread_mutex_unlock(&vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_op_lock);
	return ret;
}

int vm_resume(struct vm *vm)
{
	int ret = 0;

	pthread_mutex_lock(&vm->pause_op_lock);
	pthread_mutex_lock(&vm->pause_lock);
	if (atomic_load(&vm->paused)) {
		ret = vm_restore_clock(vm);
		atomic_store(&vm->paused, false);
		pthread_cond_broadcast(&vm->unpaused);
	}
	pthread_mutex_unlock(&vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_op_lock);
	return ret;
}

bool vm_paused(struct vm *vm)
{
	return atomic_load(&vm->paused);
}

void vm_set_irq(struct vm *vm, unsigned irq, bool level)
{
	struct kvm_irq_level line = { .irq = irq, .level = level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &line) < 0)
		perror("hutch: KVM_IRQ_LINE");
}

void vm_destroy(struct vm *vm)
{
	if (vm->vcpus) {
		for (unsigned i = 0; i < vm->ncpus; i++) {
			if (vm->vcpus[i].run)
				munmap(vm->vcpus[i].run, vm->run_size);
			if (vm->vcpus[i].fd >= 0)
				close(vm->vcpus[i].fd);
		}
		free(vm->vcpus);
	}
	free(vm->supported_cpuid);
	free(vm->routes);
	gmem_free(&vm->mem);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	pthread_cond_destroy(&vm->parked);
	pthread_cond_destroy(&vm->unpaused);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_mutex_destroy(&vm->pause_op_lock);
	pthread_mutex_destroy(&vm->irq_lock);
}

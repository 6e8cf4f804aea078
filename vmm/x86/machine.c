/* Builds the x86 machine: wires legacy devices to the buses, writes ACPI, boots vCPU 0. */
#include "vmm/x86/machine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "firmware/reset_vector.h"
#include "vmm/x86/acpi.h"
#include "vmm/x86/cpuid.h"
#include "vmm/x86/layout.h"
#include "vmm/x86/msr.h"

static void machine_power_event(void *opaque, enum power_event event)
{
	struct machine *m = opaque;

	switch (event) {
	case POWER_EVENT_OFF: vm_request_stop(&m->vm, VM_EXIT_OK); break;
	case POWER_EVENT_RESET:
		/* A VM restart can come later; for now a reboot ends hutch. */
		vm_request_stop(&m->vm, VM_EXIT_OK);
		break;
	case POWER_EVENT_PANIC:
		fprintf(stderr, "\nhutch: guest kernel panicked\n");
		vm_request_stop(&m->vm, VM_EXIT_PANIC);
		break;
	}
}

static void com1_set_irq(void *opaque, bool level)
{
	struct machine *m = opaque;

	vm_set_irq(&m->vm, X86_IRQ_COM1, level);
}

static void com1_tx(void *opaque, uint8_t byte)
{
	struct machine *m = opaque;

	if (m->console_out)
		m->console_out(m->console_opaque, byte);
}

static const struct serial_ops com1_ops = { .set_irq = com1_set_irq, .tx = com1_tx };

static int platform_gsi_alloc(void *opaque)
{
	return vm_gsi_alloc(opaque);
}

static int platform_msi_route(void *opaque, unsigned gsi, uint64_t addr, uint32_t data)
{
	return vm_gsi_route_msi(opaque, gsi, addr, data);
}

static int platform_irqfd(void *opaque, int fd, unsigned gsi, bool assign)
{
	return vm_irqfd(opaque, fd, gsi, assign);
}

static int platform_ioeventfd(void *opaque, uint64_t addr, unsigned len, int fd, bool assign)
{
	return vm_ioeventfd(opaque, addr, len, fd, assign);
}

/*
 * The 64-bit PCI window: from the first GiB boundary above RAM, up to 32 GiB,
 * within what the guest can address. 0 size when there is no room.
 */
static void machine_mmio64_window(struct machine *m, uint64_t *base, uint64_t *size)
{
	const struct kvm_cpuid2 *c = m->vm.supported_cpuid;
	uint64_t ram_end = X86_HIGH_RAM_START, limit = 1ULL << 36;

	for (unsigned i = 0; i < m->vm.mem.nregions; i++) {
		const struct gmem_region *r = &m->vm.mem.regions[i];

		if (r->gpa + r->size > ram_end)
			ram_end = r->gpa + r->size;
	}
	for (unsigned i = 0; i < c->nent; i++) {
		if (c->entries[i].function == 0x80000008 && (c->entries[i].eax & 0xff) >= 32)
			limit = 1ULL << (c->entries[i].eax & 0xff); /* physical address bits */
	}
	*base = (ram_end + (1ULL << 30) - 1) & ~((1ULL << 30) - 1);
	*size = *base < limit ? limit - *base : 0;
	if (*size > (32ULL << 30))
		*size = 32ULL << 30;
	if (*size < (1ULL << 30))
		*size = 0;
}

/* The bus, its windows and the platform hooks; once, before the first device. */
static void machine_init_pci(struct machine *m)
{
	uint64_t base64, size64;

	if (m->pci_platform.gsi_alloc)
		return;
	m->pci_platform = (struct pci_platform){ platform_gsi_alloc, platform_msi_route,
						 platform_irqfd, platform_ioeventfd, &m->vm };
	pci_bus_init(&m->pci);
	machine_mmio64_window(m, &base64, &size64);
	pci_bus_set_windows(&m->pci, &m->vm.mmio, X86_PCI_MMIO32_BASE, X86_PCI_MMIO32_SIZE, base64,
			    size64);
}

int machine_add_virtio(struct machine *m, struct virtio_dev *vdev, const char *thread_name)
{
	struct virtio_pci *vp;
	int ret;

	machine_init_pci(m);
	/* slot 0 is the host bridge */
	if (m->nvirtio + 1 >= PCI_SLOTS)
		return -ENOSPC;
	vp = calloc(1, sizeof(*vp));
	if (!vp)
		return -ENOMEM;
	ret = virtio_pci_init(vp, vdev, &m->pci_platform, &m->vm.mem, thread_name);
	if (!ret)
		ret = pci_bus_add(&m->pci, m->nvirtio + 1, &vp->pci);
	if (ret) {
		virtio_pci_destroy(vp);
		free(vp);
		return ret;
	}
	m->virtio[m->nvirtio++] = vp;
	return 0;
}

void machine_stop_devices(struct machine *m)
{
	for (unsigned i = 0; i < m->nvirtio; i++) {
		virtio_pci_destroy(m->virtio[i]);
		free(m->virtio[i]);
	}
	m->nvirtio = 0;
}

void machine_power_button(struct machine *m)
{
	/* GED0's interrupt is edge-triggered: one pulse is one press. */
	vm_set_irq(&m->vm, X86_GSI_POWER_BUTTON, true);
	vm_set_irq(&m->vm, X86_GSI_POWER_BUTTON, false);
}

/* PCI bus 0 with a host bridge, reached through ports 0xcf8-0xcff and ECAM. */
static int machine_add_pci(struct machine *m)
{
	/* Red Hat's ID for a generic PCIe host bridge, which guests treat as
	 * plain hardware; class 06 00 00 (host bridge) is what Linux's
	 * mechanism #1 sanity check looks for. */
	machine_init_pci(m);
	pci_device_init(&m->pci_host_bridge, 0x1b36, 0x0008, 0x060000, 0);
	int ret = pci_bus_add(&m->pci, 0, &m->pci_host_bridge);

	if (!ret)
		ret = bus_register(&m->vm.pio, X86_PORT_PCI_CONF1, 8, &pci_conf1_bus_ops, &m->pci);
	if (!ret)
		ret = bus_register(&m->vm.mmio, X86_PCI_ECAM_BASE, X86_PCI_ECAM_SIZE,
				   &pci_ecam_bus_ops, &m->pci);
	return ret;
}

static int machine_add_devices(struct machine *m)
{
	struct bus *pio = &m->vm.pio;
	int ret;

	m->power = (struct power_sink){ machine_power_event, m };
	serial_init(&m->com1, &com1_ops, m);
	rtc_init(&m->rtc);
	m->kbc.power = &m->power;
	m->pvpanic.power = &m->power;
	m->acpi_pm = (struct acpi_pm){ &m->power, ACPI_S5_SLP_TYP, X86_ACPI_RESET_VALUE };

	ret = bus_register(pio, X86_PORT_COM1, 8, &serial_bus_ops, &m->com1);
	if (!ret)
		ret = bus_register(pio, 0x70, 2, &rtc_bus_ops, &m->rtc);
	if (!ret)
		ret = bus_register(pio, 0x60, 5, &i8042_bus_ops, &m->kbc);
	if (!ret)
		ret = bus_register(pio, X86_PORT_PVPANIC, 1, &pvpanic_bus_ops, &m->pvpanic);
	if (!ret)
		ret = bus_register(pio, X86_PORT_ACPI_SLEEP_CTL, 3, &acpi_pm_bus_ops, &m->acpi_pm);
	if (!ret)
		ret = machine_add_pci(m);
	return ret;
}

static int vcpu_set_cpuid(struct vm *vm, struct vcpu *vcpu)
{
	const struct kvm_cpuid2 *sup = vm->supported_cpuid;
	size_t size = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
	struct kvm_cpuid2 *cpuid = malloc(size);
	int ret = 0;

	if (!cpuid)
		return -ENOMEM;
	memcpy(cpuid, sup, size);
	x86_cpuid_patch(cpuid, vcpu->id, vm->ncpus,
			ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0);
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0)
		ret = -errno;
	free(cpuid);
	return ret;
}

static int vcpu_set_msrs(struct vcpu *vcpu)
{
	static const struct {
		uint32_t index;
		uint64_t value;
	} init[] = {
		{ MSR_IA32_SYSENTER_CS, 0 },
		{ MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 },
		{ MSR_STAR, 0 },
		{ MSR_CSTAR, 0 },
		{ MSR_KERNEL_GS_BASE, 0 },
		{ MSR_SYSCALL_MASK, 0 },
		{ MSR_LSTAR, 0 },
		{ MSR_IA32_MISC_ENABLE, MSR_IA32_MISC_ENABLE_FAST_STRING },
		/* MTRRs enabled, default type write-back: RAM is cacheable. */
		{ MSR_MTRRdefType, (1u << 11) | 6 },
	};
	const unsigned n = sizeof(init) / sizeof(init[0]);
	struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + n * sizeof(msrs->entries[0]));
	int ret;

	if (!msrs)
		return -ENOMEM;
	msrs->nmsrs = n;
	for (unsigned i = 0; i < n; i++) {
		msrs->entries[i].index = init[i].index;
		msrs->entries[i].data = init[i].value;
	}
	ret = ioctl(vcpu->fd, KVM_SET_MSRS, msrs) == (int)n ? 0 : -EINVAL;
	free(msrs);
	return ret;
}

/* LINT0 as ExtINT (the PIC), LINT1 as NMI: what firmware leaves for the OS. */
static int vcpu_set_lapic(struct vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	uint32_t *lvt_lint0 = (uint32_t *)&lapic.regs[0x350];
	uint32_t *lvt_lint1 = (uint32_t *)&lapic.regs[0x360];

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	*lvt_lint0 = (*lvt_lint0 & ~0x700u & ~0x10000u) | (7u << 8); /* delivery ExtINT */
	*lvt_lint1 = (*lvt_lint1 & ~0x700u & ~0x10000u) | (4u << 8); /* delivery NMI */
	return ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0 ? -errno : 0;
}

static int vcpu_set_fpu(struct vcpu *vcpu)
{
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 }; /* reset values */

	return ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0 ? -errno : 0;
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, bool l, bool db)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = db,
		.s = 1,
		.l = l,
		.g = 1,
	};
}

/* The boot vCPU's registers as the boot protocol (or PVH ABI) demands. */
static int vcpu_set_boot_regs(struct vcpu *vcpu, const struct boot_entry *entry)
{
	struct kvm_regs regs = { .rflags = 0x2, .rip = entry->rip, .rsp = X86_BOOT_STACK };
	struct kvm_sregs sregs;
	bool long64 = entry->mode == BOOT_ENTRY_LONG64;
	struct kvm_segment data = flat_segment(BOOT_GDT_DS, 0x3, false, true);

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cs = long64 ? flat_segment(BOOT_GDT_CS64, 0xb, true, false)
			  : flat_segment(BOOT_GDT_CS32, 0xb, false, true);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.gdt.base = X86_GDT_ADDR;
	sregs.gdt.limit = BOOT_GDT_ENTRIES * 8 - 1;
	sregs.tr = (struct kvm_segment){ .limit = 0x67, .type = 0xb, .present = 1 };
	if (long64) {
		sregs.cr0 = 0x80000011; /* PG, ET, PE */
		sregs.cr3 = X86_PML4_ADDR;
		sregs.cr4 = 0x20;   /* PAE */
		sregs.efer = 0x500; /* LMA, LME */
		regs.rsi = entry->arg;
	} else {
		sregs.cr0 = 0x11; /* ET, PE: no paging */
		sregs.cr4 = 0;
		sregs.efer = 0;
		regs.rbx = entry->arg;
	}
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

static int machine_setup_vcpu(struct vm *vm, struct vcpu *vcpu)
{
	int ret = vcpu_set_cpuid(vm, vcpu);

	if (!ret)
		ret = vcpu_set_msrs(vcpu);
	if (!ret)
		ret = vcpu_set_lapic(vcpu);
	if (!ret)
		ret = vcpu_set_fpu(vcpu);
	if (ret)
		fprintf(stderr, "hutch: cannot set up vCPU %u: %s\n", vcpu->id, strerror(-ret));
	return ret;
}

static int machine_write_acpi(struct machine *m, uint64_t *rsdp)
{
	const struct acpi_config cfg = {
		.ncpus = m->vm.ncpus,
		.ioapic_addr = X86_IOAPIC_ADDR,
		.lapic_addr = X86_LAPIC_ADDR,
		.sleep_ctl_port = X86_PORT_ACPI_SLEEP_CTL,
		.sleep_sts_port = X86_PORT_ACPI_SLEEP_STS,
		.reset_port = X86_PORT_ACPI_RESET,
		.reset_value = X86_ACPI_RESET_VALUE,
		.pvpanic_port = X86_PORT_PVPANIC,
		.pci_ecam_base = X86_PCI_ECAM_BASE,
		.pci_bus_end = (uint8_t)(X86_PCI_ECAM_SIZE / PCI_ECAM_BUS_SIZE - 1),
		.pci_mmio32_base = (uint32_t)X86_PCI_MMIO32_BASE,
		.pci_mmio32_size = (uint32_t)X86_PCI_MMIO32_SIZE,
		.pci_mmio64_base = m->pci.mmio64.base,
		.pci_mmio64_size = m->pci.mmio64.size,
		.power_button_gsi = X86_GSI_POWER_BUTTON,
	};
	const size_t size = RESET_VECTOR_ADDR - X86_BIOS_START; /* stop short of the reset vector */
	void *buf = gmem_ptr(&m->vm.mem, X86_BIOS_START, size);
	long used;

	if (!buf)
		return -ENOMEM;
	used = acpi_build(buf, size, X86_BIOS_START, &cfg);
	if (used < 0) {
		fprintf(stderr, "hutch: cannot build ACPI tables: %s\n", strerror((int)-used));
		return (int)used;
	}
	*rsdp = X86_BIOS_START;
	return 0;
}

static int machine_write_reset_vector(struct machine *m)
{
	static const uint8_t code[] = RESET_VECTOR_CODE(X86_PORT_ACPI_RESET, X86_ACPI_RESET_VALUE);

	return gmem_write(&m->vm.mem, RESET_VECTOR_ADDR, code, sizeof(code));
}

int machine_x86_setup(struct machine *m, const struct boot_request *req)
{
	struct boot_request boot = *req;
	struct boot_entry entry;
	int ret = machine_add_devices(m);

	if (ret) {
		fprintf(stderr, "hutch: cannot register devices: %s\n", strerror(-ret));
		return ret;
	}
	ret = vm_create_vcpus(&m->vm);
	for (unsigned i = 0; !ret && i < m->vm.ncpus; i++)
		ret = machine_setup_vcpu(&m->vm, &m->vm.vcpus[i]);
	if (!ret)
		ret = machine_write_acpi(m, &boot.rsdp_addr);
	if (!ret)
		ret = machine_write_reset_vector(m);
	if (ret)
		return ret;
	ret = boot_load(&m->vm.mem, &boot, &entry);
	if (ret)
		return ret;
	ret = vcpu_set_boot_regs(&m->vm.vcpus[0], &entry);
	if (ret)
		fprintf(stderr, "hutch: cannot set boot registers: %s\n", strerror(-ret));
	return ret;
}

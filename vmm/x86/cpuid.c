/* CPUID for guests: KVM's supported set, patched for APIC IDs and CPU topology. Vendor-neutral. */
#include "vmm/x86/cpuid.h"

#include <stdint.h>

#define CPUID_1_ECX_TSC_DEADLINE   (1u << 24)
#define CPUID_1_ECX_HYPERVISOR	   (1u << 31)
#define CPUID_1_EDX_HTT		   (1u << 28)
#define CPUID_80000001_ECX_TOPOEXT (1u << 22)

/* Extended topology levels (SDM vol. 2, CPUID leaf 0Bh). */
#define TOPO_LEVEL_SMT	1
#define TOPO_LEVEL_CORE 2

static unsigned order_base_2(unsigned n)
{
	unsigned shift = 0;

	while ((1u << shift) < n)
		shift++;
	return shift;
}

static void patch_ext_topology(struct kvm_cpuid_entry2 *e, unsigned id, unsigned ncpus)
{
	e->edx = id; /* x2APIC ID */
	switch (e->index) {
	case 0:
		e->eax = 0; /* one thread per core: no SMT bits */
		e->ebx = 1;
		e->ecx = TOPO_LEVEL_SMT << 8 | e->index;
		break;
	case 1:
		e->eax = order_base_2(ncpus);
		e->ebx = ncpus;
		e->ecx = TOPO_LEVEL_CORE << 8 | e->index;
		break;
	default:
		e->eax = e->ebx = 0;
		e->ecx = e->index; /* invalid level ends the enumeration */
		break;
	}
}

void x86_cpuid_patch(struct kvm_cpuid2 *cpuid, unsigned id, unsigned ncpus, bool tsc_deadline)
{
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 0x1:
			/* EBX[31:24] initial APIC ID, EBX[23:16] logical CPUs per package. */
			e->ebx = (e->ebx & 0xffff) | (id << 24) | ((ncpus & 0xff) << 16);
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (tsc_deadline)
				e->ecx |= CPUID_1_ECX_TSC_DEADLINE;
			if (ncpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			break;
		case 0x4:
			/* EAX[31:26] cores per package - 1; EAX[25:14] sharing, keep per core. */
			e->eax = (e->eax & 0x3ff) | ((ncpus - 1) << 26);
			break;
		case 0xb:
		case 0x1f: patch_ext_topology(e, id, ncpus); break;
		case 0x80000001:
			/* AMD's 8000001Eh topology would contradict leaf 0Bh; hide it. */
			e->ecx &= ~CPUID_80000001_ECX_TOPOEXT;
			break;
		case 0x80000008:
			/* ECX[15:12] APIC ID size, ECX[7:0] cores per package - 1 (AMD). */
			e->ecx = (e->ecx & ~0xf0ffu) | (order_base_2(ncpus) << 12) |
				 ((ncpus - 1) & 0xff);
			break;
		default: break;
		}
	}
}

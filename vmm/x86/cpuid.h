/* Per-vCPU CPUID: what KVM supports, with hutch's topology and APIC IDs. */
#ifndef HUTCH_VMM_X86_CPUID_H
#define HUTCH_VMM_X86_CPUID_H

#include <linux/kvm.h>

#include <stdbool.h>

/*
 * Rewrites a copy of KVM's supported CPUID for vCPU 'id' of 'ncpus':
 * one socket of ncpus cores, one thread each, APIC ID == id. With
 * tsc_deadline (KVM_CAP_TSC_DEADLINE_TIMER), offers the TSC-deadline LAPIC
 * timer, which KVM emulates but does not list as supported by itself.
 */
void x86_cpuid_patch(struct kvm_cpuid2 *cpuid, unsigned id, unsigned ncpus, bool tsc_deadline);

#endif

/* VM exit counters from KVM's binary statistics (KVM_GET_STATS_FD). */
#ifndef HUTCH_VMM_STATS_H
#define HUTCH_VMM_STATS_H

#include <stdint.h>

/* The per-vCPU counters hutch reports, summed over vCPUs. */
enum vm_stat {
	VM_STAT_EXITS,
	VM_STAT_IO_EXITS,
	VM_STAT_MMIO_EXITS,
	VM_STAT_HALT_EXITS,
	VM_STAT_IRQ_EXITS,
	VM_STAT__COUNT
};

struct vm_stats {
	uint64_t value[VM_STAT__COUNT];
};

/* Adds the counters from a KVM binary statistics file; 0 or -errno
 * (-EINVAL for a header with absurd sizes, -EIO for a short file). */
int vm_stats_add_fd(int stats_fd, struct vm_stats *stats);

/* Adds one vCPU's counters to *stats; 0 or -errno. */
int vm_stats_add_vcpu(int vcpu_fd, struct vm_stats *stats);

/* One line: "VM exits: N (port I/O N, MMIO N, halt N, external interrupt N)". */
void vm_stats_format(const struct vm_stats *stats, char *buf, unsigned size);

#endif

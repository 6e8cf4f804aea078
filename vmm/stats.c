/* Reads per-vCPU exit counters through KVM's binary statistics file descriptor. */
#include "vmm/stats.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* KVM's names for the counters (Documentation/virt/kvm/api.rst, KVM_GET_STATS_FD). */
static const char *const stat_names[VM_STAT__COUNT] = {
	[VM_STAT_EXITS] = "exits",	     [VM_STAT_IO_EXITS] = "io_exits",
	[VM_STAT_MMIO_EXITS] = "mmio_exits", [VM_STAT_HALT_EXITS] = "halt_exits",
	[VM_STAT_IRQ_EXITS] = "irq_exits",
};

#define STATS_MAX_DESCRIPTORS 4096
#define STATS_MAX_NAME	      256

static int stats_read_at(int fd, void *buf, size_t len, uint64_t offset)
{
	ssize_t n = pread(fd, buf, len, (off_t)offset);

	return n == (ssize_t)len ? 0 : -EIO;
}

/* Adds the value of descriptor 'desc' if it is one of ours. */
static void stats_take(int fd, const struct kvm_stats_header *hdr,
		       const struct kvm_stats_desc *desc, struct vm_stats *stats)
{
	uint64_t value;

	for (int i = 0; i < VM_STAT__COUNT; i++) {
		if (strncmp(desc->name, stat_names[i], hdr->name_size) != 0)
			continue;
		if (desc->size >= 1 && !stats_read_at(fd, &value, sizeof(value),
						      (uint64_t)hdr->data_offset + desc->offset))
			stats->value[i] += value;
		return;
	}
}

int vm_stats_add_fd(int fd, struct vm_stats *stats)
{
	struct kvm_stats_header hdr;
	struct kvm_stats_desc *desc;
	size_t desc_size;
	int ret = stats_read_at(fd, &hdr, sizeof(hdr), 0);

	if (ret)
		return ret;
	if (hdr.num_desc > STATS_MAX_DESCRIPTORS || hdr.name_size == 0 ||
	    hdr.name_size > STATS_MAX_NAME)
		return -EINVAL;
	desc_size = sizeof(*desc) + hdr.name_size;
	desc = calloc(1, desc_size + 1); /* +1: a NUL after the longest name */
	if (!desc)
		return -ENOMEM;
	for (uint32_t i = 0; i < hdr.num_desc && !ret; i++) {
		ret = stats_read_at(fd, desc, desc_size, (uint64_t)hdr.desc_offset + i * desc_size);
		if (!ret)
			stats_take(fd, &hdr, desc, stats);
	}
	free(desc);
	return ret;
}

int vm_stats_add_vcpu(int vcpu_fd, struct vm_stats *stats)
{
	int fd = ioctl(vcpu_fd, KVM_GET_STATS_FD, NULL);
	int ret;

	if (fd < 0)
		return -errno;
	ret = vm_stats_add_fd(fd, stats);
	close(fd);
	return ret;
}

void vm_stats_format(const struct vm_stats *stats, char *buf, unsigned size)
{
	snprintf(buf, size,
		 "VM exits: %llu (port I/O %llu, MMIO %llu, halt %llu, external interrupt %llu)",
		 (unsigned long long)stats->value[VM_STAT_EXITS],
		 (unsigned long long)stats->value[VM_STAT_IO_EXITS],
		 (unsigned long long)stats->value[VM_STAT_MMIO_EXITS],
		 (unsigned long long)stats->value[VM_STAT_HALT_EXITS],
		 (unsigned long long)stats->value[VM_STAT_IRQ_EXITS]);
}

/* Unit tests for vmm/stats.c: parsing KVM's binary statistics format. */
#include <errno.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/stats.h"

#define NAME_SIZE 48

/* Writes a stats file: header, descriptors for names[], then u64 values. */
static int make_stats_file(const char *const *names, const uint64_t *values, unsigned n,
			   struct kvm_stats_header *override)
{
	char path[] = "/tmp/hutch-stats.XXXXXX";
	int fd = mkstemp(path);
	size_t desc_size = sizeof(struct kvm_stats_desc) + NAME_SIZE;
	struct kvm_stats_header hdr = {
		.name_size = NAME_SIZE,
		.num_desc = n,
		.id_offset = sizeof(hdr),
		.desc_offset = sizeof(hdr),
		.data_offset = (uint32_t)(sizeof(hdr) + n * desc_size),
	};

	assert_true(fd >= 0);
	unlink(path);
	if (override)
		hdr = *override;
	assert_int_equal(pwrite(fd, &hdr, sizeof(hdr), 0), sizeof(hdr));
	for (unsigned i = 0; i < n; i++) {
		uint8_t buf[sizeof(struct kvm_stats_desc) + NAME_SIZE] = { 0 };
		struct kvm_stats_desc *d = (struct kvm_stats_desc *)buf;

		d->size = 1;
		d->offset = i * 8;
		memcpy(d->name, names[i], strlen(names[i])); /* NUL-padded by the zeroed buffer */
		assert_int_equal(pwrite(fd, buf, desc_size, sizeof(hdr) + i * desc_size),
				 (ssize_t)desc_size);
		assert_int_equal(pwrite(fd, &values[i], 8, hdr.data_offset + i * 8), 8);
	}
	return fd;
}

static void test_sums_known_counters(void **state)
{
	static const char *const names[] = { "halt_exits", "exits", "io_exits_x", "io_exits",
					     "mmio_exits", "irq_exits" };
	static const uint64_t values[] = { 3, 1000, 77, 40, 5, 9 };
	struct vm_stats stats = { 0 };
	char line[256];
	int fd = make_stats_file(names, values, 6, NULL);

	(void)state;
	assert_int_equal(vm_stats_add_fd(fd, &stats), 0);
	assert_int_equal(vm_stats_add_fd(fd, &stats), 0); /* two vCPUs: sums */
	close(fd);
	assert_int_equal(stats.value[VM_STAT_EXITS], 2000);
	assert_int_equal(stats.value[VM_STAT_IO_EXITS], 80); /* not io_exits_x */
	assert_int_equal(stats.value[VM_STAT_MMIO_EXITS], 10);
	assert_int_equal(stats.value[VM_STAT_HALT_EXITS], 6);
	assert_int_equal(stats.value[VM_STAT_IRQ_EXITS], 18);
	vm_stats_format(&stats, line, sizeof(line));
	assert_string_equal(line, "VM exits: 2000 (port I/O 80, MMIO 10, halt 6, "
				  "external interrupt 18)");
}

static void test_rejects_absurd_headers(void **state)
{
	struct kvm_stats_header bad[] = {
		{ .name_size = 0, .num_desc = 1 },
		{ .name_size = 100000, .num_desc = 1 },
		{ .name_size = NAME_SIZE, .num_desc = 0xffffffff },
	};
	struct vm_stats stats = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = make_stats_file(NULL, NULL, 0, &bad[i]);

		assert_int_equal(vm_stats_add_fd(fd, &stats), -EINVAL);
		close(fd);
	}
}

static void test_short_file(void **state)
{
	struct kvm_stats_header hdr = {
		.name_size = NAME_SIZE, .num_desc = 3, .desc_offset = 1 << 20, .data_offset = 0,
	};
	struct vm_stats stats = { 0 };
	int fd = make_stats_file(NULL, NULL, 0, &hdr);

	(void)state;
	assert_int_equal(vm_stats_add_fd(fd, &stats), -EIO);
	close(fd);
	fd = make_stats_file(NULL, NULL, 0, NULL);
	assert_int_equal(ftruncate(fd, 4), 0);
	assert_int_equal(vm_stats_add_fd(fd, &stats), -EIO);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rejects_absurd_headers),
		cmocka_unit_test(test_short_file),
		cmocka_unit_test(test_sums_known_counters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Guest physical memory: the only module that turns a guest address into a host pointer. */
#ifndef HUTCH_VMM_MEMORY_H
#define HUTCH_VMM_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_REGIONS 4

struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct gmem {
	struct gmem_region regions[GMEM_MAX_REGIONS];
	unsigned nregions;
	uint64_t ram_size; /* total bytes of RAM over all regions */
};

/*
 * Returns a host pointer for [gpa, gpa + len) when that whole range lies
 * inside a single RAM region and does not overflow; NULL otherwise.
 */
void *gmem_ptr(const struct gmem *mem, uint64_t gpa, size_t len);

/* Copy to and from guest RAM; 0 on success, -EFAULT when out of RAM. */
int gmem_read(const struct gmem *mem, void *dst, uint64_t gpa, size_t len)
	__attribute__((warn_unused_result));
int gmem_write(const struct gmem *mem, uint64_t gpa, const void *src, size_t len)
	__attribute__((warn_unused_result));

/* Adds a region backed by existing host memory (used by tests and by gmem_alloc). */
int gmem_add_region(struct gmem *mem, uint64_t gpa, uint64_t size, void *hva);

/*
 * x86 layout: RAM from 0 up to the 32-bit MMIO hole, the rest above 4 GiB.
 * Backed by private anonymous mappings. 0 or -errno.
 */
int gmem_alloc_x86(struct gmem *mem, uint64_t ram_size);
void gmem_free(struct gmem *mem);

#endif

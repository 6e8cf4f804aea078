/* Guest physical memory regions and the one checked accessor for them. */
#include "vmm/memory.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "vmm/x86/layout.h"

void *gmem_ptr(const struct gmem *mem, uint64_t gpa, size_t len)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct gmem_region *r = &mem->regions[i];

		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		/* The whole range must fit in this one region; written so
		 * that no sum can overflow. */
		if (len > r->size - (gpa - r->gpa))
			return NULL;
		return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

int gmem_read(const struct gmem *mem, void *dst, uint64_t gpa, size_t len)
{
	const void *src = gmem_ptr(mem, gpa, len);

	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int gmem_write(const struct gmem *mem, uint64_t gpa, const void *src, size_t len)
{
	void *dst = gmem_ptr(mem, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int gmem_add_region(struct gmem *mem, uint64_t gpa, uint64_t size, void *hva)
{
	if (mem->nregions >= GMEM_MAX_REGIONS)
		return -ENOSPC;
	if (size == 0 || gpa + size < gpa)
		return -EINVAL;
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct gmem_region *r = &mem->regions[i];

		if (gpa < r->gpa + r->size && r->gpa < gpa + size)
			return -EEXIST;
	}
	mem->regions[mem->nregions++] = (struct gmem_region){ gpa, size, hva };
	mem->ram_size += size;
	return 0;
}

#define GMEM_HUGE_PAGE (2ULL << 20)

/*
 * Maps 'size' bytes aligned to 2 MiB. Private anonymous memory gets
 * transparent huge pages (shared memory only if the admin enabled it for
 * shmem), and KVM maps a 2 MiB page to the guest in one nested page fault
 * instead of 512 only when host and guest addresses agree modulo 2 MiB.
 */
static void *gmem_map_aligned(uint64_t size)
{
	uint64_t span = size + GMEM_HUGE_PAGE;
	uint8_t *raw = mmap(NULL, span, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint8_t *hva;
	uint64_t head;

	if (raw == MAP_FAILED)
		return NULL;
	hva = (uint8_t *)(((uintptr_t)raw + GMEM_HUGE_PAGE - 1) & ~(uintptr_t)(GMEM_HUGE_PAGE - 1));
	head = (uint64_t)(hva - raw);
	if (head)
		munmap(raw, head);
	munmap(hva + size, span - head - size);
	return hva;
}

static int gmem_map(struct gmem *mem, uint64_t gpa, uint64_t size)
{
	void *hva = gmem_map_aligned(size);
	int ret;

	if (!hva)
		return -errno;
	madvise(hva, size, MADV_HUGEPAGE);
	/* Guest RAM is large and mostly untouched: never in a core dump. */
	madvise(hva, size, MADV_DONTDUMP);
	ret = gmem_add_region(mem, gpa, size, hva);
	if (ret)
		munmap(hva, size);
	return ret;
}

int gmem_alloc_x86(struct gmem *mem, uint64_t ram_size)
{
	uint64_t low = ram_size < X86_MMIO_HOLE_START ? ram_size : X86_MMIO_HOLE_START;
	int ret;

	memset(mem, 0, sizeof(*mem));
	ret = gmem_map(mem, 0, low);
	if (ret)
		return ret;
	if (ram_size > low) {
		ret = gmem_map(mem, X86_HIGH_RAM_START, ram_size - low);
		if (ret) {
			gmem_free(mem);
			return ret;
		}
	}
	return 0;
}

void gmem_free(struct gmem *mem)
{
	for (unsigned i = 0; i < mem->nregions; i++)
		munmap(mem->regions[i].hva, mem->regions[i].size);
	mem->nregions = 0;
	mem->ram_size = 0;
}

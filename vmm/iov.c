/* Copies between flat buffers and scatter lists. */
#include "vmm/iov.h"

#include <stdint.h>
#include <string.h>

/* Walks the bytes [off, off + len) of iov[0, n), one contiguous piece at a time. */
static size_t iov_copy(const struct iovec *iov, unsigned n, size_t off, uint8_t *flat, size_t len,
		       int to_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t k = iov[i].iov_len;

		if (off >= k) {
			off -= k;
			continue;
		}
		k -= off;
		if (k > len - done)
			k = len - done;
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + off, flat + done, k);
		else
			memcpy(flat + done, (const uint8_t *)iov[i].iov_base + off, k);
		done += k;
		off = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *dst, size_t len)
{
	return iov_copy(iov, n, off, dst, len, 0);
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *src, size_t len)
{
	return iov_copy(iov, n, off, (uint8_t *)(uintptr_t)src, len, 1);
}

size_t iov_length(const struct iovec *iov, unsigned n)
{
	size_t len = 0;

	for (unsigned i = 0; i < n; i++)
		len += iov[i].iov_len;
	return len;
}

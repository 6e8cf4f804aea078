/* Copies between flat buffers and scatter lists, however the bytes are split. */
#ifndef HUTCH_VMM_IOV_H
#define HUTCH_VMM_IOV_H

#include <stddef.h>
#include <sys/uio.h>

/* The bytes in iov[0, n) (the caller knows the sum cannot overflow). */
size_t iov_length(const struct iovec *iov, unsigned n);

/* Copies up to len bytes from offset off of iov[0, n) to dst; returns how many there were. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *dst, size_t len);

/* Copies up to len bytes of src to offset off of iov[0, n); returns how many fit. */
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *src, size_t len);

#endif

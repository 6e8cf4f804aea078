/*
 * Fuzz target for qcow2 images (devices/block/qcow2*.c behind image.c): the
 * input is an image file followed by a few control bytes that choose how it
 * is opened and what is done to it.
 *
 * Layout, from the end of the input:
 *   last byte      n: the number of control bytes before it (n % 64)
 *   n bytes        control: byte 0 the open mode, then operations of 4 bytes
 *   the rest       the image file, written to a temporary file
 *
 * Open mode: bit 0 read-only; bit 1 probe (AUTO) instead of forcing qcow2.
 * Each operation is op, a, b, c (a missing byte reads as 0):
 *   op % 8: 0 read, 1 write, 2 discard, 3 write zeroes, 4 block status,
 *           5 compressed write of the cluster at the offset, 6 flush,
 *           7 check (with repair when writable)
 *   offset: (a << 8 | b) / 65536 of the virtual size; length: c * 997 + 1,
 *           clipped to the image and to 256 KiB.
 * After the operations the image is closed, reopened read-only and checked.
 *
 * Whatever the input: no crash, no memory error, no unbounded allocation,
 * and every call returns 0 or a negative errno; a successful open gives a
 * virtual size the header allowed (at most 2^62 bytes).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "devices/block/image.h"
#include "devices/block/qcow2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                            \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "fuzz_qcow2: %s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                              \
			abort();                                                               \
		}                                                                              \
	} while (0)

#define MAX_LEN (256u << 10)

static char path[256];
static uint8_t buf[2u << 20]; /* one cluster of the largest size, for compressed writes */

static const char *tmp_path(void)
{
	if (!path[0]) {
		const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");

		snprintf(path, sizeof(path), "%s/hutch-fuzz-qcow2-%d.img", dir ? dir : "/tmp",
			 (int)getpid());
	}
	return path;
}

static bool write_image(const uint8_t *data, size_t len)
{
	int fd = open(tmp_path(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok = fd >= 0;

	while (ok && len) {
		ssize_t n = write(fd, data, len);

		ok = n > 0;
		data += ok ? n : 0;
		len -= ok ? (size_t)n : 0;
	}
	if (fd >= 0)
		close(fd);
	return ok;
}

static void run_op(struct image *img, const uint8_t *c)
{
	uint64_t off =
		(uint64_t)((unsigned __int128)img->size * (uint64_t)(c[1] << 8 | c[2]) >> 16);
	uint64_t len = (uint64_t)c[3] * 997 + 1, pnum = 0;
	struct iovec v[2];
	int r = 0;

	if (len > img->size - off)
		len = img->size - off;
	if (len > MAX_LEN)
		len = MAX_LEN;
	v[0] = (struct iovec){ buf, len / 2 };
	v[1] = (struct iovec){ buf + len / 2, len - len / 2 };
	switch (c[0] % 8) {
	case 0: r = image_preadv(img, v, 2, off); break;
	case 1:
		memset(buf, c[3], len);
		r = image_pwritev(img, v, 2, off);
		break;
	case 2: r = image_discard(img, off, len); break;
	case 3: r = image_write_zeroes(img, off, len); break;
	case 4:
		if (len) {
			r = image_block_status(img, off, len, &pnum);
			CHECK(r < 0 || (pnum > 0 && pnum <= len));
		}
		break;
	case 5:
		if (img->format == IMAGE_FORMAT_QCOW2 && !img->readonly) {
			struct qcow2_info info;

			qcow2_get_info(img->qcow2, &info);
			memset(buf, c[3], (size_t)1 << info.cluster_bits);
			memcpy(buf, c, 4);
			off &= ~((1ull << info.cluster_bits) - 1);
			r = qcow2_write_compressed(img->qcow2, off, buf);
		}
		break;
	case 6: r = image_flush(img); break;
	case 7:
		if (img->format == IMAGE_FORMAT_QCOW2) {
			struct qcow2_check_result res;
			char err[128];

			r = qcow2_check(img->qcow2, !img->readonly, &res, err, sizeof(err));
		}
		break;
	}
	CHECK(r > -4096 && (r <= 0 || (c[0] % 8 == 4 && r == 1)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = size ? data[size - 1] % 64 : 0;
	const uint8_t *ctl;
	struct image img;
	char err[256];
	uint8_t mode;

	if (size < n + 1)
		return 0;
	ctl = data + size - 1 - n;
	mode = n ? ctl[0] : 0;
	if (!write_image(data, size - 1 - n))
		return 0;
	if (image_open(&img, tmp_path(), mode & 2 ? IMAGE_FORMAT_AUTO : IMAGE_FORMAT_QCOW2,
		       mode & 1, err, sizeof(err)) == 0) {
		CHECK(img.format == IMAGE_FORMAT_RAW || img.size <= (1ull << 62));
		for (size_t i = 1; i + 4 <= n; i += 4)
			run_op(&img, ctl + i);
		image_close(&img);
	} else {
		CHECK(err[0] && !strchr(err, '\n'));
	}
	if (image_open(&img, tmp_path(), IMAGE_FORMAT_QCOW2, true, err, sizeof(err)) == 0) {
		struct qcow2_check_result res;

		(void)qcow2_check(img.qcow2, false, &res, err, sizeof(err));
		image_close(&img);
	}
	unlink(tmp_path());
	return 0;
}

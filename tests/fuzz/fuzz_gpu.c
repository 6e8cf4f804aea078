/*
 * Fuzz target for virtio-gpu: the command parser (devices/virtio/gpu_cmd.c)
 * and the device behind it (devices/virtio/gpu.c: resources, backing,
 * transfers, scanout, flushes, cursor, responses, mode changes, config
 * writes, reset), with a fake display and a small guest memory.
 *
 * Guest memory: R0 [0x10000, 0x20000) and R1 [0x30000, 0x31000), each an
 * exactly sized malloc'd block, with a gap between them.
 *
 * The input is a sequence of operations, an opcode byte (modulo OP__COUNT)
 * and its arguments (a missing byte at the end of the input reads as 0).
 * Every request operation starts with a layout byte: bits 0-3 split the
 * request into iovecs of that many bytes (0: one), bits 4-6 choose the
 * response buffer (RESP_SIZES), bit 7 sets VIRTIO_GPU_FLAG_FENCE.
 *   OP_CREATE   layout id format w h        RESOURCE_CREATE_2D
 *   OP_UNREF    layout id                   RESOURCE_UNREF
 *   OP_ATTACH   layout id n claim (addr len)[n % 16]
 *                                            RESOURCE_ATTACH_BACKING; claim
 *                                            bit 0 claims claim entries more
 *   OP_DETACH   layout id                   RESOURCE_DETACH_BACKING
 *   OP_TRANSFER layout id x y w h offset    TRANSFER_TO_HOST_2D
 *   OP_SCANOUT  layout scanout id x y w h   SET_SCANOUT
 *   OP_FLUSH    layout id x y w h           RESOURCE_FLUSH
 *   OP_CURSOR   layout move scanout id x y  UPDATE_/MOVE_CURSOR on the cursor queue
 *   OP_INFO     layout edid scanout         GET_DISPLAY_INFO or GET_EDID
 *   OP_RAW      layout queue n b[n % 64]    raw request bytes
 *   OP_MODE     w h                         a front end's request_mode
 *   OP_CONFIG   offset len b[4]             a driver's config write
 *   OP_RESET                                reset(), then activate()
 *   OP_POKE     lo hi n                     n bytes of pattern into guest RAM
 * Ids, sizes and coordinates are chosen by one byte each (see pick32()),
 * offsets, addresses and lengths likewise (pick_offset(), pick_addr(),
 * pick_len()), so that both small good values and hostile edges come up.
 *
 * Whatever the input, nothing may crash or touch memory outside guest RAM
 * and host buffers. After every request: the bytes written fit the response
 * buffer and are a valid response; the resource table's counters match its
 * slots and stay within the limits; every backing iovec lies in guest RAM;
 * the scanout shows an existing resource within its bounds and the display's
 * surface is exactly that part of its pixels (or nothing); the fake display
 * reads every surface when it is set and when it is replaced (so a surface
 * freed under it is a use after free) and was only updated inside it; lock
 * and unlock pair up, with no other call between.
 */
#include <endian.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/display/display.h"
#include "devices/virtio/gpu.h"
#include "devices/virtio/gpu_cmd.h"
#include "vmm/memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz_gpu: %s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                            \
			abort();                                                             \
		}                                                                            \
	} while (0)

enum {
	OP_CREATE,
	OP_UNREF,
	OP_ATTACH,
	OP_DETACH,
	OP_TRANSFER,
	OP_SCANOUT,
	OP_FLUSH,
	OP_CURSOR,
	OP_INFO,
	OP_RAW,
	OP_MODE,
	OP_CONFIG,
	OP_RESET,
	OP_POKE,
	OP__COUNT
};

#define R0_GPA	0x10000ULL
#define R0_SIZE 0x10000ULL
#define R1_GPA	0x30000ULL
#define R1_SIZE 0x1000ULL
#define REQ_MAX (64 + 16 * GPU_MEM_ENTRY_SIZE)

static const size_t RESP_SIZES[8] = {
	0, 1, 10, 24, 25, GPU_RESP_DISPLAY_INFO, GPU_RESP_EDID, 2048
};
static const uint32_t EDGES32[] = { 0,		1,	    2,		3,
				    16,		64,	    320,	4095,
				    4096,	4097,	    65535,	0x7fffffff,
				    0x80000000, 0xfffffff0, 0xfffffffe, 0xffffffff };
static const uint32_t FORMATS[] = { 1, 2, 3, 4, 67, 68, 121, 134, 0, 5, 0xffffffff };

struct input {
	const uint8_t *p, *end;
};

static uint8_t next(struct input *in)
{
	return in->p < in->end ? *in->p++ : 0;
}

/* Small values directly, edges from a table. */
static uint32_t pick32(uint8_t b)
{
	return b < 0xc0 ? b : EDGES32[b % (sizeof(EDGES32) / sizeof(EDGES32[0]))];
}

static uint64_t pick_offset(uint8_t b)
{
	static const uint64_t edges[] = { R0_SIZE,	 R0_SIZE - 4,	 R0_SIZE + R1_SIZE,
					  0xffffffffULL, 0x100000000ULL, UINT64_MAX - 3,
					  UINT64_MAX };

	return b < 0xc0 ? (uint64_t)b * 4 * 17 : edges[b % 7];
}

static uint64_t pick_addr(uint8_t b)
{
	static const uint64_t edges[] = { 0,
					  R0_GPA - 1,
					  R0_GPA + R0_SIZE - 1,
					  R0_GPA + R0_SIZE,
					  R1_GPA + R1_SIZE - 4,
					  R1_GPA + R1_SIZE,
					  UINT64_MAX,
					  UINT64_MAX - 0xfff };

	if (b < 0x80)
		return R0_GPA + (uint64_t)b * 0x200;
	if (b < 0xc0)
		return R1_GPA + (uint64_t)(b - 0x80) * 0x40;
	return edges[b % 8];
}

static uint32_t pick_len(uint8_t b)
{
	static const uint32_t edges[] = {
		0, 1, 3, 0x1000, 0x10000, 0x10001, 0x80000000, 0xffffffff
	};

	return b < 0xc0 ? (uint32_t)b * 0x100 : edges[b % 8];
}

/* --- the fake display --- */

/*
 * The surface is memory the device owns: the fake reads all of it whenever
 * it is set or replaced and the rows of every update, so that a surface
 * left pointing at freed pixels is a use after free the sanitizer sees.
 */
static struct {
	struct display_surface surface;
	struct display_gpu_ops gpu;
	bool locked;
	uint8_t sink;
} fake;

static struct display *fake_display = (struct display *)&fake;

static void fake_read(uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	const struct display_surface *s = &fake.surface;

	/* the first and last byte of every row: rows lie in one block, so this finds overruns */
	for (uint32_t i = y; i < y + h; i++)
		fake.sink ^= s->data[i * s->stride + (size_t)x * 4] ^
			     s->data[i * s->stride + (size_t)(x + w) * 4 - 1];
}

static void fake_set_surface(struct display *d, const uint8_t *data, uint32_t width,
			     uint32_t height, size_t stride, enum display_format fmt)
{
	CHECK(d == fake_display);
	CHECK(!fake.locked);
	if (fake.surface.data)
		fake_read(0, 0, fake.surface.width, fake.surface.height); /* not freed yet */
	fake.surface = (struct display_surface){ data, width, height, stride, fmt };
	if (!data) {
		CHECK(!width && !height);
		return;
	}
	CHECK(width && height && width <= DISPLAY_MAX_WIDTH && height <= DISPLAY_MAX_HEIGHT);
	CHECK(stride >= (size_t)width * 4);
	CHECK((unsigned)fmt <= DISPLAY_RGBX);
	fake_read(0, 0, width, height);
}

static void fake_update(struct display *d, const struct display_rect *r)
{
	CHECK(d == fake_display);
	CHECK(!fake.locked);
	CHECK(fake.surface.data);
	CHECK(r->w && r->h);
	CHECK((uint64_t)r->x + r->w <= fake.surface.width &&
	      (uint64_t)r->y + r->h <= fake.surface.height);
	fake_read(r->x, r->y, r->w, r->h);
}

static void fake_lock(struct display *d)
{
	CHECK(d == fake_display);
	CHECK(!fake.locked && fake.surface.data);
	fake.locked = true;
}

static void fake_unlock(struct display *d)
{
	CHECK(d == fake_display);
	CHECK(fake.locked);
	fake.locked = false;
}

static void fake_set_gpu(struct display *d, const struct display_gpu_ops *ops)
{
	CHECK(d == fake_display);
	fake.gpu = *ops;
}

static const struct virtio_gpu_display_ops fake_ops = {
	.set_surface = fake_set_surface,
	.update = fake_update,
	.lock = fake_lock,
	.unlock = fake_unlock,
	.set_gpu = fake_set_gpu,
};

static void fake_notify(struct virtio_dev *vdev, int q)
{
	(void)vdev;
	(void)q;
}

static const struct virtio_transport_ops fake_transport = { .notify = fake_notify };

/* --- state --- */

struct state {
	struct gmem mem;
	uint8_t *r0, *r1;
	struct virtio_gpu gpu;
	struct virtq_chain chain;
	uint8_t req[REQ_MAX];
	size_t req_len;
	uint8_t *resp; /* exactly sized, so that an overrun is caught */
};

static struct state st;

static void put32(size_t off, uint32_t v)
{
	v = htole32(v);
	memcpy(st.req + off, &v, 4);
	if (off + 4 > st.req_len)
		st.req_len = off + 4;
}

static void put64(size_t off, uint64_t v)
{
	v = htole64(v);
	memcpy(st.req + off, &v, 8);
	if (off + 8 > st.req_len)
		st.req_len = off + 8;
}

static void begin(uint32_t type, size_t len, uint8_t layout)
{
	memset(st.req, 0, sizeof(st.req));
	st.req_len = len;
	put32(0, type);
	if (layout & 0x80) {
		put32(4, VIRTIO_GPU_FLAG_FENCE);
		put64(8, 0x0123456789abcdefULL);
		put32(16, 7);
	}
}

static bool in_ram(const void *p, size_t len)
{
	const uint8_t *b = p;

	return (b >= st.r0 && len <= R0_SIZE && b - st.r0 <= (ptrdiff_t)(R0_SIZE - len)) ||
	       (b >= st.r1 && len <= R1_SIZE && b - st.r1 <= (ptrdiff_t)(R1_SIZE - len));
}

static void check_state(void)
{
	const struct virtio_gpu *gpu = &st.gpu;
	const struct gpu_resources *t = &gpu->resources;
	uint64_t bytes = 0;
	unsigned count = 0;

	for (unsigned i = 0; i < GPU_MAX_RESOURCES; i++) {
		const struct gpu_resource *res = &t->slots[i];
		uint64_t len = 0;

		if (!res->id)
			continue;
		count++;
		CHECK(gpu_resource_index(t, res->id) == (int)i); /* ids are unique */
		CHECK(res->width && res->height && res->width <= DISPLAY_MAX_WIDTH &&
		      res->height <= DISPLAY_MAX_HEIGHT && res->pixels);
		bytes += (uint64_t)res->width * res->height * 4 +
			 res->nr_backing * sizeof(struct iovec);
		CHECK(res->has_backing || (!res->nr_backing && !res->backing_len));
		for (unsigned k = 0; k < res->nr_backing; k++) {
			CHECK(in_ram(res->backing[k].iov_base, res->backing[k].iov_len));
			len += res->backing[k].iov_len;
		}
		CHECK(len == res->backing_len);
	}
	CHECK(count == t->count && count <= GPU_MAX_RESOURCES);
	CHECK(bytes == t->host_bytes && bytes <= GPU_MAX_HOST_BYTES);
	CHECK(!fake.locked);
	if (gpu->scanout.resource_id) {
		int i = gpu_resource_index(t, gpu->scanout.resource_id);
		const struct display_rect *s = &gpu->scanout.rect;
		const struct gpu_resource *res;

		CHECK(i >= 0);
		res = &t->slots[i];
		CHECK((uint64_t)s->x + s->w <= res->width && (uint64_t)s->y + s->h <= res->height);
		/* the display shows exactly that rectangle of the resource's own pixels */
		CHECK(fake.surface.data ==
		      res->pixels + ((size_t)s->y * res->width + s->x) * GPU_BYTES_PER_PIXEL);
		CHECK(s->w == fake.surface.width && s->h == fake.surface.height);
		CHECK(fake.surface.stride == (size_t)res->width * GPU_BYTES_PER_PIXEL);
		CHECK(fake.surface.format == res->display_format);
	} else {
		CHECK(!fake.surface.data);
	}
}

/* Sends st.req as a chain to queue q and checks the response. */
static void submit(unsigned q, uint8_t layout)
{
	struct virtq_chain *c = &st.chain;
	size_t split = layout & 0xf, resp_len = RESP_SIZES[(layout >> 4) & 7], off = 0;
	uint32_t written, type;

	memset(c, 0, offsetof(struct virtq_chain, iov));
	while (off < st.req_len) {
		size_t k = split && st.req_len - off > split ? split : st.req_len - off;

		c->iov[c->out_num++] = (struct iovec){ st.req + off, k };
		off += k;
	}
	c->out_len = (uint32_t)st.req_len;
	st.resp = resp_len ? malloc(resp_len) : NULL;
	if (resp_len) {
		CHECK(st.resp);
		c->iov[c->out_num] = (struct iovec){ st.resp, resp_len };
		c->in_num = 1;
		c->in_len = (uint32_t)resp_len;
	}
	written = virtio_gpu_handle_chain(&st.gpu, q, c);
	CHECK(written <= resp_len);
	CHECK(written == (resp_len < GPU_HDR_SIZE ? resp_len : written));
	if (written >= 4) {
		memcpy(&type, st.resp, 4);
		type = le32toh(type);
		CHECK(type == VIRTIO_GPU_RESP_OK_NODATA ||
		      (type == VIRTIO_GPU_RESP_OK_DISPLAY_INFO &&
		       written == GPU_RESP_DISPLAY_INFO) ||
		      (type == VIRTIO_GPU_RESP_OK_EDID && written == GPU_RESP_EDID) ||
		      (type >= VIRTIO_GPU_RESP_ERR_UNSPEC &&
		       type <= VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER));
		CHECK(written <= GPU_HDR_SIZE || type == VIRTIO_GPU_RESP_OK_DISPLAY_INFO ||
		      type == VIRTIO_GPU_RESP_OK_EDID);
	}
	free(st.resp);
	st.resp = NULL;
	check_state();
}

static void put_rect(struct input *in, size_t off)
{
	for (unsigned i = 0; i < 4; i++)
		put32(off + 4 * i, pick32(next(in)));
}

static void op_attach(struct input *in, uint8_t layout)
{
	unsigned n;
	uint8_t claim;

	begin(VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, GPU_ATTACH_SIZE, layout);
	put32(24, pick32(next(in)));
	n = next(in) % 16;
	claim = next(in);
	put32(28, claim & 1 ? n + pick32(claim) : n);
	for (unsigned i = 0; i < n; i++) {
		put64(32 + 16 * i, pick_addr(next(in)));
		put32(40 + 16 * i, pick_len(next(in)));
	}
	submit(VIRTIO_GPU_CTRLQ, layout);
}

static void op_request(struct input *in, uint8_t op)
{
	uint8_t layout = next(in), b;

	switch (op) {
	case OP_CREATE:
		begin(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, 40, layout);
		put32(24, pick32(next(in)));
		put32(28, FORMATS[next(in) % (sizeof(FORMATS) / sizeof(FORMATS[0]))]);
		put32(32, pick32(next(in)));
		put32(36, pick32(next(in)));
		break;
	case OP_UNREF:
	case OP_DETACH:
		begin(op == OP_UNREF ? VIRTIO_GPU_CMD_RESOURCE_UNREF
				     : VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING,
		      32, layout);
		put32(24, pick32(next(in)));
		break;
	case OP_ATTACH: op_attach(in, layout); return;
	case OP_TRANSFER:
		begin(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D, 56, layout);
		put32(48, pick32(next(in)));
		put_rect(in, 24);
		put64(40, pick_offset(next(in)));
		break;
	case OP_SCANOUT:
		begin(VIRTIO_GPU_CMD_SET_SCANOUT, 48, layout);
		put32(40, pick32(next(in)));
		put32(44, pick32(next(in)));
		put_rect(in, 24);
		break;
	case OP_FLUSH:
		begin(VIRTIO_GPU_CMD_RESOURCE_FLUSH, 48, layout);
		put32(40, pick32(next(in)));
		put_rect(in, 24);
		break;
	case OP_CURSOR:
		b = next(in);
		begin(b & 1 ? VIRTIO_GPU_CMD_MOVE_CURSOR : VIRTIO_GPU_CMD_UPDATE_CURSOR, 56,
		      layout);
		put32(24, pick32(next(in)));
		put32(40, pick32(next(in)));
		put32(28, pick32(next(in)));
		put32(32, pick32(next(in)));
		submit(VIRTIO_GPU_CURSORQ, layout);
		return;
	case OP_INFO:
		b = next(in);
		begin(b & 1 ? VIRTIO_GPU_CMD_GET_EDID : VIRTIO_GPU_CMD_GET_DISPLAY_INFO,
		      b & 1 ? 32 : 24, layout);
		put32(24, pick32(next(in)));
		st.req_len = b & 1 ? 32 : 24;
		break;
	case OP_RAW:
		b = next(in);
		memset(st.req, 0, sizeof(st.req));
		st.req_len = next(in) % 64;
		for (size_t i = 0; i < st.req_len; i++)
			st.req[i] = next(in);
		submit(b & 1 ? VIRTIO_GPU_CURSORQ : VIRTIO_GPU_CTRLQ, layout);
		return;
	}
	submit(VIRTIO_GPU_CTRLQ, layout);
}

static void op_other(struct input *in, uint8_t op)
{
	struct virtio_dev *vdev = &st.gpu.vdev;
	uint8_t off, len, b[4];

	switch (op) {
	case OP_MODE:
		CHECK(fake.gpu.request_mode);
		off = next(in);
		len = next(in);
		fake.gpu.request_mode(fake.gpu.opaque, pick32(off) * 17, pick32(len) * 13);
		CHECK(st.gpu.mode_width >= VIRTIO_GPU_MIN_WIDTH &&
		      st.gpu.mode_width <= DISPLAY_MAX_WIDTH);
		CHECK(st.gpu.mode_height >= VIRTIO_GPU_MIN_HEIGHT &&
		      st.gpu.mode_height <= DISPLAY_MAX_HEIGHT);
		break;
	case OP_CONFIG:
		off = next(in) % VIRTIO_GPU_CONFIG_SIZE;
		len = (uint8_t)(1 + next(in) % 4);
		for (unsigned i = 0; i < 4; i++)
			b[i] = next(in);
		if (off + len <= VIRTIO_GPU_CONFIG_SIZE) /* as the transport checks */
			vdev->ops->config_write(vdev, off, b, len);
		CHECK(!memcmp(st.gpu.config + 4, "\0\0\0\0", 4));
		break;
	case OP_RESET:
		vdev->ops->reset(vdev);
		CHECK(st.gpu.resources.count == 0 && st.gpu.resources.host_bytes == 0);
		CHECK(!fake.surface.data);
		CHECK(vdev->ops->activate(vdev) == 0);
		break;
	case OP_POKE: {
		uint16_t at = (uint16_t)(next(in) | next(in) << 8);
		unsigned n = next(in);

		for (unsigned i = 0; i < n; i++)
			st.r0[(at + i) % R0_SIZE] = (uint8_t)(at + i);
		break;
	}
	}
	check_state();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, data + size };

	memset(&st.mem, 0, sizeof(st.mem));
	memset(&fake, 0, sizeof(fake));
	st.r0 = calloc(1, R0_SIZE);
	st.r1 = calloc(1, R1_SIZE);
	CHECK(st.r0 && st.r1);
	CHECK(!gmem_add_region(&st.mem, R0_GPA, R0_SIZE, st.r0));
	CHECK(!gmem_add_region(&st.mem, R1_GPA, R1_SIZE, st.r1));
	CHECK(!virtio_gpu_init_ops(&st.gpu, &fake_ops, fake_display, 1280, 800));
	pthread_mutex_init(&st.gpu.vdev.lock, NULL);
	st.gpu.vdev.mem = &st.mem;
	st.gpu.vdev.transport = &fake_transport;
	CHECK(st.gpu.vdev.ops->activate(&st.gpu.vdev) == 0);

	while (in.p < in.end) {
		uint8_t op = next(&in) % OP__COUNT;

		if (op < OP_MODE)
			op_request(&in, op);
		else
			op_other(&in, op);
	}

	st.gpu.vdev.ops->reset(&st.gpu.vdev);
	virtio_gpu_destroy(&st.gpu);
	CHECK(!fake.gpu.request_mode && !fake.surface.data);
	pthread_mutex_destroy(&st.gpu.vdev.lock);
	free(st.r0);
	free(st.r1);
	return 0;
}

/*
 * Unit tests for virtio-gpu: the command parser with hostile requests first,
 * then the device (resources, transfers, scanout, flushes, responses, mode
 * changes) over simulated guest RAM and a fake display that checks the
 * surface's lifetime and locking, then the device under display.c's display
 * with a reading thread, then the EDID block.
 */
#include "test_util.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "devices/display/edid.h"
#include "devices/virtio/gpu.h"
#include "devices/virtio/gpu_cmd.h"
#include "vmm/memory.h"

/* Guest RAM: two regions with a gap, as in test_queue.c. */
#define A_GPA  0x100000ULL
#define A_SIZE 0x100000ULL
#define B_GPA  0x300000ULL
#define B_SIZE 0x10000ULL

/* --- the fake display --- */

/*
 * It checks the device's side of display.h's contract: every surface lies
 * inside a live resource's pixels, and the old one still does when the
 * device replaces it (so it was not freed first; the fake also reads all of
 * it then, which ASan turns into a use-after-free report); flushes lie
 * inside the surface; lock and unlock pair up, with nothing else between.
 */
struct fake_display {
	const struct gpu_resources *resources; /* the device's, to check pointers against */
	unsigned sets, updates, locks;
	bool locked;
	struct display_surface surface;
	struct display_rect last;
	struct display_gpu_ops gpu;
	uint8_t sink;
};

static struct fake_display *fake_of(struct display *d)
{
	return (struct fake_display *)(void *)d;
}

/* The surface s lies inside the pixels of a resource that exists. */
static bool fake_in_resource(const struct fake_display *f, const struct display_surface *s)
{
	const uint8_t *end = s->data + (size_t)(s->height - 1) * s->stride + (size_t)s->width * 4;

	for (unsigned i = 0; i < GPU_MAX_RESOURCES; i++) {
		const struct gpu_resource *res = &f->resources->slots[i];
		size_t bytes = (size_t)res->width * res->height * GPU_BYTES_PER_PIXEL;

		if (res->id && s->data >= res->pixels && end <= res->pixels + bytes)
			return true;
	}
	return false;
}

/* Reads every pixel of rectangle r of s, as a front end would. */
static void fake_read(struct fake_display *f, const struct display_surface *s,
		      const struct display_rect *r)
{
	for (uint32_t y = r->y; y < r->y + r->h; y++)
		for (size_t x = (size_t)r->x * 4; x < (size_t)(r->x + r->w) * 4; x++)
			f->sink ^= s->data[y * s->stride + x];
}

static void fake_set_surface(struct display *d, const uint8_t *data, uint32_t width,
			     uint32_t height, size_t stride, enum display_format fmt)
{
	struct fake_display *f = fake_of(d);
	struct display_surface *s = &f->surface;

	TEST_ASSERT(!f->locked, "set_surface between lock and unlock");
	if (s->data) {
		TEST_ASSERT(fake_in_resource(f, s), "the old surface was freed before set_surface");
		fake_read(f, s, &(struct display_rect){ 0, 0, s->width, s->height });
	}
	f->sets++;
	*s = (struct display_surface){ data, width, height, stride, fmt };
	if (!data) {
		TEST_ASSERT(!width && !height, "no pixels but %ux%u", width, height);
		return;
	}
	TEST_ASSERT(width && height && width <= DISPLAY_MAX_WIDTH && height <= DISPLAY_MAX_HEIGHT &&
			    stride >= (size_t)width * 4 && (unsigned)fmt <= DISPLAY_RGBX,
		    "surface %ux%u stride %zu format %d", width, height, stride, fmt);
	TEST_ASSERT(fake_in_resource(f, s), "surface outside any resource");
	fake_read(f, s, &(struct display_rect){ 0, 0, width, height });
}

static void fake_update(struct display *d, const struct display_rect *r)
{
	struct fake_display *f = fake_of(d);

	TEST_ASSERT(!f->locked, "update between lock and unlock");
	f->updates++;
	f->last = *r;
	TEST_ASSERT(f->surface.data && r->w && r->h, "empty update, or no surface");
	TEST_ASSERT((uint64_t)r->x + r->w <= f->surface.width &&
			    (uint64_t)r->y + r->h <= f->surface.height,
		    "update %u,%u %ux%u outside %ux%u", r->x, r->y, r->w, r->h, f->surface.width,
		    f->surface.height);
	TEST_ASSERT(fake_in_resource(f, &f->surface), "update of a freed surface");
	fake_read(f, &f->surface, r);
}

static void fake_lock(struct display *d)
{
	struct fake_display *f = fake_of(d);

	TEST_ASSERT(!f->locked, "locked twice");
	TEST_ASSERT(f->surface.data, "locked without a surface");
	f->locked = true;
	f->locks++;
}

static void fake_unlock(struct display *d)
{
	struct fake_display *f = fake_of(d);

	TEST_ASSERT(f->locked, "unlocked without lock");
	f->locked = false;
}

static void fake_set_gpu(struct display *d, const struct display_gpu_ops *ops)
{
	fake_of(d)->gpu = *ops;
}

static const struct virtio_gpu_display_ops fake_ops = {
	.set_surface = fake_set_surface,
	.update = fake_update,
	.lock = fake_lock,
	.unlock = fake_unlock,
	.set_gpu = fake_set_gpu,
};

/* Pixel (x, y) of what the fake display shows, as a word of its bytes. */
static uint32_t shown(const struct fake_display *d, uint32_t x, uint32_t y)
{
	uint32_t v;

	TEST_ASSERT(d->surface.data && x < d->surface.width && y < d->surface.height,
		    "(%u,%u) not shown", x, y);
	memcpy(&v, d->surface.data + y * d->surface.stride + (size_t)x * 4, 4);
	return v;
}

static unsigned config_notifies;

static void fake_notify(struct virtio_dev *vdev, int q)
{
	(void)vdev;
	if (q < 0)
		config_notifies++;
}

static const struct virtio_transport_ops fake_transport = { .notify = fake_notify };

/* --- fixture --- */

struct fixture {
	struct gmem mem;
	uint8_t *a, *b;
	struct virtio_gpu gpu;
	struct fake_display display;
	struct display real; /* setup_real()'s */
	struct virtq_chain chain;
	uint8_t resp[GPU_RESP_EDID + 64];
	struct gpu_cmd cmd;
	struct iovec scratch[GPU_MAX_BACKING_ENTRIES];
};

static struct fixture *fixture_alloc(void)
{
	struct fixture *f = calloc(1, sizeof(*f));

	TEST_ASSERT(f, "out of memory");
	f->a = calloc(1, A_SIZE);
	f->b = calloc(1, B_SIZE);
	TEST_ASSERT(f->a && f->b, "out of memory");
	TEST_ASSERT_EQ(gmem_add_region(&f->mem, A_GPA, A_SIZE, f->a), 0);
	TEST_ASSERT_EQ(gmem_add_region(&f->mem, B_GPA, B_SIZE, f->b), 0);
	config_notifies = 0;
	return f;
}

/* After virtio_gpu_init_ops(): what the transport would have filled in. */
static void fixture_wire(struct fixture *f)
{
	pthread_mutex_init(&f->gpu.vdev.lock, NULL);
	f->gpu.vdev.mem = &f->mem;
	f->gpu.vdev.transport = &fake_transport;
}

static void fixture_free(struct fixture *f)
{
	TEST_ASSERT_EQ(f->gpu.resources.count, 0);
	TEST_ASSERT_EQ(f->gpu.resources.host_bytes, 0);
	pthread_mutex_destroy(&f->gpu.vdev.lock);
	free(f->a);
	free(f->b);
	free(f);
}

static int setup(void **state)
{
	struct fixture *f = fixture_alloc();

	f->display.resources = &f->gpu.resources;
	TEST_ASSERT_EQ(virtio_gpu_init_ops(&f->gpu, &fake_ops,
					   (struct display *)(void *)&f->display, 1280, 800),
		       0);
	fixture_wire(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_gpu_destroy(&f->gpu);
	TEST_ASSERT(f->display.gpu.request_mode == NULL, "still registered with the display");
	TEST_ASSERT(!f->display.surface.data, "the display still shows freed pixels");
	TEST_ASSERT(!f->display.locked, "left locked");
	fixture_free(f);
	return 0;
}

/* The same, with display.c's own display (virtio_gpu_init()). */
static int setup_real(void **state)
{
	struct fixture *f = fixture_alloc();

	TEST_ASSERT_EQ(display_init(&f->real), 0);
	TEST_ASSERT_EQ(virtio_gpu_init(&f->gpu, &f->real, 1280, 800), 0);
	fixture_wire(f);
	*state = f;
	return 0;
}

static int teardown_real(void **state)
{
	struct fixture *f = *state;

	virtio_gpu_destroy(&f->gpu);
	TEST_ASSERT(!f->real.surface.data, "the display still shows freed pixels");
	display_destroy(&f->real);
	fixture_free(f);
	return 0;
}

/* --- building requests --- */

struct req {
	uint8_t b[64 + 16 * 64];
	size_t len;
};

static void put32(struct req *r, size_t off, uint32_t v)
{
	v = htole32(v);
	memcpy(r->b + off, &v, 4);
	if (off + 4 > r->len)
		r->len = off + 4;
}

static void put64(struct req *r, size_t off, uint64_t v)
{
	v = htole64(v);
	memcpy(r->b + off, &v, 8);
	if (off + 8 > r->len)
		r->len = off + 8;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static struct req hdr(uint32_t type, size_t size)
{
	struct req r;

	memset(&r, 0, sizeof(r));
	put32(&r, 0, type);
	r.len = size;
	return r;
}

static struct req create_2d(uint32_t id, uint32_t format, uint32_t w, uint32_t h)
{
	struct req r = hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, 40);

	put32(&r, 24, id);
	put32(&r, 28, format);
	put32(&r, 32, w);
	put32(&r, 36, h);
	return r;
}

static struct req with_rect(uint32_t type, size_t size, uint32_t x, uint32_t y, uint32_t w,
			    uint32_t h)
{
	struct req r = hdr(type, size);

	put32(&r, 24, x);
	put32(&r, 28, y);
	put32(&r, 32, w);
	put32(&r, 36, h);
	return r;
}

static struct req set_scanout(uint32_t scanout, uint32_t id, uint32_t x, uint32_t y, uint32_t w,
			      uint32_t h)
{
	struct req r = with_rect(VIRTIO_GPU_CMD_SET_SCANOUT, 48, x, y, w, h);

	put32(&r, 40, scanout);
	put32(&r, 44, id);
	return r;
}

static struct req flush(uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	struct req r = with_rect(VIRTIO_GPU_CMD_RESOURCE_FLUSH, 48, x, y, w, h);

	put32(&r, 40, id);
	return r;
}

static struct req transfer(uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
			   uint64_t offset)
{
	struct req r = with_rect(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D, 56, x, y, w, h);

	put64(&r, 40, offset);
	put32(&r, 48, id);
	return r;
}

static struct req attach(uint32_t id, uint32_t nr_entries)
{
	struct req r = hdr(VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, 32);

	put32(&r, 24, id);
	put32(&r, 28, nr_entries);
	return r;
}

static void entry(struct req *r, unsigned i, uint64_t addr, uint32_t len)
{
	put64(r, 32 + 16 * i, addr);
	put32(r, 40 + 16 * i, len);
	put32(r, 44 + 16 * i, 0);
}

static struct req with_id(uint32_t type, uint32_t id)
{
	struct req r = hdr(type, 32);

	put32(&r, 24, id);
	return r;
}

static struct req cursor(uint32_t type, uint32_t scanout, uint32_t x, uint32_t y, uint32_t id)
{
	struct req r = hdr(type, 56);

	put32(&r, 24, scanout);
	put32(&r, 28, x);
	put32(&r, 32, y);
	put32(&r, 40, id);
	put32(&r, 44, 3);
	put32(&r, 48, 4);
	return r;
}

/* The chain: the request in pieces of split bytes (0: one piece), then resp_len writable bytes. */
static void make_chain(struct fixture *f, const struct req *r, size_t split, size_t resp_len)
{
	struct virtq_chain *c = &f->chain;
	size_t off = 0;

	memset(c, 0, offsetof(struct virtq_chain, iov));
	while (off < r->len) {
		size_t k = split && r->len - off > split ? split : r->len - off;

		c->iov[c->out_num++] = (struct iovec){ (void *)(r->b + off), k };
		off += k;
	}
	c->out_len = (uint32_t)r->len;
	memset(f->resp, 0xee, sizeof(f->resp));
	if (resp_len) {
		c->iov[c->out_num] = (struct iovec){ f->resp, resp_len };
		c->in_num = 1;
		c->in_len = (uint32_t)resp_len;
	}
}

static enum gpu_cmd_error parse(struct fixture *f, const struct req *r, bool cursorq)
{
	const struct gpu_cmd_ctx ctx = { &f->mem, &f->gpu.resources, f->scratch };

	make_chain(f, r, 0, 0);
	return gpu_cmd_parse(f->chain.iov, f->chain.out_num, cursorq, &ctx, &f->cmd);
}

/* Runs r on the control queue; the response type. */
static uint32_t run(struct fixture *f, const struct req *r)
{
	make_chain(f, r, 0, 24);
	TEST_ASSERT_EQ(virtio_gpu_handle_chain(&f->gpu, VIRTIO_GPU_CTRLQ, &f->chain), 24);
	return get32(f->resp);
}

#define RUN_OK(f, r) TEST_ASSERT_EQ(run(f, r), VIRTIO_GPU_RESP_OK_NODATA)

/* A resource id with backing of its own w x h x 4 bytes at gpa. */
static void make_resource(struct fixture *f, uint32_t id, uint32_t w, uint32_t h, uint64_t gpa)
{
	struct req r = create_2d(id, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, w, h);

	RUN_OK(f, &r);
	r = attach(id, 1);
	entry(&r, 0, gpa, w * h * 4);
	RUN_OK(f, &r);
}

/* --- parser: hostile requests --- */

static void test_parse_short_and_unknown(void **state)
{
	struct fixture *f = *state;
	struct req r = hdr(VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 23);
	static const uint32_t unknown[] = { 0,	   0x108, 0x109,  0x10b,  0x10c,     0x10d,
					    0x200, 0x207, 0x1100, 0x1200, 0xffffffff };

	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_SHORT);
	r.len = 0;
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_SHORT);
	r = create_2d(1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8);
	r.len = 39;
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_SHORT);
	r = transfer(1, 0, 0, 1, 1, 0);
	r.len = 55;
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_SHORT);
	for (unsigned i = 0; i < ARRAY_LEN(unknown); i++) {
		r = hdr(unknown[i], 64);
		TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_UNKNOWN);
		TEST_ASSERT_EQ(parse(f, &r, true), GPU_E_UNKNOWN);
	}
	/* each queue takes only its own commands */
	r = cursor(VIRTIO_GPU_CMD_MOVE_CURSOR, 0, 1, 1, 0);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_UNKNOWN);
	TEST_ASSERT_EQ(parse(f, &r, true), GPU_E_OK);
	r = hdr(VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 24);
	TEST_ASSERT_EQ(parse(f, &r, true), GPU_E_UNKNOWN);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_OK);
	TEST_ASSERT_EQ(gpu_cmd_response(GPU_E_UNKNOWN), VIRTIO_GPU_RESP_ERR_UNSPEC);
}

static void test_parse_create_hostile(void **state)
{
	struct fixture *f = *state;
	static const uint32_t bad_formats[] = { 0, 5, 66, 69, 120, 122, 133, 135, 0xffffffff };
	static const uint32_t bad_sizes[][2] = { { 0, 1 },	    { 1, 0 },
						 { 0, 0 },	    { 4097, 1 },
						 { 1, 4097 },	    { 0xffffffff, 0xffffffff },
						 { 0x80000000, 2 }, { 0x40000000, 4 } };
	struct req r = create_2d(0, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8);

	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_RESOURCE_ID);
	for (unsigned i = 0; i < ARRAY_LEN(bad_formats); i++) {
		r = create_2d(1, bad_formats[i], 8, 8);
		TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_FORMAT);
	}
	for (unsigned i = 0; i < ARRAY_LEN(bad_sizes); i++) {
		r = create_2d(1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, bad_sizes[i][0],
			      bad_sizes[i][1]);
		TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_SIZE);
	}
	r = create_2d(1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 4096, 4096);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_OK);
	/* the host memory budget: 64 MiB more does not fit */
	f->gpu.resources.host_bytes = GPU_MAX_HOST_BYTES - (64ULL << 20) + 1;
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_NO_MEMORY);
	TEST_ASSERT_EQ(gpu_cmd_response(GPU_E_NO_MEMORY), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	f->gpu.resources.host_bytes = GPU_MAX_HOST_BYTES + 1; /* never, but must not wrap */
	r = create_2d(1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1, 1);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_NO_MEMORY);
	f->gpu.resources.host_bytes = 0;
	f->gpu.resources.count = GPU_MAX_RESOURCES;
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_TOO_MANY);
	f->gpu.resources.count = 0;
}

static void test_parse_formats(void **state)
{
	struct fixture *f = *state;
	static const struct {
		uint32_t virtio;
		enum display_format display;
	} map[] = {
		{ VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, DISPLAY_BGRA },
		{ VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, DISPLAY_BGRX },
		{ VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM, DISPLAY_ARGB },
		{ VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM, DISPLAY_XRGB },
		{ VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, DISPLAY_RGBA },
		{ VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM, DISPLAY_XBGR },
		{ VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM, DISPLAY_ABGR },
		{ VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM, DISPLAY_RGBX },
	};

	for (unsigned i = 0; i < ARRAY_LEN(map); i++) {
		struct req r = create_2d(7, map[i].virtio, 1, 1);

		TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_OK);
		TEST_ASSERT_EQ(f->cmd.display_format, map[i].display);
	}
}

static void test_parse_duplicate_and_unknown_ids(void **state)
{
	struct fixture *f = *state;
	struct req r = create_2d(5, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 4, 4);

	RUN_OK(f, &r);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_RESOURCE_EXISTS);
	TEST_ASSERT_EQ(run(f, &r), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	r = with_id(VIRTIO_GPU_CMD_RESOURCE_UNREF, 6);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_RESOURCE_ID);
	r = with_id(VIRTIO_GPU_CMD_RESOURCE_UNREF, 0);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_RESOURCE_ID);
	r = flush(0, 0, 0, 1, 1);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_RESOURCE_ID);
	r = transfer(6, 0, 0, 1, 1, 0);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_RESOURCE_ID);
	r = set_scanout(0, 6, 0, 0, 1, 1);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_RESOURCE_ID);
	r = attach(6, 1);
	entry(&r, 0, A_GPA, 64);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_RESOURCE_ID);
	r = with_id(VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, 5);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_NO_BACKING);
	r = cursor(VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 0, 0, 6);
	TEST_ASSERT_EQ(parse(f, &r, true), GPU_E_RESOURCE_ID);
	r = cursor(VIRTIO_GPU_CMD_UPDATE_CURSOR, 1, 0, 0, 5);
	TEST_ASSERT_EQ(parse(f, &r, true), GPU_E_SCANOUT);
	r = cursor(VIRTIO_GPU_CMD_MOVE_CURSOR, 0xffffffff, 0, 0, 0);
	TEST_ASSERT_EQ(parse(f, &r, true), GPU_E_SCANOUT);
	r = set_scanout(1, 5, 0, 0, 1, 1);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_SCANOUT);
	TEST_ASSERT_EQ(run(f, &r), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
	r = with_id(VIRTIO_GPU_CMD_GET_EDID, 16);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_SCANOUT);
}

static void test_parse_rect_hostile(void **state)
{
	struct fixture *f = *state;
	/* against a 100 x 50 resource: every one outside it, most by wrapping 32 bits */
	static const uint32_t bad[][4] = {
		{ 0, 0, 101, 50 },	    { 0, 0, 100, 51 },
		{ 1, 0, 100, 50 },	    { 0, 1, 100, 50 },
		{ 100, 0, 1, 1 },	    { 0xffffffff, 0, 2, 1 },
		{ 0, 0xffffffff, 1, 2 },    { 1, 0, 0xffffffff, 1 },
		{ 0, 1, 1, 0xffffffff },    { 0x80000000, 0x80000000, 0x80000000, 0x80000000 },
		{ 0xffffff9c, 0, 0xc8, 1 }, /* x + w wraps to 100 */
	};
	struct req r = create_2d(1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 100, 50);

	RUN_OK(f, &r);
	r = attach(1, 1);
	entry(&r, 0, A_GPA, 100 * 50 * 4);
	RUN_OK(f, &r);
	for (unsigned i = 0; i < ARRAY_LEN(bad); i++) {
		const uint32_t *b = bad[i];

		r = set_scanout(0, 1, b[0], b[1], b[2], b[3]);
		TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_RECT);
		r = flush(1, b[0], b[1], b[2], b[3]);
		TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_RECT);
		r = transfer(1, b[0], b[1], b[2], b[3], 0);
		TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_RECT);
		TEST_ASSERT_EQ(run(f, &r), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	}
	/* empty: fine to flush or transfer, not to show */
	r = set_scanout(0, 1, 0, 0, 0, 50);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_RECT);
	r = set_scanout(0, 1, 5, 5, 95, 0);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_RECT);
	r = flush(1, 100, 50, 0, 0);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_OK);
	r = transfer(1, 0, 0, 0, 0, UINT64_MAX);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_OK);
	r = set_scanout(0, 1, 99, 49, 1, 1);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_OK);
	/* disabling ignores the rectangle */
	r = set_scanout(0, 0, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_OK);
}

static void test_parse_transfer_offsets(void **state)
{
	struct fixture *f = *state;
	const uint64_t len = 100 * 50 * 4, stride = 400;
	struct req r = create_2d(1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 100, 50);

	RUN_OK(f, &r);
	r = transfer(1, 0, 0, 100, 50, 0);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_NO_BACKING);
	TEST_ASSERT_EQ(run(f, &r), VIRTIO_GPU_RESP_ERR_UNSPEC);
	r = attach(1, 1);
	entry(&r, 0, A_GPA, (uint32_t)len);
	RUN_OK(f, &r);

	r = transfer(1, 0, 0, 100, 50, 0);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_OK);
	r = transfer(1, 0, 0, 100, 50, 1);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_BACKING_RANGE);
	/* the last row needs only w * 4 bytes, not a whole stride */
	r = transfer(1, 10, 0, 90, 50, 10 * 4);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_OK);
	r = transfer(1, 10, 0, 90, 50, 10 * 4 + 1);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_BACKING_RANGE);
	r = transfer(1, 0, 49, 1, 1, len - 4);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_OK);
	r = transfer(1, 0, 49, 1, 1, len - 3);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_BACKING_RANGE);
	r = transfer(1, 0, 0, 1, 2, len - stride);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_BACKING_RANGE);
	static const uint64_t huge[] = { len,
					 len + 1,
					 UINT32_MAX,
					 (uint64_t)UINT32_MAX + 1,
					 UINT64_MAX - 3,
					 UINT64_MAX - stride,
					 UINT64_MAX };
	for (unsigned i = 0; i < ARRAY_LEN(huge); i++) {
		r = transfer(1, 0, 0, 1, 1, huge[i]);
		TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_BACKING_RANGE);
		TEST_ASSERT_EQ(run(f, &r), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	}
}

static void test_parse_attach_hostile(void **state)
{
	struct fixture *f = *state;
	struct req r = create_2d(1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 16, 16);
	static const struct {
		uint64_t addr;
		uint32_t len;
	} outside[] = {
		{ 0, 4096 },			       /* below RAM */
		{ A_GPA + A_SIZE - 1, 2 },	       /* past the end of A */
		{ A_GPA + A_SIZE, 1 },		       /* the gap */
		{ A_GPA, 0xffffffff },		       /* longer than A */
		{ B_GPA + B_SIZE - 4096, 8192 },       /* past the end of B */
		{ UINT64_MAX, 1 },		       /* wraps */
		{ UINT64_MAX - 4095, 4096 },	       /* ends at 2^64 */
		{ A_GPA + A_SIZE - 4096, 0x80000000 }, /* spans A, the gap and B */
	};

	RUN_OK(f, &r);
	r = attach(1, 0);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_ENTRIES);
	r = attach(1, GPU_MAX_BACKING_ENTRIES + 1);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_ENTRIES);
	r = attach(1, UINT32_MAX);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_ENTRIES);
	TEST_ASSERT_EQ(run(f, &r), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	/* more entries claimed than follow the command */
	r = attach(1, 3);
	entry(&r, 0, A_GPA, 64);
	entry(&r, 1, A_GPA + 64, 64);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_SHORT);
	r.len -= 1;
	r = attach(1, GPU_MAX_BACKING_ENTRIES);
	entry(&r, 0, A_GPA, 64);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_SHORT);
	for (unsigned i = 0; i < ARRAY_LEN(outside); i++) {
		r = attach(1, 2);
		entry(&r, 0, A_GPA, 64);
		entry(&r, 1, outside[i].addr, outside[i].len);
		TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_BACKING_RAM);
		TEST_ASSERT_EQ(run(f, &r), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	}
	TEST_ASSERT(!f->gpu.resources.slots[gpu_resource_index(&f->gpu.resources, 1)].has_backing,
		    "a refused attach attached");
	/* empty entries are left out, adjacent ones merged, the rest kept apart */
	r = attach(1, 5);
	entry(&r, 0, A_GPA, 100);
	entry(&r, 1, 0xdead0000, 0);
	entry(&r, 2, A_GPA + 100, 28);
	entry(&r, 3, B_GPA, 1024);
	entry(&r, 4, A_GPA, 4);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_OK);
	TEST_ASSERT_EQ(f->cmd.nr_backing, 3);
	TEST_ASSERT_EQ(f->cmd.backing_len, 100 + 28 + 1024 + 4);
	TEST_ASSERT_PTR_EQ(f->scratch[0].iov_base, f->a);
	TEST_ASSERT_EQ(f->scratch[0].iov_len, 128);
	TEST_ASSERT_PTR_EQ(f->scratch[1].iov_base, f->b);
	TEST_ASSERT_EQ(f->scratch[2].iov_len, 4);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(parse(f, &r, false), GPU_E_BACKING_ATTACHED);
	TEST_ASSERT_EQ(run(f, &r), VIRTIO_GPU_RESP_ERR_UNSPEC);
	r = with_id(VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, 1);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->gpu.resources.host_bytes, 16 * 16 * 4);
}

/* A header and entries split into 1-byte iovecs parse as if they were one. */
static void test_parse_split_bytes(void **state)
{
	struct fixture *f = *state;
	const struct gpu_cmd_ctx ctx = { &f->mem, &f->gpu.resources, f->scratch };
	struct req r = create_2d(1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 16, 16);

	RUN_OK(f, &r);
	r = attach(1, 2);
	entry(&r, 0, A_GPA, 512);
	entry(&r, 1, B_GPA, 512);
	make_chain(f, &r, 1, 0);
	TEST_ASSERT_EQ(f->chain.out_num, 64);
	TEST_ASSERT_EQ(gpu_cmd_parse(f->chain.iov, f->chain.out_num, false, &ctx, &f->cmd),
		       GPU_E_OK);
	TEST_ASSERT_EQ(f->cmd.nr_backing, 2);
	TEST_ASSERT_EQ(f->cmd.backing_len, 1024);
	make_chain(f, &r, 3, 0);
	r.len--;
	make_chain(f, &r, 5, 0);
	TEST_ASSERT_EQ(gpu_cmd_parse(f->chain.iov, f->chain.out_num, false, &ctx, &f->cmd),
		       GPU_E_SHORT);
}

static void test_strerror(void **state)
{
	(void)state;
	for (int e = GPU_E_OK; e <= GPU_E_BACKING_RANGE; e++) {
		TEST_ASSERT(strcmp(gpu_cmd_strerror(e), "unknown virtio-gpu request error"),
			    "no text for error %d", e);
		TEST_ASSERT(e == GPU_E_OK || gpu_cmd_response(e) >= VIRTIO_GPU_RESP_ERR_UNSPEC,
			    "error %d answered with success", e);
	}
	TEST_ASSERT_EQ(gpu_cmd_response(GPU_E_OK), VIRTIO_GPU_RESP_OK_NODATA);
}

/* --- the device --- */

static void test_display_info_and_edid(void **state)
{
	struct fixture *f = *state;
	struct req r = hdr(VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 24);
	uint8_t sum = 0;

	make_chain(f, &r, 0, GPU_RESP_DISPLAY_INFO);
	TEST_ASSERT_EQ(virtio_gpu_handle_chain(&f->gpu, VIRTIO_GPU_CTRLQ, &f->chain),
		       GPU_RESP_DISPLAY_INFO);
	TEST_ASSERT_EQ(get32(f->resp), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	TEST_ASSERT_EQ(get32(f->resp + 24 + 8), 1280);
	TEST_ASSERT_EQ(get32(f->resp + 24 + 12), 800);
	TEST_ASSERT_EQ(get32(f->resp + 24 + 16), 1);
	TEST_ASSERT_EQ(get32(f->resp + 48 + 16), 0); /* scanout 1: disabled */
	TEST_ASSERT_EQ(f->resp[GPU_RESP_DISPLAY_INFO], 0xee);

	r = with_id(VIRTIO_GPU_CMD_GET_EDID, 0);
	make_chain(f, &r, 0, GPU_RESP_EDID);
	TEST_ASSERT_EQ(virtio_gpu_handle_chain(&f->gpu, VIRTIO_GPU_CTRLQ, &f->chain),
		       GPU_RESP_EDID);
	TEST_ASSERT_EQ(get32(f->resp), VIRTIO_GPU_RESP_OK_EDID);
	TEST_ASSERT_EQ(get32(f->resp + 24), 128);
	for (unsigned i = 0; i < 128; i++)
		sum = (uint8_t)(sum + f->resp[32 + i]);
	TEST_ASSERT_EQ(sum, 0);
	TEST_ASSERT_EQ(f->resp[32 + 56], 1280 & 0xff);
	TEST_ASSERT_EQ(f->resp[32 + 160], 0); /* rest of edid[1024] zero */
}

static void test_short_response_buffers(void **state)
{
	struct fixture *f = *state;
	struct req r = hdr(VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 24);

	/* too small for the data: an error header */
	make_chain(f, &r, 0, GPU_RESP_DISPLAY_INFO - 1);
	TEST_ASSERT_EQ(virtio_gpu_handle_chain(&f->gpu, VIRTIO_GPU_CTRLQ, &f->chain), 24);
	TEST_ASSERT_EQ(get32(f->resp), VIRTIO_GPU_RESP_ERR_UNSPEC);
	TEST_ASSERT_EQ(f->resp[24], 0xee);
	/* too small even for that: what fits, nothing past it */
	make_chain(f, &r, 0, 10);
	TEST_ASSERT_EQ(virtio_gpu_handle_chain(&f->gpu, VIRTIO_GPU_CTRLQ, &f->chain), 10);
	TEST_ASSERT_EQ(f->resp[10], 0xee);
	make_chain(f, &r, 0, 0);
	TEST_ASSERT_EQ(virtio_gpu_handle_chain(&f->gpu, VIRTIO_GPU_CTRLQ, &f->chain), 0);
	/* no request at all */
	r.len = 0;
	make_chain(f, &r, 0, 64);
	TEST_ASSERT_EQ(virtio_gpu_handle_chain(&f->gpu, VIRTIO_GPU_CTRLQ, &f->chain), 24);
	TEST_ASSERT_EQ(get32(f->resp), VIRTIO_GPU_RESP_ERR_UNSPEC);
}

static void test_fence(void **state)
{
	struct fixture *f = *state;
	struct req r = create_2d(1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 4, 4);

	put32(&r, 4, VIRTIO_GPU_FLAG_FENCE);
	put64(&r, 8, 0x1122334455667788ULL);
	put32(&r, 16, 9);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(get32(f->resp + 4), VIRTIO_GPU_FLAG_FENCE);
	TEST_ASSERT_EQ(get64(f->resp + 8), 0x1122334455667788ULL);
	TEST_ASSERT_EQ(get32(f->resp + 16), 9);
	/* a refused fenced request still signals its fence */
	TEST_ASSERT_EQ(run(f, &r), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	TEST_ASSERT_EQ(get64(f->resp + 8), 0x1122334455667788ULL);
	/* without the flag, no fence */
	put32(&r, 4, 0);
	put32(&r, 24, 2);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(get64(f->resp + 8), 0);
}

/* Guest pixel (x, y) of a w-wide buffer at host pointer base: a pattern unique per pixel. */
static void fill_pattern(uint8_t *base, uint32_t w, uint32_t h, uint32_t seed)
{
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++) {
			uint32_t v = htole32(seed + y * 1000 + x);

			memcpy(base + ((size_t)y * w + x) * 4, &v, 4);
		}
}

static uint32_t pattern(uint32_t x, uint32_t y, uint32_t seed)
{
	return htole32(seed + y * 1000 + x);
}

static void test_flow(void **state)
{
	struct fixture *f = *state;
	const uint32_t w = 64, h = 48, id = 42;
	struct req r = create_2d(id, VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM, w, h);
	/* the backing in two pieces, one in each region, split mid-row */
	const uint32_t first = 1000 * 4 + 12;
	unsigned locks, updates;

	RUN_OK(f, &r);
	r = attach(id, 2);
	entry(&r, 0, A_GPA + 0x1000, first);
	entry(&r, 1, B_GPA, w * h * 4 - first);
	RUN_OK(f, &r);
	{
		uint8_t *guest = malloc(w * h * 4);

		fill_pattern(guest, w, h, 7);
		memcpy(f->a + 0x1000, guest, first);
		memcpy(f->b, guest + first, w * h * 4 - first);
		free(guest);
	}
	/* not on screen yet: no lock */
	r = transfer(id, 0, 0, w, h, 0);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.locks, 0);
	r = set_scanout(0, id, 0, 0, w, h);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.sets, 1);
	TEST_ASSERT_EQ(f->display.surface.width, w);
	TEST_ASSERT_EQ(f->display.surface.height, h);
	TEST_ASSERT_EQ(f->display.surface.stride, w * 4);
	TEST_ASSERT_EQ(f->display.surface.format, DISPLAY_XRGB);
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			TEST_ASSERT(shown(&f->display, x, y) == pattern(x, y, 7),
				    "pixel %u,%u is %#x", x, y, shown(&f->display, x, y));

	/* the guest changes a rectangle: transfer it (offset has x and y in it), flush */
	fill_pattern(f->a + 0x1000, 1000, 1, 99); /* scribbles over the first rows */
	locks = f->display.locks;
	updates = f->display.updates;
	r = transfer(id, 3, 1, 5, 2, (1 * w + 3) * 4);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.locks, locks + 1); /* into the pixels on screen: locked */
	TEST_ASSERT_EQ(f->display.updates, updates); /* no news before the flush */
	r = flush(id, 3, 1, 5, 2);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.updates, updates + 1);
	TEST_ASSERT_EQ(f->display.last.x, 3);
	TEST_ASSERT_EQ(f->display.last.y, 1);
	TEST_ASSERT_EQ(f->display.last.w, 5);
	TEST_ASSERT_EQ(f->display.last.h, 2);
	/* guest row 0 of the scribble is 1000 pixels: its pixel 64 * y + x */
	TEST_ASSERT_EQ(shown(&f->display, 3, 1), htole32(99 + 1 * w + 3));
	TEST_ASSERT_EQ(shown(&f->display, 7, 2), htole32(99 + 2 * w + 7));
	TEST_ASSERT_EQ(shown(&f->display, 8, 1), pattern(8, 1, 7));
	TEST_ASSERT_EQ(shown(&f->display, 3, 0), pattern(3, 0, 7));
	TEST_ASSERT_EQ(f->display.sets, 1);

	/* a flush of another resource changes nothing on the display */
	r = create_2d(43, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, w, h);
	RUN_OK(f, &r);
	updates = f->display.updates;
	r = flush(43, 0, 0, w, h);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.updates, updates);
	/* disabling the scanout */
	r = set_scanout(0, 0, 0, 0, 0, 0);
	RUN_OK(f, &r);
	TEST_ASSERT(!f->display.surface.data && !f->display.surface.width, "still shown");
	TEST_ASSERT_EQ(f->gpu.scanout.resource_id, 0);
	/* off screen again: transfers take no lock, flushes tell nobody */
	locks = f->display.locks;
	r = transfer(id, 0, 0, w, h, 0);
	RUN_OK(f, &r);
	r = flush(id, 0, 0, w, h);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.locks, locks);
	TEST_ASSERT_EQ(f->display.updates, updates);
	r = with_id(VIRTIO_GPU_CMD_RESOURCE_UNREF, id);
	RUN_OK(f, &r);
	r = with_id(VIRTIO_GPU_CMD_RESOURCE_UNREF, 43);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->gpu.resources.count, 0);
	TEST_ASSERT_EQ(f->gpu.resources.host_bytes, 0);
	TEST_ASSERT_EQ(f->display.sets, 2);
}

/* A scanout showing part of a resource: the surface points into it; flushes are clipped, moved. */
static void test_scanout_offset(void **state)
{
	struct fixture *f = *state;
	const uint8_t *pixels;

	make_resource(f, 1, 100, 80, A_GPA);
	pixels = f->gpu.resources.slots[gpu_resource_index(&f->gpu.resources, 1)].pixels;
	fill_pattern(f->a, 100, 80, 5);
	struct req r = transfer(1, 0, 0, 100, 80, 0);
	RUN_OK(f, &r);
	r = set_scanout(0, 1, 20, 10, 60, 50);
	RUN_OK(f, &r);
	TEST_ASSERT_PTR_EQ(f->display.surface.data, pixels + 10 * 400 + 20 * 4);
	TEST_ASSERT_EQ(f->display.surface.width, 60);
	TEST_ASSERT_EQ(f->display.surface.height, 50);
	TEST_ASSERT_EQ(f->display.surface.stride, 400);
	TEST_ASSERT_EQ(shown(&f->display, 0, 0), pattern(20, 10, 5));
	TEST_ASSERT_EQ(shown(&f->display, 59, 49), pattern(79, 59, 5));
	/* overlapping the scanout's top-left corner */
	r = flush(1, 0, 0, 30, 15);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.last.x, 0);
	TEST_ASSERT_EQ(f->display.last.y, 0);
	TEST_ASSERT_EQ(f->display.last.w, 10);
	TEST_ASSERT_EQ(f->display.last.h, 5);
	/* outside it: no update */
	{
		unsigned updates = f->display.updates;

		r = flush(1, 80, 0, 20, 80);
		RUN_OK(f, &r);
		r = flush(1, 0, 60, 100, 20);
		RUN_OK(f, &r);
		r = flush(1, 10, 10, 0, 0);
		RUN_OK(f, &r);
		TEST_ASSERT_EQ(f->display.updates, updates);
	}
	/* bottom-right */
	r = flush(1, 70, 50, 30, 30);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.last.x, 50);
	TEST_ASSERT_EQ(f->display.last.y, 40);
	TEST_ASSERT_EQ(f->display.last.w, 10);
	TEST_ASSERT_EQ(f->display.last.h, 10);
	/* another part of the same resource: the surface moves */
	r = set_scanout(0, 1, 0, 0, 60, 50);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.sets, 2);
	TEST_ASSERT_PTR_EQ(f->display.surface.data, pixels);
	TEST_ASSERT_EQ(shown(&f->display, 0, 0), pattern(0, 0, 5));
	/* unref of the shown resource: the display lets go first, later flushes are refused */
	r = with_id(VIRTIO_GPU_CMD_RESOURCE_UNREF, 1);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.sets, 3);
	TEST_ASSERT(!f->display.surface.data, "the display shows a freed resource");
	r = flush(1, 0, 0, 1, 1);
	TEST_ASSERT_EQ(run(f, &r), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	TEST_ASSERT_EQ(f->gpu.scanout.resource_id, 0);
}

/*
 * The display must let go of pixels before they are freed: the fake checks
 * at every set_surface that the old surface still lies in a live resource
 * and reads all of it (ASan reports a use after free otherwise).
 */
static void test_unref_on_screen(void **state)
{
	struct fixture *f = *state;
	struct req r;

	make_resource(f, 1, 16, 16, A_GPA);
	make_resource(f, 2, 16, 16, A_GPA + 0x1000);
	make_resource(f, 3, 32, 8, B_GPA);
	r = set_scanout(0, 1, 0, 0, 16, 16);
	RUN_OK(f, &r);
	/* a resource not on screen: the display is not bothered */
	r = with_id(VIRTIO_GPU_CMD_RESOURCE_UNREF, 2);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.sets, 1);
	/* a flip to another resource, then the old one goes: nothing to tell */
	r = set_scanout(0, 3, 0, 0, 32, 8);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.sets, 2);
	r = with_id(VIRTIO_GPU_CMD_RESOURCE_UNREF, 1);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.sets, 2);
	/* the one on screen: off first, then freed */
	r = with_id(VIRTIO_GPU_CMD_RESOURCE_UNREF, 3);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.sets, 3);
	TEST_ASSERT(!f->display.surface.data, "still shown");
	TEST_ASSERT_EQ(f->gpu.scanout.resource_id, 0);
	/* detaching the backing leaves the pixels, and the surface, alone */
	make_resource(f, 4, 16, 16, A_GPA);
	r = set_scanout(0, 4, 0, 0, 8, 8);
	RUN_OK(f, &r);
	r = with_id(VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, 4);
	RUN_OK(f, &r);
	TEST_ASSERT(f->display.surface.data, "detach took the surface away");
	/* left on screen: teardown's virtio_gpu_destroy() must let go before it frees */
}

/* Transfers into the resource on screen hold the display's lock, a band of rows at a time. */
static void test_transfer_bands(void **state)
{
	struct fixture *f = *state;
	/* 2 KiB rows: 128 rows per 256 KiB band, so 300 rows are 3 bands */
	const uint32_t w = 512, h = 300;
	struct req r;

	make_resource(f, 1, w, h, A_GPA);
	make_resource(f, 2, 16, 16, B_GPA);
	fill_pattern(f->a, w, h, 3);
	r = set_scanout(0, 1, 0, 0, w, h);
	RUN_OK(f, &r);
	r = transfer(1, 0, 0, w, h, 0);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.locks, 3);
	TEST_ASSERT(!f->display.locked, "left locked");
	for (uint32_t y = 0; y < h; y += 7)
		for (uint32_t x = 0; x < w; x += 5)
			TEST_ASSERT(shown(&f->display, x, y) == pattern(x, y, 3), "(%u,%u) is %#x",
				    x, y, shown(&f->display, x, y));
	TEST_ASSERT_EQ(shown(&f->display, w - 1, h - 1), pattern(w - 1, h - 1, 3));
	/* part of each row, the rows from 100 on: 200 rows, 2 bands */
	fill_pattern(f->a, w, h, 11);
	r = transfer(1, 5, 100, 10, 200, (100 * w + 5) * 4);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.locks, 5);
	TEST_ASSERT_EQ(shown(&f->display, 5, 100), pattern(5, 100, 11));
	TEST_ASSERT_EQ(shown(&f->display, 14, 299), pattern(14, 299, 11));
	TEST_ASSERT_EQ(shown(&f->display, 15, 299), pattern(15, 299, 3));
	TEST_ASSERT_EQ(shown(&f->display, 5, 99), pattern(5, 99, 3));
	/* empty: nothing to lock for */
	r = transfer(1, 0, 0, 0, 0, 0);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.locks, 5);
	/* another resource: no lock */
	r = transfer(2, 0, 0, 16, 16, 0);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->display.locks, 5);
	TEST_ASSERT_EQ(f->display.updates, 0);
}

static void test_reset(void **state)
{
	struct fixture *f = *state;
	struct req r;

	make_resource(f, 1, 16, 16, A_GPA);
	make_resource(f, 2, 8, 8, B_GPA);
	r = set_scanout(0, 1, 0, 0, 16, 16);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->gpu.vdev.ops->activate(&f->gpu.vdev), 0);
	f->gpu.vdev.ops->reset(&f->gpu.vdev);
	TEST_ASSERT_EQ(f->gpu.resources.count, 0);
	TEST_ASSERT_EQ(f->gpu.resources.host_bytes, 0);
	TEST_ASSERT(!f->display.surface.data, "still shown after reset");
	TEST_ASSERT_EQ(f->gpu.scanout.resource_id, 0);
	/* ids are free again */
	make_resource(f, 1, 16, 16, A_GPA);
	/* a reset with nothing on screen is fine too */
	f->gpu.vdev.ops->reset(&f->gpu.vdev);
	TEST_ASSERT(!f->display.surface.data, "shown");
}

/* --- with display.c's display: a front end reading while the guest draws --- */

struct reader {
	struct display *d;
	atomic_bool stop;
	unsigned long reads, shown;
	uint8_t sum;
};

/* What a front end's upload does: read every pixel shown, under the display's lock. */
static void reader_upload(void *opaque, const struct display_surface *s)
{
	struct reader *rd = opaque;

	if (!s->data)
		return;
	rd->shown++;
	for (uint32_t y = 0; y < s->height; y++)
		for (size_t x = 0; x < (size_t)s->width * 4; x++)
			rd->sum ^= s->data[y * s->stride + x];
}

static void *reader_thread(void *opaque)
{
	struct reader *rd = opaque;
	struct display_rect dirty;
	bool resized;

	while (!atomic_load(&rd->stop)) {
		uint32_t *px, w, h;

		display_take_dirty(rd->d, &dirty, &resized);
		display_with_surface(rd->d, reader_upload, rd);
		if (!display_snapshot(rd->d, &px, &w, &h))
			free(px);
		rd->reads++;
	}
	return NULL;
}

/*
 * Flips between resources, transfers into the one on screen, and unrefs and
 * recreates it, while another thread reads the surface: ASan finds a read
 * of freed pixels, TSan (-Db_sanitize=thread) a transfer racing a read.
 */
static void test_real_display_reader(void **state)
{
	struct fixture *f = *state;
	struct reader rd = { .d = &f->real };
	pthread_t thread;
	struct req r;

	make_resource(f, 1, 64, 64, A_GPA);
	make_resource(f, 2, 64, 64, A_GPA + 0x4000);
	TEST_ASSERT_EQ(pthread_create(&thread, NULL, reader_thread, &rd), 0);
	for (uint32_t i = 0; i < 400; i++) {
		uint32_t id = 1 + i % 2;

		fill_pattern(f->a + (id - 1) * 0x4000, 64, 64, i);
		r = transfer(id, 0, 0, 64, 64, 0);
		RUN_OK(f, &r);
		r = set_scanout(0, id, i % 8, 0, 56, 64);
		RUN_OK(f, &r);
		r = transfer(id, 1, 2, 30, 40, (2 * 64 + 1) * 4);
		RUN_OK(f, &r);
		r = flush(id, 0, 0, 64, 64);
		RUN_OK(f, &r);
		if (i % 16 == 15) {
			/* the one on screen goes, and comes back */
			r = with_id(VIRTIO_GPU_CMD_RESOURCE_UNREF, id);
			RUN_OK(f, &r);
			make_resource(f, id, 64, 64, A_GPA + (id - 1) * 0x4000);
		}
		if (i % 100 == 99) {
			f->gpu.vdev.ops->reset(&f->gpu.vdev);
			make_resource(f, 1, 64, 64, A_GPA);
			make_resource(f, 2, 64, 64, A_GPA + 0x4000);
		}
	}
	/* a last frame the reader sees for sure */
	r = set_scanout(0, 1, 0, 0, 64, 64);
	RUN_OK(f, &r);
	while (!rd.shown)
		sched_yield();
	atomic_store(&rd.stop, true);
	pthread_join(thread, NULL);
	TEST_ASSERT(rd.reads > 0 && f->real.frames > 0, "reads %lu, frames %llu", rd.reads,
		    (unsigned long long)f->real.frames);
	/* resources left on screen: teardown_real's destroy lets go before it frees */
}

static void test_resource_limits(void **state)
{
	struct fixture *f = *state;
	struct req r;
	uint32_t id;

	/* four 4096 x 4096 resources are the whole budget */
	for (id = 1; id <= 4; id++) {
		r = create_2d(id, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 4096, 4096);
		RUN_OK(f, &r);
	}
	r = create_2d(id, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1, 1);
	TEST_ASSERT_EQ(run(f, &r), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	r = with_id(VIRTIO_GPU_CMD_RESOURCE_UNREF, 4);
	RUN_OK(f, &r);
	/* and GPU_MAX_RESOURCES of any size the count */
	for (; f->gpu.resources.count < GPU_MAX_RESOURCES; id++) {
		r = create_2d(id, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1, 1);
		RUN_OK(f, &r);
	}
	r = create_2d(id, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1, 1);
	TEST_ASSERT_EQ(run(f, &r), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
}

static void test_cursor(void **state)
{
	struct fixture *f = *state;
	struct req r = create_2d(9, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64);

	RUN_OK(f, &r);
	r = cursor(VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 10, 20, 9);
	/* Linux gives the cursor queue no response buffer */
	make_chain(f, &r, 0, 0);
	TEST_ASSERT_EQ(virtio_gpu_handle_chain(&f->gpu, VIRTIO_GPU_CURSORQ, &f->chain), 0);
	TEST_ASSERT_EQ(f->gpu.cursor.resource_id, 9);
	TEST_ASSERT_EQ(f->gpu.cursor.x, 10);
	TEST_ASSERT_EQ(f->gpu.cursor.hot_y, 4);
	r = cursor(VIRTIO_GPU_CMD_MOVE_CURSOR, 0, 0xffffffff, 5, 1234);
	make_chain(f, &r, 0, 24);
	TEST_ASSERT_EQ(virtio_gpu_handle_chain(&f->gpu, VIRTIO_GPU_CURSORQ, &f->chain), 24);
	TEST_ASSERT_EQ(get32(f->resp), VIRTIO_GPU_RESP_OK_NODATA);
	TEST_ASSERT_EQ(f->gpu.cursor.x, 0xffffffff);
	TEST_ASSERT_EQ(f->gpu.cursor.resource_id, 9); /* MOVE keeps the image */
	r = with_id(VIRTIO_GPU_CMD_RESOURCE_UNREF, 9);
	RUN_OK(f, &r);
	TEST_ASSERT_EQ(f->gpu.cursor.resource_id, 0);
}

static uint32_t display_info_width(struct fixture *f)
{
	struct req r = hdr(VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 24);

	make_chain(f, &r, 0, GPU_RESP_DISPLAY_INFO);
	TEST_ASSERT_EQ(virtio_gpu_handle_chain(&f->gpu, VIRTIO_GPU_CTRLQ, &f->chain),
		       GPU_RESP_DISPLAY_INFO);
	return get32(f->resp + 24 + 8);
}

static void test_config_and_mode(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *vdev = &f->gpu.vdev;
	const uint8_t clear[4] = { 1, 0, 0, 0 }, clear_other[1] = { 0xff };

	TEST_ASSERT_EQ(vdev->ops->device_id, VIRTIO_ID_GPU);
	TEST_ASSERT_EQ(vdev->ops->pci_class, 0x038000);
	TEST_ASSERT_EQ(vdev->num_queues, 2);
	TEST_ASSERT(vdev->features & 1ULL << 1, "VIRTIO_GPU_F_EDID not offered");
	TEST_ASSERT_EQ(vdev->config_size, 16);
	TEST_ASSERT_EQ(get32(f->gpu.config + 0), 0);
	TEST_ASSERT_EQ(get32(f->gpu.config + 8), 1);  /* num_scanouts */
	TEST_ASSERT_EQ(get32(f->gpu.config + 12), 0); /* num_capsets */

	/* a front end asks through the display before DRIVER_OK: no interrupt yet */
	TEST_ASSERT(f->display.gpu.request_mode != NULL, "not registered with the display");
	f->display.gpu.request_mode(f->display.gpu.opaque, 1024, 768);
	TEST_ASSERT_EQ(get32(f->gpu.config), 1);
	TEST_ASSERT_EQ(config_notifies, 0);
	TEST_ASSERT_EQ(display_info_width(f), 1024);

	/* the driver clears the event; writes elsewhere change nothing */
	vdev->ops->config_write(vdev, 4, clear, 4);
	TEST_ASSERT_EQ(get32(f->gpu.config), 0);
	TEST_ASSERT_EQ(get32(f->gpu.config + 4), 0);

	TEST_ASSERT_EQ(vdev->ops->activate(vdev), 0);
	f->display.gpu.request_mode(f->display.gpu.opaque, 100, 99999);
	TEST_ASSERT_EQ(config_notifies, 1);
	TEST_ASSERT_EQ(get32(f->gpu.config), 1);
	TEST_ASSERT_EQ(f->gpu.mode_width, VIRTIO_GPU_MIN_WIDTH);
	TEST_ASSERT_EQ(f->gpu.mode_height, DISPLAY_MAX_HEIGHT);
	f->display.gpu.request_mode(f->display.gpu.opaque, 0xffffffff, 0);
	TEST_ASSERT_EQ(f->gpu.mode_width, DISPLAY_MAX_WIDTH);
	TEST_ASSERT_EQ(f->gpu.mode_height, VIRTIO_GPU_MIN_HEIGHT);
	vdev->ops->config_write(vdev, 0, clear, 4);	  /* events_read is read-only */
	vdev->ops->config_write(vdev, 5, clear_other, 1); /* bit 8 */
	vdev->ops->config_write(vdev, 8, clear, 4);
	TEST_ASSERT_EQ(get32(f->gpu.config), 1);
	TEST_ASSERT_EQ(get32(f->gpu.config + 8), 1);
	vdev->ops->config_write(vdev, 2, clear_other, 1); /* byte 2 is not events_clear */
	vdev->ops->config_write(vdev, 3, clear, 2);	  /* byte 4 gets 0 */
	TEST_ASSERT_EQ(get32(f->gpu.config), 1);
	vdev->ops->config_write(vdev, 3, clear + 3, 1);
	vdev->ops->config_write(vdev, 3, (const uint8_t[]){ 0, 1 }, 2);
	TEST_ASSERT_EQ(get32(f->gpu.config), 0);

	vdev->ops->reset(vdev);
	f->display.gpu.request_mode(f->display.gpu.opaque, 800, 600);
	TEST_ASSERT_EQ(config_notifies, 2); /* reset: no interrupts until the next DRIVER_OK */
	TEST_ASSERT_EQ(display_info_width(f), 800);
}

/* devices.c destroys the device even when its init failed: nothing to undo then. */
static void test_destroy_without_init(void **state)
{
	struct virtio_gpu *gpu = calloc(1, sizeof(*gpu));

	(void)state;
	TEST_ASSERT(gpu, "out of memory");
	virtio_gpu_destroy(gpu);
	free(gpu);
}

/* --- EDID --- */

static void check_edid(const uint8_t *e, uint32_t w, uint32_t h)
{
	static const uint8_t header[8] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
	uint8_t sum = 0;
	bool named = false;

	TEST_ASSERT(!memcmp(e, header, 8), "bad EDID header");
	for (unsigned i = 0; i < EDID_BLOCK_SIZE; i++)
		sum = (uint8_t)(sum + e[i]);
	TEST_ASSERT_EQ(sum, 0);
	TEST_ASSERT_EQ(e[18], 1);
	TEST_ASSERT_EQ(e[19], 4);
	TEST_ASSERT_NE(e[54] | e[55], 0); /* a pixel clock: a detailed timing, not a descriptor */
	TEST_ASSERT_EQ(e[56] | (e[58] >> 4) << 8, w);
	TEST_ASSERT_EQ(e[59] | (e[61] >> 4) << 8, h);
	for (unsigned d = 72; d < 126; d += 18)
		if (!e[d] && !e[d + 1] && e[d + 3] == 0xfc && !memcmp(e + d + 5, "hutch\n", 6))
			named = true;
	TEST_ASSERT(named, "no monitor name descriptor \"hutch\"");
	TEST_ASSERT_EQ(e[126], 0);
}

static void test_edid(void **state)
{
	uint8_t e[EDID_BLOCK_SIZE];

	(void)state;
	edid_generate(e, 1280, 800);
	check_edid(e, 1280, 800);
	edid_generate(e, 1920, 1080);
	check_edid(e, 1920, 1080);
	edid_generate(e, 320, 200);
	check_edid(e, 320, 200);
	edid_generate(e, 4095, 4095);
	check_edid(e, 4095, 4095);
	/* what a detailed timing cannot hold is clamped */
	edid_generate(e, 4096, UINT32_MAX);
	check_edid(e, 4095, 4095);
	edid_generate(e, 0, 0);
	check_edid(e, 1, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse_short_and_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_create_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_formats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_duplicate_and_unknown_ids, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_parse_rect_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_transfer_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_attach_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_split_bytes, setup, teardown),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test_setup_teardown(test_display_info_and_edid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_response_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scanout_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unref_on_screen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transfer_bands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_display_reader, setup_real,
						teardown_real),
		cmocka_unit_test_setup_teardown(test_resource_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_and_mode, setup, teardown),
		cmocka_unit_test(test_destroy_without_init),
		cmocka_unit_test(test_edid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for the display: hostile sizes and rectangles first, then pixel
 * formats, dirty tracking, screendump and the input paths.
 */
#include "test_util.h"

#include <errno.h>
#include <linux/input-event-codes.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "devices/display/display.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_DISPLAY_ASAN 1
#endif
#endif

/* --- fakes: what the display calls, and whether d->lock was free then --- */

struct recorder {
	struct display *d;
	struct {
		uint16_t type, code;
		int32_t value;
	} events[16];
	unsigned nevents, syncs, changes, modes;
	uint32_t mode_w, mode_h;
	bool locked; /* d->lock was held during some callback */
};

static void check_unlocked(struct recorder *rec)
{
	if (pthread_mutex_trylock(&rec->d->lock) == 0)
		pthread_mutex_unlock(&rec->d->lock);
	else
		rec->locked = true;
}

static void rec_event(void *opaque, uint16_t type, uint16_t code, int32_t value)
{
	struct recorder *rec = opaque;

	check_unlocked(rec);
	if (rec->nevents < ARRAY_LEN(rec->events)) {
		rec->events[rec->nevents].type = type;
		rec->events[rec->nevents].code = code;
		rec->events[rec->nevents].value = value;
	}
	rec->nevents++;
}

static void rec_sync(void *opaque)
{
	struct recorder *rec = opaque;

	check_unlocked(rec);
	rec->syncs++;
}

static void rec_changed(void *opaque)
{
	struct recorder *rec = opaque;

	check_unlocked(rec);
	rec->changes++;
}

static void rec_request_mode(void *opaque, uint32_t w, uint32_t h)
{
	struct recorder *rec = opaque;

	check_unlocked(rec);
	rec->modes++;
	rec->mode_w = w;
	rec->mode_h = h;
}

static void setup_display(struct display *d, struct recorder *rec)
{
	struct display_listener l = { rec_changed, rec };

	memset(rec, 0, sizeof(*rec));
	rec->d = d;
	TEST_ASSERT_EQ(display_init(d), 0);
	display_set_listener(d, &l);
}

static void expect_event(struct recorder *rec, unsigned i, uint16_t type, uint16_t code,
			 int32_t value)
{
	TEST_ASSERT(i < rec->nevents, "event %u of %u", i, rec->nevents);
	TEST_ASSERT(rec->events[i].type == type && rec->events[i].code == code &&
			    rec->events[i].value == value,
		    "event %u is (%u, %u, %d), want (%u, %u, %d)", i, rec->events[i].type,
		    rec->events[i].code, rec->events[i].value, type, code, value);
}

/* --- sizes --- */

static void test_resize_limits(void **state)
{
	static const uint32_t bad[][2] = {
		{ DISPLAY_MAX_WIDTH + 1, 1 },
		{ 1, DISPLAY_MAX_HEIGHT + 1 },
		{ UINT32_MAX, UINT32_MAX },
		{ 0, 5 },
		{ 5, 0 },
		{ 0x80000000u, 2 },
	};
	struct display d;
	struct recorder rec;
	struct display_rect r;
	bool resized;

	(void)state;
	setup_display(&d, &rec);
	TEST_ASSERT(!d.width && !d.height && !d.pixels, "starts with no scanout");
	TEST_ASSERT(!display_take_dirty(&d, &r, &resized) && !resized && !r.w, "nothing yet");
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		TEST_ASSERT_EQ(display_resize(&d, bad[i][0], bad[i][1]), -EINVAL);
		TEST_ASSERT(!d.width && !d.height && !d.pixels, "%ux%u changed the display",
			    bad[i][0], bad[i][1]);
	}
	TEST_ASSERT_EQ(rec.changes, 0);

	TEST_ASSERT_EQ(display_resize(&d, DISPLAY_MAX_WIDTH, DISPLAY_MAX_HEIGHT), 0);
	TEST_ASSERT_EQ(rec.changes, 1);
	TEST_ASSERT(d.pixels && d.width == DISPLAY_MAX_WIDTH && d.height == DISPLAY_MAX_HEIGHT,
		    "largest mode");
	for (size_t i = 0; i < (size_t)DISPLAY_MAX_WIDTH * DISPLAY_MAX_HEIGHT; i++)
		TEST_ASSERT(d.pixels[i] == 0, "pixel %zu is %#x, not black", i, d.pixels[i]);
	TEST_ASSERT(display_take_dirty(&d, &r, &resized) && resized, "resized");
	TEST_ASSERT(r.x == 0 && r.y == 0 && r.w == DISPLAY_MAX_WIDTH && r.h == DISPLAY_MAX_HEIGHT,
		    "dirty %u,%u %ux%u after a resize", r.x, r.y, r.w, r.h);
	TEST_ASSERT_EQ(display_resize(&d, DISPLAY_MAX_WIDTH + 1, 1), -EINVAL);
	TEST_ASSERT(d.pixels && d.width == DISPLAY_MAX_WIDTH, "kept after -EINVAL");

	/* the same size again: nothing happens (the guest flips pages) */
	d.pixels[5] = 0x123456;
	TEST_ASSERT_EQ(display_resize(&d, DISPLAY_MAX_WIDTH, DISPLAY_MAX_HEIGHT), 0);
	TEST_ASSERT_EQ(d.pixels[5], 0x123456);
	TEST_ASSERT(!display_take_dirty(&d, &r, &resized), "same size is no change");

	/* smaller, then off */
	TEST_ASSERT_EQ(display_resize(&d, 3, 2), 0);
	TEST_ASSERT(d.pixels && d.width == 3 && d.height == 2 && d.pixels[5] == 0, "3x2 black");
	TEST_ASSERT_EQ(display_resize(&d, 0, 0), 0);
	TEST_ASSERT(!d.pixels && !d.width && !d.height, "0x0 frees the pixels");
	TEST_ASSERT(display_take_dirty(&d, &r, &resized) && resized && !r.w && !r.h,
		    "0x0: resized, nothing dirty (%ux%u)", r.w, r.h);
	TEST_ASSERT_EQ(rec.changes, 3);
	TEST_ASSERT(!rec.locked, "listener called with the lock held");
	display_destroy(&d);
}

/* Reads a number of kB from /proc/self/status, e.g. "VmSize:". */
static long long status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			kb = atoll(line + strlen(key));
	fclose(f);
	return kb;
}

static void test_resize_nomem(void **state)
{
	struct display d;
	struct recorder rec;
	struct rlimit old, small;
	long long vm_kb;
	int ret;

	(void)state;
#if defined(__SANITIZE_ADDRESS__) || defined(TEST_DISPLAY_ASAN)
	skip(); /* the sanitizer's allocator does not fail under RLIMIT_AS */
#endif
	setup_display(&d, &rec);
	TEST_ASSERT_EQ(display_resize(&d, 16, 16), 0);
	d.pixels[17] = 0xabcdef;
	vm_kb = status_kb("VmSize:");
	TEST_ASSERT(vm_kb > 0, "VmSize");
	TEST_ASSERT_EQ(getrlimit(RLIMIT_AS, &old), 0);
	small = old;
	/* room for small allocations, not for 4096 x 4096 x 4 = 64 MiB */
	small.rlim_cur = (rlim_t)(vm_kb + 16 * 1024) * 1024;
	TEST_ASSERT_EQ(setrlimit(RLIMIT_AS, &small), 0);
	ret = display_resize(&d, DISPLAY_MAX_WIDTH, DISPLAY_MAX_HEIGHT);
	TEST_ASSERT_EQ(setrlimit(RLIMIT_AS, &old), 0);
	TEST_ASSERT_EQ(ret, -ENOMEM);
	TEST_ASSERT(d.width == 16 && d.height == 16 && d.pixels && d.pixels[17] == 0xabcdef,
		    "old state kept");
	TEST_ASSERT_EQ(rec.changes, 1);
	display_destroy(&d);
}

/* --- updates --- */

#define DW	   16
#define DH	   8
#define SRC_STRIDE (DW * 4 + 12) /* bytes; not a multiple of a pixel row */

/* Source pixel (x, y) in BGRX, unique per position. */
static uint32_t src_pixel(uint32_t x, uint32_t y)
{
	return 0x010000 * (x + 1) + 0x0100 * (y + 1) + 0x80;
}

/*
 * Applies r to a reference image with 64-bit arithmetic, so nothing can wrap,
 * and compares the display with it and the dirty rect with the clipped r.
 */
static void check_update(const struct display_rect *r)
{
	static uint8_t src[DH * SRC_STRIDE];
	uint32_t want[DW * DH] = { 0 };
	struct display d;
	struct recorder rec;
	struct display_rect dirty;
	bool resized, any;
	uint64_t x0 = r->x, y0 = r->y, x1 = x0 + r->w, y1 = y0 + r->h;
	unsigned copied = 0;

	for (uint32_t y = 0; y < DH; y++)
		for (uint32_t x = 0; x < DW; x++) {
			uint32_t p = src_pixel(x, y);

			memcpy(src + y * SRC_STRIDE + x * 4,
			       (uint8_t[4]){ (uint8_t)p, (uint8_t)(p >> 8), (uint8_t)(p >> 16),
					     0xee },
			       4);
		}
	for (uint32_t y = 0; y < DH; y++)
		for (uint32_t x = 0; x < DW; x++)
			if (x >= x0 && x < x1 && y >= y0 && y < y1) {
				want[y * DW + x] = src_pixel(x - r->x, y - r->y);
				copied++;
			}

	setup_display(&d, &rec);
	TEST_ASSERT_EQ(display_resize(&d, DW, DH), 0);
	TEST_ASSERT(display_take_dirty(&d, &dirty, &resized), "resized");
	display_update(&d, r, src, SRC_STRIDE, DISPLAY_BGRX);
	for (uint32_t i = 0; i < DW * DH; i++)
		TEST_ASSERT(d.pixels[i] == want[i],
			    "rect %u,%u %ux%u: pixel (%u,%u) is %#x, want %#x", r->x, r->y, r->w,
			    r->h, i % DW, i / DW, d.pixels[i], want[i]);
	any = display_take_dirty(&d, &dirty, &resized);
	TEST_ASSERT(any == (copied != 0) && !resized, "rect %u,%u %ux%u: take_dirty %d", r->x, r->y,
		    r->w, r->h, any);
	if (copied) {
		TEST_ASSERT(dirty.x == r->x && dirty.y == r->y &&
				    dirty.w == (x1 > DW ? DW : x1) - x0 &&
				    dirty.h == (y1 > DH ? DH : y1) - y0,
			    "dirty %u,%u %ux%u", dirty.x, dirty.y, dirty.w, dirty.h);
		TEST_ASSERT_EQ((uint64_t)dirty.w * dirty.h, copied);
	}
	TEST_ASSERT_EQ(rec.changes, 1 + (copied != 0));
	TEST_ASSERT_EQ(d.frames, 1);
	TEST_ASSERT(!rec.locked, "listener called with the lock held");
	display_destroy(&d);
}

static void test_update_clipping(void **state)
{
	static const struct display_rect rects[] = {
		{ UINT32_MAX, 0, 1, 1 },
		{ 0, UINT32_MAX, 1, 1 },
		{ UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX },
		{ UINT32_MAX - 1, UINT32_MAX - 1, 4, 4 }, /* x + w wraps to 2 */
		{ UINT32_MAX - 15, 0, 32, 1 },
		{ 0, UINT32_MAX - 3, 1, 8 },
		{ DW, 0, 1, 1 },
		{ 0, DH, 1, 1 },
		{ 4, 2, 0, 5 },
		{ 4, 2, 5, 0 },
		{ 0, 0, 0, 0 },
		{ DW - 1, DH - 1, UINT32_MAX, UINT32_MAX },
		{ 10, 6, 10, 10 },
		{ 1, 1, UINT32_MAX, 1 },
		{ 0, 0, DW, DH },
		{ 3, 2, 5, 4 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rects); i++)
		check_update(&rects[i]);
}

static void test_update_no_mode(void **state)
{
	struct display d;
	struct recorder rec;
	struct display_rect r = { 0, 0, 1, 1 }, dirty;
	uint8_t px[4] = { 1, 2, 3, 4 };
	bool resized;

	(void)state;
	setup_display(&d, &rec);
	display_update(&d, &r, px, 4, DISPLAY_BGRX);
	TEST_ASSERT(!display_take_dirty(&d, &dirty, &resized), "no mode, no change");
	TEST_ASSERT_EQ(rec.changes, 0);
	display_update(&d, &r, px, 4, (enum display_format)99); /* no such format */
	TEST_ASSERT_EQ(rec.changes, 0);
	display_destroy(&d);
}

/* Each format's name spells its bytes: the test derives positions from it. */
static const char *const format_names[] = {
	[DISPLAY_BGRX] = "BGRX", [DISPLAY_BGRA] = "BGRA", [DISPLAY_ARGB] = "ARGB",
	[DISPLAY_XRGB] = "XRGB", [DISPLAY_RGBA] = "RGBA", [DISPLAY_XBGR] = "XBGR",
	[DISPLAY_ABGR] = "ABGR", [DISPLAY_RGBX] = "RGBX",
};

static void test_formats(void **state)
{
	/* one pixel of bytes 11 22 33 44, by hand */
	static const uint32_t by_hand[] = {
		[DISPLAY_BGRX] = 0x332211, [DISPLAY_BGRA] = 0x332211, [DISPLAY_ARGB] = 0x223344,
		[DISPLAY_XRGB] = 0x223344, [DISPLAY_RGBA] = 0x112233, [DISPLAY_XBGR] = 0x443322,
		[DISPLAY_ABGR] = 0x443322, [DISPLAY_RGBX] = 0x112233,
	};
	enum { W = 37, H = 3, STRIDE = W * 4 + 3 };
	static uint8_t buf[1 + H * STRIDE];
	const uint8_t *src = buf + 1; /* not aligned to a pixel */
	uint64_t seed = 1234;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)test_rand(&seed);
	for (unsigned f = 0; f < ARRAY_LEN(format_names); f++) {
		const char *name = format_names[f];
		unsigned r = (unsigned)(strchr(name, 'R') - name);
		unsigned g = (unsigned)(strchr(name, 'G') - name);
		unsigned b = (unsigned)(strchr(name, 'B') - name);
		struct display_rect rect = { 2, 1, W, H };
		const uint8_t one[4] = { 0x11, 0x22, 0x33, 0x44 };
		struct display d;
		struct recorder rec;

		setup_display(&d, &rec);
		TEST_ASSERT_EQ(display_resize(&d, W + 4, H + 2), 0);
		display_update(&d, &(struct display_rect){ 0, 0, 1, 1 }, one, 4, f);
		TEST_ASSERT(d.pixels[0] == by_hand[f], "%s: %#x, want %#x", name, d.pixels[0],
			    by_hand[f]);
		display_update(&d, &rect, src, STRIDE, f);
		for (uint32_t y = 0; y < H; y++) {
			for (uint32_t x = 0; x < W; x++) {
				const uint8_t *s = src + y * STRIDE + x * 4;
				uint32_t want = (uint32_t)s[r] << 16 | (uint32_t)s[g] << 8 | s[b];
				uint32_t got = d.pixels[(y + 1) * (W + 4) + x + 2];

				TEST_ASSERT(got == want, "%s: (%u,%u) is %#x, want %#x", name, x, y,
					    got, want);
			}
		}
		TEST_ASSERT(d.pixels[1] == 0 && d.pixels[W + 4 + 1] == 0 &&
				    d.pixels[2 * (W + 4) + W + 2] == 0,
			    "%s: neighbours untouched", name);
		TEST_ASSERT_EQ(d.frames, 2);
		display_destroy(&d);
	}
}

/* --- the front-end side --- */

static void test_dirty_union(void **state)
{
	static const uint8_t src[64 * 64 * 4];
	struct display d;
	struct recorder rec;
	struct display_rect r;
	bool resized;

	(void)state;
	setup_display(&d, &rec);
	TEST_ASSERT_EQ(display_resize(&d, 100, 100), 0);
	TEST_ASSERT(display_take_dirty(&d, &r, &resized) && resized, "resize is news");
	TEST_ASSERT(r.x == 0 && r.y == 0 && r.w == 100 && r.h == 100, "whole screen");
	TEST_ASSERT(!display_take_dirty(&d, &r, &resized) && !resized && !r.w, "cleared");

	display_update(&d, &(struct display_rect){ 10, 10, 5, 5 }, src, 64 * 4, DISPLAY_RGBA);
	TEST_ASSERT(display_take_dirty(&d, &r, &resized) && !resized, "update is news");
	TEST_ASSERT(r.x == 10 && r.y == 10 && r.w == 5 && r.h == 5, "one rect");

	display_update(&d, &(struct display_rect){ 50, 60, 10, 2 }, src, 64 * 4, DISPLAY_RGBA);
	display_update(&d, &(struct display_rect){ 5, 70, 1, 1 }, src, 64 * 4, DISPLAY_RGBA);
	display_update(&d, &(struct display_rect){ 90, 95, 64, 64 }, src, 64 * 4, DISPLAY_RGBA);
	display_update(&d, &(struct display_rect){ 200, 0, 1, 1 }, src, 64 * 4, DISPLAY_RGBA);
	TEST_ASSERT(display_take_dirty(&d, &r, &resized) && !resized, "union");
	TEST_ASSERT(r.x == 5 && r.y == 60 && r.w == 95 && r.h == 40, "union %u,%u %ux%u", r.x, r.y,
		    r.w, r.h);
	TEST_ASSERT(!display_take_dirty(&d, &r, &resized) && !r.w, "cleared");
	TEST_ASSERT_EQ(d.frames, 5);
	TEST_ASSERT_EQ(rec.changes, 1 + 4);

	/* a resize after updates: the whole new screen, resized */
	display_update(&d, &(struct display_rect){ 1, 1, 1, 1 }, src, 64 * 4, DISPLAY_RGBA);
	TEST_ASSERT_EQ(display_resize(&d, 20, 30), 0);
	TEST_ASSERT(display_take_dirty(&d, &r, &resized) && resized, "resized");
	TEST_ASSERT(r.x == 0 && r.y == 0 && r.w == 20 && r.h == 30, "whole screen");
	display_destroy(&d);
}

struct pixels_seen {
	struct display *d;
	const uint32_t *pixels;
	uint32_t w, h;
	bool locked, called;
};

static void see_pixels(void *opaque, const uint32_t *pixels, uint32_t w, uint32_t h)
{
	struct pixels_seen *seen = opaque;

	seen->called = true;
	seen->pixels = pixels;
	seen->w = w;
	seen->h = h;
	seen->locked = pthread_mutex_trylock(&seen->d->lock) == EBUSY;
	if (!seen->locked)
		pthread_mutex_unlock(&seen->d->lock);
}

static void test_with_pixels(void **state)
{
	struct display d;
	struct recorder rec;
	struct pixels_seen seen = { .d = &d };

	(void)state;
	setup_display(&d, &rec);
	display_with_pixels(&d, see_pixels, &seen);
	TEST_ASSERT(seen.called && !seen.pixels && !seen.w && !seen.h && seen.locked, "no mode");
	TEST_ASSERT_EQ(display_resize(&d, 7, 5), 0);
	display_with_pixels(&d, see_pixels, &seen);
	TEST_ASSERT(seen.pixels == d.pixels && seen.w == 7 && seen.h == 5 && seen.locked,
		    "7x5 under the lock");
	display_destroy(&d);
}

static void test_screendump(void **state)
{
	static const uint8_t src[4 * 3 * 4] = { 0xff };
	char err[256] = "", dir[] = "/tmp/hutch-test-display-XXXXXX", path[300];
	uint8_t head[24];
	struct display d;
	struct recorder rec;
	FILE *f;

	(void)state;
	setup_display(&d, &rec);
	TEST_ASSERT_EQ(display_screendump(&d, "/nonexistent/x.png", err, sizeof(err)), -1);
	TEST_ASSERT(!strcmp(err, "the guest has not set a display mode"), "'%s'", err);
	TEST_ASSERT_EQ(display_resize(&d, 4, 3), 0);
	TEST_ASSERT_EQ(display_resize(&d, 0, 0), 0);
	err[0] = '\0';
	TEST_ASSERT_EQ(display_screendump(&d, "/nonexistent/x.png", err, sizeof(err)), -1);
	TEST_ASSERT(!strcmp(err, "the guest has not set a display mode"), "'%s' after 0x0", err);

	TEST_ASSERT_EQ(display_resize(&d, 4, 3), 0);
	display_update(&d, &(struct display_rect){ 0, 0, 4, 3 }, src, 16, DISPLAY_BGRX);
	err[0] = '\0';
	TEST_ASSERT_EQ(display_screendump(&d, "/nonexistent/x.png", err, sizeof(err)), -1);
	TEST_ASSERT(!strncmp(err, "/nonexistent/x.png: ", 20) && strstr(err, strerror(ENOENT)),
		    "'%s'", err);

	TEST_ASSERT(mkdtemp(dir), "mkdtemp");
	snprintf(path, sizeof(path), "%s/dump.png", dir);
	TEST_ASSERT_EQ(display_screendump(&d, path, err, sizeof(err)), 0);
	f = fopen(path, "rb");
	TEST_ASSERT(f && fread(head, 1, sizeof(head), f) == sizeof(head), "read %s", path);
	fclose(f);
	/* signature, IHDR, width 4, height 3 */
	TEST_ASSERT(!memcmp(head, "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x04\0\0\0\x03", 24),
		    "PNG header");
	unlink(path);
	rmdir(dir);
	display_destroy(&d);
}

/* --- input and mode requests --- */

static void test_input(void **state)
{
	struct display d;
	struct recorder keys, ptr, rec;
	struct display_input_ops kops = { rec_event, rec_sync, &keys };
	struct display_input_ops pops = { rec_event, rec_sync, &ptr };

	(void)state;
	setup_display(&d, &rec);
	/* nothing wired: no crash, nothing happens */
	display_key(&d, KEY_A, true);
	display_pointer_move(&d, 1, 2);
	display_pointer_button(&d, BTN_LEFT, true);
	display_pointer_wheel(&d, 1);

	memset(&keys, 0, sizeof(keys));
	memset(&ptr, 0, sizeof(ptr));
	keys.d = ptr.d = &d;
	display_set_keyboard(&d, &kops);
	display_set_pointer(&d, &pops);

	display_key(&d, KEY_A, true);
	display_key(&d, KEY_LEFTSHIFT, false);
	TEST_ASSERT_EQ(keys.nevents, 2);
	TEST_ASSERT_EQ(keys.syncs, 2);
	expect_event(&keys, 0, EV_KEY, KEY_A, 1);
	expect_event(&keys, 1, EV_KEY, KEY_LEFTSHIFT, 0);
	TEST_ASSERT_EQ(ptr.nevents, 0);

	display_pointer_move(&d, 100, 40000);
	display_pointer_move(&d, UINT32_MAX, DISPLAY_ABS_MAX);
	display_pointer_button(&d, BTN_RIGHT, true);
	display_pointer_button(&d, BTN_RIGHT, false);
	display_pointer_wheel(&d, -3);
	display_pointer_wheel(&d, 0); /* nothing to say */
	display_pointer_wheel(&d, 2);
	TEST_ASSERT_EQ(ptr.nevents, 8);
	TEST_ASSERT_EQ(ptr.syncs, 6);
	expect_event(&ptr, 0, EV_ABS, ABS_X, 100);
	expect_event(&ptr, 1, EV_ABS, ABS_Y, DISPLAY_ABS_MAX);
	expect_event(&ptr, 2, EV_ABS, ABS_X, DISPLAY_ABS_MAX);
	expect_event(&ptr, 3, EV_ABS, ABS_Y, DISPLAY_ABS_MAX);
	expect_event(&ptr, 4, EV_KEY, BTN_RIGHT, 1);
	expect_event(&ptr, 5, EV_KEY, BTN_RIGHT, 0);
	expect_event(&ptr, 6, EV_REL, REL_WHEEL, -3);
	expect_event(&ptr, 7, EV_REL, REL_WHEEL, 2);
	TEST_ASSERT_EQ(keys.nevents, 2);
	TEST_ASSERT(!keys.locked && !ptr.locked, "input callback under the lock");

	/* unwired again */
	display_set_keyboard(&d, NULL);
	display_key(&d, KEY_B, true);
	TEST_ASSERT_EQ(keys.nevents, 2);
	display_destroy(&d);
}

static void test_request_mode(void **state)
{
	struct display d;
	struct recorder rec;
	struct display_gpu_ops gpu = { rec_request_mode, &rec };

	(void)state;
	setup_display(&d, &rec);
	display_request_mode(&d, 1024, 768); /* no GPU: ignored */
	TEST_ASSERT_EQ(rec.modes, 0);
	display_set_gpu(&d, &gpu);
	display_request_mode(&d, 1920, 1080);
	TEST_ASSERT(rec.modes == 1 && rec.mode_w == 1920 && rec.mode_h == 1080, "mode request");
	TEST_ASSERT(!rec.locked, "request_mode under the lock");
	display_destroy(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resize_limits),	cmocka_unit_test(test_resize_nomem),
		cmocka_unit_test(test_update_clipping), cmocka_unit_test(test_update_no_mode),
		cmocka_unit_test(test_formats),		cmocka_unit_test(test_dirty_union),
		cmocka_unit_test(test_with_pixels),	cmocka_unit_test(test_screendump),
		cmocka_unit_test(test_input),		cmocka_unit_test(test_request_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

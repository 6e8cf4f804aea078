/*
 * Unit tests for the display: hostile surfaces and rectangles first, then
 * dirty tracking, the surface as front ends see it (no copy), the
 * conversion of every format for snapshots and screendumps, the lock the
 * GPU writes under, and the input paths.
 */
#include "test_util.h"

#include <errno.h>
#include <linux/input-event-codes.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "devices/display/display.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TEST_DISPLAY_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TEST_DISPLAY_SANITIZER 1
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

/* --- surfaces --- */

#define SW	16
#define SH	8
#define SSTRIDE (SW * 4 + 12) /* bytes; not a multiple of a pixel row */

static uint8_t surface_mem[SH * SSTRIDE];

static bool surface_is(const struct display *d, const uint8_t *data, uint32_t w, uint32_t h,
		       size_t stride, enum display_format fmt)
{
	const struct display_surface *s = &d->surface;

	return s->data == data && s->width == w && s->height == h && s->stride == stride &&
	       s->format == fmt;
}

static bool shows_nothing(const struct display *d)
{
	return surface_is(d, NULL, 0, 0, 0, 0);
}

static void test_surface_hostile(void **state)
{
	static const struct {
		uint32_t w, h;
		size_t stride;
		unsigned fmt;
		bool null;
	} bad[] = {
		{ DISPLAY_MAX_WIDTH + 1, 1, (DISPLAY_MAX_WIDTH + 1) * 4, DISPLAY_BGRX, false },
		{ 1, DISPLAY_MAX_HEIGHT + 1, 4, DISPLAY_BGRX, false },
		{ UINT32_MAX, UINT32_MAX, SIZE_MAX, DISPLAY_BGRX, false },
		{ 0x80000000u, 2, SIZE_MAX, DISPLAY_BGRX, false },
		{ 0, 5, 64, DISPLAY_BGRX, false },
		{ 5, 0, 64, DISPLAY_BGRX, false },
		{ 0, 0, 64, DISPLAY_BGRX, false },
		{ SW, SH, SW * 4 - 1, DISPLAY_BGRX, false }, /* rows overlap */
		{ SW, SH, 0, DISPLAY_BGRX, false },
		{ SW, SH, SSTRIDE, DISPLAY_RGBX + 1, false }, /* no such format */
		{ SW, SH, SSTRIDE, 0xffffffffu, false },
		{ SW, SH, SSTRIDE, DISPLAY_BGRX, true }, /* a size but no pixels */
	};
	struct display d;
	struct recorder rec;
	struct display_rect r;
	bool resized;

	(void)state;
	setup_display(&d, &rec);
	TEST_ASSERT(shows_nothing(&d), "starts with no surface");
	TEST_ASSERT(!display_take_dirty(&d, &r, &resized) && !resized && !r.w, "nothing yet");
	/* nothing shown and nothing possible asked for: no change */
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		display_set_surface(&d, bad[i].null ? NULL : surface_mem, bad[i].w, bad[i].h,
				    bad[i].stride, (enum display_format)bad[i].fmt);
		TEST_ASSERT(shows_nothing(&d), "bad surface %zu shown", i);
	}
	TEST_ASSERT(!display_take_dirty(&d, &r, &resized) && !resized, "no news");
	TEST_ASSERT_EQ(rec.changes, 0);

	/* with a surface shown, anything impossible lets go of it: shows nothing */
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		display_set_surface(&d, surface_mem, SW, SH, SSTRIDE, DISPLAY_BGRX);
		TEST_ASSERT(surface_is(&d, surface_mem, SW, SH, SSTRIDE, DISPLAY_BGRX), "shown");
		TEST_ASSERT(display_take_dirty(&d, &r, &resized) && resized, "new surface");
		display_set_surface(&d, bad[i].null ? NULL : surface_mem, bad[i].w, bad[i].h,
				    bad[i].stride, (enum display_format)bad[i].fmt);
		TEST_ASSERT(shows_nothing(&d), "bad surface %zu kept or shown", i);
		TEST_ASSERT(display_take_dirty(&d, &r, &resized) && resized && !r.w && !r.h,
			    "bad surface %zu: resized to nothing (%ux%u)", i, r.w, r.h);
	}
	TEST_ASSERT_EQ(rec.changes, 2 * ARRAY_LEN(bad));
	TEST_ASSERT(!rec.locked, "listener called with the lock held");
	display_destroy(&d);
}

static void test_surface_changes(void **state)
{
	static uint8_t other[SH * SSTRIDE], big[(size_t)DISPLAY_MAX_WIDTH * 4];
	struct display d;
	struct recorder rec;
	struct display_rect r;
	bool resized;

	(void)state;
	setup_display(&d, &rec);
	/* the widest: one row of DISPLAY_MAX_WIDTH */
	display_set_surface(&d, big, DISPLAY_MAX_WIDTH, 1, DISPLAY_MAX_WIDTH * 4, DISPLAY_XBGR);
	TEST_ASSERT(surface_is(&d, big, DISPLAY_MAX_WIDTH, 1, DISPLAY_MAX_WIDTH * 4, DISPLAY_XBGR),
		    "widest surface");
	TEST_ASSERT(display_take_dirty(&d, &r, &resized) && resized, "resized");
	TEST_ASSERT(r.x == 0 && r.y == 0 && r.w == DISPLAY_MAX_WIDTH && r.h == 1,
		    "dirty %u,%u %ux%u after a new surface", r.x, r.y, r.w, r.h);

	display_set_surface(&d, surface_mem, SW, SH, SSTRIDE, DISPLAY_BGRX);
	TEST_ASSERT(surface_is(&d, surface_mem, SW, SH, SSTRIDE, DISPLAY_BGRX), "no copy");
	TEST_ASSERT(display_take_dirty(&d, &r, &resized) && resized, "new size: resized");
	TEST_ASSERT(r.w == SW && r.h == SH, "whole surface dirty");

	/* a page flip: same size and format, other pixels: all dirty, no resize */
	display_set_surface(&d, other, SW, SH, SSTRIDE, DISPLAY_BGRX);
	TEST_ASSERT(surface_is(&d, other, SW, SH, SSTRIDE, DISPLAY_BGRX), "flipped");
	TEST_ASSERT(display_take_dirty(&d, &r, &resized) && !resized, "flip is not a resize");
	TEST_ASSERT(r.x == 0 && r.y == 0 && r.w == SW && r.h == SH, "flip: all dirty");
	/* the same surface again: the guest says it is current, all dirty */
	display_set_surface(&d, other, SW, SH, SSTRIDE, DISPLAY_BGRX);
	TEST_ASSERT(display_take_dirty(&d, &r, &resized) && !resized && r.w == SW, "re-set");
	/* another stride (a smaller part of a wider resource) is no resize either */
	display_set_surface(&d, other, SW, SH, SSTRIDE + 4, DISPLAY_BGRX);
	TEST_ASSERT(display_take_dirty(&d, &r, &resized) && !resized && r.w == SW, "stride");
	/* another format is: a front end needs another texture */
	display_set_surface(&d, other, SW, SH, SSTRIDE, DISPLAY_RGBA);
	TEST_ASSERT(display_take_dirty(&d, &r, &resized) && resized && r.w == SW, "format");

	/* off */
	display_set_surface(&d, NULL, 0, 0, 0, DISPLAY_BGRX);
	TEST_ASSERT(shows_nothing(&d), "0x0 shows nothing");
	TEST_ASSERT(display_take_dirty(&d, &r, &resized) && resized && !r.w && !r.h,
		    "0x0: resized, nothing dirty (%ux%u)", r.w, r.h);
	display_set_surface(&d, NULL, 0, 0, 0, DISPLAY_BGRX);
	TEST_ASSERT(!display_take_dirty(&d, &r, &resized), "off again: no news");
	TEST_ASSERT_EQ(rec.changes, 7);
	TEST_ASSERT_EQ(d.frames, 0);
	TEST_ASSERT(!rec.locked, "listener called with the lock held");
	/* the pixels are the GPU's: destroy frees nothing of them (ASan would see it) */
	display_set_surface(&d, surface_mem, SW, SH, SSTRIDE, DISPLAY_BGRX);
	display_destroy(&d);
}

/* --- updates --- */

/*
 * Flushes r and compares the dirty rect with r clipped in 64-bit
 * arithmetic, so that nothing can wrap; the surface's pixels are left as
 * they were.
 */
static void check_update(const struct display_rect *r)
{
	uint8_t before[sizeof(surface_mem)];
	struct display d;
	struct recorder rec;
	struct display_rect dirty;
	bool resized, any;
	uint64_t x0 = r->x, y0 = r->y, x1 = x0 + r->w, y1 = y0 + r->h;
	bool inside = x0 < SW && y0 < SH && r->w && r->h;

	for (size_t i = 0; i < sizeof(surface_mem); i++)
		surface_mem[i] = (uint8_t)(i * 7);
	memcpy(before, surface_mem, sizeof(before));
	setup_display(&d, &rec);
	display_set_surface(&d, surface_mem, SW, SH, SSTRIDE, DISPLAY_BGRX);
	TEST_ASSERT(display_take_dirty(&d, &dirty, &resized), "new surface");
	display_update(&d, r);
	TEST_ASSERT(!memcmp(before, surface_mem, sizeof(before)), "update wrote pixels");
	any = display_take_dirty(&d, &dirty, &resized);
	TEST_ASSERT(any == inside && !resized, "rect %u,%u %ux%u: take_dirty %d", r->x, r->y, r->w,
		    r->h, any);
	if (inside)
		TEST_ASSERT(dirty.x == r->x && dirty.y == r->y &&
				    dirty.w == (x1 > SW ? SW : x1) - x0 &&
				    dirty.h == (y1 > SH ? SH : y1) - y0,
			    "rect %u,%u %ux%u: dirty %u,%u %ux%u", r->x, r->y, r->w, r->h, dirty.x,
			    dirty.y, dirty.w, dirty.h);
	TEST_ASSERT_EQ(rec.changes, 1 + inside);
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
		{ SW, 0, 1, 1 },
		{ 0, SH, 1, 1 },
		{ 4, 2, 0, 5 },
		{ 4, 2, 5, 0 },
		{ 0, 0, 0, 0 },
		{ SW - 1, SH - 1, UINT32_MAX, UINT32_MAX },
		{ 10, 6, 10, 10 },
		{ 1, 1, UINT32_MAX, 1 },
		{ 0, 0, SW, SH },
		{ 3, 2, 5, 4 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rects); i++)
		check_update(&rects[i]);
}

static void test_update_no_surface(void **state)
{
	struct display d;
	struct recorder rec;
	struct display_rect r = { 0, 0, 1, 1 }, dirty;
	bool resized;

	(void)state;
	setup_display(&d, &rec);
	display_update(&d, &r);
	TEST_ASSERT(!display_take_dirty(&d, &dirty, &resized), "no surface, no change");
	TEST_ASSERT_EQ(rec.changes, 0);
	TEST_ASSERT_EQ(d.frames, 1);
	/* an update of the old surface after it went away */
	display_set_surface(&d, surface_mem, SW, SH, SSTRIDE, DISPLAY_BGRX);
	display_set_surface(&d, NULL, 0, 0, 0, DISPLAY_BGRX);
	TEST_ASSERT(display_take_dirty(&d, &dirty, &resized) && resized && !dirty.w, "off");
	display_update(&d, &(struct display_rect){ 0, 0, SW, SH });
	TEST_ASSERT(!display_take_dirty(&d, &dirty, &resized), "flush after off");
	TEST_ASSERT_EQ(rec.changes, 2);
	display_destroy(&d);
}

static void test_dirty_union(void **state)
{
	static const uint8_t mem[100 * 100 * 4];
	struct display d;
	struct recorder rec;
	struct display_rect r;
	bool resized;

	(void)state;
	setup_display(&d, &rec);
	display_set_surface(&d, mem, 100, 100, 400, DISPLAY_RGBA);
	TEST_ASSERT(display_take_dirty(&d, &r, &resized) && resized, "a surface is news");
	TEST_ASSERT(r.x == 0 && r.y == 0 && r.w == 100 && r.h == 100, "whole screen");
	TEST_ASSERT(!display_take_dirty(&d, &r, &resized) && !resized && !r.w, "cleared");

	display_update(&d, &(struct display_rect){ 10, 10, 5, 5 });
	TEST_ASSERT(display_take_dirty(&d, &r, &resized) && !resized, "update is news");
	TEST_ASSERT(r.x == 10 && r.y == 10 && r.w == 5 && r.h == 5, "one rect");

	display_update(&d, &(struct display_rect){ 50, 60, 10, 2 });
	display_update(&d, &(struct display_rect){ 5, 70, 1, 1 });
	display_update(&d, &(struct display_rect){ 90, 95, 64, 64 });
	display_update(&d, &(struct display_rect){ 200, 0, 1, 1 });
	TEST_ASSERT(display_take_dirty(&d, &r, &resized) && !resized, "union");
	TEST_ASSERT(r.x == 5 && r.y == 60 && r.w == 95 && r.h == 40, "union %u,%u %ux%u", r.x, r.y,
		    r.w, r.h);
	TEST_ASSERT(!display_take_dirty(&d, &r, &resized) && !r.w, "cleared");
	TEST_ASSERT_EQ(d.frames, 5);
	TEST_ASSERT_EQ(rec.changes, 1 + 4);

	/* a new surface after updates: the whole new surface, resized */
	display_update(&d, &(struct display_rect){ 1, 1, 1, 1 });
	display_set_surface(&d, mem, 20, 30, 400, DISPLAY_RGBA);
	TEST_ASSERT(display_take_dirty(&d, &r, &resized) && resized, "resized");
	TEST_ASSERT(r.x == 0 && r.y == 0 && r.w == 20 && r.h == 30, "whole surface");
	display_destroy(&d);
}

/* --- the front-end side --- */

struct surface_seen {
	struct display *d;
	struct display_surface s;
	bool locked, called;
};

static void see_surface(void *opaque, const struct display_surface *s)
{
	struct surface_seen *seen = opaque;

	seen->called = true;
	seen->s = *s;
	seen->locked = pthread_mutex_trylock(&seen->d->lock) == EBUSY;
	if (!seen->locked)
		pthread_mutex_unlock(&seen->d->lock);
}

static void test_with_surface(void **state)
{
	struct display d;
	struct recorder rec;
	struct surface_seen seen = { .d = &d };

	(void)state;
	setup_display(&d, &rec);
	display_with_surface(&d, see_surface, &seen);
	TEST_ASSERT(seen.called && !seen.s.data && !seen.s.width && !seen.s.height && seen.locked,
		    "no surface");
	display_set_surface(&d, surface_mem + 1, 7, 5, SSTRIDE, DISPLAY_ABGR);
	display_with_surface(&d, see_surface, &seen);
	TEST_ASSERT(seen.s.data == surface_mem + 1 && seen.s.width == 7 && seen.s.height == 5 &&
			    seen.s.stride == SSTRIDE && seen.s.format == DISPLAY_ABGR &&
			    seen.locked,
		    "the GPU's pixels as they are, under the lock");
	display_destroy(&d);
}

/* The GPU's lock is the readers' lock. */
static void test_lock(void **state)
{
	struct display d;
	struct recorder rec;

	(void)state;
	setup_display(&d, &rec);
	display_lock(&d);
	TEST_ASSERT_EQ(pthread_mutex_trylock(&d.lock), EBUSY);
	display_unlock(&d);
	TEST_ASSERT_EQ(pthread_mutex_trylock(&d.lock), 0);
	pthread_mutex_unlock(&d.lock);
	display_destroy(&d);
}

/* Each format's name spells its bytes: the test derives positions from it. */
static const char *const format_names[] = {
	[DISPLAY_BGRX] = "BGRX", [DISPLAY_BGRA] = "BGRA", [DISPLAY_ARGB] = "ARGB",
	[DISPLAY_XRGB] = "XRGB", [DISPLAY_RGBA] = "RGBA", [DISPLAY_XBGR] = "XBGR",
	[DISPLAY_ABGR] = "ABGR", [DISPLAY_RGBX] = "RGBX",
};

static void test_snapshot_formats(void **state)
{
	/* one pixel of bytes 11 22 33 44, by hand */
	static const uint32_t by_hand[] = {
		[DISPLAY_BGRX] = 0x332211, [DISPLAY_BGRA] = 0x332211, [DISPLAY_ARGB] = 0x223344,
		[DISPLAY_XRGB] = 0x223344, [DISPLAY_RGBA] = 0x112233, [DISPLAY_XBGR] = 0x443322,
		[DISPLAY_ABGR] = 0x443322, [DISPLAY_RGBX] = 0x112233,
	};
	static const uint8_t one[4] = { 0x11, 0x22, 0x33, 0x44 };
	enum { W = 37, H = 3, STRIDE = W * 4 + 3 };
	static uint8_t buf[1 + H * STRIDE];
	const uint8_t *src = buf + 1; /* not aligned to a pixel */
	uint8_t before[sizeof(buf)];
	uint64_t seed = 1234;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)test_rand(&seed);
	memcpy(before, buf, sizeof(buf));
	for (unsigned f = 0; f < ARRAY_LEN(format_names); f++) {
		const char *name = format_names[f];
		unsigned r = (unsigned)(strchr(name, 'R') - name);
		unsigned g = (unsigned)(strchr(name, 'G') - name);
		unsigned b = (unsigned)(strchr(name, 'B') - name);
		uint32_t *px = NULL, w = 0, h = 0;
		struct display d;
		struct recorder rec;

		setup_display(&d, &rec);
		display_set_surface(&d, one, 1, 1, 4, f);
		TEST_ASSERT_EQ(display_snapshot(&d, &px, &w, &h), 0);
		TEST_ASSERT(w == 1 && h == 1 && px[0] == by_hand[f], "%s: %#x, want %#x", name,
			    px[0], by_hand[f]);
		free(px);

		display_set_surface(&d, src, W, H, STRIDE, f);
		TEST_ASSERT_EQ(display_snapshot(&d, &px, &w, &h), 0);
		TEST_ASSERT(w == W && h == H, "%s: %ux%u", name, w, h);
		for (uint32_t y = 0; y < H; y++) {
			for (uint32_t x = 0; x < W; x++) {
				const uint8_t *s = src + y * STRIDE + x * 4;
				uint32_t want = (uint32_t)s[r] << 16 | (uint32_t)s[g] << 8 | s[b];

				TEST_ASSERT(px[y * W + x] == want, "%s: (%u,%u) is %#x, want %#x",
					    name, x, y, px[y * W + x], want);
			}
		}
		free(px);
		TEST_ASSERT(!memcmp(before, buf, sizeof(buf)), "%s: the surface was written", name);
		display_destroy(&d);
	}
}

static void test_snapshot_nothing(void **state)
{
	uint32_t *px = NULL, w = 1, h = 1;
	struct display d;
	struct recorder rec;

	(void)state;
	setup_display(&d, &rec);
	TEST_ASSERT_EQ(display_snapshot(&d, &px, &w, &h), -ENODATA);
	display_set_surface(&d, surface_mem, SW, SH, SSTRIDE, DISPLAY_BGRX);
	display_set_surface(&d, NULL, 0, 0, 0, DISPLAY_BGRX);
	TEST_ASSERT_EQ(display_snapshot(&d, &px, &w, &h), -ENODATA);
	TEST_ASSERT(!px && w == 1 && h == 1, "outputs untouched");
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

static void test_snapshot_nomem(void **state)
{
	const size_t bytes = (size_t)DISPLAY_MAX_WIDTH * DISPLAY_MAX_HEIGHT * 4;
	uint8_t *mem;
	uint32_t *px = NULL, w = 0, h = 0;
	struct display d;
	struct recorder rec;
	struct rlimit old, small;
	long long vm_kb;
	int ret;

	(void)state;
#if defined(TEST_DISPLAY_SANITIZER)
	skip(); /* the sanitizers' allocators do not fail under RLIMIT_AS */
#endif
	mem = calloc(1, bytes);
	TEST_ASSERT(mem, "out of memory");
	setup_display(&d, &rec);
	display_set_surface(&d, mem, DISPLAY_MAX_WIDTH, DISPLAY_MAX_HEIGHT, DISPLAY_MAX_WIDTH * 4,
			    DISPLAY_BGRX);
	vm_kb = status_kb("VmSize:");
	TEST_ASSERT(vm_kb > 0, "VmSize");
	TEST_ASSERT_EQ(getrlimit(RLIMIT_AS, &old), 0);
	small = old;
	/* room for small allocations, not for a 64 MiB copy */
	small.rlim_cur = (rlim_t)(vm_kb + 16 * 1024) * 1024;
	TEST_ASSERT_EQ(setrlimit(RLIMIT_AS, &small), 0);
	ret = display_snapshot(&d, &px, &w, &h);
	TEST_ASSERT_EQ(setrlimit(RLIMIT_AS, &old), 0);
	TEST_ASSERT_EQ(ret, -ENOMEM);
	TEST_ASSERT(!px, "no copy on -ENOMEM");
	/* and the lock is free again */
	TEST_ASSERT_EQ(pthread_mutex_trylock(&d.lock), 0);
	pthread_mutex_unlock(&d.lock);
	display_destroy(&d);
	free(mem);
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
	display_set_surface(&d, src, 4, 3, 16, DISPLAY_BGRX);
	display_set_surface(&d, NULL, 0, 0, 0, DISPLAY_BGRX);
	err[0] = '\0';
	TEST_ASSERT_EQ(display_screendump(&d, "/nonexistent/x.png", err, sizeof(err)), -1);
	TEST_ASSERT(!strcmp(err, "the guest has not set a display mode"), "'%s' after 0x0", err);

	display_set_surface(&d, src, 4, 3, 16, DISPLAY_BGRX);
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
	TEST_ASSERT_EQ(pthread_mutex_trylock(&d.lock), 0); /* no lock held while deflating */
	pthread_mutex_unlock(&d.lock);
	display_destroy(&d);
}

/* --- input and mode requests --- */

static void test_input(void **state)
{
	struct display d;
	struct recorder keys, ptr, rec;
	struct display_input_ops kops = { .event = rec_event, .sync = rec_sync, .opaque = &keys };
	struct display_input_ops pops = { .event = rec_event, .sync = rec_sync, .opaque = &ptr };

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
		cmocka_unit_test(test_surface_hostile),
		cmocka_unit_test(test_surface_changes),
		cmocka_unit_test(test_update_clipping),
		cmocka_unit_test(test_update_no_surface),
		cmocka_unit_test(test_dirty_union),
		cmocka_unit_test(test_with_surface),
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_snapshot_formats),
		cmocka_unit_test(test_snapshot_nothing),
		cmocka_unit_test(test_snapshot_nomem),
		cmocka_unit_test(test_screendump),
		cmocka_unit_test(test_input),
		cmocka_unit_test(test_request_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

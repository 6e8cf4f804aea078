/*
 * The guest's screen and input as the host sees them, independent of
 * virtio: one framebuffer per VM that the GPU device fills, a front end (an
 * SDL window) and screendump read, and the way key and pointer input from a
 * front end or send-key reaches the guest's input devices.
 *
 * Threads: the GPU device calls display_resize()/display_update() on its
 * I/O thread; front ends and the control socket call the rest from their
 * own threads. Everything here takes d->lock itself unless noted.
 */
#ifndef HUTCH_DEVICES_DISPLAY_DISPLAY_H
#define HUTCH_DEVICES_DISPLAY_DISPLAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest mode hutch offers or accepts, and the default one. */
#define DISPLAY_MAX_WIDTH      4096
#define DISPLAY_MAX_HEIGHT     4096
#define DISPLAY_DEFAULT_WIDTH  1280
#define DISPLAY_DEFAULT_HEIGHT 800
#define DISPLAY_MIN_WIDTH      320
#define DISPLAY_MIN_HEIGHT     200

/* The range of the absolute pointer's axes (0..DISPLAY_ABS_MAX on each). */
#define DISPLAY_ABS_MAX 32767

/*
 * Pixel layouts of a source image, named by their bytes in memory, first
 * byte first (virtio-gpu's names; X: ignored, A: alpha, ignored too).
 */
enum display_format {
	DISPLAY_BGRX, /* = DRM XRGB8888 on little-endian: what Linux's fbdev uses */
	DISPLAY_BGRA,
	DISPLAY_ARGB,
	DISPLAY_XRGB,
	DISPLAY_RGBA,
	DISPLAY_XBGR,
	DISPLAY_ABGR,
	DISPLAY_RGBX,
};

/* The display's pixels are always 32-bit words 0x00RRGGBB in host order (bytes B,G,R,0). */

/* A rectangle in framebuffer pixels. */
struct display_rect {
	uint32_t x, y, w, h;
};

/* What the GPU device offers the display; any member may be NULL. */
struct display_gpu_ops {
	/* any thread: a front end would like a width x height mode (the window was resized) */
	void (*request_mode)(void *opaque, uint32_t width, uint32_t height);
	void *opaque;
};

/*
 * Where input goes: the guest's input devices. Linux input event types and
 * codes (<linux/input-event-codes.h>). Any thread; events are queued and
 * delivered as one group at sync().
 */
struct display_input_ops {
	void (*event)(void *opaque, uint16_t type, uint16_t code, int32_t value);
	void (*sync)(void *opaque); /* EV_SYN/SYN_REPORT: delivers what was queued */
	void *opaque;
};

/* What a front end learns; called with no lock held, on the thread that changed things. */
struct display_listener {
	/* the framebuffer changed (new pixels, or a new size); cheap: wake the front end */
	void (*changed)(void *opaque);
	void *opaque;
};

struct display {
	pthread_mutex_t lock;
	uint32_t width, height;	   /* 0x0: the guest shows nothing (no scanout) */
	uint32_t *pixels;	   /* width * height words, row after row */
	struct display_rect dirty; /* changed since the front end last looked; w == 0: nothing */
	uint64_t frames;	   /* display_update() calls, for statistics */
	bool resized;		   /* the size changed since the front end last looked */

	struct display_gpu_ops gpu;
	struct display_input_ops keyboard;
	struct display_input_ops pointer;
	struct display_listener listener;
};

/* 0 or -errno. The display starts with no scanout (0x0). */
int display_init(struct display *d) __attribute__((warn_unused_result));
void display_destroy(struct display *d);

/* Wiring, before any other thread uses d. */
void display_set_gpu(struct display *d, const struct display_gpu_ops *ops);
void display_set_keyboard(struct display *d, const struct display_input_ops *ops);
void display_set_pointer(struct display *d, const struct display_input_ops *ops);
void display_set_listener(struct display *d, const struct display_listener *l);

/* ---- the GPU side ---- */

/*
 * The scanout now shows a width x height image (0 x 0: disabled); the
 * pixels are black until updated. 0, -EINVAL past DISPLAY_MAX_*, -ENOMEM.
 * The size it already has changes nothing (a page flip re-sets the
 * scanout); one side 0 and the other not is -EINVAL; on -ENOMEM the old
 * image stays.
 */
int display_resize(struct display *d, uint32_t width, uint32_t height)
	__attribute__((warn_unused_result));

/*
 * Copies rectangle r of the display from src, whose pixel (0,0) is r's
 * top-left corner, rows stride bytes apart, in format fmt. The caller has
 * checked that src holds r->h rows of r->w pixels; r is clipped to the
 * display here.
 */
void display_update(struct display *d, const struct display_rect *r, const uint8_t *src,
		    size_t stride, enum display_format fmt);

/* ---- the front-end side ---- */

/*
 * Returns and clears what changed since the last call: *out gets the dirty
 * rectangle (w == 0: no new pixels) and *resized whether the size changed
 * (then *out covers the whole new screen). True when either is set. One
 * front end calls this; a second one would steal the first one's updates.
 */
bool display_take_dirty(struct display *d, struct display_rect *out, bool *resized);

/*
 * Calls fn with d->lock held and the current framebuffer (pixels is NULL
 * and width x height 0 x 0 when there is no scanout), so that a front end
 * can copy out a consistent image. fn must be quick and must not call back
 * into the display.
 */
typedef void display_pixels_fn(void *opaque, const uint32_t *pixels, uint32_t width,
			       uint32_t height);
void display_with_pixels(struct display *d, display_pixels_fn *fn, void *opaque);

/* The front end would like a width x height mode; passed to the GPU if there is one. */
void display_request_mode(struct display *d, uint32_t width, uint32_t height);

/*
 * Writes the current framebuffer to path as a PNG (8-bit RGB). 0, or -1
 * with one line in err ("the guest has not set a display mode",
 * "PATH: strerror").
 */
int display_screendump(struct display *d, const char *path, char *err, size_t errlen);

/* Keyboard input: a Linux KEY_* code pressed (down) or released; with a sync. */
void display_key(struct display *d, uint16_t code, bool down);

/* Pointer input: an absolute position, x and y in 0..DISPLAY_ABS_MAX; with a sync. */
void display_pointer_move(struct display *d, uint32_t x, uint32_t y);
/* A BTN_LEFT/BTN_RIGHT/BTN_MIDDLE change; with a sync. */
void display_pointer_button(struct display *d, uint16_t code, bool down);
/* Wheel notches, positive away from the user; with a sync. */
void display_pointer_wheel(struct display *d, int32_t notches);

#endif

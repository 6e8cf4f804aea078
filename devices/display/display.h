/*
 * The guest's screen and input as the host sees them, independent of
 * virtio: the surface the GPU device scans out (pixel memory the GPU owns;
 * the display only points at it), which a front end (an SDL window) and
 * screendump read, and the way key and pointer input from a front end or
 * send-key reaches the guest's input devices.
 *
 * Threads: the GPU device calls display_set_surface(), display_update()
 * and display_lock()/display_unlock() on its I/O thread; front ends and
 * the control socket call the rest from their own threads. Everything
 * here takes d->lock itself unless noted.
 *
 * Lifetime: the display never copies or frees the surface's pixels. The
 * GPU must call display_set_surface() (to another surface, or NULL)
 * before it frees or reallocates memory the current surface points into;
 * once that call returns no reader holds the old pointer, since readers
 * see the surface only under d->lock (display_with_surface()).
 *
 * Races: the GPU writes into the surface's memory (a transfer from guest
 * RAM) only between display_lock() and display_unlock(), so readers never
 * see a half-written word; it keeps those sections short (a band of rows).
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
 * Pixel layouts of a surface, named by their bytes in memory, first
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

/*
 * What the display shows: the scanout's pixels in the GPU's memory.
 * data == NULL (and width x height 0 x 0): nothing, the scanout is off.
 */
struct display_surface {
	const uint8_t *data;	    /* pixel (0,0); owned by the GPU, see "Lifetime" above */
	uint32_t width, height;	    /* at most DISPLAY_MAX_* */
	size_t stride;		    /* bytes from one row to the next, >= width * 4 */
	enum display_format format; /* the bytes of each 32-bit pixel */
};

/* A rectangle in surface pixels. */
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
	/* events that fit in the queue now; UINT_MAX while the guest keeps none (optional) */
	unsigned (*room)(void *opaque);
	void *opaque;
};

/* What a front end learns; called with no lock held, on the thread that changed things. */
struct display_listener {
	/* the surface changed (new pixels, or a new surface); cheap: wake the front end */
	void (*changed)(void *opaque);
	void *opaque;
};

struct display {
	pthread_mutex_t lock;
	struct display_surface surface; /* data NULL: the guest shows nothing (no scanout) */
	struct display_rect dirty; /* changed since the front end last looked; w == 0: nothing */
	uint64_t frames;	   /* display_update() calls, for statistics */
	bool resized;		   /* size or format changed since the front end last looked */

	struct display_gpu_ops gpu;
	struct display_input_ops keyboard;
	struct display_input_ops pointer;
	struct display_listener listener;
};

/* 0 or -errno. The display starts with no surface (nothing shown). */
int display_init(struct display *d) __attribute__((warn_unused_result));
/* After the GPU let go of its surface (virtio_gpu_destroy()) and the front end stopped. */
void display_destroy(struct display *d);

/* Wiring, before any other thread uses d. */
void display_set_gpu(struct display *d, const struct display_gpu_ops *ops);
void display_set_keyboard(struct display *d, const struct display_input_ops *ops);
void display_set_pointer(struct display *d, const struct display_input_ops *ops);
void display_set_listener(struct display *d, const struct display_listener *l);

/* ---- the GPU side ---- */

/*
 * The display now shows the width x height pixels at data, rows stride
 * bytes apart, in format fmt; data NULL (with 0 x 0) shows nothing. The
 * display keeps the pointer and reads through it until the next call, so
 * the memory must stay valid (and hold height rows of width pixels) until
 * then. Anything impossible (a side 0 or past DISPLAY_MAX_*, stride below
 * width * 4, no such format, data NULL with a size) shows nothing too, so
 * the old surface is always let go. Takes d->lock: never call it between
 * display_lock() and display_unlock().
 *
 * The whole surface becomes dirty; a new size or format is also "resized".
 * Re-setting the same size and format (a page flip) is not a resize.
 */
void display_set_surface(struct display *d, const uint8_t *data, uint32_t width, uint32_t height,
			 size_t stride, enum display_format fmt);

/*
 * The guest drew rectangle r of the surface (a flush): r, clipped to the
 * surface, joins the dirty rectangle and the front end is told. Copies
 * nothing. Counts a frame even when r is empty or there is no surface.
 */
void display_update(struct display *d, const struct display_rect *r);

/*
 * Held around writes into the memory the surface points into, so that a
 * reader sees each pixel whole. Nothing else of the display may be called
 * in between.
 */
void display_lock(struct display *d);
void display_unlock(struct display *d);

/* ---- the front-end side ---- */

/*
 * Returns and clears what changed since the last call: *out gets the dirty
 * rectangle (w == 0: no new pixels) and *resized whether the size or the
 * format changed (then *out covers the whole new surface). True when
 * either is set. One front end calls this; a second one would steal the
 * first one's updates.
 */
bool display_take_dirty(struct display *d, struct display_rect *out, bool *resized);

/*
 * Calls fn with d->lock held and the current surface as it is, no copy
 * (s->data NULL and 0 x 0 when nothing is shown), so that a front end can
 * upload it. fn must be quick, must not call back into the display and
 * must not keep s->data after it returns: the GPU may free it then.
 */
typedef void display_surface_fn(void *opaque, const struct display_surface *s);
void display_with_surface(struct display *d, display_surface_fn *fn, void *opaque);

/*
 * A copy of the surface as 0x00RRGGBB words in host order, *width x
 * *height of them, rows packed, in a buffer the caller frees. 0,
 * -ENODATA when nothing is shown, -ENOMEM.
 */
int display_snapshot(struct display *d, uint32_t **pixels, uint32_t *width, uint32_t *height)
	__attribute__((warn_unused_result));

/* The front end would like a width x height mode; passed to the GPU if there is one. */
void display_request_mode(struct display *d, uint32_t width, uint32_t height);

/*
 * Writes the current surface to path as a PNG (8-bit RGB). 0, or -1
 * with one line in err ("the guest has not set a display mode",
 * "PATH: strerror").
 */
int display_screendump(struct display *d, const char *path, char *err, size_t errlen);

/* Keyboard input: a Linux KEY_* code pressed (down) or released; with a sync. */
void display_key(struct display *d, uint16_t code, bool down);
/* How many keyboard events the guest's queue takes now (UINT_MAX: no limit). */
unsigned display_key_room(struct display *d);

/* Pointer input: an absolute position, x and y in 0..DISPLAY_ABS_MAX; with a sync. */
void display_pointer_move(struct display *d, uint32_t x, uint32_t y);
/* A BTN_LEFT/BTN_RIGHT/BTN_MIDDLE change; with a sync. */
void display_pointer_button(struct display *d, uint16_t code, bool down);
/* Wheel notches, positive away from the user; with a sync. */
void display_pointer_wheel(struct display *d, int32_t notches);

#endif

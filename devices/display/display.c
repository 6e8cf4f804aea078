/* The guest's surface (the GPU's pixels, shown without a copy) and host input to the guest. */
#include "devices/display/display.h"

#include <errno.h>
#include <limits.h>
#include <linux/input-event-codes.h>
#include <stdlib.h>
#include <string.h>

#include "devices/display/png.h"
#include "vmm/log.h"

int display_init(struct display *d)
{
	int ret;

	memset(d, 0, sizeof(*d));
	ret = pthread_mutex_init(&d->lock, NULL);
	return ret ? -ret : 0;
}

void display_destroy(struct display *d)
{
	d->surface = (struct display_surface){ 0 }; /* the GPU's memory: not ours to free */
	pthread_mutex_destroy(&d->lock);
}

void display_set_gpu(struct display *d, const struct display_gpu_ops *ops)
{
	d->gpu = ops ? *ops : (struct display_gpu_ops){ 0 };
}

void display_set_keyboard(struct display *d, const struct display_input_ops *ops)
{
	d->keyboard = ops ? *ops : (struct display_input_ops){ 0 };
}

void display_set_pointer(struct display *d, const struct display_input_ops *ops)
{
	d->pointer = ops ? *ops : (struct display_input_ops){ 0 };
}

void display_set_listener(struct display *d, const struct display_listener *l)
{
	d->listener = l ? *l : (struct display_listener){ 0 };
}

static void display_notify(struct display *d)
{
	if (d->listener.changed)
		d->listener.changed(d->listener.opaque);
}

/*
 * How each format becomes 0x00RRGGBB. A source pixel read as a little-endian
 * word is b0 | b1 << 8 | b2 << 16 | b3 << 24 for its bytes b0..b3 in memory:
 *   BGR*: R<<16 | G<<8 | B in the low bytes already: mask off the top byte
 *   *RGB: swapped, R<<16 | G<<8 | B sits in the low bytes: mask
 *   RGB*: swapped, in the top bytes: shift down by 8
 *   *BGR: in the top bytes as read: shift down by 8
 */
enum display_convert {
	DISPLAY_CONVERT_MASK,
	DISPLAY_CONVERT_SWAP_MASK,
	DISPLAY_CONVERT_SWAP_SHIFT,
	DISPLAY_CONVERT_SHIFT
};

static const uint8_t display_converts[] = {
	[DISPLAY_BGRX] = DISPLAY_CONVERT_MASK,	     [DISPLAY_BGRA] = DISPLAY_CONVERT_MASK,
	[DISPLAY_ARGB] = DISPLAY_CONVERT_SWAP_MASK,  [DISPLAY_XRGB] = DISPLAY_CONVERT_SWAP_MASK,
	[DISPLAY_RGBA] = DISPLAY_CONVERT_SWAP_SHIFT, [DISPLAY_RGBX] = DISPLAY_CONVERT_SWAP_SHIFT,
	[DISPLAY_ABGR] = DISPLAY_CONVERT_SHIFT,	     [DISPLAY_XBGR] = DISPLAY_CONVERT_SHIFT,
};

static inline uint32_t display_load_le32(const uint8_t *p)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint32_t v;

	memcpy(&v, p, sizeof(v)); /* one unaligned load */
	return v;
#else
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
#endif
}

/* Inlined with a constant how, so each conversion gets its own loop that compilers vectorize. */
static inline __attribute__((always_inline)) void
display_convert_row(uint32_t *dst, const uint8_t *src, uint32_t w, enum display_convert how)
{
	for (uint32_t i = 0; i < w; i++, src += 4) {
		uint32_t v = display_load_le32(src);

		switch (how) {
		case DISPLAY_CONVERT_MASK: dst[i] = v & 0x00ffffff; break;
		case DISPLAY_CONVERT_SWAP_MASK: dst[i] = __builtin_bswap32(v) & 0x00ffffff; break;
		case DISPLAY_CONVERT_SWAP_SHIFT: dst[i] = __builtin_bswap32(v) >> 8; break;
		case DISPLAY_CONVERT_SHIFT: dst[i] = v >> 8; break;
		}
	}
}

static void display_copy_rows(uint32_t *dst, size_t dst_stride, const uint8_t *src, size_t stride,
			      uint32_t w, uint32_t h, enum display_format fmt)
{
	enum display_convert how = display_converts[fmt];

	for (uint32_t y = 0; y < h; y++, dst += dst_stride, src += stride) {
		switch (how) {
		case DISPLAY_CONVERT_MASK:
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			/* BGRX/BGRA are the display's own layout on little-endian:
			 * a copy, then the mask clears X/A (the row is in L1 by then) */
			memcpy(dst, src, (size_t)w * 4);
			for (uint32_t i = 0; i < w; i++)
				dst[i] &= 0x00ffffff;
#else
			display_convert_row(dst, src, w, DISPLAY_CONVERT_MASK);
#endif
			break;
		case DISPLAY_CONVERT_SWAP_MASK:
			display_convert_row(dst, src, w, DISPLAY_CONVERT_SWAP_MASK);
			break;
		case DISPLAY_CONVERT_SWAP_SHIFT:
			display_convert_row(dst, src, w, DISPLAY_CONVERT_SWAP_SHIFT);
			break;
		case DISPLAY_CONVERT_SHIFT:
			display_convert_row(dst, src, w, DISPLAY_CONVERT_SHIFT);
			break;
		}
	}
}

/* d->dirty grows to cover r as well; r lies inside the display. */
static void display_add_dirty(struct display *d, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	struct display_rect *dirty = &d->dirty;
	uint32_t x1, y1;

	if (!dirty->w || !dirty->h) {
		*dirty = (struct display_rect){ x, y, w, h };
		return;
	}
	/* every coordinate is below DISPLAY_MAX_*, so the sums cannot wrap */
	x1 = x + w > dirty->x + dirty->w ? x + w : dirty->x + dirty->w;
	y1 = y + h > dirty->y + dirty->h ? y + h : dirty->y + dirty->h;
	dirty->x = x < dirty->x ? x : dirty->x;
	dirty->y = y < dirty->y ? y : dirty->y;
	dirty->w = x1 - dirty->x;
	dirty->h = y1 - dirty->y;
}

static bool display_surface_ok(const uint8_t *data, uint32_t width, uint32_t height, size_t stride,
			       enum display_format fmt)
{
	return data && width && height && width <= DISPLAY_MAX_WIDTH &&
	       height <= DISPLAY_MAX_HEIGHT && stride >= (size_t)width * 4 &&
	       (unsigned)fmt < sizeof(display_converts) / sizeof(display_converts[0]);
}

void display_set_surface(struct display *d, const uint8_t *data, uint32_t width, uint32_t height,
			 size_t stride, enum display_format fmt)
{
	struct display_surface s = { 0 }, *old = &d->surface;
	bool changed;

	if (display_surface_ok(data, width, height, stride, fmt))
		s = (struct display_surface){ data, width, height, stride, fmt };
	pthread_mutex_lock(&d->lock);
	/* from here on no reader can reach old->data: the GPU may free it */
	changed = s.data != old->data || s.width != old->width || s.height != old->height ||
		  s.stride != old->stride || s.format != old->format;
	if (s.width != old->width || s.height != old->height || s.format != old->format)
		d->resized = true;
	*old = s;
	/* a new surface (or a re-set one: the guest says it is current) is all news */
	d->dirty = (struct display_rect){ 0, 0, s.width, s.height };
	pthread_mutex_unlock(&d->lock);
	if (changed || s.data)
		display_notify(d);
}

void display_update(struct display *d, const struct display_rect *r)
{
	const struct display_surface *s = &d->surface;
	bool changed = false;
	uint32_t w, h;

	pthread_mutex_lock(&d->lock);
	d->frames++;
	/* x and y are unsigned, so clipping only ever trims the right and the
	 * bottom; each subtraction below follows a check that it cannot wrap */
	if (s->data && r->x < s->width && r->y < s->height) {
		w = r->w < s->width - r->x ? r->w : s->width - r->x;
		h = r->h < s->height - r->y ? r->h : s->height - r->y;
		if (w && h) {
			display_add_dirty(d, r->x, r->y, w, h);
			changed = true;
		}
	}
	pthread_mutex_unlock(&d->lock);
	if (changed)
		display_notify(d);
}

void display_lock(struct display *d)
{
	pthread_mutex_lock(&d->lock);
}

void display_unlock(struct display *d)
{
	pthread_mutex_unlock(&d->lock);
}

bool display_take_dirty(struct display *d, struct display_rect *out, bool *resized)
{
	bool any;

	pthread_mutex_lock(&d->lock);
	*out = d->dirty;
	if (!out->w || !out->h)
		*out = (struct display_rect){ 0, 0, 0, 0 };
	*resized = d->resized;
	any = out->w || d->resized;
	d->dirty = (struct display_rect){ 0, 0, 0, 0 };
	d->resized = false;
	pthread_mutex_unlock(&d->lock);
	return any;
}

void display_with_surface(struct display *d, display_surface_fn *fn, void *opaque)
{
	pthread_mutex_lock(&d->lock);
	fn(opaque, &d->surface);
	pthread_mutex_unlock(&d->lock);
}

void display_request_mode(struct display *d, uint32_t width, uint32_t height)
{
	if (d->gpu.request_mode)
		d->gpu.request_mode(d->gpu.opaque, width, height);
}

int display_snapshot(struct display *d, uint32_t **pixels, uint32_t *width, uint32_t *height)
{
	const struct display_surface *s = &d->surface;
	uint32_t *copy;

	/* converted under the lock, from memory the GPU may free once it is let go */
	pthread_mutex_lock(&d->lock);
	if (!s->data) {
		pthread_mutex_unlock(&d->lock);
		return -ENODATA;
	}
	copy = malloc((size_t)s->width * s->height * sizeof(*copy));
	if (copy) {
		display_copy_rows(copy, s->width, s->data, s->stride, s->width, s->height,
				  s->format);
		*width = s->width;
		*height = s->height;
	}
	pthread_mutex_unlock(&d->lock);
	if (!copy)
		return -ENOMEM;
	*pixels = copy;
	return 0;
}

int display_screendump(struct display *d, const char *path, char *err, size_t errlen)
{
	uint32_t *pixels, width, height;
	int ret = display_snapshot(d, &pixels, &width, &height);

	if (ret == -ENODATA) {
		log_set_err(err, errlen, "the guest has not set a display mode");
		return -1;
	}
	if (ret) {
		log_set_err(err, errlen, "%s: %s", path, strerror(-ret));
		return -1;
	}
	/* deflated outside the lock: the GPU goes on meanwhile */
	ret = png_write(path, pixels, width, height, width, err, errlen);
	free(pixels);
	return ret;
}

static void display_input(const struct display_input_ops *ops, uint16_t type, uint16_t code,
			  int32_t value)
{
	if (!ops->event)
		return;
	ops->event(ops->opaque, type, code, value);
	if (ops->sync)
		ops->sync(ops->opaque);
}

void display_key(struct display *d, uint16_t code, bool down)
{
	display_input(&d->keyboard, EV_KEY, code, down);
}

unsigned display_key_room(struct display *d)
{
	const struct display_input_ops *ops = &d->keyboard;

	return ops->room ? ops->room(ops->opaque) : UINT_MAX;
}

void display_pointer_move(struct display *d, uint32_t x, uint32_t y)
{
	const struct display_input_ops *ops = &d->pointer;

	if (!ops->event)
		return;
	ops->event(ops->opaque, EV_ABS, ABS_X,
		   (int32_t)(x > DISPLAY_ABS_MAX ? DISPLAY_ABS_MAX : x));
	ops->event(ops->opaque, EV_ABS, ABS_Y,
		   (int32_t)(y > DISPLAY_ABS_MAX ? DISPLAY_ABS_MAX : y));
	if (ops->sync)
		ops->sync(ops->opaque);
}

void display_pointer_button(struct display *d, uint16_t code, bool down)
{
	display_input(&d->pointer, EV_KEY, code, down);
}

void display_pointer_wheel(struct display *d, int32_t notches)
{
	if (notches)
		display_input(&d->pointer, EV_REL, REL_WHEEL, notches);
}

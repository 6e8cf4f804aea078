/* The SDL2 window: one thread owns every SDL call; the display wakes it with a user event. */
#include "devices/display/sdl.h"

#include <SDL.h>
#include <errno.h>
#include <linux/input-event-codes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/display/keymap.h"
#include "vmm/log.h"

struct sdl_window {
	struct display *d;
	struct sdl_ops ops;
	char title[128];
	pthread_t thread;

	/* start-up handshake: the thread reports whether it opened the window */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int started; /* 0: not yet, 1: running, -1: failed */
	char err[256];

	/* the window thread's own */
	SDL_Window *win;
	SDL_Renderer *ren;
	SDL_Texture *tex;
	uint32_t tex_w, tex_h;	      /* the texture's size; 0x0: none (black window) */
	Uint32 tex_format;	      /* the texture's SDL_PIXELFORMAT_* */
	int asked_w, asked_h;	      /* the window size we set ourselves, not the user */
	unsigned closes;	      /* how often the user closed the window */
	bool grabbed;		      /* the keyboard is grabbed */
	uint8_t pressed[KEY_CNT / 8]; /* keys the guest has seen pressed and not released */
	uint32_t ev_changed;	      /* SDL user event: the display changed */
	uint32_t ev_stop;	      /* SDL user event: sdl_stop() */
	atomic_bool change_posted;    /* an ev_changed is in SDL's queue */
};

bool sdl_session_present(void)
{
	const char *x = getenv("DISPLAY"), *wl = getenv("WAYLAND_DISPLAY");

	return (x && *x) || (wl && *wl);
}

/* display listener, on the GPU's I/O thread: one pending wakeup is enough */
static void sdl_changed(void *opaque)
{
	struct sdl_window *w = opaque;
	SDL_Event ev = { .type = w->ev_changed };

	if (!atomic_exchange(&w->change_posted, true) && SDL_PushEvent(&ev) < 0)
		atomic_store(&w->change_posted, false);
}

static void sdl_set_title(struct sdl_window *w)
{
	char title[sizeof(w->title) + 64];

	snprintf(title, sizeof(title), "%s%s", w->title,
		 w->grabbed ? " - keyboard grabbed (Ctrl-Alt-G releases)" : "");
	SDL_SetWindowTitle(w->win, title);
}

static void sdl_present(struct sdl_window *w)
{
	SDL_SetRenderDrawColor(w->ren, 0, 0, 0, 255);
	SDL_RenderClear(w->ren);
	if (w->tex)
		SDL_RenderCopy(w->ren, w->tex, NULL, NULL);
	SDL_RenderPresent(w->ren);
}

/*
 * The SDL texture format whose pixels are the surface's bytes as they are,
 * so that SDL_UpdateTexture() reads the guest's pixels without a
 * conversion of ours. SDL's packed formats name a 32-bit word in host
 * order from its top byte down; the X formats make SDL ignore the A byte.
 */
static Uint32 sdl_texture_format(enum display_format fmt)
{
	switch (fmt) {
#if SDL_BYTEORDER == SDL_LIL_ENDIAN
	case DISPLAY_BGRX:
	case DISPLAY_BGRA: return SDL_PIXELFORMAT_RGB888; /* = XRGB8888: bytes B, G, R, X */
	case DISPLAY_XRGB:
	case DISPLAY_ARGB: return SDL_PIXELFORMAT_BGRX8888; /* bytes X, R, G, B */
	case DISPLAY_RGBX:
	case DISPLAY_RGBA: return SDL_PIXELFORMAT_BGR888; /* = XBGR8888: bytes R, G, B, X */
	case DISPLAY_XBGR:
	case DISPLAY_ABGR: return SDL_PIXELFORMAT_RGBX8888; /* bytes X, B, G, R */
#else
	case DISPLAY_BGRX:
	case DISPLAY_BGRA: return SDL_PIXELFORMAT_BGRX8888;
	case DISPLAY_XRGB:
	case DISPLAY_ARGB: return SDL_PIXELFORMAT_RGB888;
	case DISPLAY_RGBX:
	case DISPLAY_RGBA: return SDL_PIXELFORMAT_RGBX8888;
	case DISPLAY_XBGR:
	case DISPLAY_ABGR: return SDL_PIXELFORMAT_BGR888;
#endif
	}
	return SDL_PIXELFORMAT_UNKNOWN;
}

/* A new surface size or format: a new texture, the window's logical size, the window to that size. */
static void sdl_resize(struct sdl_window *w, uint32_t width, uint32_t height, Uint32 format)
{
	bool size_changed = width != w->tex_w || height != w->tex_h;

	if (w->tex)
		SDL_DestroyTexture(w->tex);
	w->tex = NULL;
	w->tex_w = w->tex_h = 0;
	w->tex_format = SDL_PIXELFORMAT_UNKNOWN;
	if (!width || !height || format == SDL_PIXELFORMAT_UNKNOWN)
		return;
	w->tex = SDL_CreateTexture(w->ren, format, SDL_TEXTUREACCESS_STREAMING, (int)width,
				   (int)height);
	if (!w->tex) {
		fprintf(stderr, "hutch: sdl: no %ux%u %s texture: %s\n", width, height,
			SDL_GetPixelFormatName(format), SDL_GetError());
		return;
	}
	w->tex_w = width;
	w->tex_h = height;
	w->tex_format = format;
	SDL_RenderSetLogicalSize(w->ren, (int)width, (int)height);
	if (size_changed && !(SDL_GetWindowFlags(w->win) & SDL_WINDOW_MAXIMIZED)) {
		w->asked_w = (int)width;
		w->asked_h = (int)height;
		SDL_SetWindowSize(w->win, (int)width, (int)height);
	}
}

struct sdl_upload {
	struct sdl_window *w;
	struct display_rect r;
	bool resized;
};

/*
 * Under the display's lock: a new texture when the surface's size or format
 * changed, then the dirty rectangle straight from the guest's pixels.
 */
static void sdl_upload(void *opaque, const struct display_surface *s)
{
	struct sdl_upload *u = opaque;
	struct sdl_window *w = u->w;
	struct display_rect r = u->r;
	Uint32 format = s->data ? sdl_texture_format(s->format) : SDL_PIXELFORMAT_UNKNOWN;

	if (u->resized || s->width != w->tex_w || s->height != w->tex_h ||
	    format != w->tex_format) {
		sdl_resize(w, s->width, s->height, format);
		r = (struct display_rect){ 0, 0, s->width, s->height };
	}
	if (w->tex && s->data && r.w && r.h && r.x < s->width && r.y < s->height &&
	    r.w <= s->width - r.x && r.h <= s->height - r.y) {
		SDL_Rect rect = { (int)r.x, (int)r.y, (int)r.w, (int)r.h };

		/* the stride is at most DISPLAY_MAX_WIDTH * 4 */
		SDL_UpdateTexture(w->tex, &rect, s->data + r.y * s->stride + (size_t)r.x * 4,
				  (int)s->stride);
	}
}

/* The display changed: upload what is dirty into the texture and draw. */
static void sdl_update(struct sdl_window *w)
{
	struct sdl_upload u = { .w = w };

	atomic_store(&w->change_posted, false);
	if (!display_take_dirty(w->d, &u.r, &u.resized) && w->tex)
		return;
	display_with_surface(w->d, sdl_upload, &u);
	sdl_present(w);
}

static void sdl_window_event(struct sdl_window *w, const SDL_WindowEvent *ev)
{
	switch (ev->event) {
	case SDL_WINDOWEVENT_CLOSE:
		if (w->ops.close)
			w->ops.close(w->ops.opaque, ++w->closes);
		break;
	case SDL_WINDOWEVENT_SIZE_CHANGED:
		/* a size we set is the guest's; any other the user's, who wants that mode */
		if ((ev->data1 != w->asked_w || ev->data2 != w->asked_h) && ev->data1 > 0 &&
		    ev->data2 > 0)
			display_request_mode(w->d, (uint32_t)ev->data1, (uint32_t)ev->data2);
		w->asked_w = w->asked_h = 0;
		sdl_present(w);
		break;
	case SDL_WINDOWEVENT_EXPOSED: sdl_present(w); break;
	case SDL_WINDOWEVENT_FOCUS_LOST:
		/* keys released in another window would stay pressed in the guest */
		for (unsigned code = 0; code < KEY_CNT; code++) {
			if (w->pressed[code / 8] >> (code % 8) & 1)
				display_key(w->d, (uint16_t)code, false);
		}
		memset(w->pressed, 0, sizeof(w->pressed));
		break;
	default: break;
	}
}

static void sdl_key(struct sdl_window *w, const SDL_KeyboardEvent *ev)
{
	bool down = ev->type == SDL_KEYDOWN;
	SDL_Keymod mod = SDL_GetModState();
	uint16_t code;

	if (down && ev->keysym.scancode == SDL_SCANCODE_G && (mod & KMOD_CTRL) &&
	    (mod & KMOD_ALT)) {
		w->grabbed = !w->grabbed;
		SDL_SetWindowKeyboardGrab(w->win, w->grabbed ? SDL_TRUE : SDL_FALSE);
		sdl_set_title(w);
		return;
	}
	if (ev->repeat)
		return; /* the guest repeats keys itself */
	code = keymap_hid_to_linux((unsigned)ev->keysym.scancode);
	if (!code || code >= KEY_CNT)
		return;
	if (down)
		w->pressed[code / 8] |= (uint8_t)(1u << (code % 8));
	else
		w->pressed[code / 8] &= (uint8_t) ~(1u << (code % 8));
	display_key(w->d, code, down);
}

/* Window coordinates (already the display's, through the logical size) to 0..DISPLAY_ABS_MAX. */
static uint32_t sdl_abs(int pos, uint32_t size)
{
	if (pos <= 0 || size < 2)
		return 0;
	if ((uint32_t)pos >= size - 1)
		return DISPLAY_ABS_MAX;
	return (uint32_t)((uint64_t)pos * DISPLAY_ABS_MAX / (size - 1));
}

static void sdl_button(struct sdl_window *w, const SDL_MouseButtonEvent *ev)
{
	static const uint16_t buttons[] = {
		[SDL_BUTTON_LEFT] = BTN_LEFT,	[SDL_BUTTON_MIDDLE] = BTN_MIDDLE,
		[SDL_BUTTON_RIGHT] = BTN_RIGHT, [SDL_BUTTON_X1] = BTN_SIDE,
		[SDL_BUTTON_X2] = BTN_EXTRA,
	};

	if (ev->button < sizeof(buttons) / sizeof(buttons[0]) && buttons[ev->button])
		display_pointer_button(w->d, buttons[ev->button], ev->type == SDL_MOUSEBUTTONDOWN);
}

/* One SDL event; false on sdl_stop()'s. */
static bool sdl_event(struct sdl_window *w, const SDL_Event *ev)
{
	if (ev->type == w->ev_stop)
		return false;
	if (ev->type == w->ev_changed) {
		sdl_update(w);
		return true;
	}
	switch (ev->type) {
	case SDL_WINDOWEVENT: sdl_window_event(w, &ev->window); break;
	case SDL_KEYDOWN:
	case SDL_KEYUP: sdl_key(w, &ev->key); break;
	case SDL_MOUSEMOTION:
		if (w->tex)
			display_pointer_move(w->d, sdl_abs(ev->motion.x, w->tex_w),
					     sdl_abs(ev->motion.y, w->tex_h));
		break;
	case SDL_MOUSEBUTTONDOWN:
	case SDL_MOUSEBUTTONUP: sdl_button(w, &ev->button); break;
	case SDL_MOUSEWHEEL:
		display_pointer_wheel(w->d, ev->wheel.direction == SDL_MOUSEWHEEL_FLIPPED
						    ? -ev->wheel.y
						    : ev->wheel.y);
		break;
	default: break;
	}
	return true;
}

/*
 * Without an X server or a Wayland compositor SDL falls back to drivers
 * that draw nowhere a user sees ("offscreen", "dummy", a bare KMS console):
 * those only when asked for by name through SDL_VIDEODRIVER.
 */
static bool sdl_driver_ok(void)
{
	const char *driver = SDL_GetCurrentVideoDriver(), *asked = getenv("SDL_VIDEODRIVER");

	if (!driver)
		return false;
	if (asked && *asked)
		return true;
	return !strcmp(driver, "x11") || !strcmp(driver, "wayland");
}

static int sdl_open(struct sdl_window *w)
{
	SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1"); /* hutch handles SIGINT and SIGTERM */
	SDL_SetHint(SDL_HINT_VIDEO_X11_NET_WM_BYPASS_COMPOSITOR, "0");
	SDL_SetHint(SDL_HINT_GRAB_KEYBOARD, "1");
	if (SDL_Init(SDL_INIT_VIDEO) < 0) {
		snprintf(w->err, sizeof(w->err), "--display sdl: cannot use SDL: %s",
			 SDL_GetError());
		return -1;
	}
	if (!sdl_driver_ok()) {
		snprintf(w->err, sizeof(w->err),
			 "--display sdl: no graphical session (SDL found only its '%s' driver)",
			 SDL_GetCurrentVideoDriver());
		SDL_Quit();
		return -1;
	}
	w->ev_changed = SDL_RegisterEvents(2);
	w->ev_stop = w->ev_changed + 1;
	w->win = SDL_CreateWindow(w->title, SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED,
				  DISPLAY_DEFAULT_WIDTH, DISPLAY_DEFAULT_HEIGHT,
				  SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI);
	if (w->win)
		w->ren = SDL_CreateRenderer(w->win, -1, 0);
	if (w->ev_changed == (uint32_t)-1 || !w->win || !w->ren) {
		snprintf(w->err, sizeof(w->err), "--display sdl: cannot open a window: %s",
			 SDL_GetError());
		if (w->win)
			SDL_DestroyWindow(w->win);
		SDL_Quit();
		return -1;
	}
	SDL_SetHint(SDL_HINT_RENDER_SCALE_QUALITY, "linear");
	sdl_present(w);
	return 0;
}

static void sdl_close(struct sdl_window *w)
{
	if (w->tex)
		SDL_DestroyTexture(w->tex);
	SDL_DestroyRenderer(w->ren);
	SDL_DestroyWindow(w->win);
	SDL_Quit();
}

static void *sdl_thread(void *opaque)
{
	struct sdl_window *w = opaque;
	int ret = sdl_open(w);
	SDL_Event ev;

	pthread_mutex_lock(&w->lock);
	w->started = ret ? -1 : 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	if (ret)
		return NULL;
	sdl_changed(w); /* whatever the display already shows */
	while (SDL_WaitEvent(&ev) && sdl_event(w, &ev))
		;
	sdl_close(w);
	return NULL;
}

struct sdl_window *sdl_start(struct display *d, const char *title, const struct sdl_ops *ops,
			     char *err, size_t errlen)
{
	struct sdl_window *w = calloc(1, sizeof(*w));
	struct display_listener l;
	int ret;

	if (!w) {
		snprintf(err, errlen, "--display sdl: out of memory");
		return NULL;
	}
	w->d = d;
	w->ops = *ops;
	snprintf(w->title, sizeof(w->title), "%s", title);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	ret = pthread_create(&w->thread, NULL, sdl_thread, w);
	if (ret) {
		snprintf(err, errlen, "--display sdl: cannot start a thread: %s", strerror(ret));
		goto err_free;
	}
	pthread_setname_np(w->thread, "hutch-sdl");
	pthread_mutex_lock(&w->lock);
	while (!w->started)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
	if (w->started < 0) {
		pthread_join(w->thread, NULL);
		snprintf(err, errlen, "%s", w->err);
		goto err_free;
	}
	l = (struct display_listener){ .changed = sdl_changed, .opaque = w };
	display_set_listener(d, &l);
	sdl_changed(w);
	return w;

err_free:
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return NULL;
}

void sdl_stop(struct sdl_window *w)
{
	SDL_Event ev = { 0 };

	if (!w)
		return;
	display_set_listener(w->d, &(struct display_listener){ 0 });
	ev.type = w->ev_stop;
	while (SDL_PushEvent(&ev) < 0)
		SDL_Delay(10);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

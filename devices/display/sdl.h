/* The SDL2 front end (--display sdl): a window showing the display, its keyboard and mouse as input. */
#ifndef HUTCH_DEVICES_DISPLAY_SDL_H
#define HUTCH_DEVICES_DISPLAY_SDL_H

#include <stdbool.h>
#include <stddef.h>

#include "devices/display/display.h"

struct sdl_window;

struct sdl_ops {
	/* on the window's thread: the user closed the window for the count'th time */
	void (*close)(void *opaque, unsigned count);
	void *opaque;
};

/* True when the environment names a graphical session ($DISPLAY or $WAYLAND_DISPLAY). */
bool sdl_session_present(void);

/*
 * Opens a window titled title on a new "hutch-sdl" thread, which then
 * owns everything SDL: it shows d (scaled to the window, keeping the aspect
 * ratio, redrawn only when d changed), turns keys (by scancode, so the
 * guest's layout applies), pointer, buttons and wheel into d's input, asks
 * d for a new mode when the user resizes the window, and calls ops->close
 * when the window is closed. Ctrl-Alt-G grabs and releases the keyboard.
 * Registers itself as d's listener. NULL with one line in err when SDL
 * cannot open a window.
 */
struct sdl_window *sdl_start(struct display *d, const char *title, const struct sdl_ops *ops,
			     char *err, size_t errlen);

/* Closes the window and ends the thread. NULL is ok. */
void sdl_stop(struct sdl_window *w);

#endif

/* A PNG writer for screendumps: 8-bit RGB, streamed through zlib row by row. */
#ifndef HUTCH_DEVICES_DISPLAY_PNG_H
#define HUTCH_DEVICES_DISPLAY_PNG_H

#include <stddef.h>
#include <stdint.h>

/*
 * Writes the width x height image at pixels (32-bit words 0x00RRGGBB in host
 * order, rows stride_words words apart) to path as a PNG. The file appears
 * whole or not at all: it is written to a temporary file beside path and
 * renamed into place. 0, or -1 with one line in err ("PATH: reason") and no
 * temporary file left behind. A width or height of 0 is refused.
 */
int png_write(const char *path, const uint32_t *pixels, uint32_t width, uint32_t height,
	      size_t stride_words, char *err, size_t errlen) __attribute__((warn_unused_result));

#endif

/* EDID 1.4 (VESA E-EDID, release A rev. 2): a monitor description for one preferred mode. */
#ifndef HUTCH_DEVICES_DISPLAY_EDID_H
#define HUTCH_DEVICES_DISPLAY_EDID_H

#include <stdint.h>

#define EDID_BLOCK_SIZE 128

/* A detailed timing descriptor holds 12-bit active sizes. */
#define EDID_MAX_ACTIVE 4095

/*
 * Fills block with an EDID 1.4 base block (no extensions) for a digital
 * monitor named "hutch" whose preferred timing (the first detailed timing
 * descriptor) shows width x height. Sizes are clamped to 1..EDID_MAX_ACTIVE;
 * the refresh rate is 60 Hz, lower where the pixel clock would not fit the
 * descriptor. The checksum byte makes all 128 bytes sum to 0 modulo 256.
 * Pure: no allocation, no I/O.
 */
void edid_generate(uint8_t block[EDID_BLOCK_SIZE], uint32_t width, uint32_t height);

#endif

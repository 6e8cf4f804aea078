/* EDID 1.4 base block generator: one detailed timing, a name, sRGB colours. */
#include "devices/display/edid.h"

#include <string.h>

/* Blanking in the spirit of CVT reduced blanking (VESA CVT 1.2 §3.4). */
#define EDID_HBLANK	160
#define EDID_HFRONT	48
#define EDID_HSYNC	32
#define EDID_VFRONT	3
#define EDID_VSYNC	6
#define EDID_MIN_VBLANK 23
#define EDID_REFRESH	60
#define EDID_MAX_CLOCK	65535 /* the descriptor's pixel clock field: 16 bits of 10 kHz */

static void edid_detailed_timing(uint8_t *d, uint32_t w, uint32_t h)
{
	/* about 5% of the frame for vertical blanking, at least what CVT-RB asks */
	uint32_t vblank = h / 20 > EDID_MIN_VBLANK ? h / 20 : EDID_MIN_VBLANK;
	uint64_t total = (uint64_t)(w + EDID_HBLANK) * (h + vblank);
	/* in units of 10 kHz, rounded up */
	uint64_t clock = (total * EDID_REFRESH + 9999) / 10000;
	uint32_t wmm = w * 100 / 378, hmm = h * 100 / 378;

	if (clock > EDID_MAX_CLOCK)
		clock = EDID_MAX_CLOCK; /* a lower refresh rate: a virtual monitor does not mind */
	if (vblank > 0xfff)
		vblank = 0xfff;
	wmm = wmm > 0xfff ? 0xfff : wmm;
	hmm = hmm > 0xfff ? 0xfff : hmm;
	/* EDID 1.4 §3.10.2, table 3.21 */
	d[0] = (uint8_t)clock;
	d[1] = (uint8_t)(clock >> 8);
	d[2] = (uint8_t)w;
	d[3] = (uint8_t)EDID_HBLANK;
	d[4] = (uint8_t)((w >> 8) << 4 | (EDID_HBLANK >> 8));
	d[5] = (uint8_t)h;
	d[6] = (uint8_t)vblank;
	d[7] = (uint8_t)((h >> 8) << 4 | (vblank >> 8));
	d[8] = (uint8_t)EDID_HFRONT;
	d[9] = (uint8_t)EDID_HSYNC;
	d[10] = (uint8_t)((EDID_VFRONT & 0xf) << 4 | (EDID_VSYNC & 0xf));
	d[11] = (uint8_t)((EDID_HFRONT >> 8) << 6 | (EDID_HSYNC >> 8) << 4 |
			  (EDID_VFRONT >> 4) << 2 | (EDID_VSYNC >> 4));
	d[12] = (uint8_t)wmm;
	d[13] = (uint8_t)hmm;
	d[14] = (uint8_t)((wmm >> 8) << 4 | (hmm >> 8));
	d[15] = 0; /* no borders */
	d[16] = 0;
	/* digital separate sync (bits 4-3), hsync positive (bit 1), vsync negative: as CVT-RB */
	d[17] = 0x1a;
}

/* EDID 1.4 §3.10.3: a display descriptor: 0, 0, 0, tag, 0, then 13 bytes. */
static void edid_descriptor(uint8_t *d, uint8_t tag, const char *text)
{
	size_t n = text ? strlen(text) : 0;

	memset(d, 0, 18);
	d[3] = tag;
	if (!text)
		return;
	/* §3.10.3.4: ASCII, ended by a line feed and padded with spaces */
	memset(d + 5, ' ', 13);
	memcpy(d + 5, text, n);
	d[5 + n] = '\n';
}

/* EDID 1.4 §3.7: sRGB primaries and D65 white, 10-bit binary fractions (x * 1024). */
static void edid_chromaticity(uint8_t *c)
{
	const uint16_t rx = 655, ry = 338, gx = 307, gy = 614, bx = 154, by = 61, wx = 320,
		       wy = 337;

	c[0] = (uint8_t)((rx & 3) << 6 | (ry & 3) << 4 | (gx & 3) << 2 | (gy & 3));
	c[1] = (uint8_t)((bx & 3) << 6 | (by & 3) << 4 | (wx & 3) << 2 | (wy & 3));
	c[2] = (uint8_t)(rx >> 2);
	c[3] = (uint8_t)(ry >> 2);
	c[4] = (uint8_t)(gx >> 2);
	c[5] = (uint8_t)(gy >> 2);
	c[6] = (uint8_t)(bx >> 2);
	c[7] = (uint8_t)(by >> 2);
	c[8] = (uint8_t)(wx >> 2);
	c[9] = (uint8_t)(wy >> 2);
}

void edid_generate(uint8_t block[EDID_BLOCK_SIZE], uint32_t width, uint32_t height)
{
	static const uint8_t header[8] = { 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00 };
	/* §3.4.1: three 5-bit letters, 'A' = 1, big-endian: "HUT" */
	const uint16_t vendor = ('H' - '@') << 10 | ('U' - '@') << 5 | ('T' - '@');
	uint32_t w = width < 1 ? 1 : width > EDID_MAX_ACTIVE ? EDID_MAX_ACTIVE : width;
	uint32_t h = height < 1 ? 1 : height > EDID_MAX_ACTIVE ? EDID_MAX_ACTIVE : height;
	uint32_t wcm = (w + 189) / 378, hcm = (h + 189) / 378; /* 96 dpi, rounded */
	uint8_t sum = 0;

	memset(block, 0, EDID_BLOCK_SIZE);
	memcpy(block, header, sizeof(header));
	block[8] = (uint8_t)(vendor >> 8);
	block[9] = (uint8_t)vendor;
	block[10] = 1;	/* product code, little-endian */
	block[16] = 1;	/* week of manufacture */
	block[17] = 34; /* year - 1990: 2024 */
	block[18] = 1;	/* EDID version 1.4 */
	block[19] = 4;
	block[20] = 0xa0; /* §3.6.1: digital input, 8 bits per colour, interface undefined */
	block[21] = (uint8_t)(wcm < 1 ? 1 : wcm > 255 ? 255 : wcm);
	block[22] = (uint8_t)(hcm < 1 ? 1 : hcm > 255 ? 255 : hcm);
	block[23] = 120; /* gamma 2.2: (2.2 - 1) * 100 */
	/* §3.6.4: RGB 4:4:4, sRGB default, preferred timing is the native mode */
	block[24] = 0x06;
	edid_chromaticity(block + 25);
	/* bytes 35-37: no established timings; 38-53: standard timings unused (01 01) */
	memset(block + 38, 0x01, 16);
	edid_detailed_timing(block + 54, w, h);
	edid_descriptor(block + 72, 0xfc, "hutch"); /* monitor name */
	edid_descriptor(block + 90, 0x10, NULL);    /* dummy descriptors */
	edid_descriptor(block + 108, 0x10, NULL);
	block[126] = 0; /* no extension blocks */
	for (unsigned i = 0; i < EDID_BLOCK_SIZE - 1; i++)
		sum = (uint8_t)(sum + block[i]);
	block[127] = (uint8_t)(0x100 - sum);
}

/*
 * Key maps to Linux KEY_* codes (<linux/input-event-codes.h>): from USB HID
 * keyboard usages (= SDL2 scancodes), from QEMU-style key names ("ctrl",
 * "kp_enter", as QEMU's sendkey takes them) and combinations of them
 * ("ctrl-alt-delete"), and from ASCII text typed on a US layout.
 */
#ifndef HUTCH_DEVICES_DISPLAY_KEYMAP_H
#define HUTCH_DEVICES_DISPLAY_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most keys keymap_parse_combo() callers usually allow; nothing enforces it. */
#define KEYMAP_COMBO_MAX 16

/*
 * A USB HID keyboard usage (HID Usage Tables, page 7: 4 = a .. 231 = right
 * GUI), or one of SDL2's scancodes past 256 (258 = SDL_SCANCODE_AUDIONEXT
 * ..), to its Linux KEY_* code; 0 when there is none.
 */
uint16_t keymap_hid_to_linux(unsigned usage);

/* A key name (QEMU's sendkey names and a few aliases, any case) to its KEY_* code, or -1. */
int keymap_from_name(const char *name);

/*
 * Parses a combination of key names joined by '-' ("ctrl-alt-delete"; the
 * minus key is "minus") into codes[], in the order they are to be pressed.
 * Returns how many (1..max), or -1 with one line in err: "empty key name",
 * "unknown key 'NAME'", "too many keys (at most MAX)".
 */
int keymap_parse_combo(const char *combo, uint16_t *codes, unsigned max, char *err, size_t errlen);

/*
 * The key that types ASCII character c on a US layout, and in *shift (when
 * shift is not NULL) whether shift must be held; -1 for characters no key
 * types ('\n' is KEY_ENTER, '\t' KEY_TAB).
 */
int keymap_from_char(char c, bool *shift);

#endif

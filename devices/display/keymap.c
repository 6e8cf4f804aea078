/* Key maps: HID usages, key names and US-layout text to Linux KEY_* codes. */
#include "devices/display/keymap.h"

#include <ctype.h>
#include <linux/input-event-codes.h>
#include <string.h>
#include <strings.h>

#include "vmm/log.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * HID Usage Tables 1.3, §10 "Keyboard/Keypad Page (0x07)"; where HID has a
 * key Linux does not, the choice of Linux's own hid-input (Non-US # is
 * KEY_BACKSLASH, Execute KEY_OPEN, Select KEY_FRONT).
 */
static const uint16_t hid_keys[0xe8] = {
	[0x04] = KEY_A,
	[0x05] = KEY_B,
	[0x06] = KEY_C,
	[0x07] = KEY_D,
	[0x08] = KEY_E,
	[0x09] = KEY_F,
	[0x0a] = KEY_G,
	[0x0b] = KEY_H,
	[0x0c] = KEY_I,
	[0x0d] = KEY_J,
	[0x0e] = KEY_K,
	[0x0f] = KEY_L,
	[0x10] = KEY_M,
	[0x11] = KEY_N,
	[0x12] = KEY_O,
	[0x13] = KEY_P,
	[0x14] = KEY_Q,
	[0x15] = KEY_R,
	[0x16] = KEY_S,
	[0x17] = KEY_T,
	[0x18] = KEY_U,
	[0x19] = KEY_V,
	[0x1a] = KEY_W,
	[0x1b] = KEY_X,
	[0x1c] = KEY_Y,
	[0x1d] = KEY_Z,
	[0x1e] = KEY_1,
	[0x1f] = KEY_2,
	[0x20] = KEY_3,
	[0x21] = KEY_4,
	[0x22] = KEY_5,
	[0x23] = KEY_6,
	[0x24] = KEY_7,
	[0x25] = KEY_8,
	[0x26] = KEY_9,
	[0x27] = KEY_0,
	[0x28] = KEY_ENTER,
	[0x29] = KEY_ESC,
	[0x2a] = KEY_BACKSPACE,
	[0x2b] = KEY_TAB,
	[0x2c] = KEY_SPACE,
	[0x2d] = KEY_MINUS,
	[0x2e] = KEY_EQUAL,
	[0x2f] = KEY_LEFTBRACE,
	[0x30] = KEY_RIGHTBRACE,
	[0x31] = KEY_BACKSLASH,
	[0x32] = KEY_BACKSLASH, /* Non-US # and ~: the same position on ISO boards */
	[0x33] = KEY_SEMICOLON,
	[0x34] = KEY_APOSTROPHE,
	[0x35] = KEY_GRAVE,
	[0x36] = KEY_COMMA,
	[0x37] = KEY_DOT,
	[0x38] = KEY_SLASH,
	[0x39] = KEY_CAPSLOCK,
	[0x3a] = KEY_F1,
	[0x3b] = KEY_F2,
	[0x3c] = KEY_F3,
	[0x3d] = KEY_F4,
	[0x3e] = KEY_F5,
	[0x3f] = KEY_F6,
	[0x40] = KEY_F7,
	[0x41] = KEY_F8,
	[0x42] = KEY_F9,
	[0x43] = KEY_F10,
	[0x44] = KEY_F11,
	[0x45] = KEY_F12,
	[0x46] = KEY_SYSRQ, /* PrintScreen */
	[0x47] = KEY_SCROLLLOCK,
	[0x48] = KEY_PAUSE,
	[0x49] = KEY_INSERT,
	[0x4a] = KEY_HOME,
	[0x4b] = KEY_PAGEUP,
	[0x4c] = KEY_DELETE,
	[0x4d] = KEY_END,
	[0x4e] = KEY_PAGEDOWN,
	[0x4f] = KEY_RIGHT,
	[0x50] = KEY_LEFT,
	[0x51] = KEY_DOWN,
	[0x52] = KEY_UP,
	[0x53] = KEY_NUMLOCK,
	[0x54] = KEY_KPSLASH,
	[0x55] = KEY_KPASTERISK,
	[0x56] = KEY_KPMINUS,
	[0x57] = KEY_KPPLUS,
	[0x58] = KEY_KPENTER,
	[0x59] = KEY_KP1,
	[0x5a] = KEY_KP2,
	[0x5b] = KEY_KP3,
	[0x5c] = KEY_KP4,
	[0x5d] = KEY_KP5,
	[0x5e] = KEY_KP6,
	[0x5f] = KEY_KP7,
	[0x60] = KEY_KP8,
	[0x61] = KEY_KP9,
	[0x62] = KEY_KP0,
	[0x63] = KEY_KPDOT,
	[0x64] = KEY_102ND,   /* Non-US \ and |: left of Z on ISO boards */
	[0x65] = KEY_COMPOSE, /* Application: the PC "menu" key */
	[0x66] = KEY_POWER,
	[0x67] = KEY_KPEQUAL,
	[0x68] = KEY_F13,
	[0x69] = KEY_F14,
	[0x6a] = KEY_F15,
	[0x6b] = KEY_F16,
	[0x6c] = KEY_F17,
	[0x6d] = KEY_F18,
	[0x6e] = KEY_F19,
	[0x6f] = KEY_F20,
	[0x70] = KEY_F21,
	[0x71] = KEY_F22,
	[0x72] = KEY_F23,
	[0x73] = KEY_F24,
	[0x74] = KEY_OPEN, /* Execute */
	[0x75] = KEY_HELP,
	[0x76] = KEY_MENU,
	[0x77] = KEY_FRONT, /* Select */
	[0x78] = KEY_STOP,
	[0x79] = KEY_AGAIN,
	[0x7a] = KEY_UNDO,
	[0x7b] = KEY_CUT,
	[0x7c] = KEY_COPY,
	[0x7d] = KEY_PASTE,
	[0x7e] = KEY_FIND,
	[0x7f] = KEY_MUTE,
	[0x80] = KEY_VOLUMEUP,
	[0x81] = KEY_VOLUMEDOWN,
	[0x85] = KEY_KPCOMMA,
	[0x87] = KEY_RO,	       /* International1 */
	[0x88] = KEY_KATAKANAHIRAGANA, /* International2 */
	[0x89] = KEY_YEN,	       /* International3 */
	[0x8a] = KEY_HENKAN,	       /* International4 */
	[0x8b] = KEY_MUHENKAN,	       /* International5 */
	[0x8c] = KEY_KPJPCOMMA,	       /* International6 */
	[0x90] = KEY_HANGEUL,	       /* LANG1 */
	[0x91] = KEY_HANJA,	       /* LANG2 */
	[0x92] = KEY_KATAKANA,	       /* LANG3 */
	[0x93] = KEY_HIRAGANA,	       /* LANG4 */
	[0x94] = KEY_ZENKAKUHANKAKU,   /* LANG5 */
	[0xb6] = KEY_KPLEFTPAREN,
	[0xb7] = KEY_KPRIGHTPAREN,
	[0xe0] = KEY_LEFTCTRL,
	[0xe1] = KEY_LEFTSHIFT,
	[0xe2] = KEY_LEFTALT,
	[0xe3] = KEY_LEFTMETA,
	[0xe4] = KEY_RIGHTCTRL,
	[0xe5] = KEY_RIGHTSHIFT,
	[0xe6] = KEY_RIGHTALT,
	[0xe7] = KEY_RIGHTMETA,
};

/* SDL2's scancodes past the HID page (SDL_scancode.h), from SDL_SCANCODE_AUDIONEXT = 258. */
#define SDL_EXTRA_FIRST 258
static const uint16_t sdl_extra_keys[] = {
	KEY_NEXTSONG,	     /* AUDIONEXT */
	KEY_PREVIOUSSONG,    /* AUDIOPREV */
	KEY_STOPCD,	     /* AUDIOSTOP */
	KEY_PLAYPAUSE,	     /* AUDIOPLAY */
	KEY_MUTE,	     /* AUDIOMUTE */
	KEY_MEDIA,	     /* MEDIASELECT */
	KEY_WWW,	     /* WWW */
	KEY_MAIL,	     /* MAIL */
	KEY_CALC,	     /* CALCULATOR */
	KEY_COMPUTER,	     /* COMPUTER */
	KEY_SEARCH,	     /* AC_SEARCH */
	KEY_HOMEPAGE,	     /* AC_HOME */
	KEY_BACK,	     /* AC_BACK */
	KEY_FORWARD,	     /* AC_FORWARD */
	KEY_STOP,	     /* AC_STOP */
	KEY_REFRESH,	     /* AC_REFRESH */
	KEY_BOOKMARKS,	     /* AC_BOOKMARKS */
	KEY_BRIGHTNESSDOWN,  /* BRIGHTNESSDOWN */
	KEY_BRIGHTNESSUP,    /* BRIGHTNESSUP */
	KEY_SWITCHVIDEOMODE, /* DISPLAYSWITCH */
	KEY_KBDILLUMTOGGLE,  /* KBDILLUMTOGGLE */
	KEY_KBDILLUMDOWN,    /* KBDILLUMDOWN */
	KEY_KBDILLUMUP,	     /* KBDILLUMUP */
	KEY_EJECTCD,	     /* EJECT */
	KEY_SLEEP,	     /* SLEEP */
	KEY_PROG1,	     /* APP1 */
	KEY_PROG2,	     /* APP2 */
	KEY_REWIND,	     /* AUDIOREWIND */
	KEY_FASTFORWARD,     /* AUDIOFASTFORWARD */
};

uint16_t keymap_hid_to_linux(unsigned usage)
{
	if (usage < ARRAY_SIZE(hid_keys))
		return hid_keys[usage];
	if (usage >= SDL_EXTRA_FIRST && usage - SDL_EXTRA_FIRST < ARRAY_SIZE(sdl_extra_keys))
		return sdl_extra_keys[usage - SDL_EXTRA_FIRST];
	return 0;
}

struct key_name {
	const char *name;
	uint16_t code;
};

/* QEMU's QKeyCode names (qapi/ui.json, what sendkey takes), then hutch's aliases. */
static const struct key_name key_names[] = {
	{ "shift", KEY_LEFTSHIFT },
	{ "shift_r", KEY_RIGHTSHIFT },
	{ "alt", KEY_LEFTALT },
	{ "alt_r", KEY_RIGHTALT },
	{ "ctrl", KEY_LEFTCTRL },
	{ "ctrl_r", KEY_RIGHTCTRL },
	{ "menu", KEY_MENU },
	{ "esc", KEY_ESC },
	{ "1", KEY_1 },
	{ "2", KEY_2 },
	{ "3", KEY_3 },
	{ "4", KEY_4 },
	{ "5", KEY_5 },
	{ "6", KEY_6 },
	{ "7", KEY_7 },
	{ "8", KEY_8 },
	{ "9", KEY_9 },
	{ "0", KEY_0 },
	{ "minus", KEY_MINUS },
	{ "equal", KEY_EQUAL },
	{ "backspace", KEY_BACKSPACE },
	{ "tab", KEY_TAB },
	{ "q", KEY_Q },
	{ "w", KEY_W },
	{ "e", KEY_E },
	{ "r", KEY_R },
	{ "t", KEY_T },
	{ "y", KEY_Y },
	{ "u", KEY_U },
	{ "i", KEY_I },
	{ "o", KEY_O },
	{ "p", KEY_P },
	{ "bracket_left", KEY_LEFTBRACE },
	{ "bracket_right", KEY_RIGHTBRACE },
	{ "ret", KEY_ENTER },
	{ "a", KEY_A },
	{ "s", KEY_S },
	{ "d", KEY_D },
	{ "f", KEY_F },
	{ "g", KEY_G },
	{ "h", KEY_H },
	{ "j", KEY_J },
	{ "k", KEY_K },
	{ "l", KEY_L },
	{ "semicolon", KEY_SEMICOLON },
	{ "apostrophe", KEY_APOSTROPHE },
	{ "grave_accent", KEY_GRAVE },
	{ "backslash", KEY_BACKSLASH },
	{ "z", KEY_Z },
	{ "x", KEY_X },
	{ "c", KEY_C },
	{ "v", KEY_V },
	{ "b", KEY_B },
	{ "n", KEY_N },
	{ "m", KEY_M },
	{ "comma", KEY_COMMA },
	{ "dot", KEY_DOT },
	{ "slash", KEY_SLASH },
	{ "asterisk", KEY_KPASTERISK },
	{ "spc", KEY_SPACE },
	{ "caps_lock", KEY_CAPSLOCK },
	{ "f1", KEY_F1 },
	{ "f2", KEY_F2 },
	{ "f3", KEY_F3 },
	{ "f4", KEY_F4 },
	{ "f5", KEY_F5 },
	{ "f6", KEY_F6 },
	{ "f7", KEY_F7 },
	{ "f8", KEY_F8 },
	{ "f9", KEY_F9 },
	{ "f10", KEY_F10 },
	{ "num_lock", KEY_NUMLOCK },
	{ "scroll_lock", KEY_SCROLLLOCK },
	{ "kp_divide", KEY_KPSLASH },
	{ "kp_multiply", KEY_KPASTERISK },
	{ "kp_subtract", KEY_KPMINUS },
	{ "kp_add", KEY_KPPLUS },
	{ "kp_enter", KEY_KPENTER },
	{ "kp_decimal", KEY_KPDOT },
	{ "sysrq", KEY_SYSRQ },
	{ "kp_0", KEY_KP0 },
	{ "kp_1", KEY_KP1 },
	{ "kp_2", KEY_KP2 },
	{ "kp_3", KEY_KP3 },
	{ "kp_4", KEY_KP4 },
	{ "kp_5", KEY_KP5 },
	{ "kp_6", KEY_KP6 },
	{ "kp_7", KEY_KP7 },
	{ "kp_8", KEY_KP8 },
	{ "kp_9", KEY_KP9 },
	{ "less", KEY_102ND },
	{ "f11", KEY_F11 },
	{ "f12", KEY_F12 },
	{ "print", KEY_SYSRQ },
	{ "home", KEY_HOME },
	{ "pgup", KEY_PAGEUP },
	{ "pgdn", KEY_PAGEDOWN },
	{ "end", KEY_END },
	{ "left", KEY_LEFT },
	{ "up", KEY_UP },
	{ "down", KEY_DOWN },
	{ "right", KEY_RIGHT },
	{ "insert", KEY_INSERT },
	{ "delete", KEY_DELETE },
	{ "stop", KEY_STOP },
	{ "again", KEY_AGAIN },
	{ "props", KEY_PROPS },
	{ "undo", KEY_UNDO },
	{ "front", KEY_FRONT },
	{ "copy", KEY_COPY },
	{ "open", KEY_OPEN },
	{ "paste", KEY_PASTE },
	{ "find", KEY_FIND },
	{ "cut", KEY_CUT },
	{ "lf", KEY_LINEFEED },
	{ "help", KEY_HELP },
	{ "meta_l", KEY_LEFTMETA },
	{ "meta_r", KEY_RIGHTMETA },
	{ "compose", KEY_COMPOSE },
	{ "pause", KEY_PAUSE },
	{ "ro", KEY_RO },
	{ "hiragana", KEY_HIRAGANA },
	{ "henkan", KEY_HENKAN },
	{ "yen", KEY_YEN },
	{ "muhenkan", KEY_MUHENKAN },
	{ "katakanahiragana", KEY_KATAKANAHIRAGANA },
	{ "kp_comma", KEY_KPCOMMA },
	{ "kp_equals", KEY_KPEQUAL },
	{ "power", KEY_POWER },
	{ "sleep", KEY_SLEEP },
	{ "wake", KEY_WAKEUP },
	{ "audionext", KEY_NEXTSONG },
	{ "audioprev", KEY_PREVIOUSSONG },
	{ "audiostop", KEY_STOPCD },
	{ "audioplay", KEY_PLAYPAUSE },
	{ "audiomute", KEY_MUTE },
	{ "volumeup", KEY_VOLUMEUP },
	{ "volumedown", KEY_VOLUMEDOWN },
	{ "mediaselect", KEY_MEDIA },
	{ "mail", KEY_MAIL },
	{ "calculator", KEY_CALC },
	{ "computer", KEY_COMPUTER },
	{ "ac_home", KEY_HOMEPAGE },
	{ "ac_back", KEY_BACK },
	{ "ac_forward", KEY_FORWARD },
	{ "ac_refresh", KEY_REFRESH },
	{ "ac_bookmarks", KEY_BOOKMARKS },
	{ "lang1", KEY_HANGEUL },
	{ "lang2", KEY_HANJA },
	{ "f13", KEY_F13 },
	{ "f14", KEY_F14 },
	{ "f15", KEY_F15 },
	{ "f16", KEY_F16 },
	{ "f17", KEY_F17 },
	{ "f18", KEY_F18 },
	{ "f19", KEY_F19 },
	{ "f20", KEY_F20 },
	{ "f21", KEY_F21 },
	{ "f22", KEY_F22 },
	{ "f23", KEY_F23 },
	{ "f24", KEY_F24 },
	/* hutch's aliases */
	{ "enter", KEY_ENTER },
	{ "return", KEY_ENTER },
	{ "space", KEY_SPACE },
	{ "del", KEY_DELETE },
	{ "escape", KEY_ESC },
	{ "super", KEY_LEFTMETA },
	{ "super_r", KEY_RIGHTMETA },
	{ "win", KEY_LEFTMETA },
	{ "meta", KEY_LEFTMETA },
	{ "pageup", KEY_PAGEUP },
	{ "pagedown", KEY_PAGEDOWN },
	{ "ins", KEY_INSERT },
	{ "capslock", KEY_CAPSLOCK },
	{ "numlock", KEY_NUMLOCK },
	{ "scrolllock", KEY_SCROLLLOCK },
	{ "control", KEY_LEFTCTRL },
	{ "altgr", KEY_RIGHTALT },
};

int keymap_from_name(const char *name)
{
	if (!name)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(key_names); i++) {
		if (!strcasecmp(name, key_names[i].name))
			return key_names[i].code;
	}
	return -1;
}

/* The longest key name, with room to spare: anything longer is unknown. */
#define KEY_NAME_MAX 32

/* A key name as an error message may quote it: printable, and cut to KEY_NAME_MAX. */
static void quote_name(char *out, const char *name, size_t len)
{
	size_t n = len < KEY_NAME_MAX ? len : KEY_NAME_MAX;

	for (size_t i = 0; i < n; i++)
		out[i] = isprint((unsigned char)name[i]) ? name[i] : '?';
	strcpy(out + n, len > n ? "..." : "");
}

int keymap_parse_combo(const char *combo, uint16_t *codes, unsigned max, char *err, size_t errlen)
{
	const char *p = combo ? combo : "";
	unsigned count = 0;

	for (;;) {
		size_t len = strcspn(p, "-");
		char name[KEY_NAME_MAX + 4];
		int code = -1;

		if (!len) {
			log_set_err(err, errlen, "empty key name");
			return -1;
		}
		if (len <= KEY_NAME_MAX) {
			memcpy(name, p, len);
			name[len] = '\0';
			code = keymap_from_name(name);
		}
		if (code < 0) {
			quote_name(name, p, len);
			log_set_err(err, errlen, "unknown key '%s'", name);
			return -1;
		}
		if (count == max) {
			log_set_err(err, errlen, "too many keys (at most %u)", max);
			return -1;
		}
		codes[count++] = (uint16_t)code;
		if (!p[len])
			return (int)count;
		p += len + 1; /* past the '-' */
	}
}

/* US layout: what the unshifted and the shifted key of each punctuation character types. */
static const struct {
	char plain, shifted;
	uint16_t code;
} us_punctuation[] = {
	{ '-', '_', KEY_MINUS },       { '=', '+', KEY_EQUAL },	     { '[', '{', KEY_LEFTBRACE },
	{ ']', '}', KEY_RIGHTBRACE },  { '\\', '|', KEY_BACKSLASH }, { ';', ':', KEY_SEMICOLON },
	{ '\'', '"', KEY_APOSTROPHE }, { '`', '~', KEY_GRAVE },	     { ',', '<', KEY_COMMA },
	{ '.', '>', KEY_DOT },	       { '/', '?', KEY_SLASH },
};

/* The digit keys' shifted characters, from 1 to 0. */
static const char us_digit_shifted[] = "!@#$%^&*()";

int keymap_from_char(char c, bool *shift)
{
	static const uint16_t digit_keys[] = { KEY_1, KEY_2, KEY_3, KEY_4, KEY_5,
					       KEY_6, KEY_7, KEY_8, KEY_9, KEY_0 };
	static const char letters[] = "qwertyuiopasdfghjklzxcvbnm";
	static const uint16_t letter_keys[] = {
		KEY_Q, KEY_W, KEY_E, KEY_R, KEY_T, KEY_Y, KEY_U, KEY_I, KEY_O,
		KEY_P, KEY_A, KEY_S, KEY_D, KEY_F, KEY_G, KEY_H, KEY_J, KEY_K,
		KEY_L, KEY_Z, KEY_X, KEY_C, KEY_V, KEY_B, KEY_N, KEY_M,
	};
	bool shifted = false;
	int code = -1;
	const char *at;

	if (c >= 'a' && c <= 'z') {
		code = letter_keys[strchr(letters, c) - letters];
	} else if (c >= 'A' && c <= 'Z') {
		code = letter_keys[strchr(letters, c - 'A' + 'a') - letters];
		shifted = true;
	} else if (c >= '1' && c <= '9') {
		code = digit_keys[c - '1'];
	} else if (c == '0') {
		code = KEY_0;
	} else if (c == ' ') {
		code = KEY_SPACE;
	} else if (c == '\n') {
		code = KEY_ENTER;
	} else if (c == '\t') {
		code = KEY_TAB;
	} else if (c && (at = strchr(us_digit_shifted, c))) {
		code = digit_keys[at - us_digit_shifted];
		shifted = true;
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(us_punctuation); i++) {
			if (c == us_punctuation[i].plain || c == us_punctuation[i].shifted) {
				code = us_punctuation[i].code;
				shifted = c == us_punctuation[i].shifted;
				break;
			}
		}
	}
	if (code >= 0 && shift)
		*shift = shifted;
	return code;
}

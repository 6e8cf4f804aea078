/* Unit tests for devices/display/keymap.c: HID usages, key names, combinations, text. */
#include "test_util.h"

#include <linux/input-event-codes.h>
#include <string.h>

#include "devices/display/keymap.h"

/* ---------------------------------------------------- combinations ---- */

/* Hostile first: every malformed combination is refused with its reason. */
static void test_combo_rejects_malformed(void **state)
{
	static const struct {
		const char *combo, *err;
	} bad[] = {
		{ "", "empty key name" },
		{ "-", "empty key name" },
		{ "--", "empty key name" },
		{ "ctrl-", "empty key name" },
		{ "-ctrl", "empty key name" },
		{ "ctrl--alt", "empty key name" },
		{ "foo", "unknown key 'foo'" },
		{ "ctrl-alt-foo", "unknown key 'foo'" },
		{ "ctrl alt", "unknown key 'ctrl alt'" },
		{ "ctrl+alt", "unknown key 'ctrl+alt'" },
		{ "ctrl-\n", "unknown key '?'" },
		{ "f25", "unknown key 'f25'" },
		{ "kp_", "unknown key 'kp_'" },
	};
	uint16_t codes[4];
	char err[128];

	(void)state;
	for (unsigned i = 0; i < ARRAY_LEN(bad); i++) {
		memset(err, 0, sizeof(err));
		TEST_ASSERT(keymap_parse_combo(bad[i].combo, codes, 4, err, sizeof(err)) == -1,
			    "'%s' accepted", bad[i].combo);
		TEST_ASSERT(!strcmp(err, bad[i].err), "'%s': err '%s', expected '%s'", bad[i].combo,
			    err, bad[i].err);
	}
	/* NULL combo, NULL err */
	TEST_ASSERT_EQ(keymap_parse_combo(NULL, codes, 4, err, sizeof(err)), -1);
	TEST_ASSERT(!strcmp(err, "empty key name"), "err '%s'", err);
	TEST_ASSERT_EQ(keymap_parse_combo("", codes, 4, NULL, 0), -1);
	TEST_ASSERT_EQ(keymap_parse_combo("foo", codes, 4, NULL, 0), -1);
	TEST_ASSERT_EQ(keymap_parse_combo("a-b-c-d-e", codes, 4, NULL, 0), -1);
}

/* An overlong name is unknown, quoted cut short so the message stays one short line. */
static void test_combo_overlong_name(void **state)
{
	char name[4096], err[256];
	uint16_t codes[4];

	(void)state;
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	TEST_ASSERT_EQ(keymap_parse_combo(name, codes, 4, err, sizeof(err)), -1);
	TEST_ASSERT(!strncmp(err, "unknown key 'xxxx", 17), "err '%s'", err);
	TEST_ASSERT(strlen(err) < 64, "err of %zu bytes", strlen(err));
	TEST_ASSERT(!strchr(err, '\n'), "err has a newline");
	/* a known name followed by junk is still unknown */
	memcpy(name, "ctrl", 4);
	TEST_ASSERT_EQ(keymap_parse_combo(name, codes, 4, err, sizeof(err)), -1);
	/* a tiny err buffer is truncated, not overrun */
	memset(err, 0x55, sizeof(err));
	TEST_ASSERT_EQ(keymap_parse_combo("foo", codes, 4, err, 5), -1);
	TEST_ASSERT_EQ(err[4], '\0');
	TEST_ASSERT_EQ((uint8_t)err[5], 0x55);
}

static void test_combo_too_many_keys(void **state)
{
	uint16_t codes[5] = { 0 };
	char err[128];

	(void)state;
	TEST_ASSERT_EQ(keymap_parse_combo("a-b-c-d-e", codes, 4, err, sizeof(err)), -1);
	TEST_ASSERT(!strcmp(err, "too many keys (at most 4)"), "err '%s'", err);
	TEST_ASSERT_EQ(codes[4], 0); /* nothing written past max */
	TEST_ASSERT_EQ(keymap_parse_combo("a", codes, 0, err, sizeof(err)), -1);
	TEST_ASSERT(!strcmp(err, "too many keys (at most 0)"), "err '%s'", err);
	TEST_ASSERT_EQ(keymap_parse_combo("a-b-c-d", codes, 4, err, sizeof(err)), 4);
}

static void test_combo_parses_in_press_order(void **state)
{
	uint16_t codes[KEYMAP_COMBO_MAX];
	char err[128] = "";

	(void)state;
	TEST_ASSERT_EQ(
		keymap_parse_combo("ctrl-alt-delete", codes, KEYMAP_COMBO_MAX, err, sizeof(err)),
		3);
	TEST_ASSERT_EQ(codes[0], KEY_LEFTCTRL);
	TEST_ASSERT_EQ(codes[1], KEY_LEFTALT);
	TEST_ASSERT_EQ(codes[2], KEY_DELETE);
	TEST_ASSERT_EQ(err[0], '\0');

	TEST_ASSERT_EQ(keymap_parse_combo("ret", codes, 1, err, sizeof(err)), 1);
	TEST_ASSERT_EQ(codes[0], KEY_ENTER);
	TEST_ASSERT_EQ(keymap_parse_combo("Ctrl-Shift-MINUS", codes, 3, err, sizeof(err)), 3);
	TEST_ASSERT_EQ(codes[0], KEY_LEFTCTRL);
	TEST_ASSERT_EQ(codes[1], KEY_LEFTSHIFT);
	TEST_ASSERT_EQ(codes[2], KEY_MINUS);
	TEST_ASSERT_EQ(keymap_parse_combo("alt-f2", codes, 2, err, sizeof(err)), 2);
	TEST_ASSERT_EQ(codes[1], KEY_F2);
	TEST_ASSERT_EQ(keymap_parse_combo("shift_r-kp_0-meta_l", codes, 3, err, sizeof(err)), 3);
	TEST_ASSERT_EQ(codes[0], KEY_RIGHTSHIFT);
	TEST_ASSERT_EQ(codes[1], KEY_KP0);
	TEST_ASSERT_EQ(codes[2], KEY_LEFTMETA);
}

/* ----------------------------------------------------------- names ---- */

static void test_names(void **state)
{
	static const struct {
		const char *name;
		int code;
	} names[] = {
		{ "a", KEY_A },
		{ "z", KEY_Z },
		{ "m", KEY_M },
		{ "0", KEY_0 },
		{ "1", KEY_1 },
		{ "9", KEY_9 },
		{ "f1", KEY_F1 },
		{ "f10", KEY_F10 },
		{ "f11", KEY_F11 },
		{ "f12", KEY_F12 },
		{ "f13", KEY_F13 },
		{ "f24", KEY_F24 },
		{ "ret", KEY_ENTER },
		{ "spc", KEY_SPACE },
		{ "tab", KEY_TAB },
		{ "esc", KEY_ESC },
		{ "backspace", KEY_BACKSPACE },
		{ "delete", KEY_DELETE },
		{ "insert", KEY_INSERT },
		{ "home", KEY_HOME },
		{ "end", KEY_END },
		{ "pgup", KEY_PAGEUP },
		{ "pgdn", KEY_PAGEDOWN },
		{ "up", KEY_UP },
		{ "down", KEY_DOWN },
		{ "left", KEY_LEFT },
		{ "right", KEY_RIGHT },
		{ "shift", KEY_LEFTSHIFT },
		{ "shift_r", KEY_RIGHTSHIFT },
		{ "ctrl", KEY_LEFTCTRL },
		{ "ctrl_r", KEY_RIGHTCTRL },
		{ "alt", KEY_LEFTALT },
		{ "alt_r", KEY_RIGHTALT },
		{ "meta_l", KEY_LEFTMETA },
		{ "meta_r", KEY_RIGHTMETA },
		{ "caps_lock", KEY_CAPSLOCK },
		{ "num_lock", KEY_NUMLOCK },
		{ "scroll_lock", KEY_SCROLLLOCK },
		{ "minus", KEY_MINUS },
		{ "equal", KEY_EQUAL },
		{ "bracket_left", KEY_LEFTBRACE },
		{ "bracket_right", KEY_RIGHTBRACE },
		{ "semicolon", KEY_SEMICOLON },
		{ "apostrophe", KEY_APOSTROPHE },
		{ "grave_accent", KEY_GRAVE },
		{ "backslash", KEY_BACKSLASH },
		{ "comma", KEY_COMMA },
		{ "dot", KEY_DOT },
		{ "slash", KEY_SLASH },
		{ "less", KEY_102ND },
		{ "kp_0", KEY_KP0 },
		{ "kp_5", KEY_KP5 },
		{ "kp_9", KEY_KP9 },
		{ "kp_enter", KEY_KPENTER },
		{ "kp_add", KEY_KPPLUS },
		{ "kp_subtract", KEY_KPMINUS },
		{ "kp_multiply", KEY_KPASTERISK },
		{ "kp_divide", KEY_KPSLASH },
		{ "kp_decimal", KEY_KPDOT },
		{ "sysrq", KEY_SYSRQ },
		{ "print", KEY_SYSRQ },
		{ "pause", KEY_PAUSE },
		{ "menu", KEY_MENU },
		{ "compose", KEY_COMPOSE },
		{ "power", KEY_POWER },
		{ "volumeup", KEY_VOLUMEUP },
		{ "lang1", KEY_HANGEUL },
		{ "yen", KEY_YEN },
		/* aliases, any case */
		{ "enter", KEY_ENTER },
		{ "space", KEY_SPACE },
		{ "del", KEY_DELETE },
		{ "escape", KEY_ESC },
		{ "super", KEY_LEFTMETA },
		{ "win", KEY_LEFTMETA },
		{ "pageup", KEY_PAGEUP },
		{ "pagedown", KEY_PAGEDOWN },
		{ "A", KEY_A },
		{ "CTRL", KEY_LEFTCTRL },
		{ "Kp_Enter", KEY_KPENTER },
		{ "F12", KEY_F12 },
	};
	static const char *const unknown[] = { "",	"-",  "foo", "f0",	  "f25",    "kp_10",
					       "ctrl ", " a", "ctr", "control_l", "1234567" };

	(void)state;
	for (unsigned i = 0; i < ARRAY_LEN(names); i++)
		TEST_ASSERT(keymap_from_name(names[i].name) == names[i].code, "'%s' is %d, not %d",
			    names[i].name, keymap_from_name(names[i].name), names[i].code);
	for (unsigned i = 0; i < ARRAY_LEN(unknown); i++)
		TEST_ASSERT(keymap_from_name(unknown[i]) == -1, "'%s' known", unknown[i]);
	TEST_ASSERT_EQ(keymap_from_name(NULL), -1);
}

/* ----------------------------------------------------- HID usages ---- */

static void test_hid_usages(void **state)
{
	static const struct {
		unsigned usage;
		uint16_t code;
	} map[] = {
		{ 0x04, KEY_A },
		{ 0x05, KEY_B },
		{ 0x1d, KEY_Z },
		{ 0x1e, KEY_1 },
		{ 0x26, KEY_9 },
		{ 0x27, KEY_0 },
		{ 0x28, KEY_ENTER },
		{ 0x29, KEY_ESC },
		{ 0x2a, KEY_BACKSPACE },
		{ 0x2b, KEY_TAB },
		{ 0x2c, KEY_SPACE },
		{ 0x2d, KEY_MINUS },
		{ 0x2e, KEY_EQUAL },
		{ 0x2f, KEY_LEFTBRACE },
		{ 0x30, KEY_RIGHTBRACE },
		{ 0x31, KEY_BACKSLASH },
		{ 0x32, KEY_BACKSLASH },
		{ 0x33, KEY_SEMICOLON },
		{ 0x34, KEY_APOSTROPHE },
		{ 0x35, KEY_GRAVE },
		{ 0x36, KEY_COMMA },
		{ 0x37, KEY_DOT },
		{ 0x38, KEY_SLASH },
		{ 0x39, KEY_CAPSLOCK },
		{ 0x3a, KEY_F1 },
		{ 0x43, KEY_F10 },
		{ 0x44, KEY_F11 },
		{ 0x45, KEY_F12 },
		{ 0x46, KEY_SYSRQ },
		{ 0x47, KEY_SCROLLLOCK },
		{ 0x48, KEY_PAUSE },
		{ 0x49, KEY_INSERT },
		{ 0x4a, KEY_HOME },
		{ 0x4b, KEY_PAGEUP },
		{ 0x4c, KEY_DELETE },
		{ 0x4d, KEY_END },
		{ 0x4e, KEY_PAGEDOWN },
		{ 0x4f, KEY_RIGHT },
		{ 0x50, KEY_LEFT },
		{ 0x51, KEY_DOWN },
		{ 0x52, KEY_UP },
		{ 0x53, KEY_NUMLOCK },
		{ 0x54, KEY_KPSLASH },
		{ 0x55, KEY_KPASTERISK },
		{ 0x56, KEY_KPMINUS },
		{ 0x57, KEY_KPPLUS },
		{ 0x58, KEY_KPENTER },
		{ 0x59, KEY_KP1 },
		{ 0x61, KEY_KP9 },
		{ 0x62, KEY_KP0 },
		{ 0x63, KEY_KPDOT },
		{ 0x64, KEY_102ND },
		{ 0x65, KEY_COMPOSE },
		{ 0x67, KEY_KPEQUAL },
		{ 0x68, KEY_F13 },
		{ 0x73, KEY_F24 },
		{ 0x76, KEY_MENU },
		{ 0x7f, KEY_MUTE },
		{ 0x80, KEY_VOLUMEUP },
		{ 0x81, KEY_VOLUMEDOWN },
		{ 0x87, KEY_RO },
		{ 0x88, KEY_KATAKANAHIRAGANA },
		{ 0x89, KEY_YEN },
		{ 0x8a, KEY_HENKAN },
		{ 0x8b, KEY_MUHENKAN },
		{ 0x90, KEY_HANGEUL },
		{ 0x91, KEY_HANJA },
		{ 0xe0, KEY_LEFTCTRL },
		{ 0xe1, KEY_LEFTSHIFT },
		{ 0xe2, KEY_LEFTALT },
		{ 0xe3, KEY_LEFTMETA },
		{ 0xe4, KEY_RIGHTCTRL },
		{ 0xe5, KEY_RIGHTSHIFT },
		{ 0xe6, KEY_RIGHTALT },
		{ 0xe7, KEY_RIGHTMETA },
		/* SDL2's own scancodes */
		{ 258, KEY_NEXTSONG },
		{ 261, KEY_PLAYPAUSE },
		{ 262, KEY_MUTE },
		{ 282, KEY_SLEEP },
		{ 286, KEY_FASTFORWARD },
	};
	static const unsigned none[] = { 0,    1,   2,	 3,   0x82, 0x95,	0xe8,
					 0xff, 256, 257, 287, 1000, 0xffffffffu };

	(void)state;
	for (unsigned i = 0; i < ARRAY_LEN(map); i++)
		TEST_ASSERT(keymap_hid_to_linux(map[i].usage) == map[i].code,
			    "usage %#x is %u, not %u", map[i].usage,
			    keymap_hid_to_linux(map[i].usage), map[i].code);
	for (unsigned i = 0; i < ARRAY_LEN(none); i++)
		TEST_ASSERT_EQ(keymap_hid_to_linux(none[i]), 0);
	/* every letter and digit maps, to distinct codes within the keyboard's 1..255 */
	for (unsigned u = 0x04; u <= 0x27; u++) {
		uint16_t code = keymap_hid_to_linux(u);

		TEST_ASSERT(code > 0 && code < 256, "usage %#x is %u", u, code);
		for (unsigned v = 0x04; v < u; v++)
			TEST_ASSERT_NE(keymap_hid_to_linux(v), code);
	}
	for (unsigned u = 0; u < 300; u++)
		TEST_ASSERT(keymap_hid_to_linux(u) < 256, "usage %#x beyond the keyboard", u);
}

/* ------------------------------------------------------------ text ---- */

static void test_chars(void **state)
{
	static const struct {
		char c;
		int code;
		bool shift;
	} map[] = {
		{ 'a', KEY_A, false },
		{ 'q', KEY_Q, false },
		{ 'z', KEY_Z, false },
		{ 'A', KEY_A, true },
		{ 'Z', KEY_Z, true },
		{ 'M', KEY_M, true },
		{ '0', KEY_0, false },
		{ '1', KEY_1, false },
		{ '9', KEY_9, false },
		{ ' ', KEY_SPACE, false },
		{ '\n', KEY_ENTER, false },
		{ '\t', KEY_TAB, false },
		{ '!', KEY_1, true },
		{ '@', KEY_2, true },
		{ '#', KEY_3, true },
		{ '$', KEY_4, true },
		{ '%', KEY_5, true },
		{ '^', KEY_6, true },
		{ '&', KEY_7, true },
		{ '*', KEY_8, true },
		{ '(', KEY_9, true },
		{ ')', KEY_0, true },
		{ '-', KEY_MINUS, false },
		{ '_', KEY_MINUS, true },
		{ '=', KEY_EQUAL, false },
		{ '+', KEY_EQUAL, true },
		{ '[', KEY_LEFTBRACE, false },
		{ '{', KEY_LEFTBRACE, true },
		{ ']', KEY_RIGHTBRACE, false },
		{ '}', KEY_RIGHTBRACE, true },
		{ '\\', KEY_BACKSLASH, false },
		{ '|', KEY_BACKSLASH, true },
		{ ';', KEY_SEMICOLON, false },
		{ ':', KEY_SEMICOLON, true },
		{ '\'', KEY_APOSTROPHE, false },
		{ '"', KEY_APOSTROPHE, true },
		{ '`', KEY_GRAVE, false },
		{ '~', KEY_GRAVE, true },
		{ ',', KEY_COMMA, false },
		{ '<', KEY_COMMA, true },
		{ '.', KEY_DOT, false },
		{ '>', KEY_DOT, true },
		{ '/', KEY_SLASH, false },
		{ '?', KEY_SLASH, true },
	};
	static const char none[] = { '\0', '\r',       '\b',	   0x1b,
				     0x7f, (char)0x80, (char)0xe9, (char)0xff };
	bool shift;

	(void)state;
	for (unsigned i = 0; i < ARRAY_LEN(map); i++) {
		shift = !map[i].shift;
		TEST_ASSERT(
			keymap_from_char(map[i].c, &shift) == map[i].code && shift == map[i].shift,
			"'%c' is %d shift %d", map[i].c, keymap_from_char(map[i].c, &shift), shift);
	}
	for (unsigned i = 0; i < ARRAY_LEN(none); i++) {
		shift = true;
		TEST_ASSERT_EQ(keymap_from_char(none[i], &shift), -1);
		TEST_ASSERT(shift, "shift written for %#x", (uint8_t)none[i]);
	}
	/* every printable ASCII character is typeable; shift may be NULL */
	for (char c = ' '; c < 0x7f; c++)
		TEST_ASSERT(keymap_from_char(c, NULL) > 0, "'%c' not typeable", c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_combo_rejects_malformed),
		cmocka_unit_test(test_combo_overlong_name),
		cmocka_unit_test(test_combo_too_many_keys),
		cmocka_unit_test(test_combo_parses_in_press_order),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_hid_usages),
		cmocka_unit_test(test_chars),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

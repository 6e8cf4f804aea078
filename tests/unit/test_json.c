/* Unit tests for the JSON parser and writer: hostile input first, then what it must accept. */
#include "test_util.h"

#include <string.h>

#include "vmm/json.h"

struct bad_case {
	const char *text;
	size_t len; /* 0: strlen(text) */
	enum json_error err;
	size_t offset;
};

static void expect_error(const char *text, size_t len, enum json_error want, size_t want_offset,
			 const char *what)
{
	struct json_doc doc = { (void *)1, 7 };
	size_t offset = 12345;
	enum json_error err = json_parse(text, len, &doc, &offset);

	TEST_ASSERT(err == want, "%s: error %d (%s), want %d (%s) at %zu", what, err,
		    json_strerror(err), want, json_strerror(want), offset);
	TEST_ASSERT(offset == want_offset, "%s: offset %zu, want %zu", what, offset, want_offset);
	TEST_ASSERT(!doc.values && !doc.nvalues, "%s: doc not emptied", what);
}

static void run_bad(const struct bad_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *t = cases[i].text;

		expect_error(t, cases[i].len ? cases[i].len : strlen(t), cases[i].err,
			     cases[i].offset, t);
	}
}

/* --- hostile input --- */

static void test_truncated(void **state)
{
	static const struct bad_case bad[] = {
		{ "", 0, JSON_E_END, 0 },
		{ "   \n\t", 0, JSON_E_END, 5 },
		{ "{", 0, JSON_E_END, 1 },
		{ "{\"command\"", 0, JSON_E_END, 10 },
		{ "{\"command\":", 0, JSON_E_END, 11 },
		{ "{\"command\":\"st", 0, JSON_E_END, 14 },
		{ "{\"a\":1,", 0, JSON_E_END, 7 },
		{ "[1,2", 0, JSON_E_END, 4 },
		{ "[", 0, JSON_E_END, 1 },
		{ "\"abc", 0, JSON_E_END, 4 },
		{ "\"\\", 0, JSON_E_END, 2 },
		{ "\"\\u12", 0, JSON_E_END, 5 },
		{ "\"\\ud83d", 0, JSON_E_END, 7 },
		{ "\"\\ud83d\\", 0, JSON_E_END, 8 },
		{ "\"\\ud83d\\ude", 0, JSON_E_END, 11 },
		{ "\"\xe2\x82", 0, JSON_E_END, 3 }, /* a UTF-8 sequence cut short */
		{ "tru", 0, JSON_E_END, 3 },
		{ "nul", 0, JSON_E_END, 3 },
		{ "-", 0, JSON_E_END, 1 },
		{ "1.", 0, JSON_E_END, 2 },
		{ "1e", 0, JSON_E_END, 2 },
		{ "1e+", 0, JSON_E_END, 3 },
	};

	(void)state;
	run_bad(bad, ARRAY_LEN(bad));
}

static void test_deep_nesting(void **state)
{
	char text[4096];
	struct json_doc doc;
	size_t offset;

	(void)state;
	/* JSON_MAX_DEPTH containers are fine, one more is not */
	memset(text, '[', JSON_MAX_DEPTH);
	memset(text + JSON_MAX_DEPTH, ']', JSON_MAX_DEPTH);
	TEST_ASSERT_EQ(json_parse(text, 2 * JSON_MAX_DEPTH, &doc, &offset), JSON_OK);
	TEST_ASSERT_EQ(doc.nvalues, JSON_MAX_DEPTH);
	json_free(&doc);
	memset(text, '[', JSON_MAX_DEPTH + 1);
	memset(text + JSON_MAX_DEPTH + 1, ']', JSON_MAX_DEPTH + 1);
	expect_error(text, 2 * JSON_MAX_DEPTH + 2, JSON_E_DEPTH, JSON_MAX_DEPTH, "17 arrays");
	/* thousands deep: no recursion past the limit */
	memset(text, '[', sizeof(text));
	expect_error(text, sizeof(text), JSON_E_DEPTH, JSON_MAX_DEPTH, "4096 arrays");
	for (size_t i = 0; i + 5 <= sizeof(text); i += 5)
		memcpy(text + i, "{\"a\":", 5);
	expect_error(text, sizeof(text) - sizeof(text) % 5, JSON_E_DEPTH, 5 * JSON_MAX_DEPTH,
		     "objects");
}

static void test_too_big(void **state)
{
	size_t len = 3 * JSON_MAX_TOKENS;
	char *text = malloc(JSON_MAX_INPUT + 2);
	struct json_doc doc;
	size_t offset;

	(void)state;
	TEST_ASSERT(text, "malloc");
	/* [0,0,0,...]: JSON_MAX_TOKENS values (the array is one) parse, one more does not */
	text[0] = '[';
	for (size_t i = 0; i < JSON_MAX_TOKENS - 1; i++)
		memcpy(text + 1 + 2 * i, "0,", 2);
	text[2 * JSON_MAX_TOKENS - 2] = ']';
	TEST_ASSERT_EQ(json_parse(text, 2 * JSON_MAX_TOKENS - 1, &doc, &offset), JSON_OK);
	TEST_ASSERT_EQ(doc.nvalues, JSON_MAX_TOKENS);
	TEST_ASSERT_EQ(doc.values[0].count, JSON_MAX_TOKENS - 1);
	json_free(&doc);
	for (size_t i = 0; i < JSON_MAX_TOKENS; i++)
		memcpy(text + 1 + 2 * i, "0,", 2);
	text[2 * JSON_MAX_TOKENS] = ']';
	expect_error(text, 2 * JSON_MAX_TOKENS + 1, JSON_E_TOKENS, 2 * JSON_MAX_TOKENS - 1,
		     "too many values");
	(void)len;

	/* input longer than JSON_MAX_INPUT, even if it is all whitespace */
	memset(text, ' ', JSON_MAX_INPUT + 1);
	text[0] = '1';
	expect_error(text, JSON_MAX_INPUT + 1, JSON_E_TOO_LONG, JSON_MAX_INPUT, "too long");
	TEST_ASSERT_EQ(json_parse(text, JSON_MAX_INPUT, &doc, &offset), JSON_OK);
	json_free(&doc);
	free(text);
}

static void test_bad_numbers(void **state)
{
	static const struct bad_case bad[] = {
		{ "01", 0, JSON_E_NUMBER, 0 },
		{ "-01", 0, JSON_E_NUMBER, 0 },
		{ "00", 0, JSON_E_NUMBER, 0 },
		{ "[1.e5]", 0, JSON_E_NUMBER, 1 },
		{ "1.x", 0, JSON_E_NUMBER, 0 },
		{ "-x", 0, JSON_E_NUMBER, 0 },
		{ "1ex", 0, JSON_E_NUMBER, 0 },
		{ "+1", 0, JSON_E_CHAR, 0 },
		{ ".5", 0, JSON_E_CHAR, 0 },
		{ "0x10", 0, JSON_E_TRAILING, 1 },
		{ "1 2", 0, JSON_E_TRAILING, 2 },
		{ "NaN", 0, JSON_E_CHAR, 0 },
		{ "Infinity", 0, JSON_E_CHAR, 0 },
		{ "-Infinity", 0, JSON_E_NUMBER, 0 },
		{ "1e309", 0, JSON_E_NUMBER_RANGE, 0 },
		{ "-1e99999999999999999999", 0, JSON_E_NUMBER_RANGE, 0 },
		{ "[0, 12345678901234567890123456789012345678901234567890123456789012345]", 0,
		  JSON_E_NUMBER_RANGE, 4 },
	};

	(void)state;
	run_bad(bad, ARRAY_LEN(bad));
}

static void test_bad_strings(void **state)
{
	static const struct bad_case bad[] = {
		{ "\"\\x\"", 0, JSON_E_ESCAPE, 1 },
		{ "\"\\'\"", 0, JSON_E_ESCAPE, 1 },
		{ "\"\\U0041\"", 0, JSON_E_ESCAPE, 1 },
		{ "\"ab\\u12g4\"", 0, JSON_E_ESCAPE, 3 },
		{ "\"\\u-123\"", 0, JSON_E_ESCAPE, 1 },
		{ "\"\\0\"", 0, JSON_E_ESCAPE, 1 },
		{ "\"\\\0\"", 4, JSON_E_ESCAPE, 1 },
		/* lone and misordered surrogates */
		{ "\"\\ud800\"", 0, JSON_E_SURROGATE, 1 },
		{ "\"\\udbff x\"", 0, JSON_E_SURROGATE, 1 },
		{ "\"\\udc00\"", 0, JSON_E_SURROGATE, 1 },
		{ "\"x\\udfff\\ud800\"", 0, JSON_E_SURROGATE, 2 },
		{ "\"\\ud800\\ud800\"", 0, JSON_E_SURROGATE, 1 },
		{ "\"\\ud800\\u0041\"", 0, JSON_E_SURROGATE, 1 },
		{ "\"\\ud800\\n\"", 0, JSON_E_SURROGATE, 1 },
		{ "\"\\ud800\\uzzzz\"", 0, JSON_E_ESCAPE, 7 },
		{ "\"\\u0000\"", 0, JSON_E_NUL, 1 },
		/* raw control characters, NUL bytes */
		{ "\"a\nb\"", 0, JSON_E_CONTROL, 2 },
		{ "\"\t\"", 0, JSON_E_CONTROL, 1 },
		{ "\"\x1f\"", 0, JSON_E_CONTROL, 1 },
		{ "\"a\0b\"", 5, JSON_E_CONTROL, 2 },
		/* not UTF-8: stray continuation, overlong, surrogate, above U+10FFFF, bad lead */
		{ "\"\x80\"", 0, JSON_E_UTF8, 1 },
		{ "\"\xc0\xaf\"", 0, JSON_E_UTF8, 1 },
		{ "\"\xc1\xbf\"", 0, JSON_E_UTF8, 1 },
		{ "\"\xe0\x80\xaf\"", 0, JSON_E_UTF8, 1 },
		{ "\"\xed\xa0\x80\"", 0, JSON_E_UTF8, 1 },
		{ "\"\xf0\x80\x80\xaf\"", 0, JSON_E_UTF8, 1 },
		{ "\"\xf4\x90\x80\x80\"", 0, JSON_E_UTF8, 1 },
		{ "\"\xf5\x80\x80\x80\"", 0, JSON_E_UTF8, 1 },
		{ "\"\xff\"", 0, JSON_E_UTF8, 1 },
		{ "\"\xe2\x28\xa1\"", 0, JSON_E_UTF8, 1 },
		{ "\"ok\xc3\"", 0, JSON_E_UTF8, 3 },
		{ "'single'", 0, JSON_E_CHAR, 0 },
	};

	(void)state;
	run_bad(bad, ARRAY_LEN(bad));
}

static void test_bad_structure(void **state)
{
	static const struct bad_case bad[] = {
		{ "{\"a\":1}x", 0, JSON_E_TRAILING, 7 },
		{ "{\"a\":1} {}", 0, JSON_E_TRAILING, 8 },
		{ "{} \n\"", 0, JSON_E_TRAILING, 4 },
		{ "{}\0", 3, JSON_E_TRAILING, 2 },
		{ "\0{}", 3, JSON_E_CHAR, 0 },
		{ "{\"a\"\0:1}", 8, JSON_E_CHAR, 4 },
		{ "{\"a\":1,}", 0, JSON_E_CHAR, 7 },
		{ "[1,]", 0, JSON_E_CHAR, 3 },
		{ "[,1]", 0, JSON_E_CHAR, 1 },
		{ "[1 2]", 0, JSON_E_CHAR, 3 },
		{ "{a:1}", 0, JSON_E_CHAR, 1 },
		{ "{\"a\" 1}", 0, JSON_E_CHAR, 5 },
		{ "{\"a\":1 \"b\":2}", 0, JSON_E_CHAR, 7 },
		{ "{1:2}", 0, JSON_E_CHAR, 1 },
		{ "[}", 0, JSON_E_CHAR, 1 },
		{ "{]", 0, JSON_E_CHAR, 1 },
		{ "]", 0, JSON_E_CHAR, 0 },
		{ "True", 0, JSON_E_CHAR, 0 },
		{ "nulL", 0, JSON_E_CHAR, 0 },
		{ "truex", 0, JSON_E_TRAILING, 4 },
		{ "/* c */ 1", 0, JSON_E_CHAR, 0 },
		{ "\xef\xbb\xbf{}", 0, JSON_E_CHAR, 0 }, /* a byte-order mark */
		{ "\v1", 0, JSON_E_CHAR, 0 },		 /* not JSON whitespace */
		/* duplicate keys are rejected, at the second one */
		{ "{\"a\":1,\"a\":2}", 0, JSON_E_DUPLICATE_KEY, 7 },
		{ "{\"command\":\"quit\",\"b\":0,\"command\":\"status\"}", 0, JSON_E_DUPLICATE_KEY,
		  24 },
		{ "{\"a\":{\"x\":1},\"\\u0061\":2}", 0, JSON_E_DUPLICATE_KEY, 13 },
	};

	(void)state;
	run_bad(bad, ARRAY_LEN(bad));
}

/* --- what it accepts --- */

static const struct json_value *parse_ok(struct json_doc *doc, const char *text)
{
	size_t offset = 99;
	enum json_error err = json_parse(text, strlen(text), doc, &offset);

	TEST_ASSERT(err == JSON_OK, "'%s': %s at %zu", text, json_strerror(err), offset);
	TEST_ASSERT_EQ(offset, 0);
	TEST_ASSERT(json_root(doc) == doc->values, "root");
	return json_root(doc);
}

static void test_request(void **state)
{
	struct json_doc doc;
	const struct json_value *root, *args, *list;
	int64_t n = 0;

	(void)state;
	root = parse_ok(&doc, " {\"command\" : \"screendump\",\r\n\t\"arguments\": {\"file\": "
			      "\"/tmp/x.ppm\", \"n\": -42, \"list\": [1, true, null, \"s\"], "
			      "\"big\": 9223372036854775808, \"f\": 1.5e3}} ");
	TEST_ASSERT_EQ(root->type, JSON_OBJECT);
	TEST_ASSERT_EQ(root->count, 2);
	TEST_ASSERT_EQ(root->span, doc.nvalues);
	TEST_ASSERT(!strcmp(json_get_string(root, "command"), "screendump"), "command");
	TEST_ASSERT_NULL(json_get_string(root, "arguments"));
	TEST_ASSERT_NULL(json_get(root, "missing"));
	TEST_ASSERT_NULL(json_get(root, "comman"));
	args = json_get(root, "arguments");
	TEST_ASSERT(args && args->type == JSON_OBJECT && args->count == 5, "arguments");
	TEST_ASSERT(!strcmp(json_get_string(args, "file"), "/tmp/x.ppm"), "file");
	TEST_ASSERT(json_get_int(args, "n", &n) && n == -42, "n %" PRId64, n);
	TEST_ASSERT(!json_get_int(args, "big", &n), "2^63 is no int64");
	TEST_ASSERT(json_get(args, "big")->number == 9223372036854775808.0, "big as double");
	TEST_ASSERT(!json_get_int(args, "f", &n), "1.5e3 is written as a fraction");
	TEST_ASSERT(json_get(args, "f")->number == 1500.0, "f");
	TEST_ASSERT(!json_get_int(args, "file", &n), "a string is no int");
	list = json_get(args, "list");
	TEST_ASSERT(list && list->type == JSON_ARRAY && list->count == 4, "list");
	TEST_ASSERT_EQ(json_array_at(list, 0)->integer, 1);
	TEST_ASSERT_EQ(json_array_at(list, 1)->type, JSON_TRUE);
	TEST_ASSERT_EQ(json_array_at(list, 2)->type, JSON_NULL);
	TEST_ASSERT(!strcmp(json_array_at(list, 3)->str, "s"), "list[3]");
	TEST_ASSERT_NULL(json_array_at(list, 4));
	TEST_ASSERT_NULL(json_array_at(args, 0));
	TEST_ASSERT_NULL(json_get(list, "x"));
	TEST_ASSERT_NULL(json_get(NULL, "x"));
	json_free(&doc);
	TEST_ASSERT_NULL(json_root(&doc));
	json_free(&doc); /* twice is fine */
}

static void test_scalars(void **state)
{
	static const struct {
		const char *text;
		enum json_type type;
		double number;
	} good[] = {
		{ "0", JSON_NUMBER, 0 },
		{ "-0", JSON_NUMBER, 0 },
		{ "1e2", JSON_NUMBER, 100 },
		{ "1E+2", JSON_NUMBER, 100 },
		{ "-2.5e-1", JSON_NUMBER, -0.25 },
		{ "1e-400", JSON_NUMBER, 0 }, /* underflow is 0 */
		{ "true", JSON_TRUE, 0 },
		{ "false", JSON_FALSE, 0 },
		{ " null ", JSON_NULL, 0 },
		{ "[]", JSON_ARRAY, 0 },
		{ "{ }", JSON_OBJECT, 0 },
		{ "\"\"", JSON_STRING, 0 },
	};
	struct json_doc doc;
	int64_t i64;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		const struct json_value *v = parse_ok(&doc, good[i].text);

		TEST_ASSERT(v->type == good[i].type, "'%s': type %d", good[i].text, v->type);
		TEST_ASSERT(v->number == good[i].number, "'%s': %g", good[i].text, v->number);
		TEST_ASSERT_EQ(v->span, 1);
		json_free(&doc);
	}
	parse_ok(&doc, "{\"max\":9223372036854775807,\"min\":-9223372036854775808}");
	TEST_ASSERT(json_get_int(json_root(&doc), "max", &i64) && i64 == INT64_MAX, "max");
	TEST_ASSERT(json_get_int(json_root(&doc), "min", &i64) && i64 == INT64_MIN, "min");
	json_free(&doc);
}

static void test_string_escapes(void **state)
{
	static const struct {
		const char *text, *want;
	} good[] = {
		{ "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t" },
		{ "\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac" },
		{ "\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80" }, /* U+1F600 from a surrogate pair */
		{ "\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf" }, /* U+10FFFF */
		{ "\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"",
		  "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf" },
		{ "\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
		  "h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "\"\x7f\"", "\x7f" }, /* DEL is no control character to JSON */
	};
	struct json_doc doc;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		const struct json_value *v = parse_ok(&doc, good[i].text);

		TEST_ASSERT(v->type == JSON_STRING && v->len == strlen(good[i].want) &&
				    !strcmp(v->str, good[i].want),
			    "'%s' decoded to '%s' (%zu bytes)", good[i].text, v->str, v->len);
		json_free(&doc);
	}
}

static void test_strerror(void **state)
{
	(void)state;
	for (int e = JSON_OK; e <= JSON_E_NOMEM; e++)
		TEST_ASSERT(strcmp(json_strerror((enum json_error)e), "unknown error"), "%d", e);
	TEST_ASSERT(!strcmp(json_strerror((enum json_error)1000), "unknown error"), "1000");
	TEST_ASSERT(!strcmp(json_strerror(JSON_E_DUPLICATE_KEY), "duplicate key"), "dup");
}

/* --- the writer --- */

static void test_writer_escapes(void **state)
{
	char buf[256];
	struct json_writer w;
	struct json_doc doc;

	(void)state;
	json_writer_init(&w, buf, sizeof(buf));
	json_write_string(&w, "a\"b\\c\n\t\x01\x7f/", 10);
	TEST_ASSERT(!strcmp(buf, "\"a\\\"b\\\\c\\u000a\\u0009\\u0001\\u007f/\""), "got %s", buf);
	/* NUL, invalid UTF-8 and a cut sequence become U+FFFD; valid UTF-8 stays */
	json_writer_init(&w, buf, sizeof(buf));
	json_write_string(&w, "x\0\xff\xc3\xa9\xed\xa0\x80\xe2\x82", 10);
	TEST_ASSERT(!strcmp(buf, "\"x\\ufffd\\ufffd\xc3\xa9\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\""),
		    "got %s", buf);
	TEST_ASSERT(!w.overflow, "overflow");
	TEST_ASSERT_EQ(json_parse(buf, w.len, &doc, NULL), JSON_OK);
	json_free(&doc);
	json_writer_init(&w, buf, sizeof(buf));
	json_write_raw(&w, "{\"n\":");
	json_write_fmt(&w, "%d,\"s\":", -7);
	json_write_cstr(&w, "\xe2\x82\xac");
	json_write_raw(&w, "}");
	TEST_ASSERT(!strcmp(buf, "{\"n\":-7,\"s\":\"\xe2\x82\xac\"}"), "got %s", buf);
	TEST_ASSERT_EQ(w.len, strlen(buf));
}

static void test_writer_overflow(void **state)
{
	char buf[8];
	struct json_writer w;

	(void)state;
	memset(buf, 'X', sizeof(buf));
	json_writer_init(&w, buf, 6);
	json_write_raw(&w, "12345"); /* fits with its terminator */
	TEST_ASSERT(!w.overflow && !strcmp(buf, "12345"), "got %s", buf);
	json_write_raw(&w, "6");
	TEST_ASSERT(w.overflow && !strcmp(buf, "12345"), "overflow");
	json_write_raw(&w, ""); /* stays overflowed */
	TEST_ASSERT(w.overflow, "sticky");
	TEST_ASSERT_EQ(buf[6], 'X');
	json_writer_init(&w, buf, 6);
	json_write_fmt(&w, "%s", "abcdefgh");
	TEST_ASSERT(w.overflow && w.len == 0 && buf[0] == '\0', "fmt overflow '%s'", buf);
	json_writer_init(&w, buf, 6);
	json_write_cstr(&w, "\n\n");
	TEST_ASSERT(w.overflow && strlen(buf) < 6, "escape overflow '%s'", buf);
	TEST_ASSERT_EQ(buf[6], 'X');
	json_writer_init(&w, buf, 0);
	json_write_raw(&w, "");
	TEST_ASSERT(w.overflow, "size 0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncated),      cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_too_big),	       cmocka_unit_test(test_bad_numbers),
		cmocka_unit_test(test_bad_strings),    cmocka_unit_test(test_bad_structure),
		cmocka_unit_test(test_request),	       cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_string_escapes), cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_writer_escapes), cmocka_unit_test(test_writer_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Fuzz target for the JSON parser and writer (vmm/json.c), which read every
 * control-socket request.
 *
 * The input is JSON text, as a client would send it (no control bytes).
 * When json_parse() accepts it, the flat value array must be consistent
 * (spans, counts, keys that are strings, strings that are NUL-free valid
 * UTF-8, nesting within JSON_MAX_DEPTH, json_get() finding every key),
 * and writing the tree back out with the writer must give text that parses
 * to the same tree. When it rejects it, the error is a known one at an
 * offset inside the input. Independently, json_write_string() of the raw
 * input bytes must be a JSON string that parses back to the same bytes
 * whenever they are valid UTF-8 without NUL.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                           \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "fuzz_json: %s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                             \
			abort();                                                              \
		}                                                                             \
	} while (0)

/* Checks v and what it contains; returns its span. */
static unsigned check_value(const struct json_value *v, unsigned depth)
{
	unsigned span = 1;
	const struct json_value *c = json_first(v);

	switch (v->type) {
	case JSON_STRING: CHECK(v->str && strlen(v->str) == v->len); break;
	case JSON_NUMBER: CHECK(!v->is_int || (double)v->integer == v->number); break;
	case JSON_ARRAY:
	case JSON_OBJECT:
		CHECK(depth < JSON_MAX_DEPTH);
		for (unsigned i = 0; i < v->count; i++) {
			if (v->type == JSON_OBJECT) {
				CHECK(c->type == JSON_STRING && c->span == 1);
				CHECK(json_get(v, c->str) == c + 1);
				span++;
				c++;
			}
			span += check_value(c, depth + 1);
			c = json_next(c);
		}
		break;
	default: break;
	}
	CHECK(span == v->span);
	return span;
}

static void write_value(struct json_writer *w, const struct json_value *v)
{
	const struct json_value *c = json_first(v);

	switch (v->type) {
	case JSON_NULL: json_write_raw(w, "null"); break;
	case JSON_FALSE: json_write_raw(w, "false"); break;
	case JSON_TRUE: json_write_raw(w, "true"); break;
	case JSON_STRING: json_write_string(w, v->str, v->len); break;
	case JSON_NUMBER:
		if (v->is_int)
			json_write_fmt(w, "%lld", (long long)v->integer);
		else
			json_write_fmt(w, "%.16e", v->number); /* 17 digits: exact */
		break;
	case JSON_ARRAY:
	case JSON_OBJECT:
		json_write_raw(w, v->type == JSON_ARRAY ? "[" : "{");
		for (unsigned i = 0; i < v->count; i++, c = json_next(c)) {
			if (i)
				json_write_raw(w, ",");
			if (v->type == JSON_OBJECT) {
				json_write_string(w, c->str, c->len);
				json_write_raw(w, ":");
				c++;
			}
			write_value(w, c);
		}
		json_write_raw(w, v->type == JSON_ARRAY ? "]" : "}");
		break;
	}
}

static void check_same(const struct json_value *a, const struct json_value *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		CHECK(a[i].type == b[i].type && a[i].span == b[i].span && a[i].count == b[i].count);
		if (a[i].type == JSON_STRING)
			CHECK(a[i].len == b[i].len && !memcmp(a[i].str, b[i].str, a[i].len));
		if (a[i].type == JSON_NUMBER)
			CHECK(a[i].number == b[i].number && a[i].is_int == b[i].is_int &&
			      a[i].integer == b[i].integer);
	}
}

static void check_round_trip(const struct json_doc *doc, size_t size)
{
	size_t cap = 8 * size + 64;
	char *text = malloc(cap);
	struct json_writer w;
	struct json_doc again;

	CHECK(text);
	json_writer_init(&w, text, cap);
	write_value(&w, json_root(doc));
	CHECK(!w.overflow);
	if (w.len <= JSON_MAX_INPUT) {
		CHECK(json_parse(text, w.len, &again, NULL) == JSON_OK);
		CHECK(again.nvalues == doc->nvalues);
		check_same(doc->values, again.values, doc->nvalues);
		json_free(&again);
	}
	free(text);
}

/* Is data[0..size) valid UTF-8 without NUL? A one-element JSON string tells. */
static void check_writer(const uint8_t *data, size_t size)
{
	size_t cap = 6 * size + 3;
	char *text = malloc(cap);
	struct json_writer w;
	struct json_doc doc;
	bool clean = !memchr(data, 0, size);

	CHECK(text);
	json_writer_init(&w, text, cap);
	json_write_string(&w, (const char *)data, size);
	CHECK(!w.overflow && w.len < cap && text[w.len] == '\0');
	if (w.len > JSON_MAX_INPUT) {
		free(text);
		return;
	}
	CHECK(json_parse(text, w.len, &doc, NULL) == JSON_OK);
	CHECK(doc.nvalues == 1 && doc.values[0].type == JSON_STRING);
	/* U+FFFD replaced something unless the text is the input, byte for byte */
	if (clean && (doc.values[0].len != size || memcmp(doc.values[0].str, data, size))) {
		bool ascii = true;

		for (size_t i = 0; i < size; i++)
			ascii &= data[i] < 0x80;
		CHECK(!ascii); /* ASCII comes back as it was */
		CHECK(strstr(doc.values[0].str, "\xef\xbf\xbd"));
	}
	json_free(&doc);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_doc doc;
	size_t offset = (size_t)-1;
	enum json_error err = json_parse((const char *)data, size, &doc, &offset);

	if (err == JSON_OK) {
		CHECK(doc.nvalues >= 1 && offset == 0);
		CHECK(check_value(json_root(&doc), 0) == doc.nvalues);
		check_round_trip(&doc, size);
		json_free(&doc);
	} else {
		CHECK(err <= JSON_E_NOMEM && offset <= size && !doc.values);
		CHECK(strcmp(json_strerror(err), "unknown error"));
	}
	check_writer(data, size);
	return 0;
}

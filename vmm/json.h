/* A small, strict, bounded JSON parser (RFC 8259) and writer for the control socket. Pure: no I/O. */
#ifndef HUTCH_VMM_JSON_H
#define HUTCH_VMM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_INPUT	    (1u << 20) /* bytes of one document */
#define JSON_MAX_DEPTH	    16	       /* arrays and objects nested in each other */
#define JSON_MAX_TOKENS	    2048       /* values in one document, object keys included */
#define JSON_MAX_NUMBER_LEN 64	       /* characters of one number literal */

enum json_type {
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

/*
 * One value of a parsed document. A document is a flat array of values in
 * text order: an array's elements follow it, an object's members follow it
 * as key (a JSON_STRING) then value. A value and everything inside it take
 * `span` entries, so the next sibling of v is v + v->span.
 */
struct json_value {
	enum json_type type;
	unsigned span;	 /* entries this value takes, itself included */
	unsigned count;	 /* array: elements; object: members (key-value pairs) */
	const char *str; /* string: decoded UTF-8, NUL-terminated, no NUL inside */
	size_t len;	 /* string: bytes, without the terminator */
	double number;	 /* number */
	bool is_int;	 /* number: written without fraction or exponent, fits in int64 */
	int64_t integer; /* number, when is_int */
};

enum json_error {
	JSON_OK = 0,
	JSON_E_END,	      /* the input ends before the value does (or is empty) */
	JSON_E_CHAR,	      /* a character that is not allowed here */
	JSON_E_TRAILING,      /* something other than whitespace after the value */
	JSON_E_TOO_LONG,      /* input longer than JSON_MAX_INPUT */
	JSON_E_DEPTH,	      /* arrays and objects nested deeper than JSON_MAX_DEPTH */
	JSON_E_TOKENS,	      /* more than JSON_MAX_TOKENS values */
	JSON_E_NUMBER,	      /* a malformed number: "01", "1.", "-", "1e" */
	JSON_E_NUMBER_RANGE,  /* a number longer than JSON_MAX_NUMBER_LEN or beyond a double */
	JSON_E_ESCAPE,	      /* an unknown escape or a \u without 4 hex digits */
	JSON_E_SURROGATE,     /* a \uD800-\uDFFF escape that is not a high-low pair */
	JSON_E_NUL,	      /* \u0000: decoded strings are C strings */
	JSON_E_CONTROL,	      /* an unescaped control character (U+0000-U+001F) in a string */
	JSON_E_UTF8,	      /* a string that is not valid UTF-8 */
	JSON_E_DUPLICATE_KEY, /* an object names the same key twice */
	JSON_E_NOMEM,
};

struct json_doc {
	struct json_value *values; /* values[0] is the root */
	unsigned nvalues;
};

/*
 * Parses exactly one JSON value (any type) surrounded by optional
 * whitespace from text[0..len); text need not be terminated, and a NUL byte
 * anywhere in it is an error. Strict: no comments, trailing commas, single
 * quotes, NaN, leading zeros or '+'; strings must be valid UTF-8 and may not
 * contain U+0000. An object naming a key twice is rejected
 * (JSON_E_DUPLICATE_KEY), so that no two readers can disagree about it.
 *
 * On JSON_OK, doc holds the values until json_free(); otherwise doc is
 * empty and *err_offset (when not NULL) is the byte offset of the problem
 * (len for JSON_E_END).
 */
enum json_error json_parse(const char *text, size_t len, struct json_doc *doc, size_t *err_offset)
	__attribute__((warn_unused_result));

void json_free(struct json_doc *doc);

/* "unexpected end of input", ...: one lower-case phrase. */
const char *json_strerror(enum json_error err);

/* The document's root value, or NULL for an empty doc. */
const struct json_value *json_root(const struct json_doc *doc);

/* The value of an object's member key, or NULL when obj is not an object or has no such key. */
const struct json_value *json_get(const struct json_value *obj, const char *key);

/* json_get() if that member is a string (its text) or an integer (*out), else NULL or false. */
const char *json_get_string(const struct json_value *obj, const char *key);
bool json_get_int(const struct json_value *obj, const char *key, int64_t *out);

/* The element at index of an array, or NULL. */
const struct json_value *json_array_at(const struct json_value *arr, unsigned index);

/*
 * The first child of an array or object (for an object: the first key), or
 * NULL when empty; then json_next() until count children were visited.
 */
static inline const struct json_value *json_first(const struct json_value *v)
{
	return v->count ? v + 1 : NULL;
}

static inline const struct json_value *json_next(const struct json_value *v)
{
	return v + v->span;
}

/*
 * Writes JSON text into a fixed buffer, always NUL-terminated. Nothing
 * beyond the buffer is written: what does not fit is dropped and overflow
 * is set, for the caller to check once at the end.
 */
struct json_writer {
	char *buf;
	size_t size, len;
	bool overflow;
};

void json_writer_init(struct json_writer *w, char *buf, size_t size);

/* Appends text verbatim: punctuation, numbers, literals. */
void json_write_raw(struct json_writer *w, const char *text);
void json_write_fmt(struct json_writer *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Appends s[0..len) as a quoted JSON string: '"', '\\' and control
 * characters escaped, invalid UTF-8 bytes and NULs replaced by U+FFFD, so
 * that the output is always valid JSON whatever the input.
 */
void json_write_string(struct json_writer *w, const char *s, size_t len);

/* json_write_string() of a C string. */
void json_write_cstr(struct json_writer *w, const char *s);

#endif

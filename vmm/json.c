/* Strict JSON (RFC 8259): a recursive-descent parser bounded in size, depth and values; a writer. */
#include "vmm/json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct json_parser {
	const unsigned char *start, *p, *end;
	struct json_value *values;
	unsigned n, cap;
	char *strings; /* decoded strings, each NUL-terminated */
	size_t slen;
	enum json_error err;
	size_t err_offset;
};

static bool json_fail(struct json_parser *ps, enum json_error err, const unsigned char *at)
{
	ps->err = err;
	ps->err_offset = (size_t)(at - ps->start);
	return false;
}

/* Out of input: JSON_E_END, reported at the end. */
static bool json_fail_end(struct json_parser *ps)
{
	return json_fail(ps, JSON_E_END, ps->end);
}

static void json_skip_ws(struct json_parser *ps)
{
	/* RFC 8259 §2: ws = space, horizontal tab, line feed, carriage return */
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static struct json_value *json_alloc(struct json_parser *ps, enum json_type type)
{
	struct json_value *v;

	if (ps->n == JSON_MAX_TOKENS || ps->n == ps->cap) {
		json_fail(ps, JSON_E_TOKENS, ps->p);
		return NULL;
	}
	v = &ps->values[ps->n++];
	*v = (struct json_value){ .type = type, .span = 1 };
	return v;
}

/*
 * The length of the well-formed UTF-8 sequence whose lead byte (>= 0x80) is
 * at p: 0 when ill-formed (Unicode 15 table 3-7: no overlongs, no
 * surrogates, nothing above U+10FFFF), -1 when avail ends inside it.
 */
static int json_utf8_sequence(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	int n;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	} else {
		return 0;
	}
	for (int i = 1; i < n; i++) {
		if ((size_t)i >= avail)
			return -1;
		if (p[i] < lo || p[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return n;
}

static char *json_put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		*out++ = (char)cp;
	} else if (cp < 0x800) {
		*out++ = (char)(0xc0 | cp >> 6);
		*out++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*out++ = (char)(0xe0 | cp >> 12);
		*out++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*out++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*out++ = (char)(0xf0 | cp >> 18);
		*out++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*out++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*out++ = (char)(0x80 | (cp & 0x3f));
	}
	return out;
}

/* Four hex digits at p (the 'u' of "\u" is before it). */
static bool json_hex4(struct json_parser *ps, const unsigned char *p, uint32_t *cp)
{
	*cp = 0;
	if (ps->end - p < 4)
		return json_fail_end(ps);
	for (int i = 0; i < 4; i++) {
		unsigned char c = p[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (c | 0x20) - 'a' + 10;
		else
			return json_fail(ps, JSON_E_ESCAPE, p - 2);
		*cp = *cp << 4 | d;
	}
	return true;
}

/* A \uXXXX escape, or a surrogate pair of two, at ps->p (the backslash). */
static bool json_unicode_escape(struct json_parser *ps, char **out)
{
	const unsigned char *esc = ps->p;
	uint32_t cp, low;

	if (!json_hex4(ps, esc + 2, &cp))
		return false;
	ps->p = esc + 6;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return json_fail(ps, JSON_E_SURROGATE, esc);
	if (cp >= 0xd800 && cp <= 0xdbff) {
		/* RFC 8259 §7: a character outside the BMP is a UTF-16 surrogate pair */
		if ((ps->p < ps->end && ps->p[0] != '\\') ||
		    (ps->end - ps->p >= 2 && ps->p[1] != 'u'))
			return json_fail(ps, JSON_E_SURROGATE, esc);
		if (ps->end - ps->p < 2)
			return json_fail_end(ps);
		if (!json_hex4(ps, ps->p + 2, &low))
			return false;
		if (low < 0xdc00 || low > 0xdfff)
			return json_fail(ps, JSON_E_SURROGATE, esc);
		cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
		ps->p += 6;
	}
	if (cp == 0)
		return json_fail(ps, JSON_E_NUL, esc);
	*out = json_put_utf8(*out, cp);
	return true;
}

static bool json_escape(struct json_parser *ps, char **out)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *hit;

	if (ps->end - ps->p < 2)
		return json_fail_end(ps);
	if (ps->p[1] == 'u')
		return json_unicode_escape(ps, out);
	hit = ps->p[1] ? strchr(from, ps->p[1]) : NULL;
	if (!hit)
		return json_fail(ps, JSON_E_ESCAPE, ps->p);
	*(*out)++ = to[hit - from];
	ps->p += 2;
	return true;
}

/*
 * A string at ps->p (the opening quote). The decoded text is never longer
 * than the quoted source, so with its terminator it fits in the bytes the
 * source takes: the strings buffer, as long as the input, cannot overflow.
 */
static bool json_string(struct json_parser *ps)
{
	struct json_value *v = json_alloc(ps, JSON_STRING);
	char *begin = ps->strings + ps->slen, *out = begin;

	if (!v)
		return false;
	ps->p++;
	for (;;) {
		unsigned char c;
		int n;

		if (ps->p == ps->end)
			return json_fail_end(ps);
		c = *ps->p;
		if (c == '"')
			break;
		if (c == '\\') {
			if (!json_escape(ps, &out))
				return false;
			continue;
		}
		if (c < 0x20) /* RFC 8259 §7: U+0000 through U+001F must be escaped */
			return json_fail(ps, JSON_E_CONTROL, ps->p);
		if (c < 0x80) {
			*out++ = (char)c;
			ps->p++;
			continue;
		}
		n = json_utf8_sequence(ps->p, (size_t)(ps->end - ps->p));
		if (n < 0)
			return json_fail_end(ps);
		if (n == 0)
			return json_fail(ps, JSON_E_UTF8, ps->p);
		memcpy(out, ps->p, (size_t)n);
		out += n;
		ps->p += n;
	}
	ps->p++;
	*out = '\0';
	v->str = begin;
	v->len = (size_t)(out - begin);
	ps->slen += v->len + 1;
	return true;
}

static const unsigned char *json_digits(const unsigned char *p, const unsigned char *end)
{
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return p;
}

/* RFC 8259 §6: number = [ minus ] int [ frac ] [ exp ] */
static bool json_number(struct json_parser *ps)
{
	const unsigned char *s = ps->p, *p = s, *end = ps->end, *d;
	struct json_value *v = json_alloc(ps, JSON_NUMBER);
	char buf[JSON_MAX_NUMBER_LEN + 1];
	bool is_int = true;

	if (!v)
		return false;
	if (*p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if ((d = json_digits(p, end)) > p)
		p = d;
	else
		return p == end ? json_fail_end(ps) : json_fail(ps, JSON_E_NUMBER, s);
	if (p < end && *p == '.') {
		is_int = false;
		d = json_digits(++p, end);
		if (d == p)
			return p == end ? json_fail_end(ps) : json_fail(ps, JSON_E_NUMBER, s);
		p = d;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		is_int = false;
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		d = json_digits(p, end);
		if (d == p)
			return p == end ? json_fail_end(ps) : json_fail(ps, JSON_E_NUMBER, s);
		p = d;
	}
	if (p < end && *p >= '0' && *p <= '9') /* "01", "-00" */
		return json_fail(ps, JSON_E_NUMBER, s);
	if (p - s > JSON_MAX_NUMBER_LEN)
		return json_fail(ps, JSON_E_NUMBER_RANGE, s);
	memcpy(buf, s, (size_t)(p - s));
	buf[p - s] = '\0';
	v->number = strtod(buf, NULL); /* hutch never calls setlocale(): '.' is the point */
	if (isinf(v->number))
		return json_fail(ps, JSON_E_NUMBER_RANGE, s);
	if (is_int) {
		errno = 0;
		v->integer = strtoll(buf, NULL, 10);
		v->is_int = errno == 0;
		if (!v->is_int)
			v->integer = 0;
	}
	ps->p = p;
	return true;
}

static bool json_literal(struct json_parser *ps, const char *word, enum json_type type)
{
	size_t len = strlen(word), avail = (size_t)(ps->end - ps->p);

	if (avail < len && !memcmp(ps->p, word, avail))
		return json_fail_end(ps);
	if (avail < len || memcmp(ps->p, word, len))
		return json_fail(ps, JSON_E_CHAR, ps->p);
	if (!json_alloc(ps, type))
		return false;
	ps->p += len;
	return true;
}

static bool json_value(struct json_parser *ps, unsigned depth);

/* Is the key just parsed (the last value) already a key of the object at index obj? */
static bool json_duplicate_key(const struct json_parser *ps, unsigned obj)
{
	const struct json_value *o = &ps->values[obj], *key = &ps->values[ps->n - 1];
	const struct json_value *k = json_first(o);

	for (unsigned i = 0; k && i < o->count; i++, k = json_next(k + 1)) {
		if (k->len == key->len && !memcmp(k->str, key->str, k->len))
			return true;
	}
	return false;
}

static bool json_object_member(struct json_parser *ps, unsigned obj, unsigned depth)
{
	const unsigned char *key_at;

	json_skip_ws(ps);
	if (ps->p == ps->end)
		return json_fail_end(ps);
	if (*ps->p != '"')
		return json_fail(ps, JSON_E_CHAR, ps->p);
	key_at = ps->p;
	if (!json_string(ps))
		return false;
	if (json_duplicate_key(ps, obj))
		return json_fail(ps, JSON_E_DUPLICATE_KEY, key_at);
	json_skip_ws(ps);
	if (ps->p == ps->end)
		return json_fail_end(ps);
	if (*ps->p != ':')
		return json_fail(ps, JSON_E_CHAR, ps->p);
	ps->p++;
	return json_value(ps, depth + 1);
}

/* An array or an object at ps->p (its '[' or '{'), nested depth containers deep. */
static bool json_container(struct json_parser *ps, unsigned depth)
{
	bool object = *ps->p == '{';
	char close = object ? '}' : ']';
	unsigned idx = ps->n;

	if (depth >= JSON_MAX_DEPTH)
		return json_fail(ps, JSON_E_DEPTH, ps->p);
	if (!json_alloc(ps, object ? JSON_OBJECT : JSON_ARRAY))
		return false;
	ps->p++;
	json_skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		return true;
	}
	for (;;) {
		if (!(object ? json_object_member(ps, idx, depth) : json_value(ps, depth + 1)))
			return false;
		ps->values[idx].count++;
		json_skip_ws(ps);
		if (ps->p == ps->end)
			return json_fail_end(ps);
		if (*ps->p == close)
			break;
		if (*ps->p != ',')
			return json_fail(ps, JSON_E_CHAR, ps->p);
		ps->p++;
	}
	ps->p++;
	ps->values[idx].span = ps->n - idx;
	return true;
}

/* Any value, after optional whitespace; depth counts the containers around it. */
static bool json_value(struct json_parser *ps, unsigned depth)
{
	json_skip_ws(ps);
	if (ps->p == ps->end)
		return json_fail_end(ps);
	switch (*ps->p) {
	case '{':
	case '[': return json_container(ps, depth);
	case '"': return json_string(ps);
	case 't': return json_literal(ps, "true", JSON_TRUE);
	case 'f': return json_literal(ps, "false", JSON_FALSE);
	case 'n': return json_literal(ps, "null", JSON_NULL);
	default:
		if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
			return json_number(ps);
		return json_fail(ps, JSON_E_CHAR, ps->p);
	}
}

enum json_error json_parse(const char *text, size_t len, struct json_doc *doc, size_t *err_offset)
{
	struct json_parser ps = { .start = (const unsigned char *)text };
	size_t cap = len < JSON_MAX_TOKENS ? len + 1 : JSON_MAX_TOKENS;

	*doc = (struct json_doc){ 0 };
	if (err_offset)
		*err_offset = 0;
	if (len > JSON_MAX_INPUT) {
		if (err_offset)
			*err_offset = JSON_MAX_INPUT;
		return JSON_E_TOO_LONG;
	}
	ps.p = ps.start;
	ps.end = ps.start + len;
	/* Each value starts at its own byte: no more than len values. */
	ps.cap = (unsigned)cap;
	ps.values = malloc(cap * sizeof(*ps.values) + len + 1);
	if (!ps.values)
		return JSON_E_NOMEM;
	ps.strings = (char *)(ps.values + cap);
	if (json_value(&ps, 0)) {
		json_skip_ws(&ps);
		if (ps.p != ps.end)
			json_fail(&ps, JSON_E_TRAILING, ps.p);
	}
	if (ps.err) {
		free(ps.values);
		if (err_offset)
			*err_offset = ps.err_offset;
		return ps.err;
	}
	doc->values = ps.values;
	doc->nvalues = ps.n;
	return JSON_OK;
}

void json_free(struct json_doc *doc)
{
	free(doc->values);
	*doc = (struct json_doc){ 0 };
}

const char *json_strerror(enum json_error err)
{
	static const char *const msg[] = {
		[JSON_OK] = "no error",
		[JSON_E_END] = "unexpected end of input",
		[JSON_E_CHAR] = "unexpected character",
		[JSON_E_TRAILING] = "unexpected text after the value",
		[JSON_E_TOO_LONG] = "input too long",
		[JSON_E_DEPTH] = "nested too deeply",
		[JSON_E_TOKENS] = "too many values",
		[JSON_E_NUMBER] = "malformed number",
		[JSON_E_NUMBER_RANGE] = "number too long or too large",
		[JSON_E_ESCAPE] = "invalid escape",
		[JSON_E_SURROGATE] = "unpaired UTF-16 surrogate escape",
		[JSON_E_NUL] = "\\u0000 in a string",
		[JSON_E_CONTROL] = "unescaped control character in a string",
		[JSON_E_UTF8] = "invalid UTF-8 in a string",
		[JSON_E_DUPLICATE_KEY] = "duplicate key",
		[JSON_E_NOMEM] = "out of memory",
	};

	if ((unsigned)err >= sizeof(msg) / sizeof(msg[0]) || !msg[err])
		return "unknown error";
	return msg[err];
}

const struct json_value *json_root(const struct json_doc *doc)
{
	return doc->nvalues ? doc->values : NULL;
}

const struct json_value *json_get(const struct json_value *obj, const char *key)
{
	const struct json_value *k;
	size_t len = strlen(key);

	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	k = json_first(obj);
	for (unsigned i = 0; i < obj->count; i++, k = json_next(k + 1)) {
		if (k->len == len && !memcmp(k->str, key, len))
			return k + 1;
	}
	return NULL;
}

const char *json_get_string(const struct json_value *obj, const char *key)
{
	const struct json_value *v = json_get(obj, key);

	return v && v->type == JSON_STRING ? v->str : NULL;
}

bool json_get_int(const struct json_value *obj, const char *key, int64_t *out)
{
	const struct json_value *v = json_get(obj, key);

	if (!v || v->type != JSON_NUMBER || !v->is_int)
		return false;
	*out = v->integer;
	return true;
}

const struct json_value *json_array_at(const struct json_value *arr, unsigned index)
{
	const struct json_value *v;

	if (!arr || arr->type != JSON_ARRAY || index >= arr->count)
		return NULL;
	v = json_first(arr);
	while (index--)
		v = json_next(v);
	return v;
}

void json_writer_init(struct json_writer *w, char *buf, size_t size)
{
	*w = (struct json_writer){ .buf = buf, .size = size, .overflow = size == 0 };
	if (size)
		buf[0] = '\0';
}

static void json_write_bytes(struct json_writer *w, const char *s, size_t n)
{
	if (w->overflow || n >= w->size - w->len) {
		w->overflow = true;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

void json_write_raw(struct json_writer *w, const char *text)
{
	json_write_bytes(w, text, strlen(text));
}

void json_write_fmt(struct json_writer *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (w->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(w->buf + w->len, w->size - w->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= w->size - w->len) {
		w->buf[w->len] = '\0';
		w->overflow = true;
		return;
	}
	w->len += (size_t)n;
}

void json_write_string(struct json_writer *w, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	json_write_bytes(w, "\"", 1);
	while (p < end) {
		unsigned char c = *p;
		char esc[8];
		int n;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			json_write_bytes(w, esc, 2);
			p++;
		} else if (c == 0) {
			json_write_bytes(w, "\\ufffd", 6);
			p++;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			json_write_bytes(w, esc, 6);
			p++;
		} else if (c < 0x80) {
			json_write_bytes(w, (const char *)p, 1);
			p++;
		} else if ((n = json_utf8_sequence(p, (size_t)(end - p))) > 0) {
			json_write_bytes(w, (const char *)p, (size_t)n);
			p += n;
		} else {
			json_write_bytes(w, "\\ufffd", 6);
			p++;
		}
	}
	json_write_bytes(w, "\"", 1);
}

void json_write_cstr(struct json_writer *w, const char *s)
{
	json_write_string(w, s, strlen(s));
}

/*
 * json_read.c - a small JSON reader for cluster-ctl (top reads the
 * master's status --json).  It parses a whole document into a flat array
 * of tokens, each naming its text and where its children end, so lookups
 * walk the array without building a tree; strings are decoded only when
 * asked for.  It checks the grammar (RFC 8259) but keeps numbers as
 * strtod reads them, and it is not a general library: no writer, no
 * streaming, documents that fit in memory.
 */
#include "base/json_read.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

struct parser {
	struct json_doc *d;
	const char *s;
	size_t len, pos;
	int depth;
};

static void skip_space(struct parser *p)
{
	while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]) && p->s[p->pos])
		p->pos++;
}

/* A new token at the end; its index, or -1 (ENOMEM). */
static int new_tok(struct parser *p, enum json_type type)
{
	struct json_doc *d = p->d;

	if (d->ntoks == d->cap) {
		int cap = d->cap ? d->cap * 2 : 64;
		struct json_tok *t = realloc(d->toks, (size_t)cap * sizeof(*t));

		if (!t)
			return -1;
		d->toks = t;
		d->cap = cap;
	}
	d->toks[d->ntoks] = (struct json_tok){ .type = type, .start = p->pos };
	return d->ntoks++;
}

static int fail(int err)
{
	errno = err;
	return -1;
}

static int hex4(const char *s)
{
	int v = 0, i;

	for (i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static int parse_string(struct parser *p)
{
	int t;

	p->pos++;               /* the opening quote */
	if ((t = new_tok(p, JSON_STRING)) < 0)
		return -1;
	while (p->pos < p->len) {
		unsigned char c = (unsigned char)p->s[p->pos];

		if (c == '"') {
			p->d->toks[t].end = p->pos++;
			p->d->toks[t].next = t + 1;
			return t;
		}
		if (c < 0x20)
			return fail(EINVAL);
		if (c == '\\') {
			if (p->pos + 1 >= p->len)
				return fail(EINVAL);
			c = (unsigned char)p->s[p->pos + 1];
			if (c == 'u') {
				if (p->pos + 6 > p->len || hex4(p->s + p->pos + 2) < 0)
					return fail(EINVAL);
				p->pos += 4;
			} else if (!strchr("\"\\/bfnrt", c) || !c) {
				return fail(EINVAL);
			}
			p->pos++;
		}
		p->pos++;
	}
	return fail(EINVAL);
}

/* What strtod would take, checked against JSON's stricter grammar. */
static int parse_number(struct parser *p)
{
	const char *s = p->s;
	size_t i = p->pos;
	int t;

	if (i < p->len && s[i] == '-')
		i++;
	if (i < p->len && s[i] == '0')
		i++;
	else if (i < p->len && s[i] >= '1' && s[i] <= '9')
		while (i < p->len && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return fail(EINVAL);
	if (i < p->len && s[i] == '.') {
		if (++i >= p->len || s[i] < '0' || s[i] > '9')
			return fail(EINVAL);
		while (i < p->len && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < p->len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= p->len || s[i] < '0' || s[i] > '9')
			return fail(EINVAL);
		while (i < p->len && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if ((t = new_tok(p, JSON_NUMBER)) < 0)
		return -1;
	p->d->toks[t].end = p->pos = i;
	p->d->toks[t].next = t + 1;
	return t;
}

static int parse_word(struct parser *p, const char *word, enum json_type type)
{
	size_t n = strlen(word);
	int t;

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n))
		return fail(EINVAL);
	if ((t = new_tok(p, type)) < 0)
		return -1;
	p->d->toks[t].end = p->pos += n;
	p->d->toks[t].next = t + 1;
	return t;
}

static int parse_value(struct parser *p);

/* An object or an array: close is '}' or ']'. */
static int parse_container(struct parser *p, enum json_type type, char close)
{
	int t, size = 0;

	if (++p->depth > MAX_DEPTH)
		return fail(EINVAL);
	if ((t = new_tok(p, type)) < 0)
		return -1;
	p->pos++;
	skip_space(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
	} else {
		for (;;) {
			skip_space(p);
			if (type == JSON_OBJECT) {
				if (p->pos >= p->len || p->s[p->pos] != '"' || parse_string(p) < 0)
					return fail(EINVAL);
				skip_space(p);
				if (p->pos >= p->len || p->s[p->pos++] != ':')
					return fail(EINVAL);
			}
			if (parse_value(p) < 0)
				return -1;
			size++;
			skip_space(p);
			if (p->pos < p->len && p->s[p->pos] == ',') {
				p->pos++;
				continue;
			}
			if (p->pos < p->len && p->s[p->pos] == close) {
				p->pos++;
				break;
			}
			return fail(EINVAL);
		}
	}
	/* toks may have moved (realloc): index, never a pointer kept across */
	p->d->toks[t].end = p->pos;
	p->d->toks[t].size = size;
	p->d->toks[t].next = p->d->ntoks;
	p->depth--;
	return t;
}

static int parse_value(struct parser *p)
{
	skip_space(p);
	if (p->pos >= p->len)
		return fail(EINVAL);
	switch (p->s[p->pos]) {
	case '{':
		return parse_container(p, JSON_OBJECT, '}');
	case '[':
		return parse_container(p, JSON_ARRAY, ']');
	case '"':
		return parse_string(p);
	case 't':
		return parse_word(p, "true", JSON_TRUE);
	case 'f':
		return parse_word(p, "false", JSON_FALSE);
	case 'n':
		return parse_word(p, "null", JSON_NULL);
	default:
		return parse_number(p);
	}
}

int json_parse(struct json_doc *d, const char *text, size_t len)
{
	struct parser p = { .d = d, .s = text, .len = len };
	int err;

	memset(d, 0, sizeof(*d));
	d->text = text;
	if (parse_value(&p) < 0)
		goto bad;
	skip_space(&p);
	if (p.pos == len)
		return 0;
	errno = EINVAL;
bad:
	err = errno;
	json_free(d);
	errno = err;
	return -1;
}

void json_free(struct json_doc *d)
{
	free(d->toks);
	d->toks = NULL;
	d->ntoks = d->cap = 0;
}

static int valid(const struct json_doc *d, int t)
{
	return t >= 0 && t < d->ntoks;
}

/* Whether string token k spells key exactly (keys with escapes never do:
 * ours have none). */
static int key_is(const struct json_doc *d, int k, const char *key)
{
	size_t n = d->toks[k].end - d->toks[k].start;

	return strlen(key) == n && !memcmp(d->text + d->toks[k].start, key, n);
}

int json_get(const struct json_doc *d, int obj, const char *key)
{
	int k, i;

	if (!valid(d, obj) || d->toks[obj].type != JSON_OBJECT)
		return -1;
	for (i = 0, k = obj + 1; i < d->toks[obj].size; i++) {
		if (key_is(d, k, key))
			return k + 1;
		k = d->toks[k + 1].next;
	}
	return -1;
}

int json_at(const struct json_doc *d, int arr, int i)
{
	int k, n;

	if (!valid(d, arr) || d->toks[arr].type != JSON_ARRAY || i < 0 || i >= d->toks[arr].size)
		return -1;
	for (n = 0, k = arr + 1; n < i; n++)
		k = d->toks[k].next;
	return k;
}

enum json_type json_type_of(const struct json_doc *d, int t)
{
	return valid(d, t) ? d->toks[t].type : JSON_NULL;
}

double json_number(const struct json_doc *d, int t, double dflt)
{
	char num[64];
	size_t n;

	if (!valid(d, t) || d->toks[t].type != JSON_NUMBER)
		return dflt;
	/* copied: the text need not end after the number, and strtod reads on */
	n = d->toks[t].end - d->toks[t].start;
	if (n >= sizeof(num))
		return dflt;
	memcpy(num, d->text + d->toks[t].start, n);
	num[n] = '\0';
	return strtod(num, NULL);
}

/* Append UTF-8 for code point u if it fits in out[*n .. cap - 1). */
static void put_utf8(char *out, size_t *n, size_t cap, unsigned long u)
{
	char b[4];
	size_t k;

	if (u < 0x80) {
		b[0] = (char)u;
		k = 1;
	} else if (u < 0x800) {
		b[0] = (char)(0xc0 | (u >> 6));
		b[1] = (char)(0x80 | (u & 0x3f));
		k = 2;
	} else if (u < 0x10000) {
		b[0] = (char)(0xe0 | (u >> 12));
		b[1] = (char)(0x80 | ((u >> 6) & 0x3f));
		b[2] = (char)(0x80 | (u & 0x3f));
		k = 3;
	} else {
		b[0] = (char)(0xf0 | (u >> 18));
		b[1] = (char)(0x80 | ((u >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((u >> 6) & 0x3f));
		b[3] = (char)(0x80 | (u & 0x3f));
		k = 4;
	}
	if (*n + k < cap) {
		memcpy(out + *n, b, k);
		*n += k;
	}
}

const char *json_string(const struct json_doc *d, int t, char *out, size_t cap)
{
	const char *s;
	size_t i, end, n = 0;

	if (!valid(d, t) || d->toks[t].type != JSON_STRING || cap == 0)
		return NULL;
	s = d->text;
	for (i = d->toks[t].start, end = d->toks[t].end; i < end; i++) {
		unsigned long u = (unsigned char)s[i];

		if (u == '\\') {
			char e = s[++i];
			const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";

			if (e == 'u') {
				u = (unsigned long)hex4(s + i + 1);
				i += 4;
				/* a surrogate pair: \uD83D\uDE00 is one code point */
				if (u >= 0xd800 && u < 0xdc00 && i + 6 < end && s[i + 1] == '\\' &&
				    s[i + 2] == 'u' && hex4(s + i + 3) >= 0xdc00 &&
				    hex4(s + i + 3) < 0xe000) {
					u = 0x10000 + ((u - 0xd800) << 10) +
					    (unsigned long)(hex4(s + i + 3) - 0xdc00);
					i += 6;
				}
				put_utf8(out, &n, cap, u);
				continue;
			}
			u = (unsigned char)to[strchr(from, e) - from];
		}
		if (n + 1 < cap)
			out[n++] = (char)u;
	}
	out[n] = '\0';
	return out;
}

/*
 * json_read.h - a small JSON reader (json_read.c): enough for cluster-ctl
 * to read the master's status --json, no more.
 */
#ifndef LAUNCHER_BASE_JSON_READ_H
#define LAUNCHER_BASE_JSON_READ_H

#include <stddef.h>

enum json_type { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING,
		 JSON_ARRAY, JSON_OBJECT };

/* One value.  An object's children are its keys (strings) each followed
 * by its value; an array's are its elements.  A value and everything in
 * it are toks[i] .. toks[next - 1]. */
struct json_tok {
	enum json_type type;
	size_t start, end;      /* its text: text[start..end) (a string's without quotes) */
	int size;               /* an object's pairs, an array's elements */
	int next;               /* the index after this value and its children */
};

struct json_doc {
	const char *text;       /* not copied: must outlive the doc */
	struct json_tok *toks;  /* toks[0] is the whole document */
	int ntoks, cap;
};

/* Parse text[0..len): 0, or -1 with errno EINVAL (not JSON, or nested
 * deeper than 64) or ENOMEM.  One value with white space around it. */
int json_parse(struct json_doc *d, const char *text, size_t len);
void json_free(struct json_doc *d);
/* The value of key in object obj, or -1 (not an object, no such key). */
int json_get(const struct json_doc *d, int obj, const char *key);
/* The i-th element of array arr, or -1. */
int json_at(const struct json_doc *d, int arr, int i);
/* t's type; JSON_NULL for t < 0, so an absent key reads as null. */
enum json_type json_type_of(const struct json_doc *d, int t);
/* A number's value; dflt when t is not a number (absent, null...). */
double json_number(const struct json_doc *d, int t, double dflt);
/* A string, its escapes decoded (\uXXXX as UTF-8), cut to cap - 1 bytes;
 * NULL (out untouched) when t is not a string. */
const char *json_string(const struct json_doc *d, int t, char *out, size_t cap);

#endif

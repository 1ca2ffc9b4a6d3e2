/*
 * buf.c - a growing text buffer for the master's answers (status, JSON,
 * metrics, probes).  Out of memory, the text is cut short, never wrong.
 */
#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->data ? b->data + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = b->cap ? b->cap * 2 : 4096;
			char *grown;

			while (cap - b->len <= (size_t)n)
				cap *= 2;
			grown = realloc(b->data, cap);
			if (!grown)
				return;
			b->data = grown;
			b->cap = cap;
		}
	}
}

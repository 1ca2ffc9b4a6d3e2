/*
 * buf.h - a growing text buffer (buf.c).
 */
#ifndef LAUNCHER_BASE_BUF_H
#define LAUNCHER_BASE_BUF_H

#include <stddef.h>

struct buf {
	char *data;
	size_t len, cap;
};

/* Append; on failure to grow, what is there stays as it was. */
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

/*
 * top_view.h - what cluster-ctl top shows, from the master's status
 * --json (top_view.c).  Pure: no terminal, no socket.
 */
#ifndef LAUNCHER_SURFACE_TOP_VIEW_H
#define LAUNCHER_SURFACE_TOP_VIEW_H

#include "base/json_read.h"

struct buf;

/* One status --json answer and when it was read. */
struct top_sample {
	char *text;             /* the document (owned, NUL-ended) */
	struct json_doc doc;
	double when;            /* seconds, CLOCK_MONOTONIC */
};

/* Parse text (taken over: freed by top_sample_free even on failure) into
 * s: 0, or -1 (not JSON, or not an object). */
int top_sample_set(struct top_sample *s, char *text, double when);
void top_sample_free(struct top_sample *s);

/* The frame, plain text, one line per row; prev (NULL for the first
 * frame) gives the rates: CPU % and conn/s where status has none. */
void top_view_text(struct buf *b, const struct top_sample *now, const struct top_sample *prev);
/* The status document with a "top" member added: the rates computed. */
void top_view_json(struct buf *b, const struct top_sample *now, const struct top_sample *prev);

#endif

/*
 * report.h - see report.c.
 */
#ifndef LAUNCHER_SURFACE_REPORT_H
#define LAUNCHER_SURFACE_REPORT_H

#include <stdint.h>
#include "cluster.h"

#include <sys/types.h>

struct cluster;

/* report.c: the cluster's state as text, JSON or Prometheus metrics,
 * appended to a growing buffer. */
struct buf {
	char *data;
	size_t len, cap;
};
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void report_text(struct cluster *c, struct buf *b);
void report_json(struct cluster *c, struct buf *b);
void report_metrics(struct cluster *c, struct buf *b);

#endif

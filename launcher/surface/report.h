/*
 * report.h - see report.c.
 */
#ifndef LAUNCHER_SURFACE_REPORT_H
#define LAUNCHER_SURFACE_REPORT_H

#include <stdint.h>
#include "cluster.h"
#include "base/buf.h"

#include <sys/types.h>

struct cluster;

/* report.c: the cluster's state as text, JSON or Prometheus metrics,
 * appended to a growing buffer. */
void report_text(struct cluster *c, struct buf *b);
void report_json(struct cluster *c, struct buf *b);
void report_metrics(struct cluster *c, struct buf *b);

#endif
